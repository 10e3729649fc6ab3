"""Dense, Conv and Embed layers with optional spectral normalisation (Miyato et al. 2018).

Spectral normalisation (SN) replaces a weight W by W_SN = W / sigma(W) (Miyato et al. 2018,
eq. 8), sigma(W) the largest singular value, estimated by power iteration whose vector `u`
persists between steps. These wrappers use `flax.linen.SpectralNorm`, which keeps `u` and the
last `sigma` in a mutable collection; here that collection is 'spectral_stats', apart from
batch norm's 'batch_stats', so the trainer can treat the two on purpose. Callers pass
`update_stats=train`: a training forward pass runs one power iteration and stores the new `u`
(the collection must be mutable); an evaluation pass leaves the stored vectors untouched.

Behaviour worth knowing, all inherited from `flax.linen.SpectralNorm`:

* The gradient flows through sigma with `u` and `v` held fixed, as in the paper (Sec. 2.2).
* With `update_stats=False` flax still runs one power-iteration step from the stored `u` (and
  discards it), so evaluation is a deterministic function of (params, spectral_stats). PyTorch's
  evaluation mode reuses its stored `u`, `v` without iterating; once `u` has converged the two
  agree.
* The power iteration runs on the float32 parameters, whatever the layer's compute dtype; the
  normalised kernel is cast to the compute dtype by the wrapped layer itself.
* Every parameter with two or more dimensions is normalised (kernels, embedding tables);
  biases are left alone.

Which matrix is normalised: flax flattens a parameter to (prod(shape[:-1]), shape[-1]), so a
conv kernel in flax's HWIO layout becomes the (H*W*I, O) matrix, and an embedding table
(num_classes, features) is used as is. PyTorch's `spectral_norm` flattens its OIHW conv weight
to (O, I*H*W). The PyTorch matrix equals P @ A.T for the flax matrix A and a permutation P of
the (H, W, I) index; singular values do not change under transposition or under
multiplication by a permutation (an orthogonal matrix), so both normalise by the same sigma.
`tests/test_sagan.py` checks this against numpy's SVD.
"""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers

SPECTRAL_STATS = 'spectral_stats'

# Orthogonal initialisation, as BigGAN and StudioGAN ('ortho') use for SAGAN-style models.
default_kernel_init = nn.initializers.orthogonal()


def _apply(layer: nn.Module, spectral_norm: bool, x: jax.Array, update_stats: bool):
  if not spectral_norm:
    return layer(x)
  return nn.SpectralNorm(layer, collection_name=SPECTRAL_STATS, name='sn')(
      x, update_stats=update_stats)


class SNDense(nn.Module):
  """`nn.Dense`, spectrally normalised when `spectral_norm` is True."""
  features: int
  use_bias: bool = True
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  kernel_init: Callable = default_kernel_init

  @nn.compact
  def __call__(self, x: jax.Array, *, update_stats: bool) -> jax.Array:
    layer = nn.Dense(self.features, use_bias=self.use_bias, dtype=self.dtype,
                     param_dtype=jnp.float32, kernel_init=self.kernel_init, name='dense')
    return _apply(layer, self.spectral_norm, x, update_stats)


class SNConv(nn.Module):
  """`nn.Conv` (NHWC, 'SAME' padding, stride 1), spectrally normalised when asked.

  `conv_impl` 'rewritten' (what 'auto' picks on the CPU) is `layers.Conv`: the same parameters
  and function, with the weight gradient of large convolutions as im2col matmuls.
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)
  use_bias: bool = True
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  kernel_init: Callable = default_kernel_init
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, *, update_stats: bool) -> jax.Array:
    if layers.resolve_conv_impl(self.conv_impl) == 'rewritten':
      layer = layers.Conv(self.features, tuple(self.kernel_size), use_bias=self.use_bias,
                          dtype=self.dtype, param_dtype=jnp.float32,
                          kernel_init=self.kernel_init, name='conv')
    else:
      layer = nn.Conv(self.features, tuple(self.kernel_size), padding='SAME',
                      use_bias=self.use_bias, dtype=self.dtype, param_dtype=jnp.float32,
                      kernel_init=self.kernel_init, name='conv')
    return _apply(layer, self.spectral_norm, x, update_stats)


class SNEmbed(nn.Module):
  """`nn.Embed` (a (num_embeddings, features) table), spectrally normalised when asked.

  Used for the projection discriminator's class embedding, which the reference code
  normalises like any other weight of the discriminator.
  """
  num_embeddings: int
  features: int
  spectral_norm: bool = True
  dtype: Any = jnp.float32
  embedding_init: Callable = default_kernel_init

  @nn.compact
  def __call__(self, labels: jax.Array, *, update_stats: bool) -> jax.Array:
    layer = nn.Embed(self.num_embeddings, self.features, dtype=self.dtype,
                     param_dtype=jnp.float32, embedding_init=self.embedding_init,
                     name='embed')
    return _apply(layer, self.spectral_norm, labels, update_stats)
