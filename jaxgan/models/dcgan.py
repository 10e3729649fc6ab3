"""DCGAN (Radford et al. 2016) as the seed paper describes it (section 2, Figure 1).

Generator: z (100) -> "project and reshape" to 4x4x1024 -> 5x5 stride-2 transposed
convolutions to 8x8x512, 16x16x256, 32x32x128 and 64x64x3 (tanh), batch norm + ReLU between.
The 32x32 variant has one stage fewer: 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x3.
Discriminator: the mirror image, 5x5 stride-2 convolutions with LeakyReLU(0.2) (64, 128, 256,
512 channels at 64x64; one stage fewer at 32x32), batch norm on all but the first layer,
then one logit.

Other sizes (any power of two from 32 to 256) follow one rule that gives the seed's two
layouts exactly: log2(size) - 2 stages, each doubling the side from 4x4. The generator's 4x4
map has `width * min(size, 64) / 64` channels (1024 at 64 px and above, 512 at 32 px) and each
stage halves them, so 128 px ends 4x4x1024 -> ... -> 64x64x64 -> 128x128xC and 256 px ends
... -> 128x128x32 -> 256x256xC (growing the top instead, as 32 -> 64 does, would put 2048 and
4096 channels at 4x4). The discriminator's stage i has `width * 2^i` channels, at most
16 * width (64 ... 1024 at 128 px; 64 ... 1024, 1024 at 256 px). C, the output channels, is
`channels` (3, or 1 for greyscale data; `config.data.channels`). `d_norm='layer'` swaps the critic's batch norm for layer norm (WGAN-GP's
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
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.models import layers

# DCGAN's initialisation: N(0, 0.02) weights, BN scale N(1, 0.02).
_conv_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype)


# 4 -> image_size by doubling.
NUM_STAGES = {32: 3, 64: 4, 128: 5, 256: 6}
# The critic's widest stage, in multiples of its width (the cap binds at 256 px only).
D_MAX_MULTIPLIER = 16
CONV_IMPLS = layers.CONV_IMPLS
NORMS = ('batch', 'layer', 'none')


def g_widths(image_size: int, width: int) -> list[int]:
  """Channels of the generator's 4x4 map and of each hidden stage after it (the last stage
  outputs the image's channels)."""
  top = width * min(image_size, 64) // 64
  return [top // 2 ** i for i in range(NUM_STAGES[image_size])]


def d_widths(image_size: int, width: int) -> list[int]:
  """Channels of each discriminator stage."""
  return [width * min(2 ** i, D_MAX_MULTIPLIER) for i in range(NUM_STAGES[image_size])]


def _check(image_size: int, width: int, conv_impl: str, min_width: int) -> None:
  errors.check_arg('image_size', image_size, NUM_STAGES)
  errors.check_arg('conv_impl', conv_impl, CONV_IMPLS)
  if not isinstance(width, int) or isinstance(width, bool) or width < min_width:
    raise errors.ConfigError(f'width={width!r} must be an integer >= {min_width} at '
                             f'{image_size}x{image_size} (every DCGAN stage needs at least '
                             f'one channel).')


class Generator(nn.Module):
  """DCGAN generator: `generator(z, labels=None, *, train)` -> NHWC images in [-1, 1]."""
  image_size: int = 64
  width: int = 1024          # channels after "project and reshape" at 64x64 (the seed's)
  channels: int = 3
  conv_impl: str = 'auto'    # 'auto', 'rewritten' (stride-1 forms) or 'flax' (nn.ConvTranspose)
  axis_name: Any = 'batch'   # batch norm over the train step's device axis (None: per device)
  dtype: Any = jnp.float32

  def __post_init__(self):
    # The narrowest hidden stage has top / 2^(stages - 1) channels.
    stages = NUM_STAGES.get(self.image_size, 4)
    _check(self.image_size, self.width, self.conv_impl,
           min_width=2 ** (stages - 1) * 64 // min(self.image_size, 64))
    if not isinstance(self.channels, int) or self.channels < 1:
      raise errors.ConfigError(f'channels={self.channels!r} must be a positive integer (3: '
                               f'RGB, 1: greyscale).')
    super().__post_init__()

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels  # unconditional
    n = NUM_STAGES[self.image_size]
    conv_impl = layers.resolve_conv_impl(self.conv_impl)
    widths = g_widths(self.image_size, self.width)
    norm = lambda name: layers.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.axis_name,
        scale_init=_bn_scale_init, dtype=self.dtype, name=name)
    x = nn.Dense(4 * 4 * widths[0], kernel_init=_conv_init, dtype=self.dtype,
                 name='project')(z)
    x = x.reshape(z.shape[0], 4, 4, widths[0])
    x = nn.relu(norm('project_bn')(x))
    for i in range(n):
      last = i == n - 1
      features = self.channels if last else widths[i + 1]
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
    conv_impl = layers.resolve_conv_impl(self.conv_impl)
    x = x.astype(self.dtype)
    for i, features in enumerate(d_widths(self.image_size, self.width)):
      if conv_impl == 'rewritten':
        conv = layers.SpaceToDepthConv(features, 5, 2, kernel_init=_conv_init,
                                       dtype=self.dtype, name=f'down{i}')
      else:
        conv = nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME',
                       kernel_init=_conv_init, dtype=self.dtype, name=f'down{i}')
      x = conv(x)
      if i > 0 and self.norm == 'batch':
        x = layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             axis_name=self.axis_name, scale_init=_bn_scale_init,
                             dtype=self.dtype, name=f'down{i}_bn')(x)
      elif i > 0 and self.norm == 'layer':
        x = nn.LayerNorm(dtype=self.dtype, name=f'down{i}_ln')(x)
      x = nn.leaky_relu(x, 0.2)
    # The logit layer runs in float32: its output is what the loss sees.
    x = x.reshape(x.shape[0], -1).astype(jnp.float32)
    logit = nn.Dense(1, kernel_init=_conv_init, dtype=jnp.float32, name='logit')(x)
    return logit[:, 0]
