"""BigGAN generator and discriminator as PyTorch-StudioGAN builds them (Brock et al. 2019,
"Large Scale GAN Training for High Fidelity Natural Image Synthesis"; StudioGAN's
`src/models/big_resnet.py`, the backbone of its CIFAR10/BigGAN.yaml and of the BigGAN rows of
its benchmark).

What BigGAN adds to the SAGAN network (`jaxgan.models.sagan`), all as StudioGAN has it:

* Hierarchical latent (Brock et al., Sec. 3 "skip-z"): z is split into `num_blocks + 1` equal
  chunks; the first feeds the linear layer to the 4x4 map, each later one one residual block.
* Shared class embedding (Sec. 3): one table `shared` (num_classes x shared_dim, plain, not
  spectrally normalised) whose row for the label is concatenated in front of each block's z
  chunk, [embed(y), z_k], the block's conditioning vector a_k.
* Conditional batch norm fed by a_k (Sec. 3, appendix B): batch norm without affine
  parameters, then gain 1 + W_gain a_k and bias W_bias a_k per channel, W_gain and W_bias
  linear layers without bias (spectrally normalised with the rest of G). Unconditional
  (`num_classes=0`, StudioGAN's BigGAN-Uncond.yaml) feeds the z chunk alone.
* Self-attention with 2x2 max-pooled keys and values (BigGAN's and StudioGAN's form; jaxgan's
  `SelfAttention(pool=True)`), after the block that reaches `attention_resolution` in each net.
* Projection discriminator (Miyato & Koyama 2018, eq. 3), spectral norm on every layer of both
  networks, orthogonal initialisation ('ortho': StudioGAN's default, the only one its BigGAN
  yamls use; biases, attention gain and batch-norm shifts start at 0, batch-norm scales at 1).

Layouts (widths as multiples of `width`, StudioGAN's g_conv_dim / d_conv_dim; the same tables
as jaxgan's SAGAN, `sagan.G_MULTIPLIERS` / `sagan.D_BLOCKS`, which StudioGAN's
big_resnet and resnet share):

  32x32    G: 4x4x4ch -> 8x8x4ch -> 16x16x4ch -> 32x32x4ch         (3 blocks, z in 4 chunks)
           D: 16x16x2ch -> 8x8x2ch -> 8x8x2ch -> 8x8x2ch
  64x64    G: 4x4x16ch -> 8x8x8ch -> ... -> 64x64x1ch              (4 blocks, 5 chunks)
  128x128  G: 4x4x16ch -> 8x8x16ch -> ... -> 128x128x1ch           (5 blocks, 6 chunks)
  256x256  G: 4x4x16ch -> 8x8x16ch -> ... -> 256x256x1ch           (6 blocks, 7 chunks)

The CIFAR-10 setting (CIFAR10/BigGAN.yaml): width 96 in both, z_dim 80 (chunks of 20),
shared_dim 128, attention at 16x16 in both (attn_g_loc [2], attn_d_loc [1]), 10 classes:
9,416,196 generator and 2,415,170 discriminator parameters, as StudioGAN's training log
prints them (tests/test_biggan.py has these and the other layouts' counts with their sources).

Layout details kept so that StudioGAN's checkpoints load with transposes only
(`jaxgan.models.biggan_studiogan`): the first linear layer's output is read channel-first, as
PyTorch's `view(-1, C, 4, 4)`, then moved to NHWC.

Behaviour that differs from StudioGAN's PyTorch modules, each small:
* Spectral norm: flax's power iteration also runs in evaluation (one step from the stored u,
  not stored; see `layers_sn`), where PyTorch's eval mode reuses its stored u and v; its
  epsilon is flax's 1e-12 where StudioGAN passes 1e-6 (only matters for vectors of norm
  below ~1e-3).

Batch norm in the generator is synchronised over the train step's device axis ('batch'), as
jaxgan's SAGAN; compute runs in `dtype` with float32 parameters, statistics, spectral norm and
attention softmax, and both networks return float32.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import errors
from jaxgan.models import attention as attention_lib
from jaxgan.models import layers, layers_sn, sagan

# StudioGAN's ops.batchnorm_2d: eps 1e-4, PyTorch momentum 0.1 (flax's 0.9).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-4

IMAGE_SIZES = tuple(sagan.G_MULTIPLIERS)


def num_blocks(image_size: int) -> int:
  """The generator's residual blocks (each takes one z chunk; the linear layer one more)."""
  return len(sagan.G_MULTIPLIERS[image_size]) - 1


def _positive_int(name: str, value, what: str) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise errors.ConfigError(f'{name}={value!r} must be a positive integer ({what}).')


def _check(image_size, width, attention_resolution, conv_impl) -> None:
  errors.check_arg('image_size', image_size, sagan.G_MULTIPLIERS)
  errors.check_arg('conv_impl', conv_impl, layers.CONV_IMPLS)
  _positive_int('width', width, 'the BigGAN base channel count, e.g. 96 for CIFAR-10')
  side = sagan.attention_side(image_size, attention_resolution)
  allowed = sagan.allowed_attention_resolutions(image_size)
  if side not in allowed:
    raise errors.ConfigError(
        f'attention_resolution={attention_resolution!r} is not a feature-map side that both '
        f'BigGAN networks reach at {image_size}x{image_size}; choose one of '
        f'{", ".join(str(a) for a in allowed)} (0: no attention).')


def _labels(labels, num_classes: int, batch: int, who: str):
  if num_classes <= 0:
    return None   # Unconditional: labels, if given, are ignored.
  if labels is None:
    raise ValueError(f'The BigGAN {who} is class-conditional (num_classes={num_classes}); '
                     f'pass integer labels of shape (batch,).')
  labels = jnp.asarray(labels)
  if labels.shape != (batch,):
    raise ValueError(f'The BigGAN {who} expects labels of shape ({batch},), got '
                     f'{labels.shape}.')
  return labels


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling of an NHWC map (PyTorch's F.interpolate 'nearest')."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class ConditionalBatchNorm(nn.Module):
  """Batch norm without affine parameters, then per-sample gain 1 + W_g a and bias W_b a
  (BigGAN's conditional batch norm; StudioGAN's ops.ConditionalBatchNorm2d)."""
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, affine: jax.Array, *, train: bool) -> jax.Array:
    x = layers.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                         epsilon=_BN_EPSILON, use_scale=False, use_bias=False, dtype=self.dtype,
                         param_dtype=jnp.float32, axis_name=self.axis_name, name='bn')(x)
    dense = functools.partial(layers_sn.SNDense, x.shape[-1], use_bias=False,
                              spectral_norm=self.spectral_norm, dtype=self.dtype)
    gain = 1.0 + dense(name='gain')(affine, update_stats=train)
    bias = dense(name='bias')(affine, update_stats=train)
    return x * gain[:, None, None, :] + bias[:, None, None, :]


class GeneratorBlock(nn.Module):
  """Residual up-block (StudioGAN's GenBlock): cBN, ReLU, up 2x, conv3x3, cBN, ReLU, conv3x3;
  shortcut: up 2x, conv1x1."""
  features: int
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, affine: jax.Array, *, train: bool) -> jax.Array:
    conv = functools.partial(layers_sn.SNConv, self.features,
                             spectral_norm=self.spectral_norm, dtype=self.dtype,
                             conv_impl=self.conv_impl)
    bn = functools.partial(ConditionalBatchNorm, self.spectral_norm, self.dtype,
                           self.bn_axis_name)
    h = nn.relu(bn(name='bn1')(x, affine, train=train))
    h = conv(name='conv1')(_upsample(h), update_stats=train)
    h = nn.relu(bn(name='bn2')(h, affine, train=train))
    h = conv(name='conv2')(h, update_stats=train)
    # A 1x1 convolution commutes with nearest upsampling, so convolve the smaller map.
    shortcut = conv(kernel_size=(1, 1), name='shortcut')(x, update_stats=train)
    return h + _upsample(shortcut)


class Generator(nn.Module):
  """BigGAN generator: `generator(z, labels=None, *, train)` -> NHWC images in [-1, 1]."""
  image_size: int = 32
  width: int = 96               # StudioGAN's g_conv_dim
  z_dim: int = 80               # split into num_blocks(image_size) + 1 equal chunks
  shared_dim: int = 128         # the shared class embedding's size (g_shared_dim)
  num_classes: int = 0
  attention_resolution: int | None = None   # None: half the image side, at most 64
  spectral_norm: bool = True
  out_channels: int = 3
  dtype: Any = jnp.float32
  conv_impl: str = 'auto'       # as jaxgan's SAGAN
  # Batch norm averages its statistics over this mapped axis (the train step's), as the SAGAN.
  bn_axis_name: str | None = 'batch'

  def __post_init__(self):
    _check(self.image_size, self.width, self.attention_resolution, self.conv_impl)
    _positive_int('out_channels', self.out_channels, '3: RGB, 1: greyscale')
    _positive_int('shared_dim', self.shared_dim, 'the shared class embedding size, e.g. 128')
    chunks = num_blocks(self.image_size) + 1
    _positive_int('z_dim', self.z_dim, 'the latent size')
    if self.z_dim % chunks:
      raise errors.ConfigError(
          f'z_dim={self.z_dim!r} must be a multiple of {chunks}: BigGAN splits z into one chunk '
          f'per generator block plus one at {self.image_size}x{self.image_size} (e.g. '
          f'{20 * chunks}).')
    super().__post_init__()

  @nn.compact
  def __call__(self, z: jax.Array, labels=None, *, train: bool) -> jax.Array:
    if z.shape[-1] != self.z_dim:
      raise ValueError(f'The BigGAN generator was built for z of size {self.z_dim}, got '
                       f'{z.shape[-1]}.')
    labels = _labels(labels, self.num_classes, z.shape[0], 'generator')
    widths = [m * self.width for m in sagan.G_MULTIPLIERS[self.image_size]]
    chunks = jnp.split(z.astype(self.dtype), num_blocks(self.image_size) + 1, axis=-1)
    if self.num_classes > 0:
      shared = nn.Embed(self.num_classes, self.shared_dim, dtype=self.dtype,
                        param_dtype=jnp.float32,
                        embedding_init=layers_sn.default_kernel_init, name='shared')(labels)
      affines = [jnp.concatenate([shared, chunk], axis=-1) for chunk in chunks[1:]]
    else:
      affines = chunks[1:]
    attention_at = sagan.attention_side(self.image_size, self.attention_resolution)

    x = layers_sn.SNDense(4 * 4 * widths[0], spectral_norm=self.spectral_norm,
                          dtype=self.dtype, name='linear')(chunks[0], update_stats=train)
    # Channel-first as StudioGAN's view(-1, C, 4, 4), then NHWC.
    x = x.reshape(z.shape[0], widths[0], 4, 4).transpose(0, 2, 3, 1)
    for index, features in enumerate(widths[1:]):
      x = GeneratorBlock(features, self.spectral_norm, self.dtype, self.bn_axis_name,
                         self.conv_impl, name=f'block{index}')(x, affines[index], train=train)
      if x.shape[1] == attention_at:
        x = attention_lib.SelfAttention(spectral_norm=self.spectral_norm, pool=True,
                                        dtype=self.dtype, conv_impl=self.conv_impl,
                                        name='attention')(x, train=train)
    x = sagan.ConditionalBatchNorm(0, self.dtype, self.bn_axis_name, name='bn_out')(
        x, None, train=train)
    x = layers_sn.SNConv(self.out_channels, spectral_norm=self.spectral_norm,
                         dtype=self.dtype, conv_impl=self.conv_impl,
                         name='conv_out')(nn.relu(x), update_stats=train)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """BigGAN projection discriminator: `discriminator(x, labels=None, *, train)` -> (B,)."""
  image_size: int = 32
  width: int = 96               # StudioGAN's d_conv_dim
  num_classes: int = 0
  attention_resolution: int | None = None   # None: half the image side, at most 64
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  conv_impl: str = 'auto'

  mixes_samples = False   # no batch norm (spectral norm on): each logit sees its own sample

  def __post_init__(self):
    _check(self.image_size, self.width, self.attention_resolution, self.conv_impl)
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, labels=None, *, train: bool) -> jax.Array:
    labels = _labels(labels, self.num_classes, x.shape[0], 'discriminator')
    h = x.astype(self.dtype)
    attended = False
    attention_at = sagan.attention_side(self.image_size, self.attention_resolution)
    for index, (multiplier, down) in enumerate(sagan.D_BLOCKS[self.image_size]):
      # StudioGAN's DiscOptBlock (index 0) and DiscBlock are the SAGAN's blocks.
      h = sagan.DiscriminatorBlock(multiplier * self.width, down, index == 0,
                                   self.spectral_norm, self.dtype, self.conv_impl,
                                   name=f'block{index}')(h, train=train)
      if h.shape[1] == attention_at and not attended:
        attended = True
        h = attention_lib.SelfAttention(spectral_norm=self.spectral_norm, pool=True,
                                        dtype=self.dtype, conv_impl=self.conv_impl,
                                        name='attention')(h, train=train)
    # Sum pooling and the output layers in float32: the logit is what the loss sees.
    features = jnp.sum(nn.relu(h).astype(jnp.float32), axis=(1, 2))
    logits = layers_sn.SNDense(1, spectral_norm=self.spectral_norm, dtype=jnp.float32,
                               name='linear')(features, update_stats=train)[:, 0]
    if self.num_classes > 0:
      embedding = layers_sn.SNEmbed(self.num_classes, features.shape[-1],
                                    spectral_norm=self.spectral_norm,
                                    name='projection')(labels, update_stats=train)
      logits = logits + jnp.sum(embedding * features, axis=-1)
    return logits
