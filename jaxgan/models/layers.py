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

from typing import Any

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
