"""The published-recipe configs (R3GAN's RpGAN + R1 + R2, SAGAN + LeCam + DiffAugment, the
low-data DCGAN with DiffAugment) each train a step on mock CIFAR-10 with tiny widths, with
the loss, augmentation and data subset their docstrings describe."""

import json
import os

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

import jaxgan
from tests.util import CONFIGS


def _tiny(config):
  config.model.g_width = 2 if config.model.name == 'sagan' else 16
  config.model.d_width = 2 if config.model.name == 'sagan' else 4
  config.train.batch_size = 16
  config.train.num_steps = 1
  config.train.checkpoint_every = 1
  config.log.every_steps = 1
  config.log.samples_every = 0
  config.log.attention_every = 0
  config.eval.every_steps = 0   # FID in training: tests/test_fid.py
  return config


@pytest.mark.parametrize('name, loss, augmentation, metrics', [
    ('r3gan_rpgan', 'rpgan + 0.025 * r1 + 0.025 * r2', None, {'d/r1', 'd/r2', 'g/rpgan'}),
    ('sagan_hinge_lecam_diffaug', 'hinge + 0.3 * lecam', "policy='translation,cutout'",
     {'d/lecam', 'aug/rt'}),
    ('dcgan_diffaug_lowdata', 'non_saturating', "policy='color,translation,cutout'",
     {'aug/rt'})])
@pytest.mark.slow
def test_each_recipe_trains_a_step_on_mock_cifar10(tmp_path, name, loss, augmentation, metrics):
  config = _tiny(jaxgan.config.from_file(os.path.join(CONFIGS, f'{name}.py')))
  experiment = jaxgan.build(config)
  assert repr(experiment.loss) == loss
  assert (experiment.augmentation is None if augmentation is None
          else augmentation in repr(experiment.augmentation))
  with tfds.testing.mock_data(num_examples=160):   # 10% of it: one batch of 16
    state = jaxgan.train(experiment, str(tmp_path))
    if config.data.fraction < 1:
      assert len(experiment.data.training_indices()) == 16 == round(160 * config.data.fraction)
  assert int(state.step) == 1
  for leaf in jax.tree.leaves(state):
    if np.issubdtype(leaf.dtype, np.floating):
      assert np.all(np.isfinite(leaf))
  row = json.loads((tmp_path / 'metrics.jsonl').read_text().splitlines()[-1])
  assert metrics <= set(row)
