"""The GAN's training state: one explicit pytree, and how to create it."""

from typing import Any, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import errors

PyTree = Any

# Collections that are never model state (sown intermediates such as attention maps).
_NOT_STATE = ('params', 'intermediates')


@flax.struct.dataclass
class GANState:
  """Everything a GAN run carries from one step to the next.

  g_state / d_state hold each network's non-parameter collections ('batch_stats' for batch
  norm, 'spectral_stats' for spectral-norm power-iteration vectors), keyed by collection.
  `rng` is the run's base key (raw uint32 key data, so checkpoints hold plain arrays); step
  s uses fold_in(rng, s), never the base key itself. `ema_params` is an exponential moving
  average of the generator's params when the experiment keeps one (`Experiment.ema`), and
  None when it does not (no second copy of the generator, in memory or in checkpoints).
  `ema_state` is the same average of the generator's `g_state` (its floating leaves: batch
  norm's running statistics, spectral norm's vectors; other leaves copied) when the EMA
  averages state as well (`jaxgan.EMA(state='average')`, StudioGAN's), else None: sampling
  with the EMA then uses the live `g_state`.
  `loss_state` holds the stateful loss terms' states ({term name: pytree});
  `augment_state` the augmentation's (e.g. ADA's adaptive probability; {} for none). Both are
  empty dicts, with no leaves, when unused.
  """
  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  g_state: PyTree
  d_state: PyTree
  ema_params: Optional[PyTree]
  rng: jax.Array
  loss_state: PyTree = flax.struct.field(default_factory=dict)
  augment_state: PyTree = flax.struct.field(default_factory=dict)
  ema_state: Optional[PyTree] = None

  @property
  def key(self) -> jax.Array:
    return jax.random.wrap_key_data(self.rng)

  def sampling_params(self, ema: bool = True) -> PyTree:
    """The generator weights to sample with: the EMA when the state keeps one and `ema`,
    else the live weights."""
    return self.ema_params if ema and self.ema_params is not None else self.g_params

  def sampling_state(self, ema: bool = True) -> PyTree:
    """The generator state to sample with, beside `sampling_params(ema)`: the EMA's average
    of the state when the state keeps one and `ema`, else the live `g_state`."""
    return self.ema_state if ema and self.ema_state is not None else self.g_state

  def with_sampling_state(self, g_state: PyTree, ema: bool = True) -> 'GANState':
    """This state with `g_state` as the state `sampling_state(ema)` returns: the EMA's when
    the state keeps EMA weights and `ema` (stored as `ema_state`, which sampling then uses),
    else the live `g_state`. Nothing else changes (e.g. standing statistics' result)."""
    if ema and self.ema_params is not None:
      return self.replace(ema_state=g_state)
    return self.replace(g_state=g_state)


def split_variables(variables) -> tuple[PyTree, PyTree]:
  variables = flax.core.unfreeze(variables)
  params = variables.pop('params')
  state = {k: v for k, v in variables.items() if k not in _NOT_STATE}
  return params, state


def create(generator: nn.Module, discriminator: nn.Module, tx_g: optax.GradientTransformation,
           tx_d: optax.GradientTransformation, *, z_dim: int, example_shape: tuple[int, ...],
           num_classes: int = 0, seed: int = 0, ema: bool = False,
           ema_state: bool = False, loss_state: Optional[PyTree] = None,
           augment_state: Optional[PyTree] = None) -> GANState:
  """Initialises a GANState (jit-compiled: initialisation on the host is slow for big nets).

  `example_shape` is one data example's shape ((H, W, C) images or (2,) points); the networks
  are initialised in evaluation mode on two dummy examples. `ema`: keep an EMA of the
  generator (`ema_params`, starting as a copy of its params; None without); `ema_state`
  (with `ema`): an EMA of its state too (`ema_state`, starting as a copy). `loss_state` is
  the loss's `init_state()`, `augment_state` the augmentation's.
  """

  def init(seed):
    key = jax.random.key(seed)
    kg, kd, kbase = jax.random.split(key, 3)
    z = jnp.zeros((2, z_dim))
    x = jnp.zeros((2,) + tuple(example_shape))
    labels = jnp.zeros((2,), jnp.int32) if num_classes > 0 else None
    # Initialise in eval mode: batch norm's cross-device statistics need a mapped axis.
    fake, g_variables = generator.init_with_output(kg, z, labels, train=False)
    if tuple(fake.shape[1:]) != tuple(example_shape):
      raise errors.ConfigError(
          f'the generator makes examples of shape {tuple(fake.shape[1:])} but the data\'s are '
          f'{tuple(example_shape)}; build it for the data (config.data.image_size and '
          f'config.data.channels set the models\' size and output channels).')
    g_params, g_state = split_variables(g_variables)
    d_params, d_state = split_variables(discriminator.init(kd, x, labels, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, d_params=d_params,
        g_opt_state=tx_g.init(g_params), d_opt_state=tx_d.init(d_params),
        g_state=g_state, d_state=d_state,
        ema_params=g_params if ema else None,
        rng=jax.random.key_data(kbase),
        loss_state=jax.tree.map(jnp.asarray, loss_state or {}),
        augment_state=jax.tree.map(jnp.asarray, augment_state or {}),
        ema_state=g_state if ema and ema_state else None)

  return jax.jit(init)(seed)


def param_count(tree) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(tree))
