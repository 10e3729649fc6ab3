"""Data parallelism: a step on 8 devices equals a step on one device with the same batch."""

import chex
import jax
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import steps
from tests.util import host_batch, tiny_config


def _run(config, num_devices, num_steps, sgd=False):
  experiment = jaxgan.build(config)
  if sgd:
    # Adam's first updates are lr * sign(g): a gradient that is ~0 flips sign under a
    # different summation order and moves by 2 lr. Plain SGD compares the gradients.
    experiment = experiment.replace(g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.1))
  state = experiment.init_state()
  step = experiment.train_step(jax.devices()[:num_devices])
  all_metrics = []
  for s in range(num_steps):
    state, metrics = step(state, host_batch(experiment, s, num_devices))
    all_metrics.append(jax.device_get(metrics))
  return jax.device_get(state), all_metrics


@pytest.mark.slow
@pytest.mark.parametrize('d_steps', [2])
def test_eight_devices_equal_one_device(d_steps):
  assert jax.device_count() == 8
  config = tiny_config('digits', **{'train.d_steps': d_steps})
  one, _ = _run(config, 1, 2, sgd=True)
  eight, metrics = _run(config, 8, 2, sgd=True)
  # Same new params and batch-norm statistics (to float tolerance: the global batch
  # statistics and gradient means are summed in a different order).
  chex.assert_trees_all_close(one, eight, rtol=1e-4, atol=1e-5)
  assert int(eight.step) == 2
  # The loss terms differ per device: each device saw its own slice of the batch and noise.
  per_device = metrics[-1]['d/non_saturating']
  assert per_device.shape == (8,)
  assert len(np.unique(per_device)) == 8


@pytest.mark.slow
def test_per_device_keys_and_synchronised_state():
  experiment = jaxgan.build(tiny_config('digits'))
  state = experiment.init_state()
  before = jax.device_get(state.g_state)
  new_state, _ = experiment.train_step()(state, host_batch(experiment, 0, 8))
  # Batch-norm statistics moved, and are one value for all devices (the state is unmapped:
  # every device's copy is the same buffer content).
  after = new_state.g_state
  moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(before),
                                                   jax.tree.leaves(jax.device_get(after)),
                                                   strict=True)]
  assert any(moved)
  for leaf in jax.tree.leaves(after):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8
    for s in shards[1:]:
      np.testing.assert_array_equal(shards[0], s)


@pytest.mark.slow
def test_noise_keys_differ_per_device_and_do_not_depend_on_device_count():
  global_batch, z_dim = 16, 3

  def noise(num_devices):
    b = global_batch // num_devices

    def per_device(_):
      keys = steps.example_keys(jax.random.key(0), b)
      return jax.vmap(lambda k: jax.random.normal(k, (z_dim,)))(keys)

    fn = jax.pmap(per_device, axis_name=steps.AXIS, devices=jax.devices()[:num_devices])
    return np.asarray(fn(np.zeros((num_devices,))))

  z8 = noise(8)
  assert len(np.unique(z8.reshape(8, -1), axis=0)) == 8   # every device its own noise
  np.testing.assert_array_equal(z8.reshape(global_batch, z_dim),
                                noise(1).reshape(global_batch, z_dim))
