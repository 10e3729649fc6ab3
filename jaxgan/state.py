"""The GAN's training state: one explicit pytree, and how to create it."""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
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
  average of the generator's params (a copy of g_params when EMA is off).
  """
  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  g_state: PyTree
  d_state: PyTree
  ema_params: PyTree
  rng: jax.Array

  @property
  def key(self) -> jax.Array:
    return jax.random.wrap_key_data(self.rng)


def optimizers(config: ml_collections.ConfigDict):
  """(generator optimiser, discriminator optimiser) from config.optim (see jaxgan/optim.py)."""
  from jaxgan import optim  # pylint: disable=g-import-not-at-top
  return optim.from_config(config)


def sample_shapes(config: ml_collections.ConfigDict):
  """Shapes of one generator input (z) and one data example."""
  if config.data.dataset in ('ring', 'grid'):
    return (config.model.z_dim,), (2,)
  size = config.data.image_size
  return (config.model.z_dim,), (size, size, 3)


def split_variables(variables) -> tuple[PyTree, PyTree]:
  variables = flax.core.unfreeze(variables)
  params = variables.pop('params')
  state = {k: v for k, v in variables.items() if k not in _NOT_STATE}
  return params, state


def create(config, generator: nn.Module, discriminator: nn.Module, tx_g, tx_d) -> GANState:
  """Initialises a GANState (jit-compiled: initialisation on the host is slow for big nets)."""
  z_shape, x_shape = sample_shapes(config)
  conditional = config.model.get('num_classes', 0) > 0

  def init(seed):
    key = jax.random.key(seed)
    kg, kd, kbase = jax.random.split(key, 3)
    z = jnp.zeros((2,) + z_shape)
    x = jnp.zeros((2,) + x_shape)
    labels = jnp.zeros((2,), jnp.int32) if conditional else None
    # Initialise in eval mode: batch norm's cross-device statistics need a mapped axis.
    g_params, g_state = split_variables(generator.init(kg, z, labels, train=False))
    d_params, d_state = split_variables(discriminator.init(kd, x, labels, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, d_params=d_params,
        g_opt_state=tx_g.init(g_params), d_opt_state=tx_d.init(d_params),
        g_state=g_state, d_state=d_state,
        ema_params=g_params,
        rng=jax.random.key_data(kbase))

  return jax.jit(init)(config.train.seed)


def param_count(tree) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(tree))
