"""DiffAugment against an independent PyTorch version of the reference's formulas, per-example
randomness (batch- and device-independent), the ranges of the draws, gradients (finite
differences), the ADA-style probability, jit with a traced probability, and config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jaxgan import augment, errors, steps

FULL = 'color,translation,cutout'


# Jitted once per policy and shape: eager dispatch compiles every primitive separately, which
# made this file several times slower. (The functions are pure; jit changes no result.)
_augment = jax.jit(augment.augment, static_argnames=('policy',))
_apply = jax.jit(augment.apply, static_argnames=('policy',))
_draw = jax.jit(augment.draw_params, static_argnums=(0, 2))


def _keys(n, seed=0):
  return jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(seed), jnp.arange(n))


def _images(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape), jnp.float32)


# ---------------------------------------------------------------------------------------------
# An independent reference: the formulas of mit-han-lab/data-efficient-gans'
# DiffAugment_pytorch.py (NCHW, padding + clamped gathers, a clamped scatter for the cutout
# mask), written here in PyTorch and fed the parameters our draw_params produced.
# ---------------------------------------------------------------------------------------------

def _torch_reference(images, params, policy):
  x = torch.from_numpy(np.asarray(images, np.float64)).permute(0, 3, 1, 2)   # NCHW
  b, _, h, w = x.shape
  p = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
  for name in policy.split(','):
    if name == 'color':
      x = x + p['brightness'].double().view(b, 1, 1, 1)
      mean = x.mean(dim=1, keepdim=True)
      x = (x - mean) * p['saturation'].double().view(b, 1, 1, 1) + mean
      mean = x.mean(dim=[1, 2, 3], keepdim=True)
      x = (x - mean) * p['contrast'].double().view(b, 1, 1, 1) + mean
    elif name == 'translation':
      tx = p['translation'][:, 0].long().view(b, 1, 1)
      ty = p['translation'][:, 1].long().view(b, 1, 1)
      gb, gx, gy = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing='ij')
      gx = torch.clamp(gx + tx + 1, 0, h + 1)
      gy = torch.clamp(gy + ty + 1, 0, w + 1)
      x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
      x = x_pad.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)
    elif name == 'cutout':
      size = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
      ox = p['cutout'][:, 0].long().view(b, 1, 1)
      oy = p['cutout'][:, 1].long().view(b, 1, 1)
      gb, gx, gy = torch.meshgrid(torch.arange(b), torch.arange(size[0]), torch.arange(size[1]),
                                  indexing='ij')
      gx = torch.clamp(gx + ox - size[0] // 2, min=0, max=h - 1)
      gy = torch.clamp(gy + oy - size[1] // 2, min=0, max=w - 1)
      mask = torch.ones(b, h, w, dtype=x.dtype)
      mask[gb, gx, gy] = 0
      x = x * mask.unsqueeze(1)
  return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout', FULL, 'cutout,color'])
def test_apply_matches_the_reference_formulas(policy):
  # 20 x 18: shifts (3, 2), cutout sides (10, 9) - one even and one odd side, and rows and
  # columns of different sizes, so a swapped axis or an off-by-one at a border shows.
  shape = (8, 20, 18, 3)
  images = _images(shape, seed=1)
  params = dict(_draw(FULL, _keys(8, seed=1), shape))
  # Force the extremes of every range into the batch (the borders are where clamping acts).
  params['translation'] = params['translation'].at[0].set([-3, -2]).at[1].set([3, 2])
  params['cutout'] = params['cutout'].at[2].set([0, 0]).at[3].set([20, 17])
  params['cutout'] = params['cutout'].at[4].set([20, 0]).at[5].set([1, 16])
  ours = _apply(images, params, policy)
  expected = _torch_reference(images, params, policy)
  np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-5, atol=1e-5)
  assert not np.allclose(expected, np.asarray(images))   # the reference itself did something


def test_policy_order_is_respected():
  shape = (4, 16, 16, 3)
  images = _images(shape)
  params = _draw(FULL, _keys(4), shape)
  a = _apply(images, params, 'color,cutout')
  b = _apply(images, params, 'cutout,color')
  assert not np.allclose(a, b)   # contrast's mean differs before and after the cutout


# ---------------------------------------------------------------------------------------------
# Per-example randomness.
# ---------------------------------------------------------------------------------------------

def test_each_image_depends_on_its_own_key_only():
  images, keys = _images((8, 16, 16, 3), seed=2), _keys(8, seed=2)
  for p in (1.0, 0.5):
    batch = _augment(images, keys, FULL, probability=p)
    alone = jnp.concatenate([_augment(images[j:j + 1], keys[j:j + 1], FULL, probability=p)
                             for j in range(8)])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-6)
  # ... and different keys give different augmentations.
  assert len({float(v) for v in _draw(FULL, keys, images.shape)['brightness']}) == 8


def test_eight_devices_augment_as_one():
  # Keys from steps.example_keys (fold_in of the global example index) inside a pmap over 8
  # devices, 2 images each, equal the single-device augmentation of the 16-image batch.
  assert jax.local_device_count() == 8
  images, key = _images((16, 16, 16, 3), seed=3), jax.random.key(3)

  def per_device(x, p):
    return _augment(x, steps.example_keys(key, x.shape[0]), FULL, probability=p)

  sharded = jax.pmap(per_device, axis_name=steps.AXIS, in_axes=(0, None))(
      images.reshape(8, 2, 16, 16, 3), jnp.float32(0.7))
  single = _augment(images, _keys(16, seed=3), FULL, probability=0.7)
  np.testing.assert_allclose(np.asarray(sharded).reshape(single.shape), single, rtol=0, atol=1e-6)


def test_draws_do_not_depend_on_the_rest_of_the_policy():
  keys, shape = _keys(8), (8, 16, 16, 3)
  full = _draw(FULL, keys, shape)
  for policy in ('color', 'translation', 'cutout', 'cutout,color'):
    part = _draw(policy, keys, shape)
    assert set(part) < set(full)
    for name, value in part.items():
      np.testing.assert_array_equal(value, full[name])


# ---------------------------------------------------------------------------------------------
# The draws' ranges.
# ---------------------------------------------------------------------------------------------

def test_sizes_follow_the_reference_rounding():
  # int(size * 1/8 + 0.5) and int(size / 2 + 0.5): 20 gives 3 (not 20 // 8 = 2), 18 gives 9.
  assert [augment.translation_shift(s) for s in (16, 18, 20, 32)] == [2, 2, 3, 4]
  assert [augment.cutout_size(s) for s in (16, 18, 20, 32)] == [8, 9, 10, 16]


def test_draws_cover_exactly_the_reference_ranges():
  n = 4096
  params = _draw(FULL, _keys(n, seed=4), (20, 18, 3), probability=0.3)
  t = np.asarray(params['translation'])
  assert t.dtype == np.int32 and t.shape == (n, 2)
  assert set(t[:, 0]) == set(range(-3, 4))      # shift int(20/8 + 0.5) = 3, inclusive
  assert set(t[:, 1]) == set(range(-2, 3))      # shift int(18/8 + 0.5) = 2
  c = np.asarray(params['cutout'])
  assert set(c[:, 0]) == set(range(0, 21))      # side 10 (even): centre in [0, 20]
  assert set(c[:, 1]) == set(range(0, 18))      # side 9 (odd): centre in [0, 17]
  for column, values in ((t[:, 0], 7), (t[:, 1], 5), (c[:, 0], 21), (c[:, 1], 18)):
    counts = np.unique(column, return_counts=True)[1]   # each value about equally often
    assert counts.min() > 0.7 * n / values and counts.max() < 1.3 * n / values
  for name, lo, hi in (('brightness', -0.5, 0.5), ('saturation', 0.0, 2.0),
                       ('contrast', 0.5, 1.5)):
    v = np.asarray(params[name])
    assert v.shape == (n,)
    assert lo <= v.min() < lo + 0.02 and hi - 0.02 < v.max() < hi, name
    assert abs(v.mean() - (lo + hi) / 2) < 0.03 * (hi - lo), name
    assert abs(v.std() - (hi - lo) / np.sqrt(12)) < 0.03 * (hi - lo), name
  # Independent draws: brightness and saturation of the same image are uncorrelated.
  assert abs(np.corrcoef(params['brightness'], params['saturation'])[0, 1]) < 0.06
  assert 0.26 < np.mean(params['augmented']) < 0.34


# ---------------------------------------------------------------------------------------------
# Gradients.
# ---------------------------------------------------------------------------------------------

def _g_and_d(dtype):
  rng = np.random.default_rng(5)
  z = jnp.asarray(rng.normal(size=(4, 5)), dtype)
  v = jnp.asarray(rng.normal(size=(16 * 16 * 3,)), dtype)
  w0 = jnp.asarray(rng.normal(size=(5, 16 * 16 * 3)) * 0.5, dtype)
  generator = lambda w: jnp.tanh(z @ w).reshape(4, 16, 16, 3)
  discriminator = lambda x: x.reshape(4, -1) @ v
  return generator, discriminator, w0


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout', FULL])
def test_gradients_reach_the_generator(policy):
  generator, discriminator, w0 = _g_and_d(jnp.float32)
  keys = _keys(4, seed=5)
  loss = lambda w: jnp.sum(discriminator(_augment(generator(w), keys, policy)))
  g = jax.grad(loss)(w0)
  assert np.all(np.isfinite(g)) and np.count_nonzero(g) > g.size // 4


@pytest.mark.parametrize('policy', ['color', FULL])
def test_gradients_match_finite_differences(policy):
  with jax.enable_x64(True):
    generator, discriminator, w0 = _g_and_d(jnp.float64)
    keys = _keys(4, seed=6)
    loss = jax.jit(lambda w: jnp.sum(discriminator(_augment(generator(w), keys, policy))))
    g = np.asarray(jax.grad(loss)(w0))
    assert g.dtype == np.float64
    eps = 1e-5   # central differences: error ~ eps^2 (truncation) + 1e-16 |loss| / eps
    for i, j in ((0, 0), (1, 100), (2, 383), (4, 767)):
      e = jnp.zeros_like(w0).at[i, j].set(eps)
      fd = (float(loss(w0 + e)) - float(loss(w0 - e))) / (2 * eps)
      np.testing.assert_allclose(g[i, j], fd, rtol=1e-5, atol=1e-9)


def test_cutout_gradient_is_the_mask():
  images = _images((4, 16, 16, 3))
  params = _draw('cutout', _keys(4), images.shape)
  g = jax.grad(lambda x: jnp.sum(_apply(x, params, 'cutout')))(images)
  out = _apply(jnp.ones_like(images), params, 'cutout')
  np.testing.assert_array_equal(g, out)
  assert 0 < np.mean(out == 0) < 0.5


# ---------------------------------------------------------------------------------------------
# Probability, jit, errors.
# ---------------------------------------------------------------------------------------------

def test_probability_zero_one_and_half():
  images, keys = _images((512, 8, 8, 3), seed=7), _keys(512, seed=7)
  np.testing.assert_array_equal(_augment(images, keys, FULL, probability=0.0), images)
  params = dict(_draw(FULL, keys, images.shape))
  del params['augmented']
  ungated = _apply(images, params, FULL)
  np.testing.assert_array_equal(_augment(images, keys, FULL, probability=1.0), ungated)
  np.testing.assert_array_equal(_augment(images, keys, FULL), ungated)

  half = np.asarray(_augment(images, keys, FULL, probability=0.5))
  changed = np.any(half != np.asarray(images), axis=(1, 2, 3))
  assert 0.35 < changed.mean() < 0.65
  # Each image is either left alone or augmented exactly as with probability 1.
  np.testing.assert_array_equal(half[changed], np.asarray(ungated)[changed])
  np.testing.assert_array_equal(
      changed, _draw(FULL, keys, images.shape, probability=0.5)['augmented'])


def test_jit_with_a_traced_probability():
  images, keys = _images((8, 16, 16, 3), seed=8), _keys(8, seed=8)
  params = dict(_draw(FULL, keys, images.shape))
  del params['augmented']
  ungated = np.asarray(_apply(images, params, FULL))
  traces = []

  @jax.jit
  def f(x, k, p):
    traces.append(1)
    return augment.augment(x, k, FULL, probability=p)

  for p in (0.0, 0.5, 1.0):
    gate = np.asarray(_draw(FULL, keys, images.shape, probability=p)['augmented'])
    assert gate.sum() == {0.0: 0, 0.5: gate.sum(), 1.0: 8}[p]
    expected = np.where(gate[:, None, None, None], ungated, np.asarray(images))
    np.testing.assert_array_equal(f(images, keys, jnp.float32(p)), expected)
  assert len(traces) == 1
  g = jax.jit(jax.grad(lambda x, p: jnp.sum(f(x, keys, p) ** 2)))(images, jnp.float32(0.5))
  assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_empty_policy_is_the_identity():
  images, keys = _images((4, 16, 16, 3)), _keys(4)
  assert augment.augment(images, keys, '') is images
  np.testing.assert_array_equal(
      _apply(images, _draw('', keys, images.shape), ''), images)


@pytest.mark.parametrize('policy', ['colour', 'color,', 'color,zoom', 'color,color'])
def test_bad_policies_raise_config_error(policy):
  with pytest.raises(errors.ConfigError, match="'color', 'translation', 'cutout'|twice"):
    augment.augment(_images((2, 8, 8, 3)), _keys(2), policy)


def test_unknown_policy_names_the_allowed_ones():
  with pytest.raises(errors.ConfigError) as info:
    augment.parse_policy('color,flip')
  assert all(name in str(info.value) for name in augment.POLICIES)
  assert augment.POLICIES == ('color', 'translation', 'cutout')
  assert augment.parse_policy(' color , cutout ') == ('color', 'cutout')


def test_probability_outside_unit_interval_raises():
  with pytest.raises(errors.ConfigError, match=r'\[0, 1\]'):
    augment.augment(_images((2, 8, 8, 3)), _keys(2), FULL, probability=1.5)


# ---------------------------------------------------------------------------------------------
# The augmentation part of an experiment, ADA's adaptive probability, config.augment.
# ---------------------------------------------------------------------------------------------

def _ada_loop(rts, images_per_step, *, p0, target, interval, kimg, max_p):
  """ADA's rule (Karras et al. 2020; stylegan2-ada's training_loop.py) written as a loop:
  every `interval` steps, p += sign(mean r_t - target) * images / (kimg * 1000), clamped."""
  p, window, trace = p0, [], []
  for rt in rts:
    window.append(rt)
    if len(window) == interval:
      adjust = np.sign(np.mean(window) - target) * images_per_step * interval / (kimg * 1000)
      p = min(max(p + adjust, 0.0), max_p)
      window = []
    trace.append(p)
  return trace


def test_ada_update_rule_against_a_loop():
  ada = augment.ADA(target=0.6, interval=3, kimg=0.5, max_p=0.8)
  aug = augment.DiffAugment('translation', probability=0.1, ada=ada)
  rng = np.random.default_rng(0)
  # r_t values on both sides of the target, and exactly on it (sign 0: p stays).
  rts = list(np.round(rng.uniform(-1, 1, 40), 3)) + [0.6, 0.6, 0.6] + [1.0] * 30
  expected = _ada_loop(rts, 48, p0=0.1, target=0.6, interval=3, kimg=0.5, max_p=0.8)
  update = jax.jit(lambda s, rt: aug.update_state(s, rt=rt, num_real=48))
  state = aug.init_state()
  assert float(aug.probability_of(state)) == pytest.approx(0.1)
  for rt, p in zip(rts, expected, strict=True):
    state = update(state, jnp.float32(rt))
    assert float(aug.probability_of(state)) == pytest.approx(p, abs=1e-6)
  assert max(expected) == pytest.approx(0.8) and min(expected) == 0.0   # both bounds hit
  assert set(aug.metrics(state)) == {'p'}


def test_diffaugment_part():
  images, keys = _images((4, 16, 16, 3)), _keys(4)
  fixed = augment.DiffAugment(FULL, probability=0.5)
  assert fixed.init_state() == {} and fixed.probability_of({}) == 0.5 and fixed.metrics({}) == {}
  assert fixed.update_state({}, rt=jnp.float32(1.0), num_real=4) == {}
  np.testing.assert_array_equal(jax.jit(lambda x, k: fixed(x, k, probability=0.5))(images, keys),
                                _augment(images, keys, FULL, probability=0.5))
  assert augment.is_augmentation(fixed) and not augment.is_augmentation(lambda x: x)
  with pytest.raises(errors.ConfigError, match='needs a policy'):
    augment.DiffAugment('')
  with pytest.raises(errors.ConfigError, match='above ADA'):
    augment.DiffAugment(FULL, probability=0.9, ada=augment.ADA(max_p=0.5))


def test_augment_config_builds_and_validates():
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config('digits')
  assert augment.from_config(config.augment) is None          # policy '' is off
  assert jaxgan.build(config).augmentation is None
  config.augment.policy, config.augment.ada, config.augment.probability = FULL, True, 0.0
  built = jaxgan.build(config).augmentation
  assert built == augment.DiffAugment(FULL, 0.0, augment.ADA(0.6, 4, 500.0, 1.0))
  bad = [({'policy': 'zoom'}, r'config.augment.policy=.*zoom'),
         ({'probability': 1.5}, r'config.augment.probability=1.5'),
         ({'policy': '', 'ada': True}, r'config.augment.ada=True.*policy'),
         ({'ada': True, 'ada_target': 1.0}, r'config.augment.ada_target'),
         ({'ada': True, 'ada_interval': 0}, r'config.augment.ada_interval'),
         ({'ada': True, 'ada_kimg': 0.0}, r'config.augment.ada_kimg'),
         ({'ada': True, 'ada_max_p': 0.5}, r'config.augment.probability=1.0.*ada_max_p')]
  for overrides, message in bad:
    config = tiny_config('digits')
    config.augment.policy = FULL
    for key, value in overrides.items():
      config.augment[key] = value
    with pytest.raises(errors.ConfigError, match=message):
      jaxgan.validation.validate(config)
  # Consistency regularisation needs T; probability 0 gives bCR without augmenting D's inputs.
  config = tiny_config('digits')
  config.loss.regularizers = {'consistency': 10.0}
  with pytest.raises(errors.ConfigError, match='needs an augmentation.*config.augment.policy'):
    jaxgan.validation.validate(config)
  with pytest.raises(errors.ConfigError, match='needs an augmentation'):
    jaxgan.build(tiny_config('digits')).replace(
        loss=jaxgan.losses.hinge + jaxgan.losses.consistency_term)
  config.augment.policy, config.augment.probability = 'translation', 0.0
  assert jaxgan.build(config).augmentation.probability == 0.0
  with pytest.raises(errors.ConfigError, match='Experiment.augmentation must be'):
    jaxgan.build(tiny_config('digits')).replace(augmentation='translation')
