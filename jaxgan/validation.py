"""Every value of a config a user can get wrong, checked before any data loads.

  checked = jaxgan.validation.validate(config)   # ConfigError: one sentence naming the key
  checked.loss, checked.augmentation, checked.evaluators, checked.g_optimizer, ...

Each key is checked once, by the code that reads it: the loop's values by
`config.validate_loop`, the loss's by `losses.from_config`, the augmentation's by
`augment.from_config`, the optimisers' by `optim.from_config`, the model's name by
`models.family`, the evaluation settings by `evaluation.validate` and the evaluators they
make; numbers through the one `checks.number`. Here are the data's keys (`validate_data`, read by `jaxgan.data`, which knows
its own sources) and the checks across parts (a 2-D dataset needs the MLP, a consistency
loss an augmentation, a key the chosen model or dataset never reads is refused). The parts
that read no data are built on the way and returned, so that `jaxgan.build` does not build
(and check) them again; the data, and the models that take the data's classes, come after.

This module sits above the parts and below `jaxgan.experiment`; `jaxgan.config` is a leaf that
imports none of them.
"""

from typing import Any, NamedTuple, Optional

import ml_collections
import optax

from jaxgan import augment, checks, data, errors, evaluation, losses, models, optim
from jaxgan import config as config_lib


class Checked(NamedTuple):
  """The parts a config describes that read no data, built (and so checked) by `validate`."""
  loss: losses.Term
  augmentation: Optional[augment.DiffAugment]
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  evaluators: dict[str, Any]   # {} when evaluation is off


def validate(config: ml_collections.ConfigDict) -> Checked:
  """Raises ConfigError (one sentence naming the key and what to do) on a bad config.

  Checks every key, each once, reading no data (a TFDS name is checked against TFDS'
  registry, offline); building the models (`jaxgan.build`, after the data's classes are
  known) then checks their constructors' arguments. Returns the parts built on the way.
  """
  config_lib.validate_loop(config)
  validate_data(config)
  models.family(config)
  is_2d = config.data.dataset in data.MIXTURES
  if is_2d != (config.model.name == 'mlp'):
    raise errors.ConfigError(
        f'config.model.name={config.model.name!r} does not fit '
        f'config.data.dataset={config.data.dataset!r}; use model \'mlp\' for the 2-D mixtures '
        f'{data.MIXTURES} and an image model for image datasets.')
  fraction = checks.number('data.fraction', config.data.fraction, low=0, high=1, low_open=True,
                           hint=' (the share of the training split to train on)')
  if is_2d and fraction != 1.0:
    raise errors.ConfigError(f'config.data.fraction={fraction!r} applies to image datasets; the '
                             f'mixture {config.data.dataset!r} draws fresh points every step, '
                             f'so leave it at 1.')
  loss = losses.from_config(config.loss)
  augmentation = augment.from_config(config.augment)
  if loss.needs_augment and augmentation is None:
    raise errors.ConfigError(
        f'the loss {loss!r} needs an augmentation T (consistency regularisation); set '
        f'config.augment.policy (e.g. \'translation\'; config.augment.probability=0 keeps it '
        f'out of the images D trains on, for bCR alone).')
  g_optimizer, d_optimizer = optim.from_config(config)
  for key in _SET_KEYS:
    section, name = key.split('.')
    why = unread(config, key)
    if why and config[section][name] != _DEFAULT[section][name]:
      raise errors.ConfigError(
          f'config.{key}={config[section][name]!r} is not read by {why}, so it would change '
          f'nothing; remove it (default {_DEFAULT[section][name]!r}).')
  if config.model.num_classes == -1 and is_2d:
    raise errors.ConfigError(f'config.model.num_classes=-1 takes the classes of the data, but '
                             f'{config.data.dataset!r} has none; set it to 0.')
  if config.eval.reference_split and not data.is_tfds(config.data.dataset):
    raise errors.ConfigError(
        f'config.eval.reference_split={config.eval.reference_split!r} picks a TFDS split, but '
        f'{config.data.dataset!r} has no splits; set it to \'\'.')
  evaluation.validate(config)
  evaluators = evaluation.evaluators_from_config(config)   # their settings (batch sizes, ...)
  return Checked(loss=loss, augmentation=augmentation, g_optimizer=g_optimizer,
                 d_optimizer=d_optimizer, evaluators=evaluators)


# Model and data keys that only some models or datasets read: a value set on one that ignores
# it cannot be meant (validate refuses it; `unread` says why).
_MODEL_LOOP_KEYS = ('model.name', 'model.z_dim', 'model.num_classes', 'model.dtype')
_DEFAULT = config_lib.default()
_SET_KEYS = tuple(f'{section}.{name}' for section in ('model', 'data')
                  for name in _DEFAULT[section])
# What each kind of dataset never reads (the mixtures draw 2-D points: no image key at all).
_DATA_UNREAD = {
    'mixture': ('image_size', 'channels', 'path', 'labels', 'data_dir', 'split', 'image_key',
                'label_key', 'cache', 'cache_max_gb', 'workers', 'mirror'),
    'digits': ('data_dir', 'split', 'cache', 'cache_max_gb', 'workers'),
    'file': ('data_dir', 'split'),
}


def unread(config: ml_collections.ConfigDict, key: str) -> Optional[str]:
  """Who ignores `key` ('model.NAME' or 'data.NAME') in `config`, e.g. "the model 'dcgan'",
  or None when the chosen model and dataset read it (or the key is not theirs)."""
  section, _, name = key.partition('.')
  if section == 'model' and key not in _MODEL_LOOP_KEYS:
    family = models.MODELS.get(config.model.name)
    if family is not None and key not in {**family.generator_args,
                                          **family.discriminator_args}:
      return f'the model {config.model.name!r}'
  elif section == 'data':
    dataset = config.data.dataset
    kind = ('mixture' if dataset in data.MIXTURES else 'digits' if dataset == 'digits'
            else 'file' if dataset in data.FILE_DATASETS else 'tfds')
    if name in _DATA_UNREAD.get(kind, ()):
      what = {'mixture': 'the 2-D mixture', 'digits': 'the bundled dataset',
              'file': 'the file dataset'}[kind]
      return f'{what} {dataset!r}'
  return None


def validate_data(config: ml_collections.ConfigDict) -> None:
  """ConfigError on a bad `data` value (the dataset's name, size, channels, storage), before
  any data is read (a TFDS name is checked against TFDS' registry, offline)."""
  d = config.data
  if not isinstance(d.dataset, str) or not d.dataset.strip():
    raise errors.ConfigError('config.data.dataset is empty; name a TFDS dataset, \'folder\', '
                             '\'npz\', \'digits\', \'ring\' or \'grid\'.')
  checks.number('data.workers', d.workers, integer=True, low=0)
  errors.check_choice('data.mirror', d.mirror, (False, True))
  if d.dataset in data.MIXTURES:
    return
  if d.image_size not in data.IMAGE_SIZES:
    raise errors.ConfigError(
        f'config.data.image_size={d.image_size!r} is not supported; choose a power of two from '
        f'32 to 256 ({", ".join(map(str, data.IMAGE_SIZES))}).')
  errors.check_choice('data.channels', d.channels, data.CHANNELS)
  errors.check_choice('data.cache', d.cache, data.CACHES)
  errors.check_choice('data.labels', d.labels, data.LABELS)
  checks.number('data.cache_max_gb', d.cache_max_gb, low=0, low_open=True, hint=' (GB)')
  if d.dataset in data.FILE_DATASETS:
    if not d.path:
      what = 'folder of images' if d.dataset == 'folder' else '.npz file'
      raise errors.ConfigError(f'config.data.dataset={d.dataset!r} reads a {what}: pass it '
                               f'with --config.data.path=...')
  elif d.path:
    raise errors.ConfigError(f'config.data.path is read by the \'folder\' and \'npz\' datasets '
                             f'only, not {d.dataset!r}; set --config.data.dataset=folder (or npz), '
                             f'or clear data.path.')
  if d.labels == 'folders' and d.dataset != 'folder':
    raise errors.ConfigError(f'config.data.labels=\'folders\' is for --config.data.dataset=folder; '
                             f'set it to \'none\'.')
  if data.is_tfds(d.dataset):
    data.check_tfds_name(d.dataset, d.data_dir)
  else:
    for key in ('image_key', 'label_key'):
      if d[key]:
        raise errors.ConfigError(f'config.data.{key} picks a TFDS feature, but '
                                 f'{d.dataset!r} is not a TFDS dataset; clear it.')
