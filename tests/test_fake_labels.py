"""The fakes' labels (`config.train.fake_labels`): 'real' gives each update's fakes the labels
of that update's real batch (R3GAN's official loop), 'uniform' draws them as before; device
count, resume and the refusal for unconditional runs."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import data, errors, losses, steps
from tests.util import host_batch, tiny_config

CLASSES = 5
OFFSET = 4.0   # D's logit is OFFSET * label + a value in (-1, 1): round(logit / 4) is the label


class Generator(nn.Module):
  """(z, y) -> (2 learnt coordinates, y): the fake's last coordinate is the label G got."""

  @nn.compact
  def __call__(self, z, labels, *, train):
    del train
    h = jnp.concatenate([z, jax.nn.one_hot(labels, CLASSES)], -1)
    return jnp.concatenate([nn.Dense(2)(h), labels[:, None].astype(jnp.float32)], -1)


class Discriminator(nn.Module):
  """(x, y) -> OFFSET * y + tanh(MLP(x[:, :2], y)): the label D got, readable from its logit."""

  @nn.compact
  def __call__(self, x, labels, *, train):
    del train
    h = jnp.concatenate([x[:, :2], jax.nn.one_hot(labels, CLASSES)], -1)
    f = nn.Dense(1)(jnp.tanh(nn.Dense(8)(h)))[:, 0]
    return OFFSET * labels.astype(jnp.float32) + jnp.tanh(f)


def _weighted(y):
  """sum_j (j + 1) y_j / b: a sum that tells apart two label vectors that differ (exact in
  float32 for these small integers)."""
  return jnp.mean(y * (1.0 + jnp.arange(y.shape[0])))


# Probes (their gradients are 0): the labels G and D gave the fakes, against the real batch
# of the same update, whose last coordinate is its label (the data below).
PROBES = (
    losses.term('g_miss', d=lambda i: jnp.mean(i.fake[:, 2] != i.real[:, 2]),
                g=lambda i: jnp.mean(i.fake[:, 2] != i.real[:, 2]), g_needs_real=True)
    + losses.term('d_miss',
                  d=lambda i: jnp.mean(jnp.round(i.fake_logits / OFFSET) != i.real[:, 2]),
                  g=lambda i: jnp.mean(jnp.round(i.fake_logits / OFFSET) != i.real[:, 2]),
                  g_needs_real=True)
    + losses.term('label', d=lambda i: _weighted(i.fake[:, 2]),
                  g=lambda i: _weighted(i.fake[:, 2]), g_needs_real=True))


def _points(n=64, seed=0):
  """(x0, x1, label) points of CLASSES classes, and the labels."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, CLASSES, n)
  xy = rng.normal(size=(n, 2)) + labels[:, None]
  return np.concatenate([xy, labels[:, None]], -1).astype(np.float32), labels


def _experiment(fake_labels, d_steps=1, g_real_batch='shared'):
  points, labels = _points()
  experiment = jaxgan.build(tiny_config('ring', **{'loss.name': 'rpgan',
                                                   'train.d_steps': d_steps}))
  loop = experiment.loop.replace(fake_labels=fake_labels, g_real_batch=g_real_batch)
  return experiment.replace(
      data=data.ArraySource(points, labels, seed=0, num_classes=CLASSES),
      generator=Generator(), discriminator=Discriminator(), num_classes=CLASSES,
      loss=experiment.loss + PROBES, loop=loop,
      g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.1))


def _uniform_labels(state, b, d_steps):
  """The uniform draw by hand, as the step keys it: the D updates' labels, then G's."""
  step_key = jax.random.fold_in(state.key, state.step)
  d_key, g_key = jax.random.split(step_key)

  def draw(k):
    keys = jax.vmap(jax.random.fold_in, (None, 0))(k, jnp.arange(b))
    keys = jax.vmap(jax.random.split)(keys)
    return jax.vmap(lambda kk: jax.random.randint(kk, (), 0, CLASSES))(keys[:, 1])

  d_labels = [draw(jax.random.split(k)[0]) for k in jax.random.split(d_key, d_steps)]
  return d_labels, draw(g_key)


@pytest.mark.slow
@pytest.mark.parametrize('d_steps,g_real_batch', [(1, 'shared'), (2, 'shared'), (2, 'own')])
def test_real_gives_the_fakes_the_labels_of_the_updates_real_batch(d_steps, g_real_batch):
  experiment = _experiment('real', d_steps, g_real_batch)
  batch = host_batch(experiment, 0, 1)
  labels = batch['label'][0]                        # (d_steps [+ 1], 16)
  np.testing.assert_array_equal(batch['image'][0, ..., 2], labels)   # the data's construction
  g_batch = d_steps if g_real_batch == 'own' else d_steps - 1
  _, metrics = experiment.train_step(jax.devices()[:1])(experiment.init_state(), batch)
  metrics = jax.device_get(metrics)
  for name in ('d/g_miss', 'd/d_miss', 'g/g_miss', 'g/d_miss'):
    assert float(metrics[name][0]) == 0.0, name
  # The hand reference: the labels of the critic updates' batches, and of G's batch.
  weighted = [float(_weighted(jnp.asarray(y, jnp.float32))) for y in labels]
  np.testing.assert_allclose(float(metrics['d/label'][0]), np.mean(weighted[:d_steps]),
                             rtol=1e-6)
  assert float(metrics['g/label'][0]) == weighted[g_batch]
  assert len(set(weighted)) == len(weighted)        # the batches' labels tell them apart


@pytest.mark.slow
def test_uniform_draws_the_labels_as_before():
  d_steps = 2
  experiment = _experiment('uniform', d_steps)
  assert experiment.loop == experiment.loop.replace(fake_labels='uniform')   # the default
  state = experiment.init_state()
  d_labels, g_labels = _uniform_labels(state, 16, d_steps)   # before the step donates state
  _, metrics = experiment.train_step(jax.devices()[:1])(state, host_batch(experiment, 0, 1))
  np.testing.assert_allclose(
      float(metrics['d/label'][0]),
      np.mean([float(_weighted(y.astype(jnp.float32))) for y in d_labels]), rtol=1e-6)
  assert float(metrics['g/label'][0]) == float(_weighted(g_labels.astype(jnp.float32)))
  # Independent of the reals': some fakes have another class than their real partner.
  assert float(metrics['d/g_miss'][0]) > 0 and float(metrics['g/d_miss'][0]) > 0


@pytest.mark.slow
@pytest.mark.parametrize('g_real_batch', ['shared', 'own'])
def test_eight_devices_equal_one_device(g_real_batch):
  experiment = _experiment('real', 2, g_real_batch)
  results = {}
  for n in (1, 8):
    state = experiment.init_state()
    step = experiment.train_step(jax.devices()[:n])
    for s in range(2):
      state, metrics = step(state, host_batch(experiment, s, n))
    results[n] = jax.device_get(state)
    assert np.all(np.asarray(metrics['d/d_miss']) == 0)
    assert np.all(np.asarray(metrics['g/g_miss']) == 0)
  # Means of 16 terms summed in another order: float32 rounding.
  chex.assert_trees_all_close(results[1], results[8], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path):
  experiment = _experiment('real', 2, 'own')
  full = experiment.replace(loop=experiment.loop.replace(num_steps=4, checkpoint_every=2))
  half = experiment.replace(loop=full.loop.replace(num_steps=2))
  straight = jaxgan.train(full, str(tmp_path / 'a'))
  jaxgan.train(half, str(tmp_path / 'b'))
  resumed = jaxgan.train(full, str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  # config.json records the setting.
  assert jaxgan.config.from_json(str(tmp_path / 'b' / 'config.json')).train.fake_labels == 'real'


def test_refusals():
  with pytest.raises(errors.ConfigError, match=r"config.train.fake_labels='real' gives the "
                     r"fakes the labels of the real batch, but the model is unconditional"):
    jaxgan.build(tiny_config('ring', **{'train.fake_labels': 'real'}))
  with pytest.raises(errors.ConfigError, match=r"config.train.fake_labels='random' is not "
                     r"supported; choose one of 'uniform', 'real'"):
    jaxgan.build(tiny_config('ring', **{'train.fake_labels': 'random'}))
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match=r"Experiment.loop.fake_labels='real' gives"):
    experiment.replace(loop=experiment.loop.replace(fake_labels='real'))
  with pytest.raises(errors.ConfigError, match=r"Loop.fake_labels='x' is not supported"):
    jaxgan.Loop(fake_labels='x')
  with pytest.raises(errors.ConfigError, match=r"fake_labels='real' gives the fakes"):
    steps.make_train_step(experiment.generator, experiment.discriminator, losses.hinge,
                          optax.sgd(0.1), optax.sgd(0.1), z_dim=2, fake_labels='real')
