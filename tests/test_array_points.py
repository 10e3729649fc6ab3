"""ArraySource holds float (N, D) examples (points, embeddings) as well as uint8 images, and
the MLP family trains on them."""

import chex
import jax
import numpy as np
import pytest

import jaxgan
from jaxgan import data, errors, models
from tests.util import tiny_config


@pytest.mark.slow
def test_array_source_batches_float_points_as_they_are():
  points = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float64) * 3.0
  source = data.ArraySource(points, seed=1)
  assert source.example_shape == (5,)
  batch = source.batch(2, data.Layout(batch_size=8, d_steps=2))
  assert batch['image'].shape == (1, 2, 8, 5) and batch['image'].dtype == np.float32
  expected = points[source.global_indices(2, 16)].astype(np.float32).reshape(1, 2, 8, 5)
  chex.assert_trees_all_equal(batch['image'], expected)    # not rescaled as uint8 would be
  for bad, message in ((np.zeros((4, 8, 8, 3), np.float32), 'uint8 array of images'),
                       (np.zeros((0, 2), np.float32), 'non-empty'),
                       (np.full((4, 2), np.nan, np.float32), 'NaN or infinite')):
    with pytest.raises(errors.DatasetError, match=message):
      data.ArraySource(bad)


@pytest.mark.slow
@pytest.mark.parametrize('dim', [2, 3])
def test_the_mlp_family_trains_on_float_points(tmp_path, dim):
  rng = np.random.default_rng(dim)
  points = (rng.normal(size=(256, dim)) * 0.1 + 1.5).astype(np.float32)
  # Sample pictures every 2 steps: a scatter of 2-D points; none for 3-D vectors.
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 2,
                                  'log.samples_every': 2})
  experiment = jaxgan.build(config).replace(
      data=data.ArraySource(points, seed=0),
      generator=models.MLPGenerator(hidden=32, depth=2, out_dim=dim),
      discriminator=models.MLPDiscriminator(hidden=32, depth=2))
  state = jaxgan.train(experiment, str(tmp_path))
  assert int(state.step) == 4
  for leaf in jax.tree.leaves(state):
    if jax.dtypes.issubdtype(leaf.dtype, np.floating):
      assert np.all(np.isfinite(np.asarray(leaf)))
  fake = np.concatenate([x for x, _ in experiment.generate(state, 64)])
  assert fake.shape == (64, dim) and np.all(np.isfinite(fake))
  assert len(list(tmp_path.rglob('*.png'))) == (2 if dim == 2 else 0)   # steps 2 and 4
