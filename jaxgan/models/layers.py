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


class SubpixelConvTranspose(nn.Module):
  """`nn.ConvTranspose(features, (k, k), strides=(s, s), padding='SAME')` as one stride-1 conv.

  Output height and width are s times the input's, as for the 'SAME' transposed convolution.
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
    in_features = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (k, k, in_features, self.features))
    d_min, d_max, table = _phase_taps(k, s)
    taps = table.shape[1]
    # Gather the phase kernels: (s, taps) index table per spatial axis; -1 means zero.
    idx = np.where(table >= 0, table, 0)
    valid = (table >= 0).astype(np.float32)
    # kernel[idx[py, ty], idx[px, tx]] -> (s, taps, s, taps, C_in, C_out)
    phases = kernel[idx[:, :, None, None], idx[None, None, :, :]]
    mask = valid[:, :, None, None] * valid[None, None, :, :]
    phases = phases * jnp.asarray(mask, kernel.dtype)[..., None, None]
    # -> (taps_y, taps_x, C_in, s_y, s_x, C_out) -> (taps, taps, C_in, s*s*C_out)
    phases = jnp.transpose(phases, (1, 3, 4, 0, 2, 5))
    phases = phases.reshape(taps, taps, in_features, s * s * self.features)
    dtype = self.dtype or x.dtype
    y = jax.lax.conv_general_dilated(
        x.astype(dtype), phases.astype(dtype), window_strides=(1, 1),
        padding=((-d_min, d_max), (-d_min, d_max)),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    b, h, w, _ = y.shape
    y = y.reshape(b, h, w, s, s, self.features)
    y = jnp.transpose(y, (0, 1, 3, 2, 4, 5)).reshape(b, h * s, w * s, self.features)
    if self.use_bias:
      bias = self.param('bias', self.bias_init, (self.features,))
      y = y + bias.astype(dtype)
    return y
