"""The generator's own real batch (`config.train.g_real_batch='own'`, R3GAN's official loop):
which real images a relativistic generator loss reads, the data order with the extra batch,
resume and device count."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import augment, data, errors, losses, steps
from tests.util import host_batch, tiny_config

# D's mean logit on the real images the generator update reads, logged as g/probe: which
# batch G's loss read, and how it was seen. Its G gradient is 0; rpgan's is not.
PROBE = losses.term('probe', g=lambda i: jnp.mean(i.real_logits), g_needs_real=True)


def _experiment(g_real_batch, d_steps=1, augmentation=None, **overrides):
  config = tiny_config('ring', **{'loss.name': 'rpgan', 'train.d_steps': d_steps,
                                  'train.g_real_batch': g_real_batch, **overrides})
  experiment = jaxgan.build(config)
  return experiment.replace(loss=experiment.loss + PROBE, augmentation=augmentation)


def _mean_logit(experiment, state, points):
  """D's mean logit on `points`, with the state's (updated) critic, as the step scores them."""
  logits, _ = steps.apply_model(experiment.discriminator, state.d_params, state.d_state,
                                jnp.asarray(points), None, train=True)
  return float(jnp.mean(logits))


class Negate(augment.Augmentation):
  """x -> -x for every example (deterministic: which images were augmented is visible)."""

  def __call__(self, images, keys, *, probability):
    del keys, probability
    return -images


@pytest.mark.slow
@pytest.mark.parametrize('augmentation', [None, Negate()], ids=['plain', 'augmented'])
def test_own_reads_the_extra_batch_with_the_updated_critic(augmentation):
  own = _experiment('own', augmentation=augmentation)
  shared = _experiment('shared', augmentation=augmentation)
  batch = host_batch(own, 0, 1)                    # (1 device, 2 batches, 16, 2)
  assert batch['image'].shape == (1, 2, 16, 2)
  d_batch, g_batch = batch['image'][0, 0], batch['image'][0, 1]
  sign = -1.0 if augmentation is not None else 1.0
  state = own.init_state()
  own_state, own_metrics = own.train_step(jax.devices()[:1])(
      state, jax.tree.map(np.copy, batch))
  shared_state, shared_metrics = shared.train_step(jax.devices()[:1])(
      shared.init_state(), jax.tree.map(lambda x: x[:, :1], batch))
  # D's update is the same: it reads the first batch either way.
  chex.assert_trees_all_close(own_state.d_params, shared_state.d_params, rtol=1e-6, atol=1e-7)
  # G's loss read D (after its update) on the extra batch, augmented as D sees reals.
  expected = _mean_logit(own, own_state, sign * g_batch)
  other = _mean_logit(own, own_state, sign * d_batch)
  probe = float(own_metrics['g/probe'][0])
  # float32 means of 16 logits of size ~1: a few ulps; the two batches differ by far more.
  np.testing.assert_allclose(probe, expected, rtol=1e-5, atol=1e-6)
  assert abs(expected - other) > 1e-3
  np.testing.assert_allclose(float(shared_metrics['g/probe'][0]), other, rtol=1e-5, atol=1e-6)
  # rpgan's generator gradient reads those logits: the generators differ.
  assert not all(np.allclose(a, b) for a, b in zip(
      jax.tree.leaves(own_state.g_params), jax.tree.leaves(shared_state.g_params)))


@pytest.mark.slow
def test_the_data_order_puts_the_generator_batch_after_the_critic_batches():
  config = tiny_config('digits', **{'loss.name': 'rpgan', 'model.d_norm': 'layer',
                                    'train.d_steps': 2, 'train.g_real_batch': 'own'})
  experiment = jaxgan.build(config)
  source = experiment.data
  for step in (0, 1, 37):    # 37 * 48 straddles the 1,797 digits' first epoch
    batch = host_batch(experiment, step, 1)
    assert batch['image'].shape == (1, 3, 16, 32, 32, 3)
    index = source.global_indices(step, 3 * 16).reshape(3, 16)
    expected = data.to_float(source.images[index])
    np.testing.assert_array_equal(batch['image'][0], expected)
    np.testing.assert_array_equal(batch['label'][0], source.labels[index])
  # The layout the loop uses: d_steps + 1 batches per step.
  layout = experiment.layout(jax.devices()[:1])
  assert layout.g_batch and layout.num_batches == 3 and layout.examples_per_step == 48


@pytest.mark.slow
@pytest.mark.parametrize('d_steps', [1, 2])
def test_eight_devices_equal_one_device(d_steps):
  experiment = _experiment('own', d_steps=d_steps)
  experiment = experiment.replace(g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.1))
  results = {}
  for n in (1, 8):
    state = experiment.init_state()
    step = experiment.train_step(jax.devices()[:n])
    for s in range(2):
      state, metrics = step(state, host_batch(experiment, s, n))
    results[n] = (jax.device_get(state), float(np.mean(metrics['g/probe'])))
  # Sums of 16 terms in another order: float32 rounding.
  chex.assert_trees_all_close(results[1][0], results[8][0], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(results[1][1], results[8][1], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path):
  overrides = {'loss.name': 'rpgan', 'train.g_real_batch': 'own', 'train.d_steps': 2,
               'train.num_steps': 4, 'train.checkpoint_every': 2}
  straight = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'a'))
  jaxgan.train(tiny_config('ring', **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  # The run's config.json records the setting (a resume rebuilds it).
  assert jaxgan.config.from_json(str(tmp_path / 'b' / 'config.json')).train.g_real_batch == 'own'


def test_refusals():
  with pytest.raises(errors.ConfigError, match=r"config.train.g_real_batch='own' .* loss "
                     r"non_saturating reads no real images there"):
    jaxgan.build(tiny_config('ring', **{'train.g_real_batch': 'own'}))
  with pytest.raises(errors.ConfigError, match=r"config.train.g_real_batch='mine' is not "
                     r"supported; choose one of 'shared', 'own'"):
    jaxgan.build(tiny_config('ring', **{'train.g_real_batch': 'mine'}))
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match=r"Experiment.loop.g_real_batch='own'"):
    experiment.replace(loop=experiment.loop.replace(g_real_batch='own'))
  with pytest.raises(errors.ConfigError, match=r"g_real_batch='own' draws"):
    steps.make_train_step(experiment.generator, experiment.discriminator, losses.hinge,
                          optax.sgd(0.1), optax.sgd(0.1), z_dim=2, g_real_batch='own')


def test_a_source_without_the_generator_batch_is_refused_in_one_sentence():
  own = _experiment('own')

  class OnlyCriticBatches:
    """A source of one's own that reads layout.d_steps but not layout.num_batches."""
    example_shape, num_classes = (2,), 0

    def prepare(self):
      pass

    def batch(self, step, layout):
      del step
      points = np.zeros((layout.d_steps, layout.batch_size, 2), np.float32)
      shape = (layout.local_devices, layout.d_steps, layout.per_device, 2)
      return {'image': points.reshape(shape), 'label': np.zeros(shape[:3], np.int32)}

  layout = own.layout(jax.devices()[:1])
  batches = data.iterate(OnlyCriticBatches(), layout, 0,
                         steps.input_shardings(jax.devices()[:1])[1])
  with pytest.raises(errors.DatasetError, match=r'shape \(1, 1, 16, 2\); the step takes '
                     r'\(local_devices, 2, \.\.\.\)'):
    next(batches)
  batches.close()
