"""Data sources: any TFDS image dataset, a folder of images, an .npz of arrays, the offline
handwritten digits, 2-D Gaussian mixtures, arrays in memory, and any iterator of batches.

A source yields, for training step `s` and a batch `Layout`, this process's batch
  {'image': float32 (local_devices, d_steps, per_device_batch, H, W, C) in [-1, 1],
   'label': int32   (local_devices, d_steps, per_device_batch)}
(`image` is (..., 2) points for the mixtures). For the built-in sources step s's batch is a
pure function of (seed, s): each epoch is a fresh permutation of the example indices drawn
from (seed, epoch), so a run resumed at step k reads exactly what the uninterrupted run read,
without replaying the stream, and a run on 8 devices reads what a run on 1 device reads.
Several processes compute the same global batch indices and each reads only its own slice.

Image datasets (`config.data.dataset`):
  'digits'            scikit-learn's bundled digits (offline; the demo's and the tests').
  'folder'            every PNG/JPEG/WebP/BMP under `data.path`, recursively (sorted by
                      path); `data.labels='folders'`: the class is the first-level subfolder
                      (names sorted -> 0, 1, ...; `source.class_names`).
  'npz'               `data.path`: an .npz with `images` (N, H, W, C) or (N, H, W) uint8 and
                      optional `labels` (N,) integers.
  any other name      a TFDS dataset ('cifar10', 'mnist', 'celeb_a', 'lsun/bedroom', ...;
                      `name/config` picks a builder config; `data.split`, `data.data_dir`);
                      the image and label features are found from the builder's features
                      (`data.image_key`, `data.label_key` override), the number of classes is
                      the label feature's.

Every image goes through `convert_image`: 16-bit scaled to 8 bits, palettes expanded, alpha
composited over black, grey repeated to RGB (or colour turned grey with `data.channels=1`),
centre-cropped to a square and resized to `data.image_size` (a power of two, 32 to 256)
with PIL's Lanczos filter.

Storage (`data.cache`): 'memory' decodes the whole split once into uint8 arrays at the
training size; 'none' streams: each step reads and decodes only this process's examples by
index (folder: the files; npz: a memory map of an uncompressed .npz; TFDS: random access
through `tfds.data_sources`, which needs a dataset prepared as ArrayRecord) with a bounded
pool of `data.workers` threads, while `iterate`'s thread builds the next batches. 'auto'
holds the data in memory when it takes at most `data.cache_max_gb` decoded, else streams.
Both read the same indices and decode them with the same function, so a streamed source's
batches equal the in-memory ones bit for bit, and resume stays exact. Why not a tf.data
shuffle stream: it cannot resume mid-epoch without replaying the stream, and a process
could not read only its own slice of a global permutation.

An image that cannot be decoded (a corrupt or truncated file) or whose shorter side is
below `MIN_SIDE` pixels is skipped and counted: the next readable example in index order
stands in for it (a pure function of the files, so every process and every resume reads the
same), with one warning per file; `describe()` reports the count. A folder with no readable
image stops with one sentence.

Your own source: any object with `example_shape`, `num_classes`, `prepare()` and
`batch(step, layout)` (see `Source`); or wrap a plain iterator of global batches in
`IterableSource` (which cannot rewind: a resumed run continues from the iterator's position).
"""

import collections
import concurrent.futures
import dataclasses
import difflib
import hashlib
import json
import os
import queue
import threading
import zipfile
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import errors

MIXTURES = ('ring', 'grid')
FILE_DATASETS = ('folder', 'npz')
BUILTIN_DATASETS = ('digits',)
IMAGE_SIZES = (32, 64, 128, 256)
CHANNELS = (1, 3)
CACHES = ('auto', 'memory', 'none')
LABELS = ('none', 'folders')
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.webp')
# Images whose shorter side is below this are skipped (a 1-pixel-tall strip is no image).
MIN_SIDE = 8
# How every image is brought to the training size (part of the data's identity).
RESIZE = 'center-crop, PIL Lanczos'
# Consecutive unreadable examples after which a streamed source stops instead of skipping.
MAX_CONSECUTIVE_BAD = 100


def is_tfds(dataset: str) -> bool:
  """Whether `config.data.dataset` names a TFDS dataset (any name that is not built in)."""
  return dataset not in MIXTURES + FILE_DATASETS + BUILTIN_DATASETS


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
  """What the training loop needs of a data source. Optional: `reference_images(num, *,
  seed, chunk)` and `identity()` (what FID compares with and caches under; see
  IndexedSource), `describe()` (what run_info.json records)."""
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
  """
  name: str
  seed: int
  example_shape: tuple[int, ...]
  fraction: float = 1.0

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

  def _permutation(self, epoch: int) -> np.ndarray:
    # The last two epochs' permutations: a step needs one, or two where it straddles epochs.
    cache = self.__dict__.setdefault('_permutations', {})
    if epoch not in cache:
      if len(cache) >= 2:
        cache.pop(min(cache))
      cache[epoch] = self.training_indices()[
          np.random.default_rng([self.seed, epoch, 0x5eed]).permutation(
              len(self.training_indices()))]
    return cache[epoch]

  def global_indices(self, step: int, count: int) -> np.ndarray:
    """Indices of examples [step * count, (step + 1) * count) of the epoch-wise order (each
    epoch a permutation of the training examples)."""
    n = len(self.training_indices())
    start, stop = step * count, (step + 1) * count
    out = []
    for epoch in range(start // n, (stop - 1) // n + 1):
      lo, hi = max(start - epoch * n, 0), min(stop - epoch * n, n)
      out.append(self._permutation(epoch)[lo:hi])
    return np.concatenate(out)

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    if len(self.training_indices()) < layout.batch_size:
      raise errors.DatasetError(
          f'{self.name} has {len(self.training_indices())} training examples, fewer than one '
          f'global batch (config.train.batch_size={layout.batch_size}); add examples, raise '
          f'data.fraction or lower the batch size.')
    idx = self.global_indices(step, layout.examples_per_step)
    idx = layout.split(idx.reshape(layout.d_steps, layout.batch_size))
    images, labels = self.read(idx.reshape(-1))
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
    return {'name': self.name, 'identity': self.identity(), 'num_examples': self.num_examples,
            'example_shape': list(self.example_shape), 'num_classes': self.num_classes}


def _check_fraction(fraction, name: str) -> float:
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
  fails when the run starts, before anything compiles. `fraction`: see `IndexedSource`.
  """

  def __init__(self, images: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None,
               *, seed: int = 0, num_classes: int = 0, name: str = 'arrays',
               loader: Optional[Callable[[], tuple[np.ndarray, np.ndarray]]] = None,
               example_shape: Optional[tuple[int, ...]] = None, fraction: float = 1.0):
    if images is None and loader is None:
      raise ValueError('pass images or a loader')
    self.name = name
    self.seed = int(seed)
    self.num_classes = int(num_classes)
    self.fraction = _check_fraction(fraction, name)
    self._loader = loader
    self.images: Optional[np.ndarray] = None
    self.labels: Optional[np.ndarray] = None
    if images is not None:
      self._set(images, labels)
    self.example_shape = tuple(example_shape or self.images.shape[1:])

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
# One image at the training size.
# ---------------------------------------------------------------------------------------------

class BadImage(errors.DatasetError):
  """One example cannot be used (unreadable, truncated, too small): it is skipped."""


def _eight_bit(values: np.ndarray, top: float) -> np.ndarray:
  """Values in [0, top] -> uint8, rounded."""
  scaled = np.round(np.clip(values.astype(np.float64), 0, top) * (255.0 / top))
  return scaled.astype(np.uint8)


def _to_pil(image):
  """A PIL image of 8-bit mode ('L', 'LA', 'RGB', 'RGBA', ...) from a PIL image or array."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if isinstance(image, Image.Image):
    if image.mode.startswith('I') or image.mode == 'F':
      # 16/32-bit integer (16-bit PNG, TIFF) and float grey: 16-bit range; float as 8-bit.
      top = 255.0 if image.mode == 'F' else 65535.0
      return Image.fromarray(_eight_bit(np.asarray(image), top))
    return image
  array = np.asarray(image)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.dtype == np.uint16:
    array = _eight_bit(array, 65535.0)
  if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
      array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
    raise BadImage(f'an image array must be uint8 or uint16 (H, W) or (H, W, 1/3/4), got '
                   f'{array.dtype} {array.shape}')
  return Image.fromarray(array)


def convert_image(image, *, size: int, channels: int = 3) -> np.ndarray:
  """One image (a PIL image, or an array (H, W[, C]) uint8/uint16) -> uint8 (size, size,
  channels): the one conversion every folder, npz and TFDS example goes through.

  16-bit values are scaled to 8 bits (x * 255 / 65535); palettes expanded; alpha composited
  over black (what a transparent pixel shows on a black canvas); grey repeated to RGB, or
  colour turned grey with ITU-R 601-2 luma (PIL's 'L') when `channels` is 1; then the
  centre square (the shorter side) is resized to size x size with PIL's Lanczos filter,
  which is antialiased when shrinking (its kernel widens with the scale factor; bilinear
  resizes without antialiasing alias and move FID, Parmar et al. 2022) and is what
  StyleGAN2-ADA's dataset tool uses. Raises BadImage for an image with a side below MIN_SIDE.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if (isinstance(image, np.ndarray) and image.dtype == np.uint8
      and image.shape == (size, size, channels)):
    return image   # already at the training size: nothing to do
  img = _to_pil(image)
  width, height = img.size
  if min(width, height) < MIN_SIDE:
    raise BadImage(f'the image is {width}x{height} pixels, below the {MIN_SIDE}-pixel minimum')
  if img.mode == 'P':
    img = img.convert('RGBA')
  if 'A' in img.mode or 'a' in img.mode:
    rgba = img.convert('RGBA')
    img = Image.alpha_composite(Image.new('RGBA', img.size, (0, 0, 0, 255)), rgba)
  img = img.convert('RGB' if channels == 3 else 'L')
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  box = (left, top, left + side, top + side)
  if side != size:
    img = img.resize((size, size), Image.Resampling.LANCZOS, box=box)
  elif (width, height) != (side, side):
    img = img.crop(box)
  array = np.asarray(img, np.uint8)
  return array[..., None] if channels == 1 else array


def read_image_file(path: str):
  """The PIL image in the file at `path`, fully decoded (BadImage if it cannot be)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as img:
      img.load()   # decodes now, so a truncated file fails here; usable once closed
      return img
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    raise BadImage(f'{path} is not a readable image ({type(e).__name__}: {e})') from e


# ---------------------------------------------------------------------------------------------
# The offline digits.
# ---------------------------------------------------------------------------------------------

def _tensorflow():
  """TensorFlow for input work only: hidden from the GPUs, whose memory is JAX's."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:   # TensorFlow's devices are already initialised
    pass
  return tf


def _resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize (antialiased when shrinking) of uint8 NHWC images, in chunks.

  jax.image.resize's antialiased 'linear' is scale_and_translate, the algorithm of
  tf.image.resize(method='bilinear', antialias=True) that this used before: at the
  power-of-two sizes the digits come in every weight is dyadic, so both give the same uint8
  images (tests/test_gpu_bench.py), and the GPU path needs no TensorFlow. It runs on the host
  CPU where jax has one (this process's), so the images do not depend on the accelerator.
  """
  if images.shape[1] == size and images.shape[2] == size:
    return images
  try:   # this process's own CPU (jax.devices() lists every process's devices)
    device = jax.local_devices(backend='cpu')[0]
  except RuntimeError:   # jax restricted to its accelerator (JAX_PLATFORMS)
    device = jax.local_devices()[0]
  out = []
  with jax.default_device(device):
    for start in range(0, len(images), 2048):
      chunk = images[start:start + 2048]
      shape = (len(chunk), size, size) + chunk.shape[3:]
      chunk = jax.image.resize(chunk.astype(np.float32), shape, method='linear', antialias=True)
      out.append(np.clip(np.round(np.asarray(chunk)), 0, 255).astype(np.uint8))
  return np.concatenate(out)


def load_digits(size: int, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images, 17 levels,
  upscaled bilinearly (as they always were: Lanczos would ring around the strokes)."""
  from sklearn import datasets as skdatasets  # pylint: disable=g-import-not-at-top
  digits = skdatasets.load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  images = np.repeat(images, 3, axis=-1)
  images = _resize_uint8(images, size)
  return (images if channels == 3 else images[..., :1]), digits.target.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Where examples come from: a folder, an .npz, a TFDS dataset.
# ---------------------------------------------------------------------------------------------

class _Storage:
  """Examples by index at their stored size. `open()` reads the metadata (idempotent);
  `example(i)` -> (image: PIL image or array, label) may raise BadImage; `sequential()`
  yields every example in index order (for a full load)."""
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


class _Folder(_Storage):
  """Every image file under `path` (recursive, sorted by relative path)."""
  kind = 'folder'

  def __init__(self, path: str, labels: str = 'none'):
    self.path = os.path.abspath(os.path.expanduser(path))
    self.labels_from = labels
    self.files: Optional[list[str]] = None
    self.labels: Optional[np.ndarray] = None
    self.total_bytes = 0

  def _check_path(self) -> None:
    if not os.path.exists(self.path):
      raise errors.DatasetError(f'data.path {self.path} does not exist; pass the folder that '
                                f'holds your images (--config.data.path=DIR).')
    if not os.path.isdir(self.path):
      raise errors.DatasetError(f'data.path {self.path} is a file, not a folder; pass a folder '
                                f'of images, or use --config.data.dataset=npz for an .npz.')

  @property
  def num_classes(self) -> int:
    if self.labels_from != 'folders':
      return 0
    if self.class_names is None:
      self.open()
    return len(self.class_names)

  def open(self) -> None:
    if self.files is not None:
      return
    self._check_path()
    files, total, seen = [], 0, set()
    for root, dirs, names in os.walk(self.path, followlinks=True):
      real = os.path.realpath(root)
      if real in seen:   # a symlink back up the tree: already listed
        dirs[:] = []
        continue
      seen.add(real)
      dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
      for name in names:
        if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.'):
          full = os.path.join(root, name)
          files.append(os.path.relpath(full, self.path))
          total += os.path.getsize(full)
    files.sort()
    if not files:
      raise errors.DatasetError(
          f'{self.path} holds no PNG, JPEG, WebP or BMP images (searched recursively); point '
          f'--config.data.path at the folder of your images.')
    labels = np.zeros(len(files), np.int32)
    if self.labels_from == 'folders':
      loose = [f for f in files if os.sep not in f]
      if loose:
        raise errors.DatasetError(
            f'{self.path} has {len(loose)} images directly inside it (e.g. {loose[0]}), but '
            f'data.labels=folders takes each class from a first-level subfolder; move them '
            f'into a class folder, or use --config.data.labels=none.')
      tops = [f.split(os.sep, 1)[0] for f in files]
      names = sorted(set(tops))
      if len(names) < 2:
        raise errors.DatasetError(
            f'{self.path} has images in one class folder only ({names[0]!r}); '
            f'data.labels=folders needs two or more, or use --config.data.labels=none.')
      index = {n: i for i, n in enumerate(names)}
      labels = np.array([index[t] for t in tops], np.int32)
      self.class_names = names
    self.files, self.labels, self.total_bytes = files, labels, total

  @property
  def num_examples(self) -> int:
    self.open()
    return len(self.files)

  def example(self, index: int):
    return read_image_file(os.path.join(self.path, self.files[index])), int(self.labels[index])

  def sequential(self):
    for i in range(self.num_examples):
      yield self.example(i)

  def label(self) -> str:
    return os.path.basename(self.path.rstrip(os.sep)) or 'root'

  def fingerprint(self) -> dict[str, Any]:
    self.open()
    return {'path': self.path, 'files': len(self.files), 'bytes': self.total_bytes,
            'labels': self.labels_from}

  def describe(self) -> dict[str, Any]:
    self.open()
    return {'path': self.path, 'files': len(self.files), 'bytes': self.total_bytes,
            'labels': self.labels_from, 'class_names': self.class_names}


def _npz_member_memmap(path: str, member: str) -> Optional[np.ndarray]:
  """A read-only memory map of `member` (e.g. 'images.npy') of an .npz saved uncompressed
  (np.savez), or None when it is compressed (np.savez_compressed: no random access)."""
  with zipfile.ZipFile(path) as archive:
    info = archive.getinfo(member)
  if info.compress_type != zipfile.ZIP_STORED:
    return None
  with open(path, 'rb') as f:
    # The member's data follows its local header: 30 bytes, then its name and extra field.
    f.seek(info.header_offset)
    header = f.read(30)
    name_length = int.from_bytes(header[26:28], 'little')
    extra_length = int.from_bytes(header[28:30], 'little')
    f.seek(info.header_offset + 30 + name_length + extra_length)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
      return None
    offset = f.tell()
  if fortran or dtype.hasobject:
    return None
  return np.memmap(path, dtype=dtype, mode='r', offset=offset, shape=shape)


class _Npz(_Storage):
  """`images` (N, H, W[, C]) uint8 and optional `labels` (N,) of an .npz file."""
  kind = 'npz'
  KEYS = ('images', 'labels')

  def __init__(self, path: str):
    self.path = os.path.abspath(os.path.expanduser(path))
    self.images: Optional[np.ndarray] = None
    self.labels: Optional[np.ndarray] = None
    self.memory_mapped = False
    self._num_classes: Optional[int] = None

  def _open_archive(self):
    if not os.path.isfile(self.path):
      raise errors.DatasetError(
          f'data.path {self.path} does not exist or is not a file; pass an .npz holding '
          f'`images` (--config.data.path=FILE.npz).')
    try:
      archive = np.load(self.path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
      raise errors.DatasetError(f'{self.path} is not a readable .npz file ({e}); save your '
                                f'arrays with np.savez(FILE, images=..., labels=...).') from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
      raise errors.DatasetError(f'{self.path} holds a single array, not an .npz archive; '
                                f'save it with np.savez(FILE, images=..., labels=...).')
    names = list(archive.files)
    unknown = sorted(set(names) - set(self.KEYS))
    if 'images' not in names or unknown:
      archive.close()
      raise errors.DatasetError(
          f'{self.path} holds the arrays {", ".join(names) or "(none)"}, but jaxgan reads '
          f'`images` (N, H, W, C) uint8 and optional `labels` (N,) only; save them with '
          f'np.savez(FILE, images=..., labels=...).')
    return archive

  def _read_labels(self, archive, count: int) -> np.ndarray:
    if 'labels' not in archive.files:
      return np.zeros(count, np.int32)
    labels = archive['labels']
    if (labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer)
        or (count and labels.min() < 0)):
      raise errors.DatasetError(
          f'{self.path}: `labels` must be {count} non-negative integers (one per image), got '
          f'{labels.dtype} {labels.shape}; fix or drop them.')
    return labels.astype(np.int32)

  @property
  def num_classes(self) -> int:
    if self._num_classes is None:
      with self._open_archive() as archive:   # the labels only, not the images
        if 'labels' in archive.files:
          labels = archive['labels']
          labels = self._read_labels(archive, len(labels))
          self._num_classes = int(labels.max()) + 1 if len(labels) else 0
        else:
          self._num_classes = 0
    return self._num_classes

  def open(self) -> None:
    if self.images is not None:
      return
    with self._open_archive() as archive:
      images = _npz_member_memmap(self.path, 'images.npy')
      # Compressed: the whole array is decompressed into memory, so no reading by index.
      self.memory_mapped = self.random_access = images is not None
      if images is None:
        images = archive['images']
      if images.ndim == 3:
        images = images[..., None]
      if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise errors.DatasetError(
            f'{self.path}: `images` must be uint8 (N, H, W, C) with C 1, 3 or 4, got '
            f'{images.dtype} {images.shape}; convert with (x * 255).round().astype(np.uint8).')
      if len(images) == 0:
        raise errors.DatasetError(f'{self.path}: `images` is empty; save at least one image.')
      if min(images.shape[1:3]) < MIN_SIDE:
        raise errors.DatasetError(
            f'{self.path}: the images are {images.shape[2]}x{images.shape[1]} pixels, below '
            f'the {MIN_SIDE}-pixel minimum; save larger images.')
      self.labels = self._read_labels(archive, len(images))
    self.images = images

  @property
  def num_examples(self) -> int:
    self.open()
    return len(self.images)

  def example(self, index: int):
    return np.asarray(self.images[index]), int(self.labels[index])

  def sequential(self):
    for start in range(0, self.num_examples, 1024):
      block = np.asarray(self.images[start:start + 1024])
      for offset, image in enumerate(block):
        yield image, int(self.labels[start + offset])

  def label(self) -> str:
    return os.path.splitext(os.path.basename(self.path))[0]

  def fingerprint(self) -> dict[str, Any]:
    self.open()
    return {'path': self.path, 'bytes': os.path.getsize(self.path),
            'shape': list(self.images.shape)}

  def describe(self) -> dict[str, Any]:
    self.open()
    return {'path': self.path, 'bytes': os.path.getsize(self.path),
            'stored_shape': list(self.images.shape), 'memory_mapped': self.memory_mapped}


def _tfds_missing_message(name: str, data_dir: str) -> str:
  where = data_dir or os.path.expanduser('~/tensorflow_datasets')
  return (f'TFDS dataset {name!r} is not prepared under {where}; prepare it on a machine with '
          f'internet (python -c "import tensorflow_datasets as tfds; '
          f'tfds.builder(\'{name}\').download_and_prepare()") and copy the folder there or '
          f'pass --config.data.data_dir=DIR, or use the offline --config.data.dataset=digits.')


def check_tfds_name(name: str, data_dir: str = '') -> None:
  """ConfigError (with near matches) unless `name` ('ds' or 'ds/config') is a TFDS dataset
  with that builder config, registered in code or prepared under `data_dir`. Offline."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  base, _, config_name = name.partition('/')
  config_name = config_name.split(':')[0]
  try:
    cls = tfds.builder_cls(base)
  except tfds.core.registered.DatasetNotFoundError:
    where = data_dir or os.path.expanduser('~/tensorflow_datasets')
    if os.path.isdir(os.path.join(where, base)):
      return   # prepared from files without code in this TFDS version: the builder reads it
    near = difflib.get_close_matches(base, tfds.list_builders(with_community_datasets=False),
                                     n=5, cutoff=0.6)
    hint = f'did you mean {", ".join(near)}? ' if near else ''
    raise errors.ConfigError(
        f'config.data.dataset={name!r} is neither a TFDS dataset nor one of '
        f'{", ".join(BUILTIN_DATASETS + FILE_DATASETS + MIXTURES)}; {hint}see '
        f'tfds.list_builders() for the TFDS names.') from None
  configs = [c.name for c in (getattr(cls, 'BUILDER_CONFIGS', None) or [])]
  if config_name and configs and config_name not in configs:
    near = difflib.get_close_matches(config_name, configs, n=5, cutoff=0.5) or configs[:8]
    raise errors.ConfigError(
        f'TFDS dataset {base!r} has no builder config {config_name!r}; choose one of '
        f'{", ".join(near)} (config.data.dataset={base}/<config>).')


class _Tfds(_Storage):
  """A TFDS dataset's split: random access through `tfds.data_sources` when it is prepared
  as ArrayRecord (or under `tfds.testing.mock_data`), otherwise read in order with tf.data."""
  kind = 'tfds'

  def __init__(self, name: str, split: str = 'train', data_dir: str = '', image_key: str = '',
               label_key: str = ''):
    self.name, self.split, self.data_dir = name, split, data_dir
    self.image_key_asked, self.label_key_asked = image_key, label_key
    self._builder = None
    self._source = None
    self._opened = False
    self._num_examples: Optional[int] = None

  # --- metadata from the builder's feature spec (no data read) --------------------------------
  @property
  def builder(self):
    if self._builder is None:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      check_tfds_name(self.name, self.data_dir)
      try:
        self._builder = tfds.builder(self.name, data_dir=self.data_dir or None)
      except (ValueError, FileNotFoundError) as e:
        raise errors.DatasetError(f'TFDS dataset {self.name!r} cannot be opened ({e}); check '
                                  f'config.data.dataset and config.data.data_dir.') from e
      self._find_keys()
    return self._builder

  def _find_keys(self) -> None:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    features = self._builder.info.features
    top = dict(features.items()) if hasattr(features, 'items') else {}
    images = [k for k, f in top.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in top.items() if isinstance(f, tfds.features.ClassLabel)]
    if self.image_key_asked:
      if self.image_key_asked not in images:
        raise errors.ConfigError(
            f'config.data.image_key={self.image_key_asked!r} is not an image feature of '
            f'{self.name!r}; its image features: {", ".join(images) or "none"}.')
      self.image_key = self.image_key_asked
    elif images:
      self.image_key = 'image' if 'image' in images else images[0]
    else:
      raise errors.ConfigError(
          f'TFDS dataset {self.name!r} has no image feature (its features: '
          f'{", ".join(top) or "none"}); choose an image dataset.')
    if self.label_key_asked:
      if self.label_key_asked not in labels:
        raise errors.ConfigError(
            f'config.data.label_key={self.label_key_asked!r} is not a class-label feature of '
            f'{self.name!r}; its class labels: {", ".join(labels) or "none"}.')
      self.label_key = self.label_key_asked
    else:
      self.label_key = ('label' if 'label' in labels else labels[0]) if labels else ''
    label_feature = top[self.label_key] if self.label_key else None
    self._num_classes = int(label_feature.num_classes) if label_feature is not None else 0
    self.class_names = list(label_feature.names) if label_feature is not None else None
    self.image_shape = tuple(top[self.image_key].shape)

  @property
  def num_classes(self) -> int:
    _ = self.builder
    return self._num_classes

  # --- data ---------------------------------------------------------------------------------------
  def open(self) -> None:
    if self._opened:
      return
    builder = self.builder
    try:
      self._source = builder.as_data_source(split=self.split)
      self._num_examples = len(self._source)
    except NotImplementedError:   # TFRecord (or not prepared): no random access
      self._source = None
      self.random_access = False
      self._check_prepared(builder)
    except (KeyError, ValueError, AssertionError, FileNotFoundError) as e:
      self._raise_open_error(builder, e)
    self._opened = True
    if not self._num_examples:
      raise errors.DatasetError(f'TFDS dataset {self.name!r} split {self.split!r} is empty; '
                                f'pick another --config.data.split or re-prepare it.')

  def _check_prepared(self, builder) -> None:
    try:
      info = builder.info.splits[self.split]
      self._num_examples = int(info.num_examples)
    except (KeyError, ValueError, AssertionError, TypeError) as e:
      self._raise_open_error(builder, e)
    if not self._num_examples:
      # Split metadata but no data: try reading, which says what is missing.
      self._num_examples = 0

  def _raise_open_error(self, builder, e: Exception):
    splits = list(builder.info.splits) if builder.info.splits else []
    if not splits:
      raise errors.DatasetError(_tfds_missing_message(self.name, self.data_dir)) from e
    raise errors.DatasetError(
        f'TFDS dataset {self.name!r} has no split {self.split!r} ({e}); pass one of '
        f'{", ".join(splits)} as --config.data.split.') from e

  @property
  def num_examples(self) -> int:
    self.open()
    return self._num_examples

  def _pick(self, example) -> tuple[Any, int]:
    label = int(example[self.label_key]) if self.label_key else 0
    return example[self.image_key], label

  def example(self, index: int):
    return self._pick(self._source[int(index)])

  def sequential(self):
    if self._source is not None:
      for i in range(self.num_examples):
        yield self.example(i)
      return
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    tf = _tensorflow()
    # In the dataset's own order (one file at a time), decoded in parallel, prefetched.
    read_config = tfds.ReadConfig(interleave_cycle_length=1, try_autocache=False)
    try:
      ds = self.builder.as_dataset(split=self.split, shuffle_files=False,
                                   read_config=read_config)
    except AssertionError as e:   # TFDS' "could not find data in ..."
      raise errors.DatasetError(_tfds_missing_message(self.name, self.data_dir)) from e
    except (KeyError, ValueError) as e:
      self._raise_open_error(self.builder, e)
    ds = ds.map(lambda ex: {k: ex[k] for k in (self.image_key, self.label_key) if k},
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    for example in tfds.as_numpy(ds):
      yield self._pick(example)

  def label(self) -> str:
    return self.name.replace('/', '-')

  def fingerprint(self) -> dict[str, Any]:
    info = self.builder.info
    return {'tfds': info.full_name, 'split': self.split, 'image': self.image_key,
            'label': self.label_key}

  def describe(self) -> dict[str, Any]:
    self.open()
    return {'tfds': self.builder.info.full_name, 'split': self.split,
            'image_key': self.image_key, 'label_key': self.label_key or None,
            'class_names': self.class_names, 'random_access': self._source is not None}


# ---------------------------------------------------------------------------------------------
# A folder, npz or TFDS dataset at the training size, in memory or streamed.
# ---------------------------------------------------------------------------------------------

def _default_workers() -> int:
  return min(16, os.cpu_count() or 1)


class DatasetSource(IndexedSource):
  """A folder, .npz or TFDS dataset brought to (image_size, image_size, channels), held in
  memory or streamed by index (see the module docstring: `cache`, skipped images).

  Building one reads nothing; `num_classes` and `class_names` read metadata only (a folder
  listing, the .npz's labels, the TFDS feature spec); `prepare()` opens the data and, in
  memory, decodes it all.
  """

  def __init__(self, storage: _Storage, *, image_size: int, channels: int = 3,
               cache: str = 'auto', cache_max_gb: float = 4.0, seed: int = 0,
               workers: int = 0, fraction: float = 1.0):
    errors.check_arg('cache', cache, CACHES)
    errors.check_arg('channels', channels, CHANNELS)
    self.fraction = _check_fraction(fraction, storage.label())
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

  # --- loading -------------------------------------------------------------------------------------
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
    except BadImage:
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
    return convert_image(image, size=self.image_size, channels=self.channels)

  def _example(self, index: int) -> tuple[np.ndarray, int]:
    """Example `index` at the training size, or the next readable one after it."""
    n = self.storage.num_examples
    for attempt in range(min(n, MAX_CONSECUTIVE_BAD)):
      i = (int(index) + attempt) % n
      try:
        image, label = self.storage.example(i)
        return self._convert(image), label
      except BadImage as e:
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

  # --- IndexedSource -------------------------------------------------------------------------------
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
                  resize=RESIZE)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    return f'{self.name}-{digest}'

  def describe(self) -> dict[str, Any]:
    self.prepare()
    return {**super().describe(), 'kind': self.storage.kind, **self.storage.describe(),
            'class_names': self.class_names, 'resize': RESIZE,
            'streamed': bool(self.streamed), 'skipped': len(self.skipped)}


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
    with self._lock:
      if step in self._read and self._read[step][0] == layout:
        return self._read[step][1]
      if self._next_step is not None and step != self._next_step:
        raise errors.DatasetError(f'an IterableSource reads steps in order; step {step} was '
                                  f'asked after step {self._next_step - 1}.')
      items = [self._item(layout) for _ in range(layout.d_steps)]
      self._next_step = step + 1
      batch = {'image': layout.split(np.stack([i for i, _ in items])),
               'label': layout.split(np.stack([l for _, l in items]))}
      self._read[step] = (layout, batch)
      while len(self._read) > self.KEEP:
        self._read.popitem(last=False)
      return batch




# ---------------------------------------------------------------------------------------------
# From a config, from a command-line spec.
# ---------------------------------------------------------------------------------------------

def _storage(dataset: str, *, path: str = '', labels: str = 'none', split: str = 'train',
             data_dir: str = '', image_key: str = '', label_key: str = '') -> _Storage:
  if dataset == 'folder':
    return _Folder(path, labels)
  if dataset == 'npz':
    return _Npz(path)
  return _Tfds(dataset, split, data_dir, image_key, label_key)


def from_config(config: ml_collections.ConfigDict) -> Any:
  """The source `config.data` names (nothing is loaded until `prepare()`)."""
  d, seed = config.data, config.train.seed
  if d.dataset in MIXTURES:
    return MixtureSource(d.dataset, seed=seed)
  errors.check_choice('data.image_size', d.image_size, IMAGE_SIZES)
  errors.check_choice('data.channels', d.channels, CHANNELS)
  size, channels = d.image_size, d.channels
  if d.dataset == 'digits':
    return ArraySource(loader=lambda: load_digits(size, channels), seed=seed, num_classes=10,
                       name=f'digits-{size}px' + ('-grey' if channels == 1 else ''),
                       example_shape=(size, size, channels), fraction=d.fraction)
  storage = _storage(d.dataset, path=d.path, labels=d.labels, split=d.split,
                     data_dir=d.data_dir, image_key=d.image_key, label_key=d.label_key)
  return DatasetSource(storage, image_size=size, channels=channels, cache=d.cache,
                       cache_max_gb=d.cache_max_gb, seed=seed, workers=d.workers,
                       fraction=d.fraction)


def reference_source(source: Any, split: str) -> Any:
  """The source FID/KID compare with: `source` itself, or (`split` set) the same TFDS
  dataset's `split` at the same size (config.eval.reference_split)."""
  if not split:
    return source
  storage = getattr(source, 'storage', None)
  if not isinstance(storage, _Tfds):
    raise errors.ConfigError(
        f'config.eval.reference_split={split!r} needs a TFDS dataset (folders, .npz files and '
        f'in-memory arrays have no splits); set it to \'\'.')
  if split == storage.split:
    return source
  return DatasetSource(
      _Tfds(storage.name, split, storage.data_dir, storage.image_key_asked,
            storage.label_key_asked),
      image_size=source.image_size, channels=source.channels, cache=source.cache,
      cache_max_gb=source.cache_max_gb, seed=source.seed, workers=source.workers)


SPEC_KINDS = ('folder', 'npz', 'tfds')


def is_spec(text: str) -> bool:
  """Whether `text` is a source spec ('folder:DIR', 'npz:FILE', 'tfds:NAME[:SPLIT]')."""
  kind, sep, rest = text.partition(':')
  return bool(sep) and kind in SPEC_KINDS and bool(rest)


def spec_source(spec: str, *, image_size: int, channels: int = 3, data_dir: str = '',
                labels: str = 'none', cache: str = 'none', workers: int = 0) -> DatasetSource:
  """The source a command-line spec names, at `image_size`:

    folder:DIR           every image under DIR (recursive), centre-cropped and resized
    npz:FILE             FILE's `images`
    tfds:NAME[:SPLIT]    a TFDS dataset (NAME may be 'name/config'; SPLIT default 'train')

  `image_chunks` reads it once in order without holding it (`cache='none'`).
  """
  if not is_spec(spec):
    raise errors.ConfigError(f'{spec!r} is not a data spec; use folder:DIR, npz:FILE or '
                             f'tfds:NAME[:SPLIT].')
  errors.check_arg('image_size', image_size, IMAGE_SIZES)
  kind, _, rest = spec.partition(':')
  if kind == 'tfds':
    name, _, split = rest.partition(':')
    check_tfds_name(name, data_dir)
    storage = _storage(name, split=split or 'train', data_dir=data_dir)
  else:
    storage = _storage(kind, path=rest, labels=labels)
  return DatasetSource(storage, image_size=image_size, channels=channels, cache=cache,
                       workers=workers)


def image_chunks(source: IndexedSource, chunk: int = 500) -> Iterator[np.ndarray]:
  """Every image of `source` in index order, uint8 (n, H, W, C), `chunk` at a time (a
  streamed DatasetSource reads each example once and holds one chunk)."""
  if isinstance(source, DatasetSource):
    yield from source.iter_images(chunk)
    return
  source.prepare()
  for start in range(0, source.num_examples, chunk):
    yield source.read(np.arange(start, min(start + chunk, source.num_examples)))[0]

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
