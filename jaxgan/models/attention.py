"""SAGAN self-attention block (Zhang et al. 2019, "Self-Attention Generative Adversarial
Networks", Sec. 3, eqs. 1-3).

For a feature map x with N = H * W positions and C channels:

  s_ij      = f(x_i)^T g(x_j)                           (eq. 1; f: keys, g: queries)
  beta_j,i  = exp(s_ij) / sum_i exp(s_ij)               softmax over the keys i, per query j
  o_j       = v( sum_i beta_j,i h(x_i) )                (eq. 2; h: values, v: output projection)
  y_j       = gamma * o_j + x_j                         (eq. 3; gamma a scalar, initialised to 0)

f and g are 1x1 convolutions to C/8 channels. For h this module follows the SAGAN reference
code (and BigGAN's, StudioGAN's): h maps to C/2 channels and a 1x1 convolution v maps the
attended values back to C. The paper writes h and v with C/8 channels; set
`value_channels_divisor=8` for that form. All four 1x1 convolutions carry no bias (as in the
reference code) and are spectrally normalised when `spectral_norm` is True.

`pool=True` is the memory-saving variant of the reference code (SAGAN's and BigGAN's): keys and
values are max-pooled 2x2 after their projection, so each query attends over N/4 positions.
It is off by default (the paper's form).

The attention map beta is sown as `('intermediates', 'attention')` with shape
(B, N_query, N_key), float32. Both position axes run row-major over the feature map: query
index q = row * W + col; key index k = row * W_k + col, with W_k = W, or W // 2 when pooled.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers_sn


class SelfAttention(nn.Module):
  """SAGAN self-attention on an NHWC feature map; returns a map of the same shape."""
  spectral_norm: bool = True
  pool: bool = False
  key_channels_divisor: int = 8
  value_channels_divisor: int = 2
  dtype: Any = jnp.float32
  conv_impl: str = 'auto'     # of the 1x1 convolutions (layers_sn.SNConv)

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    b, h, w, c = x.shape
    if self.pool and (h % 2 or w % 2):
      raise ValueError(f'Pooled self-attention needs an even feature map, got {h}x{w}.')
    key_channels = max(c // self.key_channels_divisor, 1)
    value_channels = max(c // self.value_channels_divisor, 1)
    conv1x1 = functools.partial(
        layers_sn.SNConv, kernel_size=(1, 1), use_bias=False,
        spectral_norm=self.spectral_norm, dtype=self.dtype, conv_impl=self.conv_impl)

    query = conv1x1(key_channels, name='query')(x, update_stats=train)    # g(x)
    key = conv1x1(key_channels, name='key')(x, update_stats=train)        # f(x)
    value = conv1x1(value_channels, name='value')(x, update_stats=train)  # h(x)
    if self.pool:
      key = nn.max_pool(key, (2, 2), strides=(2, 2))
      value = nn.max_pool(value, (2, 2), strides=(2, 2))

    query = query.reshape(b, h * w, key_channels)
    key = key.reshape(b, -1, key_channels)
    value = value.reshape(b, -1, value_channels)
    # Logits accumulate and the softmax runs in float32 even under a bfloat16 compute dtype.
    logits = jnp.einsum('bqc,bkc->bqk', query, key, preferred_element_type=jnp.float32)
    beta = jax.nn.softmax(logits, axis=-1)
    self.sow('intermediates', 'attention', beta)

    attended = jnp.einsum('bqk,bkc->bqc', beta.astype(value.dtype), value)
    attended = attended.reshape(b, h, w, value_channels)
    out = conv1x1(c, name='out')(attended, update_stats=train)              # v(.)
    gamma = self.param('gamma', nn.initializers.zeros, (), jnp.float32)
    return x + gamma.astype(out.dtype) * out
