"""R3GAN's generator and discriminator (Huang et al. 2024, "The GAN is dead; long live the GAN!
A Modern GAN Baseline", NeurIPS; official code brownvc/R3GAN, R3GAN/Networks.py).

The paper's config E: a ResNet whose blocks are ConvNeXt-like inverted bottlenecks (section 3,
"Modernizing", and figure 3), without normalisation, with fix-up initialisation:

  ResidualBlock(x) = x + conv1x1_3(act2(conv3x3_2(act1(conv1x1_1(x)))))

conv1x1_1 expands the channels by `expansion` (2 in every preset), conv3x3_2 is a grouped
convolution with `cardinality` groups, conv1x1_3 projects back; act(h) = leaky_relu(h + b, 0.2)
with a learned bias b (the official BiasedActivation, gain 1). No convolution has a bias.

Initialisation (the official MSRInitializer): every weight ~ N(0, (gain / sqrt(fan_in))^2),
fan_in = input channels per group x kernel area. In a residual block conv1x1_1 and conv3x3_2
have gain sqrt(2 / (1 + 0.2^2)) * L^(-1/4), L the number of residual blocks in the whole
network (sum of `blocks`; -1/(2m - 2) with m = 3 layers per block: Fixup, Zhang et al. 2019),
and conv1x1_3 starts at zero, so every block starts as the identity. Transition and
aggregation/extraction convolutions have gain 1; the activation biases start at zero.

Generator, stage by stage (`widths[s]` channels at 4 * 2^s pixels):
  [z, embed(y)] -> GenerativeBasis (a learned 4x4xC constant times a linear map of the input,
  per channel) -> blocks;  each further stage: 1x1 conv to the new width (only where it
  changes), 2x upsampling, blocks;  -> 1x1 "aggregation" conv to RGB. The output is not
  squashed (no tanh), as in the official code: the images are learned to lie in [-1, 1], and
  jaxgan clips them wherever it quantises them (sample grids, FID).
Discriminator, the mirror image (stages at widths reversed):
  1x1 "extraction" conv -> per stage: blocks, 2x downsampling, 1x1 conv to the next width ->
  last stage: blocks, DiscriminativeBasis (a depthwise 4x4 "valid" conv, then a linear map)
  to one logit, or, class-conditional, to an embedding-sized vector whose dot product with
  embed(y) is the logit (the projection discriminator, Miyato & Koyama 2018, eq. 3).

Resampling is the official "interpolative" FIR filter: the binomial filter [1, 2, 1] convolved
with [1, 1] ([1, 3, 3, 1] / 8 per axis, its outer product in 2-D). Upsampling inserts zeros
and filters with gain 4 (StyleGAN's upfirdn2d.upsample2d), downsampling filters then keeps
every second pixel (upfirdn2d.downsample2d); both pad with zeros.

Class conditioning (the official code feeds one-hot labels through bias-free linear layers,
i.e. an embedding lookup): G concatenates embed(y) (as many dimensions as z, the official
ConditionEmbeddingDimension = NoiseDimension) after z; D's embedding has widths[0] dimensions,
initialised with gain 1 / sqrt(widths[0]).

Precision: the official presets run the highest-resolution stages in reduced precision
(`FP16Stages`, bfloat16 in R3GAN's training/networks.py): the last `reduced_stages` stages of
G and the first `reduced_stages` of D (3 of 4 at 32 px, 4 of 5 or 7 at 64 and 256 px). Here
those stages compute in `dtype` (pass jnp.bfloat16, config.model.dtype='bfloat16', for the
official setting; float32, the default, computes everything in float32). A stage casts its
input to its dtype and its parameters to that dtype as it uses them; parameters stay float32,
G's aggregation conv runs in its last stage's dtype and D's extraction conv in its first
stage's, as in the official code, and both networks return float32.

Presets (`PRESETS`, from the official train.py `--preset` table; `preset=None` picks the one
for the image size: 32 -> cifar10, 64 -> ffhq64, 256 -> ffhq256). `widths`, `cardinalities`
and `blocks` override a preset's per-stage values (in the generator's order, 4x4 first; the
discriminator uses them reversed, as train.py does), e.g. for tiny test networks.

The official checkpoints' layout converts with `from_official` (and back with `to_official`).
"""

import dataclasses
import math
from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import errors


@dataclasses.dataclass(frozen=True)
class Preset:
  """One official preset (brownvc/R3GAN train.py): per-stage values in the generator's order."""
  resolution: int
  widths: tuple[int, ...]
  cardinalities: tuple[int, ...]
  blocks: tuple[int, ...]
  expansion: int
  reduced_stages: int        # len(FP16Stages): G's last / D's first stages in bfloat16
  z_dim: int                 # NoiseDimension
  num_classes: int           # of the official command (--cond=1 on CIFAR-10 and ImageNet)
  command: str               # the README's training command


_OFFICIAL = 'python train.py --outdir=./training-runs --gpus=8 --mirror=1 --aug=1 --tick=1 --snap=200'
PRESETS: dict[str, Preset] = {
    'cifar10': Preset(32, (768,) * 4, (96,) * 4, (2,) * 4, 2, 3, 64, 10,
                      _OFFICIAL + ' --data=./datasets/cifar10.zip --batch=512 --cond=1 '
                      '--preset=CIFAR10'),
    'ffhq64': Preset(64, (768,) * 4 + (384,), (96,) * 4 + (48,), (2,) * 5, 2, 4, 64, 0,
                     _OFFICIAL + ' --data=./datasets/ffhq-64x64.zip --batch=256 '
                     '--preset=FFHQ-64'),
    'ffhq256': Preset(256, (768,) * 4 + (384, 192, 96), (96,) * 4 + (48, 24, 12), (2,) * 7, 2,
                      4, 64, 0,
                      _OFFICIAL + ' --data=./datasets/ffhq-256x256.zip --batch=256 '
                      '--preset=FFHQ-256'),
    'imagenet32': Preset(32, (1536,) * 4, (96,) * 4, (2,) * 4, 2, 3, 64, 1000,
                         _OFFICIAL.replace('--gpus=8', '--gpus=32') +
                         ' --data=./datasets/imagenet-32x32.zip --batch=4096 --cond=1 '
                         '--preset=ImageNet-32'),
    'imagenet64': Preset(64, (1536,) * 5, (96,) * 5, (2,) * 5, 2, 4, 64, 1000,
                         _OFFICIAL.replace('--gpus=8', '--gpus=64') +
                         ' --data=./datasets/imagenet-64x64.zip --batch=4096 --cond=1 '
                         '--preset=ImageNet-64'),
}
DEFAULT_PRESETS = {32: 'cifar10', 64: 'ffhq64', 256: 'ffhq256'}

_LEAK = 0.2
_ACTIVATION_GAIN = math.sqrt(2 / (1 + _LEAK ** 2))   # He et al.'s gain for leaky ReLU
_LAYERS_PER_BLOCK = 3


@dataclasses.dataclass(frozen=True)
class Architecture:
  """A network's resolved per-stage settings (generator order)."""
  widths: tuple[int, ...]
  cardinalities: tuple[int, ...]
  blocks: tuple[int, ...]
  expansion: int
  reduced_stages: int

  @property
  def num_stages(self) -> int:
    return len(self.widths)

  @property
  def variance_scaling(self) -> int:
    return sum(self.blocks)


def _positive_ints(name: str, value, length: int) -> tuple[int, ...]:
  value = tuple(value)
  if len(value) != length or not all(
      isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
    raise errors.ConfigError(f'{name}={value!r} must be {length} positive integers, one per '
                             f'stage (4x4 first).')
  return value


def architecture(image_size: int, preset: Optional[str] = None, widths=None,
                 cardinalities=None, blocks=None, expansion: Optional[int] = None,
                 reduced_stages: Optional[int] = None) -> Architecture:
  """The preset's settings with the given overrides, checked (ConfigError naming the value)."""
  if preset is None:
    if image_size not in DEFAULT_PRESETS:
      raise errors.ConfigError(
          f'image_size={image_size!r} has no official R3GAN preset; the presets cover 32 '
          f'(cifar10, imagenet32), 64 (ffhq64, imagenet64) and 256 pixels (ffhq256).')
    preset = DEFAULT_PRESETS[image_size]
  errors.check_arg('preset', preset, PRESETS)
  p = PRESETS[preset]
  if image_size != p.resolution:
    raise errors.ConfigError(f'preset={preset!r} is the {p.resolution}x{p.resolution} network, '
                             f'but the images are {image_size}x{image_size}; set the image size '
                             f'(config.data.image_size) to {p.resolution} or pick a preset of '
                             f'that size.')
  n = len(p.widths)
  widths = p.widths if widths is None else _positive_ints('widths', widths, n)
  cardinalities = (p.cardinalities if cardinalities is None
                   else _positive_ints('cardinalities', cardinalities, n))
  blocks = p.blocks if blocks is None else _positive_ints('blocks', blocks, n)
  expansion = p.expansion if expansion is None else expansion
  if not isinstance(expansion, int) or isinstance(expansion, bool) or expansion < 1:
    raise errors.ConfigError(f'expansion={expansion!r} must be a positive integer (2 in the '
                             f'official presets).')
  for w, c in zip(widths, cardinalities):
    if (w * expansion) % c:
      raise errors.ConfigError(
          f'cardinalities={cardinalities!r} must divide the expanded widths '
          f'{tuple(x * expansion for x in widths)} (groups of the 3x3 convolutions).')
  reduced_stages = p.reduced_stages if reduced_stages is None else reduced_stages
  if (not isinstance(reduced_stages, int) or isinstance(reduced_stages, bool)
      or not 0 <= reduced_stages <= n):
    raise errors.ConfigError(f'reduced_stages={reduced_stages!r} must be an integer from 0 to '
                             f'{n} (stages computed in the compute dtype).')
  return Architecture(widths, cardinalities, blocks, expansion, reduced_stages)


def _msr_init(gain: float):
  """N(0, (gain / sqrt(fan_in))^2), fan_in = the product of all but the last axis (the
  official MSRInitializer for HWIO kernels, (in, out) matrices and (classes, dim) tables)."""
  def init(key, shape, dtype=jnp.float32):
    if gain == 0:
      return jnp.zeros(shape, dtype)
    fan_in = int(np.prod(shape[:-1]))
    return jax.random.normal(key, shape, dtype) * (gain / math.sqrt(fan_in))
  return init


def lowpass_taps(resampling_filter=(1, 2, 1)) -> np.ndarray:
  """The official CreateLowpassKernel(Filter, Inplace=False) per axis: the filter convolved
  with [1, 1] and normalised (its outer product is the official 2-D kernel)."""
  taps = np.convolve(np.asarray(resampling_filter, np.float64), [1.0, 1.0])
  return taps / taps.sum()


def _fir(x: jax.Array, taps: np.ndarray, axis: int, *, up: int = 1, down: int = 1,
         pad: tuple[int, int] = (0, 0), gain: float = 1.0) -> jax.Array:
  """upfirdn along one axis: insert up-1 zeros after each sample, zero-pad, convolve with the
  taps (flipped: a true convolution, as upfirdn2d's default), keep every down-th output.
  Written as shifted slices because the filter is tiny and XLA fuses them."""
  if up > 1:
    x = jnp.expand_dims(x, axis + 1)
    widths = [(0, 0)] * x.ndim
    widths[axis + 1] = (0, up - 1)
    x = jnp.pad(x, widths)
    shape = list(x.shape)
    x = x.reshape(shape[:axis] + [shape[axis] * up] + shape[axis + 2:])
  widths = [(0, 0)] * x.ndim
  widths[axis] = pad
  x = jnp.pad(x, widths)
  k = len(taps)
  outputs = x.shape[axis] - k + 1
  kept = (outputs + down - 1) // down
  y = None
  for i, tap in enumerate(taps[::-1]):
    term = jax.lax.slice_in_dim(x, i, i + down * (kept - 1) + 1, down, axis) * jnp.asarray(
        tap * gain, x.dtype)
    y = term if y is None else y + term
  return y


def upsample(x: jax.Array, taps: np.ndarray) -> jax.Array:
  """2x upsampling of NHWC maps as upfirdn2d.upsample2d (zeros inserted, filter, gain 4)."""
  k = len(taps)
  pad = ((k + 1) // 2, (k - 2) // 2)
  for axis in (1, 2):
    x = _fir(x, taps, axis, up=2, pad=pad, gain=2.0)
  return x


def downsample(x: jax.Array, taps: np.ndarray) -> jax.Array:
  """2x downsampling of NHWC maps as upfirdn2d.downsample2d (filter, keep every second)."""
  k = len(taps)
  pad = ((k - 1) // 2, (k - 2) // 2)
  for axis in (1, 2):
    x = _fir(x, taps, axis, down=2, pad=pad)
  return x


class Conv(nn.Module):
  """Bias-free 'same' convolution (kernel HWIO, `groups` feature groups), initialised as the
  official Convolution with `gain`; computes in `dtype`, the parameter stays float32."""
  features: int
  kernel_size: int = 1
  groups: int = 1
  gain: float = 1.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param('kernel', _msr_init(self.gain),
                        (k, k, x.shape[-1] // self.groups, self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if k == 1 and self.groups == 1:
      return jnp.einsum('bhwc,cf->bhwf', x, kernel[0, 0])   # a 1x1 conv is a matmul
    p = (k - 1) // 2
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((p, p), (p, p)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        feature_group_count=self.groups)


def _biased_activation(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
  """leaky_relu(x + b, 0.2) with a learned per-channel bias (the official BiasedActivation)."""
  bias = module.param(name, nn.initializers.zeros, (x.shape[-1],), jnp.float32)
  return nn.leaky_relu(x + bias.astype(x.dtype), _LEAK)


class ResidualBlock(nn.Module):
  """x + conv1x1(act(grouped conv(act(conv1x1(x))))), the last conv initialised to zero."""
  cardinality: int
  expansion: int
  kernel_size: int
  variance_scaling: int      # L: residual blocks in the whole network
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels, expanded = x.shape[-1], x.shape[-1] * self.expansion
    gain = _ACTIVATION_GAIN * self.variance_scaling ** (-1 / (2 * _LAYERS_PER_BLOCK - 2))
    y = Conv(expanded, 1, gain=gain, dtype=self.dtype, name='conv1')(x)
    y = _biased_activation(self, 'bias1', y)
    y = Conv(expanded, self.kernel_size, self.cardinality, gain, self.dtype, name='conv2')(y)
    y = _biased_activation(self, 'bias2', y)
    y = Conv(channels, 1, gain=0.0, dtype=self.dtype, name='conv3')(y)
    return x + y


class GenerativeBasis(nn.Module):
  """A learned 4x4xC map, scaled per channel by a linear map of the input vector."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    basis = self.param('basis', nn.initializers.normal(1.0), (4, 4, self.features), jnp.float32)
    kernel = self.param('kernel', _msr_init(1.0), (x.shape[-1], self.features), jnp.float32)
    scale = x.astype(self.dtype) @ kernel.astype(self.dtype)
    return basis.astype(self.dtype)[None] * scale[:, None, None, :]


class DiscriminativeBasis(nn.Module):
  """A depthwise 4x4 'valid' convolution of the 4x4 map, then a linear map: (B, features)."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    # The official depthwise Conv2d weight (C, 1, 4, 4) has fan_in 16.
    basis = self.param('basis', nn.initializers.normal(0.25), (4, 4, channels), jnp.float32)
    kernel = self.param('kernel', _msr_init(1.0), (channels, self.features), jnp.float32)
    x = x.astype(self.dtype)
    pooled = jnp.einsum('bhwc,hwc->bc', x, basis.astype(self.dtype))
    return pooled @ kernel.astype(self.dtype)


class GeneratorStage(nn.Module):
  """Stage 0: the generative basis; later stages: (1x1 conv,) 2x upsampling; then blocks."""
  features: int
  cardinality: int
  num_blocks: int
  expansion: int
  kernel_size: int
  variance_scaling: int
  taps: Optional[tuple] = None     # None: the first stage (generative basis)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(self.dtype)
    if self.taps is None:
      x = GenerativeBasis(self.features, self.dtype, name='basis')(x)
    else:
      if x.shape[-1] != self.features:
        x = Conv(self.features, 1, dtype=self.dtype, name='transition')(x)
      x = upsample(x, np.asarray(self.taps))
    for j in range(self.num_blocks):
      x = ResidualBlock(self.cardinality, self.expansion, self.kernel_size,
                        self.variance_scaling, self.dtype, name=f'block{j}')(x)
    return x


class DiscriminatorStage(nn.Module):
  """Blocks, then 2x downsampling and (1x1 conv); the last stage: the discriminative basis."""
  features: int              # output channels (the last stage: output dimensions)
  cardinality: int
  num_blocks: int
  expansion: int
  kernel_size: int
  variance_scaling: int
  taps: Optional[tuple] = None     # None: the last stage (discriminative basis)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(self.dtype)
    for j in range(self.num_blocks):
      x = ResidualBlock(self.cardinality, self.expansion, self.kernel_size,
                        self.variance_scaling, self.dtype, name=f'block{j}')(x)
    if self.taps is None:
      return DiscriminativeBasis(self.features, self.dtype, name='basis')(x)
    x = downsample(x, np.asarray(self.taps))
    if x.shape[-1] != self.features:
      x = Conv(self.features, 1, dtype=self.dtype, name='transition')(x)
    return x


def _check_labels(labels, num_classes: int, batch: int, who: str):
  if num_classes <= 0:
    return None  # Unconditional: labels, if given, are ignored.
  if labels is None:
    raise ValueError(f'The R3GAN {who} is class-conditional (num_classes={num_classes}); pass '
                     f'integer labels of shape (batch,).')
  labels = jnp.asarray(labels)
  if labels.shape != (batch,):
    raise ValueError(f'The R3GAN {who} expects labels of shape ({batch},), got {labels.shape}.')
  return labels


class _R3GANModule(nn.Module):
  """Fields and checks shared by both networks."""
  image_size: int = 32
  preset: Optional[str] = None     # None: DEFAULT_PRESETS[image_size]
  num_classes: int = 0
  widths: Optional[tuple] = None          # per stage, generator order (4x4 first)
  cardinalities: Optional[tuple] = None
  blocks: Optional[tuple] = None
  expansion: Optional[int] = None
  reduced_stages: Optional[int] = None    # stages computed in `dtype` (None: the preset's)
  embedding_dim: Optional[int] = None     # class embedding (None: G z's size, D widths[0])
  kernel_size: int = 3
  resampling_filter: tuple = (1, 2, 1)
  dtype: Any = jnp.float32

  def __post_init__(self):
    self.architecture()   # ConfigError for a bad value, before anything is traced
    if (not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool)
        or self.num_classes < 0):
      raise errors.ConfigError(f'num_classes={self.num_classes!r} must be an integer >= 0 '
                               f'(0: unconditional).')
    super().__post_init__()

  def architecture(self) -> Architecture:
    return architecture(self.image_size, self.preset, self.widths, self.cardinalities,
                        self.blocks, self.expansion, self.reduced_stages)

  def _taps(self) -> tuple:
    return tuple(float(t) for t in lowpass_taps(self.resampling_filter))


class Generator(_R3GANModule):
  """R3GAN generator: `generator(z, labels=None, *, train)` -> NHWC float32 images (not
  squashed; see the module docstring). `train` is accepted for the calling convention: the
  network has no state."""
  out_channels: int = 3

  def stage_dtype(self, stage: int):
    arch = self.architecture()
    return self.dtype if stage >= arch.num_stages - arch.reduced_stages else jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels=None, *, train: bool) -> jax.Array:
    del train
    arch = self.architecture()
    labels = _check_labels(labels, self.num_classes, z.shape[0], 'generator')
    x = z.astype(jnp.float32)
    if self.num_classes > 0:
      dim = self.embedding_dim or z.shape[-1]
      embedding = nn.Embed(self.num_classes, dim, embedding_init=_msr_init(1.0),
                           name='embedding')(labels)
      x = jnp.concatenate([x, embedding], axis=-1)
    taps = self._taps()
    for s in range(arch.num_stages):
      x = GeneratorStage(arch.widths[s], arch.cardinalities[s], arch.blocks[s], arch.expansion,
                         self.kernel_size, arch.variance_scaling, None if s == 0 else taps,
                         self.stage_dtype(s), name=f'stage{s}')(x)
    x = Conv(self.out_channels, 1, dtype=self.stage_dtype(arch.num_stages - 1),
             name='aggregation')(x)
    return x.astype(jnp.float32)


class Discriminator(_R3GANModule):
  """R3GAN discriminator: `discriminator(x, labels=None, *, train)` -> (B,) float32 logits."""

  mixes_samples = False   # no normalisation: each sample's logit depends on that sample only

  def stage_dtype(self, stage: int):
    return self.dtype if stage < self.architecture().reduced_stages else jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels=None, *, train: bool) -> jax.Array:
    del train
    arch = self.architecture()
    labels = _check_labels(labels, self.num_classes, x.shape[0], 'discriminator')
    widths = arch.widths[::-1]
    cardinalities, blocks = arch.cardinalities[::-1], arch.blocks[::-1]
    dim = (self.embedding_dim or arch.widths[0]) if self.num_classes > 0 else 1
    taps = self._taps()
    h = Conv(widths[0], 1, dtype=self.stage_dtype(0), name='extraction')(x)
    for s in range(arch.num_stages):
      last = s == arch.num_stages - 1
      h = DiscriminatorStage(dim if last else widths[s + 1], cardinalities[s], blocks[s],
                             arch.expansion, self.kernel_size, arch.variance_scaling,
                             None if last else taps, self.stage_dtype(s), name=f'stage{s}')(h)
    h = h.astype(jnp.float32)
    if self.num_classes <= 0:
      return h[:, 0]
    embedding = nn.Embed(self.num_classes, dim, embedding_init=_msr_init(1 / math.sqrt(dim)),
                         name='embedding')(labels)
    return jnp.sum(h * embedding, axis=-1)


# ---------------------------------------------------------------------------------------------
# The official checkpoints' layout (R3GAN/Networks.py module names, PyTorch NCHW shapes).
# ---------------------------------------------------------------------------------------------

# How each kind of tensor maps between the official layout and jaxgan's.
_TO_JAX = {
    'conv': lambda w: np.transpose(w, (2, 3, 1, 0)),          # (O, I, kh, kw) -> HWIO
    'matrix': lambda w: np.transpose(w),                        # Linear (O, I) -> (I, O)
    'g_basis': lambda w: np.transpose(w, (1, 2, 0)),            # (C, 4, 4) -> (4, 4, C)
    'd_basis': lambda w: np.transpose(w[:, 0], (1, 2, 0)),      # (C, 1, 4, 4) -> (4, 4, C)
    'vector': lambda w: w,
}
_TO_OFFICIAL = {
    'conv': lambda w: np.transpose(w, (3, 2, 0, 1)),
    'matrix': lambda w: np.transpose(w),
    'g_basis': lambda w: np.transpose(w, (2, 0, 1)),
    'd_basis': lambda w: np.transpose(w, (2, 0, 1))[:, None],
    'vector': lambda w: w,
}


def _block_entries(prefix: str, path: tuple) -> list:
  return [(f'{prefix}.LinearLayer1.Layer.weight', path + ('conv1', 'kernel'), 'conv'),
          (f'{prefix}.LinearLayer2.Layer.weight', path + ('conv2', 'kernel'), 'conv'),
          (f'{prefix}.LinearLayer3.Layer.weight', path + ('conv3', 'kernel'), 'conv'),
          (f'{prefix}.NonLinearity1.Bias', path + ('bias1',), 'vector'),
          (f'{prefix}.NonLinearity2.Bias', path + ('bias2',), 'vector')]


def official_layout(module: _R3GANModule) -> tuple[list, list]:
  """(parameters, filters) of `module` in the official state dict (without the 'Model.' prefix
  of training/networks.py): parameters as (official key, jaxgan params path, kind), filters
  as the keys of the resampling-kernel buffers."""
  arch = module.architecture()
  n = arch.num_stages
  entries, filters = [], []
  if isinstance(module, Generator):
    entries.append(('MainLayers.0.Layers.0.Basis', ('stage0', 'basis', 'basis'), 'g_basis'))
    entries.append(('MainLayers.0.Layers.0.LinearLayer.weight', ('stage0', 'basis', 'kernel'),
                    'matrix'))
    for s in range(n):
      if s > 0:
        if arch.widths[s] != arch.widths[s - 1]:
          entries.append((f'MainLayers.{s}.Layers.0.LinearLayer.Layer.weight',
                          (f'stage{s}', 'transition', 'kernel'), 'conv'))
        filters.append(f'MainLayers.{s}.Layers.0.Resampler.Kernel')
      for j in range(arch.blocks[s]):
        entries += _block_entries(f'MainLayers.{s}.Layers.{j + 1}', (f'stage{s}', f'block{j}'))
    entries.append(('AggregationLayer.Layer.weight', ('aggregation', 'kernel'), 'conv'))
  else:
    widths, blocks = arch.widths[::-1], arch.blocks[::-1]
    entries.append(('ExtractionLayer.Layer.weight', ('extraction', 'kernel'), 'conv'))
    for s in range(n):
      for j in range(blocks[s]):
        entries += _block_entries(f'MainLayers.{s}.Layers.{j}', (f'stage{s}', f'block{j}'))
      t = f'MainLayers.{s}.Layers.{blocks[s]}'
      if s == n - 1:
        entries.append((f'{t}.Basis.weight', (f'stage{s}', 'basis', 'basis'), 'd_basis'))
        entries.append((f'{t}.LinearLayer.weight', (f'stage{s}', 'basis', 'kernel'), 'matrix'))
      else:
        filters.append(f'{t}.Resampler.Kernel')
        if widths[s + 1] != widths[s]:
          entries.append((f'{t}.LinearLayer.Layer.weight', (f'stage{s}', 'transition', 'kernel'),
                          'conv'))
  if module.num_classes > 0:
    entries.append(('EmbeddingLayer.weight', ('embedding', 'embedding'), 'matrix'))
  return entries, filters


def _official_filter(module: _R3GANModule) -> np.ndarray:
  taps = lowpass_taps(module.resampling_filter)
  return np.outer(taps, taps).astype(np.float32)


def to_official(module: _R3GANModule, params: Mapping) -> dict[str, np.ndarray]:
  """jaxgan `params` (the 'params' collection) -> the official state dict of
  R3GAN.Networks.Generator / Discriminator (numpy float32; add the prefix 'Model.' for
  training/networks.py's wrappers, which the official pickles hold)."""
  entries, filters = official_layout(module)
  out = {}
  for key, path, kind in entries:
    value = params
    for part in path:
      value = value[part]
    out[key] = np.ascontiguousarray(_TO_OFFICIAL[kind](np.asarray(value, np.float32)))
  for key in filters:
    out[key] = _official_filter(module)
  return out


def from_official(module: _R3GANModule, state_dict: Mapping[str, Any]) -> dict:
  """The official state dict of `module`'s network (R3GAN.Networks or training/networks.py
  key names, with or without 'Model.'; values as numpy arrays or anything np.asarray takes,
  e.g. CPU torch tensors) -> jaxgan's 'params' collection for `module`.

  Raises errors.CheckpointError naming what does not fit: a missing or unexpected key, a
  shape that differs from `module`'s, or a resampling filter other than `module`'s.
  """
  state = {k[len('Model.'):] if k.startswith('Model.') else k: v for k, v in state_dict.items()}
  entries, filters = official_layout(module)
  who = type(module).__name__
  expected = {key for key, _, _ in entries} | set(filters)
  missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
  if missing or unexpected:
    raise errors.CheckpointError(
        f'the state dict does not fit this R3GAN {who} (missing: {missing[:3] or "none"}, '
        f'unexpected: {unexpected[:3] or "none"}); build the {who} with the checkpoint\'s preset '
        f'and num_classes, and pass the {who}\'s own state dict.')
  shapes = jax.eval_shape(lambda: module.init(
      jax.random.key(0), *_example_inputs(module, state), train=False))['params']
  params: dict = {}
  for key, path, kind in entries:
    want = shapes
    for part in path:
      want = want[part]
    official_shape = _TO_OFFICIAL[kind](np.zeros(want.shape, np.float32)).shape
    if tuple(np.shape(state[key])) != official_shape:
      raise errors.CheckpointError(
          f'{key} has the shape {tuple(np.shape(state[key]))} where this R3GAN {who} has '
          f'{official_shape}; build the {who} with the checkpoint\'s preset, widths and '
          f'num_classes.')
    node = params
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = jnp.asarray(_TO_JAX[kind](np.asarray(state[key], np.float32)))
  want_filter = _official_filter(module)
  for key in filters:
    got = np.asarray(state[key], np.float32)
    if got.shape != want_filter.shape or not np.allclose(got, want_filter, rtol=1e-6, atol=0):
      raise errors.CheckpointError(
          f'{key} is a resampling filter other than this {who}\'s ({module.resampling_filter}); '
          f'build it with the checkpoint\'s resampling_filter.')
  return params


def _example_inputs(module: _R3GANModule, state: Mapping[str, Any]) -> tuple:
  """Batch-1 inputs of the sizes the official state dict was trained with (G: z's size is
  the first linear map's inputs less the class embedding's; D: the image's channels)."""
  labels = jnp.zeros((1,), jnp.int32) if module.num_classes > 0 else None
  if isinstance(module, Generator):
    inputs = np.shape(state['MainLayers.0.Layers.0.LinearLayer.weight'])[1]
    if module.num_classes > 0:
      inputs -= np.shape(state['EmbeddingLayer.weight'])[0]
    return jnp.zeros((1, inputs), jnp.float32), labels
  channels = np.shape(state['ExtractionLayer.Layer.weight'])[1]
  return jnp.zeros((1, module.image_size, module.image_size, channels), jnp.float32), labels
