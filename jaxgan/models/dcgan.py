"""DCGAN (Radford et al. 2016) as the seed paper describes it (section 2, Figure 1).

Generator: z (100) -> "project and reshape" to 4x4x1024 -> 5x5 stride-2 transposed
convolutions to 8x8x512, 16x16x256, 32x32x128 and 64x64x3 (tanh), batch norm + ReLU between.
The 32x32 variant has one stage fewer: 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x3.
Discriminator: the mirror image, 5x5 stride-2 convolutions with LeakyReLU(0.2) (64, 128, 256,
512 channels at 64x64; one stage fewer at 32x32), batch norm on all but the first layer,
then one logit. `d_norm='layer'` swaps the critic's batch norm for layer norm (WGAN-GP's
advice: a gradient penalty is per-sample, batch norm mixes samples); 'none' drops it.

Batch norm is synchronised across devices (`axis_name`): statistics are computed over the
global batch, so a step on 8 devices equals a step on one device with the same batch.

Compute runs in `dtype`; parameters and batch-norm statistics (flax computes them in float32
whatever the compute dtype), the generator's tanh and the critic's last (logit) layer stay
float32.

`conv_impl='auto'` uses the stride-1 rewrites of `layers.py` on the CPU (5-40x faster per layer
on XLA:CPU, the same function, tested) and flax's convolutions elsewhere (cuDNN and TPU
libraries optimise those); 'rewritten' or 'flax' force one.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.models import layers

# DCGAN's initialisation: N(0, 0.02) weights, BN scale N(1, 0.02).
_conv_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype)


# 4 -> image_size by doubling.
NUM_STAGES = {32: 3, 64: 4}
CONV_IMPLS = layers.CONV_IMPLS
NORMS = ('batch', 'layer', 'none')


def _check(image_size: int, width: int, conv_impl: str, min_width: int) -> None:
  errors.check_arg('image_size', image_size, NUM_STAGES)
  errors.check_arg('conv_impl', conv_impl, CONV_IMPLS)
  if not isinstance(width, int) or width < min_width:
    raise errors.ConfigError(f'width={width!r} must be an integer >= {min_width} (every DCGAN '
                             f'stage needs at least one channel).')


class Generator(nn.Module):
  """DCGAN generator: `generator(z, labels=None, *, train)` -> NHWC images in [-1, 1]."""
  image_size: int = 64
  width: int = 1024          # channels after "project and reshape" at 64x64 (the seed's)
  channels: int = 3
  conv_impl: str = 'auto'    # 'auto', 'rewritten' (stride-1 forms) or 'flax' (nn.ConvTranspose)
  axis_name: Any = 'batch'   # batch norm over the train step's device axis (None: per device)
  dtype: Any = jnp.float32

  def __post_init__(self):
    _check(self.image_size, self.width, self.conv_impl, min_width=8)
    super().__post_init__()

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels  # unconditional
    n = NUM_STAGES[self.image_size]
    conv_impl = layers.resolve_conv_impl(self.conv_impl)
    width = self.width * self.image_size // 64   # 32x32 drops the widest stage
    norm = lambda name: nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.axis_name,
        scale_init=_bn_scale_init, dtype=self.dtype, name=name)
    x = nn.Dense(4 * 4 * width, kernel_init=_conv_init, dtype=self.dtype, name='project')(z)
    x = x.reshape(z.shape[0], 4, 4, width)
    x = nn.relu(norm('project_bn')(x))
    for i in range(n):
      last = i == n - 1
      features = self.channels if last else width // 2 ** (i + 1)
      if conv_impl == 'rewritten':
        up = layers.SubpixelConvTranspose(features, 5, 2, kernel_init=_conv_init,
                                          dtype=self.dtype, name=f'up{i}')
      else:
        up = nn.ConvTranspose(features, (5, 5), strides=(2, 2), padding='SAME',
                              kernel_init=_conv_init, dtype=self.dtype, name=f'up{i}')
      x = up(x)
      # tanh in float32: the images leave the generator in float32 whatever the compute dtype.
      x = jnp.tanh(x.astype(jnp.float32)) if last else nn.relu(norm(f'up{i}_bn')(x))
    return x


class Discriminator(nn.Module):
  """DCGAN discriminator: `discriminator(x, labels=None, *, train)` -> logits (B,)."""
  image_size: int = 64
  width: int = 64            # channels of the first layer (doubling per stage)
  norm: str = 'batch'        # 'batch', 'layer' or 'none'
  conv_impl: str = 'auto'    # 'auto', 'rewritten' (space-to-depth) or 'flax' (nn.Conv)
  axis_name: Any = 'batch'
  dtype: Any = jnp.float32

  def __post_init__(self):
    _check(self.image_size, self.width, self.conv_impl, min_width=1)
    errors.check_arg('norm', self.norm, NORMS)
    super().__post_init__()

  @property
  def mixes_samples(self) -> bool:
    """Whether one sample's logit depends on the others (batch norm in training)."""
    return self.norm == 'batch'

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    del labels
    n = NUM_STAGES[self.image_size]
    conv_impl = layers.resolve_conv_impl(self.conv_impl)
    x = x.astype(self.dtype)
    for i in range(n):
      if conv_impl == 'rewritten':
        conv = layers.SpaceToDepthConv(self.width * 2 ** i, 5, 2, kernel_init=_conv_init,
                                       dtype=self.dtype, name=f'down{i}')
      else:
        conv = nn.Conv(self.width * 2 ** i, (5, 5), strides=(2, 2), padding='SAME',
                       kernel_init=_conv_init, dtype=self.dtype, name=f'down{i}')
      x = conv(x)
      if i > 0 and self.norm == 'batch':
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis_name=self.axis_name, scale_init=_bn_scale_init,
                         dtype=self.dtype, name=f'down{i}_bn')(x)
      elif i > 0 and self.norm == 'layer':
        x = nn.LayerNorm(dtype=self.dtype, name=f'down{i}_ln')(x)
      x = nn.leaky_relu(x, 0.2)
    # The logit layer runs in float32: its output is what the loss sees.
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    logit = nn.Dense(1, kernel_init=_conv_init, dtype=jnp.float32, name='logit')(x)
    return logit[:, 0]
