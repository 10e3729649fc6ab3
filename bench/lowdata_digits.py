"""Low-data GAN training on the offline digits: the DCGAN on 10% of them (180 images) without
augmentation, with DiffAugment and with ADA; FID/KID against all 1,797 digits.

  python bench/lowdata_digits.py --seeds=3 --steps=500 --num=500 --out=/tmp/lowdata \
      --table=bench/results/lowdata_digits.md

Each run is configs/dcgan_diffaug_lowdata.py (the seed's DCGAN, non-saturating loss, Adam
2e-4 / 0.5, batch 64, `data.fraction` 0.1 drawn from `train.seed`, DiffAugment
'color,translation,cutout' at p = 1) adapted to the digits at 32x32 by overrides: the widths
of configs/dcgan_digits.py (G 256, D 32 channels: the CPU demo's), `--steps` generator
updates, one checkpoint and one 64-image sample grid at the end, no evaluation during
training. The variants change only the augmentation:

  none         augment.policy=''  (the same 180 images, no augmentation)
  diffaugment  the config's DiffAugment, p = 1
  ada          the same policy with ADA's adaptive p (from 0, target r_t 0.6, adjusted every 4
               steps); augment.ada_kimg = --ada_kimg (default 10: p can go from 0 to 1 in
               10k real images, about 160 of 500 steps, as ADA's 500 kimg is a small share of
               its 25M-image runs; 500 would let p rise by at most 0.06 here)
  full         (optional, --variants) no augmentation on all 1,797 digits: what 10% costs

Seed s trains on the subset drawn from s (the same subset for every variant of a seed).
After training, `jaxgan.tools.evaluate.evaluate(workdir, num=--num, num_real=1797)` scores
the final generator (live weights: no EMA) against every digit (the reference is the whole
split, whatever `data.fraction` is; its Inception statistics are cached after the first run).
Every run's launch command is printed in the table; rerunning with the same --out reuses
finished runs (their final checkpoint) and evaluations (score.json in each workdir).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = 'configs/dcgan_diffaug_lowdata.py'
DIGITS = 1797


def overrides(variant: str, seed: int, steps: int, ada_kimg: float) -> dict:
  common = {'data.dataset': 'digits', 'data.image_size': 32, 'model.g_width': 256,
            'model.d_width': 32, 'train.num_steps': steps, 'train.seed': seed,
            'train.checkpoint_every': steps, 'log.every_steps': 100,
            'log.samples_every': steps, 'eval.every_steps': 0}
  own = {
      'none': {'augment.policy': ''},
      'diffaugment': {},
      'ada': {'augment.probability': 0.0, 'augment.ada': True, 'augment.ada_kimg': ada_kimg},
      'full': {'augment.policy': '', 'data.fraction': 1.0},
  }[variant]
  return {**common, **own}


def command(variant, seed, steps, ada_kimg, workdir) -> str:
  args = ' '.join(f"--config.{k}={v!r}" if isinstance(v, str) else f'--config.{k}={v}'
                  for k, v in overrides(variant, seed, steps, ada_kimg).items())
  return f'python launch.py --config={CONFIG} --workdir={workdir} {args}'


def train_one(variant, seed, steps, ada_kimg, workdir) -> float:
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.from_file(os.path.join(ROOT, CONFIG))
  for key, value in overrides(variant, seed, steps, ada_kimg).items():
    section, field = key.split('.')
    config[section][field] = value
  start = time.perf_counter()
  jaxgan.train(config, workdir)
  return time.perf_counter() - start


def final_p(workdir: str):
  """ADA's last logged augmentation probability (None when not logged)."""
  p = None
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      record = json.loads(line)
      p = record.get('aug/p', p)
  return p


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--variants', default='none,diffaugment,ada')
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=500)
  parser.add_argument('--num', type=int, default=500, help='generated images per FID')
  parser.add_argument('--ada_kimg', type=float, default=10.0)
  parser.add_argument('--out', default=os.path.join(tempfile.gettempdir(), 'jaxgan-lowdata'))
  parser.add_argument('--table', default='')
  args = parser.parse_args()

  import jax  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from jaxgan.tools import evaluate as evaluate_tool  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  if jax.config.jax_compilation_cache_dir is None:
    jax.config.update('jax_compilation_cache_dir',
                      os.path.join(tempfile.gettempdir(), 'jaxgan-jax-cache'))
  variants = args.variants.split(',')
  load_start, wall_start = os.getloadavg()[0], time.time()
  results = {}
  for seed in range(args.seeds):
    for variant in variants:
      workdir = os.path.join(args.out, variant, f'seed{seed}')
      score_path = os.path.join(workdir, 'score.json')
      if os.path.exists(score_path):
        with open(score_path) as f:
          results[variant, seed] = json.load(f)
        continue
      train_s = train_one(variant, seed, args.steps, args.ada_kimg, workdir)
      t0 = time.perf_counter()
      scores = evaluate_tool.evaluate(workdir, num=args.num, num_real=DIGITS, prdc=False)
      record = {'fid': scores['fid'], 'kid': scores.get('kid_mean'),
                'train_s': train_s, 'eval_s': time.perf_counter() - t0,
                'p': final_p(workdir),
                'command': command(variant, seed, args.steps, args.ada_kimg, workdir),
                'load': os.getloadavg()[0]}
      with open(score_path, 'w') as f:
        json.dump(record, f, indent=1)
      results[variant, seed] = record
      print(f'{variant} seed {seed}: FID {record["fid"]:.1f}, KID {record["kid"]:.4f}, '
            f'p {record["p"]}, train {train_s:.0f} s, eval {record["eval_s"]:.0f} s '
            f'(load {record["load"]:.1f})', flush=True)
  load_end, minutes = os.getloadavg()[0], (time.time() - wall_start) / 60

  def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

  argv = ' '.join(sys.argv[1:])
  lines = [
      f'Command: `python bench/lowdata_digits.py {argv}`',
      '',
      f'{os.cpu_count()} CPU cores shared with other jobs (1-min load average {load_start:.1f} '
      f'at start, {load_end:.1f} at end); {minutes:.0f} min for what this invocation ran.',
      '',
      '| data | augmentation | FID (mean ± std) | KID x 1000 (mean ± std) | FID per seed | '
      'KID x 1000 per seed | final ADA p per seed | train s / run |',
      '|---|---|---:|---:|---|---|---|---:|',
  ]
  names = {'none': ('10% (180)', 'none'),
           'diffaugment': ('10% (180)', "DiffAugment 'color,translation,cutout', p = 1"),
           'ada': ('10% (180)', f'ADA, same policy (p from 0, ada_kimg {args.ada_kimg:g})'),
           'full': ('100% (1,797)', 'none')}
  for variant in variants:
    runs = [results[variant, s] for s in range(args.seeds) if (variant, s) in results]
    fid_m, fid_s = mean_std([r['fid'] for r in runs])
    kid_m, kid_s = mean_std([1000 * r['kid'] for r in runs])
    ps = ', '.join('-' if r['p'] is None else '%.2f' % r['p'] for r in runs)
    fids = ', '.join('%.1f' % r['fid'] for r in runs)
    kids = ', '.join('%.1f' % (1000 * r['kid']) for r in runs)
    train_s = statistics.mean(r['train_s'] for r in runs)
    data_name, aug = names[variant]
    lines.append(
        f'| {data_name} | {aug} | {fid_m:.1f} ± {fid_s:.1f} | {kid_m:.1f} ± {kid_s:.1f} | '
        f'{fids} | {kids} | {ps if variant == "ada" else "-"} | {train_s:.0f} |')
  lines += ['', f'FID and KID of {args.num} generated images (live weights) against all '
            f'{DIGITS} digits, the TF-FID Inception weights (default_1.pt); {args.steps} '
            f'generator updates per run; seeds 0..{args.seeds - 1} (seed s draws the 10% subset).', '',
            'Each run, as a command (seed 0; the other seeds change train.seed and the workdir):',
            '']
  for variant in variants:
    if (variant, 0) in results:
      lines.append(f'    {results[variant, 0]["command"]}')
  lines.append(f'    python -m jaxgan.tools.evaluate --workdir=WORKDIR --num={args.num} '
               f'--num_real={DIGITS} --noprdc')
  table = '\n'.join(lines)
  print(table)
  if args.table:
    with open(args.table, 'w') as f:
      f.write(table + '\n')


if __name__ == '__main__':
  main()
