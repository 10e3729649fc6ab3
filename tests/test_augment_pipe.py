"""ADA's official augmentation pipeline (jaxgan/augment_pipe.py) against an independent PyTorch
replica of the official AugmentPipe (tests/augment_pipe_torch.py, with the official
data-dependent padding margin), fed the same per-image draws; its probability (constant, ADA's
adaptive p, R3GAN's schedule) and its config."""

import functools
import os
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import augment, augment_pipe, errors
from jaxgan import config as config_lib
from tests import augment_pipe_torch as replica
from tests.util import CONFIGS, host_batch, tiny_config

EPS = float(np.finfo(np.float32).eps)
B, H, W = 8, 16, 16


def _images(seed=0, channels=3, shape=(B, H, W)):
  return np.random.default_rng(seed).uniform(-1, 1, shape + (channels,)).astype(np.float32)


def _keys(seed=1, n=B):
  return jax.random.split(jax.random.key(seed), n)


def _tolerance(pipe, x, params, p):
  """float32 error bound of the pipeline against an exact (float64) computation of it.

  The geometric stage samples the 2x-upsampled padded image at positions computed in float32
  from coordinates up to its size U = 2 (3 H - 2): a position error of a few U eps pixels,
  times the largest step between neighbouring upsampled pixels (at most twice the image's
  range), plus the filters' rounding (12-tap sums per axis, up and down: 8 eps |x|); the
  filters can overshoot |x| by their absolute sums (below 2 in all). The colour matrix C then
  scales that error by its largest row sum |C| (contrast and saturation reach 2^(3 std)), and
  rounds its own product of at most 6 4x4 matrices and the matrix-vector product (16 eps |C|
  |x|). Noise and cutout add one rounding.
  """
  scale = float(np.abs(x).max())
  err = 8 * EPS * scale
  if any(getattr(pipe, n) > 0 for n in augment_pipe.GEOMETRIC):
    upsampled = 2 * (3 * max(x.shape[1:3]) - 2)
    err += 4 * upsampled * EPS * 2 * (2 * scale)
    scale *= 2
  c = np.asarray(pipe.color_matrix(params, p, x.shape[-1]), np.float64)[:, :3, :]
  if x.shape[-1] == 1:
    c = c.mean(axis=1, keepdims=True)
  c_norm = max(1.0, float(np.abs(c).sum(axis=-1).max()))
  err = c_norm * (err + 16 * EPS * scale)
  if pipe.imgfilter > 0:   # two 43-tap sums with the taps' absolute sum A per axis
    taps = np.abs(np.asarray(pipe.filter_taps(params, p))).sum(axis=1).max()
    err = taps ** 2 * (err + 2 * 43 * EPS * c_norm * scale)
    scale *= taps ** 2
  return err + 4 * EPS * (c_norm * scale + 1)


def _replica(pipe, x, params, p, dtype=torch.float64):
  std = {f.name: getattr(pipe, f.name) for f in pipe.__dataclass_fields__.values()
         if f.name not in augment_pipe.TRANSFORMS}
  out = replica.augment(torch.tensor(x, dtype=dtype).permute(0, 3, 1, 2),
                        {k: np.asarray(v, np.float64) for k, v in params.items()}, p,
                        pipe.multipliers, std)
  return out.permute(0, 2, 3, 1).numpy()


def _check_against_replica(pipe, x, p, keys=None):
  params = pipe.draw(_keys() if keys is None else keys, x.shape)
  out = jax.jit(lambda a, prm: pipe.apply(a, prm, probability=p))(x, params)
  expected = _replica(pipe, x, params, p)
  np.testing.assert_allclose(np.asarray(out), expected, rtol=0,
                             atol=_tolerance(pipe, x, params, p))
  return np.asarray(out)


@pytest.mark.slow   # 15 compiles of a few seconds each; the fast tier has the 'bgc' preset
@pytest.mark.parametrize('name', augment_pipe.TRANSFORMS)
def test_each_transformation_equals_the_official_algorithm(name):
  pipe = augment_pipe.AugmentPipe(**{name: 1.0})
  # Image-space filtering reflects 21 pixels: the official code needs 22 or more a side.
  x = _images(shape=(B, 32, 32)) if name == 'imgfilter' else _images()
  out = _check_against_replica(pipe, x, 0.7)
  # At p 0.7 some images are transformed (the test would pass on the identity otherwise).
  assert np.abs(out - x).max() > 0.05


@pytest.mark.parametrize('preset, p', [
    ('bgc', 1.0), pytest.param('bgc', 0.3, marks=pytest.mark.slow),
    pytest.param('bgcfnc', 0.6, marks=pytest.mark.slow),
    pytest.param('r3gan', 1.0, marks=pytest.mark.slow),
    pytest.param('r3gan', 0.3, marks=pytest.mark.slow)])
def test_presets_equal_the_official_algorithm(preset, p):
  x = _images(shape=(B, 32, 32)) if preset == 'bgcfnc' else _images()
  _check_against_replica(augment_pipe.AugmentPipe.from_preset(preset), x, p)


@pytest.mark.slow
def test_grey_images_equal_the_official_algorithm():
  _check_against_replica(augment_pipe.AugmentPipe.from_preset('bgc'), _images(channels=1), 1.0)


@pytest.mark.slow
def test_strong_geometry_where_the_official_margin_is_clamped():
  """Large zooms and shifts (std 1, the margin clamped at the image size less one on some
  sides, different per batch) still give the official result with the static margin."""
  pipe = augment_pipe.AugmentPipe(scale=1, rotate=1, aniso=1, xfrac=1, xint=1, scale_std=1.0,
                                  aniso_std=0.7, xfrac_std=0.3, xint_max=0.4)
  for seed in (1, 2):
    _check_against_replica(pipe, _images(seed), 1.0, keys=_keys(seed))


def test_p_zero_is_the_identity():
  x = _images()
  pixel = augment_pipe.AugmentPipe(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1,
                                   noise=1, cutout=1)
  np.testing.assert_array_equal(
      np.asarray(jax.jit(functools.partial(pixel, probability=0.0))(x, _keys())), x)


@pytest.mark.slow
def test_p_zero_resamples_the_image_unchanged():
  """With geometric transformations the official code still resamples at p 0 (G_inv is a new
  matrix, not the identity object): the orthogonal sym6 filter's up- and downsampling reproduce
  the image up to float32 rounding of the filter sums (12 taps per axis, up and down)."""
  x = _images()
  bgc = augment_pipe.AugmentPipe.from_preset('bgc')
  np.testing.assert_allclose(np.asarray(jax.jit(functools.partial(bgc, probability=0.0))(
      x, _keys())), x, rtol=0, atol=4 * 48 * EPS * np.abs(x).max())


@pytest.mark.slow
def test_each_image_depends_on_its_own_key_only():
  """8 devices augment as 1: image j's result is the same alone as in any batch."""
  pipe = jax.jit(functools.partial(augment_pipe.AugmentPipe.from_preset('r3gan'),
                                   probability=1.0))
  x = _images()
  keys = _keys()
  batch = np.asarray(pipe(x, keys))
  alone = np.concatenate([np.asarray(pipe(x[j:j + 1], keys[j:j + 1])) for j in (0, 5)])
  chex.assert_trees_all_close(alone, batch[[0, 5]], atol=2 * EPS * np.abs(batch).max(), rtol=0)
  halves = np.concatenate([np.asarray(pipe(x[:4], keys[:4])), np.asarray(pipe(x[4:], keys[4:]))])
  chex.assert_trees_all_close(halves, batch, atol=2 * EPS * np.abs(batch).max(), rtol=0)


@pytest.mark.slow
def test_gradient_equals_torch_autograd_of_the_official_algorithm():
  """G's gradient flows through the pipeline as through the official one: d sum(w * out) / dx."""
  pipe = augment_pipe.AugmentPipe.from_preset('bgc')
  x = _images(3)
  keys = _keys(3)
  params = pipe.draw(keys, x.shape)
  weights = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
  grad = jax.jit(jax.grad(lambda a: jnp.sum(pipe.apply(a, params, probability=1.0) * weights)))(x)
  xt = torch.tensor(x, dtype=torch.float64).permute(0, 3, 1, 2).requires_grad_(True)
  out = replica.augment(xt, {k: np.asarray(v, np.float64) for k, v in params.items()}, 1.0,
                        pipe.multipliers)
  (out * torch.tensor(weights, dtype=torch.float64).permute(0, 3, 1, 2)).sum().backward()
  expected = xt.grad.permute(0, 2, 3, 1).numpy()
  assert np.abs(expected).max() > 0.1
  # The transpose of the same linear map: the same bound, on |weights| in place of |x|.
  np.testing.assert_allclose(np.asarray(grad), expected, rtol=0,
                             atol=_tolerance(pipe, weights, params, 1.0))


def test_draws_are_independent_of_p_and_the_multipliers():
  keys = _keys()
  a = augment_pipe.AugmentPipe.from_preset('bgc').draw(keys, (B, H, W, 3))
  b = augment_pipe.AugmentPipe(cutout=1).draw(keys, (B, H, W, 3))
  chex.assert_trees_all_equal(a, b)
  for name, (nu, nn) in augment_pipe._DRAWS.items():   # pylint: disable=protected-access
    assert a[name].shape == (B, nu + nn)


def test_ada_adapts_p_of_the_pipeline():
  """ADA's update (Karras et al. 2020): after `interval` steps with r_t above the target, p
  rises by the interval's images / (kimg * 1000), and falls (clipped at 0) below it."""
  aug = augment.ADAPipeline(augment_pipe.AugmentPipe.from_preset('bgc'), probability=0.0,
                            ada=augment.ADA(target=0.6, interval=4, kimg=500.0))
  state = aug.init_state()
  for i in range(4):
    assert float(aug.probability_of(state)) == 0.0
    state = aug.update_state(state, rt=jnp.float32(0.9), num_real=64)
  np.testing.assert_allclose(float(aug.probability_of(state)), 4 * 64 / 500e3, rtol=1e-6)
  for _ in range(4):
    state = aug.update_state(state, rt=jnp.float32(0.1), num_real=64)
  assert float(aug.probability_of(state)) == 0.0
  assert set(aug.metrics(state)) == {'p'}


def _r3gan_p(cur_nimg):
  """brownvc/R3GAN training/training_loop.py's cosine_decay_with_warmup with the CIFAR10
  preset's aug_scheduler (train.py line 193: base 0, final 0.55, total 2e7 images)."""
  base, final, total = 0.0, 0.55, 2e7
  decay = 0.5 * (1 + np.cos(np.pi * cur_nimg / total))
  value = base + (1 - decay) * (final - base)
  return float(np.where(cur_nimg > total, final, value))


def test_r3gan_config_schedules_p_as_the_official_loop():
  config = config_lib.from_file(os.path.join(CONFIGS, 'r3gan_cifar10.py'))
  aug = augment.from_config(config.augment)
  assert aug.pipe == augment_pipe.AugmentPipe.from_preset('r3gan')
  assert aug.pipe.multipliers == {
      'xflip': 1, 'rotate90': 1, 'xint': 1, 'scale': 1, 'rotate': 1, 'aniso': 1, 'xfrac': 1,
      'brightness': 0.5, 'contrast': 0.5, 'lumaflip': 0.5, 'hue': 0.5, 'saturation': 0.5,
      'cutout': 1}
  batch = config.train.batch_size
  step_p = jax.jit(lambda t: aug.probability_of({'step': t}))
  for step in (0, 1, 1000, 19_531, 30_000, 39_062, 39_063, 50_000):
    np.testing.assert_allclose(float(step_p(jnp.int32(step))), _r3gan_p(step * batch),
                               rtol=0, atol=8 * EPS)
  # The state counts the steps: p after k updates is the schedule at step k.
  state = aug.init_state()
  for _ in range(3):
    state = aug.update_state(state, rt=jnp.float32(0.0), num_real=batch)
  np.testing.assert_allclose(float(aug.probability_of(state)), _r3gan_p(3 * batch), rtol=0,
                             atol=8 * EPS)


def test_stylegan2_ada_config_uses_bgc_with_ada():
  config = config_lib.from_file(os.path.join(CONFIGS, 'stylegan2_ada_cifar10.py'))
  aug = augment.from_config(config.augment)
  assert aug == augment.ADAPipeline(augment_pipe.AugmentPipe.from_preset('bgc'),
                                    probability=0.0, ada=augment.ADA(0.6, 4, 500.0, 1.0))


@pytest.mark.slow
@pytest.mark.parametrize('name', ['r3gan_cifar10', 'stylegan2_ada_cifar10'])
def test_the_configs_validate(name):
  config = config_lib.from_file(os.path.join(CONFIGS, f'{name}.py'))
  checked = jaxgan.validation.validate(config)
  assert isinstance(checked.augmentation, augment.ADAPipeline)


@pytest.mark.parametrize('change, key', [
    (dict(pipeline='adda'), 'config.augment.pipeline'),
    (dict(pipeline='ada', policy='color'), 'config.augment.policy'),
    (dict(pipeline='ada', ada_preset='bgcx'), 'config.augment.ada_preset'),
    (dict(pipeline='ada', ada_multipliers={'blur': 1.0}), 'config.augment.ada_multipliers'),
    (dict(pipeline='ada', ada_multipliers={'cutout': -1.0}),
     'config.augment.ada_multipliers.cutout'),
    (dict(ada_preset='r3gan', policy='color'), 'config.augment.ada_preset'),
    (dict(pipeline='ada', ada=True,
          probability_schedule={'name': 'cosine', 'init_value': 0.0, 'end_value': 0.5,
                                'steps': 10.0}), 'config.augment.probability_schedule'),
    (dict(pipeline='ada',
          probability_schedule={'name': 'cosine', 'init_value': 0.0, 'end_value': 1.5,
                                'steps': 10.0}), 'config.augment.probability_schedule.end_value'),
])
def test_bad_config_values_are_refused_naming_the_key(change, key):
  config = config_lib.default()
  with config.unlocked():
    for k, v in change.items():
      config.augment[k] = v
  with pytest.raises(errors.ConfigError, match=key.replace('.', r'\.')):
    augment.from_config(config.augment)


def test_diffaugment_keeps_its_config_and_takes_a_schedule():
  config = config_lib.default()
  config.augment.policy = 'translation'
  assert augment.from_config(config.augment) == augment.DiffAugment('translation')
  config.augment.probability_schedule = {'name': 'linear', 'init_value': 0.0, 'end_value': 0.5,
                                         'steps': 10.0}
  aug = augment.from_config(config.augment)
  assert float(aug.probability_of({'step': jnp.int32(4)})) == pytest.approx(0.2)


def _step_run(config, num_devices, num_steps):
  experiment = jaxgan.build(config)
  state = experiment.init_state()
  step = experiment.train_step(jax.devices()[:num_devices])
  metrics = []
  for s in range(num_steps):
    state, m = step(state, host_batch(experiment, s, num_devices))
    metrics.append(jax.device_get(m))
  return state, metrics


@pytest.mark.slow
def test_in_the_step_ada_adapts_p():
  config = tiny_config('digits', **{'augment.pipeline': 'ada', 'augment.ada_preset': 'r3gan',
                                    'augment.ada': True, 'augment.probability': 0.5,
                                    'augment.ada_interval': 1, 'augment.ada_kimg': 0.08})
  _, metrics = _step_run(config, 1, 2)
  p = 0.5
  for m in metrics:   # ADA's rule over the logged r_t: 16 real images a step move p by 0.2
    p = min(max(p + np.sign(m['aug/rt'] - 0.6) * 16 / 80.0, 0.0), 1.0)
    np.testing.assert_allclose(m['aug/p'], p, atol=1e-6)
  assert p != 0.5


@pytest.mark.slow
def test_in_the_step_p_follows_its_schedule():
  ramp = {'name': 'cosine', 'init_value': 0.0, 'end_value': 0.55, 'steps': 4.0}
  config = tiny_config('digits', **{'augment.pipeline': 'ada'})
  config.augment.probability_schedule = ramp
  _, metrics = _step_run(config, 1, 3)
  for t, m in enumerate(metrics):   # logged after the step: p of the next step, t + 1
    np.testing.assert_allclose(m['aug/p'], 0.55 * (1 - np.cos(np.pi * (t + 1) / 4)) / 2,
                               rtol=0, atol=8 * EPS)


def test_data_the_pipeline_cannot_transform_are_refused_in_one_sentence():
  # 2-D points, and images smaller than image-space filtering's reflect padding: refused when
  # the experiment is built, not by a ValueError while the step traces.
  ada = {'augment.pipeline': 'ada', 'augment.policy': ''}
  with pytest.raises(errors.ConfigError, match=r"the ADA pipeline transforms RGB or grey "
                     r"images .* examples have shape \(2,\); set config.augment.pipeline="):
    jaxgan.build(tiny_config('ring', **ada))
  pipeline = augment.ADAPipeline(pipe=augment_pipe.AugmentPipe.from_preset('bgcfnc'))
  assert re.fullmatch(r"the ADA pipeline's image-space filtering reflects 21 pixels, so it "
                      r"needs images of at least 22 pixels a side .* are 16x16; choose a "
                      r"preset without 'imgfilter' \(e.g. 'bgc'\).",
                      pipeline.example_shape_error((16, 16, 3)))
  assert pipeline.example_shape_error((22, 22, 1)) is None
  assert augment.ADAPipeline().example_shape_error((16, 16, 3)) is None     # bgc: no filter
  experiment = jaxgan.build(tiny_config('digits', **ada))
  assert experiment.augmentation.example_shape_error(experiment.data.example_shape) is None
