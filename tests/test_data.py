"""Data sources: mixtures, the offline digits, CIFAR-10 through TFDS (mocked), arrays, an
iterator of batches, and how batches split over processes and devices."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import data, errors
from tests.util import tiny_config


def test_mixture_modes_follow_the_protocol():
  ring, ring_sigma = data.mixture_modes('ring')
  assert ring.shape == (8, 2) and ring_sigma == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  grid, grid_sigma = data.mixture_modes('grid')
  assert grid.shape == (25, 2) and grid_sigma == 0.05
  assert sorted(set(grid[:, 0])) == [-4, -2, 0, 2, 4]
  points = data.sample_mixture('grid', 5000, np.random.default_rng(0))
  dist = np.linalg.norm(points[:, None] - grid[None], axis=-1).min(1)
  # In 2-D, P(|x - mode| <= 3 sigma) = 1 - exp(-9/2) = 0.9889.
  assert abs(np.mean(dist < 3 * grid_sigma) - (1 - np.exp(-4.5))) < 0.006


def _source(dataset='digits', **overrides):
  source = data.from_config(tiny_config(dataset, **overrides))
  source.prepare()
  return source


def test_digits_source_batches():
  source = _source()
  assert source.num_examples == 1797 and source.example_shape == (32, 32, 3)
  layout = data.Layout(batch_size=16, d_steps=2, local_devices=4)
  batch = source.batch(0, layout)
  assert batch['image'].shape == (4, 2, 4, 32, 32, 3)
  assert batch['label'].shape == (4, 2, 4)
  assert batch['image'].dtype == np.float32
  assert -1.0 <= batch['image'].min() and batch['image'].max() <= 1.0
  assert batch['image'].min() == -1.0 and batch['image'].max() > 0.9
  # Deterministic, and different from step to step.
  np.testing.assert_array_equal(source.batch(7, layout)['image'], source.batch(7, layout)['image'])
  assert not np.array_equal(source.batch(7, layout)['image'], source.batch(8, layout)['image'])


def test_epochs_are_permutations():
  source = _source()
  steps_per_epoch = 1797 // 100
  seen = np.concatenate([source.global_indices(s, 100) for s in range(steps_per_epoch)])
  assert len(np.unique(seen)) == len(seen)               # no repeats within an epoch
  crossing = source.global_indices(steps_per_epoch, 100)  # straddles epochs 0 and 1
  assert len(crossing) == 100


def test_processes_read_disjoint_shards_of_one_global_batch():
  source = _source()
  whole = source.batch(3, data.Layout(batch_size=8))['label'].reshape(-1)
  parts = [source.batch(3, data.Layout(batch_size=8, process_index=i, process_count=2,
                                       local_devices=2)) for i in range(2)]
  for p in parts:
    assert p['image'].shape == (2, 1, 2, 32, 32, 3)
  np.testing.assert_array_equal(np.concatenate([p['label'].reshape(-1) for p in parts]), whole)


def test_one_device_reads_what_eight_devices_read():
  source = _source()
  one = source.batch(5, data.Layout(batch_size=16, d_steps=2))
  eight = source.batch(5, data.Layout(batch_size=16, d_steps=2, local_devices=8))
  # (devices, d_steps, b, ...) -> (d_steps, devices * b, ...): the same global batch.
  regroup = lambda x: np.moveaxis(x, 0, 1).reshape((2, 16) + x.shape[3:])
  np.testing.assert_array_equal(regroup(eight['image']), regroup(one['image']))


def test_mixture_source_sharding_and_determinism():
  source = _source('ring')
  whole = source.batch(5, data.Layout(batch_size=8))['image'].reshape(-1, 2)
  parts = [source.batch(5, data.Layout(batch_size=8, process_index=i, process_count=2))
           ['image'].reshape(-1, 2) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_batch_size_must_divide_devices():
  with pytest.raises(errors.ConfigError, match='divisible by the number of devices \\(8\\)'):
    data.Layout(batch_size=12, local_devices=8)


def test_cifar10_through_tfds_mock():
  with tfds.testing.mock_data(num_examples=24):
    source = _source('cifar10', **{'data.image_size': 64})
  assert source.num_examples == 24
  batch = source.batch(0, data.Layout(batch_size=16, local_devices=2))
  assert batch['image'].shape == (2, 1, 8, 64, 64, 3)
  assert batch['label'].max() < 10


def test_missing_cifar10_fails_fast_with_instructions(tmp_path):
  source = data.from_config(tiny_config('cifar10', **{'data.data_dir': str(tmp_path)}))
  with pytest.raises(errors.DatasetError, match='--config.data.data_dir') as e:
    source.prepare()
  assert 'download_and_prepare' in str(e.value) and str(tmp_path) in str(e.value)


def test_array_source_from_user_arrays_and_bad_arrays():
  images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
  source = data.ArraySource(images, np.arange(10) % 2, seed=3, num_classes=2)
  batch = source.batch(0, data.Layout(batch_size=4, d_steps=2))
  assert batch['image'].shape == (1, 2, 4, 8, 8, 3) and set(batch['label'].ravel()) <= {0, 1}
  np.testing.assert_allclose(batch['image'], data.to_float(images[
      source.global_indices(0, 8).reshape(1, 2, 4)]))
  with pytest.raises(errors.DatasetError, match='uint8 array'):
    data.ArraySource(images.astype(np.float32))
  with pytest.raises(errors.DatasetError, match='labels must have shape'):
    data.ArraySource(images, np.zeros(3))


def test_iterable_source_reads_in_order():
  def batches():
    for i in range(3):
      yield {'image': np.full((4, 2), i, np.float32), 'label': np.arange(4)}

  source = data.IterableSource(batches(), example_shape=(2,))
  layout = data.Layout(batch_size=4, local_devices=2)
  first = source.batch(0, layout)
  assert first['image'].shape == (2, 1, 2, 2) and float(first['image'].max()) == 0.0
  np.testing.assert_array_equal(first['label'].ravel(), [0, 1, 2, 3])
  with pytest.raises(errors.DatasetError, match='reads steps in order'):
    source.batch(5, layout)
  source.batch(1, layout)
  source.batch(2, layout)
  with pytest.raises(errors.DatasetError, match='exhausted'):
    source.batch(3, layout)


def test_a_fraction_of_the_training_set_is_a_seeded_subset():
  full = _source()
  tenth = _source(**{'data.fraction': 0.1})
  assert len(tenth.training_indices()) == round(0.1 * 1797) == 180 and tenth.num_examples == 1797
  subset = tenth.training_indices()
  assert len(np.unique(subset)) == 180 and subset.max() < 1797
  # The same subset from the same seed (every process, every resume), another from another.
  np.testing.assert_array_equal(subset, _source(**{'data.fraction': 0.1}).training_indices())
  other = _source(**{'data.fraction': 0.1, 'train.seed': 1}).training_indices()
  assert len(np.intersect1d(subset, other)) < 60
  # Batches read only the subset, each epoch a permutation of it.
  layout = data.Layout(batch_size=36, d_steps=1)
  images = np.concatenate([tenth.batch(s, layout)['image'][0, 0] for s in range(5)])
  expected = data.to_float(full.images[subset])
  key = lambda x: sorted(map(bytes, np.ascontiguousarray(x).reshape(len(x), -1)))
  assert key(images) == key(expected)
  # FID's reference images come from the whole split.
  assert sum(len(c) for c in tenth.reference_images(1797)) == 1797
  np.testing.assert_array_equal(full.training_indices(), np.arange(1797))


@pytest.mark.parametrize('fraction, dataset, message', [
    (0.0, 'digits', r'config.data.fraction=0.0 must be in \(0, 1\]'),
    (1.5, 'digits', r'config.data.fraction=1.5 must be in \(0, 1\]'),
    (0.5, 'ring', r'config.data.fraction=0.5 applies to image datasets')])
def test_bad_fractions_are_config_errors(fraction, dataset, message):
  import jaxgan  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.ConfigError, match=message):
    jaxgan.validation.validate(tiny_config(dataset, **{'data.fraction': fraction}))
  with pytest.raises(errors.ConfigError, match='must be in'):
    data.ArraySource(np.zeros((4, 2, 2, 3), np.uint8), fraction=0.0)
