"""MLP generator and discriminator for 2-D data (the Gaussian-mixture mode-collapse studies).

Sizes follow the usual protocol of the VEEGAN/PacGAN experiments: a few fully connected
ReLU layers of 128-400 units on both sides, no normalisation.
"""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections


class Generator(nn.Module):
  hidden: int = 128
  depth: int = 3
  out_dim: int = 2

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels, train
    x = z
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, name=f'hidden{i}')(x))
    return nn.Dense(self.out_dim, name='out')(x)


class Discriminator(nn.Module):
  hidden: int = 128
  depth: int = 3

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    del labels, train
    for i in range(self.depth):
      x = nn.relu(nn.Dense(self.hidden, name=f'hidden{i}')(x))
    return nn.Dense(1, name='logit')(x)[:, 0]


def build(config: ml_collections.ConfigDict):
  m = config.model
  return (Generator(hidden=m.hidden, depth=m.depth),
          Discriminator(hidden=m.hidden, depth=m.depth))
