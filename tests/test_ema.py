"""Generator EMA in the train state (decided once: `Experiment.ema`), and the sampling weights."""

import chex
import jax
import numpy as np
import pytest

import jaxgan
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
