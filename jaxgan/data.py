"""Input pipelines: CIFAR-10 through TFDS, offline handwritten digits, 2-D Gaussian mixtures.

Every source yields, for training step `s`, a host-local batch
  {'image': float32 (local_devices, d_steps, per_device_batch, H, W, C) in [-1, 1],
   'label': int32   (local_devices, d_steps, per_device_batch)}
(`image` is (…, 2) points for the mixtures). Step s's batch is a pure function of
(config.train.seed, s): each epoch is a fresh permutation drawn from (seed, epoch), so a run
resumed at step k reads exactly what the uninterrupted run read, without replaying the
stream. Several processes compute the same global batch and each keeps its own slice
(`jax.process_index()`), so hosts read disjoint shards.

Image datasets are held in host memory as uint8 at the configured size (CIFAR-10 at 64x64 is
614 MB); why not a streaming tf.data pipeline: tf.data's shuffle cannot resume mid-epoch
without replaying the stream, and exact resume is a requirement.
"""

import os
import queue
import threading
from typing import Iterator, Optional

import jax
import ml_collections
import numpy as np

from jaxgan import errors

IMAGE_DATASETS = ('cifar10', 'digits')
MIXTURES = ('ring', 'grid')
DATASETS = IMAGE_DATASETS + MIXTURES


# ---------------------------------------------------------------------------------------------
# 2-D Gaussian mixtures (the VEEGAN / PacGAN protocol).
# ---------------------------------------------------------------------------------------------

def mixture_modes(name: str) -> tuple[np.ndarray, float]:
  """Mode centres and per-mode standard deviation of a named mixture.

  'ring': 8 modes evenly on a circle of radius 1, sigma 0.01.
  'grid': 25 modes at {-4, -2, 0, 2, 4}^2, sigma 0.05.
  """
  if name == 'ring':
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], -1), 0.01
  if name == 'grid':
    g = np.arange(-4, 5, 2, dtype=np.float64)
    return np.stack(np.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2), 0.05
  raise errors.ConfigError(f'unknown mixture {name!r}; choose one of {", ".join(MIXTURES)}.')


def sample_mixture(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
  centres, sigma = mixture_modes(name)
  idx = rng.integers(0, len(centres), n)
  return (centres[idx] + sigma * rng.standard_normal((n, 2))).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Image datasets, loaded once into host memory as uint8 NHWC.
# ---------------------------------------------------------------------------------------------

def _resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize (antialiased when shrinking) of uint8 NHWC images, in chunks."""
  if images.shape[1] == size and images.shape[2] == size:
    return images
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = []
  for start in range(0, len(images), 2048):
    chunk = tf.image.resize(images[start:start + 2048], (size, size), method='bilinear',
                            antialias=True)
    out.append(np.clip(np.round(chunk.numpy()), 0, 255).astype(np.uint8))
  return np.concatenate(out)


def _load_digits(size: int):
  """scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images, 17 levels."""
  from sklearn import datasets as skdatasets  # pylint: disable=g-import-not-at-top
  digits = skdatasets.load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  images = np.repeat(images, 3, axis=-1)
  return _resize_uint8(images, size), digits.target.astype(np.int32)


def _tfds_missing_message(name: str, data_dir: str) -> str:
  where = data_dir or os.path.expanduser('~/tensorflow_datasets')
  return (f'TFDS dataset {name!r} is not prepared under {where}; prepare it on a machine with '
          f'internet (python -c "import tensorflow_datasets as tfds; '
          f'tfds.builder(\'{name}\').download_and_prepare()") and copy the folder there or '
          f'pass --config.data.data_dir=DIR, or use the offline --config.data.dataset=digits.')


def _load_tfds(name: str, split: str, data_dir: str, size: int):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(name, data_dir=data_dir or None)
  # Never download here: offline, tfds.load(download=True) retries for minutes before failing.
  try:
    ds = builder.as_dataset(split=split, shuffle_files=False)
  except AssertionError as e:   # TFDS' "could not find data in ..."
    raise errors.DatasetError(_tfds_missing_message(name, data_dir)) from e
  except ValueError as e:       # unknown split
    raise errors.DatasetError(
        f'TFDS dataset {name!r} has no split {split!r} ({e}); pass a valid '
        f'--config.data.split.') from e
  images, labels = [], []
  for batch in tfds.as_numpy(ds.map(lambda ex: (ex['image'], ex['label'])).batch(4096)):
    images.append(batch[0])
    labels.append(batch[1])
  if not images:
    raise errors.DatasetError(f'TFDS dataset {name!r} split {split!r} is empty; re-prepare it.')
  return _resize_uint8(np.concatenate(images), size), np.concatenate(labels).astype(np.int32)


def load_images(config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
  """All training images of an image dataset, uint8 (N, size, size, 3), and int labels."""
  d = config.data
  if d.dataset == 'digits':
    return _load_digits(d.image_size)
  if d.dataset == 'cifar10':
    return _load_tfds('cifar10', d.get('split', 'train'), d.data_dir, d.image_size)
  raise errors.ConfigError(f'{d.dataset!r} is not an image dataset.')


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return images.astype(np.float32) * (2.0 / 255.0) - 1.0


def num_classes(config) -> int:
  return {'cifar10': 10, 'digits': 10}.get(config.data.dataset, 0)


# ---------------------------------------------------------------------------------------------
# Batching.
# ---------------------------------------------------------------------------------------------

class Source:
  """Step-indexed global batches for one process: `batch(step)` is deterministic."""

  def __init__(self, config: ml_collections.ConfigDict, *, process_index: int = 0,
               process_count: int = 1, local_devices: int = 1):
    d, t = config.data, config.train
    errors.check_choice('data.dataset', d.dataset, DATASETS)
    self.dataset = d.dataset
    self.seed = int(t.seed)
    self.d_steps = int(t.d_steps)
    self.global_batch = int(t.batch_size)
    self.process_index, self.process_count = process_index, process_count
    self.local_devices = local_devices
    per_process, rem = divmod(self.global_batch, process_count * local_devices)
    if rem:
      raise errors.ConfigError(
          f'config.train.batch_size={self.global_batch} must be divisible by the number of '
          f'devices ({process_count * local_devices}); pick a multiple of it.')
    self.per_device = per_process
    if d.dataset in MIXTURES:
      self.images, self.labels = None, None
    else:
      self.images, self.labels = load_images(config)

  @property
  def num_examples(self) -> Optional[int]:
    return None if self.images is None else len(self.images)

  def _global_indices(self, step: int) -> np.ndarray:
    """Indices of the d_steps * global_batch examples of `step` (epoch-wise permutations)."""
    n = len(self.images)
    per_step = self.d_steps * self.global_batch
    start, stop = step * per_step, (step + 1) * per_step
    out = []
    for epoch in range(start // n, (stop - 1) // n + 1):
      perm = np.random.default_rng([self.seed, epoch, 0x5eed]).permutation(n)
      lo, hi = max(start - epoch * n, 0), min(stop - epoch * n, n)
      out.append(perm[lo:hi])
    return np.concatenate(out)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    shape = (self.d_steps, self.process_count, self.local_devices, self.per_device)
    if self.images is None:
      # The global batch of step `step`, identical on every process; keep our slice.
      rng = np.random.default_rng([self.seed, step, 0x6d6978])
      points = sample_mixture(self.dataset, int(np.prod(shape)), rng).reshape(shape + (2,))
      image, label = points, np.zeros(shape, np.int32)
    else:
      idx = self._global_indices(step).reshape(shape)
      image, label = to_float(self.images[idx]), self.labels[idx]
    # (d_steps, processes, devices, b, ...) -> our (devices, d_steps, b, ...)
    image = np.moveaxis(image[:, self.process_index], 1, 0)
    label = np.moveaxis(label[:, self.process_index], 1, 0)
    return {'image': np.ascontiguousarray(image), 'label': np.ascontiguousarray(label)}


def iterate(source: Source, start_step: int, sharding, *, prefetch: int = 2) -> Iterator:
  """Device-resident batches for steps start_step, start_step + 1, ...

  A background thread builds host batches; `prefetch` batches are staged on the devices
  ahead of the step (device_put is asynchronous). `sharding` shards the leading (device)
  axis; across processes the local arrays form one global array.
  """
  host_q: queue.Queue = queue.Queue(maxsize=prefetch + 1)
  stop = threading.Event()

  def producer():
    step = start_step
    while not stop.is_set():
      try:
        item = source.batch(step)
      except Exception as e:  # pylint: disable=broad-except
        host_q.put(e)
        return
      while not stop.is_set():
        try:
          host_q.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  thread = threading.Thread(target=producer, daemon=True)
  thread.start()

  def to_device(item):
    if isinstance(item, Exception):
      raise item
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), item)

  staged = []
  try:
    while True:
      while len(staged) < max(prefetch, 1):
        staged.append(to_device(host_q.get()))
      yield staged.pop(0)
  finally:
    stop.set()
