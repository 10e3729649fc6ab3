"""Standing statistics: batch norm's running statistics recomputed for the generator weights
that are evaluated (Brock et al. 2019, appendix C.1; PyTorch-StudioGAN's `-std_stat -std_max
M -std_step S`, `apply_standing_statistics` in its src/utils/misc.py).

A generator with batch norm samples with running statistics that training accumulated from
the live weights of recent steps. The EMA weights never produced those statistics, and even
the live ones only drifted past them. Standing statistics replace them with the statistics of
the weights being evaluated, as StudioGAN does before its final evaluation:

  1. every batch norm's running mean is reset to 0 and its running variance to 1 (PyTorch's
     `reset_running_stats`);
  2. `steps` times, the generator runs in training mode on a batch of b fresh latents (labels
     uniform), b drawn uniformly from 1..max_batch each time; each pass moves the running
     statistics by batch norm's own momentum (0.1 in PyTorch's terms for BigGAN, SAGAN and
     DCGAN) and, as PyTorch's training mode does, moves spectral norm's power-iteration vectors
     one step;
  3. evaluation then samples in evaluation mode with the new state.

The paper's own form (BigGAN-PyTorch's) averages the passes' statistics with equal weights;
StudioGAN's, followed here because jaxgan's BigGAN, SAGAN and DCGAN are StudioGAN's networks,
moves them by batch norm's momentum, so the last passes weigh most.

How it is computed (one compiled program): the passes are a `lax.scan`, each on a full batch
of `max_batch` latents of which the first b count. Batch norm sees a mask that keeps the other
rows out of its mean and variance (flax's `BatchNorm(mask=)`, passed to every batch norm by
`flax.linen.intercept_methods`, so no model needs an argument for it); the rows outside the
mask go through the network and are dropped. One shape for every b is what makes this one
compile instead of one per batch size.

The running variance moves by the unbiased batch variance of the b counted rows, as PyTorch's
does (`jaxgan.models.layers.BatchNorm`, which DCGAN, SAGAN and BigGAN use).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import errors
from jaxgan import steps as steps_lib

PyTree = Any
BATCH_STATS = 'batch_stats'   # flax's collection of batch norm's running statistics


def has_batch_norm(g_state: PyTree) -> bool:
  """Whether a generator state holds batch norm's running statistics."""
  return bool(jax.tree.leaves((g_state or {}).get(BATCH_STATS, {})))


def reset(g_state: PyTree) -> PyTree:
  """g_state with every running mean 0 and running variance 1 (PyTorch's
  `BatchNorm.reset_running_stats`); the other collections as they are."""
  flat = flax.traverse_util.flatten_dict(dict(g_state[BATCH_STATS]))
  initial = {'mean': jnp.zeros_like, 'var': jnp.ones_like}
  unknown = sorted({path[-1] for path in flat} - set(initial))
  if unknown:
    raise errors.ConfigError(
        f'the generator\'s batch_stats hold {unknown}, not only flax BatchNorm\'s mean and var; '
        'standing statistics can only reset flax.linen.BatchNorm layers.')
  reset_stats = flax.traverse_util.unflatten_dict(
      {path: initial[path[-1]](value) for path, value in flat.items()})
  return {**g_state, BATCH_STATS: reset_stats}


def _masked_batch_norm(mask: jax.Array):
  """An interceptor that passes `mask` (rows of the batch that count) to every BatchNorm."""

  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.BatchNorm) and context.method_name == '__call__':
      x = args[0]
      if x.shape[0] != mask.shape[0]:
        raise ValueError(f'a batch norm in the generator normalises an array of shape '
                         f'{x.shape}, whose first axis is not the batch ({mask.shape[0]}); '
                         'standing statistics need batch-first activations.')
      kwargs = {**kwargs, 'mask': mask.reshape((-1,) + (1,) * (x.ndim - 1))}
    return next_fun(*args, **kwargs)

  return interceptor


def _check(steps: int, max_batch: int) -> None:
  for name, value, hint in (('steps', steps, 'StudioGAN\'s -std_step'),
                            ('max_batch', max_batch, 'StudioGAN\'s -std_max')):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise errors.ConfigError(f'standing statistics\' {name}={value!r} must be an integer '
                               f'>= 1 ({hint}).')


@functools.lru_cache(maxsize=8)
def _program(generator: nn.Module, z_dim: int, num_classes: int, max_batch: int):
  """jit(params, g_state, sizes, keys) -> g_state after one masked pass per (size, key)."""

  def one_pass(params, g_state, z, labels, mask, key):
    with nn.intercept_methods(_masked_batch_norm(mask)):
      _, new_state = steps_lib.apply_model(
          generator, params, g_state, z, labels, train=True,
          rngs=steps_lib._rngs(generator, key))   # pylint: disable=protected-access
    return new_state

  # The generator's batch norm may average over the train step's mapped axis ('batch'): one
  # vmapped copy names that axis, so the same module runs here unchanged.
  mapped = jax.vmap(one_pass, in_axes=(None, None, 0, 0, 0, None), axis_name=steps_lib.AXIS)

  @jax.jit
  def run(params, g_state, sizes, keys):
    def body(state, xs):
      size, key = xs
      z, labels, kn = draw(key, max_batch, z_dim, num_classes)
      mask = jnp.arange(max_batch) < size
      new = mapped(params, state, z[None], None if labels is None else labels[None],
                   mask[None], kn)
      return jax.tree.map(lambda x: x[0], new), None

    return lax.scan(body, g_state, (sizes, keys))[0]

  return run


def schedule(seed: int, steps: int, max_batch: int) -> tuple[jax.Array, jax.Array]:
  """The passes' batch sizes (uniform in 1..max_batch) and keys, from `seed`."""
  key = jax.random.key(seed)
  sizes = jax.random.randint(jax.random.fold_in(key, 0), (steps,), 1, max_batch + 1)
  return sizes, jax.random.split(jax.random.fold_in(key, 1), steps)


def draw(key: jax.Array, max_batch: int, z_dim: int, num_classes: int):
  """One pass's inputs from its key: (max_batch normal latents, uniform labels or None, the
  key of the generator's own noise); a pass of size b uses the first b rows."""
  kz, ky, kn = jax.random.split(key, 3)
  z = jax.random.normal(kz, (max_batch, z_dim))
  labels = jax.random.randint(ky, (max_batch,), 0, num_classes) if num_classes else None
  return z, labels, kn


def standing_statistics(generator: nn.Module, params: PyTree, g_state: PyTree, *, z_dim: int,
                        num_classes: int = 0, steps: int, max_batch: int,
                        seed: int = 0) -> PyTree:
  """The generator state after standing statistics (module doc): batch norm reset, then
  `steps` training-mode passes of random batch sizes 1..`max_batch` (seeded by `seed`).

  `params`, `g_state`: the weights to evaluate and the state they sample with (e.g.
  `GANState.sampling_params(ema)`, `.sampling_state(ema)`). Returns a new state of the same
  structure; nothing passed in is changed.
  """
  _check(steps, max_batch)
  if not has_batch_norm(g_state):
    raise errors.ConfigError(
        f'standing statistics recompute batch norm\'s running statistics, and this '
        f'{type(generator).__name__} generator has none (its state holds '
        f'{sorted(g_state or {}) or "nothing"}); evaluate it without them.')
  sizes, keys = schedule(seed, steps, max_batch)
  run = _program(generator, int(z_dim), int(num_classes), int(max_batch))
  return run(params, reset(g_state), sizes, keys)
