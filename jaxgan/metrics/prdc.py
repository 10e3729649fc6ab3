"""Precision, recall, density and coverage of feature sets (PRDC), computed in JAX in blocks.

All four measure how a fake set Y (M samples) and a real set X (N samples) of (Inception pool3,
or any other) feature vectors overlap, through k-NN balls. radius_k(x) is the distance from x to
its k-th nearest neighbour in its own set, not counting x itself: the k-th smallest entry of x's
row of pairwise distances when the zero self-distance counts as the 0th (Kynkaanniemi et al.
2019, sec. 3; Naeem et al. 2020's `compute_nearest_neighbour_distances`).

- Precision (Kynkaanniemi et al. 2019, eq. 1-2, k = 3): the fraction of fakes inside at least
  one real k-NN ball, (1/M) sum_j 1[exists i: ||y_j - x_i|| <= radius_k(x_i)].
- Recall (same paper, k = 3): the fraction of reals inside at least one fake k-NN ball.
- Density (Naeem et al. 2020, eq. 7, k = 5): (1 / (k M)) sum_j sum_i
  1[||y_j - x_i|| < radius_k(x_i)]; it can exceed 1.
- Coverage (Naeem et al. 2020, eq. 8, k = 5): (1/N) sum_i 1[exists j: ||y_j - x_i|| <
  radius_k(x_i)], i.e. the nearest fake of x_i is inside x_i's ball.

Ties, one convention (the official codes):
- Precision and recall: inside when d <= radius, as Kynkaanniemi et al.'s code
  (kynkaat/improved-precision-and-recall-metric, `ManifoldEstimator.evaluate`: `distance_batch
  <= self.D`; StyleGAN2-ADA's metrics/precision_recall.py: `dist <= radii`).
- Density and coverage: inside when d < radius, as Naeem et al.'s code (clovaai/generative-
  evaluation-prdc, `prdc.compute_prdc` of prdc 0.2, which also uses `<` for its precision and
  recall: those two differ from Kynkaanniemi et al.'s on exact ties only).
With them, prdc(x, x) gives precision = recall = coverage = 1 and density exactly 1 (each
real's ball holds itself and its k - 1 nearer neighbours but not the k-th, which sits on the
edge; `<=` would give (k + 1) / k).

What is exact. The features are taken as float32 values; distances are computed from them in
float64, and compared as squares (d < r iff d^2 < r^2, no square root):
- Each set is shifted by the column minima of both sets together (a data value in every
  column: x - min is a difference of two float32 numbers, exact in float64 unless their
  exponents are more than 28 apart), which leaves distances unchanged and makes every entry
  >= 0.
- Squared distances are (|a|^2 - a.b) + (|b|^2 - a.b) in float64 at
  `jax.lax.Precision.HIGHEST` (entries >= 0 keep every partial sum in [0, max |a|^2]),
  clamped at 0; each set's own diagonal is exactly 0.
- Lattice features are exact: when every shifted entry is an integer multiple of one power of
  two 2^-s (integers, uint8 levels, steps of 1/2^s; sums of such values) and D * (largest
  span / 2^-s)^2 < 2^52, every product and partial sum is an integer number of 2^-2s below
  2^53, so every squared distance and every comparison, ties included, is the exact one. This is
  where ties happen: quantised features put many points exactly on a ball's edge.
- Other features: products and sums round (relative 2^-53 each), so each squared distance is
  within ~ D * 2^-53 * (|a|^2 + |b|^2) of the exact one (shifted features), and a comparison
  is decided exactly unless a distance and a radius differ by less than that: ~2e-13 relative
  at D = 2048, where float32's bound, ~D * 2^-24 ~ 1e-4, let rounding decide the near-ties of
  quantised features with steps that are no power of two. A set against itself (or a copy)
  is the same computation on the same numbers in its radii and its real-fake distances.
- Blocks: both sets are cut into row blocks of B = min(block_size, larger set size) rows (the
  last one padded, so every tile has the same shape and each jitted function compiles once per
  (B, D)), and the N x M distances are visited one (B, B) tile at a time; only per-sample
  reductions (flags, counts, k + 1 smallest distances) outlive a tile. The k-NN radii use a
  streaming merge over column blocks: each row keeps its k + 1 smallest squared distances so far
  and merges them with `jax.lax.top_k` of the next tile, so the bound holds for any N.
  Peak memory is the two feature sets (N x D and M x D float32, on the device: 400 MB each at
  N = 50,000, D = 2048; each tile shifts its two blocks to float64 itself) plus a few
  tile-sized arrays, whatever N and M: at the default block_size = 2048 a tile is 32 MiB and
  its two float64 blocks 64 MiB; the host waits at the end of each row of tiles, so at most one
  row is queued.
- float64 runs under `jax.enable_x64` inside these functions only (the rest of the process
  keeps JAX's float32 default); CPUs and GPUs compute it natively (TPUs do not). It costs
  time: on a CPU about 3-4x float32's (4,000 x 4,000 features of D = 2048: 25-30 s against
  8 s, measured on a loaded 2-core machine; the same four numbers).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics.fid import FidInputError

DEFAULT_BLOCK_SIZE = 2048  # a (2048, 2048) float64 tile of distances is 32 MiB
DEFAULT_K_PR = 3  # Kynkaanniemi et al. 2019
DEFAULT_K_DC = 5  # Naeem et al. 2020

_HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------------------------------
# Jitted tile functions: every operand has the fixed shape (block, D), (block,) or (block, block);
# offsets and valid lengths are traced integers, so one compilation serves every tile and every
# N, M.
# ---------------------------------------------------------------------------------------------

def _shifted(block: jax.Array, shift: jax.Array) -> jax.Array:
  """A float32 block minus the float64 shift, in float64 (exact: module doc)."""
  return block.astype(jnp.float64) - shift


@jax.jit
def _sq_norms(block: jax.Array, shift: jax.Array) -> jax.Array:
  x = _shifted(block, shift)
  return jnp.sum(x * x, axis=1)


@jax.jit
def _sq_dist_tile(rows, rows_sq, cols, cols_sq, shift, row_start, col_start, num_rows,
                  num_cols, same_set):
  """Squared distances of a row block to a column block; +inf at padding, 0 on the diagonal.

  `rows`/`cols` are float32 blocks, shifted by `shift` in float64 here (so the sets stay
  float32 on the device); `row_start`/`col_start` are the blocks' first global indices,
  `num_rows`/`num_cols` the sizes of the sets (indices at or past them are padding) and
  `same_set` whether rows and columns come from one set (then entries with equal global
  indices are the self-distances, set to 0). (|a|^2 - a.b) + (|b|^2 - a.b): with entries >= 0
  no intermediate exceeds max(|a|^2, |b|^2), which keeps lattice features exact (module doc).
  """
  dot = jnp.matmul(_shifted(rows, shift), _shifted(cols, shift).T, precision=_HIGHEST)
  d2 = jnp.maximum((rows_sq[:, None] - dot) + (cols_sq[None, :] - dot), 0.0)
  row_ids = row_start + jnp.arange(rows.shape[0])
  col_ids = col_start + jnp.arange(cols.shape[0])
  d2 = jnp.where(same_set & (row_ids[:, None] == col_ids[None, :]), 0.0, d2)
  valid = (row_ids < num_rows)[:, None] & (col_ids < num_cols)[None, :]
  return jnp.where(valid, d2, jnp.inf)


@functools.partial(jax.jit, static_argnames='num')
def _merge_smallest(best_neg, tile, *, num):
  """Merges each row's `num` largest of -d^2 so far (best_neg) with those of a new tile."""
  tile_best = jax.lax.top_k(-tile, min(num, tile.shape[1]))[0]
  return jax.lax.top_k(jnp.concatenate([best_neg, tile_best], axis=1), num)[0]


@jax.jit
def _cross_update(tile, real_r2_pr, real_r2_dc, fake_r2_pr, recall_hit, coverage_hit,
                  precision_hit, density_count):
  """Adds one (real block, fake block) tile of squared distances to the PRDC reductions.

  Rows are reals, columns fakes. Row reductions: recall_hit (inside some fake's ball) and
  coverage_hit (some fake inside the real's ball); column reductions of this fake block:
  precision_hit (inside some real's ball) and density_count (number of real balls it is in).
  Precision and recall count d <= radius, density and coverage d < radius (module doc).
  Padding sits at +inf in `tile` (inside no ball); a padded radius is -1 (holds nothing).
  """
  in_real_pr = tile <= real_r2_pr[:, None]
  in_real_dc = tile < real_r2_dc[:, None]
  in_fake_pr = tile <= fake_r2_pr[None, :]
  return (recall_hit | jnp.any(in_fake_pr, axis=1),
          coverage_hit | jnp.any(in_real_dc, axis=1),
          precision_hit | jnp.any(in_real_pr, axis=0),
          density_count + jnp.sum(in_real_dc, axis=0, dtype=jnp.int32))


# ---------------------------------------------------------------------------------------------
# Host-side drivers.
# ---------------------------------------------------------------------------------------------

def _shift(*sets: np.ndarray) -> jax.Array:
  """The column minima of all sets together, as a float64 device array (under x64)."""
  return jax.device_put(np.min([x.min(axis=0) for x in sets], axis=0).astype(np.float64))


class _Blocks:
  """A float32 feature set cut into float32 device blocks of `size` rows (the last
  zero-padded), and the squared norms of its rows minus `shift` (float64).

  Distances do not change under a common translation. Shifting by a data value (the column
  minima) is exact and keeps a lattice a lattice; it also keeps the norm expansion's rounding
  error, ~ D * 2^-53 (|a|^2 + |b|^2), at the scale of the data's spread instead of its offset
  from the origin. Create (and use) under `jax.enable_x64(True)`.
  """

  def __init__(self, features: np.ndarray, size: int, shift: jax.Array):
    self.n = len(features)
    self.size = size
    self.shift = shift
    num_blocks = -(-self.n // size)
    self.blocks = []
    for b in range(num_blocks):
      block = np.zeros((size, features.shape[1]), np.float32)
      rows = features[b * size:(b + 1) * size]
      block[:len(rows)] = rows
      self.blocks.append(jax.device_put(block))
    self.sq_norms = [_sq_norms(block, shift) for block in self.blocks]

  def tile(self, i: int, other: _Blocks, j: int, same_set: bool) -> jax.Array:
    return _sq_dist_tile(self.blocks[i], self.sq_norms[i], other.blocks[j], other.sq_norms[j],
                         self.shift, i * self.size, j * other.size, self.n, other.n, same_set)

  def pad(self, values: np.ndarray, fill) -> list[jax.Array]:
    """Per-sample values (n,) as device blocks of `size`, padded with `fill`."""
    padded = np.full(len(self.blocks) * self.size, fill, values.dtype)
    padded[:self.n] = values
    return [jax.device_put(padded[b * self.size:(b + 1) * self.size])
            for b in range(len(self.blocks))]


def _sq_radii(blocks: _Blocks, ks) -> dict[int, np.ndarray]:
  """{k: squared k-NN radius of every sample (n,) float64} for all `ks`, in one pass."""
  num = max(ks) + 1  # the k + 1 smallest distances of a row, its zero self-distance included
  out = []
  for i in range(len(blocks.blocks)):
    best_neg = jnp.full((blocks.size, num), -jnp.inf, jnp.float64)
    for j in range(len(blocks.blocks)):
      best_neg = _merge_smallest(best_neg, blocks.tile(i, blocks, j, True), num=num)
    out.append(np.asarray(best_neg))  # waits for the row: at most one row of tiles queued
  smallest = -np.concatenate(out)[:blocks.n]  # ascending squared distances
  return {k: smallest[:, k] for k in ks}


def _cross(real: _Blocks, fake: _Blocks, real_r2_pr, real_r2_dc, fake_r2_pr):
  """(recall_hit (N,), coverage_hit (N,), precision_hit (M,), density_count (M,)) as numpy.

  A radius given as None makes its two statistics come out all False / 0.
  """
  never = lambda n: np.full(n, -1.0, np.float64)  # no squared distance is <= -1
  rr_pr = real.pad(never(real.n) if real_r2_pr is None else real_r2_pr, -1.0)
  rr_dc = real.pad(never(real.n) if real_r2_dc is None else real_r2_dc, -1.0)
  fr_pr = fake.pad(never(fake.n) if fake_r2_pr is None else fake_r2_pr, -1.0)
  precision_hit = [jnp.zeros(fake.size, bool) for _ in fake.blocks]
  density_count = [jnp.zeros(fake.size, jnp.int32) for _ in fake.blocks]
  recall_hit, coverage_hit = [], []
  for i in range(len(real.blocks)):
    rec = jnp.zeros(real.size, bool)
    cov = jnp.zeros(real.size, bool)
    for j in range(len(fake.blocks)):
      rec, cov, precision_hit[j], density_count[j] = _cross_update(
          real.tile(i, fake, j, False), rr_pr[i], rr_dc[i], fr_pr[j], rec, cov,
          precision_hit[j], density_count[j])
    recall_hit.append(np.asarray(rec))  # waits for the row: at most one row of tiles queued
    coverage_hit.append(np.asarray(cov))
  cat = lambda parts, n: np.concatenate([np.asarray(p) for p in parts])[:n]
  return (cat(recall_hit, real.n), cat(coverage_hit, real.n), cat(precision_hit, fake.n),
          cat(density_count, fake.n).astype(np.int64))


# ---------------------------------------------------------------------------------------------
# Input checks.
# ---------------------------------------------------------------------------------------------

def _check_k(name: str, k) -> int:
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
    raise FidInputError(f'{name}={k!r} is not a valid neighbourhood size; pass an integer >= 1.')
  return int(k)


def _check_block_size(block_size) -> int:
  if (isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer))
      or block_size < 1):
    raise FidInputError(f'block_size={block_size!r} is not a valid block size; pass an integer '
                        f'>= 1 (default {DEFAULT_BLOCK_SIZE}).')
  return int(block_size)


def _check_features(features, what: str, k: int | None, k_name: str = 'k') -> np.ndarray:
  """(N, D) finite features as float32, N >= k + 1 (N >= 1 for k None); FidInputError if not."""
  try:
    x = np.asarray(features)
  except (TypeError, ValueError) as e:
    raise FidInputError(f'{what} could not be read as an array ({e}); pass an (N, D) float '
                        'array.') from e
  if x.ndim != 2:
    raise FidInputError(f'{what} must be a 2-D array (N, D) of feature vectors, got shape '
                        f'{x.shape}; reshape it to one row per sample.')
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    raise FidInputError(f'{what} must be a float array, got dtype {x.dtype}; pass numeric '
                        'features.')
  x = x.astype(np.float32)
  if not np.all(np.isfinite(x)):
    raise FidInputError(f'{what} contain NaN or infinite values (as float32); remove or fix '
                        'those samples before computing PRDC.')
  if k is None and not len(x):
    raise FidInputError(f'{what} are empty; pass at least one sample.')
  if k is not None and len(x) < k + 1:
    raise FidInputError(f'{what} have {len(x)} samples but {k_name}={k} needs at least {k + 1} '
                        f'(a sample and its {k} nearest neighbours); pass more samples or a '
                        f'smaller {k_name}.')
  return x


def _check_pair(real, fake, k_real: dict[str, int], k_fake: dict[str, int]):
  """Checks both sets against the largest k each needs; (real, fake) float32 arrays."""
  k_name_r, k_r = max(k_real.items(), key=lambda item: item[1])
  real = _check_features(real, 'real features', k_r, k_name_r)
  if k_fake:
    k_name_f, k_f = max(k_fake.items(), key=lambda item: item[1])
    fake = _check_features(fake, 'fake features', k_f, k_name_f)
  else:  # density/coverage use no fake radii; any non-empty fake set works
    fake = _check_features(fake, 'fake features', None)
  if real.shape[1] != fake.shape[1]:
    raise FidInputError(f'real and fake features have different widths ({real.shape[1]} and '
                        f'{fake.shape[1]}); extract both with the same feature network.')
  return real, fake


def _block_for(block_size: int, *sizes: int) -> int:
  """The tile edge: block_size, or the largest set if that is smaller (no needless padding)."""
  return min(block_size, max(sizes))


# ---------------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------------

def knn_radii(features, k: int, *, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
  """Distance of every sample to its k-th nearest neighbour in the set, itself excluded.

  Args:
    features: (N, D) float array, N >= k + 1.
    k: neighbourhood size, >= 1 (radius_k of Kynkaanniemi et al. 2019, eq. 1).
    block_size: tile edge; memory is O(block_size^2 + block_size * k) beyond the features.

  Returns:
    (N,) float32 radii: the k-th smallest of each row of pairwise distances (float64, then
    rounded), the zero self-distance counting as the 0th (so duplicates of a point do count as
    neighbours).
  """
  k = _check_k('k', k)
  block_size = _check_block_size(block_size)
  x = _check_features(features, 'features', k, 'k')
  with jax.enable_x64(True):
    blocks = _Blocks(x, _block_for(block_size, len(x)), _shift(x))
    return np.sqrt(_sq_radii(blocks, [k])[k]).astype(np.float32)


def precision_recall(real, fake, *, k: int = DEFAULT_K_PR,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> dict[str, float]:
  """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2).

  precision = (1/M) sum_j 1[exists i: ||fake_j - real_i|| < radius_k(real_i)] and recall the
  same with the sets' roles swapped; strict `<` as in Naeem et al.'s prdc code (module doc).

  Args:
    real: (N, D) real features, N >= k + 1.
    fake: (M, D) fake features, M >= k + 1.
    k: neighbourhood size of both manifolds' balls.
    block_size: tile edge of the blocked distance computation.

  Returns:
    {'precision': float, 'recall': float}.
  """
  k = _check_k('k', k)
  block_size = _check_block_size(block_size)
  real, fake = _check_pair(real, fake, {'k': k}, {'k': k})
  size = _block_for(block_size, len(real), len(fake))
  with jax.enable_x64(True):
    shift = _shift(real, fake)
    real_b, fake_b = _Blocks(real, size, shift), _Blocks(fake, size, shift)
    recall_hit, _, precision_hit, _ = _cross(real_b, fake_b, _sq_radii(real_b, [k])[k], None,
                                             _sq_radii(fake_b, [k])[k])
  return {'precision': float(precision_hit.mean()), 'recall': float(recall_hit.mean())}


def density_coverage(real, fake, *, k: int = DEFAULT_K_DC,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> dict[str, float]:
  """Density and coverage (Naeem et al. 2020, eq. 7-8); only the real set's balls are used.

  density = (1 / (k M)) sum_j sum_i 1[||fake_j - real_i|| < radius_k(real_i)] (1 on average for
  matching distributions, above 1 where fakes crowd dense real regions) and
  coverage = (1/N) sum_i 1[min_j ||fake_j - real_i|| < radius_k(real_i)].

  Args:
    real: (N, D) real features, N >= k + 1.
    fake: (M, D) fake features, M >= 1.
    k: neighbourhood size of the real balls.
    block_size: tile edge of the blocked distance computation.

  Returns:
    {'density': float, 'coverage': float}.
  """
  k = _check_k('k', k)
  block_size = _check_block_size(block_size)
  real, fake = _check_pair(real, fake, {'k': k}, {})
  size = _block_for(block_size, len(real), len(fake))
  with jax.enable_x64(True):
    shift = _shift(real, fake)
    real_b, fake_b = _Blocks(real, size, shift), _Blocks(fake, size, shift)
    _, coverage_hit, _, density_count = _cross(real_b, fake_b, None,
                                               _sq_radii(real_b, [k])[k], None)
  return {'density': float(density_count.sum() / (k * len(fake))),
          'coverage': float(coverage_hit.mean())}


def prdc(real, fake, *, k_pr: int = DEFAULT_K_PR, k_dc: int = DEFAULT_K_DC,
         block_size: int = DEFAULT_BLOCK_SIZE) -> dict[str, float]:
  """Precision, recall (k_pr) and density, coverage (k_dc) in one blocked pass over the pairs.

  Equal to precision_recall(k=k_pr) and density_coverage(k=k_dc) combined, with fewer passes:
  the real radii for k_pr and k_dc come from one pass over the real set (its max(k_pr, k_dc) + 1
  smallest distances per row), the fake radii from one pass over the fake set, and the four
  statistics from one pass over the real x fake tiles.

  Args:
    real: (N, D) real features, N >= max(k_pr, k_dc) + 1.
    fake: (M, D) fake features, M >= k_pr + 1.
    k_pr: neighbourhood size of precision and recall (Kynkaanniemi et al. 2019: 3).
    k_dc: neighbourhood size of density and coverage (Naeem et al. 2020: 5).
    block_size: tile edge of the blocked distance computation.

  Returns:
    {'precision', 'recall', 'density', 'coverage'}, Python floats.
  """
  k_pr = _check_k('k_pr', k_pr)
  k_dc = _check_k('k_dc', k_dc)
  block_size = _check_block_size(block_size)
  real, fake = _check_pair(real, fake, {'k_pr': k_pr, 'k_dc': k_dc}, {'k_pr': k_pr})
  size = _block_for(block_size, len(real), len(fake))
  with jax.enable_x64(True):
    shift = _shift(real, fake)
    real_b, fake_b = _Blocks(real, size, shift), _Blocks(fake, size, shift)
    real_r2 = _sq_radii(real_b, sorted({k_pr, k_dc}))
    fake_r2 = _sq_radii(fake_b, [k_pr])
    recall_hit, coverage_hit, precision_hit, density_count = _cross(
        real_b, fake_b, real_r2[k_pr], real_r2[k_dc], fake_r2[k_pr])
  return {'precision': float(precision_hit.mean()), 'recall': float(recall_hit.mean()),
          'density': float(density_count.sum() / (k_dc * len(fake))),
          'coverage': float(coverage_hit.mean())}
