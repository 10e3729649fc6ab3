"""Runs the test suite one test file per pytest process, then prints one closing line.

  python tests/run.py                 # every test (`make test`, what CI runs)
  python tests/run.py -m 'not slow'   # the fast tier (`make test-fast`)
  python tests/run.py tests/test_fid.py -k kid   # files and pytest's own flags

Why not one `pytest tests`: compiled XLA programs, the Inception network and the allocator's
pools of every earlier file stayed in the one process (peak 8.5 GB on a 2-core CI machine);
a process per file frees them, so the suite's peak memory is that of its largest file. Arguments
that name files or folders under tests/ choose the files; every other argument goes to each
pytest. The closing line ('suite: N passed, N failed, N skipped') sums the files' counts (errors
count as failed); the exit status is 1 when any file failed, errored or crashed.
"""

import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTS = ('passed', 'failed', 'skipped', 'errors', 'deselected')


def _files_and_args(argv: list[str]) -> tuple[list[str], list[str]]:
  files, args = [], []
  for arg in argv:
    path = arg.split('::')[0]
    if path.endswith('.py') and os.path.isfile(path):
      files.append(arg)
    elif os.path.isdir(path):
      files.extend(sorted(glob.glob(os.path.join(path, 'test_*.py'))))
    else:
      args.append(arg)
  return files or sorted(glob.glob(os.path.join(HERE, 'test_*.py'))), args


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
  files, args = _files_and_args(argv)
  total = dict.fromkeys(COUNTS, 0)
  bad = []
  start = time.perf_counter()
  for path in files:
    # --durations: each file's slowest tests in the log, where the suite's time goes.
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '--durations=3', '--durations-min=5', *args, path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(f'--- {os.path.relpath(path.split("::")[0])}\n{proc.stdout}')
    sys.stdout.flush()
    counts = _counts(proc.stdout)
    for key in COUNTS:
      total[key] += counts[key]
    # 5: every test of the file deselected (e.g. all slow in the fast tier).
    if proc.returncode not in (0, 5):
      bad.append(path)
      if not counts['failed'] and not counts['errors']:
        total['errors'] += 1   # a file that crashed or could not be collected
  minutes = (time.perf_counter() - start) / 60
  if bad:
    print('failed files: ' + ', '.join(os.path.relpath(p.split('::')[0]) for p in bad))
  print(f'{len(files)} files in {minutes:.1f} min; {total["errors"]} errors, counted as failed; '
        f'{total["deselected"]} deselected')
  print(f'suite: {total["passed"]} passed, {total["failed"] + total["errors"]} failed, '
        f'{total["skipped"]} skipped')
  return 1 if bad else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
