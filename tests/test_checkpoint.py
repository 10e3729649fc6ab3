"""Checkpoint write failures (a full disk, a read-only folder) become one sentence that says
what to do, and the checkpoints already written stay as they are."""

import errno

import jax.numpy as jnp
import pytest

from jaxgan import checkpoint, errors


def test_a_full_disk_during_a_save_is_one_sentence_and_keeps_the_last_checkpoint(tmp_path,
                                                                                 monkeypatch):
  ckpt = checkpoint.Checkpointer(str(tmp_path / 'checkpoints'))
  state = {'w': jnp.ones(3)}
  ckpt.save(1, state)
  ckpt.wait()

  def full_disk(*args, **kwargs):
    raise ValueError('INTERNAL: Error writing ... RESOURCE_EXHAUSTED: No space left on device')

  monkeypatch.setattr(ckpt.manager, 'save', full_disk)
  with pytest.raises(errors.CheckpointError,
                     match=r'saving the checkpoint of step 2 .* the disk is full; free space, '
                           r'then rerun \(the last complete checkpoint is kept\)\.$'):
    ckpt.save(2, state)

  def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path / 'x'))

  monkeypatch.setattr(ckpt.manager, 'wait_until_finished', enospc)
  with pytest.raises(errors.CheckpointError, match='No space left on device .* free disk space'):
    ckpt.wait()
  monkeypatch.undo()
  assert ckpt.all_steps() == [1]
  restored, step = ckpt.restore_latest({'w': jnp.zeros(3)})
  assert step == 1 and float(restored['w'].sum()) == 3.0
  ckpt.close()


# --- the generator EMA in checkpoints: none when off; jaxgan 0.2.0's layout restores ---------

def _old_layout(state):
  """`state` as jaxgan <= 0.2.0 (main at 2d03627) saved it: with EMA off, `ema_params` was a
  copy of the generator's params (the decay-0 update is a copy), in every checkpoint."""
  import jax  # pylint: disable=g-import-not-at-top
  return state.replace(ema_params=jax.tree.map(lambda x: x.copy(), state.g_params))


def _ring(tmp_path, **overrides):
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  return jaxgan.build(tiny_config('ring', **{'log.samples_every': 0, **overrides}))


@pytest.mark.slow
def test_without_ema_a_checkpoint_holds_no_second_generator(tmp_path):
  import jaxgan  # pylint: disable=g-import-not-at-top
  experiment = _ring(tmp_path, **{'train.num_steps': 2})
  state = jaxgan.train(experiment, str(tmp_path / 'run'))
  assert state.ema_params is None
  ckpt = checkpoint.Checkpointer(str(tmp_path / 'run' / 'checkpoints'), read_only=True)
  with_ema = experiment.replace(ema=jaxgan.EMA(decay=0.9)).init_state()
  assert ckpt.difference(experiment.init_state(), 2) is None
  assert 'is not in the checkpoint' in ckpt.difference(with_ema, 2)
  assert ckpt.difference(with_ema, 2).startswith('ema_params.')
  ckpt.close()


@pytest.mark.slow
@pytest.mark.parametrize('ema_decay', [0.0, 0.9])
def test_a_checkpoint_of_the_old_layout_resumes_exactly(tmp_path, ema_decay):
  """A run of jaxgan 0.2.0 (EMA off: the checkpoint holds an EMA copy of the generator; on:
  the EMA, as now) resumes with this jaxgan, bit for bit as a run that never stopped, and
  loads for sampling."""
  import chex  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  experiment = _ring(tmp_path, **{'train.num_steps': 4, 'train.ema_decay': ema_decay})
  straight = jax.device_get(jaxgan.train(experiment, str(tmp_path / 'straight')))
  # Two steps, then their checkpoint rewritten as 0.2.0 wrote it, config.json kept.
  half = jaxgan.train(experiment.replace(loop=experiment.loop.replace(num_steps=2)),
                      str(tmp_path / 'old'))
  folder = str(tmp_path / 'old' / 'checkpoints')
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(folder)
  old = checkpoint.Checkpointer(folder)
  old.save(2, _old_layout(half) if ema_decay == 0.0 else half)
  old.wait()
  old.close()
  run = jaxgan.load_run(str(tmp_path / 'old'))
  assert not run.generator_only and run.step == 2
  assert (run.state.ema_params is None) == (ema_decay == 0.0)
  chex.assert_trees_all_equal(jax.device_get(run.state.g_params), jax.device_get(half.g_params))
  resumed = jax.device_get(jaxgan.train(experiment, str(tmp_path / 'old')))
  chex.assert_trees_all_equal(resumed, straight)


def test_turning_the_ema_on_at_resume_starts_it_from_the_generator(tmp_path):
  import chex  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  experiment = _ring(tmp_path, **{'train.num_steps': 2})
  state = jax.device_get(jaxgan.train(experiment, str(tmp_path / 'run')))
  ckpt = checkpoint.Checkpointer(str(tmp_path / 'run' / 'checkpoints'), read_only=True)
  on = experiment.replace(ema=jaxgan.EMA(decay=0.9)).init_state()
  restored = jax.device_get(ckpt.restore(on, 2))
  ckpt.close()
  chex.assert_trees_all_equal(restored.ema_params, state.g_params)
  chex.assert_trees_all_equal(restored.replace(ema_params=None), state)


# --- an optimiser hyperparameter turned into a schedule (or back) at a resume -------------------

def _no_schedule_states(state):
  return state.replace(**{k: getattr(state, k)._replace(hyperparams_states={})
                          for k in ('g_opt_state', 'd_opt_state')})


@pytest.mark.slow
def test_turning_the_b2_schedule_on_or_off_at_resume_restores_exactly(tmp_path):
  """config.optim.b2_schedule on at a resume: optax's schedule state (a count of updates,
  equal to the optimiser's own count in a run that had it from the start) is the optimiser's
  count, so the ramp reads its value at the updates already made; off: it is dropped."""
  import chex  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  ramp = {'optim.b2_schedule.name': 'linear', 'optim.b2_schedule.init_value': 0.9,
          'optim.b2_schedule.end_value': 0.99, 'optim.b2_schedule.steps': 4}
  plain = _ring(tmp_path, **{'train.num_steps': 2, 'train.d_steps': 2})
  ramped = _ring(tmp_path, **{'train.num_steps': 2, 'train.d_steps': 2, **ramp})
  off = jax.device_get(jaxgan.train(plain, str(tmp_path / 'off')))
  on = jax.device_get(jaxgan.train(ramped, str(tmp_path / 'on')))
  # The invariant the restore relies on: a schedule's count is the optimiser's count.
  for opt_state, count in ((on.g_opt_state, 2), (on.d_opt_state, 4)):
    assert int(opt_state.count) == int(opt_state.hyperparams_states['b2'].count) == count
  for folder, target, saved in (('off', ramped, off), ('on', plain, on)):
    ckpt = checkpoint.Checkpointer(str(tmp_path / folder / 'checkpoints'), read_only=True)
    restored = jax.device_get(ckpt.restore(target.init_state(), 2))
    ckpt.close()
    chex.assert_trees_all_equal(_no_schedule_states(restored), _no_schedule_states(saved))
    if folder == 'off':   # turned on: the count of updates made
      for opt_state in (restored.g_opt_state, restored.d_opt_state):
        assert int(opt_state.hyperparams_states['b2'].count) == int(opt_state.count)
    else:                 # turned off: nothing left of the schedule
      assert not restored.g_opt_state.hyperparams_states
  # The resumed run's last updates read the ramp at step 3: 0.9 + 0.09 * 3 / 4 (0.9225, step
  # 1, had the ramp restarted), the discriminator's at its update 7 // d_steps = 3.
  resumed = jax.device_get(jaxgan.train(
      ramped.replace(loop=ramped.loop.replace(num_steps=4)), str(tmp_path / 'off')))
  assert int(resumed.step) == 4
  for opt_state in (resumed.g_opt_state, resumed.d_opt_state):
    np.testing.assert_allclose(opt_state.hyperparams['b2'], 0.9 + 0.09 * 3 / 4, rtol=1e-6)
