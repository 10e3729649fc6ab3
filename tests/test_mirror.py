"""Dataset x-flips (`config.data.mirror`, the official `--mirror=1`): the trained-on images
doubled with their mirror images, for every image source; exact resume and device count."""

import chex
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

import jaxgan
from jaxgan import data, errors
from tests.util import tiny_config


def _images(n, size=8, seed=0):
  """Random uint8 images: none is its own mirror image (with probability 1 - 256^-12)."""
  return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _flips(source, step, layout):
  """(flipped, unflipped) counts of the batch of `step`: each image compared with its
  example read back by index, as stored and mirrored; asserts that it is one of the two."""
  batch = source.batch(step, layout)
  count = layout.local_devices * layout.num_batches * layout.per_device
  images = batch['image'].reshape((count,) + batch['image'].shape[3:])
  index = source.global_indices(step, layout.examples_per_step)
  stored = data.to_float(source.read(index)[0])
  same = np.all(images == stored, axis=(1, 2, 3))
  mirrored = np.all(images == stored[:, :, ::-1], axis=(1, 2, 3))
  assert np.all(same != mirrored), 'an image is neither its example nor its mirror image'
  return int(mirrored.sum()), int(same.sum())


def test_each_epoch_shows_every_image_once_as_stored_and_once_mirrored():
  images, labels = _images(12), np.arange(12) % 5
  source = data.ArraySource(images, labels, seed=3, num_classes=5, mirror=True)
  layout = data.Layout(batch_size=8)
  for epoch in range(2):    # 24 entries an epoch: 3 steps of 8
    batches = [source.batch(step, layout) for step in range(3 * epoch, 3 * epoch + 3)]
    seen = np.concatenate([b['image'].reshape(8, 8, 8, 3) for b in batches])
    seen_labels = np.concatenate([b['label'].reshape(8) for b in batches])
    for i in range(12):
      as_stored = np.all(seen == data.to_float(images[i]), axis=(1, 2, 3))
      mirrored = np.all(seen == data.to_float(images[i][:, ::-1]), axis=(1, 2, 3))
      assert as_stored.sum() == 1 and mirrored.sum() == 1, i
      assert seen_labels[as_stored][0] == labels[i] and seen_labels[mirrored][0] == labels[i]
  assert source.describe()['mirror'] is True


def test_about_half_of_the_draws_are_mirrored_and_none_without_mirror():
  images = _images(500)
  layout = data.Layout(batch_size=64)
  mirrored = data.ArraySource(images, seed=1, mirror=True)
  counts = np.array([_flips(mirrored, step, layout) for step in range(10)])
  # 640 draws of a 1,000-entry epoch, half of them mirrored: the share's standard deviation
  # is ~0.014, so 0.1 is 7 of them; and the flips change from batch to batch.
  share = counts[:, 0].sum() / counts.sum()
  assert abs(share - 0.5) < 0.1, share
  assert len(set(counts[:, 0])) > 1
  plain = data.ArraySource(images, seed=1)
  assert all(_flips(plain, step, layout)[0] == 0 for step in range(3))
  # Without mirror the order is the one runs always read (resuming an older run stays exact):
  # epoch e is a permutation from (seed, e, 0x5eed) of the examples.
  order = np.random.default_rng([1, 0, 0x5eed]).permutation(500)
  np.testing.assert_array_equal(plain.global_indices(0, 64), order[:64])
  np.testing.assert_array_equal(plain.batch(0, layout)['image'][0, 0],
                                data.to_float(images[order[:64]]))


def _regroup(x):
  """A process's (devices, batches, per_device, ...) -> (batches, devices * per_device, ...)."""
  return np.swapaxes(x, 0, 1).reshape((x.shape[1], x.shape[0] * x.shape[2]) + x.shape[3:])


def test_eight_devices_and_two_processes_read_the_same_images_and_flips():
  source = data.ArraySource(_images(40), seed=0, mirror=True)
  layout = lambda **kw: data.Layout(batch_size=16, d_steps=2, g_batch=True, **kw)
  for step in (0, 4):   # step 4 straddles the 80-entry epoch
    one = source.batch(step, layout())['image'][0]
    eight = source.batch(step, layout(local_devices=8))['image']
    np.testing.assert_array_equal(_regroup(eight), one)
    halves = [source.batch(step, layout(process_index=p, process_count=2, local_devices=4))
              for p in range(2)]
    np.testing.assert_array_equal(
        np.concatenate([_regroup(h['image']) for h in halves], axis=1), one)


@pytest.mark.slow
def test_every_image_source_mirrors(tmp_path):
  images = _images(20, size=32, seed=5)
  np.savez(tmp_path / 'plain.npz', images=images, labels=np.arange(20) % 4)
  npz = lambda cache: tiny_config('npz', **{'data.path': str(tmp_path / 'plain.npz'),
                                           'data.cache': cache, 'data.mirror': True,
                                           'train.batch_size': 8})
  memory = data.from_config(npz('memory'))
  streamed = data.from_config(npz('none'))
  memory.prepare()
  streamed.prepare()
  assert streamed.streamed and not memory.streamed
  layout = data.Layout(batch_size=8, local_devices=2)
  for step in (0, 4, 5):    # 40 entries an epoch: step 5 is in the second
    np.testing.assert_array_equal(memory.batch(step, layout)['image'],
                                  streamed.batch(step, layout)['image'])
  counts = np.array([_flips(memory, step, layout) for step in range(5)])
  assert counts[:, 0].sum() == 20 and counts[:, 1].sum() == 20     # one epoch: half each
  digits = data.from_config(tiny_config('digits', **{'data.mirror': True}))
  digits.prepare()
  assert digits.mirror and sum(_flips(digits, s, data.Layout(batch_size=16))[0]
                               for s in range(4)) > 0
  with tfds.testing.mock_data(num_examples=24):
    cifar = data.from_config(tiny_config('cifar10', **{'data.mirror': True,
                                                       'data.cache': 'memory'}))
    cifar.prepare()
  flipped, kept = zip(*[_flips(cifar, s, data.Layout(batch_size=16)) for s in range(3)])
  assert sum(flipped) == sum(kept) == 24     # 48 entries an epoch: 3 steps of 16


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path):
  overrides = {'data.mirror': True, 'train.num_steps': 4, 'train.checkpoint_every': 2,
               'train.d_steps': 2}
  straight = jaxgan.train(tiny_config('digits', **overrides), str(tmp_path / 'a'))
  jaxgan.train(tiny_config('digits', **{**overrides, 'train.num_steps': 2}), str(tmp_path / 'b'))
  resumed = jaxgan.train(tiny_config('digits', **overrides), str(tmp_path / 'b'))
  assert int(resumed.step) == 4
  chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))


def test_refusals():
  with pytest.raises(errors.ConfigError, match=r"config.data.mirror=True is not read by the "
                     r"2-D mixture 'ring'"):
    jaxgan.build(tiny_config('ring', **{'data.mirror': True}))
  points = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
  with pytest.raises(errors.ConfigError, match=r'mirror=True flips images \(H, W, C\), but the '
                     r'examples have shape \(2,\); set mirror=False'):
    data.ArraySource(points, mirror=True)
  with pytest.raises(errors.ConfigError, match=r"mirror='yes' must be True"):
    data.ArraySource(_images(4), mirror='yes')
