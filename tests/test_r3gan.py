"""R3GAN's networks (jaxgan/models/r3gan.py) against the official ones and a PyTorch replica.

- Parameter counts equal the official networks' at each official preset.
- Same function: weights carried from jaxgan to an independent PyTorch replica
  (tests/r3gan_torch.py) give the same images and logits (float32).
- The official checkpoint layout (key names and shapes recorded from the official code)
  converts into jaxgan parameters, and back.
- The fix-up initialisation, the per-stage precision, the registry and the CIFAR-10 config.
"""

import json
import math
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import steps
from jaxgan import errors, models
from jaxgan.models import r3gan
from tests import r3gan_torch
from tests.util import CONFIGS

# sum(p.numel() for p in net.parameters()) of the official training/networks.py Generator and
# Discriminator built with the kwargs of the official train.py's `--preset` (and the README
# command's --cond: CIFAR-10 and ImageNet with their 10 and 1000 classes), brownvc/R3GAN commit
# 19a7ddf463fbac2bd39b4c1c73d63f1c441c7403, torch 2.13 on the CPU (6 December 2026).
OFFICIAL_COUNTS = {
    'cifar10': (20_781_952, 21_280_512),
    'ffhq64': (22_429_824, 22_381_440),
    'ffhq256': (23_057_952, 23_009_568),
    'imagenet32': (82_914_304, 86_548_992),
    'imagenet64': (103_570_432, 107_205_120),
}

# The setting of the recorded official key list (tests/data/r3gan_official_tiny_keys.json).
TINY = dict(image_size=32, widths=(16, 16, 8, 4), cardinalities=(4, 2, 2, 2), blocks=(1, 2, 1, 1))
Z_DIM = 8
with open(os.path.join(os.path.dirname(__file__), 'data', 'r3gan_official_tiny_keys.json')) as f:
  OFFICIAL_TINY_KEYS = json.load(f)


def _count(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def _labels(num_classes, batch):
  return jnp.arange(batch) % num_classes if num_classes else None


def _shapes(module, inputs, labels):
  """The module's 'params' tree as shapes (traced, not run: nothing compiles)."""
  return jax.eval_shape(lambda: module.init(jax.random.key(0), inputs, labels, train=False)
                        )['params']


def _random_params(module, inputs, labels, seed):
  """Parameters for `module` with every entry drawn (its own init sets conv3 and the biases
  to zero, which would hide them): N(0, 1 / fan_in) for kernels and tables, N(0, 0.2^2) for
  biases. numpy draws them: JAX would compile one random kernel per shape."""
  rng = np.random.default_rng(seed)
  def draw(leaf):
    scale = 1 / math.sqrt(np.prod(leaf.shape[:-1])) if len(leaf.shape) > 1 else 0.2
    return jnp.asarray(rng.standard_normal(leaf.shape, np.float32) * scale)
  return jax.tree.map(draw, _shapes(module, inputs, labels))


@pytest.mark.parametrize('preset', sorted(OFFICIAL_COUNTS))
def test_parameter_counts_equal_the_official_networks(preset):
  p = r3gan.PRESETS[preset]
  generator = r3gan.Generator(image_size=p.resolution, num_classes=p.num_classes, preset=preset)
  discriminator = r3gan.Discriminator(image_size=p.resolution, num_classes=p.num_classes,
                                      preset=preset)
  labels = _labels(p.num_classes, 1)
  g = _shapes(generator, jnp.zeros((1, p.z_dim)), labels)
  d = _shapes(discriminator, jnp.zeros((1, p.resolution, p.resolution, 3)), labels)
  assert (_count(g), _count(d)) == OFFICIAL_COUNTS[preset]


def _torch_pair(num_classes):
  kwargs = dict(widths=TINY['widths'], cardinalities=TINY['cardinalities'],
                blocks=TINY['blocks'], num_classes=num_classes)
  return (r3gan_torch.Generator(Z_DIM, **kwargs).eval(),
          r3gan_torch.Discriminator(**kwargs).eval())


def _load(torch_module, state):
  torch_module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                               strict=True)


def _assert_close(ours, reference):
  # float32 through ~12 layers of sums over <= 300 terms each: rounding errors ~1e-6 of the
  # output scale; 1e-4 of it is the bar.
  ours, reference = np.asarray(ours), np.asarray(reference)
  assert ours.shape == reference.shape
  scale = np.max(np.abs(reference))
  assert scale > 0.1
  assert np.max(np.abs(ours - reference)) <= 1e-4 * scale


def _apply(module, params, inputs, labels):
  # One compiled call (op-by-op dispatch of the unjitted network compiles each op alone).
  return jax.jit(lambda p, x, y: module.apply({'params': p}, x, y, train=False))(
      params, inputs, labels)


def _nchw(x):
  return torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()


def _compare(num_classes, g_params, d_params, t_g, t_d):
  generator = r3gan.Generator(**TINY, num_classes=num_classes)
  discriminator = r3gan.Discriminator(**TINY, num_classes=num_classes)
  z = jax.random.normal(jax.random.key(7), (5, Z_DIM))
  labels = _labels(num_classes, 5)
  t_labels = None if labels is None else torch.from_numpy(np.array(labels)).long()
  images = _apply(generator, g_params, z, labels)
  with torch.no_grad():
    t_images = t_g(torch.from_numpy(np.array(z)), t_labels).permute(0, 2, 3, 1)
  _assert_close(images, t_images.numpy())
  # D on images of a realistic scale: the generator's, squashed into [-1, 1].
  x = jnp.tanh(images)
  logits = _apply(discriminator, d_params, x, labels)
  with torch.no_grad():
    t_logits = t_d(_nchw(x), t_labels)
  assert logits.shape == (5,) and logits.dtype == jnp.float32
  _assert_close(logits, t_logits.numpy())


@pytest.mark.parametrize('num_classes', [0, 3])
def test_same_function_as_the_torch_replica_with_jaxgan_weights(num_classes):
  generator = r3gan.Generator(**TINY, num_classes=num_classes)
  discriminator = r3gan.Discriminator(**TINY, num_classes=num_classes)
  labels = _labels(num_classes, 1)
  g_params = _random_params(generator, jnp.zeros((1, Z_DIM)), labels, 1)
  d_params = _random_params(discriminator, jnp.zeros((1, 32, 32, 3)), labels, 2)
  t_g, t_d = _torch_pair(num_classes)
  _load(t_g, r3gan.to_official(generator, g_params))
  _load(t_d, r3gan.to_official(discriminator, d_params))
  _compare(num_classes, g_params, d_params, t_g, t_d)


def test_replica_and_to_official_have_the_official_keys_and_shapes():
  t_g, t_d = _torch_pair(3)
  generator = r3gan.Generator(**TINY, num_classes=3)
  discriminator = r3gan.Discriminator(**TINY, num_classes=3)
  for module, replica, name in ((generator, t_g, 'generator'), (discriminator, t_d,
                                                               'discriminator')):
    official = [(k, list(shape)) for k, shape in OFFICIAL_TINY_KEYS[name]]
    assert [(k, list(v.shape)) for k, v in replica.state_dict().items()] == official
    inputs = jnp.zeros((1, Z_DIM)) if name == 'generator' else jnp.zeros((1, 32, 32, 3))
    exported = r3gan.to_official(module, _random_params(module, inputs, _labels(3, 1), 0))
    assert sorted((k, list(v.shape)) for k, v in exported.items()) == sorted(official)


def _official_state(replica, seed):
  """The replica's weights redrawn (as _random_params), under the official pickles' key names."""
  torch.manual_seed(seed)
  state = {}
  for key, value in replica.state_dict().items():
    if key.endswith('Resampler.Kernel'):
      state['Model.' + key] = value.numpy()
      continue
    scale = 1 / math.sqrt(value[0].numel()) if value.ndim > 1 else 0.2
    state['Model.' + key] = (torch.randn(value.shape) * scale).numpy()
  return state


@pytest.mark.parametrize('num_classes', [0, 3])
def test_from_official_loads_a_state_dict_in_the_official_layout(num_classes):
  t_g, t_d = _torch_pair(num_classes)
  g_state, d_state = _official_state(t_g, 3), _official_state(t_d, 4)
  _load(t_g, {k[len('Model.'):]: v for k, v in g_state.items()})
  _load(t_d, {k[len('Model.'):]: v for k, v in d_state.items()})
  generator = r3gan.Generator(**TINY, num_classes=num_classes)
  discriminator = r3gan.Discriminator(**TINY, num_classes=num_classes)
  g_params = r3gan.from_official(generator, g_state)
  d_params = r3gan.from_official(discriminator, d_state)
  # The parameters fill exactly jaxgan's tree, and convert back to the same tensors.
  labels = _labels(num_classes, 1)
  chex.assert_trees_all_equal_shapes_and_dtypes(
      g_params, _shapes(generator, jnp.zeros((1, Z_DIM)), labels))
  chex.assert_trees_all_equal_shapes_and_dtypes(
      d_params, _shapes(discriminator, jnp.zeros((1, 32, 32, 3)), labels))
  back = r3gan.to_official(generator, g_params)
  chex.assert_trees_all_equal(back, {k[len('Model.'):]: v for k, v in g_state.items()})
  _compare(num_classes, g_params, d_params, t_g, t_d)


def test_from_official_names_what_does_not_fit():
  t_g, _ = _torch_pair(3)
  state = _official_state(t_g, 5)
  generator = r3gan.Generator(**TINY, num_classes=3)
  missing = {k: v for k, v in state.items() if 'AggregationLayer' not in k}
  with pytest.raises(errors.CheckpointError, match='missing.*AggregationLayer'):
    r3gan.from_official(generator, missing)
  with pytest.raises(errors.CheckpointError, match='unexpected.*EmbeddingLayer'):
    r3gan.from_official(r3gan.Generator(**TINY), state)
  wider = r3gan.Generator(**dict(TINY, widths=(16, 16, 8, 8)), num_classes=3)
  with pytest.raises(errors.CheckpointError, match='shape'):
    r3gan.from_official(wider, {k: v for k, v in state.items() if 'Layers.0.LinearLayer.Layer'
                                not in k or 'MainLayers.3' not in k})
  other_filter = dict(state)
  other_filter['Model.MainLayers.1.Layers.0.Resampler.Kernel'] = np.full((4, 4), 1 / 16,
                                                                         np.float32)
  with pytest.raises(errors.CheckpointError, match='resampling filter'):
    r3gan.from_official(generator, other_filter)


def test_initialisation_is_the_official_fixup_scheme():
  # One CIFAR-10 block (768 channels, cardinality 96, L = 8 blocks in the network): conv1 and
  # conv3x3 ~ N(0, (sqrt(2 / 1.04) L^(-1/4) / sqrt(fan_in))^2), conv3 and biases zero.
  block = r3gan.ResidualBlock(96, 2, 3, 8)
  params = block.init(jax.random.key(0), jnp.zeros((1, 4, 4, 768)))['params']
  gain = math.sqrt(2 / (1 + 0.2 ** 2)) * 8 ** -0.25
  for name, fan_in in (('conv1', 768), ('conv2', 16 * 9)):
    kernel = np.asarray(params[name]['kernel'])
    # >= 1.2M and 221k draws: the sample std's relative error is <= 0.15%; 2% is > 10 sigma.
    assert np.std(kernel) == pytest.approx(gain / math.sqrt(fan_in), rel=0.02)
    assert abs(np.mean(kernel)) < 0.01 * gain / math.sqrt(fan_in)
  assert params['conv2']['kernel'].shape == (3, 3, 16, 1536)
  assert not np.any(params['conv3']['kernel'])
  assert not np.any(params['bias1']) and not np.any(params['bias2'])
  # Every block starts as the identity, so G's image at init is the aggregation of the
  # upsampled (linear) basis.
  x = jax.random.normal(jax.random.key(1), (2, 4, 4, 768))
  np.testing.assert_array_equal(jax.jit(block.apply)({'params': params}, x), x)


def test_reduced_precision_stages_as_the_official_presets():
  # CIFAR-10: G's last 3 of 4 stages and D's first 3 in bfloat16 (FP16Stages = [-1, -2, -3],
  # D's [2, 1, 0]); parameters, G's first stage, D's last, the images and logits float32.
  generator = r3gan.Generator(**TINY, num_classes=3, dtype=jnp.bfloat16)
  discriminator = r3gan.Discriminator(**TINY, num_classes=3, dtype=jnp.bfloat16)
  z, labels = jax.random.normal(jax.random.key(0), (2, Z_DIM)), _labels(3, 2)
  params = _random_params(generator, z, labels, 1)
  images, state = jax.jit(lambda p: generator.apply({'params': p}, z, labels, train=False,
                                                   capture_intermediates=True))(params)
  stages = [state['intermediates'][f'stage{s}']['__call__'][0].dtype for s in range(4)]
  assert stages == [jnp.float32, jnp.bfloat16, jnp.bfloat16, jnp.bfloat16]
  assert images.dtype == jnp.float32
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
  full = _apply(r3gan.Generator(**TINY, num_classes=3), params, z, labels)
  # bfloat16 keeps 8 significant bits (relative rounding 2^-9 per operation); through a dozen
  # layers the error stays within a few percent of the output scale.
  assert np.max(np.abs(images - full)) <= 0.05 * np.max(np.abs(full))
  x = jnp.tanh(full)
  d_params = _random_params(discriminator, x, labels, 2)
  logits, state = jax.jit(lambda p: discriminator.apply(
      {'params': p}, x, labels, train=False, capture_intermediates=True))(d_params)
  stages = [state['intermediates'][f'stage{s}']['__call__'][0].dtype for s in range(4)]
  assert stages == [jnp.bfloat16, jnp.bfloat16, jnp.bfloat16, jnp.float32]
  assert logits.dtype == jnp.float32


def test_architecture_checks_are_one_sentence_naming_the_value():
  with pytest.raises(errors.ConfigError, match="preset='cifar10' is the 32x32 network"):
    r3gan.Generator(image_size=64, preset='cifar10')
  with pytest.raises(errors.ConfigError, match='no official R3GAN preset'):
    r3gan.Discriminator(image_size=128)
  with pytest.raises(errors.ConfigError, match='cardinalities=.*must divide'):
    r3gan.Generator(**dict(TINY, cardinalities=(3, 2, 2, 2)))
  with pytest.raises(errors.ConfigError, match='widths=.*4 positive integers'):
    r3gan.Generator(**dict(TINY, widths=(16, 8)))
  assert r3gan.Generator(image_size=256).architecture().widths == r3gan.PRESETS['ffhq256'].widths


def _tiny_r3gan(config):
  config.model.r3gan_widths = TINY['widths']
  config.model.r3gan_cardinalities = TINY['cardinalities']
  config.model.r3gan_blocks = TINY['blocks']
  return config


def test_registered_family_builds_from_config_keys():
  config = _tiny_r3gan(jaxgan.config.default())
  config.model.name = 'r3gan'
  config.data.image_size = 32
  config.model.num_classes = 3
  config.model.dtype = 'bfloat16'
  generator, discriminator = models.build(config)
  assert isinstance(generator, r3gan.Generator) and isinstance(discriminator, r3gan.Discriminator)
  assert generator.widths == TINY['widths'] and generator.num_classes == 3
  assert discriminator.dtype == jnp.bfloat16 and not models.mixes_samples(discriminator)
  config.model.r3gan_preset = 'ffhq256'
  with pytest.raises(errors.ConfigError, match=r"^config\.model\.r3gan_preset='ffhq256'"):
    models.build(config)


@pytest.mark.slow
def test_cifar10_config_trains_two_steps_on_the_digits(tmp_path):
  config = _tiny_r3gan(jaxgan.config.from_file(os.path.join(CONFIGS, 'r3gan_cifar10.py')))
  assert (config.model.name, config.model.r3gan_preset, config.model.num_classes) == (
      'r3gan', 'cifar10', 10)
  config.data.dataset = 'digits'    # offline, 10 labels as CIFAR-10
  config.train.batch_size = 16
  config.train.num_steps = 2
  config.train.checkpoint_every = 2
  config.log.every_steps = 1
  config.log.samples_every = 0
  config.eval.every_steps = 0
  experiment = jaxgan.build(config)
  ramp = 'cosine_ramp(0.025->0.0025 over 39062.5 steps)(step)'
  assert repr(experiment.loss) == f'rpgan + {ramp} * r1 + {ramp} * r2'
  state = jaxgan.train(experiment, str(tmp_path))
  assert int(state.step) == 2
  for leaf in jax.tree.leaves(state):
    if np.issubdtype(leaf.dtype, np.floating):
      assert np.all(np.isfinite(leaf))
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2]
  assert all(r['d/r1'] > 0 and r['d/r2'] > 0 for r in records)


def test_cifar10_config_schedules_are_the_official_preset():
  """configs/r3gan_cifar10.py's lr, beta2 and gamma/2 (R1, R2 weights) at several steps equal
  R3GAN's CIFAR10 preset (train.py, lines 194-196) through its `cosine_decay_with_warmup`
  (training/training_loop.py, line 29) at cur_nimg = step * 512, in float64."""
  from jaxgan import validation  # pylint: disable=g-import-not-at-top

  def official(step, base, final):
    nimg = step * 512
    decay = 0.5 * (1 + np.cos(np.pi * nimg / 2e7))
    return final if nimg > 2e7 else base + (1 - decay) * (final - base)

  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'r3gan_cifar10.py'))
  checked = validation.validate(config)
  weights = {t.name: w for w, t in checked.loss.parts if t.name in ('r1', 'r2')}
  assert set(weights) == {'r1', 'r2'}
  tol = 8 * float(np.finfo(np.float32).eps)    # tests/test_optim.py's _f32_tol, per unit value
  params = {'w': jnp.zeros(2)}
  for step in (0, 1, 5000, 19_531, 39_062, 39_063, 50_000):
    for name, weight in weights.items():
      assert float(weight(step)) == pytest.approx(official(step, 0.025, 0.0025), rel=0,
                                                  abs=tol * 0.025), name
    for tx in (checked.g_optimizer, checked.d_optimizer):
      state = jax.tree.map(
          lambda x: jnp.full_like(x, step) if jnp.issubdtype(x.dtype, jnp.integer) else x,
          tx.init(params))
      _, state = tx.update({'w': jnp.ones(2)}, state, params)
      assert float(state.hyperparams['learning_rate']) == pytest.approx(
          official(step, 2e-4, 5e-5), rel=0, abs=tol * 2e-4)
      assert float(state.hyperparams['b2']) == pytest.approx(official(step, 0.9, 0.99), rel=0,
                                                             abs=tol * 0.99)
      assert float(state.hyperparams['b1']) == 0.0
  # G_ema's half-life (train.py lines 189 and 192) and the beta of each step (training_loop.py
  # line 351: 0.5 ** (batch / max(half-life, 1e-8))), from the experiment's EMA.
  ema = jaxgan.build(config).ema
  assert ema.decay is None and ema.rampup is None and callable(ema.half_life_images)
  for step in (0, 1, 5000, 19_531, 39_062, 39_063, 50_000):
    half_life = official(step, 0.0, 5e6)
    assert float(ema.half_life_images(step)) == pytest.approx(half_life, rel=0, abs=tol * 5e6)
    beta = float(steps._half_life_decay(jnp.asarray(step), 512, ema.half_life_images, None))
    assert beta == pytest.approx(0.5 ** (512 / max(half_life, 1e-8)), rel=0, abs=1e-6)
