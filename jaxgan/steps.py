"""The per-replica GAN train step, mapped over devices, and the sampling function.

One step = `d_steps` discriminator updates (each on its own real batch and fresh z) then one
generator update. Gradients are averaged over the device axis with
`lax.pmean`; batch norm computes its statistics over the global batch (`axis_name`), and
every non-parameter collection is pmean-ed after each update on purpose, so the state leaving
the step is identical on all devices (it is returned unmapped).

Keys: step s uses k_s = fold_in(base, s), split once per use. Per-example draws (z, fake
labels) use fold_in(k, global example index), the index being axis_index * b + j on device
i: each device derives its own keys, and the noise of example j of the global batch does not
depend on how many devices share the batch, so a run on 8 devices follows the same
trajectory as on 1 (to float rounding). Other per-replica randomness (a regulariser's
interpolation weights) uses fold_in(k, axis_index).
"""

import functools
import weakref
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import losses as losses_lib
from jaxgan import optim
from jaxgan.state import GANState

AXIS = 'batch'


def apply_model(module: nn.Module, params, state, *args, train: bool):
  """module(*args) with `state` collections; returns (output, new_state).

  In training every state collection is mutable and its update is returned; in evaluation
  nothing is (batch norm uses running averages, spectral norm its frozen vectors).
  """
  variables = {'params': params, **state}
  if train and state:
    out, new_state = module.apply(variables, *args, train=True, mutable=list(state))
    return out, dict(new_state)
  return module.apply(variables, *args, train=train), state


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


def train_step(state: GANState, batch, *, generator: nn.Module, discriminator: nn.Module,
               loss: losses_lib.Term, tx_g: optax.GradientTransformation,
               tx_d: optax.GradientTransformation, z_dim: int, num_classes: int,
               d_clip: float, ema_decay: float, ema_start: int):
  """One GAN step on one replica. `batch` holds this replica's (d_steps, b, ...) slice."""
  step_key = jax.random.fold_in(state.key, state.step)
  d_key, g_key = jax.random.split(step_key)
  images, labels = batch['image'], batch['label']
  d_steps, b = images.shape[0], images.shape[1]
  device = lax.axis_index(AXIS)
  conditional = num_classes > 0

  def draw(k):
    """z (and fake labels) for this device's b examples, keyed by global example index."""
    keys = jax.vmap(jax.random.split)(example_keys(k, b))
    z = jax.vmap(lambda kk: jax.random.normal(kk, (z_dim,)))(keys[:, 0])
    y = None
    if conditional:
      y = jax.vmap(lambda kk: jax.random.randint(kk, (), 0, num_classes))(keys[:, 1])
    return z, y

  # --- discriminator updates ------------------------------------------------------------------
  def d_update(carry, xs):
    d_params, d_opt_state, d_state, loss_state = carry
    real, real_y, k = xs
    real_y = real_y if conditional else None
    k_fake, k_reg = jax.random.split(k)
    k_reg = jax.random.fold_in(k_reg, device)
    z, fake_y = draw(k_fake)
    # G runs in training mode (batch statistics) but its state changes only in G's update.
    fake, _ = apply_model(generator, state.g_params, state.g_state, z, fake_y, train=True)
    fake = lax.stop_gradient(fake)

    def d_loss_fn(params):
      real_logits, s = apply_model(discriminator, params, d_state, real, real_y, train=True)
      fake_logits, s = apply_model(discriminator, params, s, fake, fake_y, train=True)
      real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
      critic = None
      if loss.needs_critic:
        # Labels of the real batch; the regulariser's forward passes leave the state alone.
        critic = lambda x: _f32(apply_model(discriminator, params, s, x, real_y, train=True)[0])
      inputs = losses_lib.LossInputs(
          fake_logits=fake_logits, real_logits=real_logits, real=real, fake=fake,
          critic=critic, rng=k_reg, state=loss_state)
      terms = loss.d_terms(inputs)
      total = sum(terms.values(), jnp.zeros(()))
      return total, (terms, s, real_logits, fake_logits)

    grads, (terms, new_d_state, real_logits, fake_logits) = jax.grad(
        d_loss_fn, has_aux=True)(d_params)
    grads = lax.pmean(grads, AXIS)
    updates, d_opt_state = tx_d.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if d_clip > 0:
      # WGAN's Algorithm 1, line 7: w <- clip(w, -c, c) after every critic update.
      # (projection_box's scalar bounds fail in optax 0.2.8's tree.map: pass bound trees.)
      d_params = optax.projections.projection_box(
          d_params, jax.tree.map(lambda _: -d_clip, d_params),
          jax.tree.map(lambda _: d_clip, d_params))
    # Stateful terms see this update's logits (outside the gradient), then agree across devices.
    loss_state = _sync_state(loss.update_state(loss_state, losses_lib.LossInputs(
        fake_logits=lax.stop_gradient(fake_logits), real_logits=lax.stop_gradient(real_logits),
        real=real, fake=fake, rng=k_reg, state=loss_state)))
    metrics = _mean_terms(terms, 'd')
    metrics.update({'d/real_logit': real_logits.mean(), 'd/fake_logit': fake_logits.mean()})
    lr = optim.learning_rate(d_opt_state)
    if lr is not None:
      metrics['d/lr'] = lr
    return (d_params, d_opt_state, _sync_state(new_d_state), loss_state), metrics

  # Unrolled rather than lax.scan: XLA:CPU runs convolutions inside a while loop ~10x slower
  # (measured: 35 s vs 3 s for the 32x32 DCGAN step); d_steps is small (1 or 5).
  carry = (state.d_params, state.d_opt_state, state.d_state, state.loss_state)
  d_keys = jax.random.split(d_key, d_steps)
  d_metrics = []
  for i in range(d_steps):
    carry, m = d_update(carry, (images[i], labels[i], d_keys[i]))
    d_metrics.append(m)
  d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics)  # mean over updates
  d_params, d_opt_state, d_state, loss_state = carry

  # --- generator update -----------------------------------------------------------------------
  z, fake_y = draw(g_key)
  real = real_logits = None
  if loss.g_needs_real:
    # Relativistic losses compare with D(x): the last critic update's real batch, scored by
    # the updated critic (in training mode; its state changes are discarded, as for fakes).
    real = images[d_steps - 1]
    real_y = labels[d_steps - 1] if conditional else None
    real_logits = _f32(apply_model(discriminator, d_params, d_state, real, real_y,
                                   train=True)[0])

  def g_loss_fn(params):
    fake, g_state = apply_model(generator, params, state.g_state, z, fake_y, train=True)
    fake_logits, _ = apply_model(discriminator, d_params, d_state, fake, fake_y, train=True)
    terms = loss.g_terms(losses_lib.LossInputs(
        fake_logits=_f32(fake_logits), real_logits=real_logits, real=real, fake=fake,
        state=loss_state))
    return sum(terms.values(), jnp.zeros(())), (terms, g_state)

  grads, (g_terms, g_state) = jax.grad(g_loss_fn, has_aux=True)(state.g_params)
  grads = lax.pmean(grads, AXIS)
  updates, g_opt_state = tx_g.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)

  # Generator EMA (StudioGAN / compare_gan); a copy of the live params before ema_start.
  decay = jnp.where(state.step >= ema_start, ema_decay, 0.0)
  ema_params = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                            state.ema_params, g_params)

  metrics = {**d_metrics, **_mean_terms(g_terms, 'g')}
  lr = optim.learning_rate(g_opt_state)
  if lr is not None:
    metrics['g/lr'] = lr
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params, g_opt_state=g_opt_state,
      d_opt_state=d_opt_state, g_state=_sync_state(g_state), d_state=d_state,
      ema_params=ema_params, loss_state=loss_state)
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


def _evict_pmap_cache(fn: Callable) -> None:
  """Drops jax.pmap's cached executables of `fn`.

  Why: jax.pmap (jax 0.10) caches its jit-of-shard_map per function in an `lu.cache` whose
  weak key (the function) is strongly referenced by the cached value, so a pmapped function's
  executables outlive it (~25 MB and ~650 memory maps per train step); the owner of a step
  evicts them when it is collected. A no-op where jax lacks that cache.
  """
  try:
    from jax._src import pmap as pmap_impl  # pylint: disable=g-import-not-at-top
    pmap_impl._cached_shard_map.evict_function(fn)  # pylint: disable=protected-access
  except (ImportError, AttributeError):
    pass


class TrainStep:
  """The train step mapped over devices: `step(state, batch) -> (state, metrics)`.

  The state goes in and out unmapped (identical on every device) and is donated; the batch is
  split along its leading device axis; metrics come out per device (leading axis). Inputs
  that are not yet placed as the step places them (a state from `state.create`, a numpy
  batch) are placed first, so the step compiles once whatever the caller passes. Its compiled
  executables are freed when this object is.
  """

  def __init__(self, fn: Callable, devices: Optional[list] = None):
    self.devices = list(devices or jax.devices())
    self.state_sharding, self.batch_sharding = input_shardings(self.devices)
    self._fn = fn
    self._pmapped = jax.pmap(fn, axis_name=AXIS, in_axes=(None, 0), out_axes=(None, 0),
                             donate_argnums=(0,), devices=self.devices)
    weakref.finalize(self, _evict_pmap_cache, fn)

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
    return self._pmapped(state, batch)

  def lower(self, state: GANState, batch):
    state, batch = self.place(state, batch)
    return self._pmapped.lower(state, batch)


def make_train_step(generator: nn.Module, discriminator: nn.Module, loss: losses_lib.Term,
                    tx_g: optax.GradientTransformation, tx_d: optax.GradientTransformation, *,
                    z_dim: int, num_classes: int = 0, d_clip: float = 0.0,
                    ema_decay: float = 0.0, ema_start: int = 0,
                    devices: Optional[list] = None) -> TrainStep:
  """The step of these parts mapped over `devices` (default: all); see `TrainStep`.

  `jaxgan.Experiment.train_step` builds it from an experiment; build it yourself to train
  your own parts in your own loop.
  """
  fn = functools.partial(
      train_step, generator=generator, discriminator=discriminator, loss=loss, tx_g=tx_g,
      tx_d=tx_d, z_dim=int(z_dim), num_classes=int(num_classes), d_clip=float(d_clip),
      ema_decay=float(ema_decay), ema_start=int(ema_start))
  return TrainStep(fn, devices)


def make_sample_fn(generator: nn.Module) -> Callable:
  """jit(params, g_state, z, labels) -> samples, generator in evaluation mode."""

  @jax.jit
  def sample(params, g_state, z, labels: Optional[Any] = None):
    return apply_model(generator, params, g_state, z, labels, train=False)[0]

  return sample
