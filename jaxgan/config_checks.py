"""Config validation: every value a user can get wrong is caught here, before any compile."""

import ml_collections

from jaxgan import data, errors, evaluation, losses, models, optim


def _positive_int(config, key: str, minimum: int = 1) -> None:
  section, name = key.split('.')
  value = config[section][name]
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise errors.ConfigError(
        f'config.{key}={value!r} must be an integer >= {minimum}.')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (one sentence naming the key and allowed values) on a bad config."""
  errors.check_choice('data.dataset', config.data.dataset, data.DATASETS)
  errors.check_choice('model.name', config.model.name, models.MODEL_BUILDERS)
  models.compute_dtype(config)   # unknown model.dtype
  is_2d = config.data.dataset in data.MIXTURES
  if is_2d != (config.model.name == 'mlp'):
    raise errors.ConfigError(
        f'config.model.name={config.model.name!r} does not fit '
        f'config.data.dataset={config.data.dataset!r}; use model \'mlp\' for the 2-D mixtures '
        f'{data.MIXTURES} and an image model for image datasets {data.IMAGE_DATASETS}.')
  if not is_2d:
    errors.check_choice('data.image_size', config.data.image_size, (32, 64))
  losses.from_config(config.loss)   # unknown objective / regulariser names
  for key in ('g_optimizer', 'd_optimizer'):
    errors.check_choice(f'optim.{key}', config.optim[key], optim.OPTIMIZERS)
  for key in ('g_schedule', 'd_schedule'):
    optim.validate_schedule(config.optim[key], key)
  for key in ('g_lr', 'd_lr'):
    if not config.optim[key] > 0:
      raise errors.ConfigError(f'config.optim.{key}={config.optim[key]!r} must be > 0.')
  if config.optim.get('d_clip', 0.0) < 0:
    raise errors.ConfigError('config.optim.d_clip must be >= 0 (0 turns weight clipping off).')
  for key in ('train.num_steps', 'train.batch_size', 'train.d_steps', 'train.checkpoint_every',
              'train.keep_checkpoints', 'log.every_steps', 'model.z_dim'):
    _positive_int(config, key)
  for key in ('log.samples_every', 'eval.every_steps'):
    _positive_int(config, key, minimum=0)
  decay = config.train.get('ema_decay', 0.0)
  if not 0.0 <= decay < 1.0:
    raise errors.ConfigError(f'config.train.ema_decay={decay!r} must be in [0, 1).')
  num_classes = config.model.get('num_classes', 0)
  if num_classes and num_classes != data.num_classes(config):
    raise errors.ConfigError(
        f'config.model.num_classes={num_classes} but dataset {config.data.dataset!r} has '
        f'{data.num_classes(config)} classes; set it to that or to 0 (unconditional).')
  evaluation.validate(config)
