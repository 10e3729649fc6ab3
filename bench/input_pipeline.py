"""Input pipeline: images/s of each source kind against the train step's consumption, and the
resident memory of a streamed run over a large folder.

  python bench/input_pipeline.py --sizes=64,128 --num_images=2048 --rss_files=100000 \
      --out=bench/results/input_pipeline.md

Throughput: for each image size, `--num_images` generated photos-like images (smooth
gradients plus noise, stored at 1.5x the size and not square, so every read decodes,
centre-crops and resizes) are written as a folder of PNGs, a folder of JPEGs, an uncompressed
.npz (memory-mapped) and a TFDS dataset prepared offline as ArrayRecord; each is read
streamed (`data.cache='none'`, the default `data.workers`) one global batch of `--batch` at a
time through `source.batch(step, layout)`, as the training loop's background thread does,
and in memory (the folder, decoded once). Reported: images/s, median over `--steps` batches
after one warm-up batch.

Consumption: the compiled DCGAN step (configs/dcgan.py at that size, full width, `--batch`,
d_steps 1) on this machine's devices, median over 3 steps after compiling; it consumes
batch * d_steps real images per step. The ratio pipeline / consumption must be > 1 (the
pipeline runs in a background thread while the step computes, so it is then never the
bottleneck).

Memory: `--rss_files` small PNGs are generated into a temporary folder, then a subprocess
streams `--rss_steps` batches from it and records its peak resident set size (VmHWM) after
the first 10% of the steps and at the end: bounded means the two agree within the
noise, independent of how many images the folder holds (the file list is the only
per-image state: about 100 bytes a file).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def _image(rng, height, width):
  """A smooth gradient plus noise: compresses like a photo, not like white noise."""
  y, x = np.mgrid[0:height, 0:width]
  base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
  noise = rng.normal(0, 12, (height, width, 3))
  return np.clip(base + noise + rng.integers(0, 60), 0, 255).astype(np.uint8)


def _write_sets(root, size, num, rng):
  """The same images as PNG and JPEG folders, an .npz and a TFDS ArrayRecord dataset."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  height, width = int(size * 1.5), int(size * 1.25)
  images = np.stack([_image(rng, height, width) for _ in range(num)])
  for kind in ('png', 'jpg'):
    folder = os.path.join(root, kind)
    for i, image in enumerate(images):
      sub = os.path.join(folder, f'{i // 1000:03d}')
      os.makedirs(sub, exist_ok=True)
      Image.fromarray(image).save(os.path.join(sub, f'{i:06d}.{kind}'),
                                  **({'quality': 90} if kind == 'jpg' else {}))
  np.savez(os.path.join(root, 'images.npz'), images=images)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class BenchImages(tfds.core.GeneratorBasedBuilder):  # pylint: disable=unused-variable
    name = f'bench_images_{size}'
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          'image': tfds.features.Image(shape=(height, width, 3))}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {'train': self._generate_examples()}

    def _generate_examples(self):
      for i, image in enumerate(images):
        yield i, {'image': image}

  tfds.builder(f'bench_images_{size}', data_dir=os.path.join(root, 'tfds'),
               file_format='array_record').download_and_prepare()


def _rate(source, batch, steps):
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  source.prepare()
  layout = data.Layout(batch_size=batch)
  source.batch(0, layout)   # warm-up: thread pool, file system cache
  times = []
  for step in range(1, steps + 1):
    start = time.perf_counter()
    source.batch(step, layout)
    times.append(time.perf_counter() - start)
  return batch / statistics.median(times)


def throughput(size, args):
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  rows = []
  with tempfile.TemporaryDirectory() as root:
    _write_sets(root, size, args.num_images, np.random.default_rng(size))
    specs = [('folder of PNG, streamed', 'folder', os.path.join(root, 'png'), 'none'),
             ('folder of JPEG, streamed', 'folder', os.path.join(root, 'jpg'), 'none'),
             ('.npz (memory-mapped), streamed', 'npz', os.path.join(root, 'images.npz'), 'none'),
             ('TFDS ArrayRecord, streamed', f'bench_images_{size}', '', 'none'),
             ('folder of PNG, in memory', 'folder', os.path.join(root, 'png'), 'memory')]
    for label, dataset, path, cache in specs:
      config = jaxgan.config.default()
      config.data.dataset, config.data.path, config.data.cache = dataset, path, cache
      config.data.image_size = size
      if dataset.startswith('bench_images'):
        config.data.data_dir = os.path.join(root, 'tfds')
      source = data.from_config(config)
      rows.append((label, _rate(source, args.batch, args.steps)))
  return rows


def consumption(size, args):
  """Real images per second the compiled DCGAN step consumes at `size`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from configs import dcgan  # pylint: disable=g-import-not-at-top
  config = dcgan.get_config()
  config.data.dataset, config.data.image_size = 'digits', size
  config.train.batch_size = args.batch
  config.eval.every_steps = 0
  experiment = jaxgan.build(config)
  experiment.data.prepare()
  layout = experiment.layout()
  step_fn = experiment.train_step()
  state, _ = step_fn.place(experiment.init_state())
  batch = jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(step_fn.batch_sharding, x),
      experiment.data.batch(0, layout))
  state, metrics = step_fn(state, batch)   # compile
  jax.block_until_ready(metrics)
  times = []
  for _ in range(3):
    start = time.perf_counter()
    state, metrics = step_fn(state, batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  return args.batch * config.train.d_steps / statistics.median(times)


def _peak_rss_mib() -> float:
  """This process's peak resident set (VmHWM; unlike ru_maxrss, not inherited from the
  parent across fork and exec)."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(folder, batch, steps):
  """Run in a subprocess: peak RSS (MiB) after 10% of the steps and at the end."""
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  config = jaxgan.config.default()
  config.data.dataset, config.data.path, config.data.cache = 'folder', folder, 'none'
  config.data.image_size = 64
  source = data.from_config(config)
  source.prepare()
  layout = data.Layout(batch_size=batch)
  early = None
  for step in range(steps):
    source.batch(step, layout)
    if step == steps // 10:
      early = _peak_rss_mib()
  final = _peak_rss_mib()
  print(f'{source.num_examples} {early:.1f} {final:.1f}')


def memory(args):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as root:
    tiles = [_image(rng, 80, 96) for _ in range(64)]
    for i in range(args.rss_files):
      sub = os.path.join(root, f'{i // 1000:04d}')
      if i % 1000 == 0:
        os.makedirs(sub)
      Image.fromarray(tiles[i % 64]).save(os.path.join(sub, f'{i:07d}.png'), compress_level=1)
    out = subprocess.run([sys.executable, __file__, '--rss_child', root,
                          f'--batch={args.batch}', f'--rss_steps={args.rss_steps}'],
                         capture_output=True, text=True, check=True).stdout.split()
  return int(out[-3]), float(out[-2]), float(out[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', default='64,128')
  parser.add_argument('--num_images', type=int, default=2048)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--rss_files', type=int, default=100_000)
  parser.add_argument('--rss_steps', type=int, default=300)
  parser.add_argument('--skip_step', action='store_true', help='do not time the train step')
  parser.add_argument('--rss_child', default='')
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  if args.rss_child:
    rss_child(args.rss_child, args.batch, args.rss_steps)
    return
  lines = [f'# Input pipeline ({os.cpu_count()} CPUs, batch {args.batch})', '']
  for size in (int(s) for s in args.sizes.split(',') if s):
    rows = throughput(size, args)
    consumed = None if args.skip_step else consumption(size, args)
    lines += [f'## {size}x{size} (stored {int(size * 1.25)}x{int(size * 1.5)}, '
              f'{args.num_images} images)', '',
              '| source | images/s | / step consumption |', '|---|---|---|']
    for label, rate in rows:
      ratio = f'{rate / consumed:.1f}x' if consumed else '-'
      lines.append(f'| {label} | {rate:.0f} | {ratio} |')
    if consumed:
      lines += ['', f'DCGAN step (configs/dcgan.py, full width) consumes {consumed:.1f} real '
                    f'images/s.']
    lines.append('')
    print('\n'.join(lines), flush=True)
  if args.rss_files:
    count, early, final = memory(args)
    lines += ['## Streamed memory', '',
              f'{count} PNG files, {args.rss_steps} batches of {args.batch} at 64x64: peak RSS '
              f'{early:.0f} MiB after {args.rss_steps // 10} batches, {final:.0f} MiB after '
              f'{args.rss_steps} (in memory the images alone would take '
              f'{count * 64 * 64 * 3 / 2**20:.0f} MiB).', '']
  text = '\n'.join(lines)
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
