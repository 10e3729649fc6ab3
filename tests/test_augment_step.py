"""Differentiable augmentation inside the train step, with the stateful terms it trains with.

A step with DiffAugment, ADA, LeCam, R2 and bCR on 8 devices equals one on 1 device; ADA's p
and LeCam's moving averages after training equal loops over the logged r_t and logits; the
regularisers' critics see inputs as the batches were seen; G's gradient reaches it through
the augmentation; a run with ADA and LeCam state resumes bit-exact; a checkpoint written
before `GANState.augment_state` existed still restores.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import augment, losses
from tests.util import host_batch, tiny_config

FULL = 'color,translation,cutout'
DECAY = 0.99


def _config(regularizers=None, **overrides):
  config = tiny_config('digits', **{'model.d_norm': 'layer', 'loss.name': 'rpgan', **overrides})
  config.loss.regularizers = regularizers or {'r2': 0.1, 'lecam': 0.3, 'consistency': 1.0}
  config.augment.policy = FULL
  config.augment.ada = True
  config.augment.probability = 0.5      # ADA's p starts mid-range, so both directions show
  config.augment.ada_interval = 1
  config.augment.ada_kimg = 0.08        # 16 real images per step: p moves by 0.2 a step
  return config


def _views_check():
  """A logged check term: how far critic(real) is from real_logits and fake_critic(fake)
  from fake_logits (0: the regularisers' critics see inputs as the batches were seen, with
  the same augmentation draws). Constant in the parameters (stop_gradient): it does not
  change training."""

  def d(i):
    return jax.lax.stop_gradient(jnp.max(jnp.abs(i.critic(i.real) - i.real_logits))
                                 + jnp.max(jnp.abs(i.fake_critic(i.fake) - i.fake_logits)))

  return losses.term('views', d=d, needs_critic=True)


def _run(experiment, num_devices, num_steps):
  state = experiment.init_state()
  step = experiment.train_step(jax.devices()[:num_devices])
  metrics = []
  for s in range(num_steps):
    state, m = step(state, host_batch(experiment, s, num_devices))
    metrics.append(jax.device_get(m))
  return state, metrics


@pytest.mark.slow
def test_eight_devices_equal_one_and_the_state_follows_its_loops():
  experiment = jaxgan.build(_config())
  experiment = experiment.replace(loss=experiment.loss + _views_check(),
                                  g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.1))
  one, _ = _run(experiment, 1, 3)
  eight, metrics = _run(experiment, 8, 3)
  chex.assert_trees_all_close(jax.device_get(one), jax.device_get(eight), rtol=1e-4, atol=1e-5)
  # The augmentation and loss states agree across devices, bit for bit.
  for leaf in jax.tree.leaves((eight.augment_state, eight.loss_state)):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8 and all(np.array_equal(shards[0], s) for s in shards[1:])
  # The critics saw inputs exactly as the batches were seen (a critic that skipped the
  # augmentation, or used another draw, is off wherever an image was augmented).
  for m in metrics:
    assert np.all(m['d/views'] < 1e-5)
  # ADA's p against its rule written as a loop over the logged r_t (one value on all devices).
  p, images = 0.5, 16
  for m in metrics:
    assert len(np.unique(m['aug/rt'])) == 1 and len(np.unique(m['aug/p'])) == 1
    p = min(max(p + np.sign(m['aug/rt'][0] - 0.6) * images / 80.0, 0.0), 1.0)
    np.testing.assert_allclose(m['aug/p'][0], p, atol=1e-6)
  np.testing.assert_allclose(eight.augment_state['p'], p, atol=1e-6)
  assert {0.3, 0.7} & {round(float(m['aug/p'][0]), 4) for m in metrics}   # p moved
  # LeCam's moving averages against a loop over the steps' global mean logits.
  ema_real = ema_fake = 0.0
  for m in metrics:
    ema_real = DECAY * ema_real + (1 - DECAY) * np.mean(m['d/real_logit'])
    ema_fake = DECAY * ema_fake + (1 - DECAY) * np.mean(m['d/fake_logit'])
  lecam = jax.device_get(eight.loss_state['lecam'])
  assert int(lecam['count']) == 3
  np.testing.assert_allclose([lecam['real'], lecam['fake']], [ema_real, ema_fake], rtol=1e-4,
                             atol=1e-7)
  assert {'d/r2', 'd/lecam', 'd/consistency', 'g/rpgan'} <= set(metrics[-1])


class _Detached(augment.DiffAugment):
  """DiffAugment whose output carries no gradient back to its input (for the contrast)."""

  def __call__(self, images, keys, *, probability):
    return jax.lax.stop_gradient(super().__call__(images, keys, probability=probability))


@pytest.mark.slow
def test_the_generator_gradient_flows_through_the_augmentation():
  config = tiny_config('digits')
  config.augment.policy = 'translation'
  experiment = jaxgan.build(config).replace(g_optimizer=optax.sgd(1.0),
                                            d_optimizer=optax.sgd(0.0))
  assert isinstance(experiment.augmentation, augment.DiffAugment)

  def g_change(ex):
    state = ex.init_state()
    before = jax.device_get(state.g_params)
    new_state, _ = ex.train_step(jax.devices()[:1])(state, host_batch(ex, 0, 1))
    return max(float(np.max(np.abs(a - b))) for a, b in
               zip(jax.tree.leaves(before), jax.tree.leaves(jax.device_get(new_state.g_params)),
                   strict=True))

  # G reaches D only through T(G(z)): with T's gradient cut, G gets none and does not move.
  assert g_change(experiment) > 1e-6
  assert g_change(experiment.replace(augmentation=_Detached('translation'))) == 0.0


@pytest.mark.slow
def test_ada_and_lecam_state_resume_bit_exact(tmp_path):
  # The stateful parts only (R2 and bCR are stateless, and checked above), to compile less.
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2, 'log.samples_every': 0,
               'loss.name': 'hinge'}
  config = _config({'lecam': 0.3}, **overrides)
  config.augment.ada_interval = 3      # the resumed run starts inside an ADA interval
  straight = jaxgan.train(config, str(tmp_path / 'a'))
  assert int(straight.augment_state['steps']) == 1 and int(straight.loss_state['lecam']['count']) == 4
  half = _config({'lecam': 0.3}, **{**overrides, 'train.num_steps': 2})
  half.augment.ada_interval = 3
  jaxgan.train(half, str(tmp_path / 'b'))
  resumed = jaxgan.train(config, str(tmp_path / 'b'))
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  import json  # pylint: disable=g-import-not-at-top
  rows = [json.loads(line) for line in (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
  assert all({'aug/p', 'aug/rt'} <= set(r) for r in rows)
  info = json.loads((tmp_path / 'a' / 'run_info.json').read_text())
  assert info['parts']['augmentation'].startswith('DiffAugment(')
