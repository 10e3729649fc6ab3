"""SAGAN inside the training step: every SAGAN config end to end on mock CIFAR-10, spectral-norm
state across 8 devices, attention figures in the logs."""

import os

import chex
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

import jaxgan
from tests.util import CONFIGS, host_batch


def _tiny(config):
  config.model.g_width = 2
  config.model.d_width = 2
  config.train.batch_size = 16
  config.train.num_steps = 1
  config.train.checkpoint_every = 1
  config.log.every_steps = 1
  config.log.samples_every = 1
  config.log.num_samples = 4
  config.log.attention_every = 1
  config.eval.every_steps = 0   # FID in training: tests/test_fid.py
  return config


@pytest.mark.parametrize('name', ['sagan_hinge', 'sagan_minimax', 'sagan_wasserstein',
                                  'sagan_hinge_cond', 'sagan_seed_lowmem'])
@pytest.mark.slow
def test_every_sagan_config_trains_a_step_on_mock_cifar10(tmp_path, name):
  config = _tiny(jaxgan.config.from_file(os.path.join(CONFIGS, f'{name}.py')))
  with tfds.testing.mock_data(num_examples=16):
    state = jaxgan.train(config, str(tmp_path))
  assert int(state.step) == 1
  assert set(state.g_state) >= {'spectral_stats'} and set(state.d_state) >= {'spectral_stats'}
  for leaf in jax.tree.leaves(state):
    if np.issubdtype(leaf.dtype, np.floating):
      assert np.all(np.isfinite(leaf))
  assert os.listdir(tmp_path / 'attention') == ['step_0000001.png']
  assert os.listdir(tmp_path / 'samples') == ['step_0000001.png']


@pytest.mark.slow
def test_spectral_norm_vectors_train_and_stay_identical_across_devices():
  config = _tiny(jaxgan.config.from_file(os.path.join(CONFIGS, 'sagan_hinge.py')))
  config.data.dataset = 'digits'
  experiment = jaxgan.build(config)
  state = experiment.init_state()
  before = jax.device_get(state.d_state['spectral_stats'])
  new_state, _ = experiment.train_step()(state, host_batch(experiment, 0, 8))
  after = new_state.d_state['spectral_stats']
  # The power-iteration vectors moved in training ...
  assert any(not np.allclose(a, b) for a, b in
             zip(jax.tree.leaves(before), jax.tree.leaves(jax.device_get(after)), strict=True))
  # ... and every device holds the same vectors.
  for leaf in jax.tree.leaves((after, new_state.g_state['spectral_stats'])):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8
    for shard in shards[1:]:
      np.testing.assert_array_equal(shards[0], shard)
  # Sampling (evaluation mode) leaves them alone.
  g_state = jax.device_get(new_state.g_state)
  experiment.sample_fn(new_state.g_params, new_state.g_state,
                       np.zeros((2, config.model.z_dim), np.float32))
  chex.assert_trees_all_equal(g_state, jax.device_get(new_state.g_state))
