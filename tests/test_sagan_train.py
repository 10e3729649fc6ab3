"""SAGAN inside the training step: every SAGAN config end to end on mock CIFAR-10, spectral-norm
state across 8 devices, attention figures in the logs."""

import os

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import data, losses, models, state as state_lib, steps, train

from configs import sagan_hinge, sagan_hinge_cond, sagan_minimax, sagan_seed_lowmem, sagan_wasserstein


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


@pytest.mark.parametrize('module', [sagan_hinge, sagan_minimax, sagan_wasserstein,
                                    sagan_hinge_cond, sagan_seed_lowmem],
                         ids=lambda m: m.__name__.split('.')[-1])
def test_every_sagan_config_trains_a_step_on_mock_cifar10(tmp_path, module):
  config = _tiny(module.get_config())
  with tfds.testing.mock_data(num_examples=16):
    state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 1
  assert set(state.g_state) >= {'spectral_stats'} and set(state.d_state) >= {'spectral_stats'}
  for leaf in jax.tree.leaves(state):
    if np.issubdtype(leaf.dtype, np.floating):
      assert np.all(np.isfinite(leaf))
  assert os.listdir(tmp_path / 'attention') == ['step_0000001.png']
  assert os.listdir(tmp_path / 'samples') == ['step_0000001.png']


def test_spectral_norm_vectors_train_and_stay_identical_across_devices():
  config = _tiny(sagan_hinge.get_config())
  config.data.dataset = 'digits'
  generator, discriminator = models.build(config)
  tx_g, tx_d = state_lib.optimizers(config)
  state = state_lib.create(config, generator, discriminator, tx_g, tx_d)
  before = jax.device_get(state.d_state['spectral_stats'])
  step = steps.make_train_step(config, generator, discriminator,
                               losses.from_config(config.loss), tx_g, tx_d)
  new_state, _ = step(state, data.Source(config, local_devices=8).batch(0))
  after = new_state.d_state['spectral_stats']
  # The power-iteration vectors moved in training ...
  assert any(not np.allclose(a, b) for a, b in
             zip(jax.tree.leaves(before), jax.tree.leaves(jax.device_get(after))))
  # ... and every device holds the same vectors.
  for leaf in jax.tree.leaves((after, new_state.g_state['spectral_stats'])):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8
    for shard in shards[1:]:
      np.testing.assert_array_equal(shards[0], shard)
  # Sampling (evaluation mode) leaves them alone.
  sample = steps.make_sample_fn(generator)
  g_state = jax.device_get(new_state.g_state)
  sample(new_state.g_params, new_state.g_state, np.zeros((2, config.model.z_dim), np.float32))
  for a, b in zip(jax.tree.leaves(g_state), jax.tree.leaves(jax.device_get(new_state.g_state))):
    np.testing.assert_array_equal(a, b)
