"""Tiny configs and helpers shared by the tests (small widths keep compile and run times short)."""

import os

import ml_collections

import jaxgan
from jaxgan import data

# The repository's config files (the library never imports them; tests read them by path).
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def tiny_config(dataset: str = 'digits', **overrides) -> ml_collections.ConfigDict:
  config = jaxgan.config.default()
  config.data.dataset = dataset
  if dataset not in ('ring', 'grid'):   # the 2-D mixtures read no image size
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
  for key, value in overrides.items():   # 'section.name' or 'eval.<evaluator>.name'
    *sections, name = key.split('.')
    node = config
    for section in sections:
      node = node[section]
    node[name] = value
  return config


def host_batch(experiment: jaxgan.Experiment, step: int, local_devices: int) -> dict:
  """The experiment's batch of `step` split over `local_devices` devices of one process."""
  experiment.data.prepare()
  loop = experiment.loop
  layout = data.Layout(batch_size=loop.batch_size, d_steps=loop.d_steps,
                       local_devices=local_devices, g_batch=loop.g_real_batch == 'own')
  return experiment.data.batch(step, layout)


class SigtermAt:
  """Wraps a data source: sends this process a SIGTERM (as a scheduler preempting the job
  would) when the batch of step `step` is read; otherwise the source itself."""

  def __init__(self, source, step: int):
    self._source = source
    self.kill_at = step

  def __getattr__(self, name):
    return getattr(self._source, name)

  def batch(self, step, layout):
    if step == self.kill_at:
      import os, signal  # pylint: disable=g-import-not-at-top,multiple-imports
      os.kill(os.getpid(), signal.SIGTERM)
    return self._source.batch(step, layout)
