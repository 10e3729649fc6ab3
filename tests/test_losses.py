"""Objectives and regularisers against hand-computed values, the seed's equations and
finite differences; composition; weight clipping; critic updates per generator update."""

import dataclasses
import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import errors, losses
from tests.util import tiny_config

REAL = jnp.array([2.0, -0.5, 0.3])
FAKE = jnp.array([-1.5, 0.7, 1.2])


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_minimax_and_non_saturating_values():
  r, f = np.asarray(REAL, np.float64), np.asarray(FAKE, np.float64)
  d_expected = -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f)))
  np.testing.assert_allclose(losses.minimax_d(real_logits=REAL, fake_logits=FAKE), d_expected, rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_d(real_logits=REAL, fake_logits=FAKE), d_expected, rtol=1e-6)
  # The seed's J_G = E log(1 - D(G(z))), minimised as written.
  np.testing.assert_allclose(losses.minimax_g(fake_logits=FAKE), np.mean(np.log(1 - _sigmoid(f))), rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_g(fake_logits=FAKE), -np.mean(np.log(_sigmoid(f))), rtol=1e-6)


def test_minimax_and_non_saturating_gradients():
  f = np.asarray(FAKE, np.float64)
  # d/dl log(1 - sigmoid(l)) = -sigmoid(l); d/dl -log sigmoid(l) = sigmoid(l) - 1.
  np.testing.assert_allclose(jax.grad(lambda l: losses.minimax_g(fake_logits=l))(FAKE),
                             -_sigmoid(f) / 3, rtol=1e-5)
  np.testing.assert_allclose(jax.grad(lambda l: losses.non_saturating_g(fake_logits=l))(FAKE),
                             (_sigmoid(f) - 1) / 3, rtol=1e-5)
  # The saturating loss' gradient vanishes where D confidently rejects the fake; the
  # non-saturating one does not (Goodfellow et al.'s reason for it).
  confident = jnp.array([-10.0])
  assert abs(float(jax.grad(lambda l: losses.minimax_g(fake_logits=l))(confident)[0])) < 1e-4
  assert abs(float(jax.grad(lambda l: losses.non_saturating_g(fake_logits=l))(confident)[0])) > 0.99


def test_hinge_matches_the_seed_term_by_term():
  # L_D = -E[min(0, -1 + D(x))] - E[min(0, -1 - D(G(z)))]
  real_term = -np.mean([min(0.0, -1 + 2.0), min(0.0, -1 - 0.5), min(0.0, -1 + 0.3)])
  fake_term = -np.mean([min(0.0, -1 + 1.5), min(0.0, -1 - 0.7), min(0.0, -1 - 1.2)])
  np.testing.assert_allclose(real_term, (0 + 1.5 + 0.7) / 3)
  np.testing.assert_allclose(losses.hinge_d(real_logits=REAL, fake_logits=FAKE), real_term + fake_term, rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_g(fake_logits=FAKE), -(-1.5 + 0.7 + 1.2) / 3, rtol=1e-6)
  # Gradient: -1/n for real logits below 1, +1/n for fake logits above -1, 0 elsewhere.
  g_real, g_fake = jax.grad(lambda r, f: losses.hinge_d(real_logits=r, fake_logits=f), (0, 1))(REAL, FAKE)
  np.testing.assert_allclose(g_real, [0, -1 / 3, -1 / 3], atol=1e-7)
  np.testing.assert_allclose(g_fake, [0, 1 / 3, 1 / 3], atol=1e-7)


def test_wasserstein_and_least_squares():
  np.testing.assert_allclose(losses.wasserstein_d(real_logits=REAL, fake_logits=FAKE),
                             np.mean(FAKE) - np.mean(REAL), rtol=1e-6)
  np.testing.assert_allclose(losses.wasserstein_g(fake_logits=FAKE), -np.mean(FAKE), rtol=1e-6)
  g_real = jax.grad(lambda r: losses.wasserstein_d(real_logits=r, fake_logits=FAKE))(REAL)
  np.testing.assert_allclose(g_real, [-1 / 3] * 3, rtol=1e-6)
  np.testing.assert_allclose(losses.least_squares_d(real_logits=REAL, fake_logits=FAKE),
                             0.5 * np.mean((np.asarray(REAL) - 1) ** 2) + 0.5 * np.mean(np.asarray(FAKE) ** 2), rtol=1e-6)
  np.testing.assert_allclose(losses.least_squares_g(fake_logits=FAKE),
                             0.5 * np.mean((np.asarray(FAKE) - 1) ** 2), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(lambda f: losses.least_squares_g(fake_logits=f))(FAKE),
                             (np.asarray(FAKE) - 1) / 3, rtol=1e-6)


def test_gradient_penalty_linear_critic_known_answer():
  w = jnp.array([3.0, 4.0])                      # |w| = 5 everywhere
  critic = lambda x: x @ w
  real = jax.random.normal(jax.random.key(0), (16, 2))
  fake = jax.random.normal(jax.random.key(1), (16, 2))
  gp = losses.gradient_penalty(critic=critic, real=real, fake=fake, rng=jax.random.key(2))
  np.testing.assert_allclose(gp, (5.0 - 1.0) ** 2, rtol=1e-5)
  np.testing.assert_allclose(losses.r1_penalty(critic=critic, real=real), 25.0, rtol=1e-5)


def _finite_difference_norms(critic, x, h=1e-3):
  x = np.asarray(x, np.float64)
  grads = np.zeros_like(x)
  for i in range(x.shape[0]):
    for j in range(x.shape[1]):
      e = np.zeros_like(x)
      e[i, j] = h
      grads[i, j] = (critic(x + e)[i] - critic(x - e)[i]) / (2 * h)
  return np.linalg.norm(grads, axis=1)


@pytest.mark.slow
def test_gradient_penalty_against_finite_differences():
  k = jax.random.split(jax.random.key(0), 4)
  w1 = np.asarray(jax.random.normal(k[0], (3, 8)), np.float64)
  w2 = np.asarray(jax.random.normal(k[1], (8,)), np.float64)
  np_critic = lambda x: np.tanh(x @ w1) @ w2
  critic = lambda x: jnp.tanh(x @ jnp.asarray(w1, jnp.float32)) @ jnp.asarray(w2, jnp.float32)
  real = jax.random.normal(k[2], (6, 3))
  fake = jax.random.normal(k[3], (6, 3))
  rng = jax.random.key(5)
  # Recreate the interpolates the penalty uses (same key, same draw).
  eps = np.asarray(jax.random.uniform(rng, (6, 1)))
  interpolates = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
  expected = np.mean((_finite_difference_norms(np_critic, interpolates) - 1) ** 2)
  gp = losses.gradient_penalty(critic=critic, real=real, fake=fake, rng=rng)
  np.testing.assert_allclose(gp, expected, rtol=1e-4)
  r1 = losses.r1_penalty(critic=critic, real=real)
  np.testing.assert_allclose(r1, np.mean(_finite_difference_norms(np_critic, real) ** 2), rtol=1e-4)


def _inputs(critic=None):
  real = jax.random.normal(jax.random.key(0), (4, 2))
  fake = jax.random.normal(jax.random.key(1), (4, 2))
  critic = critic or (lambda x: jnp.sum(jnp.sin(x), axis=1))
  return losses.LossInputs(fake_logits=critic(fake), real_logits=critic(real), real=real,
                           fake=fake, critic=critic, rng=jax.random.key(2))


def test_composed_loss_is_the_sum_of_its_parts():
  inputs = _inputs()
  composed = losses.hinge + 10 * losses.gradient_penalty_term
  expected_d = (losses.hinge_d(real_logits=inputs.real_logits, fake_logits=inputs.fake_logits)
                + 10 * losses.gradient_penalty(critic=inputs.critic, real=inputs.real,
                                               fake=inputs.fake, rng=inputs.rng))
  np.testing.assert_allclose(composed.d_loss(inputs), expected_d, rtol=1e-6)
  np.testing.assert_allclose(composed.g_loss(inputs), losses.hinge_g(fake_logits=inputs.fake_logits), rtol=1e-6)
  assert set(composed.d_terms(inputs)) == {'hinge', 'gradient_penalty'}
  assert set(composed.g_terms(inputs)) == {'hinge'}
  # Scaling, sums of several terms, sum() over a list, the registry and configs agree.
  mixed = 0.5 * losses.hinge + 0.5 * losses.wasserstein + losses.r1_term
  expected = (0.5 * losses.hinge.d_loss(inputs) + 0.5 * losses.wasserstein.d_loss(inputs)
              + losses.r1_term.d_loss(inputs))
  np.testing.assert_allclose(mixed.d_loss(inputs), expected, rtol=1e-6)
  np.testing.assert_allclose(sum([losses.hinge, losses.r1_term]).d_loss(inputs),
                             (losses.hinge + losses.r1_term).d_loss(inputs), rtol=1e-6)
  np.testing.assert_allclose(losses.get('gradient_penalty', weight=10.0).d_loss(inputs),
                             10 * losses.gradient_penalty_term.d_loss(inputs), rtol=1e-6)
  config = tiny_config('ring', **{'loss.name': 'hinge'})
  config.loss.regularizers = {'gradient_penalty': 10.0}
  np.testing.assert_allclose(losses.from_config(config.loss).d_loss(inputs),
                             composed.d_loss(inputs), rtol=1e-6)
  assert repr(composed) == 'hinge + 10 * gradient_penalty'
  assert losses.needs_critic(composed) and not losses.needs_critic(losses.hinge)


def test_regularizer_weights_from_config_may_follow_r3gans_gamma_cosine():
  """R3GAN's CIFAR-10 gamma (train.py, line 195: 0.05 -> 0.005 over 2e7 images, training_loop.py
  line 29's half-cosine, held after) as config ramps of gamma/2 on R1 and R2: the loss at step
  t is rpgan + gamma(t)/2 (R1 + R2), gamma(t) the official formula in float64."""
  from jaxgan import schedules  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'loss.name': 'rpgan'})
  ramp = schedules.ramp_config('cosine', 0.025, 0.0025, 2e7 / 512).to_dict()
  config.loss.regularizers = {'r1': ramp, 'r2': ramp}
  loss = losses.from_config(config.loss)
  base = _inputs()
  penalties = (losses.r1_term + losses.r2_term).d_loss(base)
  for t in (0, 1000, 19_531, 39_062, 39_063, 60_000):
    inputs = dataclasses.replace(base, step=jnp.asarray(t))
    decay = 0.5 * (1 + np.cos(np.pi * min(t * 512, 2e7) / 2e7))
    gamma = 0.05 + (1 - decay) * (0.005 - 0.05)
    expected = float(losses.rpgan.d_loss(inputs)) + gamma / 2 * float(penalties)
    # float32: the weight to 8 eps of 0.025 (tests/test_optim.py's _f32_tol), the sum of three
    # terms to a few eps of their magnitudes.
    scale = abs(float(losses.rpgan.d_loss(inputs))) + 0.025 * float(penalties)
    np.testing.assert_allclose(float(loss.d_loss(inputs)), expected, rtol=0,
                               atol=16 * np.finfo(np.float32).eps * scale)


@pytest.mark.parametrize('ramp, message', [
    ({'init_value': -0.1}, r'config.loss.regularizers.r1.init_value=-0.1 must be a number >= 0'),
    ({'name': 'exp'}, r"config.loss.regularizers.r1.name='exp'"),
    ({'gamma': 1.0}, r'config.loss.regularizers.r1 has the unknown field\(s\) gamma'),
])
def test_bad_regularizer_ramps_are_one_sentence_errors(ramp, message):
  from jaxgan import schedules  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'loss.name': 'rpgan'})
  block = schedules.ramp_config('cosine', 0.025, 0.0025, 100.0).to_dict()
  block.update(ramp)
  config.loss.regularizers = {'r1': block}
  with pytest.raises(errors.ConfigError, match=message):
    losses.from_config(config.loss)


def test_unknown_loss_names():
  with pytest.raises(errors.ConfigError, match="unknown loss 'hinj'.*hinge.*least_squares"):
    losses.get('hinj')
  config = tiny_config('ring', **{'loss.name': 'wgan'})
  with pytest.raises(errors.ConfigError, match=r"config.loss.name='wgan'.*wasserstein"):
    losses.from_config(config.loss)
  config = tiny_config('ring')
  config.loss.regularizers = {'gp': 10.0}
  with pytest.raises(errors.ConfigError, match=r'config.loss.regularizers.gp.*gradient_penalty'):
    losses.from_config(config.loss)


@pytest.mark.parametrize('name', ['dcgan_minimax', 'dcgan_wasserstein', 'wgan_clip', 'wgan_gp',
                                  'dcgan_lsgan', 'dcgan'])
@pytest.mark.slow
def test_loss_zoo_configs_train_a_step(tmp_path, name):
  import os  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import CONFIGS  # pylint: disable=g-import-not-at-top
  config = jaxgan.config.from_file(os.path.join(CONFIGS, f'{name}.py'))
  config.data.dataset = 'digits'
  config.data.image_size = 32
  config.model.g_width = 32
  config.model.d_width = 4
  config.train.batch_size = 16
  config.train.num_steps = 1
  config.train.checkpoint_every = 1
  config.log.samples_every = 0
  config.log.every_steps = 1
  config.eval.every_steps = 0   # FID in training: tests/test_fid.py
  state = jaxgan.train(config, str(tmp_path))
  assert int(state.step) == 1
  if config.optim.d_optimizer == 'adam':   # Adam counts its updates: d_steps per G update
    assert int(state.d_opt_state.inner_state[0].count) == config.train.d_steps
  if config.optim.d_clip:
    assert all(float(abs(x).max()) <= config.optim.d_clip + 1e-7 for x in jax.tree.leaves(state.d_params))
  for leaf in jax.tree.leaves(state.g_params):
    assert np.all(np.isfinite(leaf))


# ---------------------------------------------------------------------------------------------
# Research code's own terms: plain functions, terms that read D(x) in G's update, and terms
# that keep state across steps.
# ---------------------------------------------------------------------------------------------

def _rahinge():
  relu = jax.nn.relu
  return losses.term(
      'rahinge',
      d=lambda i: (relu(1 - (i.real_logits - i.fake_logits.mean())).mean()
                   + relu(1 + (i.fake_logits - i.real_logits.mean())).mean()),
      g=lambda i: (relu(1 + (i.real_logits - i.fake_logits.mean())).mean()
                   + relu(1 - (i.fake_logits - i.real_logits.mean())).mean()),
      g_needs_real=True)


def test_a_plain_function_term_composes_and_says_what_it_reads():
  loss = _rahinge() + 0.5 * losses.r1_term
  assert repr(loss) == 'rahinge + 0.5 * r1'
  assert loss.g_needs_real and loss.needs_critic and loss.per_sample_gradients
  real, fake = jnp.array([1.0, 2.0]), jnp.array([0.0, -1.0])
  inputs = losses.LossInputs(real_logits=real, fake_logits=fake)
  # By hand: D: relu(1 - (r - mean f)) = relu(1 - (r + 0.5)) -> [0, 0]; relu(1 + (f - 1.5))
  # -> [0, 0]: 0. G: relu(1 + (r + 0.5)) -> [2.5, 3.5]; relu(1 - (f - 1.5)) -> [2.5, 3.5].
  assert float(_rahinge().d_loss(inputs)) == pytest.approx(0.0)
  assert float(_rahinge().g_loss(inputs)) == pytest.approx(6.0)
  with pytest.raises(ValueError, match='pass d= or g='):
    losses.term('nothing')


class _RealLogitAverage(losses.Term):
  """A stateful term for the tests: counts critic updates and keeps an EMA (decay 0.5) of
  D's mean real logit, and adds 0 * that EMA to D's loss (it must not change training)."""

  def init_state(self):
    return {'avg': {'count': jnp.zeros((), jnp.float32), 'ema': jnp.zeros((), jnp.float32)}}

  def update_state(self, state, inputs):
    s = state['avg']
    return {**state, 'avg': {'count': s['count'] + 1.0,
                             'ema': 0.5 * s['ema'] + 0.5 * inputs.real_logits.mean()}}

  def d_terms(self, inputs):
    return {'avg': 0.0 * inputs.state['avg']['ema']}

  def g_terms(self, inputs):
    return {}


@pytest.mark.slow
def test_stateful_and_relativistic_terms_train_checkpoint_and_resume_exactly(tmp_path):
  import jaxgan  # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 2,
                                  'train.d_steps': 2, 'log.samples_every': 0})
  experiment = jaxgan.build(config).replace(loss=_rahinge() + _RealLogitAverage())
  straight = jaxgan.train(experiment, str(tmp_path / 'a'))
  assert float(straight.loss_state['avg']['count']) == 8.0       # 4 steps x 2 critic updates
  assert float(straight.loss_state['avg']['ema']) != 0.0
  half = experiment.replace(loop=experiment.loop.replace(num_steps=2))
  jaxgan.train(half, str(tmp_path / 'b'))
  resumed = jaxgan.train(experiment, str(tmp_path / 'b'))
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  # config.json describes the config's loss (no state): loading the run for sampling restores
  # the generator's part, which fits.
  run = jaxgan.load_run(str(tmp_path / 'a'))
  assert run.generator_only and run.state.d_params is None and run.step == 4
  assert run.state.ema_params is None   # EMA off: the generator is what sampling uses
  chex.assert_trees_all_equal(jax.device_get(straight.g_params), run.state.g_params)
  assert not jaxgan.load_run(str(tmp_path / 'a'), experiment=experiment).generator_only
  # The terms are logged under their names.
  import json  # pylint: disable=g-import-not-at-top
  row = json.loads((tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()[-1])
  assert {'d/rahinge', 'g/rahinge', 'd/avg'} <= set(row)


# ---------------------------------------------------------------------------------------------
# Relativistic objectives: hand values, an independent float64 NumPy loop, finite differences.
# ---------------------------------------------------------------------------------------------

def _softplus(t):
  return np.log1p(np.exp(t))


def _relu(t):
  return max(t, 0.0)


def _reference(name, r, f):
  """(L_D, L_G) by the equations, one sample at a time, in float64."""
  r, f = [float(v) for v in r], [float(v) for v in f]
  n, m = len(r), len(f)
  mr, mf = sum(r) / n, sum(f) / m
  if name == 'rpgan':   # pairs (x_i, z_i)
    d = sum(_softplus(-(ri - fi)) for ri, fi in zip(r, f)) / n
    g = sum(_softplus(-(fi - ri)) for ri, fi in zip(r, f)) / n
  elif name == 'ragan':
    d = sum(_softplus(-(ri - mf)) for ri in r) / n + sum(_softplus(fi - mr) for fi in f) / m
    g = sum(_softplus(-(fi - mr)) for fi in f) / m + sum(_softplus(ri - mf) for ri in r) / n
  else:                 # rahinge
    d = sum(_relu(1 - (ri - mf)) for ri in r) / n + sum(_relu(1 + (fi - mr)) for fi in f) / m
    g = sum(_relu(1 - (fi - mr)) for fi in f) / m + sum(_relu(1 + (ri - mf)) for ri in r) / n
  return d, g


RELATIVISTIC = ['rpgan', 'ragan', 'rahinge']


def test_relativistic_objectives_by_hand():
  r, f = jnp.array([1.0, 2.0]), jnp.array([0.0, -1.0])
  # rpgan: D pairs (1, 0), (2, -1): softplus(-1), softplus(-3); G: softplus(1), softplus(3).
  np.testing.assert_allclose(losses.rpgan_d(real_logits=r, fake_logits=f),
                             (np.log1p(np.exp(-1)) + np.log1p(np.exp(-3))) / 2, rtol=1e-6)
  np.testing.assert_allclose(losses.rpgan_g(real_logits=r, fake_logits=f),
                             (np.log1p(np.exp(1)) + np.log1p(np.exp(3))) / 2, rtol=1e-6)
  # rahinge, means 1.5 (real) and -0.5 (fake): D: relu(1 - (r + 0.5)) -> [0, 0], relu(1 +
  # (f - 1.5)) -> [0, 0]; G: relu(1 - (f - 1.5)) -> [2.5, 3.5], relu(1 + (r + 0.5)) ->
  # [2.5, 3.5]: 6 (the README's custom term gives the same).
  assert float(losses.rahinge_d(real_logits=r, fake_logits=f)) == pytest.approx(0.0)
  assert float(losses.rahinge_g(real_logits=r, fake_logits=f)) == pytest.approx(6.0)
  # ragan: D = mean softplus(-(r + 0.5)) + mean softplus(f - 1.5).
  np.testing.assert_allclose(
      losses.ragan_d(real_logits=r, fake_logits=f),
      np.mean(np.log1p(np.exp(-(np.array([1.0, 2.0]) + 0.5))))
      + np.mean(np.log1p(np.exp(np.array([0.0, -1.0]) - 1.5))), rtol=1e-6)
  with pytest.raises(ValueError, match='as many real as fake'):
    losses.rpgan_d(real_logits=r, fake_logits=jnp.zeros(3))


@pytest.mark.parametrize('name', RELATIVISTIC)
def test_relativistic_objectives_against_a_loop(name):
  rng = np.random.default_rng(1)
  r = rng.normal(size=7).astype(np.float32) * 2
  f = rng.normal(size=7).astype(np.float32) * 2
  d_fn, g_fn = getattr(losses, f'{name}_d'), getattr(losses, f'{name}_g')
  d_ref, g_ref = _reference(name, r, f)
  np.testing.assert_allclose(d_fn(real_logits=jnp.asarray(r), fake_logits=jnp.asarray(f)), d_ref,
                             rtol=1e-5)
  np.testing.assert_allclose(g_fn(real_logits=jnp.asarray(r), fake_logits=jnp.asarray(f)), g_ref,
                             rtol=1e-5)
  # The registered objective: G's loss reads D(x), and the Term gives the same values.
  objective = losses.get(name)
  assert objective.g_needs_real and name in losses.OBJECTIVES
  inputs = losses.LossInputs(real_logits=jnp.asarray(r), fake_logits=jnp.asarray(f))
  np.testing.assert_allclose(objective.d_loss(inputs), d_ref, rtol=1e-5)
  np.testing.assert_allclose(objective.g_loss(inputs), g_ref, rtol=1e-5)


@pytest.mark.parametrize('name', RELATIVISTIC)
def test_relativistic_gradients_match_finite_differences(name):
  # Logits away from the hinges' kinks (|1 +- gap| > 0.1), so differences are smooth there.
  r = np.array([1.3, -0.4, 2.2, 0.1], np.float64)
  f = np.array([-0.9, 0.6, -2.0, 0.35], np.float64)
  h = 1e-5
  for which, fn in (('d', getattr(losses, f'{name}_d')), ('g', getattr(losses, f'{name}_g'))):
    grads = jax.grad(lambda a, b: fn(real_logits=a, fake_logits=b), (0, 1))(
        jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32))
    index = 0 if which == 'd' else 1
    for arg, grad in zip((r, f), grads):
      numeric = np.zeros_like(arg)
      for i in range(len(arg)):
        up, down = arg.copy(), arg.copy()
        up[i] += h
        down[i] -= h
        pair_up = (up, f) if arg is r else (r, up)
        pair_down = (down, f) if arg is r else (r, down)
        numeric[i] = (_reference(name, *pair_up)[index]
                      - _reference(name, *pair_down)[index]) / (2 * h)
      np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6, err_msg=f'{name}_{which}')


def test_the_registered_rahinge_equals_the_readme_term():
  rng = np.random.default_rng(3)
  inputs = losses.LossInputs(real_logits=jnp.asarray(rng.normal(size=6), jnp.float32),
                             fake_logits=jnp.asarray(rng.normal(size=6), jnp.float32))
  np.testing.assert_allclose(losses.rahinge.d_loss(inputs), _rahinge().d_loss(inputs), rtol=1e-6)
  np.testing.assert_allclose(losses.rahinge.g_loss(inputs), _rahinge().g_loss(inputs), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# R2, LeCam and consistency regularisation.
# ---------------------------------------------------------------------------------------------

def test_r2_known_answer_finite_differences_and_no_gradient_to_the_generator():
  w = jnp.array([3.0, 4.0])
  fake = jax.random.normal(jax.random.key(1), (16, 2))
  np.testing.assert_allclose(losses.r2_penalty(critic=lambda x: x @ w, fake=fake), 25.0,
                             rtol=1e-6)
  k = jax.random.split(jax.random.key(0), 3)
  w1 = np.asarray(jax.random.normal(k[0], (3, 8)), np.float64)
  w2 = np.asarray(jax.random.normal(k[1], (8,)), np.float64)
  np_critic = lambda x: np.tanh(x @ w1) @ w2
  critic = lambda x: jnp.tanh(x @ jnp.asarray(w1, jnp.float32)) @ jnp.asarray(w2, jnp.float32)
  fake = jax.random.normal(k[2], (6, 3))
  np.testing.assert_allclose(losses.r2_penalty(critic=critic, fake=fake),
                             np.mean(_finite_difference_norms(np_critic, fake) ** 2), rtol=1e-4)
  # Detached from G: no gradient flows back to the fake samples (R1 on the same inputs would).
  assert not np.any(jax.grad(lambda x: losses.r2_penalty(critic=critic, fake=x))(fake))
  assert np.any(jax.grad(lambda x: losses.r1_penalty(critic=critic, real=x))(fake))
  # The registered term reads the fakes through the fake-batch critic.
  term_inputs = losses.LossInputs(fake_logits=critic(fake), fake=fake, critic=lambda x: 0 * x[:, 0],
                                  fake_critic=critic)
  np.testing.assert_allclose(losses.r2_term.d_loss(term_inputs),
                             losses.r2_penalty(critic=critic, fake=fake), rtol=1e-6)
  assert losses.r2_term.per_sample_gradients and losses.r2_term.g_terms(term_inputs) == {}


def test_lecam_penalty_against_numpy():
  rng = np.random.default_rng(4)
  r, f = rng.normal(size=5), rng.normal(size=5)
  alpha_r, alpha_f = 0.3, -0.2
  expected = np.mean((r - alpha_f) ** 2) + np.mean((f - alpha_r) ** 2)   # Tseng et al. eq. 4
  got = losses.lecam_penalty(real_logits=jnp.asarray(r, jnp.float32),
                             fake_logits=jnp.asarray(f, jnp.float32), ema_real=alpha_r,
                             ema_fake=alpha_f)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  hinged = (np.mean(np.maximum(r - alpha_f, 0) ** 2) + np.mean(np.maximum(alpha_r - f, 0) ** 2))
  np.testing.assert_allclose(
      losses.lecam_penalty(real_logits=jnp.asarray(r, jnp.float32),
                           fake_logits=jnp.asarray(f, jnp.float32), ema_real=alpha_r,
                           ema_fake=alpha_f, hinged=True), hinged, rtol=1e-5)


@pytest.mark.slow
def test_lecam_moving_averages_against_a_loop():
  decay = 0.99
  rng = np.random.default_rng(5)
  batches = [(rng.normal(1.0, 1.0, 8), rng.normal(-1.0, 1.0, 8)) for _ in range(30)]
  term = 2.0 * losses.lecam_term + losses.hinge   # state passes through sums and weights
  state = term.init_state()
  biased_r = biased_f = 0.0
  for t, (r, f) in enumerate(batches, start=1):
    inputs = losses.LossInputs(real_logits=jnp.asarray(r, jnp.float32),
                               fake_logits=jnp.asarray(f, jnp.float32), state=state)
    # The penalty of update t uses the debiased averages of updates 1 .. t-1 (0 before any).
    if t == 1:
      alpha_r = alpha_f = 0.0
    else:
      alpha_r = biased_r / (1 - decay ** (t - 1))
      alpha_f = biased_f / (1 - decay ** (t - 1))
    expected = 2.0 * (np.mean((r - alpha_f) ** 2) + np.mean((f - alpha_r) ** 2))
    np.testing.assert_allclose(term.d_terms(inputs)['lecam'], expected, rtol=1e-4)
    state = term.update_state(state, inputs)
    biased_r = decay * biased_r + (1 - decay) * np.mean(r)
    biased_f = decay * biased_f + (1 - decay) * np.mean(f)
  assert int(state['lecam']['count']) == 30
  np.testing.assert_allclose(state['lecam']['real'], biased_r, rtol=1e-5)
  np.testing.assert_allclose(state['lecam']['fake'], biased_f, rtol=1e-5)
  # Debiased, the averages sit near the logits' means (1 and -1), not near their 0 start.
  alpha_r, alpha_f = losses.lecam_anchors(state['lecam'], decay=decay)
  assert abs(float(alpha_r) - 1.0) < 0.5 and abs(float(alpha_f) + 1.0) < 0.5
  assert term.g_terms(inputs) == {'hinge': losses.hinge_g(fake_logits=inputs.fake_logits)}


def test_consistency_regularisation_against_numpy():
  w = np.array([0.5, -1.0, 2.0], np.float64)
  np_critic = lambda x: np.tanh(x.reshape(len(x), -1) @ w)
  critic = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ jnp.asarray(w, jnp.float32))
  flip = lambda x: x[:, ::-1]                       # a deterministic T, for the reference
  rng = np.random.default_rng(6)
  real, fake = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
  expected_real = np.mean((np_critic(real) - np_critic(flip(real))) ** 2)
  np.testing.assert_allclose(
      losses.consistency_penalty(critic=critic, images=jnp.asarray(real, jnp.float32),
                                 augment=flip), expected_real, rtol=1e-5)
  # bCR: the real side through `critic` with draw 0 of T, the fake side through
  # `fake_critic` with draw 1 (here draw 1 negates, so the two sides are told apart).
  fake_critic = lambda x: 2.0 * critic(x)
  np_fake_critic = lambda x: 2.0 * np_critic(x)
  augment = lambda x, draw: flip(x) if draw == 0 else -x
  inputs = losses.LossInputs(fake_logits=fake_critic(jnp.asarray(fake, jnp.float32)),
                             real=jnp.asarray(real, jnp.float32),
                             fake=jnp.asarray(fake, jnp.float32), critic=critic,
                             fake_critic=fake_critic, augment=augment)
  expected = expected_real + np.mean((np_fake_critic(fake) - np_fake_critic(-fake)) ** 2)
  np.testing.assert_allclose(losses.consistency_term.d_loss(inputs), expected, rtol=1e-5)
  assert losses.consistency_term.needs_augment and losses.consistency_term.needs_critic
  assert not losses.consistency_term.per_sample_gradients   # no input gradients: batch norm ok
  # Both views are differentiated (no stop-gradient): D's parameters get gradient from each.
  grad = jax.grad(lambda v: losses.consistency_penalty(
      critic=lambda x: jnp.tanh(x @ v), images=jnp.asarray(real, jnp.float32),
      augment=flip))(jnp.asarray(w, jnp.float32))
  assert np.all(np.isfinite(grad)) and np.any(grad)


def test_new_terms_compose_from_a_config_in_one_line():
  config = tiny_config('ring', **{'loss.name': 'rpgan'})
  config.loss.regularizers = {'r1': 0.025, 'r2': 0.025, 'lecam': 0.3}
  loss = losses.from_config(config.loss)
  assert sorted(repr(loss).split(' + ')) == ['0.025 * r1', '0.025 * r2', '0.3 * lecam', 'rpgan']
  assert loss.g_needs_real and loss.needs_critic and not loss.needs_augment
  assert set(loss.init_state()) == {'lecam'}
  one_line = losses.rpgan + 0.025 * losses.r1_term + 0.025 * losses.r2_term + 0.3 * losses.lecam_term
  inputs = _inputs()
  inputs = losses.LossInputs(**{**inputs.__dict__, 'state': one_line.init_state()})
  np.testing.assert_allclose(loss.d_loss(inputs), one_line.d_loss(inputs), rtol=1e-6)
  assert set(losses.REGULARIZERS) >= {'r2', 'lecam', 'consistency'}
  assert set(losses.OBJECTIVES) >= {'rpgan', 'ragan', 'rahinge'}


@pytest.mark.slow
@pytest.mark.parametrize('name, reads_real', [('rpgan', True), ('non_saturating', False)])
def test_the_generator_update_reads_real_logits_for_rpgan(name, reads_real):
  # D frozen (SGD at rate 0), so two steps from one state differ only in what G's loss reads:
  # the real batch (steps 0 and 1 have different ones) changes G's update only through D(x).
  import optax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import host_batch  # pylint: disable=g-import-not-at-top
  experiment = jaxgan.build(tiny_config('ring', **{'loss.name': name})).replace(
      g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.0))
  assert experiment.loss.g_needs_real == reads_real
  step = experiment.train_step(jax.devices()[:1])
  state = jax.device_get(experiment.init_state())
  after = [jax.device_get(step(state, host_batch(experiment, s, 1))[0]) for s in (0, 1)]
  chex.assert_trees_all_equal(after[0].d_params, after[1].d_params)   # the same D in both
  same_g = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(after[0].g_params),
                                                     jax.tree.leaves(after[1].g_params),
                                                     strict=True))
  assert same_g != reads_real


# ---------------------------------------------------------------------------------------------
# Scheduled weights and the Term algebra's refusals.
# ---------------------------------------------------------------------------------------------

def _lecam_inputs(step):
  rng = np.random.default_rng(7)
  state = {'lecam': {'real': jnp.float32(0.4), 'fake': jnp.float32(-0.3),
                     'count': jnp.int32(200)}}
  return losses.LossInputs(real_logits=jnp.asarray(rng.normal(size=6), jnp.float32),
                           fake_logits=jnp.asarray(rng.normal(size=6), jnp.float32),
                           state=state, step=None if step is None else jnp.int32(step))


@pytest.mark.parametrize('step', [0, 1, 250, 999, 1000, 4000])
def test_a_scheduled_weight_is_the_float_weight_of_its_step(step):
  schedule = optax.linear_schedule(0.0, 0.3, 1000)
  inputs = _lecam_inputs(step)
  by_hand = 0.3 * min(step, 1000) / 1000                  # linear_schedule, in float64
  # LeCam by hand (eq. 4) with the zero-debiased anchors of the state (count 200, decay 0.99;
  # a large count keeps 1 - 0.99^count from cancelling in float32).
  r, f = np.asarray(inputs.real_logits, np.float64), np.asarray(inputs.fake_logits, np.float64)
  alpha_r, alpha_f = 0.4 / (1 - 0.99 ** 200), -0.3 / (1 - 0.99 ** 200)
  lecam = np.mean((r - alpha_f) ** 2) + np.mean((f - alpha_r) ** 2)
  hinge = float(losses.hinge_d(real_logits=inputs.real_logits, fake_logits=inputs.fake_logits))
  for scheduled in (losses.hinge + losses.lecam_term.weighted(schedule),
                    losses.hinge + schedule * losses.lecam_term,
                    losses.hinge + 2.0 * (schedule * (0.5 * losses.lecam_term))):
    terms = scheduled.d_terms(inputs)
    # The float-weighted term at the schedule's value of this step, exactly.
    fixed = losses.hinge + float(schedule(step)) * losses.lecam_term
    chex.assert_trees_all_equal(terms, fixed.d_terms(dataclasses.replace(inputs, step=None)))
    # The hand computation, to float32 rounding of a few operations on values of order 10.
    np.testing.assert_allclose(terms['lecam'], by_hand * lecam, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms['hinge'], hinge, rtol=1e-6)
    np.testing.assert_allclose(scheduled.d_loss(inputs), hinge + by_hand * lecam, rtol=1e-5)
    assert scheduled.g_terms(inputs).keys() == {'hinge'}


def test_a_scheduled_weight_reads_and_needs_the_step():
  warm_up = optax.join_schedules([optax.constant_schedule(0.0), optax.constant_schedule(0.3)],
                                 [1000])
  loss = losses.hinge + losses.get('lecam', weight=warm_up)
  assert repr(loss) == 'hinge + schedule(step) * lecam'
  assert float(loss.d_terms(_lecam_inputs(999))['lecam']) == 0.0
  assert float(loss.d_terms(_lecam_inputs(1000))['lecam']) > 0.0
  with pytest.raises(errors.ConfigError, match=r'is a schedule and needs the step.*step='):
    loss.d_terms(_lecam_inputs(None))
  # Inside jit the step is a tracer, as in the train step (XLA may fuse and reorder the
  # penalty's dozen float32 operations: a few ulps).
  traced = jax.jit(lambda s: loss.d_terms(dataclasses.replace(_lecam_inputs(0), step=s)))
  chex.assert_trees_all_close(traced(jnp.int32(1000)), loss.d_terms(_lecam_inputs(1000)),
                              rtol=1e-6)
  with pytest.raises(TypeError, match='cannot be a weight.*schedule called with the step'):
    losses.r1_term.weighted(lambda step, scale: scale * step)


def test_a_plain_function_in_a_sum_says_which_term_to_use():
  # Before: "unsupported operand type(s) for *: 'int' and 'function'".
  with pytest.raises(TypeError, match=r'losses.gradient_penalty is a plain function.*'
                                      r'losses.gradient_penalty_term.*losses.term'):
    losses.hinge + 10 * losses.gradient_penalty  # pylint: disable=expression-not-assigned
  with pytest.raises(TypeError, match=r'losses.r1_penalty is a plain function.*losses.r1_term'):
    losses.hinge + losses.r1_penalty  # pylint: disable=expression-not-assigned
  with pytest.raises(TypeError, match=r'losses.hinge_d is a plain function.*losses.hinge '):
    losses.hinge_d * 2  # pylint: disable=expression-not-assigned
  with pytest.raises(TypeError, match=r'losses.r2_penalty is a plain function.*losses.r2_term'):
    losses.hinge * losses.r2_penalty  # pylint: disable=expression-not-assigned
  with pytest.raises(TypeError, match=r'my_penalty is a function, not a loss Term.*losses.term'):
    def my_penalty(i):
      return jnp.mean(i.real_logits ** 2)
    losses.hinge + my_penalty  # pylint: disable=expression-not-assigned
  # The functions are still the functions.
  assert float(losses.hinge_d(real_logits=REAL, fake_logits=FAKE)) == pytest.approx(
      (0 + 1.5 + 0.7) / 3 + (0 + 1.7 + 2.2) / 3)        # as in the seed-equation test above
  assert losses.non_saturating_d.__name__ == 'non_saturating_d'
  # ... and objectives built from them pickle as before (by the functions' names).
  assert pickle.loads(pickle.dumps(losses.non_saturating)).d_fn is losses.non_saturating_d


def test_a_term_that_reads_the_critic_must_say_so():
  inputs = _inputs()
  undeclared = losses.term('mine', d=lambda i: losses.r1_penalty(critic=i.critic, real=i.real))
  # Before: "TypeError: 'NoneType' object is not callable" in the step (no critic passed),
  # or a silent use of another term's critic inside a sum.
  for loss in (undeclared, losses.hinge + undeclared, losses.r1_term + undeclared):
    with pytest.raises(errors.ConfigError, match=r"'mine' calls LossInputs.critic without "
                                                 r"declaring it.*needs_critic=True"):
      loss.d_terms(inputs)
  declared = losses.term('mine', d=lambda i: losses.r1_penalty(critic=i.critic, real=i.real),
                         needs_critic=True)
  np.testing.assert_allclose(declared.d_terms(inputs)['mine'], losses.r1_term.d_loss(inputs),
                             rtol=1e-6)
  # The generator update has no critic; augment needs its own declaration.
  in_g = losses.term('in_g', g=lambda i: i.critic(i.fake).mean(), needs_critic=True)
  with pytest.raises(errors.ConfigError, match=r"'in_g' calls LossInputs.critic, which is None "
                                               r"here: the generator update has none"):
    in_g.g_terms(losses.LossInputs(fake_logits=inputs.fake_logits, fake=inputs.fake))
  augmenting = losses.term('aug', d=lambda i: i.augment(i.real, 0).mean())
  with pytest.raises(errors.ConfigError, match=r'LossInputs.augment without.*needs_augment=True'):
    augmenting.d_terms(dataclasses.replace(inputs, augment=lambda x, k: x))


def test_two_terms_with_one_name_are_refused_and_one_term_twice_adds_its_weights():
  inputs = _inputs()
  # Before: both were logged (and their states kept) under one name, silently.
  with pytest.raises(errors.ConfigError, match="two different loss terms are both named 'reg'"):
    (losses.hinge + losses.term('reg', d=lambda i: i.real_logits.mean())
     + 0.5 * losses.term('reg', d=lambda i: i.fake_logits.mean()))
  with pytest.raises(errors.ConfigError, match="both named 'lecam'.*LeCam.name='lecam_2'"):
    losses.lecam_term + losses.LeCam(hinged=True)  # pylint: disable=expression-not-assigned
  with pytest.raises(errors.ConfigError, match=r"both produce state 'avg'"):
    (_RealLogitAverage() + _RealLogitAverage()).init_state()
  with pytest.raises(errors.ConfigError, match=r"both produce d_terms 'avg'"):
    (_RealLogitAverage() + _RealLogitAverage()).d_terms(
        dataclasses.replace(inputs, state=_RealLogitAverage().init_state()))
  # Named apart, both are kept, each with its own state.
  both = losses.lecam_term + 0.5 * losses.LeCam(name='lecam_hinged', hinged=True)
  assert set(both.init_state()) == {'lecam', 'lecam_hinged'}
  assert set(both.d_terms(dataclasses.replace(inputs, state=both.init_state()))) == {
      'lecam', 'lecam_hinged'}
  # The same term twice is one term with the sum of its weights.
  twice = losses.hinge + 0.5 * losses.r1_term + losses.hinge
  assert repr(twice) == '2 * hinge + 0.5 * r1'
  chex.assert_trees_all_close(twice.d_terms(inputs), {
      'hinge': 2 * losses.hinge.d_loss(inputs), 'r1': 0.5 * losses.r1_term.d_loss(inputs)},
      rtol=1e-6)


@pytest.mark.slow
def test_a_scheduled_weight_trains_logs_and_resumes_exactly(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  # LeCam's weight 0 at step 0, then 0.1, 0.2, 0.3 (GANState.step reaches the loss).
  loss = losses.hinge + losses.lecam_term.weighted(optax.linear_schedule(0.0, 0.3, 3))
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2, 'train.d_steps': 2,
               'log.samples_every': 0}
  experiment = jaxgan.build(tiny_config('ring', **overrides)).replace(loss=loss)
  straight = jaxgan.train(experiment, str(tmp_path / 'a'))
  # Stop after 2 steps (as a preempted run would), then train the same experiment to 4.
  half = jaxgan.build(tiny_config('ring', **{**overrides, 'train.num_steps': 2}))
  jaxgan.train(half.replace(loss=loss), str(tmp_path / 'b'))
  resumed = jaxgan.train(experiment, str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  rows = [json.loads(line) for line in (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3, 4]
  assert rows[0]['d/lecam'] == 0.0 and all(r['d/lecam'] > 0.0 for r in rows[1:])
  for r in rows:   # the logged terms carry their weights and add up to the total
    assert r['d/total'] == pytest.approx(r['d/hinge'] + r['d/lecam'], rel=1e-6, abs=1e-6)


@pytest.mark.slow
def test_the_train_step_says_which_term_forgot_needs_critic():
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import host_batch  # pylint: disable=g-import-not-at-top
  undeclared = losses.term('mine', d=lambda i: losses.r1_penalty(critic=i.critic, real=i.real))
  experiment = jaxgan.build(tiny_config('ring')).replace(loss=losses.hinge + undeclared)
  step = experiment.train_step(devices=jax.devices()[:1])
  # Before: "TypeError: 'NoneType' object is not callable" from inside the traced step.
  with pytest.raises(errors.ConfigError, match=r"'mine' calls LossInputs.critic without "
                                               r"declaring it.*needs_critic=True"):
    step(experiment.init_state(), host_batch(experiment, 0, 1))


def _tanh_critic(a):
  return lambda x: jnp.tanh(x @ a)


def _official_r1_np(a, x, gamma):
  """stylegan2-ada-pytorch loss.py's Dr1, float64: D(x) = tanh(a . x), grad_x D = a (1 -
  D^2), r1_penalty = sum over the input of grad^2, loss_Dr1 = r1_penalty * gamma / 2, mean
  over the batch."""
  t = np.tanh(x @ a)
  grads = a[None, :] * (1.0 - t ** 2)[:, None]
  return np.mean(np.sum(grads ** 2, axis=1) * gamma / 2)


def test_lazy_r1_summed_over_an_interval_is_the_official_gain_times_r1():
  """losses.lazy(gamma/2 * r1, every=k) over steps 0..2k-1, each on its own batch: the summed
  gradient equals the official loop's, sum over batch_idx % k == 0 of gain (= k) x grad of
  loss_Dr1 (float64, central finite differences); the logged value is 0 on the other steps."""
  every, gamma = 4, 0.01
  term = losses.lazy((gamma / 2) * losses.r1_term, every)
  assert repr(term) == 'lazy(0.005 * r1, every=4)' and term.needs_critic
  rng = np.random.default_rng(0)
  a = rng.standard_normal(5)
  batches = [rng.standard_normal((6, 5)) for _ in range(2 * every)]

  def d_loss(a32, x, step):
    return term.d_loss(losses.LossInputs(fake_logits=jnp.zeros(6), critic=_tanh_critic(a32),
                                         real=x, step=step))
  grad = jax.jit(jax.grad(d_loss))
  ours = sum(np.asarray(grad(jnp.asarray(a, jnp.float32), jnp.asarray(x, jnp.float32), s),
                        np.float64) for s, x in enumerate(batches))
  official = np.zeros(5)
  h = 1e-6
  for batch_idx, x in enumerate(batches):
    if batch_idx % every != 0:
      continue
    for j in range(5):
      e = np.eye(5)[j] * h
      official[j] += every * (_official_r1_np(a + e, x, gamma)
                              - _official_r1_np(a - e, x, gamma)) / (2 * h)
  # float32 gradients of O(1e-2) from 2 terms of 6 samples: ~1e-7 relative each.
  np.testing.assert_allclose(ours, official, rtol=1e-4, atol=1e-6 * np.abs(official).max())
  values = [float(jax.jit(d_loss)(jnp.asarray(a, jnp.float32), jnp.asarray(x, jnp.float32), s))
            for s, x in enumerate(batches)]
  for s, value in enumerate(values):
    if s % every:
      assert value == 0.0
    else:
      assert value == pytest.approx(every * _official_r1_np(a, batches[s], gamma), rel=1e-5)


def test_lazy_skipped_steps_do_not_run_the_term():
  """The skipped steps take lax.cond's other branch: a host callback inside the critic runs
  on steps 0 and 3 only (every=3) of 6, in the loss and in its gradient."""
  calls = []
  def critic(a):
    def f(x):
      jax.debug.callback(lambda: calls.append(1))
      return jnp.tanh(x @ a)
    return f
  term = losses.lazy(losses.r1_term, 3)
  x = jnp.ones((2, 3))

  @jax.jit
  def loss_and_grad(a, step):
    return jax.value_and_grad(lambda a: term.d_loss(losses.LossInputs(
        fake_logits=jnp.zeros(2), critic=critic(a), real=x, step=step)))(a)
  ran = []
  for s in range(6):
    calls.clear()
    jax.block_until_ready(loss_and_grad(jnp.full(3, 0.3), s))
    jax.effects_barrier()
    ran.append(bool(calls))
  assert ran == [True, False, False, True, False, False]
  assert 'cond' in str(jax.make_jaxpr(loss_and_grad)(jnp.full(3, 0.3), 0))


def test_lazy_refusals_and_every_one_is_the_term():
  with pytest.raises(errors.ConfigError, match=r'losses.lazy\(..., every=0\): every must be'):
    losses.lazy(losses.r1_term, 0)
  with pytest.raises(errors.ConfigError, match='is computed every 2 steps and needs the step'):
    losses.lazy(losses.r1_term, 2).d_loss(losses.LossInputs(
        fake_logits=jnp.zeros(2), critic=lambda x: x.sum(-1), real=jnp.ones((2, 3))))
  one = losses.lazy(losses.r1_term, 1).d_loss(losses.LossInputs(
      fake_logits=jnp.zeros(2), critic=lambda x: (x ** 2).sum(-1), real=jnp.ones((2, 3))))
  assert float(one) == pytest.approx(12.0)   # ||2x||^2 = 12 for x = ones(3)
  config = tiny_config('ring', **{'loss.regularizers': {'r1': 0.5},
                                  'loss.regularizer_interval': 16})
  import jaxgan  # pylint: disable=g-import-not-at-top
  assert repr(jaxgan.build(config).loss) == 'non_saturating + lazy(0.5 * r1, every=16)'


@pytest.mark.slow
def test_lazy_r1_from_the_config_trains_logs_and_resumes_exactly(tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2, 'train.d_steps': 2,
               'log.samples_every': 0, 'loss.regularizers': {'r1': 0.5},
               'loss.regularizer_interval': 2, 'optim.d_reg_interval': 2}
  straight = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'a'))
  jaxgan.train(tiny_config('ring', **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(tiny_config('ring', **overrides), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  rows = [json.loads(line) for line in (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
  # metrics of step s are logged at s + 1: r1 is computed on steps 0 and 2 only.
  assert [r['d/r1'] > 0.0 for r in rows] == [True, False, True, False]
  assert all(r['d/r1'] == 0.0 for r in rows[1::2])
  assert all(r['d/lr'] == pytest.approx(2e-4 * 2 / 3) for r in rows)
