"""The user's own data: image conversion, folders, .npz files, TFDS datasets (mocked, and tiny
ones prepared here as TFRecord and ArrayRecord), streaming against memory, what each process
reads, identities, data specs and the one-sentence errors."""

import os

import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

import jaxgan
from jaxgan import data, errors
from tests.util import tiny_config


# ---------------------------------------------------------------------------------------------
# Generated data.
# ---------------------------------------------------------------------------------------------

def _rgb(rng, height, width):
  return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _write_folder(root, *, classes=('cats', 'dogs'), per_class=6, seed=0, extras=True):
  """PNG and JPEG files of odd sizes and modes in class folders (and a nested folder); with
  `extras`, a corrupt file, a truncated JPEG and a 1-pixel-tall image. Returns the image
  files' paths."""
  rng = np.random.default_rng(seed)
  paths = []
  for c, name in enumerate(classes):
    os.makedirs(os.path.join(root, name, 'nested'), exist_ok=True)
    for i in range(per_class):
      height, width = rng.integers(12, 70, 2)
      image = Image.fromarray(_rgb(rng, height, width))
      kind = (i + c) % 5
      if kind == 0:
        path = os.path.join(root, name, f'{i}.png')
        image.save(path)
      elif kind == 1:
        path = os.path.join(root, name, f'{i}.JPG')
        image.save(path, quality=90)
      elif kind == 2:
        path = os.path.join(root, name, 'nested', f'{i}.png')
        image.convert('RGBA').save(path)
      elif kind == 3:
        path = os.path.join(root, name, f'{i}.png')
        image.convert('P').save(path)
      else:
        path = os.path.join(root, name, f'{i}.png')
        grey = (np.asarray(image.convert('L'), np.uint16) * 257)
        Image.fromarray(grey).save(path)     # 16-bit greyscale PNG
      paths.append(path)
  if extras:
    corrupt = os.path.join(root, classes[0], 'corrupt.png')
    with open(corrupt, 'wb') as f:
      f.write(b'\x89PNG\r\n\x1a\n not really a png')
    truncated = os.path.join(root, classes[0], 'truncated.jpg')
    Image.fromarray(_rgb(rng, 40, 40)).save(truncated)
    with open(truncated, 'rb') as f:
      whole = f.read()
    with open(truncated, 'wb') as f:
      f.write(whole[:len(whole) // 2])            # a download cut short
    thin = os.path.join(root, classes[-1], 'thin.png')
    Image.fromarray(_rgb(rng, 1, 40)).save(thin)
    paths += [corrupt, truncated, thin]
  with open(os.path.join(root, classes[0], 'notes.txt'), 'w') as f:
    f.write('not an image: ignored')
  return sorted(paths, key=lambda p: os.path.relpath(p, root))


def _folder_config(path, **overrides):
  return tiny_config('folder', **{'data.path': str(path), 'train.batch_size': 8, **overrides})


def _prepared(config):
  source = data.from_config(config)
  source.prepare()
  return source


def _regroup(x, d_steps, batch):
  """(devices, d_steps, b, ...) -> (d_steps, devices * b, ...): the global batch."""
  return np.moveaxis(x, 0, 1).reshape((d_steps, batch) + x.shape[3:])


# ---------------------------------------------------------------------------------------------
# One image at the training size.
# ---------------------------------------------------------------------------------------------

def test_convert_image_colour_modes_against_numpy():
  rng = np.random.default_rng(0)
  rgb = _rgb(rng, 32, 32)
  # Grey -> three equal channels; colour -> ITU-R 601-2 luma with channels=1.
  grey = rgb[..., 0]
  np.testing.assert_array_equal(data.convert_image(grey, size=32), np.stack([grey] * 3, -1))
  luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
  out = data.convert_image(rgb, size=32, channels=1)
  assert out.shape == (32, 32, 1)
  assert np.abs(out[..., 0].astype(np.float64) - luma).max() <= 1.0
  # 16-bit: x * 255 / 65535, rounded.
  wide = rng.integers(0, 65536, (32, 32), dtype=np.uint16)
  expected = np.round(wide / 65535.0 * 255.0)
  np.testing.assert_array_equal(data.convert_image(wide, size=32)[..., 0], expected)
  np.testing.assert_array_equal(data.convert_image(Image.fromarray(wide), size=32)[..., 0],
                                expected)
  # Alpha composited over black: rgb * alpha / 255.
  alpha = rng.integers(0, 256, (32, 32, 1), dtype=np.uint8)
  rgba = np.concatenate([rgb, alpha], -1)
  over_black = rgb.astype(np.float64) * alpha / 255.0
  assert np.abs(data.convert_image(rgba, size=32).astype(np.float64) - over_black).max() <= 1.0
  # A palette image is its colours.
  palette = Image.fromarray(rgb).convert('P')
  np.testing.assert_array_equal(data.convert_image(palette, size=32),
                                np.asarray(palette.convert('RGB')))


def test_convert_image_centre_crops_and_resizes_with_antialiasing():
  rng = np.random.default_rng(1)
  tall = _rgb(rng, 96, 64)          # H 96, W 64: the centre 64 rows are kept
  np.testing.assert_array_equal(data.convert_image(tall, size=64), tall[16:80])
  wide = _rgb(rng, 40, 71)          # W 71: columns 15..54 (floor of the odd margin)
  np.testing.assert_array_equal(data.convert_image(wide, size=40), wide[:, 15:55])
  flat = np.full((50, 90, 3), 77, np.uint8)
  np.testing.assert_array_equal(data.convert_image(flat, size=32), np.full((32, 32, 3), 77))
  # A one-pixel checkerboard shrunk 4x: an antialiasing filter averages it to grey; sampling
  # without one (nearest, or bilinear without antialiasing) would keep 0s and 255s.
  checker = (np.indices((128, 128)).sum(0) % 2 * 255).astype(np.uint8)
  out = data.convert_image(checker, size=32).astype(np.float64)
  assert np.abs(out - 127.5).max() < 4, (out.min(), out.max())
  naive = np.asarray(Image.fromarray(checker).resize((32, 32), Image.Resampling.NEAREST))
  assert np.abs(naive - 127.5).min() > 127   # what aliasing gives: all black or all white
  with pytest.raises(data.BadImage, match='1-pixel|below the 8-pixel minimum'):
    data.convert_image(_rgb(rng, 1, 50), size=32)


# ---------------------------------------------------------------------------------------------
# Folders.
# ---------------------------------------------------------------------------------------------

def test_folder_source_reads_every_image_with_folder_labels(tmp_path):
  paths = _write_folder(tmp_path)
  source = data.from_config(_folder_config(tmp_path, **{'data.labels': 'folders'}))
  # Metadata only, before prepare(): the class names, sorted.
  assert source.num_classes == 2 and source.class_names == ['cats', 'dogs']
  source.prepare()
  assert source.num_examples == len(paths) == 15 and source.example_shape == (32, 32, 3)
  images, labels = source.read(np.arange(source.num_examples))
  # Each readable file is its own PIL decode, centre-cropped and Lanczos-resized, labelled by
  # its class folder.
  for i, path in enumerate(paths):
    if path.endswith(('corrupt.png', 'truncated.jpg', 'thin.png')):
      continue
    assert labels[i] == (0 if os.sep + 'cats' + os.sep in path else 1), path
    with Image.open(path) as im:
      reference = data.convert_image(im.convert('RGBA') if im.mode == 'P' else im, size=32)
    np.testing.assert_array_equal(images[i], reference, err_msg=path)
  # The corrupt, the truncated and the 1-pixel-tall image are skipped and counted: the next
  # readable example (in index order) stands in for each.
  corrupt, truncated, thin = (next(i for i, p in enumerate(paths) if p.endswith(n))
                              for n in ('corrupt.png', 'truncated.jpg', 'thin.png'))
  assert sorted(source.skipped) == sorted([corrupt, truncated, thin])
  assert 'truncated' in source.skipped[truncated]
  after = lambda i: (i + 1) % len(paths)
  for bad in (corrupt, truncated, thin):
    np.testing.assert_array_equal(images[bad], images[after(bad)])
    assert labels[bad] == labels[after(bad)]
  record = source.describe()
  assert record['skipped'] == 3 and record['class_names'] == ['cats', 'dogs']
  assert record['files'] == 15 and record['streamed'] is False


def test_streamed_folder_batches_equal_in_memory_batches(tmp_path):
  _write_folder(tmp_path, per_class=10)
  memory = _prepared(_folder_config(tmp_path, **{'data.cache': 'memory'}))
  streamed = _prepared(_folder_config(tmp_path, **{'data.cache': 'none'}))
  assert (memory.streamed, streamed.streamed) == (False, True)
  layout = data.Layout(batch_size=8, d_steps=2, local_devices=2)
  for step in (0, 1, 2, 7):   # 16 examples a step from 23: steps 1 and 2 straddle epochs
    a, b = memory.batch(step, layout), streamed.batch(step, layout)
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  assert memory.identity() == streamed.identity()
  # 'auto' streams when the decoded images exceed data.cache_max_gb, else holds them.
  auto = _prepared(_folder_config(tmp_path, **{'data.cache_max_gb': 1e-6}))
  assert auto.streamed and not _prepared(_folder_config(tmp_path)).streamed


def test_a_streamed_folder_reads_only_this_process_slice(tmp_path, monkeypatch):
  _write_folder(tmp_path, per_class=12, extras=False)
  opened = []
  real_open = Image.open

  def recording_open(path, *args, **kwargs):
    opened.append(os.path.relpath(str(path), tmp_path))
    return real_open(path, *args, **kwargs)

  def read(process_index, process_count, local_devices, step=3):
    source = _prepared(_folder_config(tmp_path, **{'data.cache': 'none'}))
    layout = data.Layout(batch_size=8, d_steps=2, process_index=process_index,
                         process_count=process_count, local_devices=local_devices)
    monkeypatch.setattr(Image, 'open', recording_open)
    opened.clear()
    batch = source.batch(step, layout)
    monkeypatch.setattr(Image, 'open', real_open)
    return source, batch, list(opened)

  source, whole, _ = read(0, 1, 1)
  global_files = [source.storage.files[i] for i in source.global_indices(3, 16)]
  parts = [read(p, 2, 2) for p in range(2)]
  for p, (_, batch, files) in enumerate(parts):
    # Process p reads exactly its half of each of the step's two global batches.
    mine = [global_files[d * 8 + p * 4:d * 8 + p * 4 + 4] for d in range(2)]
    assert sorted(files) == sorted(mine[0] + mine[1])
    assert batch['image'].shape == (2, 2, 2, 32, 32, 3)
  assert not set(parts[0][2]) & set(parts[1][2])
  # Together the two processes hold the one-process batch; eight devices hold it too.
  joined = np.concatenate([np.moveaxis(b['image'], 0, 1).reshape(2, 4, 32, 32, 3)
                           for _, b, _ in parts], axis=1)
  np.testing.assert_array_equal(joined, _regroup(whole['image'], 2, 8))
  _, eight, _ = read(0, 1, 8)
  np.testing.assert_array_equal(_regroup(eight['image'], 2, 8), _regroup(whole['image'], 2, 8))


def test_folder_errors_are_one_sentence(tmp_path):
  empty = tmp_path / 'empty'
  (empty / 'sub').mkdir(parents=True)
  (empty / 'sub' / 'readme.txt').write_text('no images here')
  loose = tmp_path / 'loose'
  _write_folder(loose / 'a', classes=('x',), per_class=2, extras=False)
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(loose / 'top.png')
  one = tmp_path / 'one'
  _write_folder(one, classes=('only',), per_class=3, extras=False)
  broken = tmp_path / 'broken'
  broken.mkdir()
  for i in range(3):
    (broken / f'{i}.png').write_bytes(b'garbage')
  cases = [
      (tmp_path / 'missing', {}, 'does not exist; pass the folder'),
      (empty, {}, 'holds no PNG, JPEG, WebP or BMP images'),
      (loose, {'data.labels': 'folders'}, 'directly inside it.*top.png'),
      (one, {'data.labels': 'folders'}, "one class folder only \\('only'\\)"),
      (tmp_path / 'one' / 'only' / '0.png', {}, 'is a file, not a folder'),
      (broken, {'data.cache': 'none'}, '3 examples in a row'),
  ]
  for path, overrides, message in cases:
    with pytest.raises(errors.DatasetError, match=message):
      _prepared(_folder_config(path, **overrides))
  with pytest.raises(errors.DatasetError, match='3 examples in a row'):
    _prepared(_folder_config(broken, **{'data.cache': 'memory'}))
  source = _prepared(_folder_config(one, **{'train.batch_size': 16}))
  with pytest.raises(errors.DatasetError, match='fewer than one global batch'):
    source.batch(0, data.Layout(batch_size=16))


# ---------------------------------------------------------------------------------------------
# .npz files.
# ---------------------------------------------------------------------------------------------

def test_npz_source_in_memory_and_memory_mapped(tmp_path):
  rng = np.random.default_rng(2)
  images = rng.integers(0, 256, (20, 40, 56, 3), dtype=np.uint8)
  labels = np.arange(20) % 4
  np.savez(tmp_path / 'plain.npz', images=images, labels=labels)
  np.savez_compressed(tmp_path / 'packed.npz', images=images, labels=labels)
  config = lambda name, **o: tiny_config('npz', **{'data.path': str(tmp_path / name),
                                                   'train.batch_size': 8, **o})
  memory = _prepared(config('plain.npz', **{'data.cache': 'memory'}))
  streamed = _prepared(config('plain.npz', **{'data.cache': 'none'}))
  packed = _prepared(config('packed.npz'))
  assert memory.num_classes == 4 and streamed.storage.memory_mapped
  np.testing.assert_array_equal(memory.read(np.arange(20))[0][3],
                                data.convert_image(images[3], size=32))
  for step in (0, 3):
    layout = data.Layout(batch_size=8, local_devices=4)
    expected = memory.batch(step, layout)
    for other in (streamed, packed):
      np.testing.assert_array_equal(other.batch(step, layout)['image'], expected['image'])
      np.testing.assert_array_equal(other.batch(step, layout)['label'], expected['label'])
  # Already at the training size and channels: used as they are.
  small = rng.integers(0, 256, (9, 32, 32, 1), dtype=np.uint8)
  np.savez(tmp_path / 'grey.npz', images=small[..., 0])
  grey = _prepared(config('grey.npz', **{'data.channels': 1}))
  np.testing.assert_array_equal(grey.read(np.arange(9))[0], small)
  assert grey.num_classes == 0
  with pytest.raises(errors.DatasetError, match='compressed.*np.savez'):
    _prepared(config('packed.npz', **{'data.cache': 'none'}))


@pytest.mark.parametrize('arrays,message', [
    ({'image': np.zeros((2, 16, 16, 3), np.uint8)}, 'holds the arrays image, but jaxgan reads'),
    ({'images': np.zeros((2, 16, 16, 3), np.uint8), 'label': np.zeros(2)}, 'arrays images, label'),
    ({'images': np.zeros((2, 16, 16, 3), np.float32)}, r'must be uint8 \(N, H, W, C\)'),
    ({'images': np.zeros((2, 16, 16, 5), np.uint8)}, 'C 1, 3 or 4'),
    ({'images': np.zeros((2, 16, 16, 3), np.uint8), 'labels': np.array([0, -1])},
     'non-negative integers'),
    ({'images': np.zeros((2, 16, 16, 3), np.uint8), 'labels': np.zeros(3, int)},
     '2 non-negative integers'),
    ({'images': np.zeros((2, 4, 16, 3), np.uint8)}, 'below the 8-pixel minimum'),
])
def test_bad_npz_files_are_one_sentence(tmp_path, arrays, message):
  np.savez(tmp_path / 'bad.npz', **arrays)
  with pytest.raises(errors.DatasetError, match=message):
    _prepared(tiny_config('npz', **{'data.path': str(tmp_path / 'bad.npz')}))


def test_missing_and_unreadable_npz(tmp_path):
  (tmp_path / 'junk.npz').write_text('not a zip file')
  for name, message in (('nothing.npz', 'does not exist'), ('junk.npz', 'not a readable .npz')):
    with pytest.raises(errors.DatasetError, match=message):
      _prepared(tiny_config('npz', **{'data.path': str(tmp_path / name)}))


# ---------------------------------------------------------------------------------------------
# TFDS.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name,stored,classes,channels', [
    ('mnist', (28, 28, 1), 10, 3),            # grey with labels, made RGB
    ('fashion_mnist', (28, 28, 1), 10, 1),    # grey kept grey
    ('celeb_a', (218, 178, 3), 0, 3),         # faces, no class-label feature
    ('cifar10', (32, 32, 3), 10, 3),
    ('lsun/bedroom', (None, None, 3), 0, 3),  # a builder config, images of any size
])
def test_tfds_datasets_through_mock_data(name, stored, classes, channels):
  config = tiny_config(name, **{'data.image_size': 64, 'data.channels': channels})
  with tfds.testing.mock_data(num_examples=24):
    jaxgan.validation.validate_data(config)
    source = data.from_config(config)
    assert source.num_classes == classes and source.storage.image_shape == stored
    source.prepare()
    batch = source.batch(2, data.Layout(batch_size=8, local_devices=2))
    streamed = _prepared(tiny_config(name, **{'data.image_size': 64, 'data.channels': channels,
                                             'data.cache': 'none'}))
    again = streamed.batch(2, data.Layout(batch_size=8, local_devices=2))
    # The first example large enough to keep, as TFDS stores it.
    index, example = next((i, image) for i, image in (
        (i, source.storage.example(i)[0]) for i in range(24)) if min(image.shape[:2]) >= 8)
  assert batch['image'].shape == (2, 1, 4, 64, 64, channels)
  assert (batch['label'].max() < classes) if classes else not batch['label'].any()
  np.testing.assert_array_equal(batch['image'], again['image'])
  np.testing.assert_array_equal(source.read(np.array([index]))[0][0],
                                data.convert_image(example, size=64, channels=channels))
  assert source.identity().startswith(f'tfds-{name.replace("/", "-")}-64px')


def test_tfds_feature_keys_and_names():
  with tfds.testing.mock_data(num_examples=8):
    celeb = data.from_config(tiny_config('celeb_a', **{'data.image_key': 'image'}))
    assert celeb.num_classes == 0
    for overrides, message in (
        ({'data.image_key': 'landmarks'}, "image_key='landmarks' is not an image feature.*image"),
        ({'data.label_key': 'attributes'}, 'label_key.*class labels: none'),
    ):
      with pytest.raises(errors.ConfigError, match=message):
        _ = data.from_config(tiny_config('celeb_a', **overrides)).num_classes
    cifar = data.from_config(tiny_config('cifar10', **{'data.label_key': 'label'}))
    assert cifar.num_classes == 10
  for name, message in (('imagenet', "'imagenet' is neither a TFDS dataset.*did you mean "
                                     "imagenette"),
                        ('lsun/bedrom', "no builder config 'bedrom'; choose one of bedroom"),
                        ('mnst', 'did you mean mnist')):
    with pytest.raises(errors.ConfigError, match=message):
      jaxgan.build(tiny_config(name))


class JaxganTinyImages(tfds.core.GeneratorBasedBuilder):
  """A tiny image dataset prepared offline in the tests (the real TFDS reading paths)."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Image(shape=(None, None, 3)),
        'label': tfds.features.ClassLabel(names=['a', 'b', 'c'])}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples(20, 0), 'test': self._generate_examples(9, 1)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      height, width = rng.integers(20, 60, 2)
      height = 2 if i == 3 else height     # one strip to skip
      yield i, {'image': _rgb(rng, height, width), 'label': i % 3}


@pytest.fixture(scope='module')
def prepared_tfds(tmp_path_factory):
  """The tiny dataset prepared as TFRecord and as ArrayRecord: {format: data_dir}."""
  dirs = {}
  for file_format in ('tfrecord', 'array_record'):
    data_dir = str(tmp_path_factory.mktemp(file_format))
    tfds.builder('jaxgan_tiny_images', data_dir=data_dir,
                 file_format=file_format).download_and_prepare()
    dirs[file_format] = data_dir
  return dirs


def test_prepared_tfds_tfrecord_and_array_record_read_alike(prepared_tfds):
  config = lambda fmt, **o: tiny_config('jaxgan_tiny_images', **{
      'data.data_dir': prepared_tfds[fmt], 'train.batch_size': 8, **o})
  tfrecord = _prepared(config('tfrecord'))                                  # tf.data, in order
  array_record = _prepared(config('array_record', **{'data.cache': 'memory'}))   # by index
  streamed = _prepared(config('array_record', **{'data.cache': 'none'}))
  assert not tfrecord.storage.random_access and streamed.streamed
  assert tfrecord.num_examples == 20 and tfrecord.num_classes == 3
  assert tfrecord.class_names == ['a', 'b', 'c']
  everything = np.arange(20)
  images, labels = tfrecord.read(everything)
  # i % 3 of the 20 (stored shuffled), one of them the stand-in for the skipped strip.
  assert sorted(np.bincount(labels).tolist()) in ([6, 6, 8], [6, 7, 7])
  for other in (array_record, streamed):
    np.testing.assert_array_equal(other.read(everything)[0], images)
    np.testing.assert_array_equal(other.read(everything)[1], labels)
  # The 2-pixel strip is skipped alike by the in-order read and by index.
  assert len(tfrecord.skipped) == 1 and tfrecord.skipped.keys() == streamed.skipped.keys()
  # TFRecord has no random access: streaming it is one sentence that says what to do.
  with pytest.raises(errors.DatasetError, match='TFRecord.*ArrayRecord.*cache=memory'):
    _prepared(config('tfrecord', **{'data.cache': 'none'}))
  with pytest.raises(errors.DatasetError, match="no split 'valid'.*train"):
    _prepared(config('array_record', **{'data.split': 'valid'}))
  # FID's reference split: the same dataset's 'test' at the same size, another identity.
  test = data.reference_source(streamed, 'test')
  test.prepare()
  assert test.num_examples == 9 and test.example_shape == streamed.example_shape
  assert test.identity() != streamed.identity()
  assert data.reference_source(streamed, '') is streamed
  assert data.reference_source(streamed, 'train') is streamed


# ---------------------------------------------------------------------------------------------
# Identities, specs, configs.
# ---------------------------------------------------------------------------------------------

def test_identity_follows_the_files_and_the_size(tmp_path):
  _write_folder(tmp_path, extras=False)
  identity = lambda **o: data.from_config(_folder_config(tmp_path, **o)).identity()
  first = identity()
  assert first == identity() and first.startswith(f'folder-{tmp_path.name}-32px-')
  assert identity(**{'data.image_size': 64}) != first
  assert identity(**{'data.channels': 1}) != first
  Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / 'cats' / 'new.png')
  assert identity() != first


def test_data_specs_read_every_image_in_order(tmp_path):
  paths = _write_folder(tmp_path / 'images', extras=False)
  source = data.spec_source(f'folder:{tmp_path / "images"}', image_size=32)
  chunks = list(data.image_chunks(source, chunk=5))
  assert [len(c) for c in chunks] == [5, 5, 2]
  with Image.open(paths[7]) as im:
    reference = data.convert_image(im.convert('RGBA') if im.mode == 'P' else im, size=32)
  np.testing.assert_array_equal(np.concatenate(chunks)[7], reference)
  np.savez(tmp_path / 'x.npz', images=np.concatenate(chunks))
  again = np.concatenate(list(data.image_chunks(data.spec_source(f'npz:{tmp_path / "x.npz"}',
                                                                 image_size=32))))
  np.testing.assert_array_equal(again, np.concatenate(chunks))
  with tfds.testing.mock_data(num_examples=7):
    mnist = data.spec_source('tfds:mnist:test', image_size=32)
    assert mnist.storage.split == 'test'
    assert sum(len(c) for c in data.image_chunks(mnist)) == 7
  assert data.is_spec('tfds:cifar10') and not data.is_spec('runs/fakes.npz')
  with pytest.raises(errors.ConfigError, match='not a data spec'):
    data.spec_source('images/', image_size=32)


@pytest.mark.parametrize('overrides,message', [
    ({'data.image_size': 48}, r'image_size=48 is not supported; choose a power of two from 32 '
                              r'to 256'),
    ({'data.image_size': 512}, 'power of two from 32 to 256'),
    ({'data.dataset': 'folder'}, "reads a folder of images: pass it with --config.data.path"),
    ({'data.dataset': 'npz'}, 'reads a .npz file'),
    ({'data.path': '/tmp/x'}, "data.path is read by the 'folder' and 'npz' datasets only"),
    ({'data.labels': 'folders'}, "labels='folders' is for --config.data.dataset=folder"),
    ({'data.image_key': 'image'}, "data.image_key picks a TFDS feature, but 'digits'"),
    ({'data.channels': 2}, r'config.data.channels=2 is not supported; choose one of 1, 3'),
    ({'data.cache': 'disk'}, "config.data.cache='disk' is not supported"),
    ({'data.cache_max_gb': 0.0}, 'cache_max_gb=0.0 must be a number > 0'),
    ({'data.workers': -1}, 'data.workers=-1 must be an integer >= 0'),
    ({'eval.reference_split': 'test'}, "reference_split='test' picks a TFDS split, but "
                                       "'digits' has no splits"),
    ({'model.num_classes': -2}, r'model.num_classes=-2 must be an integer >= -1'),
])
def test_bad_data_config_values(overrides, message):
  with pytest.raises(errors.ConfigError, match=message):
    jaxgan.build(tiny_config('digits', **overrides))


def test_num_classes_minus_one_takes_the_data_classes(tmp_path):
  _write_folder(tmp_path, classes=('a', 'b', 'c'), extras=False)
  config = _folder_config(tmp_path, **{'data.labels': 'folders', 'model.num_classes': -1,
                                       'model.name': 'sagan', 'model.g_width': 2,
                                       'model.d_width': 2})
  experiment = jaxgan.build(config)
  assert experiment.num_classes == 3 and experiment.generator.num_classes == 3
  assert config.model.num_classes == -1       # the caller's config is left as it was
  # Data without labels is refused, not silently unconditional (issue 19).
  with pytest.raises(errors.ConfigError, match='has no labels; set it to 0'):
    jaxgan.build(_folder_config(tmp_path, **{'model.num_classes': -1}))
  with pytest.raises(errors.ConfigError, match='has 3 classes; set it to that, to -1'):
    jaxgan.build(_folder_config(tmp_path, **{'data.labels': 'folders',
                                              'model.num_classes': 5}))
  with pytest.raises(errors.ConfigError, match='resolved by jaxgan.build'):
    experiment.replace(num_classes=-1)


class _Probe:
  """An evaluator plug-in that records what the training loop hands it."""
  metrics = {'probe': None}
  needs_real = True

  def __init__(self):
    self.calls = []

  def evaluate(self, *, generate, real, num_samples, dataset_key, num_real=None):
    self.calls.append({'fake': generate(num_samples), 'real': real(num_real),
                       'key': dataset_key, 'num_real': num_real})
    yield 'probe', 1.0


@pytest.mark.slow
def test_evaluation_compares_with_the_configured_source(tmp_path):
  _write_folder(tmp_path / 'images', per_class=5, extras=False)    # 10 images
  config = _folder_config(tmp_path / 'images', **{
      'data.channels': 1, 'eval.every_steps': 1, 'eval.num_samples': 16, 'eval.chunk_size': 8,
      'eval.best_metric': '', 'train.num_steps': 1, 'log.samples_every': 0})
  probe = _Probe()
  experiment = jaxgan.build(config).replace(evaluators={'probe': probe})
  jaxgan.train(experiment, str(tmp_path / 'run'))
  call = probe.calls[-1]
  # Real images: all 10 of the run's own source (fewer than eval.num_samples), as it trains
  # on them, keyed by its identity; grey repeated to the three channels Inception reads.
  assert call['num_real'] == 10 and call['key'] == experiment.data.identity()
  assert call['fake'].shape == (16, 32, 32, 3) and call['real'].shape == (10, 32, 32, 3)
  everything = experiment.data.read(np.arange(10))[0]
  np.testing.assert_array_equal(np.sort(call['real'][..., 1].reshape(10, -1), axis=0),
                                np.sort(everything[..., 0].reshape(10, -1), axis=0))
  assert np.array_equal(call['real'][..., 0], call['real'][..., 2])
