"""Generator/discriminator pairs, constructed from keyword arguments or from `config.model`.

  generator = models.SAGANGenerator(image_size=32, width=64, attention_resolution=16)
  generator, discriminator = models.build(config)     # the pair config.model.name names

Every model pair follows one calling convention so the training step can treat them alike:

  generator(z, labels=None, *, train: bool) -> images in [-1, 1], NHWC (or (B, 2) points)
                                               (R3GAN's, as the official one, not squashed)
  discriminator(x, labels=None, *, train: bool) -> logits of shape (B,)

Your own flax modules work in the training loop if they follow it too. Parameters live in the
'params' collection; any other collection a model creates at init (batch-norm statistics in
'batch_stats', spectral-norm power-iteration vectors in 'spectral_stats') is model state:
updated in training steps (`train=True`, collection mutable) and frozen in evaluation and
sampling (`train=False`). Values sown into 'intermediates' (e.g. attention maps) are never part
of the state. Batch norm in a generator may average over the train step's device axis
(`jaxgan.steps.AXIS`, 'batch'). A discriminator whose logits mix samples (batch norm in
training) says so with `mixes_samples = True`; per-sample gradient penalties refuse it, unless
it also says `summed_logit_penalty = True` (its reference penalises the gradient of the summed
logits, as jaxgan's R1 computes it: StyleGAN2). A model that draws random numbers in its
forward pass names the RNG streams in `rng_streams` (StyleGAN2's ('noise',)); the train step
and sampling pass it a key for each. A generator's state changes in its own update only,
except the collections it names in `moving_state` (StyleGAN2's ('w_avg',)), which every
training pass moves (the critic updates' fakes, a generator-side term's passes).

Each model class defines its own defaults once; `build` passes a `config.model` key only when
it is set (None means "the model's default"), renaming it to the constructor's argument
(`MODELS[name].generator_args`).

Mixed precision (`dtype=jnp.bfloat16`): every model computes in the compute dtype (R3GAN: the
stages that its official presets run in bfloat16, the rest in float32) but keeps
float32 parameters (hence float32 gradients and optimiser state), float32 batch-norm
statistics, spectral-norm power iteration and attention softmax, and returns float32 images
and logits, so the losses are always computed in float32.
"""

import dataclasses
from typing import Mapping

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxgan import errors
from jaxgan.models import biggan, dcgan, mlp, r3gan, sagan, stylegan2

DCGANGenerator, DCGANDiscriminator = dcgan.Generator, dcgan.Discriminator
SAGANGenerator, SAGANDiscriminator = sagan.Generator, sagan.Discriminator
MLPGenerator, MLPDiscriminator = mlp.Generator, mlp.Discriminator
StyleGAN2Generator, StyleGAN2Discriminator = stylegan2.Generator, stylegan2.Discriminator
BigGANGenerator, BigGANDiscriminator = biggan.Generator, biggan.Discriminator
R3GANGenerator, R3GANDiscriminator = r3gan.Generator, r3gan.Discriminator

# config.model.dtype -> compute dtype. float16 (without loss scaling) only where the official
# code runs it: StyleGAN2-ADA's highest resolutions (FLOAT16_FAMILIES).
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}
FLOAT16_FAMILIES = ('stylegan2',)


@dataclasses.dataclass(frozen=True)
class Family:
  """A model pair and how config keys map to its constructors' arguments."""
  generator: type
  discriminator: type
  generator_args: Mapping[str, str]       # dotted config key -> generator argument
  discriminator_args: Mapping[str, str]   # dotted config key -> discriminator argument


_IMAGE = {'data.image_size': 'image_size', 'model.dtype': 'dtype'}
_R3GAN = {**_IMAGE, 'model.num_classes': 'num_classes', 'model.r3gan_preset': 'preset',
          'model.r3gan_widths': 'widths', 'model.r3gan_cardinalities': 'cardinalities',
          'model.r3gan_blocks': 'blocks'}
MODELS: dict[str, Family] = {
    'dcgan': Family(
        dcgan.Generator, dcgan.Discriminator,
        {**_IMAGE, 'data.channels': 'channels', 'model.g_width': 'width',
         'model.conv_impl': 'conv_impl'},
        {**_IMAGE, 'model.d_width': 'width', 'model.d_norm': 'norm',
         'model.conv_impl': 'conv_impl'}),
    'sagan': Family(
        sagan.Generator, sagan.Discriminator,
        {**_IMAGE, 'data.channels': 'out_channels', 'model.g_width': 'width',
         'model.num_classes': 'num_classes',
         'model.attention_resolution': 'attention_resolution',
         'model.attention_pool': 'attention_pool', 'model.g_spectral_norm': 'spectral_norm',
         'model.conv_impl': 'conv_impl'},
        {**_IMAGE, 'model.d_width': 'width', 'model.num_classes': 'num_classes',
         'model.attention_resolution': 'attention_resolution',
         'model.attention_pool': 'attention_pool', 'model.d_spectral_norm': 'spectral_norm',
         'model.conv_impl': 'conv_impl'}),
    'biggan': Family(
        biggan.Generator, biggan.Discriminator,
        {**_IMAGE, 'data.channels': 'out_channels', 'model.g_width': 'width',
         'model.z_dim': 'z_dim', 'model.shared_dim': 'shared_dim',
         'model.num_classes': 'num_classes',
         'model.attention_resolution': 'attention_resolution',
         'model.g_spectral_norm': 'spectral_norm', 'model.conv_impl': 'conv_impl'},
        {**_IMAGE, 'model.d_width': 'width', 'model.num_classes': 'num_classes',
         'model.attention_resolution': 'attention_resolution',
         'model.d_spectral_norm': 'spectral_norm', 'model.conv_impl': 'conv_impl'}),
    'r3gan': Family(r3gan.Generator, r3gan.Discriminator,
                    {**_R3GAN, 'data.channels': 'out_channels'}, _R3GAN),
    'mlp': Family(
        mlp.Generator, mlp.Discriminator,
        {'model.hidden': 'hidden', 'model.depth': 'depth', 'model.dtype': 'dtype'},
        {'model.hidden': 'hidden', 'model.depth': 'depth', 'model.dtype': 'dtype'}),
    # StyleGAN2-ADA's --cfg=cifar networks by default (stylegan2.CFG_SPECS); with
    # model.dtype='float16' (the official precision) or 'bfloat16' the 4 highest resolutions
    # compute in it. Its images are not clipped to [-1, 1] (nor are the official ones).
    'stylegan2': Family(
        stylegan2.Generator, stylegan2.Discriminator,
        {**_IMAGE, 'data.channels': 'channels', 'model.num_classes': 'num_classes',
         'model.stylegan2_cfg': 'cfg', 'model.style_mixing_prob': 'style_mixing_prob'},
        {**_IMAGE, 'model.num_classes': 'num_classes', 'model.stylegan2_cfg': 'cfg'}),
}


def _construct(cls: type, args: Mapping[str, str], config: ml_collections.ConfigDict
               ) -> nn.Module:
  kwargs = {}
  for key, arg in args.items():
    section, name = key.split('.')
    value = config[section][name]
    if value is None:
      continue                  # the model's own default
    kwargs[arg] = DTYPES[value] if arg == 'dtype' else value
  try:
    return cls(**kwargs)
  except errors.ConfigError as e:
    # The module names its argument; say which config key set it.
    message = str(e)
    for key, arg in args.items():
      if message.startswith(f'{arg}='):
        message = f'config.{key}=' + message[len(arg) + 1:]
        break
    raise errors.ConfigError(message) from None


def family(config: ml_collections.ConfigDict) -> Family:
  """The Family `config.model.name` names; ConfigError on an unknown name or dtype (checked
  here only: `jaxgan.validation` calls this before any data loads, `build` after)."""
  errors.check_choice('model.name', config.model.name, MODELS)
  errors.check_choice('model.dtype', config.model.dtype, DTYPES)
  if config.model.dtype == 'float16' and config.model.name not in FLOAT16_FAMILIES:
    raise errors.ConfigError(
        f'config.model.dtype=\'float16\' is offered for {", ".join(FLOAT16_FAMILIES)} only '
        f'(its official precision); use \'bfloat16\' for {config.model.name!r}, which needs '
        f'no loss scaling.')
  return MODELS[config.model.name]


def build(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module]:
  """Returns `(generator, discriminator)` for `config.model.name`, arguments checked."""
  pair = family(config)
  return (_construct(pair.generator, pair.generator_args, config),
          _construct(pair.discriminator, pair.discriminator_args, config))


def mixes_samples(discriminator: nn.Module) -> bool:
  """Whether a discriminator's logit for one sample depends on others (see module doc)."""
  return bool(getattr(discriminator, 'mixes_samples', False))


def summed_logit_penalty(discriminator: nn.Module) -> bool:
  """Whether a sample-mixing discriminator is penalised, as its reference code does, on the
  gradient of the batch's summed logits (what jaxgan's R1 computes; StyleGAN2's minibatch
  std, `stylegan2` module doc), so per-sample penalties are allowed for it."""
  return bool(getattr(discriminator, 'summed_logit_penalty', False))
