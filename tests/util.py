"""Tiny configs shared by the tests (small widths keep compile and run times short)."""

import ml_collections

from configs import default


def tiny_config(dataset: str = 'digits', **overrides) -> ml_collections.ConfigDict:
  config = default.get_config()
  config.data.dataset = dataset
  config.data.image_size = 32
  if dataset in ('ring', 'grid'):
    config.model.name = 'mlp'
    config.model.z_dim = 2
    config.model.hidden = 32
    config.model.depth = 2
  else:
    config.model.name = 'dcgan'
    config.model.z_dim = 8
    config.model.g_width = 32
    config.model.d_width = 4
  config.train.batch_size = 16
  config.train.num_steps = 4
  config.train.checkpoint_every = 2
  config.log.every_steps = 1
  config.log.samples_every = 2
  config.log.num_samples = 4
  for key, value in overrides.items():
    section, name = key.split('.')
    config[section][name] = value
  return config
