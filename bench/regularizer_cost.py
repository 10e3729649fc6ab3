"""The cost of each regulariser and augmentation per train step, as a ratio to the plain step.

  python bench/regularizer_cost.py --reps=7 --out=bench/results/regularizer_cost.md

Every variant is the seed's DCGAN at 32x32 (configs/dcgan.py: G 4x4x512 -> 32x32x3, D
64-128-256 channels, 5x5 stride-2 convolutions, the non-saturating loss, Adam 2e-4 / 0.5) on
the offline digits, batch 64, one D and one G update per step, with the critic's batch norm
replaced by layer norm (`model.d_norm='layer'`) in every variant, the plain one included, so
that per-sample gradient penalties are allowed and the variants differ only in the term
added. `--config` takes another config file (e.g. configs/dcgan_digits.py's narrower widths).

Variants (each one `jaxgan.build` of the config with the overrides below; the weights do
not change the cost, they are the usual ones):
  plain          non_saturating
  gp             + 10 gradient_penalty (WGAN-GP's lambda)
  r1             + 5 r1 (gamma 10)
  r2             + 5 r2
  lecam          + 0.3 lecam (Tseng et al.'s CIFAR weight; stateful, no extra D pass)
  consistency    + 10 consistency (bCR, both sides) with augment.policy='translation' at
                 probability 0 (T for the penalty only; D's own images are not augmented,
                 but the step still draws and masks the translation of every image D sees)
  diffaugment    augment.policy='color,translation,cutout', probability 1
  ada            the same policy with ADA (p from 0, adjusted every 4 steps)

Measurement: every variant is built and compiled once, stepped `--warmup` times, then the
variants are interleaved with the plain step, P V1 P V2 P ... Vn P, for `--reps` repetitions;
each slot runs `--steps` steps and records the mean seconds per step (after
`jax.block_until_ready` of the step's metrics). A variant's ratio in one repetition is its
step time over the mean of the two plain slots beside it; the table gives the median of the
per-repetition ratios (and their range), and the median step time. The 1-minute load average
is read at start and end: the machine's cores are shared, and only the interleaved ratios
are comparable across loads.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {
    'plain': {},
    'gp': {'loss.regularizers': {'gradient_penalty': 10.0}},
    'r1': {'loss.regularizers': {'r1': 5.0}},
    'r2': {'loss.regularizers': {'r2': 5.0}},
    'lecam': {'loss.regularizers': {'lecam': 0.3}},
    'consistency': {'loss.regularizers': {'consistency': 10.0},
                    'augment.policy': 'translation', 'augment.probability': 0.0},
    'diffaugment': {'augment.policy': 'color,translation,cutout', 'augment.probability': 1.0},
    'ada': {'augment.policy': 'color,translation,cutout', 'augment.probability': 0.0,
            'augment.ada': True},
}

DESCRIPTION = {
    'plain': 'non_saturating (layer-norm critic)',
    'gp': '+ 10 gradient_penalty',
    'r1': '+ 5 r1',
    'r2': '+ 5 r2',
    'lecam': '+ 0.3 lecam',
    'consistency': "+ 10 consistency (bCR; T = 'translation', D's images at p = 0)",
    'diffaugment': "DiffAugment 'color,translation,cutout', p = 1",
    'ada': "ADA, same policy, p from 0",
}


def _load() -> float:
  return os.getloadavg()[0]


class Variant:
  """One compiled variant: its experiment, its state (donated and replaced by each step) and a
  fixed real batch already on the device."""

  def __init__(self, name, config_path, image_size, batch, overrides):
    import jax  # pylint: disable=g-import-not-at-top
    import jaxgan  # pylint: disable=g-import-not-at-top
    from jaxgan import config as config_lib, data  # pylint: disable=g-import-not-at-top
    config = config_lib.from_file(config_path)
    config.data.dataset = 'digits'
    config.data.image_size = image_size
    config.model.d_norm = 'layer'
    config.train.batch_size = batch
    config.train.d_steps = 1
    config.eval.every_steps = 0
    for key, value in overrides.items():
      section, field = key.split('.')
      config[section][field] = value
    self.name = name
    self.experiment = jaxgan.build(config)
    self.step = self.experiment.train_step()
    self.experiment.data.prepare()
    layout = data.Layout(batch_size=batch, d_steps=1, local_devices=len(self.step.devices))
    self.state, self.batch = self.step.place(self.experiment.init_state(),
                                             self.experiment.data.batch(0, layout))
    self._jax = jax

  def run(self, n: int) -> float:
    """Runs n steps; returns the mean seconds per step."""
    if n < 1:
      return 0.0
    start = time.perf_counter()
    for _ in range(n):
      self.state, metrics = self.step(self.state, self.batch)
    self._jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / n


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/dcgan.py')
  parser.add_argument('--image_size', type=int, default=32)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--steps', type=int, default=2, help='steps per slot')
  parser.add_argument('--warmup', type=int, default=2, help='untimed steps per variant')
  parser.add_argument('--variants', default=','.join(VARIANTS))
  parser.add_argument('--out', default='', help='markdown table path (also writes .json)')
  args = parser.parse_args()
  names = [n for n in args.variants.split(',') if n != 'plain']
  unknown = [n for n in names if n not in VARIANTS]
  if unknown:
    parser.error(f'unknown variants {unknown}; choose from {", ".join(VARIANTS)}')

  import jax  # pylint: disable=g-import-not-at-top
  load_start, wall_start = _load(), time.time()
  variants = {}
  compile_s = {}
  for name in ['plain'] + names:
    t0 = time.perf_counter()
    variants[name] = Variant(name, args.config, args.image_size, args.batch, VARIANTS[name])
    variants[name].run(1)                          # compiles
    compile_s[name] = time.perf_counter() - t0
    variants[name].run(args.warmup)
    print(f'{name}: built and compiled in {compile_s[name]:.1f} s '
          f'(loss {variants[name].experiment.loss!r})', flush=True)

  times = {name: [] for name in variants}
  ratios = {name: [] for name in names}
  for rep in range(args.reps):
    plain = [variants['plain'].run(args.steps)]
    for name in names:
      t = variants[name].run(args.steps)
      plain.append(variants['plain'].run(args.steps))
      times[name].append(t)
      ratios[name].append(t / (0.5 * (plain[-2] + plain[-1])))
    times['plain'] += plain
    print(f'rep {rep}: plain {statistics.median(plain):.3f} s; ' + ', '.join(
        f'{n} {ratios[n][-1]:.2f}' for n in names) + f' (load {_load():.1f})', flush=True)
  load_end = _load()
  minutes = (time.time() - wall_start) / 60

  command = 'python bench/regularizer_cost.py ' + ' '.join(sys.argv[1:])
  lines = [
      f'Command: `{command.strip()}`',
      '',
      f'{os.cpu_count()} CPU cores shared with other jobs: 1-min load average {load_start:.1f} '
      f'at start, {load_end:.1f} at end; {minutes:.1f} min; jax {jax.__version__} on '
      f'{jax.devices()[0].platform.upper()}. Config {args.config} on digits at '
      f'{args.image_size}x{args.image_size}, batch {args.batch}, critic with layer norm; '
      f'{args.reps} repetitions of P V1 P V2 ... P, {args.steps} steps per slot.',
      '',
      '| variant | step time / plain step (median of reps) | range over reps | median step | '
      'compile + first step |',
      '|---|---:|---:|---:|---:|',
      f'| {DESCRIPTION["plain"]} | 1 | - | {statistics.median(times["plain"]):.3f} s | '
      f'{compile_s["plain"]:.0f} s |',
  ]
  for name in names:
    lines.append(
        f'| {DESCRIPTION[name]} | **{statistics.median(ratios[name]):.2f}** | '
        f'{min(ratios[name]):.2f}-{max(ratios[name]):.2f} | '
        f'{statistics.median(times[name]):.3f} s | {compile_s[name]:.0f} s |')
  table = '\n'.join(lines)
  print(table)
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
      f.write(table + '\n')
    with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
      json.dump({'command': command, 'load_start': load_start, 'load_end': load_end,
                 'seconds_per_step': times, 'ratios': ratios, 'compile_s': compile_s}, f,
                indent=1)


if __name__ == '__main__':
  main()
