"""Layers shared by the models.

`SubpixelConvTranspose` exists because XLA's CPU backend computes the weight gradient of a
strided `flax.linen.ConvTranspose` very slowly (measured: the 32x32 DCGAN step took 7.6 s with
ConvTranspose against 1.3 s in PyTorch on 2 cores). The same transposed convolution split into
its s*s output phases is one stride-1 convolution with s*s*C_out output channels followed by a
depth-to-space shuffle ("sub-pixel" convolution, Shi et al. 2016), which XLA handles well.
It has the same parameters ('kernel' of shape (k, k, C_in, C_out), 'bias') and computes the
same function as `nn.ConvTranspose(..., strides=(s, s), padding='SAME')`, so checkpoints and
initialisation are interchangeable; tests/test_models.py checks the equality.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _phase_taps(kernel_size: int, stride: int):
  """For each output phase p, the kernel taps that reach it and their input offsets.

  `lax.conv_transpose(..., padding='SAME')` (what nn.ConvTranspose calls) is a correlation
  of the zero-dilated input with the unflipped kernel, padded by `pad_lo` in front:
    y[o] = sum_k x_dilated[o + k - pad_lo] * w[k],  x_dilated[j] = x[j / s] if s | j.
  Writing o = s*m + p, tap k contributes exactly when s | (p + k - pad_lo), reading input
  x[m + d] with d = (p + k - pad_lo) / s. Returns (d_min, d_max, table) with
  table[p][t] = the tap k read at offset d_min + t (or -1 where no tap reaches it).
  """
  k, s = kernel_size, stride
  pad_len = k + s - 2
  pad_lo = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
  offsets = {}
  for p in range(s):
    for tap in range(k):
      if (p + tap - pad_lo) % s == 0:
        offsets[(p, tap)] = (p + tap - pad_lo) // s
  d_min, d_max = min(offsets.values()), max(offsets.values())
  table = -np.ones((s, d_max - d_min + 1), np.int32)
  for (p, tap), d in offsets.items():
    table[p, d - d_min] = tap
  return d_min, d_max, table


def _gather_taps(kernel, table):
  """kernel[table[a, t], table[b, u]] -> (s, taps, s, taps, C_in, C_out), zero where -1."""
  idx = np.where(table >= 0, table, 0)
  valid = (table >= 0).astype(np.float32)
  taps = kernel[idx[:, :, None, None], idx[None, None, :, :]]
  mask = valid[:, :, None, None] * valid[None, None, :, :]
  return taps * jnp.asarray(mask, kernel.dtype)[..., None, None]


class SubpixelConvTranspose(nn.Module):
  """`nn.ConvTranspose(features, (k, k), strides=(s, s), padding='SAME')` as one stride-1 conv.

  Output height and width are s times the input's, as for the 'SAME' transposed convolution.
  """
  features: int
  kernel_size: int = 5
  stride: int = 2
  use_bias: bool = True
  per_phase: bool = True   # s*s exact-tap convs (25 taps for k=5) vs one padded conv (36)
  dtype: Any = None
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel_size, self.stride
    in_features = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (k, k, in_features, self.features))
    dtype = self.dtype or x.dtype
    if self.per_phase:
      y = self._per_phase(x.astype(dtype), kernel.astype(dtype))
    else:
      y = self._one_conv(x.astype(dtype), kernel.astype(dtype))
    if self.use_bias:
      bias = self.param('bias', self.bias_init, (self.features,))
      y = y + bias.astype(dtype)
    return y

  def _per_phase(self, x, kernel):
    """s*s convolutions, each with exactly the taps that reach its phase (no zero taps)."""
    k, s = self.kernel_size, self.stride
    _, _, table = _phase_taps(k, s)
    pad_len = k + s - 2
    pad_lo = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    rows = []
    for py in range(s):
      cols = []
      for px in range(s):
        ty = [t for t in table[py] if t >= 0]
        tx = [t for t in table[px] if t >= 0]
        dy = [(py + t - pad_lo) // s for t in ty]
        dx = [(px + t - pad_lo) // s for t in tx]
        sub = kernel[np.asarray(ty)[:, None], np.asarray(tx)[None, :]]
        cols.append(jax.lax.conv_general_dilated(
            x, sub, window_strides=(1, 1),
            padding=((-min(dy), max(dy)), (-min(dx), max(dx))),
            dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
      rows.append(jnp.stack(cols, axis=3))          # (B, H, W, s_x, C)
    y = jnp.stack(rows, axis=2)                      # (B, H, s_y, W, s_x, C)
    b, h, _, w, _, c = y.shape
    return y.reshape(b, h * s, w * s, c)

  def _one_conv(self, x, kernel):
    """One convolution with s*s*C_out outputs; phases with fewer taps get zero taps."""
    k, s = self.kernel_size, self.stride
    in_features = x.shape[-1]
    d_min, d_max, table = _phase_taps(k, s)
    taps = table.shape[1]
    phases = _gather_taps(kernel, table)   # (s_y, taps_y, s_x, taps_x, C_in, C_out)
    # -> (taps_y, taps_x, C_in, s_y, s_x, C_out) -> (taps, taps, C_in, s*s*C_out)
    phases = jnp.transpose(phases, (1, 3, 4, 0, 2, 5))
    phases = phases.reshape(taps, taps, in_features, s * s * self.features)
    y = jax.lax.conv_general_dilated(
        x, phases, window_strides=(1, 1), padding=((-d_min, d_max), (-d_min, d_max)),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    b, h, w, _ = y.shape
    y = y.reshape(b, h, w, s, s, self.features)
    return jnp.transpose(y, (0, 1, 3, 2, 4, 5)).reshape(b, h * s, w * s, self.features)


def _space_to_depth_taps(kernel_size: int, stride: int):
  """For a 'SAME' stride-s convolution on inputs whose size s divides: tap k reads input
  s*m + (k - pad_lo) = s*(m + q) + r, i.e. phase r of block m + q after space-to-depth.
  Returns (q_min, q_max, table) with table[r][t] = the tap read at block offset q_min + t for
  phase r (or -1)."""
  k, s = kernel_size, stride
  pad_lo = max(k - s, 0) // 2
  q_of = {tap: (tap - pad_lo) // s for tap in range(k)}
  q_min, q_max = min(q_of.values()), max(q_of.values())
  table = -np.ones((s, q_max - q_min + 1), np.int32)
  for tap, q in q_of.items():
    table[(tap - pad_lo) % s, q - q_min] = tap
  return q_min, q_max, table


class SpaceToDepthConv(nn.Module):
  """`nn.Conv(features, (k, k), strides=(s, s), padding='SAME')` as space-to-depth + stride-1 conv.

  Why: XLA:CPU computes the *input* gradient of a strided convolution (a transposed
  convolution, needed when the generator's loss backpropagates through the discriminator)
  very slowly: 1.6 s for one 8x8x128 -> 4x4x256 layer at batch 64 on 2 cores, against 0.03 s
  for its forward pass. Rearranging each s x s block of pixels into channels turns the layer
  into a stride-1 convolution, whose gradients are stride-1 convolutions too. Same parameters
  and same function as nn.Conv (tested); input height and width must be multiples of s.
  """
  features: int
  kernel_size: int = 5
  stride: int = 2
  use_bias: bool = True
  dtype: Any = None
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel_size, self.stride
    b, h, w, c = x.shape
    if h % s or w % s:
      raise ValueError(f'SpaceToDepthConv needs input sizes divisible by {s}, got {h}x{w}.')
    kernel = self.param('kernel', self.kernel_init, (k, k, c, self.features))
    q_min, q_max, table = _space_to_depth_taps(k, s)
    taps = table.shape[1]
    blocks = _gather_taps(kernel, table)   # (s_y, taps_y, s_x, taps_x, C, F)
    # -> (taps_y, taps_x, s_y, s_x, C, F) -> (taps, taps, s*s*C, F)
    blocks = jnp.transpose(blocks, (1, 3, 0, 2, 4, 5)).reshape(taps, taps, s * s * c, self.features)
    dtype = self.dtype or x.dtype
    x = x.astype(dtype).reshape(b, h // s, s, w // s, s, c)
    x = jnp.transpose(x, (0, 1, 3, 2, 4, 5)).reshape(b, h // s, w // s, s * s * c)
    y = jax.lax.conv_general_dilated(
        x, blocks.astype(dtype), window_strides=(1, 1),
        padding=((-q_min, q_max), (-q_min, q_max)),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,)).astype(dtype)
    return y


# ---------------------------------------------------------------------------------------------
# Stride-1 convolution whose weight gradient is an im2col matmul for large activations.
# ---------------------------------------------------------------------------------------------

CONV_IMPLS = ('auto', 'rewritten', 'flax')

# From this many input elements (32 MiB in float32) on, `Conv` computes its weight gradient as
# im2col matmuls. Measured on 2 AMD EPYC cores (32 MiB L3; bench/conv_wgrad.py), fwd + bwd of
# a 3x3 convolution, XLA's weight gradient against the im2col one: 64x32x32x256 inputs 1.58x
# faster, 64x32x32x192 1.80x, 48x32x32x256 1.16x, at 32 MiB 1.01-1.10x, at 16 MiB 0.84-0.91x.
IM2COL_WGRAD_MIN = 2 ** 23
# Outputs narrower than this keep XLA's weight gradient (their im2col copy would dominate).
IM2COL_WGRAD_MIN_FEATURES = 32


def resolve_conv_impl(conv_impl: str) -> str:
  """'auto': the stride-1 rewrites on the CPU, flax's (cuDNN's, TPU libraries') elsewhere."""
  if conv_impl == 'auto':
    return 'rewritten' if jax.default_backend() == 'cpu' else 'flax'
  return conv_impl


def _same_padding(k: int) -> tuple[int, int]:
  """lax's 'SAME' padding of a stride-1 window of size k."""
  return (k - 1) // 2, k - 1 - (k - 1) // 2


def _conv_same(x, kernel):
  return jax.lax.conv_general_dilated(
      x, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _im2col_weight_grad(x, dy, kh: int, kw: int):
  """d(sum dy * conv(x, w))/dw = sum over examples and positions of the input patch times dy:
  one matmul per kernel row, over that row's kw shifted copies of x (a third of a full
  im2col's memory for 3x3 kernels)."""
  b, h, w, c = x.shape
  (top, bottom), (left, right) = _same_padding(kh), _same_padding(kw)
  xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  rows = []
  for i in range(kh):
    cols = jnp.concatenate([xp[:, i:i + h, j:j + w] for j in range(kw)], axis=-1)
    rows.append(jax.lax.dot_general(cols, dy, (((0, 1, 2), (0, 1, 2)), ((), ())),
                                    preferred_element_type=jnp.float32).reshape(kw, c, -1))
  return jnp.stack(rows)


@jax.custom_vjp
def conv_im2col_wgrad(x, kernel):
  """`lax.conv_general_dilated(x, kernel, (1, 1), 'SAME')` (NHWC, HWIO): forward and input
  gradient as XLA computes them, weight gradient as im2col matmuls (`_im2col_weight_grad`)."""
  return _conv_same(x, kernel)


def _conv_fwd(x, kernel):
  return _conv_same(x, kernel), (x, kernel)


def _conv_bwd(residuals, dy):
  x, kernel = residuals
  _, input_vjp = jax.vjp(lambda xx: _conv_same(xx, kernel), x)
  dw = _im2col_weight_grad(x, dy, kernel.shape[0], kernel.shape[1])
  return input_vjp(dy)[0], dw.astype(kernel.dtype)


conv_im2col_wgrad.defvjp(_conv_fwd, _conv_bwd)


class Conv(nn.Module):
  """`nn.Conv(features, kernel_size, padding='SAME')` (stride 1): the same parameters
  ('kernel' (kh, kw, C_in, C_out), 'bias') and function (tests/test_models.py), with the weight
  gradient of large convolutions (inputs of `im2col_min_size` elements or more, outputs of
  IM2COL_WGRAD_MIN_FEATURES channels or more) computed as im2col matmuls: XLA:CPU's own weight
  gradient slows down sharply once the activations outgrow the cache."""
  features: int
  kernel_size: tuple = (3, 3)
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()
  im2col_min_size: Optional[int] = None    # None: IM2COL_WGRAD_MIN

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    kernel = self.param('kernel', self.kernel_init, (kh, kw, x.shape[-1], self.features),
                        self.param_dtype)
    dtype = self.dtype or x.dtype
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    min_size = IM2COL_WGRAD_MIN if self.im2col_min_size is None else self.im2col_min_size
    if x.size >= min_size and self.features >= IM2COL_WGRAD_MIN_FEATURES:
      y = conv_im2col_wgrad(x, kernel)
    else:
      y = _conv_same(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,), self.param_dtype).astype(dtype)
    return y


class BatchNorm(nn.BatchNorm):
  """flax's BatchNorm with PyTorch's running variance: it moves by the unbiased batch variance
  (x n / (n - 1), n the values per channel over the batch, the spatial positions and the
  synchronised devices), as `torch.nn.BatchNorm2d` stores it, where flax's moves by the biased
  one. Everything else is flax's: normalisation by the biased variance (PyTorch's too), the same
  variables ('batch_stats' mean and var), the same `mask`. With n = 1 (one value per channel)
  the unbiased variance is undefined and the biased one (0) is kept; PyTorch refuses that
  batch. The models that port PyTorch code (DCGAN, SAGAN, BigGAN) use it, so that their
  evaluation-mode outputs after training equal PyTorch's for the same batches."""

  @nn.compact
  def __call__(self, x, use_running_average: Optional[bool] = None, *, mask=None):
    moving = not nn.merge_param('use_running_average', self.use_running_average,
                                use_running_average) and not self.is_initializing()
    old = self.get_variable('batch_stats', 'var') if moving else None
    y = super().__call__(x, use_running_average, mask=mask)
    if moving:
      reduced = [i for i in range(x.ndim) if i not in
                 {a % x.ndim for a in ((self.axis,) if isinstance(self.axis, int)
                                       else self.axis)}]
      if mask is None:
        n = jnp.float32(np.prod([x.shape[i] for i in reduced]))
      else:   # the counted values per channel
        n = jnp.sum(jnp.broadcast_to(mask, x.shape).astype(jnp.float32)) / np.prod(
            [x.shape[i] for i in range(x.ndim) if i not in reduced])
      if self.axis_name is not None:
        n = jax.lax.psum(n, self.axis_name, axis_index_groups=self.axis_index_groups)
      new = self.get_variable('batch_stats', 'var')
      factor = jnp.where(n > 1, n / jnp.maximum(n - 1, 1), 1.0)
      m = self.momentum
      # new = m old + (1 - m) v; PyTorch's: m old + (1 - m) v n / (n - 1).
      self.put_variable('batch_stats', 'var', m * old + (new - m * old) * factor)
    return y
