"""The per-replica GAN train step, mapped over devices, and the sampling function.

One step = `d_steps` discriminator updates (each on its own real batch and fresh z) then one
generator update, or with phase_order='g_first' the generator update then the discriminator
updates against the updated generator (StyleGAN2's official order); each player's keys are
the same in either order. Gradients are averaged over the device axis with
`lax.pmean`; batch norm computes its statistics over the global batch (`axis_name`), and
every non-parameter collection is pmean-ed after each update on purpose, so the state leaving
the step is identical on all devices (it is returned unmapped).

Keys: step s uses k_s = fold_in(base, s), split once per use. Per-example draws (z, fake
labels) use fold_in(k, global example index), the index being axis_index * b + j on device
i: each device derives its own keys, and the noise of example j of the global batch does not
depend on how many devices share the batch, so a run on 8 devices follows the same
trajectory as on 1 (to float rounding). Other per-replica randomness (a regulariser's
interpolation weights) uses fold_in(k, axis_index), as does the noise of a generator that
draws it in its forward pass (its `rng_streams`, StyleGAN2's 'noise': a key split off each
update's key only for such a generator, so other models draw what they drew before;
StyleGAN2's style mixing draws from its 'mixing' stream alike). A loss that
`needs_generator` (path length) gets, in G's update only, keys split off G's key: fresh
latents per global example index, the generator's streams per device, and `LossInputs.rng`
per device for its own draws.

Lazy regularisers marked `separate` (`losses.lazy(..., separate=True)`) are left out of the
main updates; on the steps of their interval each player takes a second optimiser step on
them alone, from its just-updated parameters (critic: the same real batch and draws; the
official 'Dreg' / 'Greg' phases), under a `lax.cond` on the step.

Differentiable augmentation (an `augment.Augmentation`, optional): every image D sees goes
through it, real and fake, in D's updates and in G's (G's gradient flows through it), and
inside the regularisers' critic functions (the real batch's draw for `critic`, the fake
batch's for `fake_critic`). Its per-example keys are example_keys of keys split from the
update's key only when it is on, so a step without augmentation draws exactly what it drew
before augmentation existed. After the critic updates the step reduces r_t =
E[sign(D(x_real))] over updates and devices (logged as aug/rt) and passes it to the
augmentation's `update_state` (ADA's adaptive p, logged as aug/p).
"""

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import errors
from jaxgan import losses as losses_lib
from jaxgan import optim
from jaxgan.state import GANState

AXIS = 'batch'


def apply_model(module: nn.Module, params, state, *args, train: bool, rngs=None):
  """module(*args) with `state` collections; returns (output, new_state).

  In training every state collection is mutable and its update is returned; in evaluation
  nothing is (batch norm uses running averages, spectral norm its frozen vectors). `rngs`:
  the module's RNG streams (`rng_streams`), e.g. {'noise': key}; None for most models.
  """
  variables = {'params': params, **state}
  if train and state:
    out, new_state = module.apply(variables, *args, train=True, mutable=list(state), rngs=rngs)
    return out, dict(new_state)
  return module.apply(variables, *args, train=train, rngs=rngs), state


def rng_streams(module: nn.Module) -> tuple[str, ...]:
  """The RNG streams a model draws from in its forward pass (its `rng_streams` attribute,
  e.g. StyleGAN2's ('noise',) for its noise inputs); () for most models."""
  return tuple(getattr(module, 'rng_streams', ()))


def moving_state(module: nn.Module) -> tuple[str, ...]:
  """The state collections every training-mode pass of a model moves, whichever update runs
  it (its `moving_state` attribute, e.g. StyleGAN2's ('w_avg',), which the official loop
  updates in every phase that runs G); () for most models, whose state (batch statistics)
  changes in the generator's update only."""
  return tuple(getattr(module, 'moving_state', ()))


def _rngs(module: nn.Module, key: Optional[jax.Array]):
  """{stream: fold_in(key, i)} for the module's streams, None when it has none."""
  streams = rng_streams(module)
  if not streams:
    return None
  return {name: jax.random.fold_in(key, i) for i, name in enumerate(streams)}


def example_keys(key: jax.Array, b: int) -> jax.Array:
  """Keys of this device's b examples: fold_in(key, global index), index = axis_index*b + j."""
  return jax.vmap(jax.random.fold_in, (None, 0))(key, lax.axis_index(AXIS) * b + jnp.arange(b))


def _sync_state(state):
  """pmean of every floating leaf of the mutable collections (identical on all devices)."""
  return jax.tree.map(
      lambda x: lax.pmean(x, AXIS) if jnp.issubdtype(x.dtype, jnp.floating) else x, state)


def _f32(logits: jax.Array) -> jax.Array:
  """Losses are computed in float32 whatever the models' compute dtype (a no-op in float32)."""
  return logits.astype(jnp.float32)


def _mean_terms(terms: dict, prefix: str) -> dict:
  out = {f'{prefix}/{k}': v for k, v in terms.items()}
  out[f'{prefix}/total'] = sum(terms.values(), jnp.zeros(()))
  return out


def _half_life_decay(step: jax.Array, batch_size, half_life, rampup: Optional[float]
                     ) -> jax.Array:
  """StyleGAN2-ADA's EMA beta before update `step` (official training_loop.py, 'Update G_ema'):
  h = ema_kimg * 1000, h = min(h, cur_nimg * ema_rampup) with cur_nimg = step * batch the
  images seen before this update, beta = 0.5 ** (batch / max(h, 1e-8)). `half_life` may be a
  function of the step (R3GAN's cosine ramp of the half-life, training_loop.py line 351)."""
  batch = jnp.asarray(batch_size, jnp.float32)
  h = jnp.asarray(half_life(step) if callable(half_life) else half_life, jnp.float32)
  if rampup is not None:
    # In float32: step * batch passes int32's range after ~2e9 images.
    h = jnp.minimum(h, step.astype(jnp.float32) * batch * rampup)
  return 0.5 ** (batch / jnp.maximum(h, 1e-8))


def _separate_phase(parts, loss_fn, params, opt_state, tx, step, loss_state, player: str,
                    project=lambda p: p, carried=None):
  """The official loop's 'Dreg' / 'Greg' phase (training_loop.py: a phase of interval k runs
  when batch_idx % k == 0, its loss times gain = k, then `opt.step()`): the `parts` (lazy,
  separate) that give this player terms, ungated, in an optimiser step of their own from
  `params`, under a `lax.cond` on the step (skipped steps leave the parameters, the optimiser
  state, the term states and `carried` alone). `loss_fn(params, term) -> (total, (terms,
  state updates, carried'))`: `carried` is a state the phase moves besides the term states
  (the generator's moving state; None: none). Returns (params, opt_state, terms (zeros when
  skipped), state updates, carried)."""
  def gives_terms(part):   # traced only for the structure: does the part give terms here?
    return bool(jax.eval_shape(lambda q: loss_fn(q, part.ungated()), params)[1][0])

  own = [part for part in parts if gives_terms(part)]
  if not own:
    return params, opt_state, {}, {}, carried
  everies = sorted({p.every for p in own})
  if len(everies) > 1:
    raise errors.ConfigError(
        f'the {player}\'s separate lazy regularisers have intervals {everies}, but one '
        f'regularisation phase runs at one interval; give them one interval (as the official '
        f'G_reg_interval / D_reg_interval).')
  term = sum(p.ungated() for p in own)

  def run():
    grads, (terms, updates, new_carried) = jax.grad(loss_fn, has_aux=True)(params, term)
    grads = lax.pmean(grads, AXIS)
    deltas, new_opt_state = tx.update(grads, opt_state, params)
    return (project(optax.apply_updates(params, deltas)), new_opt_state, terms, updates,
            new_carried)

  shapes = jax.eval_shape(run)

  def skip():
    return (params, opt_state, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes[2]),
            {k: loss_state[k] for k in shapes[3]}, carried)

  return lax.cond(step % everies[0] == 0, run, skip)


def train_step(state: GANState, batch, *, generator: nn.Module, discriminator: nn.Module,
               loss: losses_lib.Term, tx_g: optax.GradientTransformation,
               tx_d: optax.GradientTransformation, z_dim: int, num_classes: int,
               d_clip: Optional[float], ema_decay: Optional[float], ema_start: int,
               augmentation: Optional[Any] = None, ema_half_life: Optional[float] = None,
               ema_rampup: Optional[float] = None, g_real_batch: str = 'shared',
               fake_labels: str = 'uniform', phase_order: str = 'd_first',
               ema_state: str = 'live'):
  """One GAN step on one replica. `batch` holds this replica's (d_steps, b, ...) slice, or
  with `g_real_batch='own'` (d_steps + 1, b, ...): the last batch is the generator update's
  real images (see `jaxgan.Loop`). `fake_labels`: the fakes' labels in a conditional step,
  'uniform' draws or 'real', those of the update's real batch (see `jaxgan.Loop`).
  `phase_order`: 'd_first', the critic updates then the generator's; 'g_first', the
  generator's update then the critic updates, against the updated generator (StyleGAN2's
  official Gmain, Greg, Dmain, Dreg; see `jaxgan.Loop`).

  `d_clip`: WGAN's clipping bound (None: off). `ema_decay`: the generator EMA's decay (None:
  no EMA; the state then holds none), averaging from step `ema_start`; or `ema_half_life`
  (images) and `ema_rampup` (None: none), StyleGAN2's decay computed from the step (see
  `jaxgan.EMA`). `ema_state`: 'live' (the EMA averages the parameters only) or 'average' (the
  generator's state too, into `state.ema_state`).
  """
  keeps_ema = ema_decay is not None or ema_half_life is not None
  averages_state = keeps_ema and ema_state == 'average'
  for held, kept, mismatch, args in (
      (state.ema_params, keeps_ema,
       ('an EMA of the generator but the step keeps none',
        'no EMA of the generator but the step keeps one'), ('ema', 'ema_decay')),
      (state.ema_state, averages_state,
       ('an EMA of the generator\'s state but the step averages none',
        'no EMA of the generator\'s state but the step averages it'),
       ('ema_state', 'ema_state'))):
    if kept != (held is not None):
      raise errors.ConfigError(
          f'the state holds {mismatch[kept]}; make the state and the step from one experiment '
          f'(experiment.init_state(), experiment.train_step()), or pass '
          f'state.create({args[0]}=...) and make_train_step({args[1]}=...) alike.')
  step_key = jax.random.fold_in(state.key, state.step)
  d_key, g_key = jax.random.split(step_key)
  images, labels = batch['image'], batch['label']
  own_real = g_real_batch == 'own'
  d_steps, b = images.shape[0] - int(own_real), images.shape[1]
  if d_steps < 1:
    raise errors.ConfigError(f'the batch holds {images.shape[0]} global batches; with '
                             f'g_real_batch={g_real_batch!r} the step takes d_steps + 1 '
                             f'(data.Layout(g_batch=True)).')
  device = lax.axis_index(AXIS)
  conditional = num_classes > 0
  augmenting = augmentation is not None
  # p for the whole step: the augmentation state as the step found it.
  p = augmentation.probability_of(state.augment_state) if augmenting else None

  def seen(x, k):
    """x as D sees it: augmented with per-example keys from k (unchanged when off)."""
    if not augmenting:
      return x
    return augmentation(x, example_keys(k, x.shape[0]), probability=p)

  # A generator that draws noise in its forward pass (rng_streams) gets a key split off each
  # update's key; a model without streams splits nothing, so its draws are unchanged. The
  # key is per device (fold_in(., axis_index)): the noise of an example depends on the device
  # count, unlike z (the model draws its noise for its whole per-device batch at once).
  g_draws_noise = bool(rng_streams(generator))
  # The generator's collections that every training pass moves (`moving_state`: StyleGAN2's
  # w_avg, which the official mapping updates in Gmain, Greg and Dmain alike) follow each
  # pass: G's update, its separate phase's generator passes and each critic update's fakes,
  # each pass's change averaged over devices. Its other state changes in G's update only.
  moving = tuple(c for c in moving_state(generator) if c in state.g_state)

  def moving_part(g_state):
    return {c: g_state[c] for c in moving}

  def moved(g_state, new_state):
    """g_state with the moving collections of a pass's new_state, agreed across devices."""
    new = {c: new_state[c] for c in moving if c in new_state}
    return {**g_state, **_sync_state(new)} if new else g_state

  def sync_rest(g_state):
    """g_state with its other collections agreed across devices (the moving ones are)."""
    return {k: v if k in moving else _sync_state(v) for k, v in g_state.items()}

  def noise_rngs(k):
    """(key left for the update, the generator's rngs or None)."""
    if not g_draws_noise:
      return k, None
    k, k_noise = jax.random.split(k)
    return k, _rngs(generator, jax.random.fold_in(k_noise, device))

  def update_keys(k):
    """(fake, regulariser, real-augmentation, fake-augmentation, T-draws) keys of an update."""
    if not augmenting:
      k_fake, k_reg = jax.random.split(k)
      return k_fake, k_reg, None, None, None
    k_fake, k_reg, k_aug = jax.random.split(k, 3)
    return (k_fake, k_reg) + tuple(jax.random.split(k_aug, 3))

  def draw(k, real_y=None, n=b):
    """z and the fakes' labels (None when unconditional) for this device's n examples: z
    keyed by global example index; the labels those of the update's real batch `real_y` (its
    first n; fake_labels='real'), or uniform draws keyed alike."""
    keys = jax.vmap(jax.random.split)(example_keys(k, n))
    z = jax.vmap(lambda kk: jax.random.normal(kk, (z_dim,)))(keys[:, 0])
    y = None
    if conditional:
      y = (real_y[:n] if fake_labels == 'real' else
           jax.vmap(lambda kk: jax.random.randint(kk, (), 0, num_classes))(keys[:, 1]))
    return z, y

  def clip(d_params):
    if d_clip is None:
      return d_params
    # WGAN's Algorithm 1, line 7: w <- clip(w, -c, c) after every critic update.
    # (projection_box's scalar bounds fail in optax 0.2.8's tree.map: pass bound trees.)
    return optax.projections.projection_box(
        d_params, jax.tree.map(lambda _: -d_clip, d_params),
        jax.tree.map(lambda _: d_clip, d_params))

  # Lazy regularisers in optimiser steps of their own (losses.lazy(..., separate=True)): the
  # main updates minimise `main_loss`, each player's separate phase the rest.
  main_loss, separate = losses_lib.separate_phases(loss)

  # --- discriminator updates ------------------------------------------------------------------
  def d_update(carry, xs, g_params, g_state):   # a critic update against this generator
    d_params, d_opt_state, d_state, loss_state = carry
    real, real_y, k = xs
    real_y = real_y if conditional else None
    k, g_rngs = noise_rngs(k)
    k_fake, k_reg, k_aug_real, k_aug_fake, k_aug_t = update_keys(k)
    k_reg = jax.random.fold_in(k_reg, device)
    z, fake_y = draw(k_fake, real_y)
    # G runs in training mode (batch statistics); of its state changes only the moving
    # collections are kept (the rest change in G's update only).
    fake, new_g_state = apply_model(generator, g_params, g_state, z, fake_y, train=True,
                                    rngs=g_rngs)
    g_state = moved(g_state, new_g_state)
    fake = lax.stop_gradient(fake)
    augment_fn = None
    if augmenting:
      def augment_fn(x, draw_index=0):   # bCR's T: always applied, a fresh draw per index
        keys = example_keys(jax.random.fold_in(k_aug_t, draw_index), x.shape[0])
        return augmentation(x, keys, probability=1.0)

    def d_loss_fn(params, term):
      real_logits, s = apply_model(discriminator, params, d_state, seen(real, k_aug_real),
                                   real_y, train=True)
      fake_logits, s = apply_model(discriminator, params, s, seen(fake, k_aug_fake), fake_y,
                                   train=True)
      real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
      critic = fake_critic = None
      if term.needs_critic:
        # The regulariser's forward passes leave the state alone. `critic` sees inputs as the
        # real batch was seen (its labels and augmentation draw), `fake_critic` as the fakes.
        critic = lambda x: _f32(apply_model(discriminator, params, s, seen(x, k_aug_real),
                                            real_y, train=True)[0])
        fake_critic = lambda x: _f32(apply_model(discriminator, params, s,
                                                 seen(x, k_aug_fake), fake_y, train=True)[0])
      inputs = losses_lib.LossInputs(
          fake_logits=fake_logits, real_logits=real_logits, real=real, fake=fake,
          critic=critic, rng=k_reg, state=loss_state, fake_critic=fake_critic,
          augment=augment_fn, step=state.step, device_mean=lambda x: lax.pmean(x, AXIS))
      terms = term.d_terms(inputs)
      total = sum(terms.values(), jnp.zeros(()))
      return total, (terms, s, real_logits, fake_logits)

    grads, (terms, new_d_state, real_logits, fake_logits) = jax.grad(
        d_loss_fn, has_aux=True)(d_params, main_loss)
    grads = lax.pmean(grads, AXIS)
    updates, d_opt_state = tx_d.update(grads, d_opt_state, d_params)
    d_params = clip(optax.apply_updates(d_params, updates))
    if separate:
      # The official 'Dreg' phase: the same minibatch, the updated critic, a step of its own.
      def d_phase_loss(params, term):
        total, (phase_terms, *_) = d_loss_fn(params, term)
        return total, (phase_terms, {}, None)

      d_params, d_opt_state, reg_terms, _, _ = _separate_phase(
          separate, d_phase_loss, d_params, d_opt_state, tx_d, state.step, loss_state,
          'critic', clip)
      terms = {**terms, **reg_terms}
    # Stateful terms see this update's logits (outside the gradient), then agree across devices.
    loss_state = _sync_state(loss.update_state(loss_state, losses_lib.LossInputs(
        fake_logits=lax.stop_gradient(fake_logits), real_logits=lax.stop_gradient(real_logits),
        real=real, fake=fake, rng=k_reg, state=loss_state, step=state.step)))
    metrics = _mean_terms(terms, 'd')
    metrics.update({'d/real_logit': real_logits.mean(), 'd/fake_logit': fake_logits.mean()})
    if augmenting:   # ADA's overfitting heuristic r_t on this replica's (augmented) reals
      metrics['aug/rt'] = jnp.mean(jnp.sign(real_logits))
    lr = optim.learning_rate(d_opt_state)
    if lr is not None:
      metrics['d/lr'] = lr
    return (d_params, d_opt_state, _sync_state(new_d_state), loss_state), metrics, g_state

  d_keys = jax.random.split(d_key, d_steps)

  def critic_updates(g_params, g_state, loss_state):
    """The step's critic updates against the generator (g_params, g_state), from the state's
    critic: ((params, opt state, state, loss state), the generator's state (its moving
    collections moved by the fakes' passes), metrics averaged over the updates)."""
    # Unrolled rather than lax.scan: XLA:CPU runs convolutions inside a while loop ~10x slower
    # (measured: 35 s vs 3 s for the 32x32 DCGAN step); d_steps is small (1 or 5).
    carry = (state.d_params, state.d_opt_state, state.d_state, loss_state)
    d_metrics = []
    for i in range(d_steps):
      carry, m, g_state = d_update(carry, (images[i], labels[i], d_keys[i]), g_params, g_state)
      d_metrics.append(m)
    return carry, g_state, jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics)

  # --- generator update -----------------------------------------------------------------------
  def generator_update(d_params, d_state, loss_state, g_state):
    """The step's generator update against the critic (d_params, d_state), from the state's
    generator params with state g_state: (params, opt state, state, loss state, terms)."""
    key, k_aug_g = g_key, None
    if augmenting:
      key, k_aug_g = jax.random.split(key)
    if loss.needs_generator:   # keys of a generator-side term's own draws (path length)
      key, k_gen = jax.random.split(key)
      # Its latents (per global example), the generator's streams and the term's own draws.
      k_gen_draw, k_gen_noise, k_gen_term = jax.random.split(k_gen, 3)
    key, g_rngs = noise_rngs(key)
    # The real batch of G's update (g_real_batch): 'own', the step's last; 'shared', that of
    # the critic update next to G's, the last when G follows the critic updates, the first
    # when G precedes them ('g_first': StyleGAN2's phases of an iteration share its reals).
    last = d_steps if own_real else d_steps - 1 if phase_order == 'd_first' else 0
    z, fake_y = draw(key, labels[last])
    real = real_logits = None
    if loss.g_needs_real:
      # Relativistic losses compare with D(x), scored by the critic G's update plays against
      # (in training mode; its state changes are discarded, as for fakes). 'shared': seen as
      # that critic update sees it (the same augmentation draw); 'own': the step's last
      # batch, drawn for this update alone, with a fresh draw (R3GAN's official G phase).
      real, real_y = images[last], (labels[last] if conditional else None)
      if own_real:   # the key of one more batch than the critic updates' (d_keys: the first ones)
        k_aug_real = jax.random.split(d_key, d_steps + 1)[d_steps] if augmenting else None
      else:
        update_key = noise_rngs(d_keys[last])[0]   # the key update_keys splits in that update
        k_aug_real = update_keys(update_key)[2]
      real_logits = _f32(apply_model(discriminator, d_params, d_state, seen(real, k_aug_real),
                                     real_y, train=True)[0])

    def generator_access(params, g_state):
      """(the generator as a generator-side term runs it, `losses.GeneratorAccess`; a
      function giving g_state as the term's `styles` calls left it). Those calls move the
      moving collections, each from the state the one before left (the official Greg
      phase's run_G moves w_avg); other state changes are dropped."""
      rngs = (_rngs(generator, jax.random.fold_in(k_gen_noise, device)) if g_draws_noise
              else None)
      current = dict(g_state)   # the state each call sees, moved by the calls before it
      mutable = list(g_state) or False

      def styles(z, labels):
        out = generator.apply({'params': params, **current}, z, labels, train=True, rngs=rngs,
                              method='styles', mutable=mutable)
        if not mutable:
          return out
        current.update(moved(current, out[1]))
        return out[0]

      def synthesize(ws):
        out = generator.apply({'params': params, **current}, ws, rngs=rngs,
                              method='synthesize', mutable=mutable)
        return out[0] if mutable else out

      return (losses_lib.GeneratorAccess(draw=lambda n: draw(k_gen_draw, labels[last], n),
                                         styles=styles, synthesize=synthesize, batch=b),
              lambda: dict(current))

    def g_loss_fn(params, term, g_state, main=True):
      """G's loss with term from g_state: (total, (terms, the new state, term state
      updates)). The main update's state is its forward pass's (then the moves of the term's
      generator passes); a separate phase's is g_state moved by the term's passes alone (its
      forward pass is not one of the official phase's)."""
      fake, new_g_state = apply_model(generator, params, g_state, z, fake_y, train=True,
                                      rngs=g_rngs)
      fake_logits, _ = apply_model(discriminator, d_params, d_state, seen(fake, k_aug_g), fake_y,
                                   train=True)
      after = moved(new_g_state, new_g_state) if main else g_state
      access = rng = None
      if term.needs_generator:
        access, accessed = generator_access(params, {**g_state, **moving_part(after)})
        rng = jax.random.fold_in(k_gen_term, device)
      terms, updates = term.g_terms_and_state(losses_lib.LossInputs(
          fake_logits=_f32(fake_logits), real_logits=real_logits, real=real, fake=fake,
          state=loss_state, step=state.step, generator=access, rng=rng))
      if access is not None:
        after = {**after, **moving_part(accessed())}
      return sum(terms.values(), jnp.zeros(())), (terms, after, updates)

    grads, (g_terms, g_state, g_updates) = jax.grad(g_loss_fn, has_aux=True)(
        state.g_params, main_loss, g_state)
    g_state = sync_rest(g_state)
    grads = lax.pmean(grads, AXIS)
    updates, g_opt_state = tx_g.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    if separate:
      # The official 'Greg' phase: fresh latents, the updated generator, a step of its own.
      def g_phase_loss(params, term):
        total, (phase_terms, after, phase_updates) = g_loss_fn(params, term, g_state,
                                                               main=False)
        return total, (phase_terms, phase_updates, moving_part(after))

      g_params, g_opt_state, reg_terms, reg_updates, phase_moved = _separate_phase(
          separate, g_phase_loss, g_params, g_opt_state, tx_g, state.step,
          {**loss_state, **g_updates}, 'generator', carried=moving_part(g_state))
      g_state = {**g_state, **phase_moved}
      g_terms, g_updates = {**g_terms, **reg_terms}, {**g_updates, **reg_updates}
    if g_updates:   # generator-side term states (path length's mean), agreed across devices
      loss_state = {**loss_state, **_sync_state(g_updates)}
    return g_params, g_opt_state, g_state, loss_state, g_terms

  def adapt(d_metrics):
    """The augmentation state after the critic updates: r_t of the whole step, identical on
    every device (the metrics get its device mean)."""
    if not augmenting:
      return d_metrics, state.augment_state
    d_metrics = {**d_metrics, 'aug/rt': lax.pmean(d_metrics['aug/rt'], AXIS)}
    return d_metrics, augmentation.update_state(
        state.augment_state, rt=d_metrics['aug/rt'], num_real=d_steps * b * lax.psum(1, AXIS))

  # --- the step: the players' updates in the order phase_order gives ----------------------------
  if phase_order == 'd_first':
    (d_params, d_opt_state, d_state, loss_state), g_state, d_metrics = critic_updates(
        state.g_params, state.g_state, state.loss_state)
    d_metrics, augment_state = adapt(d_metrics)
    g_params, g_opt_state, g_state, loss_state, g_terms = generator_update(
        d_params, d_state, loss_state, g_state)
  else:   # StyleGAN2's official order: Gmain, Greg, then Dmain, Dreg against the new generator
    g_params, g_opt_state, g_state, loss_state, g_terms = generator_update(
        state.d_params, state.d_state, state.loss_state, state.g_state)
    (d_params, d_opt_state, d_state, loss_state), g_state, d_metrics = critic_updates(
        g_params, g_state, loss_state)
    d_metrics, augment_state = adapt(d_metrics)

  # Generator EMA (StudioGAN / compare_gan); a copy of the live params before ema_start.
  ema_params = new_ema_state = None
  if keeps_ema:
    if ema_decay is None:
      decay = _half_life_decay(state.step, b * lax.psum(1, AXIS), ema_half_life, ema_rampup)
    else:
      decay = ema_decay
    decay = jnp.where(state.step >= ema_start, decay, 0.0)

    def average(e, v):
      return decay * e + (1.0 - decay) * v

    ema_params = jax.tree.map(average, state.ema_params, g_params)
    if averages_state:   # StudioGAN's Ema: every floating buffer lerped, the others copied
      new_ema_state = jax.tree.map(
          lambda e, v: average(e, v) if jnp.issubdtype(v.dtype, jnp.floating) else v,
          state.ema_state, g_state)

  metrics = {**d_metrics, **_mean_terms(g_terms, 'g')}
  lr = optim.learning_rate(g_opt_state)
  if lr is not None:
    metrics['g/lr'] = lr
  if augmenting:
    metrics.update({f'aug/{k}': v for k, v in augmentation.metrics(augment_state).items()})
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params, g_opt_state=g_opt_state,
      d_opt_state=d_opt_state, g_state=g_state, d_state=d_state,
      ema_params=ema_params, loss_state=loss_state, augment_state=augment_state,
      ema_state=new_ema_state)
  return new_state, metrics


def input_shardings(devices: Optional[list] = None):
  """(state sharding, batch sharding) to place the step's inputs with, on `devices` (default all).

  The mesh axis is named AXIS, as the step's own, so a state the step returns carries exactly
  the sharding of the state it took and the step compiles once. Inputs placed on a mesh whose
  axis has another name are equivalent but not equal, and the second step compiles again
  (tests/test_steady_state.py); `TrainStep` places its inputs itself.
  """
  mesh = jax.sharding.Mesh(np.asarray(devices or jax.devices()), (AXIS,))
  return (jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
          jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS)))


class TrainStep:
  """The train step mapped over devices: `step(state, batch) -> (state, metrics)`.

  The state goes in and out unmapped (identical on every device) and is donated; the batch is
  split along its leading device axis; metrics come out per device (leading axis). Inputs
  that are not yet placed as the step places them (a state from `state.create`, a numpy
  batch) are placed first, so the step compiles once whatever the caller passes.

  The mapping is what `jax.pmap(fn, in_axes=(None, 0), out_axes=(None, 0))` does in jax 0.10
  (a jit of a shard_map over a one-axis mesh, each replica's block squeezed), written with the
  public `jax.jit` and `jax.shard_map` so that this object owns its compiled executables: they
  live in `self._compiled` (one per input signature) and are freed with the object. Through
  jax.pmap they outlived the step (pmap caches per function in a cache whose value holds its
  key: ~25 MB and ~650 memory maps per step object, tests/test_memory.py).
  """

  def __init__(self, fn: Callable, devices: Optional[list] = None):
    self.devices = list(devices or jax.devices())
    self.state_sharding, self.batch_sharding = input_shardings(self.devices)
    self._fn = fn
    mesh = self.state_sharding.mesh
    replicated, split = jax.sharding.PartitionSpec(), jax.sharding.PartitionSpec(AXIS)

    def mapped_step(state, batch):
      # One replica: its (1, d_steps, b, ...) block of the batch, squeezed as pmap does.
      state, metrics = fn(state, jax.tree.map(lambda x: x[0], batch))
      return state, jax.tree.map(lambda x: x[None], metrics)

    # check_vma=False as in pmap: the state is returned from one replica, and train_step
    # makes it identical on all (pmean of gradients and of every mutable collection).
    self._jitted = jax.jit(
        jax.shard_map(mapped_step, mesh=mesh, in_specs=(replicated, split),
                      out_specs=(replicated, split), check_vma=False),
        donate_argnums=(0,), in_shardings=(self.state_sharding, self.batch_sharding),
        out_shardings=(self.state_sharding, self.batch_sharding))
    self._compiled = {}

  def _place(self, tree, sharding):
    first = jax.tree.leaves(tree)[0]
    if isinstance(first, jax.Array) and first.sharding == sharding:
      return tree
    if jax.process_count() > 1:
      return jax.tree.map(
          lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)
    return jax.device_put(tree, sharding)

  def place(self, state, batch=None):
    """(state, batch) placed as the step takes them (no copy when they already are)."""
    state = self._place(state, self.state_sharding)
    if batch is not None:
      batch = self._place(batch, self.batch_sharding)
    return state, batch

  def __call__(self, state: GANState, batch):
    state, batch = self.place(state, batch)
    leaves, tree = jax.tree.flatten((state, batch))
    signature = (tree, tuple((x.shape, x.dtype, x.weak_type, x.sharding) for x in leaves))
    compiled = self._compiled.get(signature)
    if compiled is None:
      compiled = self._compiled[signature] = self._jitted.lower(state, batch).compile()
    return compiled(state, batch)

  def lower(self, state: GANState, batch):
    """The step lowered for these inputs (`.compile()`, `.cost_analysis()`, `.as_text()`)."""
    state, batch = self.place(state, batch)
    return self._jitted.lower(state, batch)


G_REAL_BATCHES = ('shared', 'own')
FAKE_LABELS = ('uniform', 'real')
PHASE_ORDERS = ('d_first', 'g_first')
# What a generator EMA does with the generator's state (see jaxgan.EMA).
EMA_STATES = ('live', 'average')


def check_g_real_batch(g_real_batch, loss: losses_lib.Term, where: str = 'g_real_batch'
                       ) -> None:
  """ConfigError unless `g_real_batch` is 'shared' or 'own', and 'own' only with a loss whose
  generator update reads real images (`g_needs_real`); `where` names the setting."""
  errors.check_arg(where, g_real_batch, G_REAL_BATCHES)
  if g_real_batch == 'own' and not loss.g_needs_real:
    raise errors.ConfigError(
        f'{where}=\'own\' draws a real batch for the generator\'s update, but the loss '
        f'{loss!r} reads no real images there (only relativistic losses such as rpgan do); '
        f'set it to \'shared\'.')


def check_fake_labels(fake_labels, num_classes: int, where: str = 'fake_labels') -> None:
  """ConfigError unless `fake_labels` is 'uniform' or 'real', and 'real' only for a
  conditional step (num_classes > 0); `where` names the setting."""
  errors.check_arg(where, fake_labels, FAKE_LABELS)
  if fake_labels == 'real' and not num_classes > 0:
    raise errors.ConfigError(
        f'{where}=\'real\' gives the fakes the labels of the real batch, but the model is '
        f'unconditional (num_classes 0); set it to \'uniform\', or give the model the data\'s '
        f'classes (config.model.num_classes=-1).')


def make_train_step(generator: nn.Module, discriminator: nn.Module, loss: losses_lib.Term,
                    tx_g: optax.GradientTransformation, tx_d: optax.GradientTransformation, *,
                    z_dim: int, num_classes: int = 0, d_clip: Optional[float] = None,
                    ema_decay: Optional[float] = None, ema_start: int = 0,
                    ema_half_life=None, ema_rampup: Optional[float] = None,
                    augmentation: Optional[Any] = None, g_real_batch: str = 'shared',
                    fake_labels: str = 'uniform', phase_order: str = 'd_first',
                    ema_state: str = 'live', devices: Optional[list] = None) -> TrainStep:
  """The step of these parts mapped over `devices` (default: all); see `TrainStep`.

  `augmentation`: an `augment.Augmentation` applied to every image D sees (None: off); the
  state must then hold its `init_state()` in `augment_state`. `d_clip` and `ema_decay`: None
  (or 0) is off; with `ema_decay` (or StyleGAN2's `ema_half_life` in images, a number or a
  function of the step, with `ema_rampup`; see `jaxgan.EMA`) the state must hold an EMA
  (`state.create(ema=True)`), without it none; with `ema_state='average'` the EMA averages
  the generator's state as well (`state.create(ema=True, ema_state=True)`; see `jaxgan.EMA`).
  `jaxgan.Experiment.train_step(devices)`
  builds the step from an experiment; build it yourself to train your own parts in your own
  loop. `g_real_batch`: 'shared' or 'own' (see `jaxgan.Loop`; 'own' takes batches of
  d_steps + 1 global batches, `Layout(g_batch=True)`). `fake_labels`: 'uniform' or 'real'
  (see `jaxgan.Loop`; 'real' only with num_classes > 0). `phase_order`: 'd_first' or
  'g_first' (see `jaxgan.Loop`).
  """
  check_g_real_batch(g_real_batch, loss)
  check_fake_labels(fake_labels, num_classes)
  errors.check_arg('phase_order', phase_order, PHASE_ORDERS)
  errors.check_arg('ema_state', ema_state, EMA_STATES)
  if loss.needs_generator and not all(hasattr(generator, m) for m in ('styles', 'synthesize')):
    raise errors.ConfigError(
        f'the loss {loss!r} runs the generator\'s mapping and synthesis (path length), but '
        f'{type(generator).__name__} has no `styles` and `synthesize` methods; use the '
        f'\'stylegan2\' model or set config.loss.path_length=0.')
  fn = functools.partial(
      train_step, generator=generator, discriminator=discriminator, loss=loss, tx_g=tx_g,
      tx_d=tx_d, z_dim=int(z_dim), num_classes=int(num_classes),
      d_clip=float(d_clip) if d_clip else None,
      ema_decay=float(ema_decay) if ema_decay else None, ema_start=int(ema_start),
      ema_half_life=(ema_half_life if callable(ema_half_life) else
                     float(ema_half_life) if ema_half_life else None),
      ema_rampup=float(ema_rampup) if ema_rampup else None, augmentation=augmentation,
      g_real_batch=g_real_batch, fake_labels=fake_labels, phase_order=phase_order,
      ema_state=ema_state)
  return TrainStep(fn, devices)


def _key_of(z: jax.Array) -> jax.Array:
  """A key that is a function of z's bits: a generator's own noise in sampling (rng_streams)
  is then fixed by z, as the image is, and differs between batches of z."""
  bits = lax.bitcast_convert_type(z.astype(jnp.float32), jnp.uint32).reshape(-1)
  odd = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
  return jax.random.fold_in(jax.random.key(0), jnp.sum(bits * odd, dtype=jnp.uint32))


def make_sample_fn(generator: nn.Module) -> Callable:
  """jit(params, g_state, z, labels) -> samples, generator in evaluation mode."""

  @jax.jit
  def sample(params, g_state, z, labels: Optional[Any] = None):
    rngs = _rngs(generator, _key_of(z)) if rng_streams(generator) else None
    return apply_model(generator, params, g_state, z, labels, train=False, rngs=rngs)[0]

  return sample
