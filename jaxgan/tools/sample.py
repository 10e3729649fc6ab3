"""Write N generated images (or 2-D points) from a run's checkpoint.

  python -m jaxgan.tools.sample --workdir=runs/dcgan --num=50000 --out=samples.npz
  python -m jaxgan.tools.sample --workdir=runs/dcgan --num=64 --out=samples_dir/

`--out` ending in `.npz` writes uint8 NHWC images under the key 'images' (and 'labels' for
class-conditional models); anything else is a folder of PNGs. The uint8 levels are FID's
(`jaxgan.metrics.fid.to_uint8`), so `jaxgan.tools.fid` on them gives the FID that
`jaxgan.tools.evaluate` computes from the same latents (same --seed and --batch_size) without
writing them. The generator's EMA weights are used when the run kept an EMA (`--noema` for the
live weights); `--best` takes the best-FID checkpoint of a run trained with evaluators.
`--standing_step=S [--standing_max_batch=M]` first recomputes batch norm's running statistics
for the weights used (standing statistics, `jaxgan.standing`; seeded by `--seed`), as
`jaxgan.tools.evaluate` does with the same flags.
Images are generated in batches with the generator in evaluation mode. An existing --out is
never overwritten.

A 2-D run (the `ring` and `grid` mixtures, a source of (N, 2) points) writes its points as
they are: `.npz` holds float32 (N, 2) `points` (and `labels`); a folder holds `points.npy` and
`scatter.png`, the points over the data's mode centres.
"""

import os
import sys

from absl import app
from absl import flags
import numpy as np

from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan.experiment import load_run
from jaxgan.metrics import fid as fid_lib
from jaxgan.tools import common
from jaxgan.viz import images


def write(chunks, out: str, num: int) -> None:
  """Writes (images, labels) chunks to an .npz (atomically) or a folder of PNGs."""
  if out.endswith('.npz'):
    xs, ys = [], []
    for x, y in chunks:
      xs.append(fid_lib.to_uint8(x))
      if y is not None:
        ys.append(y)
      _progress(sum(len(a) for a in xs), num)
    arrays = {'images': np.concatenate(xs)}
    if ys:
      arrays['labels'] = np.concatenate(ys)
    _save_npz(out, arrays)
  else:
    os.makedirs(out, exist_ok=True)
    i = 0
    for x, _ in chunks:
      for img in fid_lib.to_uint8(x):
        images.save_png(img, os.path.join(out, f'{i:06d}.png'))
        i += 1
      _progress(i, num)
  sys.stderr.write('\n')


def _save_npz(out: str, arrays: dict) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  tmp = f'{out}.tmp-{os.getpid()}.npz'
  np.savez(tmp, **arrays)
  os.replace(tmp, out)


def _progress(done: int, total: int, what: str = 'images') -> None:
  sys.stderr.write(f'\r{done}/{total} {what}')
  sys.stderr.flush()


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_string('workdir', None, 'A training run\'s workdir.')
  flags.DEFINE_integer('num', 64, 'How many images (points for a 2-D run; >= 1).')
  flags.DEFINE_string('out', None, 'An .npz file or a folder for PNGs (must not exist).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('best', False, 'Use the best-FID checkpoint (runs evaluated with FID).')
  flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
  flags.DEFINE_integer('seed', 0, 'Seed of the latent draws.')
  flags.DEFINE_integer('batch_size', 250, 'Images generated per call (>= 1).')
  common.define_standing_flags()
  flags.mark_flags_as_required(['workdir', 'out'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  with common.user_errors():
    if f.num < 1:
      raise errors.ConfigError(f'--num={f.num} must be >= 1.')
    if f.batch_size < 1:
      raise errors.ConfigError(f'--batch_size={f.batch_size} must be >= 1.')
    if os.path.exists(f.out):
      raise errors.ConfigError(f'--out={f.out} already exists; remove it or choose another '
                               f'path (nothing is overwritten).')
    common.check_standing(f.standing_step, f.standing_max_batch)
    run = load_run(f.workdir, step=f.step, best=f.best)
    state, _ = common.sampling_state(run, ema=f.ema, seed=f.seed, standing_step=f.standing_step,
                                     standing_max_batch=f.standing_max_batch)
    chunks = run.experiment.generate(state, f.num, ema=f.ema, seed=f.seed,
                                     batch_size=f.batch_size)
    view = data_lib.sample_view(run.experiment.data)
    if hasattr(view, 'write_samples'):   # the data's own format (points: points.npy, ...)
      view.write_samples(chunks, f.out)
    else:
      write(chunks, f.out, f.num)
  print(f'Wrote {f.num} {view.noun} from step {run.step} to {f.out}')


def cli() -> None:
  _define_flags()
  common.run(main)


if __name__ == '__main__':
  cli()
