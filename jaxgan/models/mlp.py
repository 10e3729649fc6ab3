"""MLP generator and discriminator for 2-D data (the Gaussian-mixture mode-collapse studies).

Sizes follow the usual protocol of the VEEGAN/PacGAN experiments: a few fully connected
ReLU layers of 128-400 units on both sides, no normalisation.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan import errors


def _check(hidden, depth) -> None:
  for name, value in (('hidden', hidden), ('depth', depth)):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise errors.ConfigError(f'{name}={value!r} must be an integer >= 1.')


class Generator(nn.Module):
  """z (B, z_dim) -> points (B, out_dim)."""
  hidden: int = 128
  depth: int = 3
  out_dim: int = 2
  dtype: Any = jnp.float32   # compute dtype of the hidden layers; params and output float32

  def __post_init__(self):
    _check(self.hidden, self.depth)
    super().__post_init__()

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels, train
    x = z
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f'hidden{i}')(x))
    return nn.Dense(self.out_dim, dtype=jnp.float32, name='out')(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """points (B, D) -> logits (B,)."""
  hidden: int = 128
  depth: int = 3
  dtype: Any = jnp.float32   # compute dtype of the hidden layers; params and logits float32

  def __post_init__(self):
    _check(self.hidden, self.depth)
    super().__post_init__()

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    del labels, train
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f'hidden{i}')(x))
    return nn.Dense(1, dtype=jnp.float32, name='logit')(x.astype(jnp.float32))[:, 0]
