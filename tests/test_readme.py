"""Every Python block of README.md runs as written from a folder outside the repository, with
jaxgan as the README's install leaves it (the Makefile installs it into .venv, editable)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks() -> list[str]:
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    return re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)


def test_the_readme_has_python_blocks():
  assert len(_blocks()) >= 3


@pytest.mark.slow
@pytest.mark.parametrize('index', range(len(_blocks())))
def test_readme_python_block_runs_outside_the_repository(tmp_path, index):
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'XLA_FLAGS')}
  env['JAX_PLATFORMS'] = 'cpu'
  where = subprocess.run([sys.executable, '-c', 'import jaxgan; print(jaxgan.__file__)'],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
  assert where.returncode == 0, ('jaxgan is not installed in this environment; install it as '
                                 'the README says (make test does): ' + where.stderr[-500:])
  proc = subprocess.run([sys.executable, '-c', _blocks()[index]], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, f'README block {index}:\n{_blocks()[index]}\n{proc.stderr[-3000:]}'
