"""A TFDS dataset's split as stored examples (`Tfds`, see `streaming.Storage`), and the
offline check of a TFDS name. (Named so that it never shadows `tensorflow_datasets`.)"""

import difflib
import os
from typing import Any, Optional

from jaxgan import errors
from jaxgan.data import files
from jaxgan.data import streaming
from jaxgan.data import toy


def _tensorflow():
  """TensorFlow for input work only: hidden from the GPUs, whose memory is JAX's."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:   # TensorFlow's devices are already initialised
    pass
  return tf


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
        f'{", ".join(toy.BUILTIN_DATASETS + files.FILE_DATASETS + toy.MIXTURES)}; {hint}see '
        f'tfds.list_builders() for the TFDS names.') from None
  configs = [c.name for c in (getattr(cls, 'BUILDER_CONFIGS', None) or [])]
  if config_name and configs and config_name not in configs:
    near = difflib.get_close_matches(config_name, configs, n=5, cutoff=0.5) or configs[:8]
    raise errors.ConfigError(
        f'TFDS dataset {base!r} has no builder config {config_name!r}; choose one of '
        f'{", ".join(near)} (config.data.dataset={base}/<config>).')


class Tfds(streaming.Storage):
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
