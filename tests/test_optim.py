"""Optimisers against PyTorch's, update for update, and the learning-rate schedules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxgan import errors, optim, schedules


def _run_jax(tx, grads_seq, init):
  params = {'w': jnp.asarray(init)}
  state = tx.init(params)
  out = []
  for g in grads_seq:
    updates, state = tx.update({'w': jnp.asarray(g)}, state, params)
    params = optax.apply_updates(params, updates)
    out.append(np.asarray(params['w']))
  return out, state


def _run_torch(make, grads_seq, init):
  w = torch.nn.Parameter(torch.tensor(init, dtype=torch.float64))
  opt = make([w])
  out = []
  for g in grads_seq:
    w.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
    out.append(w.detach().numpy().copy())
  return out


@pytest.mark.slow
@pytest.mark.parametrize('scale', [1e-5, 1.0])
def test_rmsprop_equals_pytorch_update_for_update(scale):
  """PyTorch divides by sqrt(v) + eps; optax's default (sqrt(v + eps)) would be ~100x off for
  a clipped critic's gradients of ~1e-5 (the scale=1e-5 case)."""
  rng = np.random.default_rng(0)
  init = np.zeros(6)   # params = the sum of the updates, compared at float32's precision
  grads = [scale * rng.standard_normal(6) for _ in range(20)]
  ours, _ = _run_jax(optim.optimizer('rmsprop', 5e-5, b1=0.5, b2=0.999), grads, init)
  ref = _run_torch(lambda p: torch.optim.RMSprop(p, lr=5e-5, alpha=0.99, eps=1e-8), grads, init)
  for a, b in zip(ours, ref, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
  # The first update is lr * g / (sqrt(0.01 g^2) + eps), about 10 lr in magnitude; eps inside
  # the square root would make it lr * g / sqrt(0.01 g^2 + eps), ~50x smaller at scale 1e-5.
  g0 = np.abs(grads[0])
  np.testing.assert_allclose(np.abs(ours[0]), 5e-5 * g0 / (0.1 * g0 + 1e-8), rtol=1e-5)
  if scale == 1e-5:
    assert np.all(np.abs(ours[0]) > 4e-4)


def test_adam_equals_pytorch_update_for_update():
  rng = np.random.default_rng(1)
  init = np.zeros(6)
  grads = [rng.standard_normal(6) for _ in range(20)]
  ours, _ = _run_jax(optim.optimizer('adam', 1e-3, b1=0.5, b2=0.9), grads, init)
  ref = _run_torch(lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.9), eps=1e-8), grads,
                   init)
  for a, b in zip(ours, ref, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize('eps', [1e-8, 1e-6])
def test_adam_epsilon_from_config_equals_pytorchs(eps):
  """Gradients of ~1e-6, where eps 1e-6 (StudioGAN's) and 1e-8 give different updates."""
  rng = np.random.default_rng(2)
  init = np.zeros(6)
  grads = [1e-6 * rng.standard_normal(6) for _ in range(20)]
  config = _r3gan_config(b2_schedule={'name': 'constant', 'init_value': 0.0, 'end_value': 0.0,
                                      'steps': 1.0},
                         g_schedule=optim.schedule_config().to_dict(), eps=eps)
  tx_g, _ = optim.from_config(config)
  ours, _ = _run_jax(tx_g, grads, init)
  ref = _run_torch(lambda p: torch.optim.Adam(p, lr=2e-4, betas=(0.0, 0.99), eps=eps), grads,
                   init)
  for a, b in zip(ours, ref, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_a_nonpositive_epsilon_is_refused():
  with pytest.raises(errors.ConfigError, match=r'config.optim.eps=0.0 must be a number > 0'):
    optim.from_config(_r3gan_config(eps=0.0))


def _sched(name, **fields):
  return optim.schedule(0.1, optim.schedule_config(name, **fields), num_steps=100)


def test_schedules_match_their_closed_forms():
  assert _sched('constant') == 0.1                       # a float: no schedule to run
  assert float(_sched('constant', warmup_steps=10)(57)) == pytest.approx(0.1)
  linear = _sched('linear', end_factor=0.2)
  for t in (0, 30, 100):
    assert float(linear(t)) == pytest.approx(0.1 + (0.02 - 0.1) * t / 100)
  cosine = _sched('cosine')
  for t in (0, 25, 50, 100):
    assert float(cosine(t)) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * t / 100)),
                                             abs=1e-7)
  step = _sched('step', milestones=(0.5, 0.75), factor=0.1)
  assert [pytest.approx(float(step(t))) for t in (0, 49, 50, 74, 75, 99)] == [
      0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
  warm = _sched('cosine', warmup_steps=10)
  assert [float(warm(t)) for t in (0, 5)] == [pytest.approx(0.0), pytest.approx(0.05)]
  assert float(warm(10)) == pytest.approx(0.1)
  assert float(warm(55)) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 45 / 90)))


def test_discriminator_schedule_counts_generator_steps_and_rates_are_logged_in_state():
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict({
      'optim': {'g_optimizer': 'adam', 'd_optimizer': 'adam', 'g_lr': 0.1, 'd_lr': 0.4,
                'b1': 0.5, 'b2': 0.9,
                'g_schedule': optim.schedule_config('step', milestones=(0.5,)).to_dict(),
                'd_schedule': optim.schedule_config('step', milestones=(0.5,)).to_dict()},
      'train': {'num_steps': 4, 'd_steps': 5}})
  tx_g, tx_d = optim.from_config(config)
  grads = [np.ones(2)] * 20
  _, d_state = _run_jax(tx_d, grads[:10], np.zeros(2))     # 2 generator steps of 5 updates
  assert float(optim.learning_rate(d_state)) == pytest.approx(0.4)
  _, d_state = _run_jax(tx_d, grads[:11], np.zeros(2))     # the first update of step 2
  assert float(optim.learning_rate(d_state)) == pytest.approx(0.04)
  _, g_state = _run_jax(tx_g, grads[:3], np.zeros(2))      # generator update of step 2
  assert float(optim.learning_rate(g_state)) == pytest.approx(0.01)
  assert optim.learning_rate(optax.adam(0.1).init({'w': jnp.zeros(2)})) is None


@pytest.mark.parametrize('fields, message', [
    ({'name': 'exp'}, r"config.optim.g_schedule.name='exp' is not supported"),
    ({'name': 'step'}, r'milestones=\(\) must be fractions of train.num_steps'),
    ({'name': 'step', 'milestones': (1.5,)}, r'must be fractions'),
    ({'warmup_steps': -1}, r'warmup_steps=-1 must be an integer >= 0'),
])
def test_bad_schedules_are_one_sentence_errors(fields, message):
  cfg = optim.schedule_config()
  for k, v in fields.items():
    cfg[k] = v
  with pytest.raises(errors.ConfigError, match=message):
    optim.validate_schedule(cfg, 'g_schedule')


def test_unknown_optimizer():
  with pytest.raises(errors.ConfigError, match="config.optim.g_optimizer='lamb' is not supported"):
    optim.optimizer('lamb', 0.1, b1=0.5, b2=0.9, key='g_optimizer')



@pytest.mark.parametrize('interval', [1, 4, 16])
def test_lazy_regularisation_scales_adam_as_the_official_code(interval):
  """optim.{g,d}_reg_interval = k: the player's Adam is stylegan2-ada-pytorch's lazy one,
  mb_ratio = k / (k + 1), torch.optim.Adam(lr=lr * mb_ratio, betas=[b ** mb_ratio]), update
  for update (the --cfg=cifar values: lr 0.0025, betas (0, 0.99)); k = 1 is the official
  reg_interval=None (no lazy regularisation: Adam unscaled)."""
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'optim.g_lr': 0.0025, 'optim.d_lr': 0.0025, 'optim.b1': 0.0,
                                  'optim.b2': 0.99, 'optim.d_reg_interval': interval,
                                  'optim.g_reg_interval': 4})
  tx_g, tx_d = optim.from_config(config)
  rng = np.random.default_rng(2)
  init = np.zeros(6)
  grads = [rng.standard_normal(6) for _ in range(20)]
  for tx, k in ((tx_d, interval), (tx_g, 4)):
    mb_ratio = 1.0 if k == 1 else k / (k + 1)
    ours, _ = _run_jax(tx, grads, init)
    ref = _run_torch(lambda p: torch.optim.Adam(
        p, lr=0.0025 * mb_ratio, betas=[b ** mb_ratio for b in (0.0, 0.99)], eps=1e-8),
        grads, init)
    for a, b in zip(ours, ref, strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
  assert optim.lazy_ratio(16) == 16 / 17 and optim.lazy_ratio(1) == 1.0


def test_lazy_regularisation_scales_a_scheduled_rate():
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'optim.d_reg_interval': 16, 'train.num_steps': 100,
                                  'optim.d_schedule': optim.schedule_config('linear',
                                                                            end_factor=0.0)})
  _, tx_d = optim.from_config(config)
  state = tx_d.init({'w': jnp.zeros(2)})
  _, state = tx_d.update({'w': jnp.ones(2)}, state, {'w': jnp.zeros(2)})
  assert float(optim.learning_rate(state)) == pytest.approx(2e-4 * 16 / 17)
  with pytest.raises(errors.ConfigError, match=r'config.optim.d_reg_interval=0 must be an '
                     r'integer >= 1 \(lazy regularisation'):
    optim.from_config(tiny_config('ring', **{'optim.d_reg_interval': 0}))


def _r3gan_cosine(cur_nimg, base_value, total_nimg, final_value):
  """R3GAN's `cosine_decay_with_warmup` (training/training_loop.py, line 29; no warm-up or
  hold, as every preset calls it) in float64."""
  decay = 0.5 * (1 + np.cos(np.pi * np.float64(cur_nimg) / np.float64(total_nimg)))
  value = base_value + (1 - decay) * (final_value - base_value)
  return final_value if cur_nimg > total_nimg else value


# R3GAN's CIFAR-10 preset (train.py, lines 189-196) at batch 512: image counts t * 512.
_R3GAN_STEPS = (0, 1, 1000, 19_531, 30_000, 39_062, 39_063, 60_000)


def _f32_tol(init, end):
  """A float32 ramp's error: the rounding of u = t / steps (relative eps) moves cos(pi u) by
  at most pi eps, times |end - init|, plus a few roundings of values below max(|init|, |end|):
  8 eps max(|init|, |end|) bounds both."""
  return 8 * float(np.finfo(np.float32).eps) * max(abs(init), abs(end))


def _r3gan_config(**optim_fields):
  import ml_collections  # pylint: disable=g-import-not-at-top
  optim_cfg = {'g_optimizer': 'adam', 'd_optimizer': 'adam', 'g_lr': 2e-4, 'd_lr': 2e-4,
               'b1': 0.0, 'b2': 0.99,
               'g_schedule': optim.schedule_config('cosine', end_factor=0.25,
                                                   steps=2e7 / 512).to_dict(),
               'd_schedule': optim.schedule_config('cosine', end_factor=0.25,
                                                   steps=2e7 / 512).to_dict(),
               'b2_schedule': schedules.ramp_config('cosine', 0.9, 0.99, 2e7 / 512).to_dict()}
  optim_cfg.update(optim_fields)
  return ml_collections.ConfigDict({'optim': optim_cfg,
                                    'train': {'num_steps': 100_000, 'd_steps': 1}})


def test_r3gan_learning_rate_and_beta2_follow_the_official_cosine_over_images():
  """R3GAN's lr (2e-4 -> 5e-5) and beta2 (0.9 -> 0.99) over 2e7 images at batch 512 (39062.5
  steps, past which they hold), read from the optimiser's injected state at each step, equal
  the official float64 formula to float32 rounding (`_f32_tol`)."""
  config = _r3gan_config()
  tx_g, tx_d = optim.from_config(config)
  params = {'w': jnp.zeros(2)}
  for tx in (tx_g, tx_d):
    state = tx.init(params)
    for t in _R3GAN_STEPS:
      # The injected hyperparameters of update t are computed from the counts before it
      # (the state's and each schedule's own): all set to t, as after t updates.
      state = jax.tree.map(
          lambda x: jnp.full_like(x, t) if jnp.issubdtype(x.dtype, jnp.integer) else x, state)
      _, after = tx.update({'w': jnp.ones(2)}, state, params)
      lr = _r3gan_cosine(t * 512, 2e-4, 2e7, 5e-5)
      b2 = _r3gan_cosine(t * 512, 0.9, 2e7, 0.99)
      assert float(after.hyperparams['learning_rate']) == pytest.approx(
          lr, rel=0, abs=_f32_tol(2e-4, 5e-5))
      assert float(after.hyperparams['b2']) == pytest.approx(b2, rel=0, abs=_f32_tol(0.9, 0.99))


def test_beta2_ramp_of_the_discriminator_counts_generator_steps():
  config = _r3gan_config(b2_schedule=schedules.ramp_config('linear', 0.5, 0.9, 4.0).to_dict())
  config.train.d_steps = 5
  _, tx_d = optim.from_config(config)
  _, d_state = _run_jax(tx_d, [np.ones(2)] * 11, np.zeros(2))   # first update of step 2
  assert float(d_state.hyperparams['b2']) == pytest.approx(0.7)


def test_a_constant_beta2_schedule_keeps_b2():
  config = _r3gan_config(b2_schedule={'name': 'constant', 'init_value': 0.0, 'end_value': 0.0,
                                      'steps': 1.0})
  tx_g, _ = optim.from_config(config)
  _, g_state = _run_jax(tx_g, [np.ones(2)] * 3, np.zeros(2))
  assert float(g_state.hyperparams['b2']) == pytest.approx(0.99)


@pytest.mark.parametrize('ramp, message', [
    ({'name': 'exp'}, r"config.optim.b2_schedule.name='exp'"),
    ({'end_value': 1.0}, r'config.optim.b2_schedule.end_value=1.0 must be in \[0, 1\)'),
    ({'steps': 0.0}, r'config.optim.b2_schedule.steps=0.0 must be a number > 0'),
    ({'init_value': True}, r'config.optim.b2_schedule.init_value=True must be'),
])
def test_bad_beta2_ramps_are_one_sentence_errors(ramp, message):
  block = schedules.ramp_config('cosine', 0.9, 0.99, 10.0).to_dict()
  block.update(ramp)
  with pytest.raises(errors.ConfigError, match=message):
    optim.from_config(_r3gan_config(b2_schedule=block))


def test_a_negative_learning_rate_decay_length_is_refused():
  cfg = optim.schedule_config('cosine', steps=-1.0)
  with pytest.raises(errors.ConfigError, match=r'config.optim.g_schedule.steps=-1.0 must be'):
    optim.validate_schedule(cfg, 'g_schedule')


def test_ramps_match_their_closed_forms_in_both_directions():
  for init, end in ((0.0, 0.55), (0.025, 0.0025)):
    cosine = schedules.ramp('x', schedules.ramp_config('cosine', init, end, 2e7 / 512))
    linear = schedules.ramp('x', schedules.ramp_config('linear', init, end, 100.0))
    for t in _R3GAN_STEPS:
      assert float(cosine(t)) == pytest.approx(_r3gan_cosine(t * 512, init, 2e7, end),
                                               rel=0, abs=_f32_tol(init, end))
    for t in (0, 25, 100, 250):
      assert float(linear(t)) == pytest.approx(init + (end - init) * min(t, 100) / 100,
                                               rel=0, abs=_f32_tol(init, end))
    step = schedules.ramp('x', schedules.ramp_config('step', init, end, 1001.0))
    assert [float(step(t)) for t in (0, 1000, 1001, 5000)] == [
        pytest.approx(init), pytest.approx(init), pytest.approx(end), pytest.approx(end)]
