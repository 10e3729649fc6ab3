"""Values and inputs that cannot be meant are refused with one sentence before anything runs:
optimiser moments outside [0, 1), negative regulariser weights, keys the chosen model or data
never reads, "the data's classes" of unlabelled data, image augmentation of 2-D points, arrays
that are neither images nor features, an unreadable study record."""

import numpy as np
import pytest

import jaxgan
from jaxgan import errors
from tests.util import tiny_config


@pytest.mark.parametrize('dataset, overrides, message', [
    ('digits', {'optim.b1': 2.0}, r'config.optim.b1=2.0 must be in \[0, 1\)'),
    ('digits', {'optim.b2': -1.0}, r'config.optim.b2=-1.0 must be in \[0, 1\)'),
    ('digits', {'optim.b2': 1.0}, r'config.optim.b2=1.0 must be in \[0, 1\)'),
    ('ring', {'loss.regularizers': {'r1': -0.5}},
     r'config.loss.regularizers.r1=-0.5 must be a number >= 0'),
    ('digits', {'model.attention_resolution': 16},
     "config.model.attention_resolution=16 is not read by the model 'dcgan'"),
    ('digits', {'model.hidden': 32}, "config.model.hidden=32 is not read by the model 'dcgan'"),
    ('ring', {'model.g_width': 8}, "config.model.g_width=8 is not read by the model 'mlp'"),
    ('ring', {'model.conv_impl': 'flax'}, "config.model.conv_impl='flax' is not read by"),
    ('ring', {'data.image_size': 32},
     "config.data.image_size=32 is not read by the 2-D mixture 'ring'"),
    ('grid', {'data.path': '/tmp/x.npz'}, "config.data.path='/tmp/x.npz' is not read by"),
    ('digits', {'data.split': 'test'},
     "config.data.split='test' is not read by the bundled dataset 'digits'"),
    ('digits', {'data.data_dir': '/data/tfds'}, "config.data.data_dir='/data/tfds' is not read"),
])
def test_values_that_cannot_be_meant_are_refused(dataset, overrides, message):
  config = tiny_config(dataset, **overrides)
  with pytest.raises(errors.ConfigError, match=message) as e:
    jaxgan.build(config)
  assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize('dataset, overrides', [
    ('digits', {'optim.b1': 0.0, 'optim.b2': 0.9}),
    ('ring', {'loss.regularizers': {'r1': 0.0}}),
    ('digits', {'model.name': 'sagan', 'model.attention_resolution': 16,
                'model.g_width': 8, 'model.d_width': 8}),
    ('ring', {'model.hidden': 16}),
])
def test_values_a_part_reads_are_accepted(dataset, overrides):
  jaxgan.build(tiny_config(dataset, **overrides))


def test_the_datas_classes_of_unlabelled_data_are_refused(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
  np.savez(tmp_path / 'plain.npz', images=images)
  np.savez(tmp_path / 'labelled.npz', images=images, labels=np.arange(8) % 3)
  config = tiny_config('npz', **{'data.path': str(tmp_path / 'plain.npz'),
                                 'model.num_classes': -1})
  with pytest.raises(errors.ConfigError, match=r'num_classes=-1 .* has no labels; set it to 0'):
    jaxgan.build(config)
  config.data.path = str(tmp_path / 'labelled.npz')
  config.model.name = 'sagan'
  assert jaxgan.build(config).num_classes == 3
