"""Runs the test suite one test file per pytest process, two files at a time, then prints one
closing line.

  python tests/run.py                 # every test (`make test`, what CI runs)
  python tests/run.py -m 'not slow'   # the fast tier (`make test-fast`)
  python tests/run.py tests/test_fid.py -k kid   # files and pytest's own flags
  python tests/run.py --jobs 1        # one file at a time

Why not one `pytest tests`: compiled XLA programs, the Inception network and the allocator's pools
of every earlier file stayed in the one process (peak 8.5 GB on a 2-core CI machine); a process
per file frees them, so the suite's peak memory is that of its `--jobs` largest files together (at
most 4.3 GB each, measured). Why two at a time on 2 cores: one file kept about 1.4 cores busy, and
two at a time ran the whole suite about 1.3x faster (71 min against 98 on a 2-core AMD EPYC; each
file is slower, the pair is not). Files are started slowest first (SLOWEST, from the CI log's
per-file times) so that no long file starts last; each file's output is printed whole when it
ends, with its time. Arguments that name files or folders under tests/ choose the files; every
other argument goes to each pytest. The closing line ('suite: N passed, N failed, N skipped') sums
the files' counts (errors count as failed); the exit status is 1 when any file failed, errored or
crashed.
"""

import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTS = ('passed', 'failed', 'skipped', 'errors', 'deselected')
# The files that took longest in the last CI logs, slowest first; the rest follow by name.
SLOWEST = ('test_families_train.py', 'test_phase_order.py', 'test_stylegan2_reg.py',
           'test_sagan_train.py', 'test_cli.py', 'test_train.py', 'test_losses.py',
           'test_fid.py', 'test_biggan_configs.py', 'test_evaluate.py', 'test_multiprocess.py',
           'test_gpu_bench.py')


def _files_and_args(argv: list[str]) -> tuple[list[str], list[str], int]:
  files, args = [], []
  jobs = min(2, os.cpu_count() or 1)
  argv = list(argv)
  while argv:
    arg = argv.pop(0)
    if arg in ('-j', '--jobs') or arg.startswith('--jobs='):
      value = arg.split('=', 1)[1] if '=' in arg else (argv.pop(0) if argv else '')
      jobs = int(value) if value.strip().isdigit() else value
      continue
    path = arg.split('::')[0]
    if path.endswith('.py') and os.path.isfile(path):
      files.append(arg)
    elif os.path.isdir(path):
      files.extend(sorted(glob.glob(os.path.join(path, 'test_*.py'))))
    else:
      args.append(arg)
  if not isinstance(jobs, int) or jobs < 1:
    sys.exit(f'tests/run.py: --jobs takes how many files to run at once (1 or more), not '
             f'{jobs!r}; e.g. --jobs 2.')
  files = files or sorted(glob.glob(os.path.join(HERE, 'test_*.py')))
  rank = {name: i for i, name in enumerate(SLOWEST)}
  files.sort(key=lambda f: rank.get(os.path.basename(f.split('::')[0]), len(rank)))  # stable
  return files, args, jobs


def _counts(output: str) -> dict[str, int]:
  """pytest's summary counts ('3 passed, 1 skipped in 2.0s'; 'error' and 'errors' alike)."""
  lines = [line for line in output.splitlines() if re.search(r'\d+ (passed|failed|skipped|'
                                                              r'errors?|deselected)', line)]
  found = dict.fromkeys(COUNTS, 0)
  if lines:
    for number, word in re.findall(r'(\d+) (passed|failed|skipped|errors?|deselected)',
                                   lines[-1]):
      found['errors' if word.startswith('error') else word] += int(number)
  return found


def main(argv: list[str]) -> int:
  files, args, jobs = _files_and_args(argv)
  total = dict.fromkeys(COUNTS, 0)
  bad = []
  lock = threading.Lock()
  start = time.perf_counter()

  def run(path: str) -> None:
    began = time.perf_counter()
    # --durations: each file's slowest tests in the log, where the suite's time goes.
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '--durations=3', '--durations-min=5', *args, path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    counts = _counts(proc.stdout)
    with lock:
      sys.stdout.write(f'--- {os.path.relpath(path.split("::")[0])} '
                       f'({time.perf_counter() - began:.0f} s)\n{proc.stdout}')
      sys.stdout.flush()
      for key in COUNTS:
        total[key] += counts[key]
      # 5: every test of the file deselected (e.g. all slow in the fast tier).
      if proc.returncode not in (0, 5):
        bad.append(path)
        if not counts['failed'] and not counts['errors']:
          total['errors'] += 1   # a file that crashed or could not be collected

  with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    for future in [pool.submit(run, path) for path in files]:
      future.result()
  minutes = (time.perf_counter() - start) / 60
  if bad:
    print('failed files: ' + ', '.join(os.path.relpath(p.split('::')[0]) for p in bad))
  print(f'{len(files)} files in {minutes:.1f} min, {jobs} at a time; {total["errors"]} errors, '
        f'counted as failed; {total["deselected"]} deselected')
  print(f'suite: {total["passed"]} passed, {total["failed"] + total["errors"]} failed, '
        f'{total["skipped"]} skipped')
  return 1 if bad else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
