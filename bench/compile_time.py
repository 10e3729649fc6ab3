"""First-step latency of `launch` with and without the persistent compilation cache.

  python bench/compile_time.py --model=dcgan --image_size=32 --batch=64
  python bench/compile_time.py --model=sagan --batch=64

Starts the training command line as a user does (configs/dcgan.py or configs/sagan_hinge.py
on the offline digits, one training step, no evaluation or sample grids), each time in a fresh
workdir, one start after the other:

  1. no cache             (config.train.compilation_cache='')
  2. no cache, again      (what every start and resume costs today)
  3. cache, first start   (an empty cache folder: compiles and writes the cache)
  4. cache, second start  (a fresh workdir, the same cache folder: loads the step)

and reports the loop's "first step done in X s (compilation included)" (the train step's
compilation and first run) and the whole process's wall time (imports, data, state
initialisation, the step, the final checkpoint). The 1-minute load average is printed with
each start.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(model: str, image_size: int, batch: int, workdir: str, cache: str) -> dict:
  """One `python launch.py ...` run of one step; its first-step and wall times."""
  config = {'dcgan': 'configs/dcgan.py', 'sagan': 'configs/sagan_hinge.py'}[model]
  args = [sys.executable, 'launch.py', f'--config={config}', f'--workdir={workdir}',
          '--config.data.dataset=digits', f'--config.data.image_size={image_size}',
          f'--config.train.batch_size={batch}', '--config.train.num_steps=1',
          '--config.eval.every_steps=0', '--config.log.samples_every=0',
          '--config.log.attention_every=0', f'--config.train.compilation_cache={cache}']
  env = {**os.environ, 'PYTHONPATH': ROOT}
  env.pop('XLA_FLAGS', None)
  load = os.getloadavg()[0]
  t0 = time.perf_counter()
  proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
  wall = time.perf_counter() - t0
  if proc.returncode:
    raise RuntimeError(f'launch failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  m = re.search(r'first step done in ([\d.]+) s', proc.stderr)
  return {'first_step_s': float(m.group(1)) if m else None, 'wall_s': wall, 'load': load}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='dcgan', choices=('dcgan', 'sagan'))
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  args = parser.parse_args()
  tmp = tempfile.mkdtemp(prefix='jaxgan-compile-time-')
  cache = os.path.join(tmp, 'xla-cache')
  runs = [('no cache', ''), ('no cache, again', ''), ('cache, first start', cache),
          ('cache, second start', cache)]
  print(f'{args.model} {args.image_size}x{args.image_size} batch {args.batch}: python '
        f'bench/compile_time.py ' + ' '.join(sys.argv[1:]), flush=True)
  try:
    for i, (name, folder) in enumerate(runs):
      r = start(args.model, args.image_size, args.batch, os.path.join(tmp, f'run{i}'), folder)
      size = ''
      if folder:
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder)
                    for f in fs)
        size = f', cache folder {total / 2**20:.0f} MiB'
      print(f'  {name:20s} first step {r["first_step_s"]:6.1f} s, process {r["wall_s"]:6.1f} s '
            f'(load {r["load"]:.2f}{size})', flush=True)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  print(f'  load at end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
