"""StyleGAN2 generator and discriminator as in StyleGAN2-ADA (Karras et al. 2020a, 2020b).

A port of the networks of NVlabs/stylegan2-ada-pytorch (`training/networks.py`, with the
resampling of `torch_utils/ops/upfirdn2d.py` and `conv2d_resample.py`), written for NHWC
arrays and flax. The same parameters as the official modules, stored as they store them
(unscaled: each layer multiplies its weight by its equalised-learning-rate gain at run time),
in JAX layouts (`convert_official_state_dict` maps an official state dict onto them).

Generator = mapping network + synthesis network (Karras et al. 2020a, "Analyzing and
Improving the Image Quality of StyleGAN", sections 2-4):

- Mapping: z normalised to unit second moment; with classes, a linear embedding of the
  one-hot label, normalised too, concatenated after z; `mapping_layers` fully connected
  layers (leaky ReLU, gain sqrt 2) whose learning rate is multiplied by 0.01 through
  equalised learning rate (weights initialised N(0, 1/0.01^2) and scaled by
  0.01/sqrt(fan_in) at run time). In training it tracks the average w (`w_avg`, decay
  0.995; the 'w_avg' collection), used by truncation (`truncation_psi`, `truncation_cutoff`).
- Synthesis: a learned 4x4 constant, then per resolution a block of two 3x3 modulated
  convolutions (the first upsamples 2x with the FIR filter [1,3,3,1]), each with weight
  demodulation (eq. 1-3), per-pixel noise scaled by a learned per-layer strength, bias and
  leaky ReLU; 'skip' architecture: every block's ToRGB (1x1 modulated convolution without
  demodulation) is added to the FIR-upsampled image of the blocks before. 'orig' (ToRGB at
  the last block only) and 'resnet' (1x1 upsampling shortcut, sqrt(1/2) gains) too.
  The synthesis network returns the image without a final nonlinearity, as the official one
  does: values are near [-1, 1] but not clipped to it.

Discriminator: per resolution from the image's down to 8, 'resnet' blocks (3x3 conv, 3x3
conv with FIR downsampling, plus a 1x1 downsampling shortcut without bias, both branches
scaled by sqrt(1/2)), 'orig' (no shortcut; the CIFAR-10 setting) or 'skip' (FromRGB of the
downsampled image at every block); then at 4x4 the minibatch standard deviation (group size
`mbstd_group_size`, `mbstd_num_channels` features), a 3x3 conv, a fully connected layer and
the output layer. With classes, a mapping network of the one-hot label (8 layers, learning
rate x0.01, no z) gives `cmap`, and the logit is <out(x), cmap> / sqrt(cmap_dim) (the
projection discriminator of Miyato & Koyama 2018 as StyleGAN2-ADA builds it).

Mixed precision: the official networks run their `num_fp16_res` highest-resolution blocks in
float16 with activations clamped to +-`conv_clamp` (256). Here those blocks run in `dtype`
(float16 as the official, or bfloat16; float32, the default, runs every block in float32, as
the official `--fp32`), with the same clamp; the mapping networks, styles, demodulation
coefficients, the discriminator's epilogue and the image accumulated by the skip generator
stay float32, and both networks return float32. In float16 a demodulated convolution
rescales its weights and styles first, as the official float16 path (`modulated_conv2d`);
bfloat16 has float32's range and needs no rescaling. As the official code, no loss scaling:
its training loop replaces NaN and infinite gradients (`optim.nan_to_num_gradients`).

The settings of the official `train.py --cfg=...` are in `CFG_SPECS`; the networks take a
`cfg` name and derive their widths, mapping depth, minibatch-std group and discriminator
architecture from it (each can be overridden).

Noise: `noise_mode='random'` (training) draws from the 'noise' RNG stream
(`apply(..., rngs={'noise': key})`), 'const' uses each layer's fixed noise buffer (the
'noise_const' collection), 'none' adds none. Initialisation draws no noise.

In jaxgan's training loop (`MODELS['stylegan2']`): the generator names its RNG streams
(`rng_streams`: 'noise' with noise_mode='random', 'mixing' with style mixing on), and the
train step passes it a key
per update and device (`jaxgan.steps`); sampling keys the noise by z's bits. The
discriminator mixes samples (`mixes_samples = True`: the minibatch standard deviation), yet
R1 is allowed for it (`summed_logit_penalty = True`): the official loss (training/loss.py)
takes r1_grads = grad(sum_j D(x_j), x_i), the gradient of the batch's summed logits, and
penalises |r1_grads_i|^2 per sample, which is exactly what jaxgan's R1 computes
(`losses.r1_penalty`). Through the minibatch std this gradient also holds the terms
d D(x_j) / d x_i of the other samples j of x_i's group, so it is not the per-sample gradient
d D(x_i) / d x_i of Mescheder et al. (2018): the penalty equals the official StyleGAN2
penalty, not R1 of a per-sample critic (tests/test_stylegan2_train.py checks both facts in
float64). The groups are formed within each device's batch, as on the official GPUs, and
the noise is drawn per device, so a StyleGAN2 run on 8 devices does not follow the run on 1
device (as the official runs depend on their GPU count).

Training features of the official StyleGAN2Loss (training/loss.py), each in jaxgan's design:
lazy R1 (`losses.lazy`, `config.loss.regularizer_interval`), path length regularisation
(`losses.PathLength`, a generator-side term that runs `Generator.styles` and `synthesize`
through `LossInputs.generator`; `config.loss.path_length`), the official separate
regularisation phases (`losses.lazy(..., separate=True)`, `config.loss.reg_phases`), the
EMA with its ramp-up (`jaxgan.EMA`), and style mixing (`style_mixing_prob`: in training the
generator draws a second z and a cutoff per device batch from its 'mixing' RNG stream, which
the train step keys per update and device; evaluation and sampling never mix). w_avg
moves in every training pass of the generator, as the official mapping network's buffer
(`Generator.moving_state`): the generator's update, path length's mapping in its phase and
each critic update's fakes, each pass's change averaged over devices; truncation reads it.
configs/stylegan2_ada_cifar10.py (cfg cifar) and configs/stylegan2_paper256.py list what
their runs still lack.
"""

import dataclasses
import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan import errors

# ---------------------------------------------------------------------------------------------
# The official train.py's cfg_specs.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Spec:
  """One row of stylegan2-ada-pytorch's `train.py` cfg_specs, plus what that cfg changes.

  ref_gpus: GPUs of the reference run; kimg: training length in thousands of real images;
  mb: total batch; mbstd: minibatch-std group size; fmaps: channel_base / 32768;
  lrate: Adam learning rate of G and D (betas 0, 0.99, eps 1e-8); gamma: R1 weight;
  ema: half-life of G's EMA in kimg; ramp: EMA ramp-up (None: none); map: G's mapping layers.
  """
  ref_gpus: int
  kimg: int
  mb: int
  mbstd: int
  fmaps: float
  lrate: float
  gamma: float
  ema: float
  ramp: Optional[float]
  map: int
  d_architecture: str = 'resnet'
  pl_weight: float = 2.0              # StyleGAN2Loss's default
  style_mixing_prob: float = 0.9      # StyleGAN2Loss's default

  @property
  def channel_base(self) -> int:
    return int(self.fmaps * 32768)


CFG_SPECS = {
    'stylegan2': Spec(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10,
                      ema=10, ramp=None, map=8),
    'paper256': Spec(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1,
                     ema=20, ramp=None, map=8),
    'paper512': Spec(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5,
                     ema=20, ramp=None, map=8),
    'paper1024': Spec(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2,
                      ema=10, ramp=None, map=8),
    # --cfg=cifar also turns off path length regularisation and style mixing and uses the
    # 'orig' discriminator (train.py: "disable residual skip connections").
    'cifar': Spec(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01,
                  ema=500, ramp=0.05, map=2, d_architecture='orig', pl_weight=0.0,
                  style_mixing_prob=0.0),
}
# Settings common to every cfg (train.py): z_dim = w_dim = 512, channel_max 512, the 4
# highest resolutions in reduced precision with activations clamped to +-256, R1 every 16
# D minibatches and path length every 4 G minibatches, ADA target 0.6 on the 'bgc' pipeline.
Z_DIM = W_DIM = 512
CHANNEL_MAX = 512
NUM_FP16_RES = 4
CONV_CLAMP = 256.0
G_REG_INTERVAL, D_REG_INTERVAL = 4, 16
ADA_TARGET = 0.6


def cfg_spec(cfg: str, resolution: int = 32, gpus: int = 1) -> Spec:
  """The cfg_specs row for `cfg`; 'auto' is computed from the resolution and GPU count as
  train.py computes it."""
  if cfg == 'auto':
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return Spec(ref_gpus=gpus, kimg=25000, mb=mb, mbstd=min(mb // gpus, 4),
                fmaps=1 if resolution >= 512 else 0.5,
                lrate=0.002 if resolution >= 1024 else 0.0025,
                gamma=0.0002 * resolution ** 2 / mb, ema=mb * 10 / 32, ramp=0.05, map=2)
  errors.check_arg('cfg', cfg, list(CFG_SPECS) + ['auto'])
  return CFG_SPECS[cfg]


def channels_at(resolution: int, channel_base: int, channel_max: int = CHANNEL_MAX) -> int:
  """Feature maps of the blocks at a resolution (networks.py's channels_dict)."""
  return min(channel_base // resolution, channel_max)


def reduced_precision_from(image_size: int, num_fp16_res: int) -> int:
  """The lowest resolution whose blocks run in reduced precision (networks.py)."""
  return max(2 ** (int(np.log2(image_size)) + 1 - num_fp16_res), 8)


# ---------------------------------------------------------------------------------------------
# Operations: bias + activation, FIR resampling, convolution with resampling.
# ---------------------------------------------------------------------------------------------

_LRELU_GAIN = math.sqrt(2.0)
_DIMS = ('NHWC', 'HWIO', 'NHWC')


def bias_act(x, bias=None, *, act: str = 'linear', gain: float = 1.0,
             clamp: Optional[float] = None):
  """bias_act.py's order: add the bias, activate (leaky ReLU slope 0.2), scale, clamp."""
  if bias is not None:
    x = x + bias.astype(x.dtype)
  if act == 'lrelu':
    x = jnp.where(x >= 0, x, x * jnp.asarray(0.2, x.dtype))
  if gain != 1:
    x = x * jnp.asarray(gain, x.dtype)
  if clamp is not None:
    x = jnp.clip(x, -clamp, clamp)
  return x


def fir_filter(taps=(1, 3, 3, 1)) -> np.ndarray:
  """upfirdn2d.setup_filter: the outer product of the taps, normalised to sum 1."""
  f = np.asarray(taps, np.float64)
  f = np.outer(f, f)
  return (f / f.sum()).astype(np.float32)


def upfirdn(x, f: np.ndarray, *, up: int = 1, down: int = 1, padding=(0, 0), gain: float = 1.0):
  """upfirdn2d on an NHWC map: upsample by zero insertion, pad, convolve with f, keep every
  `down`-th pixel. `padding` is (before, after) on the upsampled map, as the official op's.

  Each channel is filtered alone: the channels go into the batch and one single-channel
  convolution filters them all (on XLA:CPU the step of the tests' StyleGAN2 was 17% faster
  than with a depthwise convolution, feature_group_count=C, whose gradients are slow there).
  """
  n, h, w, c = x.shape
  kernel = jnp.asarray(f[::-1, ::-1] * gain, x.dtype)[:, :, None, None]   # a convolution
  y = jnp.transpose(x, (0, 3, 1, 2)).reshape(n * c, h, w, 1)
  # Zero insertion by lhs_dilation makes up*(H-1)+1 pixels, the official op up*H: the
  # missing (up-1) trailing zeros go into the after-padding.
  p0, p1 = padding
  p1 += up - 1
  y = lax.conv_general_dilated(
      y, kernel, window_strides=(down, down), padding=((p0, p1), (p0, p1)),
      lhs_dilation=(up, up), dimension_numbers=_DIMS)
  return jnp.transpose(y.reshape(n, c, y.shape[1], y.shape[2]), (0, 2, 3, 1))


def upsample2d(x, f):
  """upfirdn2d.upsample2d (2x): the output is twice the input's size."""
  fw = f.shape[0]
  return upfirdn(x, f, up=2, padding=((fw + 1) // 2, (fw - 2) // 2), gain=4.0)


def downsample2d(x, f):
  """upfirdn2d.downsample2d (2x): the output is half the input's size."""
  fw = f.shape[0]
  return upfirdn(x, f, down=2, padding=((fw - 1) // 2, (fw - 2) // 2))


def _conv(x, kernel, *, stride: int = 1, padding=(0, 0), lhs_dilation: int = 1):
  p0, p1 = padding
  return lax.conv_general_dilated(
      x, kernel, window_strides=(stride, stride), padding=((p0, p1), (p0, p1)),
      lhs_dilation=(lhs_dilation, lhs_dilation), dimension_numbers=_DIMS)


def conv2d_resample(x, kernel, f: np.ndarray, *, up: int = 1, down: int = 1):
  """conv2d_resample.py for the layers StyleGAN2 has: a k x k convolution ('same' padding
  k // 2), optionally preceded by FIR 2x downsampling or followed by 2x FIR upsampling.

  `kernel` is HWIO: kernel[h, w, i, o] = official weight[o, i, h, w]. Like the official
  layers, a layer without upsampling correlates with the kernel (torch's conv2d) and an
  upsampling one convolves with it (the official transposed convolution, flip_weight=False).
  """
  k = kernel.shape[0]
  p = k // 2
  fw = f.shape[0]
  if up == 1 and down == 1:
    return _conv(x, kernel, padding=(p, p))
  if down == 2 and up == 1:
    p0, p1 = p + (fw - 1) // 2, p + (fw - 2) // 2
    if k == 1:   # filter and subsample in one op, then the 1x1 conv on the smaller map
      return _conv(upfirdn(x, f, down=2, padding=(p0, p1)), kernel)
    return _conv(upfirdn(x, f, padding=(p0, p1)), kernel, stride=2)
  if up == 2 and down == 1:
    p0, p1 = p + (fw + 1) // 2, p + (fw - 2) // 2
    if k == 1:
      return upfirdn(_conv(x, kernel), f, up=2, padding=(p0, p1), gain=4.0)
    # The transposed convolution: zero-insert, full convolution (flipped kernel correlated
    # over a (k-1)-padded map); then the filter over what is left of the padding.
    x = _conv(x, kernel[::-1, ::-1], padding=(k - 1, k - 1), lhs_dilation=2)
    return upfirdn(x, f, padding=(p0 - (k - 1), p1 - (k - 2)), gain=4.0)
  raise ValueError(f'conv2d_resample supports up=2 or down=2 alone, got up={up}, down={down}.')


def normalize_2nd_moment(x, eps: float = 1e-8):
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def modulated_conv2d(x, kernel, styles, f: np.ndarray, *, up: int = 1, demodulate: bool = True,
                     noise=None):
  """Modulated convolution with optional demodulation (Karras et al. 2020a, eq. 1-3).

  The non-fused form of networks.py's modulated_conv2d (it runs one shared-weight convolution
  instead of B per-sample ones; the official code uses it in training): scale the input's
  channels by the styles, convolve, scale each output channel by the demodulation
  coefficient 1 / sqrt(sum_{i,k} (w_ik s_i)^2 + 1e-8), add the noise. Styles and
  coefficients are computed in float32 and applied in x's dtype. In float16 a demodulated
  convolution first rescales the kernel by 1 / (sqrt(fan_in) max_{h,w,i} |w_o|) per output
  channel and the styles by 1 / max_i |s_i| per sample, as the official float16 path does
  against overflow (float16's largest value is 65504); the demodulation cancels both scales
  (but for its 1e-8).
  """
  dtype = x.dtype
  if demodulate and dtype == jnp.float16:
    kernel = kernel.astype(jnp.float32)
    fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
    kernel = kernel / (np.sqrt(fan_in) * jnp.max(jnp.abs(kernel), axis=(0, 1, 2)))
    styles = styles / jnp.max(jnp.abs(styles), axis=-1, keepdims=True)
  x = x * styles.astype(dtype)[:, None, None, :]
  x = conv2d_resample(x, kernel.astype(dtype), f, up=up)
  if demodulate:
    # sum_{i,h,w} (k[h,w,i,o] s[b,i])^2 = sum_i s[b,i]^2 * sum_{h,w} k[h,w,i,o]^2.
    power = jnp.square(styles) @ jnp.sum(jnp.square(kernel.astype(jnp.float32)), axis=(0, 1))
    x = x * lax.rsqrt(power + 1e-8).astype(dtype)[:, None, None, :]
  if noise is not None:
    x = x + noise.astype(dtype)
  return x


def minibatch_stddev(x, group_size: Optional[int], num_channels: int = 1):
  """MinibatchStdLayer (Karras et al. 2018, section 3): per group of `group_size` samples,
  the standard deviation of each feature over the group, averaged over positions and over
  the channels of each of `num_channels` channel groups, appended as channels.

  Sample n is in group n mod (N / G), as in the official reshape to [G, N/G, ...].
  """
  n, h, w, c = x.shape
  g = n if group_size is None else min(group_size, n)
  if n % g:
    raise ValueError(f'The minibatch standard deviation needs a per-device batch divisible by '
                     f'its group size {g}; got {n} (choose a batch that {g} divides).')
  y = x.astype(jnp.float32).reshape(g, n // g, h, w, num_channels, c // num_channels)
  y = y - jnp.mean(y, axis=0)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)
  y = jnp.mean(y, axis=(1, 2, 4))                                   # (N/G, F)
  y = jnp.tile(y[:, None, None, :], (g, h, w, 1)).astype(x.dtype)   # (N, H, W, F)
  return jnp.concatenate([x, y], axis=-1)


# ---------------------------------------------------------------------------------------------
# Layers with equalised learning rate.
# ---------------------------------------------------------------------------------------------


def _scaled_normal(scale: float) -> Callable:
  def init(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype) * scale
  return init


class FullyConnected(nn.Module):
  """FullyConnectedLayer: kernel ~ N(0, 1/lr^2) stored unscaled, used as kernel * lr /
  sqrt(fan_in); bias initialised to `bias_init`, used as bias * lr."""
  features: int
  activation: str = 'linear'
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', _scaled_normal(1 / self.lr_multiplier),
                        (fan_in, self.features))
    x = x @ (kernel * (self.lr_multiplier / np.sqrt(fan_in))).astype(x.dtype)
    bias = None
    if self.use_bias:
      bias = self.param('bias', nn.initializers.constant(self.bias_init),
                        (self.features,)) * self.lr_multiplier
    return bias_act(x, bias, act=self.activation,
                    gain=_LRELU_GAIN if self.activation == 'lrelu' else 1.0)


class Conv2dLayer(nn.Module):
  """Conv2dLayer: a convolution (with optional FIR 2x resampling) with equalised learning
  rate (weight gain 1/sqrt(fan_in)), bias, activation, and the clamp scaled by `gain`."""
  features: int
  kernel_size: int = 3
  activation: str = 'linear'
  use_bias: bool = True
  up: int = 1
  down: int = 1
  conv_clamp: Optional[float] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, gain: float = 1.0):
    k, fan_in = self.kernel_size, x.shape[-1] * self.kernel_size ** 2
    kernel = self.param('kernel', nn.initializers.normal(1.0),
                        (k, k, x.shape[-1], self.features))
    x = conv2d_resample(x.astype(self.dtype),
                        (kernel * (1 / np.sqrt(fan_in))).astype(self.dtype), fir_filter(),
                        up=self.up, down=self.down)
    bias = self.param('bias', nn.initializers.zeros, (self.features,)) if self.use_bias else None
    act_gain = (_LRELU_GAIN if self.activation == 'lrelu' else 1.0) * gain
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, act=self.activation, gain=act_gain, clamp=clamp)


# ---------------------------------------------------------------------------------------------
# Mapping network.
# ---------------------------------------------------------------------------------------------


class MappingNetwork(nn.Module):
  """z (and a class label) -> w; `num_ws` copies of w, truncated towards w_avg on request.

  Labels are integer classes, embedded as the official code embeds their one-hot vector.
  With `w_avg_beta`, training-mode calls update the 'w_avg' collection to
  mean(w) + beta * (w_avg - mean(w)) (the training step averages it over devices), unless
  `update_w_avg=False` (the official `skip_w_avg_update`, for style mixing's second call).
  """
  w_dim: int = W_DIM
  num_classes: int = 0
  num_layers: int = 8
  num_ws: Optional[int] = None
  embed_features: Optional[int] = None   # None: w_dim
  layer_features: Optional[int] = None   # None: w_dim
  lr_multiplier: float = 0.01
  w_avg_beta: Optional[float] = 0.995

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool = False, truncation_psi: float = 1.0,
               truncation_cutoff: Optional[int] = None, update_w_avg: bool = True):
    parts = []
    if z is not None:
      parts.append(normalize_2nd_moment(z.astype(jnp.float32)))
    if self.num_classes > 0:
      onehot = jax.nn.one_hot(labels, self.num_classes, dtype=jnp.float32)
      embed = FullyConnected(self.embed_features or self.w_dim, name='embed')(onehot)
      parts.append(normalize_2nd_moment(embed))
    x = jnp.concatenate(parts, axis=-1)
    for index in range(self.num_layers):
      features = self.w_dim if index == self.num_layers - 1 else (
          self.layer_features or self.w_dim)
      x = FullyConnected(features, activation='lrelu', lr_multiplier=self.lr_multiplier,
                         name=f'fc{index}')(x)
    if self.num_ws is None or self.w_avg_beta is None:
      return x if self.num_ws is None else jnp.repeat(x[:, None], self.num_ws, axis=1)
    w_avg = self.variable('w_avg', 'w_avg', jnp.zeros, (self.w_dim,), jnp.float32)
    if train and update_w_avg and not self.is_initializing():
      mean = jnp.mean(lax.stop_gradient(x), axis=0)
      w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)
    ws = jnp.repeat(x[:, None], self.num_ws, axis=1)
    if truncation_psi != 1:
      cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
      avg = w_avg.value
      truncated = avg + truncation_psi * (ws[:, :cutoff] - avg)
      ws = jnp.concatenate([truncated, ws[:, cutoff:]], axis=1)
    return ws


# ---------------------------------------------------------------------------------------------
# Synthesis network.
# ---------------------------------------------------------------------------------------------

NOISE_MODES = ('random', 'const', 'none')


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution (optionally upsampling), noise, bias, leaky ReLU, clamp.

  The kernel has no weight gain: demodulation normalises it (as the official layer)."""
  features: int
  resolution: int
  up: int = 1
  use_noise: bool = True
  conv_clamp: Optional[float] = None
  dtype: Any = jnp.float32
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x, w, *, noise_mode: str, gain: float = 1.0):
    in_channels = x.shape[-1]
    styles = FullyConnected(in_channels, bias_init=1.0, name='affine')(w)
    kernel = self.param('kernel', nn.initializers.normal(1.0),
                        (self.kernel_size, self.kernel_size, in_channels, self.features))
    noise = None
    if self.use_noise:
      res = self.resolution
      noise_const = self.variable(
          'noise_const', 'noise_const',
          lambda: jax.random.normal(self.make_rng('params'), (res, res), jnp.float32))
      strength = self.param('noise_strength', nn.initializers.zeros, ())
      if self.is_initializing() or noise_mode == 'none':
        pass
      elif noise_mode == 'random':
        if not self.has_rng('noise'):
          raise ValueError("noise_mode='random' draws noise from the 'noise' RNG stream: pass "
                           "rngs={'noise': key} to apply, or use noise_mode='const' or 'none'.")
        noise = jax.random.normal(self.make_rng('noise'), (x.shape[0], res, res, 1)) * strength
      else:
        noise = (noise_const.value * strength)[None, :, :, None]
    x = modulated_conv2d(x.astype(self.dtype), kernel, styles, fir_filter(), up=self.up,
                         noise=noise)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, act='lrelu', gain=_LRELU_GAIN * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
  """1x1 modulated convolution without demodulation; the styles carry the weight gain."""
  features: int
  conv_clamp: Optional[float] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    in_channels = x.shape[-1]
    styles = FullyConnected(in_channels, bias_init=1.0, name='affine')(w)
    styles = styles * (1 / np.sqrt(in_channels))
    kernel = self.param('kernel', nn.initializers.normal(1.0), (1, 1, in_channels, self.features))
    x = modulated_conv2d(x.astype(self.dtype), kernel, styles, fir_filter(), demodulate=False)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return bias_act(x, bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
  """One resolution of the synthesis network; returns (features, image so far)."""
  in_channels: int          # 0: the first block (4x4 learned constant)
  out_channels: int
  resolution: int
  img_channels: int
  is_last: bool
  architecture: str = 'skip'
  conv_clamp: Optional[float] = None
  dtype: Any = jnp.float32

  @property
  def num_conv(self) -> int:
    return 1 if self.in_channels == 0 else 2

  @property
  def num_torgb(self) -> int:
    return int(self.is_last or self.architecture == 'skip')

  @nn.compact
  def __call__(self, x, img, ws, *, noise_mode: str):
    layer = dict(resolution=self.resolution, conv_clamp=self.conv_clamp, dtype=self.dtype)
    ws = list(jnp.moveaxis(ws, 1, 0))
    if self.in_channels == 0:
      const = self.param('const', nn.initializers.normal(1.0),
                         (self.resolution, self.resolution, self.out_channels))
      x = jnp.broadcast_to(const.astype(self.dtype), (ws[0].shape[0],) + const.shape)
      x = SynthesisLayer(self.out_channels, name='conv1', **layer)(
          x, ws.pop(0), noise_mode=noise_mode)
    elif self.architecture == 'resnet':
      y = Conv2dLayer(self.out_channels, kernel_size=1, use_bias=False, up=2, dtype=self.dtype,
                      name='skip')(x, gain=np.sqrt(0.5))
      x = SynthesisLayer(self.out_channels, up=2, name='conv0', **layer)(
          x, ws.pop(0), noise_mode=noise_mode)
      x = SynthesisLayer(self.out_channels, name='conv1', **layer)(
          x, ws.pop(0), noise_mode=noise_mode, gain=np.sqrt(0.5))
      x = y + x
    else:
      x = SynthesisLayer(self.out_channels, up=2, name='conv0', **layer)(
          x, ws.pop(0), noise_mode=noise_mode)
      x = SynthesisLayer(self.out_channels, name='conv1', **layer)(
          x, ws.pop(0), noise_mode=noise_mode)
    if img is not None:
      img = upsample2d(img, fir_filter())
    if self.num_torgb:
      y = ToRGBLayer(self.img_channels, conv_clamp=self.conv_clamp, dtype=self.dtype,
                     name='torgb')(x, ws.pop(0)).astype(jnp.float32)
      img = y if img is None else img + y
    return x, img


class SynthesisNetwork(nn.Module):
  """ws (B, num_ws, w_dim) -> NHWC image (float32)."""
  image_size: int = 32
  img_channels: int = 3
  channel_base: int = 32768
  channel_max: int = CHANNEL_MAX
  num_fp16_res: int = NUM_FP16_RES
  conv_clamp: Optional[float] = CONV_CLAMP
  architecture: str = 'skip'
  dtype: Any = jnp.float32

  def blocks(self) -> list[tuple[int, int, int, bool]]:
    """(resolution, in_channels, out_channels, reduced precision) of each block."""
    reduced_from = reduced_precision_from(self.image_size, self.num_fp16_res)
    out, res = [], 4
    while res <= self.image_size:
      in_ch = channels_at(res // 2, self.channel_base, self.channel_max) if res > 4 else 0
      out.append((res, in_ch, channels_at(res, self.channel_base, self.channel_max),
                  res >= reduced_from))
      res *= 2
    return out

  @property
  def num_ws(self) -> int:
    blocks = self.blocks()
    return sum(1 if in_ch == 0 else 2 for _, in_ch, _, _ in blocks) + 1

  @nn.compact
  def __call__(self, ws, *, noise_mode: str = 'random'):
    if noise_mode not in NOISE_MODES:
      raise ValueError(f'noise_mode={noise_mode!r}: choose one of {", ".join(NOISE_MODES)}.')
    ws = ws.astype(jnp.float32)
    x = img = None
    w_index = 0
    for res, in_ch, out_ch, reduced in self.blocks():
      block = SynthesisBlock(in_ch, out_ch, res, self.img_channels,
                             is_last=res == self.image_size, architecture=self.architecture,
                             conv_clamp=self.conv_clamp,
                             dtype=self.dtype if reduced else jnp.float32, name=f'b{res}')
      count = block.num_conv + block.num_torgb
      x, img = block(x, img, ws[:, w_index:w_index + count], noise_mode=noise_mode)
      w_index += block.num_conv
    return img


def _check_labels(labels, num_classes: int, batch: int, who: str):
  if num_classes <= 0:
    return None  # Unconditional: labels, if given, are ignored.
  if labels is None:
    raise ValueError(f'The StyleGAN2 {who} is class-conditional (num_classes={num_classes}); '
                     'pass integer labels of shape (batch,).')
  labels = jnp.asarray(labels)
  if labels.shape != (batch,):
    raise ValueError(f'The StyleGAN2 {who} expects labels of shape ({batch},), got '
                     f'{labels.shape}.')
  return labels


def _check_common(image_size, num_classes, cfg, architecture, architectures, dtype):
  if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
    raise errors.ConfigError(f'image_size={image_size!r} must be a power of two, at least 8, '
                             f'for StyleGAN2.')
  if not isinstance(num_classes, int) or num_classes < 0:
    raise errors.ConfigError(f'num_classes={num_classes!r} must be 0 (unconditional) or the '
                             f'number of classes.')
  cfg_spec(cfg, image_size)
  if architecture is not None:
    errors.check_arg('architecture', architecture, architectures)
  if jnp.dtype(dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16),
                              jnp.dtype(jnp.float16)):
    raise errors.ConfigError(f'dtype={dtype!r}: choose float32, float16 or bfloat16.')


class Generator(nn.Module):
  """StyleGAN2 generator: `generator(z, labels=None, *, train)` -> NHWC images (float32).

  `cfg` names a row of `CFG_SPECS` (the official train.py's --cfg), which sets the widths
  (`channel_base`) and the mapping depth (`mapping_layers`) unless they are given.
  """
  image_size: int = 32
  channels: int = 3
  num_classes: int = 0
  cfg: str = 'cifar'
  w_dim: int = W_DIM
  mapping_layers: Optional[int] = None      # None: the cfg's `map`
  channel_base: Optional[int] = None        # None: the cfg's fmaps * 32768
  channel_max: int = CHANNEL_MAX
  num_fp16_res: int = NUM_FP16_RES          # blocks at the highest resolutions in `dtype`
  conv_clamp: Optional[float] = CONV_CLAMP
  architecture: str = 'skip'
  mapping_lr_multiplier: float = 0.01
  w_avg_beta: Optional[float] = 0.995
  noise_mode: str = 'random'
  style_mixing_prob: float = 0.0            # training only; the official default is 0.9
  gpus: int = 1                             # only for cfg='auto'
  dtype: Any = jnp.float32

  def __post_init__(self):
    _check_common(self.image_size, self.num_classes, self.cfg, self.architecture,
                  ('orig', 'skip', 'resnet'), self.dtype)
    errors.check_arg('noise_mode', self.noise_mode, NOISE_MODES)
    if (isinstance(self.style_mixing_prob, bool)
        or not isinstance(self.style_mixing_prob, (int, float))
        or not 0 <= self.style_mixing_prob <= 1):
      raise errors.ConfigError(f'style_mixing_prob={self.style_mixing_prob!r} must be a '
                               f'probability in [0, 1] (0: no style mixing; the official 0.9).')
    super().__post_init__()

  @property
  def rng_streams(self) -> tuple[str, ...]:
    """The RNG streams a call draws from: 'noise' for the random noise inputs, 'mixing' for
    style mixing's draws (the train step and sampling pass a key for each stream a model
    names here, in this order; evaluation-mode calls do not mix)."""
    streams = ('noise',) if self.noise_mode == 'random' else ()
    return streams + (('mixing',) if self.style_mixing_prob > 0 else ())

  @property
  def moving_state(self) -> tuple[str, ...]:
    """The state collections every training-mode pass moves, whichever update runs it:
    'w_avg' (with `w_avg_beta`), as the official mapping network updates its buffer in each
    phase that runs G (Gmain, Greg and Dmain). The train step keeps these changes from every
    generator pass (`steps.moving_state`)."""
    return ('w_avg',) if self.w_avg_beta is not None else ()

  def setup(self):
    spec = cfg_spec(self.cfg, self.image_size, self.gpus)
    self.synthesis = SynthesisNetwork(
        self.image_size, self.channels, self.channel_base or spec.channel_base,
        self.channel_max, self.num_fp16_res, self.conv_clamp, self.architecture, self.dtype)
    self.mapping = MappingNetwork(
        self.w_dim, self.num_classes, self.mapping_layers or spec.map,
        num_ws=self.synthesis.num_ws, lr_multiplier=self.mapping_lr_multiplier,
        w_avg_beta=self.w_avg_beta)

  def map(self, z, labels=None, *, train: bool, truncation_psi: float = 1.0,
          truncation_cutoff: Optional[int] = None):
    """z, labels -> ws (B, num_ws, w_dim), e.g. to mix styles: `generator.apply(variables,
    z, labels, train=False, method='map')`."""
    labels = _check_labels(labels, self.num_classes, z.shape[0], 'generator')
    return self.mapping(z, labels, train=train, truncation_psi=truncation_psi,
                        truncation_cutoff=truncation_cutoff)

  def synthesize(self, ws, *, noise_mode: Optional[str] = None):
    """ws (B, num_ws, w_dim) -> images (`method='synthesize'`)."""
    return self.synthesis(ws, noise_mode=noise_mode or self.noise_mode)

  def styles(self, z, labels=None, *, train: bool, truncation_psi: float = 1.0,
             truncation_cutoff: Optional[int] = None):
    """The ws the synthesis network receives (`method='styles'`): `map`, then in training
    with `style_mixing_prob` > 0 style mixing (Karras et al. 2019, section 3.1; official
    loss.py StyleGAN2Loss.run_G): from the 'mixing' RNG stream, `style_mixing_draws` gives a
    second z (same labels) and one cutoff for the whole (per-device) batch; ws[:, cutoff:]
    become the second z's, mapped without updating w_avg. Evaluation mode never mixes."""
    ws = self.map(z, labels, train=train, truncation_psi=truncation_psi,
                  truncation_cutoff=truncation_cutoff)
    if not train or self.style_mixing_prob == 0 or self.is_initializing():
      return ws
    if not self.has_rng('mixing'):
      raise ValueError("style mixing in training draws from the 'mixing' RNG stream: pass "
                       "rngs={'mixing': key} to apply (the train step does), or "
                       "style_mixing_prob=0.")
    z2, cutoff = style_mixing_draws(self.make_rng('mixing'), z.shape, ws.shape[1],
                                    self.style_mixing_prob)
    ws2 = self.mapping(z2, _check_labels(labels, self.num_classes, z.shape[0], 'generator'),
                       train=train, truncation_psi=truncation_psi,
                       truncation_cutoff=truncation_cutoff, update_w_avg=False)
    return mix_styles(ws, ws2, cutoff)

  def __call__(self, z, labels=None, *, train: bool, truncation_psi: float = 1.0,
               truncation_cutoff: Optional[int] = None, noise_mode: Optional[str] = None):
    ws = self.styles(z, labels, train=train, truncation_psi=truncation_psi,
                     truncation_cutoff=truncation_cutoff)
    return self.synthesize(ws, noise_mode=noise_mode)


def style_mixing_draws(key: jax.Array, z_shape, num_ws: int, prob: float):
  """(z2, cutoff) of one style-mixing draw from `key`, as the official run_G draws them:
  z2 ~ N(0, 1) of z's shape; cutoff uniform in [1, num_ws) with probability `prob`, else
  num_ws (no mixing). Keys: split(key, 3) -> (z2's, the cutoff's, the coin's)."""
  k_z, k_cut, k_coin = jax.random.split(key, 3)
  z2 = jax.random.normal(k_z, z_shape, jnp.float32)
  cutoff = jax.random.randint(k_cut, (), 1, num_ws)
  cutoff = jnp.where(jax.random.uniform(k_coin, ()) < prob, cutoff, num_ws)
  return z2, cutoff


def mix_styles(ws, ws2, cutoff):
  """ws with ws[:, cutoff:] replaced by ws2[:, cutoff:] (the official in-place assignment)."""
  take_second = (jnp.arange(ws.shape[1]) >= cutoff)[None, :, None]
  return jnp.where(take_second, ws2, ws)


class DiscriminatorBlock(nn.Module):
  """One resolution of the discriminator; returns (features, downsampled image or None)."""
  in_channels: int          # 0: the first block (FromRGB)
  tmp_channels: int
  out_channels: int
  architecture: str = 'resnet'
  conv_clamp: Optional[float] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, img):
    conv = dict(activation='lrelu', conv_clamp=self.conv_clamp, dtype=self.dtype)
    if x is not None:
      x = x.astype(self.dtype)
    if self.in_channels == 0 or self.architecture == 'skip':
      img = img.astype(self.dtype)
      y = Conv2dLayer(self.tmp_channels, kernel_size=1, name='fromrgb', **conv)(img)
      x = y if x is None else x + y
      img = downsample2d(img, fir_filter()) if self.architecture == 'skip' else None
    if self.architecture == 'resnet':
      y = Conv2dLayer(self.out_channels, kernel_size=1, use_bias=False, down=2, dtype=self.dtype,
                      name='skip')(x, gain=np.sqrt(0.5))
      x = Conv2dLayer(self.tmp_channels, name='conv0', **conv)(x)
      x = Conv2dLayer(self.out_channels, down=2, name='conv1', **conv)(x, gain=np.sqrt(0.5))
      x = y + x
    else:
      x = Conv2dLayer(self.tmp_channels, name='conv0', **conv)(x)
      x = Conv2dLayer(self.out_channels, down=2, name='conv1', **conv)(x)
    return x, img


class DiscriminatorEpilogue(nn.Module):
  """The 4x4 end of the discriminator, in float32: [FromRGB], minibatch std, conv, fc, out."""
  in_channels: int
  cmap_dim: int
  architecture: str = 'resnet'
  mbstd_group_size: Optional[int] = 4
  mbstd_num_channels: int = 1
  conv_clamp: Optional[float] = None

  @nn.compact
  def __call__(self, x, img, cmap):
    x = x.astype(jnp.float32)
    if self.architecture == 'skip':
      x = x + Conv2dLayer(self.in_channels, kernel_size=1, activation='lrelu',
                          name='fromrgb')(img.astype(jnp.float32))
    if self.mbstd_num_channels > 0:
      x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
    x = Conv2dLayer(self.in_channels, activation='lrelu', conv_clamp=self.conv_clamp,
                    name='conv')(x)
    # Flatten channel-major (NCHW), as the official fc's weight expects.
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
    x = FullyConnected(self.in_channels, activation='lrelu', name='fc')(x)
    x = FullyConnected(self.cmap_dim or 1, name='out')(x)
    if self.cmap_dim > 0:
      return jnp.sum(x * cmap, axis=1) * (1 / np.sqrt(self.cmap_dim))
    return x[:, 0]


class Discriminator(nn.Module):
  """StyleGAN2 discriminator: `discriminator(x, labels=None, *, train)` -> (B,) logits.

  `cfg` sets the widths, the minibatch-std group size and the architecture ('orig' for
  'cifar', 'resnet' otherwise) unless they are given.
  """
  image_size: int = 32
  num_classes: int = 0
  cfg: str = 'cifar'
  architecture: Optional[str] = None         # None: the cfg's
  channel_base: Optional[int] = None         # None: the cfg's fmaps * 32768
  channel_max: int = CHANNEL_MAX
  num_fp16_res: int = NUM_FP16_RES
  conv_clamp: Optional[float] = CONV_CLAMP
  mbstd_group_size: Optional[int] = None     # None: the cfg's mbstd
  mbstd_num_channels: int = 1
  cmap_dim: Optional[int] = None             # None: the 4x4 blocks' channels
  mapping_layers: int = 8                    # the official D's MappingNetwork default
  gpus: int = 1                              # only for cfg='auto'
  dtype: Any = jnp.float32

  # The minibatch standard deviation mixes the samples of each group.
  mixes_samples = True
  # ... and the official R1 is the gradient of the summed logits through it, which is what
  # jaxgan's per-sample penalties compute: allowed, equal to the official penalty (module doc).
  summed_logit_penalty = True

  def __post_init__(self):
    _check_common(self.image_size, self.num_classes, self.cfg, self.architecture,
                  ('orig', 'skip', 'resnet'), self.dtype)
    super().__post_init__()

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    del train   # no training-mode behaviour
    labels = _check_labels(labels, self.num_classes, x.shape[0], 'discriminator')
    spec = cfg_spec(self.cfg, self.image_size, self.gpus)
    base = self.channel_base or spec.channel_base
    architecture = self.architecture or spec.d_architecture
    reduced_from = reduced_precision_from(self.image_size, self.num_fp16_res)
    h, img = None, x.astype(jnp.float32)
    res = self.image_size
    while res > 4:
      tmp = channels_at(res, base, self.channel_max)
      h, img = DiscriminatorBlock(
          tmp if res < self.image_size else 0, tmp, channels_at(res // 2, base, self.channel_max),
          architecture, self.conv_clamp,
          self.dtype if res >= reduced_from else jnp.float32, name=f'b{res}')(h, img)
      res //= 2
    channels4 = channels_at(4, base, self.channel_max)
    cmap_dim = 0
    cmap = None
    if self.num_classes > 0:
      cmap_dim = self.cmap_dim or channels4
      cmap = MappingNetwork(cmap_dim, self.num_classes, self.mapping_layers, num_ws=None,
                            w_avg_beta=None, name='mapping')(None, labels)
    group = self.mbstd_group_size or spec.mbstd
    return DiscriminatorEpilogue(channels4, cmap_dim, architecture, group,
                                 self.mbstd_num_channels, self.conv_clamp, name='b4')(h, img, cmap)


# ---------------------------------------------------------------------------------------------
# Official checkpoints.
# ---------------------------------------------------------------------------------------------

# Buffers of the official modules that are jaxgan model state, by their key's last part.
_BUFFER_COLLECTIONS = {'noise_const': 'noise_const', 'w_avg': 'w_avg'}


def _to_numpy(value) -> np.ndarray:
  if hasattr(value, 'detach'):   # a torch tensor
    value = value.detach().cpu().numpy()
  return np.asarray(value, np.float32)


def _nest(flat: dict) -> dict:
  tree = {}
  for path, value in flat.items():
    node = tree
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = value
  return tree


def convert_official_state_dict(state_dict, template=None) -> dict:
  """jaxgan variables from a stylegan2-ada-pytorch network's state dict.

  `state_dict` maps the official keys ('mapping.fc0.weight', 'synthesis.b8.conv0.weight',
  'b32.fromrgb.weight', ...) to arrays or tensors in the official layouts, as `G`, `D` or
  `G_ema`'s `.state_dict()` of a network-snapshot pickle gives them (unpickling needs the
  official code: `pickle.load(f)['G_ema'].state_dict()`). Returns {'params': ..., and for a
  generator 'noise_const' and 'w_avg'} for `Generator` / `Discriminator.apply`. Layouts: a
  fully connected weight (out, in) becomes a kernel (in, out), a convolution weight
  (out, in, kh, kw) a kernel (kh, kw, in, out), the constant (C, H, W) is stored (H, W, C);
  the FIR filters ('resample_filter') are checked to be [1,3,3,1]'s and dropped.

  With `template` (the variables of the jaxgan network it is meant for, e.g. from
  `jax.eval_shape(module.init, ...)`), the structure and shapes are checked against it.
  """
  f = fir_filter()
  flat = {}
  for key, value in state_dict.items():
    parts = tuple(key.split('.'))
    leaf, value = parts[-1], _to_numpy(value)
    if leaf == 'resample_filter':
      if value.shape != f.shape or not np.allclose(value, f, rtol=0, atol=1e-7):
        raise ValueError(f'{key} is not the [1,3,3,1] filter jaxgan\'s StyleGAN2 uses.')
      continue
    if leaf in _BUFFER_COLLECTIONS:
      flat[(_BUFFER_COLLECTIONS[leaf],) + parts] = value
      continue
    if leaf == 'weight':
      leaf = 'kernel'
      value = value.T if value.ndim == 2 else np.transpose(value, (2, 3, 1, 0))
    elif leaf == 'const':
      value = np.transpose(value, (1, 2, 0))
    flat[('params',) + parts[:-1] + (leaf,)] = value
  variables = jax.tree.map(jnp.asarray, _nest(flat))
  if template is not None:
    want = {jax.tree_util.keystr(p): tuple(v.shape)
            for p, v in jax.tree_util.tree_leaves_with_path(template)}
    got = {jax.tree_util.keystr(p): tuple(v.shape)
           for p, v in jax.tree_util.tree_leaves_with_path(variables)}
    for name in sorted(set(want) | set(got)):
      if want.get(name) != got.get(name):
        raise ValueError(f'The state dict does not fit this network at {name}: it has '
                         f'{got.get(name)}, the network {want.get(name)} (build the jaxgan '
                         f'network with the checkpoint\'s cfg, resolution and classes).')
  return variables


def to_official_state_dict(variables) -> dict:
  """The inverse of `convert_official_state_dict` (without the filter buffers): numpy arrays
  under the official keys and layouts, e.g. to load jaxgan weights into the official code."""
  out = {}
  for path, value in jax.tree_util.tree_leaves_with_path(variables):
    names = [p.key for p in path]
    collection, parts, value = names[0], names[1:], np.array(value, np.float32)
    if collection == 'params' and parts[-1] == 'kernel':
      parts[-1] = 'weight'
      value = value.T if value.ndim == 2 else np.transpose(value, (3, 2, 0, 1))
    elif collection == 'params' and parts[-1] == 'const':
      value = np.transpose(value, (2, 0, 1))
    out['.'.join(parts)] = value
  return out
