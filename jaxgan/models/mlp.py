"""MLP generator and discriminator for 2-D data (the Gaussian-mixture mode-collapse studies).

Sizes follow the usual protocol of the VEEGAN/PacGAN experiments: a few fully connected
ReLU layers of 128-400 units on both sides, no normalisation.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxgan import models


class Generator(nn.Module):
  hidden: int = 128
  depth: int = 3
  out_dim: int = 2
  dtype: Any = jnp.float32   # compute dtype of the hidden layers; params and output float32

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels, train
    x = z
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f'hidden{i}')(x))
    return nn.Dense(self.out_dim, dtype=jnp.float32, name='out')(x.astype(jnp.float32))


class Discriminator(nn.Module):
  hidden: int = 128
  depth: int = 3
  dtype: Any = jnp.float32   # compute dtype of the hidden layers; params and logits float32

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    del labels, train
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f'hidden{i}')(x))
    return nn.Dense(1, dtype=jnp.float32, name='logit')(x.astype(jnp.float32))[:, 0]


def build(config: ml_collections.ConfigDict):
  m = config.model
  dtype = models.compute_dtype(config)
  return (Generator(hidden=m.hidden, depth=m.depth, dtype=dtype),
          Discriminator(hidden=m.hidden, depth=m.depth, dtype=dtype))
