"""Generator/discriminator pairs chosen by `config.model.name`.

Every model pair follows one calling convention so the training step can treat them alike:

  generator(z, labels=None, *, train: bool) -> images in [-1, 1], NHWC (or (B, 2) points)
  discriminator(x, labels=None, *, train: bool) -> logits of shape (B,)

Parameters live in the 'params' collection; any other collection a model creates at init
(batch-norm statistics in 'batch_stats', spectral-norm power-iteration vectors in
'spectral_stats') is model state: updated in training steps (`train=True`, collection
mutable) and frozen in evaluation and sampling (`train=False`). Values sown into
'intermediates' (e.g. attention maps) are never part of the state.
"""

from typing import Callable

import ml_collections

from jaxgan import errors


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
