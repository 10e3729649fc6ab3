"""Write N generated images from a run's checkpoint.

  python -m jaxgan.sample --workdir=runs/dcgan --num=50000 --out=samples.npz
  python -m jaxgan.sample --workdir=runs/dcgan --num=64 --out=samples_dir/

`--out` ending in `.npz` writes uint8 NHWC images under the key 'images' (and 'labels' for
class-conditional models); anything else is a folder of PNGs. The generator's EMA weights are
used when the run kept an EMA (`--noema` for the live weights); `--best` takes the best-FID
checkpoint of a run trained with evaluators. Images are generated in
batches with the generator in evaluation mode.
"""

import json
import os
import sys
from typing import Iterator, Optional

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors, images, models, state as state_lib, steps


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise errors.CheckpointError(
        f'{path} does not exist; pass the --workdir of a jaxgan training run.')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def restore_run(workdir: str, step: Optional[int] = None, *, best: bool = False):
  """(config, generator, state) of the run in `workdir` at `step` (default: latest).

  `best`: the best-FID checkpoint that training with evaluators keeps (`workdir/best_fid`).
  """
  config = load_config(workdir)
  generator, discriminator = models.build(config)
  tx_g, tx_d = state_lib.optimizers(config)
  template = state_lib.create(config, generator, discriminator, tx_g, tx_d)
  ckpt = checkpoint_lib.Checkpointer(
      workdir, keep=1 if best else config.train.get('keep_checkpoints', 3),
      subdir=checkpoint_lib.BEST_SUBDIR if best else checkpoint_lib.SUBDIR)
  try:
    state = ckpt.restore(template, step)
  finally:
    ckpt.close()
  return config, generator, state


def generate(config, generator, state, num: int, *, ema: bool = True, seed: int = 0,
             batch_size: int = 250, sample_fn=None
             ) -> Iterator[tuple[np.ndarray, Optional[np.ndarray]]]:
  """Yields (float images in [-1, 1], labels or None) in chunks, `num` images in all.

  `sample_fn`: an already compiled `steps.make_sample_fn(generator)` to reuse (the training
  loop passes its own); class labels are drawn uniformly for conditional models.
  """
  sample = sample_fn or steps.make_sample_fn(generator)
  use_ema = ema and config.train.get('ema_decay', 0.0) > 0
  params = state.ema_params if use_ema else state.g_params
  num_classes = config.model.get('num_classes', 0)
  key = jax.random.key(seed)
  done = 0
  while done < num:
    n = min(batch_size, num - done)
    kz, ky = jax.random.split(jax.random.fold_in(key, done))
    # Always a full batch (one compiled shape); the tail of the last one is dropped.
    z = jax.random.normal(kz, (batch_size, config.model.z_dim))
    labels = jax.random.randint(ky, (batch_size,), 0, num_classes) if num_classes else None
    x = np.asarray(sample(params, state.g_state, z, labels))[:n]
    yield x, (None if labels is None else np.asarray(labels)[:n])
    done += n


def write(chunks, out: str, num: int) -> None:
  if out.endswith('.npz'):
    xs, ys = [], []
    for x, y in chunks:
      xs.append(images.to_uint8(x))
      if y is not None:
        ys.append(y)
      _progress(sum(len(a) for a in xs), num)
    arrays = {'images': np.concatenate(xs)}
    if ys:
      arrays['labels'] = np.concatenate(ys)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
  else:
    os.makedirs(out, exist_ok=True)
    i = 0
    for x, _ in chunks:
      for img in images.to_uint8(x):
        images.save_png(img, os.path.join(out, f'{i:06d}.png'))
        i += 1
      _progress(i, num)
  sys.stderr.write('\n')


def _progress(done: int, total: int) -> None:
  sys.stderr.write(f'\r{done}/{total} images')
  sys.stderr.flush()


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_string('workdir', None, 'A training run\'s workdir.')
  flags.DEFINE_integer('num', 64, 'How many images.')
  flags.DEFINE_string('out', None, 'An .npz file or a folder for PNGs.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('best', False, 'Use the best-FID checkpoint (runs evaluated with FID).')
  flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
  flags.DEFINE_integer('seed', 0, 'Seed of the latent draws.')
  flags.DEFINE_integer('batch_size', 250, 'Images generated per call.')
  flags.mark_flags_as_required(['workdir', 'out'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  try:
    config, generator, state = restore_run(f.workdir, f.step, best=f.best)
    write(generate(config, generator, state, f.num, ema=f.ema, seed=f.seed,
                   batch_size=f.batch_size), f.out, f.num)
  except errors.JaxganError as e:
    raise SystemExit(f'error: {e}') from None
  print(f'Wrote {f.num} images to {f.out}')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
