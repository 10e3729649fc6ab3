"""Generator/discriminator pairs chosen by `config.model.name`.

Every model pair follows one calling convention so the training step can treat them alike:

  generator(z, labels=None, *, train: bool) -> images in [-1, 1], NHWC (or (B, 2) points)
  discriminator(x, labels=None, *, train: bool) -> logits of shape (B,)

Parameters live in the 'params' collection; any other collection a model creates at init
(batch-norm statistics in 'batch_stats', spectral-norm power-iteration vectors in
'spectral_stats') is model state: updated in training steps (`train=True`, collection
mutable) and frozen in evaluation and sampling (`train=False`). Values sown into
'intermediates' (e.g. attention maps) are never part of the state.

Mixed precision (`config.model.dtype='bfloat16'`): every model computes in the compute dtype
but keeps float32 parameters (hence float32 gradients and optimiser state), float32
batch-norm statistics, spectral-norm power iteration and attention softmax, and returns
float32 images and logits, so the losses are always computed in float32.
"""

from typing import Callable

import jax.numpy as jnp
import ml_collections

from jaxgan import errors

# config.model.dtype -> compute dtype.
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(config: ml_collections.ConfigDict):
  """The compute dtype named by `config.model.dtype` (default float32), validated."""
  name = config.model.get('dtype', 'float32')
  errors.check_choice('model.dtype', name, DTYPES)
  return DTYPES[name]


def _build_dcgan(config):
  from jaxgan.models import dcgan
  return dcgan.build(config)


def _build_mlp(config):
  from jaxgan.models import mlp
  return mlp.build(config)


def _build_sagan(config):
  from jaxgan.models import sagan
  return sagan.build(config)


MODEL_BUILDERS: dict[str, Callable] = {
    'dcgan': _build_dcgan,
    'mlp': _build_mlp,
    'sagan': _build_sagan,
}


def build(config: ml_collections.ConfigDict):
  """Returns `(generator, discriminator)` flax modules for `config.model.name`."""
  errors.check_choice('model.name', config.model.name, MODEL_BUILDERS)
  return MODEL_BUILDERS[config.model.name](config)
