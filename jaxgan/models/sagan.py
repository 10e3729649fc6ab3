"""SAGAN generator and discriminator for 32 to 256 pixel images (Zhang et al. 2019).

The layout is the ResNet one that SAGAN's reference code and StudioGAN's CIFAR SAGAN use:

Generator: z -> linear to a 4x4 map -> residual up-blocks, each doubling the side
(BN, ReLU, nearest 2x upsample, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: 1x1 conv of the
upsampled input) -> self-attention after the block that reaches `attention_resolution` ->
BN, ReLU, 3x3 conv to RGB, tanh.

Discriminator: residual down-blocks (the first one "optimised": conv, ReLU, conv, 2x2 average
pool, with the shortcut pooled then 1x1-convolved; the others pre-activated: ReLU, conv, ReLU,
conv, [pool], shortcut 1x1 conv [+ pool] when the block pools or changes width) ->
self-attention after the block that reaches `attention_resolution` -> ReLU -> sum over
positions -> linear to one logit.

Widths are multiples of a base channel count `width` (`config.model.g_width` for G,
`config.model.d_width` for D; 64 by default), with StudioGAN's multipliers:

  32x32  G: 4x4x4ch -> 8x8x4ch -> 16x16x4ch -> 32x32x4ch
         D: 16x16x2ch -> 8x8x2ch -> 8x8x2ch -> 8x8x2ch
  64x64  G: 4x4x16ch -> 8x8x8ch -> 16x16x4ch -> 32x32x2ch -> 64x64x1ch
         D: 32x32x1ch -> 16x16x2ch -> 8x8x4ch -> 4x4x8ch -> 4x4x16ch

  128x128  G: 4x4x16ch -> 8x8x16ch -> 16x16x8ch -> 32x32x4ch -> 64x64x2ch -> 128x128x1ch
           D: 64x64x1ch -> 32x32x2ch -> 16x16x4ch -> 8x8x8ch -> 4x4x16ch -> 4x4x16ch
  256x256  G: 4x4x16ch -> 8x8x16ch -> 16x16x8ch -> 32x32x8ch -> 64x64x4ch -> 128x128x2ch
              -> 256x256x1ch
           D: 128x128x1ch -> 64x64x2ch -> 32x32x4ch -> 16x16x8ch -> 8x8x8ch -> 4x4x16ch
              -> 4x4x16ch

so `width` = 64 gives the CIFAR SAGAN's 256-channel generator and 128-channel discriminator.
The 128 and 256 pixel layouts are BigGAN's (Brock et al. 2019, appendix B; BigGAN-PyTorch's
G_arch / D_arch). The rule from 64 px up: G has log2(size) - 2 up-blocks from a 4x4 map, D
has log2(size) - 2 down-blocks then one block that keeps the side, with the widest
multiplier (16) at the low-resolution end; 32 px keeps StudioGAN's CIFAR layout.

`attention_resolution` is the side of the feature map that carries the attention block in
both networks; it must be a side that both reach (0: none). None, the default, is half the
image side up to 64: 16 at 32x32 and 32 at 64x64 (SAGAN's and StudioGAN's CIFAR and 64-pixel
models), 64 at 128x128 and 256x256 (BigGAN-PyTorch's default G_attn = D_attn = '64';
attention at 128x128 would hold a 16384 x 16384 map per image). `out_channels` is the
image's channels (3, or 1 for greyscale data: `config.data.channels`).

Spectral norm covers every convolution, linear and the projection embedding of a network
when switched on for it (`g_spectral_norm`, `d_spectral_norm`). With `num_classes > 0` the
generator uses conditional batch norm (per-class gain and bias looked up in plain,
un-normalised embeddings initialised to 1 and 0, as in SAGAN's reference code) and the
discriminator is a projection discriminator (Miyato & Koyama 2018, eq. 3):
logit = psi(phi(x)) + <embed(y), phi(x)>.

Batch norm in the generator is synchronised over the train step's device axis ('batch'):
statistics are those of the global batch, and a training-mode call needs that axis bound
(pmap, or vmap/shard_map with `axis_name='batch'`).

Compute runs in `dtype` (float32 or bfloat16); parameters, batch-norm statistics,
spectral-norm power iteration and the attention softmax stay float32, and both networks return
float32.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.models import attention as attention_lib
from jaxgan.models import layers, layers_sn

# Width multipliers of `ch`: G's 4x4 input map followed by one entry per up-block.
G_MULTIPLIERS = {
    32: (4, 4, 4, 4),
    64: (16, 8, 4, 2, 1),
    128: (16, 16, 8, 4, 2, 1),        # BigGAN
    256: (16, 16, 8, 8, 4, 2, 1),     # BigGAN
}
# D's blocks as (width multiplier, downsamples); the first block is the optimised one.
D_BLOCKS = {
    32: ((2, True), (2, True), (2, False), (2, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),   # BigGAN
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True),
          (16, False)),                                                         # BigGAN
}

_BN_MOMENTUM = 0.9   # PyTorch's momentum=0.1
_BN_EPSILON = 1e-4   # as BigGAN and StudioGAN


def g_resolutions(image_size: int) -> list[int]:
  """Sides of the generator's up-block outputs."""
  return [4 * 2 ** (i + 1) for i in range(len(G_MULTIPLIERS[image_size]) - 1)]


def d_resolutions(image_size: int) -> list[int]:
  """Sides of the discriminator's block outputs."""
  sides, side = [], image_size
  for _, down in D_BLOCKS[image_size]:
    side //= 2 if down else 1
    sides.append(side)
  return sides


def allowed_attention_resolutions(image_size: int) -> list[int]:
  """0 (no attention) and every feature-map side that both G and D reach."""
  both = set(g_resolutions(image_size)) & set(d_resolutions(image_size))
  return [0] + sorted(both)


def attention_side(image_size: int, attention_resolution) -> int:
  """The attention block's feature-map side: `attention_resolution`, or the default for the
  image size (None: half the side up to 64: 16, 32, 64, 64 at 32, 64, 128, 256 pixels)."""
  return min(image_size // 2, 64) if attention_resolution is None else attention_resolution


def _check(image_size, width, attention_resolution, conv_impl='auto', out_channels=3) -> None:
  errors.check_arg('image_size', image_size, G_MULTIPLIERS)
  errors.check_arg('conv_impl', conv_impl, layers.CONV_IMPLS)
  if not isinstance(out_channels, int) or isinstance(out_channels, bool) or out_channels < 1:
    raise errors.ConfigError(f'out_channels={out_channels!r} must be a positive integer (3: '
                             f'RGB, 1: greyscale).')
  if not isinstance(width, int) or isinstance(width, bool) or width < 1:
    raise errors.ConfigError(f'width={width!r} must be a positive integer (the SAGAN base '
                             f'channel count, e.g. 64).')
  side = attention_side(image_size, attention_resolution)
  allowed = allowed_attention_resolutions(image_size)
  if side not in allowed:
    raise errors.ConfigError(
        f'attention_resolution={attention_resolution!r} is not a feature-map side that both '
        f'SAGAN networks reach at {image_size}x{image_size}; choose one of '
        f'{", ".join(str(a) for a in allowed)} (0: no attention).')


def _check_labels(labels, num_classes: int, batch: int, who: str):
  if num_classes <= 0:
    return None  # Unconditional: labels, if given, are ignored.
  if labels is None:
    raise ValueError(
        f'The SAGAN {who} is class-conditional (config.model.num_classes={num_classes}); '
        'pass integer labels of shape (batch,).')
  labels = jnp.asarray(labels)
  if labels.shape != (batch,):
    raise ValueError(f'The SAGAN {who} expects labels of shape ({batch},), got {labels.shape}.')
  return labels


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling of an NHWC map."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class ConditionalBatchNorm(nn.Module):
  """Batch norm; with `num_classes > 0` its gain and bias are looked up per class.

  Statistics are computed in float32 (flax's default) whatever the compute dtype.
  """
  num_classes: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, labels, *, train: bool) -> jax.Array:
    conditional = self.num_classes > 0
    x = layers.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                         epsilon=_BN_EPSILON, use_scale=not conditional,
                         use_bias=not conditional, dtype=self.dtype, param_dtype=jnp.float32,
                         axis_name=self.axis_name, name='bn')(x)
    if not conditional:
      return x
    features = x.shape[-1]
    embed = functools.partial(nn.Embed, self.num_classes, features, dtype=self.dtype,
                              param_dtype=jnp.float32)
    gain = embed(embedding_init=nn.initializers.ones, name='class_gain')(labels)
    bias = embed(embedding_init=nn.initializers.zeros, name='class_bias')(labels)
    return x * gain[:, None, None, :] + bias[:, None, None, :]


class GeneratorBlock(nn.Module):
  """Residual up-block: BN, ReLU, up 2x, conv3x3, BN, ReLU, conv3x3; shortcut up 2x, conv1x1."""
  features: int
  num_classes: int = 0
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, labels, *, train: bool) -> jax.Array:
    conv = functools.partial(layers_sn.SNConv, self.features,
                             spectral_norm=self.spectral_norm, dtype=self.dtype,
                             conv_impl=self.conv_impl)
    bn = functools.partial(ConditionalBatchNorm, self.num_classes, dtype=self.dtype,
                           axis_name=self.bn_axis_name)
    h = nn.relu(bn(name='bn1')(x, labels, train=train))
    h = conv(name='conv1')(_upsample(h), update_stats=train)
    h = nn.relu(bn(name='bn2')(h, labels, train=train))
    h = conv(name='conv2')(h, update_stats=train)
    # A 1x1 convolution commutes with nearest upsampling, so convolve the smaller map.
    shortcut = conv(kernel_size=(1, 1), name='shortcut')(x, update_stats=train)
    return h + _upsample(shortcut)


class DiscriminatorBlock(nn.Module):
  """Residual down-block; `optimized` is the first block, which sees raw pixels."""
  features: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv = functools.partial(layers_sn.SNConv, self.features,
                             spectral_norm=self.spectral_norm, dtype=self.dtype,
                             conv_impl=self.conv_impl)
    if self.optimized:
      h = nn.relu(conv(name='conv1')(x, update_stats=train))
      h = _avg_pool(conv(name='conv2')(h, update_stats=train))
      # Average pooling commutes with a 1x1 convolution: pool first, convolve the smaller map.
      shortcut = conv(kernel_size=(1, 1), name='shortcut')(_avg_pool(x), update_stats=train)
      return h + shortcut
    h = conv(name='conv1')(nn.relu(x), update_stats=train)
    h = conv(name='conv2')(nn.relu(h), update_stats=train)
    shortcut = x
    if self.downsample or x.shape[-1] != self.features:
      shortcut = conv(kernel_size=(1, 1), name='shortcut')(x, update_stats=train)
    if self.downsample:
      h, shortcut = _avg_pool(h), _avg_pool(shortcut)
    return h + shortcut


class Generator(nn.Module):
  """SAGAN generator: `generator(z, labels=None, *, train)` -> NHWC images in [-1, 1]."""
  image_size: int = 32
  width: int = 64
  num_classes: int = 0
  attention_resolution: int | None = None   # None: half the image side, at most 64
  attention_pool: bool = False
  spectral_norm: bool = True
  out_channels: int = 3
  dtype: Any = jnp.float32
  # 'auto': on the CPU, convolutions whose weight gradient XLA computes slowly (large
  # activations) get it as im2col matmuls (layers.Conv, the same function); flax's elsewhere.
  conv_impl: str = 'auto'
  # Batch norm averages its statistics over this mapped axis (the train step's pmap axis,
  # `jaxgan.steps.AXIS`, as DCGAN does), so training-mode calls must run under that axis
  # name; evaluation (running averages) needs none. None: per-device statistics.
  bn_axis_name: str | None = 'batch'

  def __post_init__(self):
    _check(self.image_size, self.width, self.attention_resolution, self.conv_impl,
           self.out_channels)
    super().__post_init__()

  @nn.compact
  def __call__(self, z: jax.Array, labels=None, *, train: bool) -> jax.Array:
    labels = _check_labels(labels, self.num_classes, z.shape[0], 'generator')
    widths = [m * self.width for m in G_MULTIPLIERS[self.image_size]]
    attention_at = attention_side(self.image_size, self.attention_resolution)
    x = layers_sn.SNDense(4 * 4 * widths[0], spectral_norm=self.spectral_norm,
                          dtype=self.dtype, name='linear')(z, update_stats=train)
    x = x.reshape(z.shape[0], 4, 4, widths[0])
    for index, features in enumerate(widths[1:]):
      x = GeneratorBlock(features, self.num_classes, self.spectral_norm, self.dtype,
                         self.bn_axis_name, self.conv_impl,
                         name=f'block{index}')(x, labels, train=train)
      if x.shape[1] == attention_at:
        x = attention_lib.SelfAttention(spectral_norm=self.spectral_norm,
                                        pool=self.attention_pool, dtype=self.dtype,
                                        conv_impl=self.conv_impl,
                                        name='attention')(x, train=train)
    x = ConditionalBatchNorm(0, self.dtype, self.bn_axis_name, name='bn_out')(
        x, None, train=train)
    x = layers_sn.SNConv(self.out_channels, spectral_norm=self.spectral_norm,
                         dtype=self.dtype, conv_impl=self.conv_impl,
                         name='conv_out')(nn.relu(x), update_stats=train)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """SAGAN (projection) discriminator: `discriminator(x, labels=None, *, train)` -> (B,)."""
  image_size: int = 32
  width: int = 64
  num_classes: int = 0
  attention_resolution: int | None = None   # None: half the image side, at most 64
  attention_pool: bool = False
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  conv_impl: str = 'auto'     # as the generator's

  mixes_samples = False   # no batch norm: each sample's logit depends on that sample only

  def __post_init__(self):
    _check(self.image_size, self.width, self.attention_resolution, self.conv_impl)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, labels=None, *, train: bool) -> jax.Array:
    labels = _check_labels(labels, self.num_classes, x.shape[0], 'discriminator')
    h = x.astype(self.dtype)
    attended = False
    attention_at = attention_side(self.image_size, self.attention_resolution)
    for index, (multiplier, down) in enumerate(D_BLOCKS[self.image_size]):
      h = DiscriminatorBlock(multiplier * self.width, down, index == 0, self.spectral_norm,
                             self.dtype, self.conv_impl, name=f'block{index}')(h, train=train)
      if h.shape[1] == attention_at and not attended:
        attended = True
        h = attention_lib.SelfAttention(spectral_norm=self.spectral_norm,
                                        pool=self.attention_pool, dtype=self.dtype,
                                        conv_impl=self.conv_impl,
                                        name='attention')(h, train=train)
    # Sum pooling and the output layers run in float32: the logit is what the loss sees.
    features = jnp.sum(nn.relu(h).astype(jnp.float32), axis=(1, 2))
    logits = layers_sn.SNDense(1, spectral_norm=self.spectral_norm, dtype=jnp.float32,
                               name='linear')(features, update_stats=train)[:, 0]
    if self.num_classes > 0:
      class_embedding = layers_sn.SNEmbed(self.num_classes, features.shape[-1],
                                          spectral_norm=self.spectral_norm,
                                          name='projection')(labels, update_stats=train)
      logits = logits + jnp.sum(class_embedding * features, axis=-1)
    return logits
