"""A data source says how its samples are shown and saved (`data.sample_view`): a grid for
images, a scatter plot with the mode statistics for the mixtures, the points as they are for
other vectors, or the source's own view, which the training loop then uses."""

import json

import numpy as np
from PIL import Image
import pytest

import jaxgan
from jaxgan import data, models
from tests.util import tiny_config


def test_each_source_gets_the_view_of_its_examples():
  images = np.zeros((4, 8, 8, 3), np.uint8)
  assert isinstance(data.sample_view(data.ArraySource(images)), data.Images)
  flat = data.sample_view(data.ArraySource(np.zeros((4, 2), np.float32)))
  assert isinstance(flat, data.Points) and flat.centres is None
  vectors = data.sample_view(data.ArraySource(np.zeros((4, 3), np.float32)))
  assert isinstance(vectors, data.Vectors) and not isinstance(vectors, data.Points)
  grid = data.sample_view(data.from_config(tiny_config('grid')))
  centres, sigma = data.mixture_modes('grid')
  np.testing.assert_array_equal(grid.centres, centres)
  assert grid.sigma == sigma and grid.num_samples == 2_500 and not grid.shows_images
  source = data.ArraySource(images)
  source.sample_view = own = data.Vectors()
  assert data.sample_view(source) is own


def test_the_mixtures_view_scores_the_modes():
  centres, sigma = data.mixture_modes('ring')
  view = data.Points(centres, sigma)
  on_modes = np.repeat(centres, 3, axis=0)[:-1]          # every mode hit, the last one twice
  picture = view.picture(on_modes, 'step 7')
  assert picture.scalars == {'modes/modes_covered': 8.0, 'modes/high_quality': 1.0}
  assert picture.note == '8/8 modes covered, 100.0% high-quality samples.'
  assert picture.image.dtype == np.uint8 and picture.image.ndim == 3
  # Two modes hit, and half the samples 10 sigma off any mode.
  off = np.concatenate([centres[:2], centres[:2] + 10 * sigma])
  assert view.picture(off, '').scalars == {'modes/modes_covered': 2.0,
                                           'modes/high_quality': 0.5}
  assert data.Points().picture(on_modes, '').scalars == {}   # no known modes: no statistics
  assert data.Vectors().picture(np.zeros((4, 3)), '') is None
  grid = data.Images().picture(np.zeros((4, 8, 8, 3), np.float32), '').image
  assert grid.dtype == np.uint8 and grid.shape[-1] == 3


@pytest.mark.parametrize('view', [data.Vectors(), data.Points()])
def test_vectors_are_written_as_they_are(tmp_path, view):
  rng = np.random.default_rng(0)
  chunks = [(rng.normal(size=(5, 2)), np.arange(5)), (rng.normal(size=(3, 2)), np.arange(3))]
  view.write_samples(iter(chunks), str(tmp_path / 'out.npz'))
  with np.load(tmp_path / 'out.npz') as saved:
    assert sorted(saved.files) == ['labels', 'points']
    np.testing.assert_array_equal(
        saved['points'], np.concatenate([x for x, _ in chunks]).astype(np.float32))
    np.testing.assert_array_equal(saved['labels'], [0, 1, 2, 3, 4, 0, 1, 2])
  view.write_samples(iter(chunks), str(tmp_path / 'folder'))
  expected = ['points.npy', 'scatter.png'] if isinstance(view, data.Points) else ['points.npy']
  assert sorted(p.name for p in (tmp_path / 'folder').iterdir()) == expected


class _RecordingView:
  """A user's own view: records what the loop shows it and draws a flat picture."""
  noun = 'points'
  num_samples = 7
  shows_images = False

  def __init__(self):
    self.calls = []

  def picture(self, samples, title):
    self.calls.append((np.asarray(samples).shape, title))
    return data.Picture(np.full((5, 6, 3), 123, np.uint8), {'mine/calls': len(self.calls)},
                        'drawn by my view')


@pytest.mark.slow
def test_the_loop_draws_samples_with_the_sources_own_view(tmp_path):
  points = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
  source = data.ArraySource(points, seed=0)
  source.sample_view = view = _RecordingView()
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 4})
  experiment = jaxgan.build(config).replace(
      data=source, generator=models.MLPGenerator(hidden=16, depth=1, out_dim=2),
      discriminator=models.MLPDiscriminator(hidden=16, depth=1))
  jaxgan.train(experiment, str(tmp_path / 'own'))
  assert view.calls == [((7, 2), 'step 2'), ((7, 2), 'step 4')]
  pngs = sorted((tmp_path / 'own' / 'samples').glob('*.png'))
  assert [p.name for p in pngs] == ['step_0000002.png', 'step_0000004.png']
  for png in pngs:
    with Image.open(png) as picture:
      np.testing.assert_array_equal(np.asarray(picture), np.full((5, 6, 3), 123, np.uint8))
  logged = [json.loads(line) for line in (tmp_path / 'own' / 'metrics.jsonl').open()]
  assert [r['mine/calls'] for r in logged if 'mine/calls' in r] == [1, 2]
  # The ring mixture's own view: its mode statistics are logged with each scatter plot.
  jaxgan.train(tiny_config('ring', **{'train.num_steps': 2}), str(tmp_path / 'ring'))
  logged = [json.loads(line) for line in (tmp_path / 'ring' / 'metrics.jsonl').open()]
  modes = [r for r in logged if 'modes/modes_covered' in r]
  assert len(modes) == 1 and modes[0]['step'] == 2 and 0 <= modes[0]['modes/modes_covered'] <= 8
