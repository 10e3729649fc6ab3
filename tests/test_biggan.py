"""BigGAN (jaxgan.models.biggan) against PyTorch-StudioGAN's big_resnet: parameter counts of
the official builds, state-dict layout of the official CIFAR-10 build, and the same function as
an independent PyTorch replica (tests/biggan_torch.py) with weights carried both ways
(jaxgan.models.biggan_studiogan)."""

import json
import os

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import errors, models
from jaxgan.models import biggan, biggan_studiogan
from tests import biggan_torch

_KEYS = os.path.join(os.path.dirname(__file__), 'data', 'studiogan_biggan_cifar10_keys.json')


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _shapes(module, batch=1):
  labels = jnp.zeros((batch,), jnp.int32) if module.num_classes > 0 else None
  x = (jnp.zeros((batch, module.z_dim)) if isinstance(module, biggan.Generator)
       else jnp.zeros((batch, module.image_size, module.image_size, 3)))
  return jax.eval_shape(lambda k: module.init(k, x, labels, train=False), jax.random.key(0))


# (image_size, width, z_dim, classes, attention side) -> StudioGAN's G and D parameter counts.
# Sources: "log" = the "Number of parameters" lines of StudioGAN's training logs in its
# repository (logs/...); "build" = StudioGAN's src/models/big_resnet.py at commit 947b35e built
# with torch on the CPU at the yaml's setting (which also reproduced every log number).
@pytest.mark.parametrize('setting, image_size, width, z_dim, classes, attention, g_count, '
                         'd_count', [
    # logs/CIFAR10/BigGAN-train-2021_01_15_14_48_48.log (src/configs/CIFAR10/BigGAN.yaml)
    ('cifar10', 32, 96, 80, 10, 16, 9_416_196, 2_415_170),
    # build of src/configs/CIFAR10/BigGAN-Uncond.yaml
    ('cifar10_uncond', 32, 96, 80, 0, 16, 8_825_092, 2_413_250),
    # logs/TINY_IMAGENET/BigGAN-train-2021_01_18_11_42_25.log (64 px, 200 classes)
    ('tiny_imagenet_64', 64, 80, 100, 200, 32, 17_335_204, 30_796_722),
    # logs/IMAGENET/BigGAN256-train-2021_01_24_03_52_15.log (ImageNet/BigGAN-256.yaml, 128 px)
    ('imagenet_128', 128, 96, 120, 1000, 64, 70_433_988, 87_982_370),
    # build of src/configs/AFHQv2/BigGAN-256Res.yaml (256 px, 3 classes, no attention)
    ('afhqv2_256', 256, 96, 140, 3, 0, 81_923_907, 97_648_417),
])
@pytest.mark.slow
def test_parameter_counts_equal_studiogan(setting, image_size, width, z_dim, classes,
                                          attention, g_count, d_count):
  del setting
  g = biggan.Generator(image_size=image_size, width=width, z_dim=z_dim, num_classes=classes,
                       attention_resolution=attention)
  d = biggan.Discriminator(image_size=image_size, width=width, num_classes=classes,
                           attention_resolution=attention)
  assert _count(_shapes(g)['params']) == g_count
  assert _count(_shapes(d)['params']) == d_count


def test_defaults_are_the_cifar10_setting():
  recorded = json.load(open(_KEYS))
  assert _count(_shapes(biggan.Generator(num_classes=10))['params']) == (
      recorded['generator_parameters'])
  assert _count(_shapes(biggan.Discriminator(num_classes=10))['params']) == (
      recorded['discriminator_parameters'])


def _layout(pairs) -> dict:
  return {key: tuple(shape) for key, shape in pairs}


@pytest.mark.slow
def test_state_dict_layout_is_the_official_one():
  """to_studiogan writes, and from_studiogan reads, the key names and shapes of StudioGAN's
  own CIFAR-10 build (recorded in tests/data from the official modules); the replica too."""
  recorded = json.load(open(_KEYS))
  g, d = biggan.Generator(num_classes=10), biggan.Discriminator(num_classes=10)
  for module, name in ((g, 'generator'), (d, 'discriminator')):
    want = _layout(recorded[name])
    variables = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), _shapes(module))
    got = biggan_studiogan.to_studiogan(variables, module)
    assert {k: v.shape for k, v in got.items()} == want
    rng = np.random.default_rng(0)
    state_dict = {k: rng.standard_normal(s).astype(np.float32) for k, s in want.items()}
    loaded = biggan_studiogan.from_studiogan(state_dict, module)
    chex.assert_trees_all_equal_shapes(loaded, flax.core.unfreeze(_shapes(module)))
  replica_g, replica_d = biggan_torch.Generator(), biggan_torch.Discriminator()
  assert {k: tuple(v.shape) for k, v in replica_g.state_dict().items()} == _layout(
      recorded['generator'])
  assert {k: tuple(v.shape) for k, v in replica_d.state_dict().items()} == _layout(
      recorded['discriminator'])


# --- same function -------------------------------------------------------------------------

_SMALL = dict(image_size=32, width=4, attention_resolution=16)   # G 16 channels, D 8
_Z, _SHARED, _CLASSES, _BATCH = 8, 6, 3, 4


def _small(classes=_CLASSES):
  g = biggan.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=classes,
                       bn_axis_name=None)
  d = biggan.Discriminator(**_SMALL, num_classes=classes)
  tg = biggan_torch.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=classes)
  td = biggan_torch.Discriminator(**_SMALL, num_classes=classes)
  return g, d, tg, td


def _inputs(seed=0, classes=_CLASSES):
  rng = np.random.default_rng(seed)
  z = rng.standard_normal((_BATCH, _Z)).astype(np.float32)
  x = rng.uniform(-1, 1, (_BATCH, 32, 32, 3)).astype(np.float32)
  y = rng.integers(0, max(classes, 1), _BATCH).astype(np.int32) if classes else None
  return z, x, y


def _randomised(variables, seed):
  """Init variables with the parts that start trivial (attention gain 0, batch-norm scale 1,
  shift 0, running statistics 0 and 1) made random, so each path counts."""
  rng = np.random.default_rng(seed)
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  for path, value in flat.items():
    name = path[-1]
    if name == 'gamma':
      flat[path] = np.float32(0.8)
    elif name in ('scale', 'var'):
      flat[path] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    elif name in ('bias', 'mean'):
      flat[path] = (0.1 * rng.standard_normal(value.shape)).astype(np.float32)
  return flax.traverse_util.unflatten_dict(flat)


def _converged(variables):
  """Spectral-norm vectors set to the top singular vector of their weight, as after training."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  for path in list(flat):
    if path[0] != 'spectral_stats' or not path[-1].endswith('/u'):
      continue
    layer, param = path[-1].split('/')[:2]
    weight = np.asarray(flat[('params',) + path[1:-2] + (layer, param)], np.float64)
    _, _, vh = np.linalg.svd(weight.reshape(-1, weight.shape[-1]))
    flat[path] = vh[:1].astype(np.float32)
  return flax.traverse_util.unflatten_dict(flat)


def _load(replica, state_dict):
  replica.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()},
                          strict=True)


def _relative_error(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# float32 convolutions and sums of at most a few thousand terms: ~1e-6 relative; 1e-4 is the
# issue's bar.
_RTOL = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize('classes', [_CLASSES, 0])
def test_evaluation_equals_pytorch_replica_with_jaxgan_weights(classes):
  g, d, tg, td = _small(classes)
  z, x, y = _inputs(1, classes)
  g_vars = _randomised(g.init(jax.random.key(0), z, y, train=False), 1)
  d_vars = _randomised(d.init(jax.random.key(1), x, y, train=False), 2)
  # Spectral-norm vectors as initialised (not converged): the export carries flax's step.
  _load(tg, biggan_studiogan.to_studiogan(g_vars, g))
  _load(td, biggan_studiogan.to_studiogan(d_vars, d))
  tg.eval(), td.eval()
  ty = None if y is None else torch.from_numpy(y).long()
  with torch.no_grad():
    want_images = tg(torch.from_numpy(z), ty).numpy().transpose(0, 2, 3, 1)
    want_logits = td(torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(), ty).numpy()
  images = g.apply(g_vars, z, y, train=False)
  logits = d.apply(d_vars, x, y, train=False)
  assert images.shape == want_images.shape and logits.shape == want_logits.shape
  assert _relative_error(images, want_images) < _RTOL
  assert _relative_error(logits, want_logits) < _RTOL
  assert np.std(want_images) > 0.05 and np.std(want_logits) > 0   # not a constant output


@pytest.mark.slow
def test_training_mode_equals_pytorch_replica():
  """Batch statistics, and the stored statistics and vectors each step leaves behind."""
  g, d, tg, td = _small()
  z, x, y = _inputs(2)
  g_vars = _converged(_randomised(g.init(jax.random.key(2), z, y, train=False), 3))
  d_vars = _converged(_randomised(d.init(jax.random.key(3), x, y, train=False), 4))
  _load(tg, biggan_studiogan.to_studiogan(g_vars, g))
  _load(td, biggan_studiogan.to_studiogan(d_vars, d))
  tg.train(), td.train()
  ty = torch.from_numpy(y).long()
  with torch.no_grad():
    want_images = tg(torch.from_numpy(z), ty).numpy().transpose(0, 2, 3, 1)
    want_logits = td(torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(), ty).numpy()
  images, g_new = g.apply(g_vars, z, y, train=True, mutable=['batch_stats', 'spectral_stats'])
  logits, _ = d.apply(d_vars, x, y, train=True, mutable=['spectral_stats'])
  assert _relative_error(images, want_images) < _RTOL
  assert _relative_error(logits, want_logits) < _RTOL
  # Running statistics: both move by the unbiased batch variance (jaxgan.models.layers.BatchNorm).
  torch_state = tg.state_dict()
  new = biggan_studiogan.to_studiogan({**g_vars, **g_new}, g)
  old = biggan_studiogan.to_studiogan(g_vars, g)
  for key in ('blocks.0.0.bn1.bn', 'blocks.3.0.bn2.bn', 'bn4'):
    np.testing.assert_allclose(new[f'{key}.running_mean'],
                               torch_state[f'{key}.running_mean'].numpy(), rtol=1e-5, atol=1e-6)
    # Compared as the batch variance each moved by (the update's part that is not the old one):
    # recovering it scales the float32 rounding of 0.9 old + 0.1 v (~1e-7 x old, old <= 1.5) by
    # 10 (atol). The biased variance would differ by v / (n - 1): 1.6e-4 at the first layer
    # (n = 4 x 4 x 4, v ~ 0.01), far above it.
    batch_var = (new[f'{key}.running_var'] - 0.9 * old[f'{key}.running_var']) / 0.1
    torch_batch_var = (torch_state[f'{key}.running_var'].numpy()
                       - 0.9 * old[f'{key}.running_var']) / 0.1
    atol = 4 * np.finfo(np.float32).eps * np.abs(old[f'{key}.running_var']).max() / 0.1
    np.testing.assert_allclose(batch_var, torch_batch_var, rtol=1e-4, atol=atol)


@pytest.mark.slow
def test_studiogan_state_dict_loads_and_computes_the_same():
  """A state dict in StudioGAN's layout (the replica's, converged vectors as a trained
  checkpoint has, its own running statistics) gives the same images and logits in jaxgan."""
  torch.manual_seed(0)
  g, d, tg, td = _small()
  z, x, y = _inputs(3)
  ty = torch.from_numpy(y).long()
  with torch.no_grad():
    for _ in range(3):   # a few training-mode passes: running statistics of their own
      tg(torch.randn(16, _Z), torch.randint(0, _CLASSES, (16,)))
    for module in list(tg.modules()) + list(td.modules()):
      if hasattr(module, 'weight_orig'):
        matrix = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
        u, _, vh = torch.linalg.svd(matrix.double())
        module.weight_u.copy_(u[:, 0].float())
        module.weight_v.copy_(vh[0].float())
      if hasattr(module, 'sigma'):
        module.sigma.fill_(0.7)
    tg.eval(), td.eval()
    want_images = tg(torch.from_numpy(z), ty).numpy().transpose(0, 2, 3, 1)
    want_logits = td(torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(), ty).numpy()
  g_vars = biggan_studiogan.from_studiogan(tg.state_dict(), g)
  d_vars = biggan_studiogan.from_studiogan(td.state_dict(), d)
  assert _relative_error(g.apply(g_vars, z, y, train=False), want_images) < _RTOL
  assert _relative_error(d.apply(d_vars, x, y, train=False), want_logits) < _RTOL
  # And back: the same parameters and statistics.
  again = biggan_studiogan.to_studiogan(g_vars, g)
  for key, value in tg.state_dict().items():
    if not key.endswith(('weight_u', 'weight_v', 'num_batches_tracked')):
      np.testing.assert_array_equal(again[key], value.numpy(), err_msg=key)


@pytest.mark.slow
def test_without_spectral_norm_the_keys_are_plain_weights():
  g = biggan.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=_CLASSES,
                       spectral_norm=False, bn_axis_name=None)
  tg = biggan_torch.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=_CLASSES,
                              sn=False)
  z, _, y = _inputs(4)
  g_vars = _randomised(g.init(jax.random.key(4), z, y, train=False), 5)
  assert 'spectral_stats' not in g_vars
  _load(tg, biggan_studiogan.to_studiogan(g_vars, g))
  with torch.no_grad():
    want = tg.eval()(torch.from_numpy(z), torch.from_numpy(y).long()).numpy()
  assert _relative_error(g.apply(g_vars, z, y, train=False), want.transpose(0, 2, 3, 1)) < _RTOL


def test_converter_errors_name_the_key():
  g = biggan.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=_CLASSES)
  tg = biggan_torch.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=_CLASSES)
  state = dict(tg.state_dict())
  del state['blocks.2.0.sigma']
  with pytest.raises(errors.CheckpointError, match="no 'blocks.2.0.sigma'"):
    biggan_studiogan.from_studiogan(state, g)
  wide = biggan.Generator(image_size=32, width=8, attention_resolution=16, z_dim=_Z,
                          shared_dim=_SHARED, num_classes=_CLASSES)
  with pytest.raises(errors.CheckpointError, match='has shape'):
    biggan_studiogan.from_studiogan(tg.state_dict(), wide)


def test_bad_arguments_are_config_errors():
  config = jaxgan.config.default()
  config.model.name = 'biggan'
  config.data.image_size = 128
  config.model.z_dim = 100
  with pytest.raises(errors.ConfigError, match=r'config.model.z_dim=100 must be a multiple of 6'):
    models.build(config)
  config.model.z_dim = 120
  config.model.attention_resolution = 4
  with pytest.raises(errors.ConfigError, match='config.model.attention_resolution=4'):
    models.build(config)
  config.model.attention_resolution = None
  g, d = models.build(config)
  assert (g.z_dim, g.width, g.shared_dim, d.width) == (120, 96, 128, 96)


@pytest.mark.slow
def test_labels_matter_and_chunks_feed_the_blocks():
  g = biggan.Generator(**_SMALL, z_dim=_Z, shared_dim=_SHARED, num_classes=_CLASSES,
                       bn_axis_name=None)
  z, _, _ = _inputs(5)
  y0, y1 = np.zeros(_BATCH, np.int32), np.ones(_BATCH, np.int32)
  variables = _randomised(g.init(jax.random.key(5), z, y0, train=False), 6)
  base = g.apply(variables, z, y0, train=False)
  assert np.max(np.abs(g.apply(variables, z, y1, train=False) - base)) > 1e-3
  for chunk in range(4):       # every chunk of z changes the image
    z2 = z.copy()
    z2[:, 2 * chunk:2 * chunk + 2] += 1.0
    assert np.max(np.abs(g.apply(variables, z2, y0, train=False) - base)) > 1e-3


@pytest.mark.slow
def test_bfloat16_compute_is_close_to_float32():
  g, d, _, _ = _small()
  g16 = g.clone(dtype=jnp.bfloat16)
  d16 = d.clone(dtype=jnp.bfloat16)
  z, x, y = _inputs(6)
  g_vars = _randomised(g.init(jax.random.key(6), z, y, train=False), 7)
  d_vars = _randomised(d.init(jax.random.key(7), x, y, train=False), 8)
  images32, images16 = g.apply(g_vars, z, y, train=False), g16.apply(g_vars, z, y, train=False)
  logits32, logits16 = d.apply(d_vars, x, y, train=False), d16.apply(d_vars, x, y, train=False)
  assert images16.dtype == logits16.dtype == jnp.float32
  # bfloat16 keeps 8 significant bits: 2**-9 relative per rounding, ~0.002. Over ~20 layers
  # the mean error stays within 5 roundings' worth (0.01) of the images' unit scale and of the
  # logits' largest value; single pixels drift further (jaxgan's SAGAN at this width with
  # the same random statistics: 0.03), hence the looser bound on the maximum.
  assert float(jnp.mean(jnp.abs(images16 - images32))) < 0.01
  assert float(jnp.max(jnp.abs(images16 - images32))) < 0.1
  scale = float(jnp.max(jnp.abs(logits32)))
  assert float(jnp.mean(jnp.abs(logits16 - logits32))) < 0.01 * scale
  _, state = g16.apply(g_vars, z, y, train=True, mutable=['batch_stats', 'spectral_stats'])
  for leaf in jax.tree.leaves(state):
    assert leaf.dtype == jnp.float32
