"""Data sources: CIFAR-10 through TFDS, offline handwritten digits, 2-D Gaussian mixtures,
arrays in memory, and any iterator of batches.

A source yields, for training step `s` and a batch `Layout`, this process's batch
  {'image': float32 (local_devices, d_steps, per_device_batch, H, W, C) in [-1, 1],
   'label': int32   (local_devices, d_steps, per_device_batch)}
(`image` is (..., 2) points for the mixtures). For the built-in sources step s's batch is a
pure function of (seed, s): each epoch is a fresh permutation drawn from (seed, epoch), so a
run resumed at step k reads exactly what the uninterrupted run read, without replaying the
stream, and a run on 8 devices reads what a run on 1 device reads. Several processes compute
the same global batch indices and each reads only its own slice.

Your own source: any object with `example_shape`, `num_classes`, `prepare()` and
`batch(step, layout)` (see `Source`); or wrap a plain iterator of global batches in
`IterableSource` (which cannot rewind: a resumed run continues from the iterator's position).

Image datasets are held in host memory as uint8 at the configured size (CIFAR-10 at 64x64 is
614 MB); why not a streaming tf.data pipeline: tf.data's shuffle cannot resume mid-epoch
without replaying the stream, and exact resume is a requirement.
"""

import dataclasses
import os
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol

import jax
import ml_collections
import numpy as np

from jaxgan import errors

IMAGE_DATASETS = ('cifar10', 'digits')
MIXTURES = ('ring', 'grid')
DATASETS = IMAGE_DATASETS + MIXTURES
IMAGE_SIZES = (32, 64)
_NUM_CLASSES = {'cifar10': 10, 'digits': 10}


def num_classes(dataset: str) -> int:
  """Number of classes of a built-in dataset (0 for the unlabelled mixtures)."""
  return _NUM_CLASSES.get(dataset, 0)


# ---------------------------------------------------------------------------------------------
# How a step's examples are split.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Layout:
  """One step's examples: `d_steps` global batches of `batch_size`, split over processes and
  their devices. `split` turns the global (d_steps, batch_size, ...) arrays into this
  process's (local_devices, d_steps, per_device, ...) slice."""
  batch_size: int
  d_steps: int = 1
  process_index: int = 0
  process_count: int = 1
  local_devices: int = 1

  def __post_init__(self):
    devices = self.process_count * self.local_devices
    if self.batch_size % devices:
      raise errors.ConfigError(
          f'config.train.batch_size={self.batch_size} must be divisible by the number of '
          f'devices ({devices}); pick a multiple of it.')

  @classmethod
  def for_devices(cls, batch_size: int, d_steps: int,
                  devices: Optional[list] = None) -> 'Layout':
    """The layout of this process over `devices` (default: all devices of all processes)."""
    devices = devices or jax.devices()
    local = [d for d in devices if d.process_index == jax.process_index()]
    return cls(batch_size=batch_size, d_steps=d_steps, process_index=jax.process_index(),
               process_count=len({d.process_index for d in devices}),
               local_devices=len(local))

  @property
  def per_device(self) -> int:
    return self.batch_size // (self.process_count * self.local_devices)

  @property
  def examples_per_step(self) -> int:
    return self.d_steps * self.batch_size

  def split(self, x: np.ndarray) -> np.ndarray:
    """(d_steps, batch_size, ...) global -> this process's (local_devices, d_steps, b, ...)."""
    shape = (self.d_steps, self.process_count, self.local_devices, self.per_device)
    x = np.asarray(x).reshape(shape + x.shape[2:])[:, self.process_index]
    return np.ascontiguousarray(np.moveaxis(x, 1, 0))


class Source(Protocol):
  """What the training loop needs of a data source."""
  example_shape: tuple[int, ...]   # one example: (H, W, C) images or (2,) points
  num_classes: int                 # label range (0: unlabelled; labels are then zeros)

  def prepare(self) -> None:
    """Loads or checks the data (a missing dataset fails here, before anything compiles)."""

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    """This process's batch of `step` (shapes in the module docstring)."""


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return images.astype(np.float32) * (2.0 / 255.0) - 1.0


# ---------------------------------------------------------------------------------------------
# Images held in memory, read in per-epoch permutations.
# ---------------------------------------------------------------------------------------------

class ArraySource:
  """uint8 images (N, H, W, C) and optional int labels, read in per-epoch permutations.

  `loader` (instead of `images`) loads them on `prepare()`, so building a source is cheap and
  a missing dataset fails when the run starts, before anything compiles. `fraction` < 1
  trains on a subset of max(1, round(fraction * N)) examples drawn from `seed` (the same
  subset on every process and at every resume); `reference_images` still reads all N (FID
  against the whole set).
  """

  def __init__(self, images: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
               *, seed: int = 0, num_classes: int = 0, name: str = 'arrays',
               loader: Optional[Callable[[], tuple[np.ndarray, np.ndarray]]] = None,
               example_shape: Optional[tuple[int, ...]] = None, fraction: float = 1.0):
    if images is None and loader is None:
      raise ValueError('pass images or a loader')
    if (not isinstance(fraction, (int, float)) or isinstance(fraction, bool)
        or not 0.0 < fraction <= 1.0):
      raise errors.ConfigError(f'{name}: fraction={fraction!r} must be in (0, 1] (the share of '
                               f'the images to train on).')
    self.name = name
    self.seed = int(seed)
    self.num_classes = int(num_classes)
    self.fraction = float(fraction)
    self._loader = loader
    self._subset: Optional[np.ndarray] = None
    self.images: Optional[np.ndarray] = None
    self.labels: Optional[np.ndarray] = None
    if images is not None:
      self._set(images, labels)
    self.example_shape = tuple(example_shape or self.images.shape[1:])

  def _set(self, images, labels) -> None:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
      raise errors.DatasetError(
          f'{self.name}: images must be a non-empty uint8 array (N, H, W, C), got '
          f'{images.dtype} {images.shape}; convert them with np.uint8 first.')
    if labels is None:
      labels = np.zeros(len(images), np.int32)
    labels = np.asarray(labels).astype(np.int32)
    if labels.shape != (len(images),):
      raise errors.DatasetError(f'{self.name}: labels must have shape ({len(images)},), got '
                                f'{labels.shape}.')
    self.images, self.labels = images, labels
    if self.fraction < 1.0:
      count = max(1, int(round(self.fraction * len(images))))
      order = np.random.default_rng([self.seed, 0x5b5e7]).permutation(len(images))
      self._subset = np.sort(order[:count])

  def training_indices(self) -> np.ndarray:
    """Indices (into `images`) of the examples trained on: all, or the `fraction` subset."""
    self.prepare()
    return np.arange(len(self.images)) if self._subset is None else self._subset

  def prepare(self) -> None:
    if self.images is None:
      self._set(*self._loader())
      if self.images.shape[1:] != self.example_shape:
        raise errors.DatasetError(f'{self.name}: loaded images of shape '
                                  f'{self.images.shape[1:]}, expected {self.example_shape}.')

  @property
  def num_examples(self) -> int:
    """The number of examples trained on (the subset's size when `fraction` < 1)."""
    self.prepare()
    return len(self.images) if self._subset is None else len(self._subset)

  def global_indices(self, step: int, count: int) -> np.ndarray:
    """Indices of examples [step * count, (step + 1) * count) of the epoch-wise order."""
    n = self.num_examples
    start, stop = step * count, (step + 1) * count
    out = []
    for epoch in range(start // n, (stop - 1) // n + 1):
      perm = np.random.default_rng([self.seed, epoch, 0x5eed]).permutation(n)
      lo, hi = max(start - epoch * n, 0), min(stop - epoch * n, n)
      out.append(perm[lo:hi])
    return np.concatenate(out)

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    idx = self.global_indices(step, layout.examples_per_step)
    if self._subset is not None:
      idx = self._subset[idx]
    idx = layout.split(idx.reshape(layout.d_steps, layout.batch_size))
    return {'image': to_float(self.images[idx]), 'label': self.labels[idx]}

  def reference_images(self, num: int, *, seed: int = 0, chunk: int = 500
                       ) -> Iterator[np.ndarray]:
    """min(num, N) real images (uint8, a seeded random subset of all N, whatever
    `fraction`), in chunks: what FID compares generated images with."""
    self.prepare()
    order = np.random.default_rng(seed).permutation(len(self.images))[:num]
    for i in range(0, len(order), chunk):
      yield self.images[order[i:i + chunk]]

  def identity(self) -> str:
    """What cached real-image statistics are keyed by."""
    return self.name


# ---------------------------------------------------------------------------------------------
# Built-in image datasets.
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


def load_digits(size: int) -> tuple[np.ndarray, np.ndarray]:
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


def load_tfds(name: str, split: str, data_dir: str, size: int) -> tuple[np.ndarray, np.ndarray]:
  """A TFDS image dataset's split, resized to `size`, as uint8 images and int labels."""
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


class MixtureSource:
  """Fresh points of a 2-D mixture every step: the global batch of step s is drawn from
  (seed, s), and each process keeps its slice."""
  example_shape = (2,)
  num_classes = 0

  def __init__(self, name: str, *, seed: int = 0):
    self.modes = mixture_modes(name)   # (centres, sigma); unknown names fail here
    self.name = name
    self.seed = int(seed)

  def prepare(self) -> None:
    pass

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step, 0x6d6978])
    points = sample_mixture(self.name, layout.examples_per_step, rng)
    points = layout.split(points.reshape(layout.d_steps, layout.batch_size, 2))
    return {'image': points, 'label': np.zeros(points.shape[:3], np.int32)}


# ---------------------------------------------------------------------------------------------
# Any iterator of batches.
# ---------------------------------------------------------------------------------------------

class IterableSource:
  """Adapts an iterator of global batches to a source.

  Each item is a dict {'image': (batch_size, ...), 'label': (batch_size,)} (or just the image
  array), float in [-1, 1]; a step takes `d_steps` items, and each process keeps its slice.
  The iterator cannot rewind: steps must be read in order, and a resumed run continues from
  the iterator's current position (not bit-exact; use an `ArraySource` or your own
  step-indexed `Source` for exact resume).
  """

  def __init__(self, iterable: Iterable, *, example_shape: tuple[int, ...], num_classes: int = 0):
    self._iterator = iter(iterable)
    self.example_shape = tuple(example_shape)
    self.num_classes = int(num_classes)
    self._next_step: Optional[int] = None

  def prepare(self) -> None:
    pass

  def _item(self, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    try:
      item = next(self._iterator)
    except StopIteration:
      raise errors.DatasetError('the batch iterator is exhausted; pass one that yields at least '
                                'd_steps * num_steps batches (e.g. itertools.cycle).') from None
    image = item['image'] if isinstance(item, dict) else item
    label = item.get('label') if isinstance(item, dict) else None
    image = np.asarray(image, np.float32)
    if image.shape != (layout.batch_size,) + self.example_shape:
      raise errors.DatasetError(
          f'the batch iterator yielded images of shape {image.shape}; expected '
          f'{(layout.batch_size,) + self.example_shape} (config.train.batch_size global '
          f'examples of example_shape).')
    label = (np.zeros(layout.batch_size, np.int32) if label is None
             else np.asarray(label, np.int32).reshape(layout.batch_size))
    return image, label

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    if self._next_step is not None and step != self._next_step:
      raise errors.DatasetError(f'an IterableSource reads steps in order; step {step} was '
                                f'asked after step {self._next_step - 1}.')
    self._next_step = step + 1
    items = [self._item(layout) for _ in range(layout.d_steps)]
    return {'image': layout.split(np.stack([i for i, _ in items])),
            'label': layout.split(np.stack([l for _, l in items]))}


# ---------------------------------------------------------------------------------------------
# From a config.
# ---------------------------------------------------------------------------------------------

def from_config(config: ml_collections.ConfigDict) -> Any:
  """The source `config.data` names (nothing is loaded until `prepare()`)."""
  d, seed = config.data, config.train.seed
  errors.check_choice('data.dataset', d.dataset, DATASETS)
  if d.dataset in MIXTURES:
    return MixtureSource(d.dataset, seed=seed)
  errors.check_choice('data.image_size', d.image_size, IMAGE_SIZES)
  shape = (d.image_size, d.image_size, 3)
  if d.dataset == 'digits':
    return ArraySource(loader=lambda: load_digits(d.image_size), seed=seed, num_classes=10,
                       name=f'digits-{d.image_size}px', example_shape=shape,
                       fraction=d.fraction)
  split, data_dir, size = d.split, d.data_dir, d.image_size
  return ArraySource(loader=lambda: load_tfds(d.dataset, split, data_dir, size), seed=seed,
                     num_classes=num_classes(d.dataset), example_shape=shape,
                     name=f'{d.dataset}-{split}-{size}px', fraction=d.fraction)


# ---------------------------------------------------------------------------------------------
# Batches on the devices.
# ---------------------------------------------------------------------------------------------

def iterate(source: Source, layout: Layout, start_step: int, sharding, *,
            prefetch: int = 2) -> Iterator:
  """Device-resident batches for steps start_step, start_step + 1, ...

  A background thread builds host batches; `prefetch` batches are staged on the devices
  ahead of the step (device_put is asynchronous). `sharding` shards the leading (device)
  axis; across processes the local arrays form one global array. An error in the thread is
  raised here, at the step that needed the batch.
  """
  host_q: queue.Queue = queue.Queue(maxsize=prefetch + 1)
  stop = threading.Event()

  def producer():
    step = start_step
    while not stop.is_set():
      try:
        item = source.batch(step, layout)
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
