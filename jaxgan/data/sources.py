"""Sources that hold or index their examples: `IndexedSource` (examples read by index, in
per-epoch permutations drawn from (seed, epoch)), `ArraySource` (arrays in memory) and
`IterableSource` (any iterator of global batches)."""

import collections
import threading
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from jaxgan import errors
from jaxgan.data import pipeline


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return images.astype(np.float32) * (2.0 / 255.0) - 1.0


# ---------------------------------------------------------------------------------------------
# Examples read by index, in per-epoch permutations.
# ---------------------------------------------------------------------------------------------

class IndexedSource:
  """Examples 0..N-1 that `read(indices)` returns as uint8 images and int labels, trained on
  in per-epoch permutations drawn from (seed, epoch).

  Subclasses set `name`, `seed`, `num_classes`, `example_shape` and define `num_examples`
  and `read`; a step's batch reads only this process's indices of the global batch.
  `fraction` < 1 trains on a subset of max(1, round(fraction * N)) examples drawn from `seed`
  (the same subset on every process and at every resume; DiffAugment's low-data setting);
  `reference_images` still reads all N (FID against the whole set).

  `mirror` (config.data.mirror; StyleGAN2-ADA's and R3GAN's `--mirror=1`): the trained-on
  examples are doubled with their horizontal mirror images, as the official
  training/dataset.py does (`xflip`: the index space tiled twice, the second copy flipped).
  The epoch-wise permutations then run over the 2n entries, entry k < n the example
  unflipped and entry n + k the same example flipped, so each epoch shows every image once
  each way; which entries a step reads stays a pure function of (seed, step), so resume and
  any device count read the same images, flips included. Doubling the index space rather
  than flipping each draw with probability 1/2 keeps the official's exact distribution (per
  epoch, not only in expectation). `reference_images` is not mirrored: FID compares with
  the images as stored, as the official `fid50k_full` does (it sets xflip=False).
  """
  name: str
  seed: int
  example_shape: tuple[int, ...]
  fraction: float = 1.0
  mirror: bool = False

  @property
  def num_examples(self) -> int:
    raise NotImplementedError

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, H, W, C) and int32 labels (n,) of the examples `indices`."""
    raise NotImplementedError

  def training_indices(self) -> np.ndarray:
    """Indices of the examples trained on: all N, or the `fraction` subset."""
    n = self.num_examples
    if self.fraction >= 1.0:
      return np.arange(n)
    cached = self.__dict__.get('_subset')
    if cached is None or cached[0] != n:
      count = max(1, int(round(self.fraction * n)))
      order = np.random.default_rng([self.seed, 0x5b5e7]).permutation(n)
      cached = self.__dict__['_subset'] = (n, np.sort(order[:count]))
    return cached[1]

  def _epoch_size(self) -> int:
    """Entries of one epoch: the trained-on examples, twice with `mirror`."""
    return len(self.training_indices()) * (2 if self.mirror else 1)

  def _permutation(self, epoch: int) -> np.ndarray:
    # The last two epochs' permutations: a step needs one, or two where it straddles epochs.
    cache = self.__dict__.setdefault('_permutations', {})
    if epoch not in cache:
      if len(cache) >= 2:
        cache.pop(min(cache))
      cache[epoch] = np.random.default_rng([self.seed, epoch, 0x5eed]).permutation(
          self._epoch_size())
    return cache[epoch]

  def global_entries(self, step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(example indices, flipped) of entries [step * count, (step + 1) * count) of the
    epoch-wise order (each epoch a permutation of the training examples, or with `mirror` of
    the examples and their mirror images); `flipped` is all False without `mirror`."""
    size = self._epoch_size()
    start, stop = step * count, (step + 1) * count
    out = []
    for epoch in range(start // size, (stop - 1) // size + 1):
      lo, hi = max(start - epoch * size, 0), min(stop - epoch * size, size)
      out.append(self._permutation(epoch)[lo:hi])
    entries = np.concatenate(out)
    n = len(self.training_indices())
    return self.training_indices()[entries % n], entries >= n

  def global_indices(self, step: int, count: int) -> np.ndarray:
    """Example indices of entries [step * count, (step + 1) * count) (`global_entries`)."""
    return self.global_entries(step, count)[0]

  def batch(self, step: int, layout: pipeline.Layout) -> dict[str, np.ndarray]:
    if self._epoch_size() < layout.batch_size:
      raise errors.DatasetError(
          f'{self.name} has {len(self.training_indices())} training examples, fewer than one '
          f'global batch (config.train.batch_size={layout.batch_size}); add examples, raise '
          f'data.fraction or lower the batch size.')
    idx, flipped = self.global_entries(step, layout.examples_per_step)
    shape = (layout.num_batches, layout.batch_size)
    idx, flipped = layout.split(idx.reshape(shape)), layout.split(flipped.reshape(shape))
    images, labels = self.read(idx.reshape(-1))
    if self.mirror:
      images = np.array(images)   # a copy we may write (a memory map's read is read-only)
      flipped = flipped.reshape(-1)
      images[flipped] = images[flipped, :, ::-1]   # (n, H, W, C): W reversed
    # uint8 images to [-1, 1]; float examples (ArraySource's points, embeddings) as they are.
    examples = to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)
    return {'image': examples.reshape(idx.shape + images.shape[1:]),
            'label': labels.reshape(idx.shape)}

  def reference_images(self, num: int, *, seed: int = 0, chunk: int = 500
                       ) -> Iterator[np.ndarray]:
    """min(num, N) real images (uint8, a seeded random subset), in chunks: what FID compares
    generated images with."""
    order = np.random.default_rng(seed).permutation(self.num_examples)[:num]
    for i in range(0, len(order), chunk):
      yield self.read(order[i:i + chunk])[0]

  def identity(self) -> str:
    """What cached real-image statistics are keyed by."""
    return self.name

  def describe(self) -> dict[str, Any]:
    """What run_info.json records of the data."""
    record = {'name': self.name, 'identity': self.identity(),
              'num_examples': self.num_examples, 'example_shape': list(self.example_shape),
              'num_classes': self.num_classes}
    if self.mirror:
      record['mirror'] = True
    return record


def check_mirror(mirror, name: str, example_shape) -> bool:
  """`mirror` as a bool; ConfigError for a non-bool, or for examples that are not images."""
  if not isinstance(mirror, (bool, np.bool_)):
    raise errors.ConfigError(f'{name}: mirror={mirror!r} must be True (train on the images and '
                             f'their mirror images) or False.')
  if mirror and example_shape is not None and len(example_shape) != 3:
    raise errors.ConfigError(f'{name}: mirror=True flips images (H, W, C), but the examples have '
                             f'shape {tuple(example_shape)}; set mirror=False.')
  return bool(mirror)


def check_fraction(fraction, name: str) -> float:
  if (not isinstance(fraction, (int, float)) or isinstance(fraction, bool)
      or not 0.0 < fraction <= 1.0):
    raise errors.ConfigError(f'{name}: fraction={fraction!r} must be in (0, 1] (the share of '
                             f'the images to train on).')
  return float(fraction)


class ArraySource(IndexedSource):
  """Examples in memory and optional int labels, read in per-epoch permutations.

  `images`: uint8 images (N, H, W, C), trained on as float32 in [-1, 1]; or float examples
  (N, D) such as points or embeddings, trained on as they are (as float32), e.g. with
  `models.MLPGenerator(out_dim=D)` and `models.MLPDiscriminator()`. `loader` (instead of
  `images`) loads them on `prepare()`, so building a source is cheap and a missing dataset
  fails when the run starts, before anything compiles. `fraction`, `mirror` (images only):
  see `IndexedSource`.
  """

  def __init__(self, images: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
               *, seed: int = 0, num_classes: int = 0, name: str = 'arrays',
               loader: Optional[Callable[[], tuple[np.ndarray, np.ndarray]]] = None,
               example_shape: Optional[tuple[int, ...]] = None, fraction: float = 1.0,
               mirror: bool = False):
    if images is None and loader is None:
      raise ValueError('pass images or a loader')
    self.name = name
    self.seed = int(seed)
    self.num_classes = int(num_classes)
    self.fraction = check_fraction(fraction, name)
    self._loader = loader
    self.images: Optional[np.ndarray] = None
    self.labels: Optional[np.ndarray] = None
    if images is not None:
      self._set(images, labels)
    self.example_shape = tuple(example_shape or self.images.shape[1:])
    self.mirror = check_mirror(mirror, name, self.example_shape)

  def _set(self, images, labels) -> None:
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.floating) and images.ndim == 2 and len(images):
      images = images.astype(np.float32)
      if not np.all(np.isfinite(images)):
        raise errors.DatasetError(f'{self.name}: the float examples hold NaN or infinite '
                                  f'values; drop or fix those rows.')
    elif images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
      raise errors.DatasetError(
          f'{self.name}: examples must be a non-empty uint8 array of images (N, H, W, C) or a '
          f'float array (N, D) of points or embeddings, got {images.dtype} {images.shape}; '
          f'convert images to uint8 in [0, 255] first.')
    if labels is None:
      labels = np.zeros(len(images), np.int32)
    labels = np.asarray(labels).astype(np.int32)
    if labels.shape != (len(images),):
      raise errors.DatasetError(f'{self.name}: labels must have shape ({len(images)},), got '
                                f'{labels.shape}.')
    self.images, self.labels = images, labels

  def prepare(self) -> None:
    if self.images is None:
      self._set(*self._loader())
      if self.images.shape[1:] != self.example_shape:
        raise errors.DatasetError(f'{self.name}: loaded images of shape '
                                  f'{self.images.shape[1:]}, expected {self.example_shape}.')

  @property
  def num_examples(self) -> int:
    self.prepare()
    return len(self.images)

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    self.prepare()
    return self.images[indices], self.labels[indices]


# ---------------------------------------------------------------------------------------------
# Any iterator of batches.
# ---------------------------------------------------------------------------------------------

class IterableSource:
  """Adapts an iterator of global batches to a source.

  Each item is a dict {'image': (batch_size, ...), 'label': (batch_size,)} (or just the image
  array), float in [-1, 1]; a step takes `layout.num_batches` items (`d_steps`, and one more
  for a generator that reads its own real batch), and each process keeps its slice.
  The iterator cannot rewind: steps must be read in order, and a resumed run in another
  process continues from the iterator's current position (not bit-exact; use an
  `ArraySource` or your own step-indexed `Source` for exact resume). The loader reads a few
  steps ahead of training (`data.prefetch`), so the source keeps the last `KEEP` batches it
  read: a second `train` in the same process (to 10, then to 20) gets again the steps the
  first read ahead but did not train.
  """

  KEEP = 32   # more than the loader reads ahead (2 * prefetch + 2 steps at the default 2)

  def __init__(self, iterable: Iterable, *, example_shape: tuple[int, ...], num_classes: int = 0):
    self._iterator = iter(iterable)
    self.example_shape = tuple(example_shape)
    self.num_classes = int(num_classes)
    self._next_step: Optional[int] = None
    self._read: collections.OrderedDict = collections.OrderedDict()   # step -> batch
    self._lock = threading.Lock()   # a finished run's loader thread may still be reading

  def prepare(self) -> None:
    pass

  def _item(self, layout: pipeline.Layout) -> tuple[np.ndarray, np.ndarray]:
    try:
      item = next(self._iterator)
    except StopIteration:
      raise errors.DatasetError(
          'the batch iterator is exhausted; pass one that yields at least num_batches * '
          'num_steps batches (e.g. itertools.cycle).') from None
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

  def batch(self, step: int, layout: pipeline.Layout) -> dict[str, np.ndarray]:
    with self._lock:
      if step in self._read and self._read[step][0] == layout:
        return self._read[step][1]
      if self._next_step is not None and step != self._next_step:
        raise errors.DatasetError(f'an IterableSource reads steps in order; step {step} was '
                                  f'asked after step {self._next_step - 1}.')
      items = [self._item(layout) for _ in range(layout.num_batches)]
      self._next_step = step + 1
      batch = {'image': layout.split(np.stack([i for i, _ in items])),
               'label': layout.split(np.stack([l for _, l in items]))}
      self._read[step] = (layout, batch)
      while len(self._read) > self.KEEP:
        self._read.popitem(last=False)
      return batch
