"""StyleGAN2's generator-side training features: style mixing against a hand replica, path
length regularisation against a float64 reference (penalty, gradient, running mean, lazy
gating), the official separate regularisation phases against hand-written Adam steps, a
tiny StyleGAN2 with both training and resuming bit for bit, the refusals, and the paper256
config."""

import json
import math
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

import jaxgan
from jaxgan import augment, augment_pipe, data, errors, losses, models, state as state_lib, steps
from jaxgan.models import stylegan2 as sg
from tests.util import CONFIGS, host_batch, tiny_config

W, Z = 16, 8


def _generator(**kwargs):
  return sg.Generator(image_size=8, num_classes=3, w_dim=W, channel_base=64, mapping_layers=2,
                      noise_mode='const', **kwargs)


def _variables(gen, z, y):
  variables = gen.init(jax.random.key(1), z, y, train=False)
  # Random biases and w_avg (they start at 0), so that every path shows.
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  return jax.tree.unflatten(tree, [v + 0.2 * jax.random.normal(k, v.shape)
                                   for v, k in zip(leaves, keys)])


# --- style mixing --------------------------------------------------------------------------------

def test_style_mixing_draws():
  cutoffs = [int(sg.style_mixing_draws(jax.random.key(i), (2, Z), 5, 1.0)[1])
             for i in range(200)]
  assert set(cutoffs) == {1, 2, 3, 4}            # uniform in [1, num_ws)
  never = [int(sg.style_mixing_draws(jax.random.key(i), (2, Z), 5, 0.0)[1]) for i in range(20)]
  assert set(never) == {5}                       # no mixing
  half = np.mean([int(sg.style_mixing_draws(jax.random.key(i), (2, Z), 5, 0.5)[1]) == 5
                  for i in range(400)])
  assert 0.4 < half < 0.6                        # 400 coins: 5 standard deviations is 0.125


@pytest.mark.slow
@pytest.mark.parametrize('prob', [1.0, 0.9])
def test_style_mixing_equals_a_hand_replica(prob):
  gen = _generator(style_mixing_prob=prob)
  assert steps.rng_streams(gen) == ('mixing',)
  assert steps.rng_streams(gen.clone(noise_mode='random')) == ('noise', 'mixing')
  z = jax.random.normal(jax.random.key(0), (4, Z))
  y = jnp.array([0, 1, 2, 1])
  variables = _variables(gen, z, y)
  for seed in range(3):
    rngs = {'mixing': jax.random.key(10 + seed)}
    images, new_state = gen.apply(variables, z, y, train=True, rngs=rngs, mutable=['w_avg'])
    # The replica: the key the generator's first make_rng('mixing') returns, the official
    # draws from it, both mappings, ws[:, cutoff:] from the second z, the synthesis.
    key = gen.apply(variables, rngs=rngs, method=lambda m: m.make_rng('mixing'))
    z2, cutoff = sg.style_mixing_draws(key, z.shape, 4, prob)
    ws = np.asarray(gen.apply(variables, z, y, train=False, method='map'))
    ws2 = np.asarray(gen.apply(variables, z2, y, train=False, method='map'))
    mixed = np.concatenate([ws[:, :int(cutoff)], ws2[:, int(cutoff):]], axis=1)
    expected = gen.apply(variables, jnp.asarray(mixed), method='synthesize')
    chex.assert_trees_all_equal(images, expected)
    # w_avg moves with the first mapping only (the official skip_w_avg_update).
    _, unmixed_state = gen.apply(variables, z, y, train=True, method='map', mutable=['w_avg'])
    chex.assert_trees_all_equal(new_state, unmixed_state)
  # With prob 1 every draw mixes, so the images differ from the unmixed ones.
  if prob == 1.0:
    plain = gen.clone(style_mixing_prob=0.0).apply(variables, z, y, train=True,
                                                   mutable=['w_avg'])[0]
    assert np.max(np.abs(np.asarray(images) - np.asarray(plain))) > 1e-3


def test_evaluation_and_sampling_do_not_mix():
  gen = _generator(style_mixing_prob=1.0)
  z = jax.random.normal(jax.random.key(0), (4, Z))
  y = jnp.array([0, 1, 2, 1])
  variables = _variables(gen, z, y)
  plain = gen.clone(style_mixing_prob=0.0).apply(variables, z, y, train=False)
  chex.assert_trees_all_equal(
      gen.apply(variables, z, y, train=False, rngs={'mixing': jax.random.key(3)}), plain)
  params = variables['params']
  state = {k: v for k, v in variables.items() if k != 'params'}
  # Jitted against eager: XLA fuses differently (float32 rounding over ~600-term sums).
  chex.assert_trees_all_close(steps.make_sample_fn(gen)(params, state, z, y), plain,
                              rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_style_mixing_refusals():
  with pytest.raises(errors.ConfigError, match='probability in'):
    _generator(style_mixing_prob=1.5)
  gen = _generator(style_mixing_prob=0.5)
  z = jnp.zeros((2, Z))
  variables = gen.init(jax.random.key(0), z, jnp.zeros(2, jnp.int32), train=False)
  with pytest.raises(ValueError, match="'mixing' RNG stream"):
    gen.apply(variables, z, jnp.zeros(2, jnp.int32), train=True, mutable=['w_avg'])
  config = tiny_config('digits', **{'model.style_mixing_prob': 0.9})
  with pytest.raises(errors.ConfigError, match='style_mixing_prob'):
    jaxgan.build(config)       # DCGAN has no style mixing


# --- path length ---------------------------------------------------------------------------------

NUM_WS, HW, C = 3, 4, 2


def _toy_params(key):
  k1, k2 = jax.random.split(key)
  return {'m': jax.random.normal(k1, (Z, W)) / np.sqrt(Z),
          'a': jax.random.normal(k2, (NUM_WS, W, HW * HW * C)) / np.sqrt(W)}


def _toy_styles(p, z):
  return jnp.repeat(jnp.tanh(z @ p['m'])[:, None], NUM_WS, axis=1)


def _toy_synthesize(p, ws):
  return jnp.tanh(jnp.einsum('nkw,kwp->np', ws, p['a'])).reshape(-1, HW, HW, C)


def _toy_access(p, z):
  """A generator with a closed-form Jacobian: ws = tanh(z M) repeated, image = tanh(sum_k
  ws_k A_k)."""
  return losses.GeneratorAccess(draw=lambda n: (z[:n], None), styles=lambda z, _: _toy_styles(p, z),
                                synthesize=lambda ws: _toy_synthesize(p, ws), batch=2 * z.shape[0])


def _reference(p, z, y_key, pl_mean, decay):
  """Float64 path length penalty by the direct formula: J^T y = A (y * (1 - image^2)) for
  each w, lengths = sqrt(mean_k |.|^2), the lerped mean not stopped (official loss.py)."""
  ws = _toy_styles(p, z)
  images = _toy_synthesize(p, ws)
  y = jax.random.normal(y_key, images.shape, jnp.float32).astype(jnp.float64) / HW
  jt_y = jnp.einsum('np,kwp->nkw', (y * (1 - images ** 2)).reshape(z.shape[0], -1), p['a'])
  lengths = jnp.sqrt(jnp.mean(jnp.sum(jt_y ** 2, axis=2), axis=1))
  new_mean = pl_mean + decay * (jnp.mean(lengths) - pl_mean)
  return jnp.mean((lengths - new_mean) ** 2), new_mean


@pytest.mark.slow
def test_path_length_penalty_and_gradient_against_float64():
  p = _toy_params(jax.random.key(0))
  z = jax.random.normal(jax.random.key(1), (4, Z))
  y_key = jax.random.key(2)
  term = losses.PathLength(decay=0.01)

  def ours(p):
    inputs = losses.LossInputs(fake_logits=jnp.zeros(8), generator=_toy_access(p, z),
                               rng=y_key, state={'path_length': {'mean': jnp.float32(0.7)}})
    terms, updates = term.g_terms_and_state(inputs)
    return terms['path_length'], updates

  (value, updates), grads = jax.value_and_grad(ours, has_aux=True)(p)
  with jax.enable_x64(True):
    p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), p)
    z64 = jnp.asarray(z, jnp.float64)
    (ref, ref_mean), ref_grads = jax.value_and_grad(
        lambda q: _reference(q, z64, y_key, 0.7, 0.01), has_aux=True)(p64)
    ref, ref_mean, ref_grads = jax.device_get((ref, ref_mean, ref_grads))
  # float32 against float64: sums of W * HW^2 C = 512 products (~512 * 6e-8 relative),
  # squared and differentiated twice: 1e-4 relative is ample.
  np.testing.assert_allclose(float(value), ref, rtol=1e-4)
  np.testing.assert_allclose(float(updates['path_length']['mean']), ref_mean, rtol=1e-5)
  chex.assert_trees_all_close(jax.device_get(grads),
                              jax.tree.map(lambda g: g.astype(np.float32), ref_grads),
                              rtol=1e-3, atol=1e-6 * max(np.abs(g).max() for g in
                                                          jax.tree.leaves(ref_grads)))
  # The penalty is not trivially zero, and the mean moved by decay * (mean - 0.7).
  assert float(value) > 1e-4 and abs(ref_mean - 0.7) > 1e-4


@pytest.mark.slow
def test_path_length_on_stylegan2_is_the_explicit_jacobian():
  """On the real generator, J^T y by jax.vjp equals y contracted with the explicit Jacobian."""
  gen = _generator()
  z = jax.random.normal(jax.random.key(0), (2, Z))
  y_labels = jnp.array([0, 2])
  variables = _variables(gen, z, y_labels)
  ws = gen.apply(variables, z, y_labels, train=False, method='styles')
  synth = lambda w: gen.apply(variables, w, method='synthesize')
  images = synth(ws)
  y = jax.random.normal(jax.random.key(5), images.shape) / np.sqrt(64)
  _, pullback = jax.vjp(synth, ws)
  with jax.default_matmul_precision('highest'):
    jacobian = jax.jacrev(synth)(ws)                      # (2, 8, 8, 3, 2, num_ws, W)
    explicit = jnp.einsum('nhwc,nhwcmkv->mkv', y, jacobian)
    fast = pullback(y)[0]
  chex.assert_trees_all_close(fast, explicit, rtol=1e-4, atol=1e-5 * float(jnp.abs(explicit).max()))
  lengths = losses.path_lengths(fast)
  assert lengths.shape == (2,)
  np.testing.assert_allclose(lengths, np.sqrt(np.mean(np.sum(np.asarray(explicit) ** 2, 2), 1)),
                             rtol=1e-4)


def test_lazy_path_length_gates_the_penalty_and_the_mean():
  p = _toy_params(jax.random.key(0))
  z = jax.random.normal(jax.random.key(1), (4, Z))
  term = losses.lazy(2.0 * losses.path_length_term, 4)
  assert term.needs_generator
  state = losses.path_length_term.init_state()
  assert jax.tree.map(float, state) == {'path_length': {'mean': 0.0}}

  def at(step, state):
    return jax.jit(lambda s, st: term.g_terms_and_state(losses.LossInputs(
        fake_logits=jnp.zeros(8), generator=_toy_access(p, z), rng=jax.random.key(2),
        state=st, step=s)))(jnp.int32(step), state)

  eager, eager_updates = losses.PathLength().g_terms_and_state(losses.LossInputs(
      fake_logits=jnp.zeros(8), generator=_toy_access(p, z), rng=jax.random.key(2), state=state))
  for step in (0, 4, 8):   # computed, weighted 2 x gain 4
    terms, updates = at(step, state)
    np.testing.assert_allclose(terms['path_length'], 8.0 * eager['path_length'], rtol=1e-6)
    chex.assert_trees_all_close(updates, eager_updates, rtol=1e-6)
  for step in (1, 2, 3, 5):   # skipped: zero, and the mean stays
    terms, updates = at(step, state)
    assert float(terms['path_length']) == 0.0
    chex.assert_trees_all_equal(updates, state)


def test_path_length_refusals():
  inputs = losses.LossInputs(fake_logits=jnp.zeros(4), rng=jax.random.key(0),
                             state=losses.path_length_term.init_state())
  with pytest.raises(errors.ConfigError, match='LossInputs.generator'):
    losses.path_length_term.g_terms(inputs)
  sneaky = losses.term('sneaky', g=lambda i: i.generator.styles(None, None))
  with pytest.raises(errors.ConfigError, match='without declaring it'):
    sneaky.g_terms(inputs)
  with pytest.raises(errors.ConfigError, match='decay'):
    losses.PathLength(decay=0.0)
  with pytest.raises(errors.ConfigError, match='batch_shrink'):
    losses.PathLength(batch_shrink=0)
  config = tiny_config('digits', **{'loss.path_length': 2.0})
  experiment = jaxgan.build(config)
  with pytest.raises(errors.ConfigError, match='no `styles` and `synthesize`'):
    experiment.train_step()
  for key, value, match in (('loss.path_length', -1.0, 'path_length'),
                            ('loss.pl_decay', 0.0, 'pl_decay'),
                            ('loss.pl_batch_shrink', 0, 'pl_batch_shrink'),
                            ('loss.g_regularizer_interval', 0, 'g_regularizer_interval'),
                            ('loss.reg_phases', 'sometimes', 'reg_phases')):
    bad = tiny_config('digits', **{'loss.path_length': 2.0, key: value})
    with pytest.raises(errors.ConfigError, match=match):
      jaxgan.build(bad)
  # Path length keys without path length, separate phases without a lazy term.
  with pytest.raises(errors.ConfigError, match='path length regularisation, which is off'):
    jaxgan.build(tiny_config('digits', **{'loss.g_regularizer_interval': 4}))
  with pytest.raises(errors.ConfigError, match='none is lazy'):
    jaxgan.build(tiny_config('digits', **{'loss.reg_phases': 'separate',
                                          'loss.regularizers': {'r1': 1.0},
                                          'model.d_norm': 'layer'}))


def test_path_length_from_config():
  config = tiny_config('digits', **{'loss.path_length': 2.0, 'loss.g_regularizer_interval': 4,
                                    'loss.regularizers': {'r1': 0.5},
                                    'loss.regularizer_interval': 16,
                                    'loss.reg_phases': 'separate'})
  loss = losses.from_config(config.loss)
  assert repr(loss) == ('non_saturating + lazy(0.5 * r1, every=16, separate=True) + '
                        'lazy(2 * path_length, every=4, separate=True)')
  main, separate = losses.separate_phases(loss)
  assert repr(main) == 'non_saturating'
  assert [p.every for p in separate] == [16, 4]
  assert loss.init_state() == {'path_length': {'mean': 0.0}}
  joined = losses.from_config(tiny_config('digits', **{'loss.path_length': 2.0}).loss)
  assert repr(joined) == 'non_saturating + 2 * path_length'
  assert losses.separate_phases(joined)[0] is joined


# --- the separate regularisation phases ----------------------------------------------------------

def _mlp_parts(loss, every_g=2):
  gen, disc = models.MLPGenerator(hidden=8, depth=1), models.MLPDiscriminator(hidden=8, depth=1)
  tx = optax.adam(0.01, b1=0.0, b2=0.99)
  state = state_lib.create(gen, disc, tx, tx, z_dim=2, example_shape=(2,), seed=3,
                           loss_state=loss.init_state())
  step = steps.make_train_step(gen, disc, loss, tx, tx, z_dim=2, devices=jax.devices()[:1])
  return gen, disc, tx, state, step


def _g_reg(i):
  return jnp.mean(i.fake ** 2)


@pytest.mark.slow
@pytest.mark.parametrize('step_index', [0, 1])
def test_separate_phases_equal_hand_written_adam_steps(step_index):
  r1 = losses.lazy(0.5 * losses.r1_term, 2, separate=True)
  g_reg = losses.lazy(0.3 * losses.term('g_reg', g=_g_reg), 2, separate=True)
  loss = losses.non_saturating + r1 + g_reg
  gen, disc, tx, state0, step = _mlp_parts(loss)
  _, _, _, _, main_step = _mlp_parts(losses.non_saturating)
  state0 = jax.device_get(state0.replace(step=jnp.int32(step_index)))   # host copies: the
  batch = {'image': jax.random.normal(jax.random.key(7), (1, 1, 8, 2)),  # step donates its own
           'label': jnp.zeros((1, 1, 8), jnp.int32)}
  got, metrics = step(state0, batch)

  # The reference: the main-only step's critic update, then (on a regularisation step) a
  # second Adam step on 2 x 0.5 x R1 at the updated critic, same real batch.
  main, _ = main_step(state0, batch)
  d_params, d_opt = main.d_params, main.d_opt_state
  real = batch['image'][0, 0]
  if step_index % 2 == 0:
    r1_grads = jax.grad(lambda q: 2 * 0.5 * losses.r1_penalty(
        critic=lambda x: disc.apply({'params': q}, x, train=True), real=real))(d_params)
    deltas, d_opt = tx.update(r1_grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, deltas)
  chex.assert_trees_all_close(got.d_params, d_params, rtol=1e-6, atol=1e-7)
  chex.assert_trees_all_close(got.d_opt_state, d_opt, rtol=1e-6, atol=1e-7)

  # G: the main update (against this step's critic), then a second Adam step on 2 x 0.3 x
  # mean(G(z)^2) at the updated generator, z the main update's (the step's keys, device 0).
  g_key = jax.random.split(jax.random.fold_in(state0.key, state0.step))[1]
  keys = jax.vmap(jax.random.split)(jax.vmap(jax.random.fold_in, (None, 0))(g_key,
                                                                            jnp.arange(8)))
  z = jax.vmap(lambda k: jax.random.normal(k, (2,)))(keys[:, 0])
  ns = lambda q: losses.non_saturating_g(fake_logits=disc.apply(
      {'params': got.d_params}, gen.apply({'params': q}, z, train=True), train=True))
  deltas, g_opt = tx.update(jax.grad(ns)(state0.g_params), state0.g_opt_state, state0.g_params)
  g_params = optax.apply_updates(state0.g_params, deltas)
  if step_index % 2 == 0:
    reg = lambda q: 2 * 0.3 * jnp.mean(gen.apply({'params': q}, z, train=True) ** 2)
    deltas, g_opt = tx.update(jax.grad(reg)(g_params), g_opt, g_params)
    g_params = optax.apply_updates(g_params, deltas)
  chex.assert_trees_all_close(got.g_params, g_params, rtol=1e-6, atol=1e-7)
  chex.assert_trees_all_close(got.g_opt_state, g_opt, rtol=1e-6, atol=1e-7)
  regularised = step_index % 2 == 0   # logged with their gain on the phases' steps, else 0
  assert (float(metrics['d/r1'][0]) > 0) == regularised
  assert (float(metrics['g/g_reg'][0]) > 0) == regularised


def test_separate_phases_refuse_two_intervals_for_one_player():
  loss = (losses.non_saturating + losses.lazy(losses.r1_term, 2, separate=True)
          + losses.lazy(losses.term('r1_again', d=lambda i: jnp.mean(i.real_logits ** 2)), 4,
                        separate=True))
  _, _, _, state, step = _mlp_parts(loss)
  batch = {'image': jnp.zeros((1, 1, 8, 2)), 'label': jnp.zeros((1, 1, 8), jnp.int32)}
  with pytest.raises(errors.ConfigError, match='one interval'):
    step(state, batch)


# --- a tiny StyleGAN2 with both, through jaxgan.train --------------------------------------------

def _tiny_config(**overrides):
  config = tiny_config('digits', **{'train.batch_size': 16, 'model.num_classes': 10,
                                    'log.samples_every': 2, **overrides})
  config.model.name = 'stylegan2'
  config.model.g_width = config.model.d_width = None
  config.model.z_dim = Z
  config.model.style_mixing_prob = 0.9
  config.loss.name = 'non_saturating'
  config.loss.regularizers = {'r1': 0.5}
  config.loss.regularizer_interval = 2
  config.loss.path_length = 2.0
  config.loss.g_regularizer_interval = 2
  config.loss.reg_phases = 'separate'
  config.optim.b1, config.optim.b2 = 0.0, 0.99
  config.optim.d_reg_interval = config.optim.g_reg_interval = 2
  return config


def _tiny_experiment(config):
  experiment = jaxgan.build(config)
  assert experiment.generator.style_mixing_prob == 0.9
  return experiment.replace(
      generator=_generator(style_mixing_prob=0.9).clone(image_size=32, num_classes=10,
                                                        noise_mode='random', channel_base=32),
      discriminator=sg.Discriminator(image_size=32, num_classes=10, channel_base=32,
                                     mbstd_group_size=2, mapping_layers=2))


def _at_8px(experiment):
  """The experiment at 8x8 on random images (each of its programs compiles in about a minute)."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
  source = data.ArraySource(images, rng.integers(0, 10, 64), seed=0, num_classes=10)
  return experiment.replace(data=source, generator=experiment.generator.clone(image_size=8),
                            discriminator=experiment.discriminator.clone(image_size=8))


@pytest.mark.slow
@pytest.mark.parametrize('phase_order,d_steps', [('g_first', 1), ('d_first', 2)])
def test_w_avg_moves_in_every_generator_pass_of_the_official_phases(phase_order, d_steps):
  """The official mapping moves w_avg in every run_G of an iteration (loss.py): Gmain, Greg's
  path length batch and each Dmain's fakes; not in Dreg (no G) nor in style mixing's second
  mapping (skip_w_avg_update). With a mapping that gives one w* for every z (its first
  layer's weights zero, its biases random) and a generator optimiser that does nothing, each
  pass takes w_avg from a to w* + beta (a - w*); from w_avg = 0, after k passes w_avg =
  w* (1 - beta^k). Step 0 runs both lazy phases: 1 + 1 + d_steps passes; step 1 skips them:
  1 + d_steps."""
  beta = 0.5
  experiment = _at_8px(_tiny_experiment(_tiny_config(**{
      'train.phase_order': phase_order, 'train.d_steps': d_steps})))
  experiment = experiment.replace(generator=experiment.generator.clone(w_avg_beta=beta),
                                  g_optimizer=optax.set_to_zero())
  assert steps.moving_state(experiment.generator) == ('w_avg',)
  assert steps.moving_state(experiment.generator.clone(w_avg_beta=None)) == ()
  assert steps.moving_state(experiment.discriminator) == ()
  state = experiment.init_state()
  mapping = jax.device_get(state.g_params['mapping'])
  keys = iter(jax.random.split(jax.random.key(5), 20))
  # Biases of order 1 after the layers' learning-rate multiplier (0.01) scales them.
  scale = 1 / experiment.generator.mapping_lr_multiplier
  mapping = {name: {'kernel': (0 * layer['kernel'] if name == 'fc0' else layer['kernel']),
                    'bias': scale * jax.random.normal(next(keys), layer['bias'].shape)}
             for name, layer in mapping.items()}
  state = state.replace(g_params={**state.g_params, 'mapping': mapping})
  z = jax.random.normal(jax.random.key(6), (3, Z))
  ws = experiment.generator.apply({'params': state.g_params, **state.g_state}, z,
                                  jnp.arange(3), train=False, method='map')
  w_star = np.asarray(ws[0, 0])
  np.testing.assert_array_equal(np.asarray(ws), np.broadcast_to(w_star, ws.shape))
  assert np.abs(w_star).min() > 1e-3
  step = experiment.train_step(jax.devices()[:1])
  passes = 0
  for index, runs_phases in enumerate([True, False]):
    state, _ = step(state, host_batch(experiment, index, 1))
    passes += 1 + d_steps + int(runs_phases)
    w_avg = np.asarray(jax.device_get(state.g_state['w_avg']['mapping']['w_avg']))
    np.testing.assert_allclose(w_avg, w_star * (1 - beta ** passes), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_a_tiny_stylegan2_with_path_length_and_mixing_trains_and_resumes_bit_exact(tmp_path):
  overrides = {'train.num_steps': 4, 'train.checkpoint_every': 2}
  straight = jaxgan.train(_tiny_experiment(_tiny_config(**overrides)), str(tmp_path / 'a'))
  jaxgan.train(_tiny_experiment(_tiny_config(**{**overrides, 'train.num_steps': 2})),
               str(tmp_path / 'b'))
  resumed = jaxgan.train(_tiny_experiment(_tiny_config(**overrides)), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
  records = [json.loads(line) for line in
             (tmp_path / 'a' / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2, 3, 4]
  # Steps 0 and 2 (records 1 and 3) regularise, 1 and 3 do not.
  for r in records:
    on = r['step'] % 2 == 1
    assert all(math.isfinite(r[k]) for k in ('g/path_length', 'd/r1'))
    assert (r['g/path_length'] > 0) == on and (r['d/r1'] > 0) == on
  # pl_mean is checkpointed term state: it moved from 0 and resumed exactly (above).
  assert float(straight.loss_state['path_length']['mean']) > 0
  # The noise strengths and the tracked w_avg trained (noise reached the images), and the
  # loop drew its sample grids.
  strengths = [v for p, v in jax.tree_util.tree_leaves_with_path(straight.g_params)
               if 'noise_strength' in jax.tree_util.keystr(p)]
  assert strengths and any(float(s) != 0 for s in strengths)
  assert np.any(np.asarray(straight.g_state['w_avg']['mapping']['w_avg']) != 0)
  assert sorted(os.listdir(tmp_path / 'a' / 'samples')) == ['step_0000002.png',
                                                            'step_0000004.png']


def test_stylegan2_config_keys_reach_the_networks():
  experiment = jaxgan.build(_tiny_config(**{'model.stylegan2_cfg': 'paper256'}))
  assert experiment.generator.cfg == experiment.discriminator.cfg == 'paper256'
  with pytest.raises(errors.ConfigError, match='stylegan2_cfg'):
    jaxgan.build(_tiny_config(**{'model.stylegan2_cfg': 'paper257'}))


# --- configs -------------------------------------------------------------------------------------

def test_paper256_config_is_the_official_cfg(tmp_path):
  for i in range(3):
    Image.fromarray(np.full((256, 256, 3), 40 * i, np.uint8)).save(tmp_path / f'{i}.png')
  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'stylegan2_paper256.py'))
  spec = sg.CFG_SPECS['paper256']
  assert (config.model.name, config.model.stylegan2_cfg, config.data.image_size) == (
      'stylegan2', 'paper256', 256)
  assert config.train.batch_size == spec.mb == 64
  assert config.optim.g_lr == config.optim.d_lr == spec.lrate
  assert dict(config.loss.regularizers) == {'r1': spec.gamma / 2}
  assert (config.loss.path_length, config.model.style_mixing_prob) == (2.0, 0.9)
  assert (config.loss.regularizer_interval, config.loss.g_regularizer_interval) == (16, 4)
  assert (config.optim.d_reg_interval, config.optim.g_reg_interval) == (16, 4)
  assert config.loss.reg_phases == 'separate'
  assert config.train.phase_order == 'g_first'      # Gmain, Greg, then Dmain, Dreg
  assert (config.train.ema_half_life_kimg, config.train.ema_rampup) == (spec.ema, 0.0)
  assert config.train.num_steps == spec.kimg * 1000 // spec.mb
  config.data.path = str(tmp_path)
  experiment = jaxgan.build(config)
  assert experiment.generator.cfg == 'paper256' and experiment.generator.style_mixing_prob == 0.9
  assert experiment.discriminator.cfg == 'paper256'
  assert repr(experiment.loss) == ('non_saturating + lazy(0.5 * r1, every=16, separate=True) + '
                                   'lazy(2 * path_length, every=4, separate=True)')
  assert experiment.ema == jaxgan.EMA(half_life_images=spec.ema * 1000)
  # --aug=ada --augpipe=bgc: the official pipeline with ADA's adaptive p from 0.
  assert experiment.augmentation == augment.ADAPipeline(
      pipe=augment_pipe.AugmentPipe.from_preset('bgc'), probability=0.0,
      ada=augment.ADA(target=0.6, interval=4, kimg=500.0))


def test_cifar_config_takes_the_separate_dreg_phase():
  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'stylegan2_ada_cifar10.py'))
  assert config.loss.reg_phases == 'separate'
  assert config.loss.path_length == 0.0 and config.model.style_mixing_prob in (None, 0.0)
  loss = losses.from_config(config.loss)
  assert repr(loss) == 'non_saturating + lazy(0.005 * r1, every=16, separate=True)'
