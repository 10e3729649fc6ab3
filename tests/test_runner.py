"""tests/run.py, the suite's runner (`make test`): files in their own pytest processes, two at
a time, and one closing line that sums them; a failing or uncollectable file fails the run."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_files_run_two_at_a_time_and_the_closing_line_sums_them(tmp_path):
  files = {
      'test_good.py': 'def test_one():\n  pass\n\ndef test_two():\n  pass\n',
      'test_bad.py': 'import pytest\n\ndef test_fails():\n  assert 1 == 2\n\n'
                     '@pytest.mark.skip\ndef test_skipped():\n  pass\n',
      'test_broken.py': 'def test_(:\n',     # cannot be collected
  }
  for name, text in files.items():
    (tmp_path / name).write_text(text)
  done = subprocess.run([sys.executable, os.path.join(HERE, 'run.py'), '--jobs', '2',
                         *(str(tmp_path / name) for name in files)],
                        capture_output=True, text=True, timeout=300)
  out = done.stdout
  assert done.returncode == 1, out
  assert out.strip().splitlines()[-1] == 'suite: 2 passed, 2 failed, 1 skipped', out
  assert '3 files in' in out and '2 at a time' in out, out
  failed = next(line for line in out.splitlines() if line.startswith('failed files: '))
  assert sorted(failed[len('failed files: '):].split(', ')) == sorted(
      os.path.relpath(tmp_path / name) for name in ('test_bad.py', 'test_broken.py'))
  # Each file's output is printed whole, under its own header.
  for name in files:
    assert f'--- {os.path.relpath(tmp_path / name)} (' in out, out


def test_a_passing_run_exits_zero_and_pytest_flags_reach_each_file(tmp_path):
  (tmp_path / 'test_a.py').write_text('import pytest\n\n@pytest.mark.slow\ndef test_slow():\n'
                                      '  pass\n\ndef test_fast():\n  pass\n')
  (tmp_path / 'test_b.py').write_text('import pytest\n\n@pytest.mark.slow\ndef test_slow():\n'
                                      '  pass\n')
  done = subprocess.run([sys.executable, os.path.join(HERE, 'run.py'), str(tmp_path / 'test_a.py'),
                         str(tmp_path / 'test_b.py'), '-m', 'not slow', '-W',
                         'ignore::pytest.PytestUnknownMarkWarning'],
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stdout   # test_b: all deselected (pytest's 5) is no failure
  assert done.stdout.strip().splitlines()[-1] == 'suite: 1 passed, 0 failed, 0 skipped'
  assert '2 deselected' in done.stdout


def test_a_bad_jobs_value_is_one_sentence():
  for value in ('0', 'two'):
    done = subprocess.run([sys.executable, os.path.join(HERE, 'run.py'), '--jobs', value],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and not done.stdout, done
    assert done.stderr.strip().splitlines() == [
        f'tests/run.py: --jobs takes how many files to run at once (1 or more), not '
        f'{int(value) if value.isdigit() else value!r}; e.g. --jobs 2.']
