"""Examples stored as files: a folder of images (`Folder`) and an .npz of arrays (`Npz`),
read by index (see `streaming.Storage`)."""

import os
import zipfile
from typing import Any, Optional

import numpy as np

from jaxgan import errors
from jaxgan.data import images as images_lib
from jaxgan.data import streaming

FILE_DATASETS = ('folder', 'npz')
LABELS = ('none', 'folders')
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.webp')


class Folder(streaming.Storage):
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
    image = images_lib.read_image_file(os.path.join(self.path, self.files[index]))
    return image, int(self.labels[index])

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


class Npz(streaming.Storage):
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
      if min(images.shape[1:3]) < images_lib.MIN_SIDE:
        raise errors.DatasetError(
            f'{self.path}: the images are {images.shape[2]}x{images.shape[1]} pixels, below '
            f'the {images_lib.MIN_SIDE}-pixel minimum; save larger images.')
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
