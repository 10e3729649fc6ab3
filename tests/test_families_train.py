"""R3GAN and BigGAN inside jaxgan's loop (issue 21): 8 devices equal 1 and resume is bit-exact.

The networks themselves (parameter counts, the PyTorch replicas, the converters) are tested in
tests/test_r3gan.py and tests/test_biggan.py; here they are tiny, with each family's own
official loss: R3GAN's RpGAN + gamma/2 (R1 + R2) with Adam(0, 0.99), BigGAN's hinge with
spectral norm in both networks and class-conditional batch norm, both class-conditional on
the digits' 10 labels as on CIFAR-10.
"""

import chex
import jax
import numpy as np
import optax
import pytest

import jaxgan
from tests.util import host_batch, step_on, tiny_config

FAMILIES = ('r3gan', 'biggan')


def family_config(family: str, **overrides):
  """A tiny class-conditional `family` on the 32x32 digits with the family's official loss."""
  config = tiny_config('digits', **{'train.batch_size': 16, 'model.num_classes': 10})
  config.model.g_width = config.model.d_width = None
  if family == 'r3gan':
    config.model.name = 'r3gan'
    config.model.z_dim = 16
    # Cardinality 1: XLA:CPU's grouped-convolution gradients are ~5x slower (measured); the
    # grouped path is tested against the replica in tests/test_r3gan.py.
    config.model.r3gan_widths = (16, 16, 8, 8)
    config.model.r3gan_cardinalities = (1, 1, 1, 1)
    config.model.r3gan_blocks = (1, 1, 1, 1)
    config.loss.name = 'rpgan'
    config.loss.regularizers = {'r1': 0.05, 'r2': 0.05}   # gamma / 2, gamma = 0.1
    config.optim.b1, config.optim.b2 = 0.0, 0.99
  else:
    config.model.name = 'biggan'
    config.model.z_dim = 20                  # four chunks of 5 (three blocks at 32 px)
    config.model.shared_dim = 8
    config.model.g_width = config.model.d_width = 4
    config.model.g_spectral_norm = config.model.d_spectral_norm = True
    config.loss.name = 'hinge'
    config.optim.b1, config.optim.b2 = 0.5, 0.999
  for key, value in overrides.items():
    section, name = key.split('.')
    config[section][name] = value
  return config


def _run(config, num_devices: int, num_steps: int):
  experiment = jaxgan.build(config)
  # Plain SGD: Adam's first updates are lr * sign(g), and a gradient that is ~0 flips sign
  # under another summation order (tests/test_parallel.py).
  experiment = experiment.replace(g_optimizer=optax.sgd(0.05), d_optimizer=optax.sgd(0.05))
  state = experiment.init_state()
  step = step_on(experiment, jax.devices()[:num_devices])
  for s in range(num_steps):
    state, metrics = step(state, host_batch(experiment, s, num_devices))
  return jax.device_get(state), jax.device_get(metrics)


@pytest.mark.slow
@pytest.mark.parametrize('family', FAMILIES)
def test_eight_devices_equal_one_device(family):
  assert jax.device_count() == 8
  config = family_config(family)
  one, _ = _run(config, 1, 2)
  eight, metrics = _run(config, 8, 2)
  # Same parameters, optimiser states, batch-norm statistics and spectral-norm vectors, to
  # float32 rounding: gradient means and global batch statistics are summed in another order.
  chex.assert_trees_all_close(one, eight, rtol=1e-4, atol=1e-5)
  assert int(eight.step) == 2
  # Each device computed its own slice: the per-device loss values differ.
  name = 'd/rpgan' if family == 'r3gan' else 'd/hinge'
  assert metrics[name].shape == (8,) and len(np.unique(metrics[name])) == 8


@pytest.mark.slow
@pytest.mark.parametrize('family', FAMILIES)
def test_resume_is_bit_exact(tmp_path, family):
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2, 'log.samples_every': 0}
  straight = jaxgan.train(family_config(family, **overrides), str(tmp_path / 'a'))
  # Stop after 2 steps (as a preempted run would), then rerun the same command to 4.
  jaxgan.train(family_config(family, **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(family_config(family, **overrides), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
