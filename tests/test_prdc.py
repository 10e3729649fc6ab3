"""PRDC (jaxgan.metrics.prdc) against a plain numpy reference with the full distance matrix,
and against the official `prdc` package (prdc==0.2, Naeem et al.'s code) where ties decide.

The reference below is written from the definitions (Kynkaanniemi et al. 2019, eq. 1-2; Naeem
et al. 2020, eq. 7-8) with scipy's cdist in float64, `<=` for precision/recall (Kynkaanniemi
et al.'s code) and the strict `<` of Naeem et al.'s prdc code for density/coverage. The
statistics are counts, so the blocked JAX version must match it exactly on continuous random
data; `_margin` checks that no distance in the test data lies close enough to a ball's radius
for rounding to decide which side it falls on. On lattice (integer or quantised) features,
where many distances equal a radius exactly, `_exact_reference` computes every squared
distance in int64, exactly.
"""

import contextlib
import io

import jax
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from jaxgan import errors
from jaxgan.metrics import prdc as prdc_lib
from jaxgan.metrics.fid import FidInputError

BLOCK_SIZES = (7, 64, 1000)  # 7 and 64 divide neither 200 nor 130; 1000 exceeds both sets


def _radii(d_self: np.ndarray, k: int) -> np.ndarray:
  """k-th smallest of each row, the zero self-distance being the 0th."""
  return np.partition(d_self, k, axis=1)[:, k]


def _reference(real, fake, k_pr=3, k_dc=5):
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  d_rf = cdist(real, fake)  # (N, M)
  d_rr, d_ff = cdist(real, real), cdist(fake, fake)
  r_real_pr, r_fake_pr, r_real_dc = _radii(d_rr, k_pr), _radii(d_ff, k_pr), _radii(d_rr, k_dc)
  np.testing.assert_array_equal(r_real_dc, np.sort(d_rr, axis=1)[:, k_dc])  # partition == sort
  m = len(fake)
  in_real_dc = d_rf < r_real_dc[:, None]
  out = {
      'precision': (d_rf <= r_real_pr[:, None]).any(axis=0).sum() / m,
      'recall': (d_rf <= r_fake_pr[None, :]).any(axis=1).sum() / len(real),
      'density': in_real_dc.sum() / (k_dc * m),
      'coverage': (d_rf.min(axis=1) < r_real_dc).sum() / len(real),
  }
  rel = lambda d, r: np.abs(d - r) / r
  margin = min(rel(d_rf, r_real_pr[:, None]).min(), rel(d_rf, r_fake_pr[None, :]).min(),
               rel(d_rf, r_real_dc[:, None]).min())
  return {key: float(v) for key, v in out.items()}, margin


def _sets(n, m, d=16, seed=0, offset=0.0):
  """Real ~ N(0, I); fake ~ N(0.3, 1.2^2 I): overlapping, so no statistic is 0 or 1."""
  rng = np.random.default_rng(seed)
  real = rng.normal(size=(n, d)) + offset
  fake = rng.normal(0.3, 1.2, size=(m, d)) + offset
  return real.astype(np.float32), fake.astype(np.float32)


@pytest.fixture(scope='module', params=[(200, 200), (200, 130)], ids=['200x200', '200x130'])
def case(request):
  real, fake = _sets(*request.param)
  ref, margin = _reference(real, fake)
  assert margin > 1e-5, f'test data has a near-tie (relative margin {margin:.2g})'
  assert 0.05 < min(ref.values()) and max(ref['precision'], ref['recall'],
                                          ref['coverage']) < 0.99, ref
  return real, fake, ref


@pytest.mark.parametrize('block_size', BLOCK_SIZES)
def test_prdc_matches_reference_exactly(case, block_size):
  real, fake, ref = case
  got = prdc_lib.prdc(real, fake, block_size=block_size)
  assert got == ref
  assert all(type(v) is float for v in got.values())


@pytest.mark.parametrize('block_size', (7, 1000))
def test_split_functions_match_reference(case, block_size):
  real, fake, _ = case
  ref, _ = _reference(real, fake, k_pr=4, k_dc=2)
  got = {**prdc_lib.precision_recall(real, fake, k=4, block_size=block_size),
         **prdc_lib.density_coverage(real, fake, k=2, block_size=block_size)}
  assert got == ref
  assert got == prdc_lib.prdc(real, fake, k_pr=4, k_dc=2, block_size=block_size)


def test_same_k_for_all_four(case):
  real, fake, _ = case
  ref, margin = _reference(real, fake, k_pr=5, k_dc=5)
  assert margin > 1e-5
  assert prdc_lib.prdc(real, fake, k_pr=5, k_dc=5, block_size=64) == ref


@pytest.mark.parametrize('block_size', (3, 7, 64, 1000))
def test_knn_radii(block_size):
  """Streaming merge of k + 1 smallest over column blocks, including blocks narrower than k+1."""
  x, _ = _sets(90, 1, seed=1)
  for k in (1, 5):
    want = _radii(cdist(x.astype(np.float64), x.astype(np.float64)), k)
    got = prdc_lib.knn_radii(x, k, block_size=block_size)
    assert got.shape == (90,)
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_large_common_offset():
  """Shifting by the column minima: features 100 from the origin still match exactly."""
  real, fake = _sets(200, 130, seed=2, offset=100.0)
  ref, margin = _reference(real, fake)
  assert margin > 1e-5
  assert prdc_lib.prdc(real, fake, block_size=64) == ref


@pytest.mark.parametrize('block_size', BLOCK_SIZES)
def test_identical_sets(block_size):
  """fake == real: every point is inside its own ball, so precision = recall = coverage = 1;
  with density's strict `<` each real ball holds itself and its k - 1 nearer neighbours but
  not the k-th (on the boundary), so density = N k / (k N) = 1 exactly (`<=` would give
  (k + 1) / k)."""
  real, _ = _sets(200, 1, seed=3)
  ref, _ = _reference(real, real.copy())
  assert ref == {'precision': 1.0, 'recall': 1.0, 'density': 1.0, 'coverage': 1.0}
  assert prdc_lib.prdc(real, real.copy(), block_size=block_size) == ref


def _exact_reference(real, fake, k_pr, k_dc, pr_op=np.less_equal):
  """PRDC of integer features (int64 arrays), every squared distance exact in int64; precision
  and recall compare with `pr_op` (<= as Kynkaanniemi et al.'s code; < as prdc 0.2's)."""
  sq = lambda a, b: np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
  d_rf, d_rr, d_ff = sq(real, fake), sq(real, real), sq(fake, fake)
  r_real_pr, r_fake_pr, r_real_dc = _radii(d_rr, k_pr), _radii(d_ff, k_pr), _radii(d_rr, k_dc)
  return {
      'precision': float(pr_op(d_rf, r_real_pr[:, None]).any(axis=0).mean()),
      'recall': float(pr_op(d_rf, r_fake_pr[None, :]).any(axis=1).mean()),
      'density': float((d_rf < r_real_dc[:, None]).sum() / (k_dc * len(fake))),
      'coverage': float((d_rf.min(axis=1) < r_real_dc).mean()),
  }


def _official_prdc(real, fake, k):
  """prdc 0.2's compute_prdc (Naeem et al.'s code; it prints the set sizes)."""
  import prdc  # pylint: disable=g-import-not-at-top  # tests only: requirements-dev.txt
  with contextlib.redirect_stdout(io.StringIO()):
    return {key: float(v) for key, v in prdc.compute_prdc(real, fake, nearest_k=k).items()}


@pytest.mark.parametrize('seed', (0, 1, 2))
@pytest.mark.parametrize('block_size', (7, 1000))
def test_lattice_features_decide_ties_as_the_official_codes(seed, block_size):
  """Integer features (levels 0-3 in 8 dimensions, shifted far from the origin): many fakes sit
  exactly on the edge of a real's k-NN ball (the conventions' precisions differ, below). Density and coverage equal
  prdc 0.2's (`<`, its distances exact on integers: sklearn computes them in float64);
  precision and recall equal the exact `<=` reference (Kynkaanniemi et al.'s code), and prdc
  0.2's own precision and recall equal the exact `<` one: the conventions differ on ties only.
  (Mean-centred float32 distances read density 14-20% above prdc 0.2's on these sets.)"""
  rng = np.random.default_rng(seed)
  real = rng.integers(0, 4, (150, 8))
  fake = rng.integers(0, 4, (120, 8)) + rng.integers(0, 2, (1, 8))   # overlapping, shifted
  k = 5
  exact = _exact_reference(real, fake, k, k)
  official = _official_prdc(real.astype(np.float32) + 100, fake.astype(np.float32) + 100, k)
  # Counts over k M or M or N: one count more or less moves a value by >= 1 / (k M) ~ 2e-3;
  # prdc 0.2 divides in another order (a few float64 roundings, ~1e-16).
  same = lambda a, b: pytest.approx(b, rel=0, abs=1e-12) == a
  assert same(official['density'], exact['density'])
  assert same(official['coverage'], exact['coverage'])
  exact_lt = _exact_reference(real, fake, k, k, np.less)
  assert same(official['precision'], exact_lt['precision'])
  assert same(official['recall'], exact_lt['recall'])
  got = prdc_lib.prdc(real.astype(np.float32) + 100, fake.astype(np.float32) + 100, k_pr=k,
                      k_dc=k, block_size=block_size)
  assert got == exact
  # Ties decide: the two conventions give different precision here.
  assert abs(exact['precision'] - official['precision']) > 1e-3


def test_quantised_non_lattice_features_are_exact():
  """Levels at a step of 0.1 plus 0.3 (float32: no common power-of-two step, so near-ties are
  ~1e-8 apart, not exact): the float64 distances of the shifted features decide them as the
  exact arithmetic on the float32 values does (int64 on the values times 2^25, all integers)."""
  rng = np.random.default_rng(3)
  real = (rng.integers(0, 30, (120, 6)) * 0.1 + 0.3).astype(np.float32)
  fake = (rng.integers(0, 30, (100, 6)) * 0.1 + 0.3).astype(np.float32)
  scaled = [x.astype(np.float64) * 2.0 ** 25 for x in (real, fake)]
  assert all(np.array_equal(x, np.round(x)) for x in scaled)   # exact integers below 2^27
  exact = _exact_reference(*(x.astype(np.int64) for x in scaled), 3, 5)
  assert prdc_lib.prdc(real, fake, block_size=64) == exact


def test_disjoint_sets():
  real, fake = _sets(200, 130, seed=4)
  got = prdc_lib.prdc(real, fake + 1000.0, block_size=64)
  assert got == {'precision': 0.0, 'recall': 0.0, 'density': 0.0, 'coverage': 0.0}


def test_mode_collapse():
  """200 fakes on 5 real points (plus 1e-3 noise) against a fresh draw from the real
  distribution: collapse keeps precision near 1 but recall and coverage fall far below what
  matching distributions give (coverage ~ 1 - 2^-5 for N = M, Naeem et al. 2020, sec. 4.2)."""
  rng = np.random.default_rng(5)
  real = rng.normal(size=(200, 16)).astype(np.float32)
  control = rng.normal(size=(200, 16)).astype(np.float32)
  collapsed = (real[rng.choice(200, 5, replace=False)][rng.integers(0, 5, 200)]
               + 1e-3 * rng.normal(size=(200, 16))).astype(np.float32)
  good = prdc_lib.prdc(real, control, block_size=64)
  bad = prdc_lib.prdc(real, collapsed, block_size=64)
  assert good == _reference(real, control)[0]
  assert bad == _reference(real, collapsed)[0]
  assert good['recall'] > 0.5 and good['coverage'] > 0.8, good
  assert bad['precision'] > 0.95, bad
  assert bad['recall'] <= 5 / 200 and bad['coverage'] < 0.2, bad


def test_compiles_once_per_block_shape():
  """A padded last block reuses the tile functions' compilation; new N, M compile nothing."""
  lowered = []

  def listener(event, duration, **kwargs):
    del duration
    if event == '/jax/core/compile/jaxpr_to_mlir_module_duration':   # once per compile
      lowered.append(kwargs.get('fun_name', '?'))

  real, fake = _sets(100, 61, d=5, seed=6)  # d = 5: shapes no other test compiles
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    prdc_lib.prdc(real, fake, block_size=13)  # 8 and 5 blocks, both last blocks padded
    first = list(lowered)
    prdc_lib.prdc(real[:77], fake[:40], block_size=13)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  # One tile shape for the distances and the cross update; the k-smallest merge once per
  # number kept (k + 1 = 6 for the reals' radii, 4 for the fakes'). (Eager jnp ops compile
  # small functions of their own, by shape; they are not the block functions.)
  tiles = ('jit(_sq_dist_tile)', 'jit(_cross_update)', 'jit(_merge_smallest)')
  assert [first.count(name) for name in tiles] == [1, 1, 2], first
  second = lowered[len(first):]
  assert not [name for name in second if name in tiles], second


# ---------------------------------------------------------------------------------------------
# Bad input: FidInputError (a JaxganError and a ValueError) with a sentence saying what to do.
# ---------------------------------------------------------------------------------------------

_X = np.random.default_rng(7).normal(size=(20, 4)).astype(np.float32)


def _with(value, index=(3, 1)):
  x = _X.copy()
  x[index] = value
  return x


@pytest.mark.parametrize('call, match', [
    (lambda: prdc_lib.prdc(_X[:5], _X), r'real features have 5 samples but k_dc=5 needs at '
                                        r'least 6 .*pass more samples or a smaller k_dc'),
    (lambda: prdc_lib.prdc(_X, _X[:3]), r'fake features have 3 samples but k_pr=3 needs at least '
                                        r'4'),
    (lambda: prdc_lib.precision_recall(_X, _X[:2], k=2), r'fake features have 2 samples but k=2'),
    (lambda: prdc_lib.density_coverage(_X, _X[:0]), r'fake features are empty'),
    (lambda: prdc_lib.knn_radii(_X[:3], 3), r'features have 3 samples but k=3 needs at least 4'),
    (lambda: prdc_lib.prdc(_X, _X[:, :3]), r'different widths \(4 and 3\); extract both with '
                                           r'the same'),
    (lambda: prdc_lib.prdc(_X[0], _X), r'real features must be a 2-D array \(N, D\).*shape '
                                       r'\(4,\); reshape'),
    (lambda: prdc_lib.density_coverage(_X, _X[None]), r'fake features must be a 2-D array'),
    (lambda: prdc_lib.knn_radii(_X.reshape(20, 2, 2), 1), r'must be a 2-D array'),
    (lambda: prdc_lib.prdc(_with(np.nan), _X), r'real features contain NaN or infinite values'),
    (lambda: prdc_lib.precision_recall(_X, _with(np.inf)), r'fake features contain NaN or '
                                                           r'infinite.*remove or fix'),
    (lambda: prdc_lib.knn_radii(_with(-np.inf), 2), r'contain NaN or infinite'),
    (lambda: prdc_lib.prdc(_X, _X, k_pr=0), r'k_pr=0 is not a valid neighbourhood size; pass an '
                                            r'integer >= 1'),
    (lambda: prdc_lib.prdc(_X, _X, k_dc=-1), r'k_dc=-1 is not a valid'),
    (lambda: prdc_lib.density_coverage(_X, _X, k=2.5), r'k=2.5 is not a valid'),
    (lambda: prdc_lib.knn_radii(_X, 0), r'k=0 is not a valid'),
    (lambda: prdc_lib.prdc(_X, _X, block_size=0), r'block_size=0 is not a valid block size'),
    (lambda: prdc_lib.prdc(_X.astype(str), _X), r'must be a float array'),
])
def test_bad_input(call, match):
  with pytest.raises(FidInputError, match=match) as info:
    call()
  assert isinstance(info.value, errors.JaxganError) and isinstance(info.value, ValueError)
