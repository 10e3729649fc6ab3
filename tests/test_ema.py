"""Generator EMA in the train state (decided once: `Experiment.ema`), and the sampling weights."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import schedules
from tests.util import host_batch, tiny_config


def _step_twice(config):
  experiment = jaxgan.build(config)
  state = experiment.init_state()
  history = [jax.device_get(state)]
  for s in range(2):
    state, _ = experiment.train_step()(state, host_batch(experiment, s, 8))
    history.append(jax.device_get(state))
  return state, history


def test_without_ema_the_state_and_step_keep_no_second_generator():
  """EMA off (`experiment.ema is None`, config.train.ema_decay=0): the state holds no EMA copy
  of the generator after steps either, and "the EMA" to sample with is the live weights."""
  experiment = jaxgan.build(tiny_config('ring', **{'train.ema_decay': 0.0}))
  assert experiment.ema is None
  state, _ = _step_twice(tiny_config('ring', **{'train.ema_decay': 0.0}))
  assert state.ema_params is None
  assert state.sampling_params(ema=True) is state.g_params


def test_a_state_and_a_step_that_disagree_on_the_ema_are_one_sentence():
  on = jaxgan.build(tiny_config('ring', **{'train.ema_decay': 0.9}))
  off = on.replace(ema=None)
  batch = host_batch(on, 0, 8)
  with pytest.raises(jaxgan.errors.ConfigError, match='holds no EMA of the generator but the '
                     'step keeps one; make the state and the step from one experiment'):
    on.train_step()(off.init_state(), batch)
  with pytest.raises(jaxgan.errors.ConfigError, match='holds an EMA of the generator but the '
                     'step keeps none'):
    off.train_step()(on.init_state(), batch)


@pytest.mark.slow
def test_ema_update_is_the_textbook_formula_and_identical_across_devices():
  d = 0.9
  state, history = _step_twice(tiny_config('ring', **{'train.ema_decay': d, 'train.ema_start': 1}))
  # Step 0 is before ema_start: the EMA is a copy; step 1: ema = d * ema + (1 - d) * params.
  chex.assert_trees_all_equal(history[1].ema_params, history[1].g_params)
  textbook = jax.tree.map(lambda e1, p2: d * e1 + (1 - d) * p2, history[1].ema_params,
                          history[2].g_params)
  chex.assert_trees_all_close(history[2].ema_params, textbook, rtol=1e-6, atol=1e-7)
  for e2, p2 in zip(jax.tree.leaves(history[2].ema_params), jax.tree.leaves(history[2].g_params),
                    strict=True):
    assert not np.allclose(e2, p2)
  for leaf in jax.tree.leaves(state.ema_params):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8
    for shard in shards[1:]:
      np.testing.assert_array_equal(shards[0], shard)
  assert state.sampling_params() is state.ema_params
  assert state.sampling_params(ema=False) is state.g_params


def _official_ema(history, *, batch_size, half_life_images, rampup):
  """NVlabs/stylegan2-ada-pytorch training_loop.py's 'Update G_ema', in float64: before the
  update of step s, cur_nimg = s * batch; ema_nimg = min(ema_kimg * 1000, cur_nimg * rampup);
  beta = 0.5 ** (batch / max(ema_nimg, 1e-8)); G_ema = G.lerp(G_ema, beta)."""
  ema = jax.tree.map(lambda x: np.asarray(x, np.float64), history[0].g_params)
  for s, after in enumerate(history[1:]):
    ema_nimg = half_life_images
    if rampup is not None:
      ema_nimg = min(ema_nimg, s * batch_size * rampup)
    beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
    ema = jax.tree.map(lambda e, p: p + beta * (e - p), ema,
                       jax.tree.map(lambda x: np.asarray(x, np.float64), after.g_params))
  return ema


@pytest.mark.parametrize('rampup', [0.5, None])
def test_stylegan2_half_life_ema_is_the_official_update(rampup):
  """`EMA(half_life_images=h, rampup=r)` (config.train.ema_half_life_kimg / ema_rampup) after
  4 steps equals a float64 loop of the official formula over the live weights of each step.
  h = 32 images, batch 16 and r = 0.5 make every step's beta differ (0, 0.25, 0.5, 0.63 with
  the ramp; 0.71 each without), so a wrong image count or ramp shows."""
  config = tiny_config('ring', **{'train.ema_half_life_kimg': 0.032,
                                  'train.ema_rampup': rampup or 0.0})
  experiment = jaxgan.build(config)
  assert experiment.ema == jaxgan.EMA(half_life_images=32.0, rampup=rampup)
  state = experiment.init_state()
  history = [jax.device_get(state)]
  for s in range(4):
    state, _ = experiment.train_step()(state, host_batch(experiment, s, 8))
    history.append(jax.device_get(state))
  official = _official_ema(history, batch_size=16, half_life_images=32.0, rampup=rampup)
  # float32 rounding of 4 lerps of O(1) weights: a few eps each.
  chex.assert_trees_all_close(history[-1].ema_params, official, rtol=1e-5, atol=1e-6)
  if rampup is not None:   # beta = 0 at step 0: the EMA is the live weights
    chex.assert_trees_all_equal(history[1].ema_params, history[1].g_params)
  assert not np.allclose(jax.tree.leaves(history[-1].ema_params)[0],
                         jax.tree.leaves(history[-1].g_params)[0])


@pytest.mark.slow
def test_half_life_ema_resumes_bit_exact(tmp_path):
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2,
               'train.ema_half_life_kimg': 0.032, 'train.ema_rampup': 0.5}
  straight = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'a'))
  jaxgan.train(tiny_config('ring', **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight.ema_params),
                              jax.device_get(resumed.ema_params))
  chex.assert_trees_all_equal(jax.device_get(straight.g_params),
                              jax.device_get(resumed.g_params))
  recorded = jaxgan.load_run(str(tmp_path / 'b')).experiment.ema
  assert recorded == jaxgan.EMA(half_life_images=32.0, rampup=0.5)


@pytest.mark.parametrize('kwargs, message', [
    (dict(), 'EMA takes one of decay='), (dict(decay=0.9, half_life_images=10.0), 'one of'),
    (dict(half_life_images=0.0), r'EMA.half_life_images=0.0 must be a number > 0'),
    (dict(decay=0.9, rampup=0.05), r'EMA.rampup=0.05 must be a number > 0 .* with '
                                   r'half_life_images=')])
def test_bad_emas_are_one_sentence(kwargs, message):
  with pytest.raises(jaxgan.errors.ConfigError, match=message) as e:
    jaxgan.EMA(**kwargs)
  assert len(str(e.value).splitlines()) == 1


@pytest.mark.slow
def test_a_ramped_half_life_is_r3gans_update_and_resumes_bit_exact(tmp_path):
  """config.train.ema_half_life_schedule (R3GAN's G_ema: the half-life along a ramp of
  generator steps; training_loop.py line 351, beta = 0.5 ** (batch / max(h(t), 1e-8))): the EMA
  after 4 steps equals a float64 loop of that update, and a run resumes bit-exact and reloads
  with the same ramp from config.json."""
  ramp = schedules.ramp_config('linear', 0.0, 0.064, 4.0)   # kimg: 0, 16, 32, 48 images
  overrides = {'train.ema_half_life_schedule': ramp, 'train.num_steps': 4,
               'train.checkpoint_every': 2}
  experiment = jaxgan.build(tiny_config('ring', **overrides))
  half_life = experiment.ema.half_life_images
  assert [float(half_life(s)) for s in range(4)] == pytest.approx([0.0, 16.0, 32.0, 48.0])
  state = experiment.init_state()
  history = [jax.device_get(state)]
  for s in range(4):
    state, _ = experiment.train_step()(state, host_batch(experiment, s, 8))
    history.append(jax.device_get(state))
  ema = jax.tree.map(lambda x: np.asarray(x, np.float64), history[0].g_params)
  for s, after in enumerate(history[1:]):
    beta = 0.5 ** (16 / max(16.0 * s, 1e-8))   # batch 16; h(s) = 16 s images
    ema = jax.tree.map(lambda e, p: p + beta * (e - p), ema,
                       jax.tree.map(lambda x: np.asarray(x, np.float64), after.g_params))
  chex.assert_trees_all_close(history[-1].ema_params, ema, rtol=1e-5, atol=1e-6)
  straight = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'a'))
  jaxgan.train(tiny_config('ring', **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'b'))
  chex.assert_trees_all_equal(jax.device_get(straight.ema_params),
                              jax.device_get(resumed.ema_params))
  reloaded = jaxgan.load_run(str(tmp_path / 'b')).experiment.ema.half_life_images
  assert float(reloaded(3)) == pytest.approx(48.0)


def test_a_ramped_half_life_with_another_ema_setting_is_one_sentence():
  ramp = schedules.ramp_config('cosine', 0.0, 5.0, 10.0)
  with pytest.raises(jaxgan.errors.ConfigError, match=r'config.train.ema_half_life_schedule '
                     r'sets the EMA\'s half-life; set config.train.ema_decay'):
    jaxgan.build(tiny_config('ring', **{'train.ema_half_life_schedule': ramp,
                                        'train.ema_decay': 0.99}))
  with pytest.raises(jaxgan.errors.ConfigError, match='ema_half_life_schedule.name'):
    jaxgan.build(tiny_config('ring', **{'train.ema_half_life_schedule':
                                        schedules.ramp_config('exponential', 0, 1, 2)}))


# ---------------------------------------------------------------------------------------------
# EMA(state='average'): the generator's state averaged too (PyTorch-StudioGAN's Ema).
# ---------------------------------------------------------------------------------------------

class _StatefulGenerator(nn.Module):
  """The ring's MLP generator with a state of both kinds: a float running mean of its
  outputs (moved by every training pass, as batch norm's statistics) and an integer count of
  training passes; evaluation adds the running mean to the output, so the state the sampler
  is given shows in the samples."""

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    x = jaxgan.models.mlp.Generator(hidden=16, depth=1, name='mlp')(z, labels, train=train)
    mean = self.variable('stats', 'mean', lambda: jnp.zeros((2,), jnp.float32))
    count = self.variable('stats', 'count', lambda: jnp.zeros((), jnp.int32))
    if train:
      mean.value = 0.5 * mean.value + 0.5 * jnp.mean(x, axis=0) + 1.0
      count.value = count.value + 1
      return x
    return x + mean.value


def _stateful(**ema):
  experiment = jaxgan.build(tiny_config('ring', **{'train.num_steps': 3,
                                                   'train.checkpoint_every': 1}))
  return experiment.replace(generator=_StatefulGenerator(), ema=jaxgan.EMA(**ema))


def test_an_ema_of_the_state_is_studiogans_lerp_of_every_floating_buffer():
  """StudioGAN's Ema.update (src/utils/ema.py): a copy before start_iter, then each floating
  buffer b_ema <- b.lerp(b_ema, decay) as the parameters, integer buffers copied; the EMA
  generator samples with it (`sampling_state`), the live one with the live state."""
  d = 0.75
  experiment = _stateful(decay=d, start=1, state='average')
  state = experiment.init_state()
  chex.assert_trees_all_equal(state.ema_state, state.g_state)
  history = [jax.device_get(state)]
  for s in range(3):
    state, _ = experiment.train_step()(state, host_batch(experiment, s, 8))
    history.append(jax.device_get(state))
  # Step 0 is before `start`: a copy of the new state.
  chex.assert_trees_all_equal(history[1].ema_state, history[1].g_state)
  ema = np.asarray(history[1].ema_state['stats']['mean'], np.float64)
  for after in history[2:]:
    ema = d * ema + (1 - d) * np.asarray(after.g_state['stats']['mean'], np.float64)
    np.testing.assert_allclose(after.ema_state['stats']['mean'], ema, rtol=1e-6)
    assert int(after.ema_state['stats']['count']) == int(after.g_state['stats']['count'])
  last = history[-1]
  assert int(last.g_state['stats']['count']) == 3
  assert not np.allclose(last.ema_state['stats']['mean'], last.g_state['stats']['mean'])
  assert last.sampling_state() is last.ema_state
  assert last.sampling_state(ema=False) is last.g_state
  # Sampling: the EMA's weights with the EMA's state, the live weights with the live state.
  (ema_images, _), = experiment.generate(last, 4, batch_size=4)
  (live_images, _), = experiment.generate(last, 4, ema=False, batch_size=4)
  z = jax.random.normal(jax.random.split(jax.random.fold_in(jax.random.key(0), 0))[0], (4, 2))
  for images, params, g_state in ((ema_images, last.ema_params, last.ema_state),
                                  (live_images, last.g_params, last.g_state)):
    np.testing.assert_allclose(images, experiment.sample_fn(params, g_state, z, None),
                               rtol=1e-6)
  # 'live' (the default) keeps no averaged state: the EMA generator samples with g_state.
  live = _stateful(decay=d, start=1)
  assert live.init_state().ema_state is None


def test_a_resume_that_turns_the_state_average_on_or_off_keeps_the_rest(tmp_path):
  """A checkpoint without an averaged state (EMA(state='live'), or an older jaxgan) resumed
  with state='average' starts the average from the restored g_state; the reverse drops it.
  Everything else restores as saved."""
  live = _stateful(decay=0.5)
  average = _stateful(decay=0.5, state='average')
  saved = jaxgan.train(live.replace(loop=live.loop.replace(num_steps=2)), str(tmp_path / 'a'))
  assert saved.ema_state is None
  ckpt = jaxgan.checkpoint.Checkpointer(str(tmp_path / 'a' / 'checkpoints'))
  restored = ckpt.restore(jax.device_get(average.init_state()), 2)
  chex.assert_trees_all_equal(restored.ema_state, jax.device_get(saved.g_state))
  chex.assert_trees_all_equal(restored.replace(ema_state=None), jax.device_get(saved))
  generator_only = ckpt.restore_generator(jax.device_get(average.init_state()), 2)
  chex.assert_trees_all_equal(generator_only.ema_state, jax.device_get(saved.g_state))
  # And on through jaxgan.train: the resumed run averages from there.
  resumed = jaxgan.train(average, str(tmp_path / 'a'))
  assert int(resumed.step) == 3 and resumed.ema_state is not None
  back = jaxgan.train(live.replace(loop=live.loop.replace(num_steps=4)), str(tmp_path / 'a'))
  assert int(back.step) == 4 and back.ema_state is None


def test_a_bad_ema_state_is_one_sentence():
  with pytest.raises(jaxgan.errors.ConfigError, match=r"EMA.state='buffers' must be 'live'"):
    jaxgan.EMA(decay=0.9, state='buffers')
  with pytest.raises(jaxgan.errors.ConfigError, match='train.ema_state'):
    jaxgan.build(tiny_config('ring', **{'train.ema_decay': 0.9, 'train.ema_state': 'mean'}))
  on = _stateful(decay=0.5, state='average')
  off = _stateful(decay=0.5)
  batch = host_batch(on, 0, 8)
  with pytest.raises(jaxgan.errors.ConfigError, match='holds no EMA of the generator\'s state '
                     'but the step averages it'):
    on.train_step()(off.init_state(), batch)
