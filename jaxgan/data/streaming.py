"""A stored dataset (a folder, an .npz, a TFDS split: a `Storage`) at the training size, held
in memory or streamed by index (`DatasetSource`), and `image_chunks`, which reads any indexed
source once in order."""

import concurrent.futures
import hashlib
import json
import os
import threading
from typing import Any, Iterator, Optional

from absl import logging
import numpy as np

from jaxgan import errors
from jaxgan.data import images as images_lib
from jaxgan.data import sources

CACHES = ('auto', 'memory', 'none')
# Consecutive unreadable examples after which a streamed source stops instead of skipping.
MAX_CONSECUTIVE_BAD = 100


# ---------------------------------------------------------------------------------------------
# Stored examples by index (a folder or an .npz: files.py; a TFDS split: tfds_source.py).
# ---------------------------------------------------------------------------------------------

class Storage:
  """Examples by index at their stored size. `open()` reads the metadata (idempotent);
  `example(i)` -> (image: PIL image or array, label) may raise `images.BadImage`;
  `sequential()` yields every example in index order (for a full load)."""
  kind: str
  random_access = True
  class_names: Optional[list[str]] = None

  def open(self) -> None:
    raise NotImplementedError

  @property
  def num_examples(self) -> int:
    raise NotImplementedError

  @property
  def num_classes(self) -> int:
    raise NotImplementedError

  def example(self, index: int):
    raise NotImplementedError

  def sequential(self) -> Iterator[tuple[Any, int]]:
    raise NotImplementedError

  def label(self) -> str:
    """A short human name (the identity's readable part)."""
    raise NotImplementedError

  def fingerprint(self) -> dict[str, Any]:
    """What distinguishes these examples from others (the identity's hashed part)."""
    raise NotImplementedError

  def describe(self) -> dict[str, Any]:
    return {}


# ---------------------------------------------------------------------------------------------
# A folder, npz or TFDS dataset at the training size, in memory or streamed.
# ---------------------------------------------------------------------------------------------

def _default_workers() -> int:
  return min(16, os.cpu_count() or 1)


class DatasetSource(sources.IndexedSource):
  """A folder, .npz or TFDS dataset brought to (image_size, image_size, channels), held in
  memory or streamed by index (see the `jaxgan.data` docstring: `cache`, skipped images).

  Building one reads nothing; `num_classes` and `class_names` read metadata only (a folder
  listing, the .npz's labels, the TFDS feature spec); `prepare()` opens the data and, in
  memory, decodes it all.
  """

  def __init__(self, storage: Storage, *, image_size: int, channels: int = 3,
               cache: str = 'auto', cache_max_gb: float = 4.0, seed: int = 0,
               workers: int = 0, fraction: float = 1.0, mirror: bool = False):
    errors.check_arg('cache', cache, CACHES)
    errors.check_arg('channels', channels, images_lib.CHANNELS)
    self.fraction = sources.check_fraction(fraction, storage.label())
    self.mirror = sources.check_mirror(mirror, storage.label(), None)
    self.storage = storage
    self.image_size, self.channels = int(image_size), int(channels)
    self.example_shape = (self.image_size, self.image_size, self.channels)
    self.cache, self.cache_max_gb = cache, float(cache_max_gb)
    self.seed = int(seed)
    self.workers = int(workers) or _default_workers()
    self.name = (f'{storage.kind}-{storage.label()}-{self.image_size}px'
                 + ('-grey' if self.channels == 1 else ''))
    self.streamed: Optional[bool] = None   # decided by prepare()
    self._images: Optional[np.ndarray] = None
    self._labels: Optional[np.ndarray] = None
    self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
    self._lock = threading.Lock()
    self.skipped: dict[int, str] = {}       # index -> why, for every skipped example seen

  # --- metadata ----------------------------------------------------------------------------------
  @property
  def num_classes(self) -> int:
    return self.storage.num_classes

  @property
  def class_names(self) -> Optional[list[str]]:
    _ = self.storage.num_classes
    return self.storage.class_names

  @property
  def decoded_bytes(self) -> int:
    """The memory the examples take at the training size, as uint8."""
    return self.storage.num_examples * int(np.prod(self.example_shape))

  # --- loading -----------------------------------------------------------------------------------
  def prepare(self) -> None:
    if self.streamed is not None:
      return
    self.storage.open()
    fits = self.decoded_bytes <= self.cache_max_gb * 2**30
    streamed = self.cache == 'none' or (self.cache == 'auto' and not fits)
    if streamed and not self.storage.random_access:
      raise errors.DatasetError(self._no_random_access_message(fits))
    if streamed:
      self.streamed = True
      self._example(0)   # one readable image at least, before anything compiles
      return
    self._load_all()
    self.streamed = False

  def _no_random_access_message(self, fits: bool) -> str:
    gb = self.decoded_bytes / 2**30
    why = ('data.cache=none' if self.cache == 'none' else
           f'it takes {gb:.1f} GB decoded, more than data.cache_max_gb={self.cache_max_gb:g}')
    if self.storage.kind == 'npz':
      return (f'{self.storage.path} stores `images` compressed (np.savez_compressed), which '
              f'cannot be read by index, and {why}; save it with np.savez, or use '
              f'--config.data.cache=memory.')
    return (f'TFDS dataset {self.storage.name!r} is prepared as TFRecord, which cannot be read '
            f'by index, and {why}; re-prepare it as ArrayRecord (tfds.builder(name, '
            f'file_format="array_record").download_and_prepare()), or use '
            f'--config.data.cache=memory{"" if fits else " with enough memory"}.')

  def _load_all(self) -> None:
    n = self.storage.num_examples
    images = np.empty((n,) + self.example_shape, np.uint8)
    labels = np.empty((n,), np.int32)
    if self.storage.random_access:
      for start in range(0, n, 1024):
        index = np.arange(start, min(start + 1024, n))
        images[index], labels[index] = self._decode(index)
    else:
      # Read in order (tf.data), converted in parallel: the same conversion as by index.
      pool, chunk, filled, bad = self._executor(), [], 0, []

      def flush():
        nonlocal chunk, filled
        for offset, image in enumerate(pool.map(self._convert_or_none, chunk)):
          index = filled + offset
          if image is None:
            bad.append(index)
          else:
            images[index] = image
          labels[index] = chunk[offset][1]
        filled += len(chunk)
        chunk = []

      for item in self.storage.sequential():
        chunk.append(item)
        if len(chunk) == 1024:
          flush()
      if chunk:
        flush()
      if filled != n:
        raise errors.DatasetError(f'{self.name}: read {filled} examples, its metadata says '
                                  f'{n}; re-prepare the dataset.')
      self._stand_in(images, labels, bad)
    self._images, self._labels = images, labels

  def _convert_or_none(self, item) -> Optional[np.ndarray]:
    try:
      return self._convert(item[0])
    except images_lib.BadImage:
      return None

  def _stand_in(self, images: np.ndarray, labels: np.ndarray, bad: list[int]) -> None:
    """Fills each unusable example of a full in-order read with the next usable one, as
    reading by index does (`_example`)."""
    n, unusable = len(images), set(bad)
    for index in bad:
      self._skip(index, 'the image cannot be converted (too small or undecodable)')
      for attempt in range(1, min(n, MAX_CONSECUTIVE_BAD)):
        other = (index + attempt) % n
        if other not in unusable:
          images[index], labels[index] = images[other], labels[other]
          break
      else:
        raise errors.DatasetError(
            f'{self.name}: {min(n, MAX_CONSECUTIVE_BAD)} examples in a row from index '
            f'{index} cannot be used; check the data.')

  def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
    if self._pool is None:
      self._pool = concurrent.futures.ThreadPoolExecutor(
          max_workers=self.workers, thread_name_prefix='jaxgan-data')
    return self._pool

  def _convert(self, image) -> np.ndarray:
    return images_lib.convert_image(image, size=self.image_size, channels=self.channels)

  def _example(self, index: int) -> tuple[np.ndarray, int]:
    """Example `index` at the training size, or the next readable one after it."""
    n = self.storage.num_examples
    for attempt in range(min(n, MAX_CONSECUTIVE_BAD)):
      i = (int(index) + attempt) % n
      try:
        image, label = self.storage.example(i)
        return self._convert(image), label
      except images_lib.BadImage as e:
        self._skip(i, str(e))
    raise errors.DatasetError(
        f'{self.name}: {min(n, MAX_CONSECUTIVE_BAD)} examples in a row from index {index} '
        f'cannot be read (last: {self.skipped[i]}); check the data.')

  def _skip(self, index: int, why: str) -> None:
    with self._lock:
      if index in self.skipped:
        return
      self.skipped[index] = why
      count = len(self.skipped)
    logging.warning('%s: skipped example %d: %s; the next readable example stands in for it '
                    '(%d skipped so far).', self.name, index, why, count)

  def _decode(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    examples = list(self._executor().map(self._example, np.asarray(indices).reshape(-1)))
    if not examples:
      return np.zeros((0,) + self.example_shape, np.uint8), np.zeros((0,), np.int32)
    return (np.stack([image for image, _ in examples]),
            np.array([label for _, label in examples], np.int32))

  def iter_images(self, chunk: int = 500) -> Iterator[np.ndarray]:
    """Every image in index order, `chunk` at a time, without holding the dataset (a
    TFRecord-prepared TFDS dataset is read in order with tf.data)."""
    self.storage.open()
    n = self.storage.num_examples
    if self.streamed is False or self.storage.random_access:
      self.prepare()
      for start in range(0, n, chunk):
        yield self.read(np.arange(start, min(start + chunk, n)))[0]
      return
    # In order, once: an unusable image is left out (it changes no statistics' meaning).
    pool, block = self._executor(), []
    for item in self.storage.sequential():
      block.append(item)
      if len(block) == chunk:
        converted = [x for x in pool.map(self._convert_or_none, block) if x is not None]
        block = []
        if converted:
          yield np.stack(converted)
    converted = [x for x in pool.map(self._convert_or_none, block) if x is not None]
    if converted:
      yield np.stack(converted)

  # --- IndexedSource -----------------------------------------------------------------------------
  @property
  def num_examples(self) -> int:
    return self.storage.num_examples

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    self.prepare()
    if not self.streamed:
      return self._images[indices], self._labels[indices]
    return self._decode(indices)

  def identity(self) -> str:
    """'<kind>-<name>-<size>px-<hash>': the hash covers the storage's fingerprint (TFDS:
    name, config, version, split, features; folder: path, file count and total size; npz:
    path, size and shape), the image size, channels and the resize."""
    fields = dict(self.storage.fingerprint(), size=self.image_size, channels=self.channels,
                  resize=images_lib.RESIZE)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    return f'{self.name}-{digest}'

  def describe(self) -> dict[str, Any]:
    self.prepare()
    return {**super().describe(), 'kind': self.storage.kind, **self.storage.describe(),
            'class_names': self.class_names, 'resize': images_lib.RESIZE,
            'streamed': bool(self.streamed), 'skipped': len(self.skipped)}


def image_chunks(source: sources.IndexedSource, chunk: int = 500) -> Iterator[np.ndarray]:
  """Every image of `source` in index order, uint8 (n, H, W, C), `chunk` at a time (a
  streamed DatasetSource reads each example once and holds one chunk)."""
  if isinstance(source, DatasetSource):
    yield from source.iter_images(chunk)
    return
  source.prepare()
  for start in range(0, source.num_examples, chunk):
    yield source.read(np.arange(start, min(start + chunk, source.num_examples)))[0]
