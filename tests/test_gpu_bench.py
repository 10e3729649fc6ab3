"""bench/gpu.sh --dry-run: the one-shot GPU benchmark's code path on the CPU with tiny sizes,
so that the script works the first time a GPU is there (its real run is in README's GPU
section)."""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_benchmark_dry_run_writes_its_table(tmp_path):
  out = tmp_path / 'gpu-cpu.md'
  env = {**os.environ, 'PY': sys.executable, 'PYTHONPATH': ROOT,
         # Reruns of the test load their compilations (it compiles three programs).
         'JAX_COMPILATION_CACHE_DIR': os.path.join(tempfile.gettempdir(),
                                                   'jaxgan-test-jax-cache'),
         'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0.5'}
  env.pop('XLA_FLAGS', None)   # one CPU device, as on a one-GPU machine
  proc = subprocess.run(['bash', 'bench/gpu.sh', '--dry-run', f'--out={out}'], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  text = out.read_text()
  assert 'DRY RUN' in text
  rows = {}
  for line in text.splitlines():
    m = re.match(r'\| (DCGAN 64|SAGAN 32) px \| (\w+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| '
                 r'([\d.]+) \| (\d+) \|', line)
    if m:
      rows[(m.group(1), m.group(2))] = [float(v) for v in m.groups()[2:]]
  assert set(rows) == {('DCGAN 64', 'float32'), ('SAGAN 32', 'bfloat16')}, text
  for batch, compile_s, median, steps_per_s, images_per_s in rows.values():
    assert compile_s > 0 and median > 0
    assert abs(steps_per_s * median - 1) < 0.05                  # steps/s = 1 / median
    assert abs(images_per_s - 2 * batch * steps_per_s) <= 1       # one D and one G update
  m = re.search(r'FID of 16 generated images end to end .*: ([\d.]+) s', text)
  assert m and float(m.group(1)) > 0, text
  assert 'Skipped' not in text
