"""FID, KID and Inception Score with the TF-FID Inception network, computed in JAX.

Every step reproduces the reference pipeline (TTUR, Heusel et al. 2017, as used by pytorch-fid,
torch-fidelity, clean-fid's "legacy_tensorflow" mode and NVlabs' StyleGAN metrics):

1. Float images in [-1, 1] are quantised to uint8 levels as NVlabs and StyleGAN-TF do before
   FID: q = floor(clip(x * 127.5 + 128, 0, 255)) = floor(clip((x + 1) * 127.5 + 0.5, 0, 255)),
   i.e. round-half-up of the [0, 255] value (NVlabs: `(x * 127.5 + 128).clamp(0, 255)
   .to(torch.uint8)`; StyleGAN-TF: `saturate_cast(uint8, x * 127.5 + 127.5 + 0.5)`). uint8
   images are used as they are. The statistics functions quantise on the host in numpy
   (`to_uint8`), so written samples and streamed ones reach the network as the same levels.
2. Resize to 299x299 with the TF-FID graph's own `ResizeBilinear` (TF1, align_corners=False,
   half_pixel_centers=False): source coordinate = dst * in / out, no half-pixel shift, edge
   clamped. jax.image.resize only offers half-pixel-centred kernels, so it is reimplemented here
   in jnp; the choice of resize kernel moves FID by whole points (Parmar et al. 2022, clean-fid).
3. (x - 128) / 128, then the network (`jaxgan.metrics.inception`) to the 2048 pool3 features.
4. mu and Sigma (float64, unbiased covariance) and
   FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))   (Heusel et al. 2017).

KID (Binkowski et al. 2018) is the unbiased MMD^2 estimate (Gretton et al. 2012) with the kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets; IS (Salimans et al. 2016) is
exp(E_x KL(p(y|x) || p(y))) over 10 splits of the softmax of the 1008 logits (pytorch-fid
weights only). Statistics and features are saved in pytorch-fid's .npz format, with the
protocol of the measured set (`jaxgan.metrics.protocol`) alongside.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import warnings
from collections.abc import Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.linalg.lapack

from jaxgan import errors
from jaxgan.metrics import inception
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights

MIN_SAMPLES_FOR_FULL_RANK = inception.NUM_FEATURES  # 2048
RESIZE = protocol_lib.RESIZE  # the preprocessing below, as protocol records name it


class FidInputError(errors.JaxganError, ValueError):
  """Images or statistics given to the FID functions are malformed."""


# ---------------------------------------------------------------------------------------------
# Preprocessing (jax-traceable, runs inside the compiled feature extractor).
# ---------------------------------------------------------------------------------------------

def quantize(images: jax.Array) -> jax.Array:
  """Float images in [-1, 1] -> float32 uint8 levels: floor(clip(x * 127.5 + 128, 0, 255))."""
  return jnp.floor(jnp.clip(images.astype(jnp.float32) * 127.5 + 128.0, 0.0, 255.0))


def to_uint8(images: np.ndarray) -> np.ndarray:
  """`quantize` on the host, in numpy: uint8 images as they are, float images in [-1, 1] ->
  floor(clip(x * 127.5 + 128, 0, 255)) as uint8.

  The statistics functions quantise here, before the images reach the device, so that every
  path to a number (training evaluation, `jaxgan.tools.evaluate`, `jaxgan.tools.sample`
  followed by `jaxgan.tools.fid`) sees the same uint8 levels: numpy rounds x * 127.5 and then
  the sum, where XLA may fuse the two into one fused multiply-add, which rounded 48 of 20
  million tanh outputs to the neighbouring level when measured.
  """
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  x = images.astype(np.float32)
  return np.floor(np.clip(x * np.float32(127.5) + np.float32(128.0), 0.0, 255.0)).astype(np.uint8)


def _tf1_interpolation(in_size: int, out_size: int):
  """Source indices and weights of TF1's legacy bilinear resize (resize_bilinear_op.cc).

  scale = in / out; src = dst * scale (float32); lower = floor(src), upper = min(ceil(src),
  in - 1), lerp = src - floor(src).
  """
  scale = np.float32(in_size) / np.float32(out_size)
  src = np.arange(out_size, dtype=np.float32) * scale
  floor = np.floor(src)
  lower = np.maximum(floor.astype(np.int64), 0)
  upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
  return lower, upper, (src - floor).astype(np.float32)


def resize_bilinear_tf1(images: jax.Array, size: tuple[int, int]) -> jax.Array:
  """TF1 `resize_bilinear(align_corners=False, half_pixel_centers=False)` of NHWC float images.

  Evaluates top = tl + (tr - tl) * x_lerp, bottom = bl + (br - bl) * x_lerp,
  out = top + (bottom - top) * y_lerp in float32 like TF's kernel.
  """
  images = images.astype(jnp.float32)
  h, w = images.shape[1:3]
  if (h, w) == tuple(size):
    return images  # scale 1: TF's resize is the identity
  y0, y1, ly = _tf1_interpolation(h, size[0])
  x0, x1, lx = _tf1_interpolation(w, size[1])
  top_rows, bottom_rows = images[:, y0], images[:, y1]
  lx = jnp.asarray(lx)[None, None, :, None]
  ly = jnp.asarray(ly)[None, :, None, None]
  top = top_rows[:, :, x0] + (top_rows[:, :, x1] - top_rows[:, :, x0]) * lx
  bottom = bottom_rows[:, :, x0] + (bottom_rows[:, :, x1] - bottom_rows[:, :, x0]) * lx
  return top + (bottom - top) * ly


def preprocess(images: jax.Array) -> jax.Array:
  """Raw NHWC images (uint8, or float in [-1, 1]) -> the Inception input of the TF-FID graph."""
  if images.dtype == jnp.uint8:
    x = images.astype(jnp.float32)
  else:
    x = quantize(images)
  x = resize_bilinear_tf1(x, (inception.INPUT_SIZE, inception.INPUT_SIZE))
  return (x - 128.0) / 128.0


def check_images(images: np.ndarray, what: str = 'images') -> np.ndarray:
  """Raises FidInputError unless `images` is (N, H, W, 3) uint8 or float in [-1, 1]."""
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise FidInputError(f'{what} must be an array (N, H, W, 3), got shape {images.shape}.')
  if images.dtype != np.uint8:
    if not np.issubdtype(images.dtype, np.floating):
      raise FidInputError(f'{what} must be uint8 in [0, 255] or float in [-1, 1], got '
                          f'{images.dtype}.')
    if not np.all(np.isfinite(images)):
      raise FidInputError(f'{what} contain NaN or infinite values.')
    if images.size and (images.min() < -1.001 or images.max() > 1.001):
      raise FidInputError(f'{what} are float but not in [-1, 1] (range {images.min():.3g} '
                          f'to {images.max():.3g}); scale them to [-1, 1] or pass uint8.')
  return images


# ---------------------------------------------------------------------------------------------
# Feature extraction.
# ---------------------------------------------------------------------------------------------

_EXTRACTORS: dict[tuple, inception.FeatureExtractor] = {}
_EXTRACTORS_LOCK = threading.Lock()


def get_extractor(weights: str | None = None, *, batch_size: int = 50,
                  cache: str | None = None, verify: bool = True) -> inception.FeatureExtractor:
  """A FeatureExtractor with `preprocess` built in, created once per process and setting.

  `weights`: see `torch_weights.load_variables` (None: default_1.pt, fetched if needed).
  """
  key = (weights or os.environ.get(torch_weights.WEIGHTS_ENV), batch_size,
         torch_weights.cache_dir(cache), verify)
  with _EXTRACTORS_LOCK:
    if key not in _EXTRACTORS:
      variables = torch_weights.load_variables(weights, cache=cache, verify=verify)
      _EXTRACTORS[key] = inception.FeatureExtractor(variables, batch_size=batch_size,
                                                    preprocess=preprocess)
    return _EXTRACTORS[key]


# ---------------------------------------------------------------------------------------------
# Statistics.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Statistics:
  """mu and Sigma of pool3 features (float64), with the features/logits when kept.

  `protocol`: how the set was measured (`jaxgan.metrics.protocol.describe_set`: source, split,
  num_samples, resize, weights_sha256, jaxgan_version), when known.
  """
  mu: np.ndarray
  sigma: np.ndarray
  num_samples: int
  features: np.ndarray | None = None
  logits: np.ndarray | None = None
  protocol: dict | None = None


class StatsAccumulator:
  """Streaming mean and covariance in float64, merged batch by batch.

  Uses Chan et al.'s pairwise update (n, mean, M2 = sum of centred outer products) rather than
  raw sums of x x^T, which lose digits to cancellation when |mu| >> std; each batch is centred
  on its own mean before its outer products are added, and no batch is dropped.
  """

  def __init__(self, dim: int = inception.NUM_FEATURES):
    self.n = 0
    self.mean = np.zeros(dim, np.float64)
    self.m2 = np.zeros((dim, dim), np.float64)

  def update(self, features: np.ndarray) -> None:
    x = np.asarray(features, np.float64)
    nb = len(x)
    if nb == 0:
      return
    mean_b = x.mean(axis=0)
    xc = x - mean_b
    m2_b = xc.T @ xc
    delta = mean_b - self.mean
    n = self.n + nb
    self.m2 += m2_b + np.outer(delta, delta) * (self.n * nb / n)
    self.mean += delta * (nb / n)
    self.n = n

  def result(self) -> tuple[np.ndarray, np.ndarray]:
    """(mu, Sigma) with the unbiased (n - 1) covariance, as np.cov."""
    if self.n < 2:
      raise FidInputError(f'FID statistics need at least 2 images, got {self.n}.')
    if self.n < MIN_SAMPLES_FOR_FULL_RANK:
      warnings.warn(
          f'FID statistics from {self.n} samples, fewer than the {MIN_SAMPLES_FOR_FULL_RANK} '
          'feature dimensions: the covariance is rank-deficient and FID is biased upwards; '
          'use >= 10,000 samples for numbers comparable to published ones.', stacklevel=2)
    return self.mean.copy(), self.m2 / (self.n - 1)


def compute_statistics(images: np.ndarray | Iterable[np.ndarray], *,
                       extractor: inception.FeatureExtractor | None = None,
                       keep_features: bool = False, keep_logits: bool = False,
                       progress: str | None = None, total: int | None = None) -> Statistics:
  """FID statistics of images: one array (N, H, W, 3) or a stream of such arrays.

  Images are uint8 or float in [-1, 1] (quantised to uint8 on the host, `to_uint8`), any size
  (resized to 299 inside). A stream is read chunk by chunk, so memory does not grow with N
  unless `keep_features` keeps the (N, 2048) float32 features (KID and PRDC need them: 400 MB
  at N = 50,000) or `keep_logits` the unbiased (N, 1008) logits (IS).
  """
  extractor = extractor or get_extractor()
  if keep_logits and not extractor.with_logits:
    raise FidInputError(inception_score_needs_fc_message())
  if isinstance(images, np.ndarray) or hasattr(images, '__array__'):
    images = [images]
  stream = (to_uint8(check_images(a)) for a in images)
  acc = StatsAccumulator()
  feats, logits = [], []
  for out in extractor.iter_features(stream, progress=progress, total=total):
    acc.update(out['pool3'])
    if keep_features:
      feats.append(out['pool3'])
    if keep_logits:
      logits.append(out['logits_unbiased'])
  if acc.n == 0:
    raise FidInputError('No images were given to compute FID statistics.')
  mu, sigma = acc.result()
  return Statistics(mu, sigma, acc.n,
                    np.concatenate(feats) if keep_features else None,
                    np.concatenate(logits) if keep_logits else None)


def statistics_from_features(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(mu, Sigma) of (N, D) features, float64; equal to np.mean/np.cov(rowvar=False)."""
  acc = StatsAccumulator(np.shape(features)[1])
  acc.update(features)
  return acc.result()


# ---------------------------------------------------------------------------------------------
# Distances and scores.
# ---------------------------------------------------------------------------------------------

def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(F^T S2 F)) for PSD S1 = F F^T and S2.

  The nonzero eigenvalues of S1 S2 = F F^T S2 are those of the symmetric PSD matrix F^T S2 F,
  so the trace of the square root is the sum of their square roots (the identity torch-fidelity
  uses with np.linalg.eigvals(S1 S2)). F (d x r, r = rank S1) comes from LAPACK's pivoted
  Cholesky (?pstrf), which also finds the rank, and one symmetric eigenvalue solve follows.
  We use this rather than scipy.linalg.sqrtm of the non-symmetric product (pytorch-fid/TTUR):
  it agrees with sqrtm to ~1e-14 on full-rank covariances, has no complex round-off to discard
  and needs no eps-on-the-diagonal retry, is exact when there are fewer samples than the 2048
  dimensions (singular S1 S2, where sqrtm is ill-conditioned), and on 2 CPU cores takes ~5 s at
  full rank against ~45 s for sqrtm (well under a second for low rank).
  """
  chol, piv, rank, info = scipy.linalg.lapack.dpstrf(np.asarray(sigma1, np.float64), tol=-1.0,
                                                     lower=1)
  if info < 0:
    raise FidInputError(f'Pivoted Cholesky of sigma1 failed (LAPACK info {info}).')
  factor = np.zeros((len(sigma1), rank))
  factor[piv - 1] = np.tril(chol)[:, :rank]  # undo the pivoting: S1 = factor @ factor.T
  m = factor.T @ sigma2 @ factor
  eig = scipy.linalg.eigvalsh((m + m.T) / 2, check_finite=False) if rank else np.zeros(0)
  scale = max(float(np.abs(eig).max(initial=0.0)), np.finfo(np.float64).tiny)
  if eig.min(initial=0.0) < -1e-6 * scale:
    warnings.warn('Covariance product has clearly negative eigenvalues '
                  f'({eig.min():.3g}); are both sigmas covariance matrices?', stacklevel=3)
  return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def _check_stats(mu, sigma, name):
  mu = np.asarray(mu, np.float64)
  sigma = np.asarray(sigma, np.float64)
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise FidInputError(f'{name}: mu must be (D,) and sigma (D, D), got {mu.shape} and '
                        f'{sigma.shape}.')
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    raise FidInputError(f'{name}: mu or sigma contains NaN or infinite values.')
  return mu, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))  (Heusel et al. 2017)."""
  mu1, sigma1 = _check_stats(mu1, sigma1, 'first statistics')
  mu2, sigma2 = _check_stats(mu2, sigma2, 'second statistics')
  if mu1.shape != mu2.shape:
    raise FidInputError(f'Statistics have different dimensions: {mu1.shape} and {mu2.shape}.')
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2.0 * trace_sqrt_product(sigma1, sigma2))


def kernel_inception_distance(features1: np.ndarray, features2: np.ndarray, *,
                              num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float | None]:
  """KID: mean and std over subsets of the unbiased MMD^2 (Binkowski et al. 2018).

  With k(x, y) = (x.y / d + 1)^3 and subsets X, Y of m = min(subset_size, n1, n2) rows drawn
  without replacement, MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) /
  (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2. Gram matrices use float32 BLAS, kernels and sums
  float64. When m equals both set sizes every subset is the same pair of sets
  (`protocol.kid_plan`):
  the MMD is computed once and the std is None (there is no spread, only rounding).
  """
  f1 = np.asarray(features1, np.float32)
  f2 = np.asarray(features2, np.float32)
  if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
    raise FidInputError(f'KID needs two (N, D) feature arrays, got {f1.shape} and {f2.shape}.')
  subsets, m = protocol_lib.kid_plan(len(f1), len(f2), num_subsets=num_subsets, subset_size=subset_size)
  if m < 2:
    raise FidInputError(f'KID needs at least 2 samples per set, got {len(f1)} and {len(f2)}.')
  d = f1.shape[1]
  rng = np.random.default_rng(seed)
  kernel = lambda a, b: (np.asarray(a @ b.T, np.float64) / d + 1.0) ** 3
  mmds = np.empty(subsets)
  for s in range(subsets):
    if subsets == 1:
      x, y = f1, f2
    else:
      x = f1[rng.choice(len(f1), m, replace=False)]
      y = f2[rng.choice(len(f2), m, replace=False)]
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    mmds[s] = ((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
               - 2.0 * kxy.sum() / (m * m))
  return float(mmds.mean()), (None if subsets == 1 else float(mmds.std()))


def inception_score_needs_fc_message() -> str:
  return ('The Inception Score needs the 1008-class fc layer, which default_1.pt does not have; '
          'download pytorch-fid\'s weights from '
          f'{torch_weights.PYTORCH_FID_URL} and pass that file as the Inception weights '
          f'(--weights, config weights=..., or {torch_weights.WEIGHTS_ENV}).')


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
  """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` (Salimans et al. 2016).

  `logits` are the unbiased 1008 logits (pool3 W^T, as the original code's softmax input).
  """
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2 or len(logits) < splits:
    raise FidInputError(f'Inception Score needs (N >= {splits}, C) logits, got {logits.shape}.')
  logp = logits - logits.max(axis=1, keepdims=True)
  logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
  p = np.exp(logp)
  n = len(p)
  scores = []
  for k in range(splits):
    part = slice(k * n // splits, (k + 1) * n // splits)
    log_py = np.log(p[part].mean(axis=0, keepdims=True))
    kl = (p[part] * (logp[part] - log_py)).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------
# Saved statistics and features: pytorch-fid's .npz, with the features and protocol optional.
# ---------------------------------------------------------------------------------------------

def _savez_atomic(path: str, arrays: dict) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, f'.{os.path.basename(path)}.tmp{os.getpid()}.npz')
  try:
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _protocol_array(protocol: dict | None) -> dict:
  # A JSON string in a 0-d unicode array: np.load reads it without pickle.
  return {} if protocol is None else {'protocol': np.array(json.dumps(protocol, sort_keys=True))}


def save_statistics(path: str, stats: Statistics, *, with_features: bool = False) -> None:
  """Writes `mu` and `sigma` like pytorch-fid (np.savez_compressed), plus the sample count, the
  protocol (a JSON string under `protocol`, when known) and, `with_features`, the features."""
  arrays = {'mu': stats.mu, 'sigma': stats.sigma, 'num_samples': np.int64(stats.num_samples),
            **_protocol_array(stats.protocol)}
  if with_features and stats.features is not None:
    arrays['features'] = stats.features
  _savez_atomic(path, arrays)


def save_features(path: str, stats: Statistics) -> None:
  """Writes the pool3 features of `stats` (float32, (N, 2048)).

  `.npy`: the bare array, for any tool (no protocol: np.save holds one array). `.npz`: the
  features with mu, sigma, num_samples and the protocol, so the file also serves wherever a
  statistics file does.
  """
  if stats.features is None:
    raise FidInputError('These statistics kept no features to save; compute them with '
                        'keep_features=True.')
  features = np.asarray(stats.features, np.float32)
  if path.endswith('.npz'):
    save_statistics(path, dataclasses.replace(stats, features=features), with_features=True)
  elif path.endswith('.npy'):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.tmp{os.getpid()}.npy')
    try:
      np.save(tmp, features)
      os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  else:
    raise FidInputError(f'Features file {path} must end in .npy or .npz.')


def check_features(features, what: str) -> np.ndarray:
  """(N, D) finite features with N >= 2, as float32; FidInputError (one sentence) if not."""
  x = np.asarray(features)
  if x.ndim != 2:
    raise FidInputError(f'{what} must be features of shape (N, D), got shape {x.shape}.')
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    raise FidInputError(f'{what} must be float features, got dtype {x.dtype}.')
  x = x.astype(np.float32)
  if not np.all(np.isfinite(x)):
    bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
    raise FidInputError(f'{what} contain NaN or infinite values ({bad} of {len(x)} rows); '
                        'recompute the features or drop those rows.')
  if len(x) < 2:
    raise FidInputError(f'{what} hold {len(x)} sample(s); statistics need at least 2.')
  return x


def _read_protocol(z, path: str) -> dict | None:
  if 'protocol' not in z.files:
    return None
  try:
    protocol = json.loads(str(z['protocol']))
  except (ValueError, TypeError) as e:
    warnings.warn(f'{path}: its protocol record is unreadable ({e}); treated as unknown.',
                  stacklevel=3)
    return None
  return protocol if isinstance(protocol, dict) else None


def statistics_of_features(features, what: str = 'features',
                           protocol: dict | None = None) -> Statistics:
  """Statistics (mu, Sigma, the features) of saved (N, D) features, checked (`check_features`)."""
  features = check_features(features, what)
  mu, sigma = statistics_from_features(features)
  return Statistics(mu, sigma, len(features), features=features, protocol=protocol)


def load_statistics(path: str) -> Statistics:
  """Statistics from a saved file.

  Reads a statistics .npz (`mu`, `sigma`, as pytorch-fid writes them; optional `features`,
  `num_samples`, `protocol`), a features .npz (`features` without mu/sigma: they are computed
  from the features) or a features .npy (a float array of shape (N, D)).
  """
  if path.endswith('.npy'):
    try:
      features = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
      raise FidInputError(f'{path} is not a readable .npy file ({e}).') from e
    return statistics_of_features(features, f'the features in {path}')
  try:
    z = np.load(path)
  except (OSError, ValueError, EOFError) as e:
    raise FidInputError(f'{path} is not a readable .npz file ({e}).') from e
  if not isinstance(z, np.lib.npyio.NpzFile):
    raise FidInputError(f'{path} is not an .npz file; pass a statistics .npz with mu and sigma.')
  with z:
    has_stats = 'mu' in z.files and 'sigma' in z.files
    if not has_stats and 'features' not in z.files:
      raise FidInputError(f'{path} has no `mu` and `sigma` arrays (nor `features`); pass a '
                          'statistics .npz written by pytorch-fid or `python -m jaxgan.tools.fid '
                          '--save-stats`, or saved features.')
    try:
      protocol = _read_protocol(z, path)
      if not has_stats:
        return statistics_of_features(z['features'], f'the features in {path}', protocol)
      mu, sigma = _check_stats(z['mu'], z['sigma'], path)
      features = (check_features(z['features'], f'the features in {path}')
                  if 'features' in z.files else None)
      n = int(z['num_samples']) if 'num_samples' in z.files else (
          len(features) if features is not None else 0)
    except (OSError, ValueError, EOFError) as e:
      if isinstance(e, FidInputError):
        raise
      raise FidInputError(f'{path} is not a readable .npz file ({e}).') from e
  return Statistics(mu, sigma, n, features, protocol=protocol)


def fid_from_statistics(a: Statistics, b: Statistics) -> float:
  return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def iter_chunks(sample, num_samples: int, chunk_size: int, what: str) -> Iterator[np.ndarray]:
  """Calls `sample(n)` for chunks of at most chunk_size until num_samples images are drawn."""
  done = 0
  while done < num_samples:
    n = min(chunk_size, num_samples - done)
    images = check_images(np.asarray(sample(n)), what)
    if len(images) != n:
      raise FidInputError(f'{what}({n}) returned {len(images)} images; it must return exactly '
                          f'{n}.')
    done += n
    yield images
