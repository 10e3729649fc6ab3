"""Sources from a config (`from_config`, `reference_source`) and from a command-line spec
(`spec_source`: 'folder:DIR', 'npz:FILE', 'tfds:NAME[:SPLIT]')."""

from typing import Any

import ml_collections

from jaxgan import errors
from jaxgan.data import files
from jaxgan.data import images as images_lib
from jaxgan.data import sources
from jaxgan.data import streaming
from jaxgan.data import tfds_source
from jaxgan.data import toy


def is_tfds(dataset: str) -> bool:
  """Whether `config.data.dataset` names a TFDS dataset (any name that is not built in)."""
  return dataset not in toy.MIXTURES + files.FILE_DATASETS + toy.BUILTIN_DATASETS


def _storage(dataset: str, *, path: str = '', labels: str = 'none', split: str = 'train',
             data_dir: str = '', image_key: str = '',
             label_key: str = '') -> streaming.Storage:
  if dataset == 'folder':
    return files.Folder(path, labels)
  if dataset == 'npz':
    return files.Npz(path)
  return tfds_source.Tfds(dataset, split, data_dir, image_key, label_key)


def from_config(config: ml_collections.ConfigDict) -> Any:
  """The source `config.data` names (nothing is loaded until `prepare()`)."""
  d, seed = config.data, config.train.seed
  if d.dataset in toy.MIXTURES:
    return toy.MixtureSource(d.dataset, seed=seed)
  errors.check_choice('data.image_size', d.image_size, images_lib.IMAGE_SIZES)
  errors.check_choice('data.channels', d.channels, images_lib.CHANNELS)
  size, channels = d.image_size, d.channels
  if d.dataset == 'digits':
    return sources.ArraySource(loader=lambda: toy.load_digits(size, channels), seed=seed,
                               num_classes=10,
                               name=f'digits-{size}px' + ('-grey' if channels == 1 else ''),
                               example_shape=(size, size, channels), fraction=d.fraction,
                               mirror=d.mirror)
  storage = _storage(d.dataset, path=d.path, labels=d.labels, split=d.split,
                     data_dir=d.data_dir, image_key=d.image_key, label_key=d.label_key)
  return streaming.DatasetSource(storage, image_size=size, channels=channels, cache=d.cache,
                                 cache_max_gb=d.cache_max_gb, seed=seed, workers=d.workers,
                                 fraction=d.fraction, mirror=d.mirror)


def reference_source(source: Any, split: str) -> Any:
  """The source FID/KID compare with: `source` itself, or (`split` set) the same TFDS
  dataset's `split` at the same size (config.eval.reference_split)."""
  if not split:
    return source
  storage = getattr(source, 'storage', None)
  if not isinstance(storage, tfds_source.Tfds):
    raise errors.ConfigError(
        f'config.eval.reference_split={split!r} needs a TFDS dataset (folders, .npz files and '
        f'in-memory arrays have no splits); set it to \'\'.')
  if split == storage.split:
    return source
  return streaming.DatasetSource(
      tfds_source.Tfds(storage.name, split, storage.data_dir, storage.image_key_asked,
                       storage.label_key_asked),
      image_size=source.image_size, channels=source.channels, cache=source.cache,
      cache_max_gb=source.cache_max_gb, seed=source.seed, workers=source.workers)


SPEC_KINDS = ('folder', 'npz', 'tfds')


def is_spec(text: str) -> bool:
  """Whether `text` is a source spec ('folder:DIR', 'npz:FILE', 'tfds:NAME[:SPLIT]')."""
  kind, sep, rest = text.partition(':')
  return bool(sep) and kind in SPEC_KINDS and bool(rest)


def spec_source(spec: str, *, image_size: int, channels: int = 3, data_dir: str = '',
                labels: str = 'none', cache: str = 'none',
                workers: int = 0) -> streaming.DatasetSource:
  """The source a command-line spec names, at `image_size`:

    folder:DIR           every image under DIR (recursive), centre-cropped and resized
    npz:FILE             FILE's `images`
    tfds:NAME[:SPLIT]    a TFDS dataset (NAME may be 'name/config'; SPLIT default 'train')

  `image_chunks` reads it once in order without holding it (`cache='none'`).
  """
  if not is_spec(spec):
    raise errors.ConfigError(f'{spec!r} is not a data spec; use folder:DIR, npz:FILE or '
                             f'tfds:NAME[:SPLIT].')
  errors.check_arg('image_size', image_size, images_lib.IMAGE_SIZES)
  kind, _, rest = spec.partition(':')
  if kind == 'tfds':
    name, _, split = rest.partition(':')
    tfds_source.check_tfds_name(name, data_dir)
    storage = _storage(name, split=split or 'train', data_dir=data_dir)
  else:
    storage = _storage(kind, path=rest, labels=labels)
  return streaming.DatasetSource(storage, image_size=image_size, channels=channels,
                                 cache=cache, workers=workers)
