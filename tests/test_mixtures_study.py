"""The 2-D mode-collapse study: its command end to end on a tiny sweep, and its table."""

import os
import subprocess
import sys

import pytest

from jaxgan import config as config_lib
from jaxgan import errors
from jaxgan.study import mixtures as study


def _rows(table: str, mixture: str) -> dict[str, list[str]]:
  """Result rows of `mixture` as {loss: cells}."""
  rows = {}
  for line in table.splitlines():
    cells = [c.strip() for c in line.strip('|').split('|')]
    if line.startswith(f'| {mixture} (') and cells[1] in study.FAMILIES:
      rows[cells[1]] = cells
  return rows


def _mean(cell: str) -> float:
  return float(cell.split('±')[0])


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_command_writes_a_table_of_in_range_numbers(tmp_path):
  env = {**os.environ, 'PYTHONPATH': ROOT}
  env.pop('XLA_FLAGS', None)   # the command as users run it: one CPU device
  proc = subprocess.run(
      [sys.executable, '-m', 'jaxgan.study.mixtures', '--mixtures=ring',
       '--losses=non_saturating,wasserstein_gp', '--seeds=1', '--steps=20', f'--out={tmp_path}'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  table = (tmp_path / 'mixtures.md').read_text()
  rows = _rows(table, 'ring')
  assert sorted(rows) == ['non_saturating', 'wasserstein_gp']
  for cells in rows.values():
    assert cells[2] == '20'                                   # steps
    assert 0 <= _mean(cells[3]) <= 8                          # modes covered
    assert 0 <= _mean(cells[4]) <= 100                        # high-quality %
    assert 0 <= float(cells[5]) <= 8 and 0 <= float(cells[6]) <= 100   # the one seed
  assert '--losses=non_saturating,wasserstein_gp --seeds=1 --steps=20' in table
  # Both phases of the learning-rate decay ran in the run's own workdir.
  assert (tmp_path / 'ring' / 'wasserstein_gp' / 'steps20_seed0' / 'checkpoints' / '20').is_dir()


def test_format_table_rows_means_and_settings():
  results = [
      study.RunResult('grid', 'hinge', seed, 100, modes, 25, hq, 10.0)
      for seed, (modes, hq) in enumerate([(25, 0.96), (24, 0.94), (23, 0.95)])]
  results.append(study.RunResult('ring', 'hinge', 0, 50, 8, 8, 0.5, 3.0))
  table = study.format_table(results, command='python -m jaxgan.study.mixtures --seeds=3',
                             wall_seconds=90.0, environment='test machine')
  grid = _rows(table, 'grid')['hinge']
  assert grid[:5] == ['grid (25)', 'hinge', '100', '24.0 ± 1.0', '95.0 ± 1.0']
  assert grid[5:] == ['25, 24, 23', '96.0, 94.0, 95.0', '10']
  ring = _rows(table, 'ring')['hinge']
  assert ring[3:5] == ['8.0 ± 0.0', '50.0 ± 0.0']             # one seed: std 0
  assert 'Command: `python -m jaxgan.study.mixtures --seeds=3`' in table
  assert 'Sweep wall time: 1.5 min for 4 runs; test machine.' in table
  assert table.count('| hinge | hinge |') == 1                 # one settings row per family
  assert '17.3 | 94.8' in table and '7.8 | 95.9' in table     # published anchors


def test_unknown_loss_is_a_one_line_error(tmp_path):
  with pytest.raises(errors.ConfigError, match='losses'):
    study.sweep(['ring'], ['wgan'], 1, str(tmp_path))


@pytest.mark.parametrize('mixture', ['ring', 'grid'])
def test_toy_configs_are_the_benchmarks_seed_0_runs(mixture):
  """configs/toy_<mixture>.py trains what the benchmark's run of its family trains (issue 13:
  the toy grid config with a README override used to cover 5 of 25 modes)."""
  configs = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'configs')
  for suffix, family in (('', 'non_saturating'), (':rpgan', 'rpgan'), (':hinge', 'hinge')):
    toy = config_lib.from_file(os.path.join(configs, f'toy_{mixture}.py') + suffix)
    bench = study.make_config(mixture, family, seed=0)
    for section in ('data', 'model', 'loss', 'optim', 'augment'):
      assert toy[section].to_dict() == bench[section].to_dict(), (family, section)
    for key in ('num_steps', 'seed', 'batch_size', 'd_steps'):
      assert toy.train[key] == bench.train[key], (family, key)
  assert toy.log.samples_every == 500 and toy.train.checkpoint_every == 1_000
  with pytest.raises(errors.ConfigError, match='unknown loss family'):
    config_lib.from_file(os.path.join(configs, f'toy_{mixture}.py:nope'))
