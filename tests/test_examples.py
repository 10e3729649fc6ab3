"""The package as `pip install .` builds it, used from outside the repository: a tiny
experiment built in code trains, checkpoints and resumes bit-exact, and the research example
runs through the real loop with FID."""

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

IN_CODE = r'''
import sys, tempfile
import chex, jax, numpy as np
import jaxgan
assert jaxgan.__file__.startswith(sys.argv[1]), jaxgan.__file__   # the installed copy
config = jaxgan.config.default()
config.data.dataset, config.model.name, config.model.z_dim = 'ring', 'mlp', 2
config.model.hidden, config.model.depth = 16, 2
config.train.batch_size, config.train.checkpoint_every = 32, 2
config.log.samples_every = 0
config.train.num_steps = 4
straight = jaxgan.train(jaxgan.build(config), tempfile.mkdtemp())
workdir = tempfile.mkdtemp()
config.train.num_steps = 2
jaxgan.train(jaxgan.build(config), workdir)
config.train.num_steps = 4
resumed = jaxgan.train(jaxgan.build(config), workdir)
chex.assert_trees_all_equal(jax.device_get(straight), jax.device_get(resumed))
print('resumed bit-exact at step', int(resumed.step))
'''


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """`pip install .` of this checkout (its wheel, without dependencies) in a folder of its own."""
  root = tmp_path_factory.mktemp('install')
  # A copy of the checkout, so that the build's own folders (build/, *.egg-info) stay out of it.
  source = root / 'source'
  shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
      '.git', '.venv', 'build', '*.egg-info', 'runs', '__pycache__', '.pytest_cache'))
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                  '-q', '-w', str(root / 'wheel'), str(source)], check=True,
                 capture_output=True)
  wheel, = glob.glob(str(root / 'wheel' / 'jaxgan-*.whl'))
  subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                  str(root / 'site'), wheel], check=True, capture_output=True)
  return wheel, str(root / 'site')


def _env(site):
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS',)}
  env.update({'PYTHONPATH': site, 'JAX_PLATFORMS': 'cpu'})
  return env


@pytest.mark.slow
def test_the_wheel_holds_the_library_and_its_tools_but_not_the_configs(installed):
  wheel, _ = installed
  names = zipfile.ZipFile(wheel).namelist()
  for module in ('jaxgan/__init__.py', 'jaxgan/training.py', 'jaxgan/tools/launch.py',
                 'jaxgan/report/__main__.py', 'jaxgan/metrics/inception.py'):
    assert module in names, module
  assert not [n for n in names if n.startswith(('configs/', 'tests/', 'bench/'))]
  entry_points = [n for n in names if n.endswith('entry_points.txt')][0]
  assert 'jaxgan-train = jaxgan.tools.launch:cli' in zipfile.ZipFile(wheel).read(
      entry_points).decode()


@pytest.mark.slow
def test_an_experiment_built_in_code_trains_and_resumes_from_outside_the_repo(installed, tmp_path):
  _, site = installed
  proc = subprocess.run([sys.executable, '-c', IN_CODE, site], cwd=tmp_path, env=_env(site),
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'resumed bit-exact at step 4' in proc.stdout


@pytest.mark.slow
def test_the_research_example_trains_with_its_own_loss_schedule_and_fid(installed, tmp_path):
  _, site = installed
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'examples', 'relativistic_hinge.py'),
       f'--workdir={workdir}', '--steps=4', '--fid_samples=16'],
      cwd=tmp_path, env=_env(site), capture_output=True, text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  steps = [r for r in rows if 'g/total' in r]
  assert [r['step'] for r in steps] == [1, 2, 3, 4]
  assert {'d/rahinge', 'g/rahinge', 'd/r1', 'g/lr', 'd/lr'} <= set(steps[-1])
  assert steps[0]['g/lr'] < steps[1]['g/lr']                  # the warm-up
  assert [r['step'] for r in rows if 'eval/fid' in r] == [2, 4]
  assert (workdir / 'best_fid.json').exists()
  info = json.loads((workdir / 'run_info.json').read_text())
  assert info['parts']['replaced'] == ['d_optimizer', 'g_optimizer', 'loss']
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '3', '4']   # every step, keep 3
