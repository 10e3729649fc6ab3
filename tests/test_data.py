"""Data sources: mixtures, the offline digits, CIFAR-10 through TFDS (mocked), sharding."""

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


def test_digits_source_batches():
  config = tiny_config('digits', **{'train.d_steps': 2})
  source = data.Source(config, local_devices=4)
  assert source.num_examples == 1797
  batch = source.batch(0)
  assert batch['image'].shape == (4, 2, 4, 32, 32, 3)
  assert batch['label'].shape == (4, 2, 4)
  assert batch['image'].dtype == np.float32
  assert -1.0 <= batch['image'].min() and batch['image'].max() <= 1.0
  assert batch['image'].min() == -1.0 and batch['image'].max() > 0.9
  # Deterministic, and different from step to step.
  np.testing.assert_array_equal(source.batch(7)['image'], source.batch(7)['image'])
  assert not np.array_equal(source.batch(7)['image'], source.batch(8)['image'])


def test_epochs_are_permutations():
  config = tiny_config('digits', **{'train.batch_size': 100})
  source = data.Source(config)
  steps_per_epoch = 1797 // 100
  seen = np.concatenate([source._global_indices(s) for s in range(steps_per_epoch)])
  assert len(np.unique(seen)) == len(seen)           # no repeats within an epoch
  crossing = source._global_indices(steps_per_epoch)  # straddles epochs 0 and 1
  assert len(crossing) == 100


def test_processes_read_disjoint_shards_of_one_global_batch():
  config = tiny_config('digits', **{'train.batch_size': 8})
  whole = data.Source(config, local_devices=1).batch(3)['label'].reshape(-1)
  parts = [data.Source(config, process_index=i, process_count=2, local_devices=2).batch(3)
           for i in range(2)]
  for p in parts:
    assert p['image'].shape == (2, 1, 2, 32, 32, 3)
  np.testing.assert_array_equal(np.concatenate([p['label'].reshape(-1) for p in parts]), whole)


def test_mixture_source_sharding_and_determinism():
  config = tiny_config('ring', **{'train.batch_size': 8})
  whole = data.Source(config).batch(5)['image'].reshape(-1, 2)
  parts = [data.Source(config, process_index=i, process_count=2).batch(5)['image'].reshape(-1, 2)
           for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_batch_size_must_divide_devices():
  config = tiny_config('digits', **{'train.batch_size': 12})
  with pytest.raises(errors.ConfigError, match='divisible by the number of devices \\(8\\)'):
    data.Source(config, local_devices=8)


def test_cifar10_through_tfds_mock():
  config = tiny_config('cifar10', **{'data.image_size': 64})
  with tfds.testing.mock_data(num_examples=24):
    source = data.Source(config, local_devices=2)
  assert source.num_examples == 24
  batch = source.batch(0)
  assert batch['image'].shape == (2, 1, 8, 64, 64, 3)
  assert batch['label'].max() < 10


def test_missing_cifar10_fails_fast_with_instructions(tmp_path):
  config = tiny_config('cifar10', **{'data.data_dir': str(tmp_path)})
  with pytest.raises(errors.DatasetError, match='--config.data.data_dir') as e:
    data.Source(config)
  assert 'download_and_prepare' in str(e.value) and str(tmp_path) in str(e.value)
