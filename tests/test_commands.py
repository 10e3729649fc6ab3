"""The documented commands as an installed user runs them: every shipped config loads by path
from any folder with only the jaxgan package importable, and every console script's `--help`
lists its own flags."""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import chex
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', '*.py'))
                 if not p.endswith('__init__.py'))


def _installed_only(tmp_path):
  """An environment in which `jaxgan` imports from this tree but the repository does not:
  PYTHONPATH holds only a folder with a link to the package (as site-packages would)."""
  site = tmp_path / 'site'
  site.mkdir()
  os.symlink(os.path.join(ROOT, 'jaxgan'), site / 'jaxgan')
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': str(site)}
  env.pop('XLA_FLAGS', None)
  env.pop('JAXGAN_TRACEBACK', None)
  work = tmp_path / 'elsewhere'
  work.mkdir()
  return env, work


@pytest.mark.slow
def test_every_shipped_config_loads_by_path_from_any_folder(tmp_path):
  assert len(CONFIGS) >= 16
  env, work = _installed_only(tmp_path)
  script = textwrap.dedent('''
      import importlib.util, json, sys
      from absl import flags
      from jaxgan import config as config_lib
      from jaxgan.tools import launch
      # What the test is about: the repository's configs/ is not a package here.
      assert importlib.util.find_spec('configs') is None, sys.path
      launch._define_flags()
      loaded = {}
      for path in sys.argv[1:]:
        config = config_lib.from_file(path)             # jaxgan.config, research scripts
        flags.FLAGS.unparse_flags()
        launch._parse_flags(['jaxgan-train', '--config=' + path, '--workdir=w'])   # the CLI
        assert flags.FLAGS.config.to_dict() == config.to_dict(), path
        loaded[path] = config.model.name
      assert 'configs' not in sys.modules
      print(json.dumps(loaded))
  ''')
  proc = subprocess.run([sys.executable, '-c', script] + CONFIGS, cwd=work, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
  loaded = json.loads(proc.stdout.strip().splitlines()[-1])
  assert sorted(loaded) == CONFIGS
  assert set(loaded.values()) == {'dcgan', 'sagan', 'mlp', 'biggan', 'r3gan', 'stylegan2'}


@pytest.mark.parametrize('script, module', [
    ('jaxgan-train', 'jaxgan.tools.launch'),
    ('jaxgan-sample', 'jaxgan.tools.sample'),
    ('jaxgan-fid', 'jaxgan.tools.fid'),
    ('jaxgan-evaluate', 'jaxgan.tools.evaluate'),
    ('jaxgan-report', 'jaxgan.report.__main__'),
    ('jaxgan-study', 'jaxgan.study.__main__'),
])
@pytest.mark.slow
def test_every_console_script_help_lists_its_own_flags(tmp_path, script, module):
  env, work = _installed_only(tmp_path)
  names = tmp_path / 'names.json'
  # As pyproject's [project.scripts] wrapper runs it (`__main__` is the wrapper, argv[0] the
  # script), recording the flags the tool defines.
  runner = textwrap.dedent(f'''
      import json, sys
      from absl import flags
      import {module} as tool
      sys.argv[0] = {script!r}
      define = tool._define_flags
      def record():
        define()
        with open({str(names)!r}, 'w') as f:
          json.dump([(fl.name, fl.help) for fl in flags.FLAGS.get_flags_for_module(
              {module!r})], f)
      tool._define_flags = record
      sys.exit(tool.cli())
  ''')
  proc = subprocess.run([sys.executable, '-c', runner, '--help'], cwd=work, env=env,
                        capture_output=True, text=True, timeout=600)
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]   # (absl exits 1 after help)
  defined = json.loads(names.read_text())
  assert len(defined) >= 2
  out = ' '.join(proc.stdout.split())
  for name, help_text in defined:
    assert f'--{name}:' in out or f'--[no]{name}:' in out, (name, proc.stdout)
    assert ' '.join(help_text.split())[:40] in out, (name, proc.stdout)
  doc = sys.modules[module].__doc__ if module in sys.modules else None
  if doc is None:
    __import__(module)
    doc = sys.modules[module].__doc__
  assert ' '.join(doc.split()[:8]) in out, proc.stdout


def _tool(args, cwd):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  env.pop('XLA_FLAGS', None)
  env.pop('JAXGAN_TRACEBACK', None)
  return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=600)


@pytest.mark.slow
def test_sample_tool_writes_a_2d_runs_points_not_images(tmp_path):
  import jaxgan   # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config   # pylint: disable=g-import-not-at-top
  config = tiny_config('ring', **{'train.num_steps': 2, 'train.checkpoint_every': 2,
                                  'log.samples_every': 0})
  jaxgan.train(config, str(tmp_path / 'run'))
  tool = ['-m', 'jaxgan.tools.sample', f'--workdir={tmp_path / "run"}', '--num=300',
          '--batch_size=128', '--seed=3']
  proc = _tool(tool + [f'--out={tmp_path / "points.npz"}'], tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Wrote 300 points' in proc.stdout
  with np.load(tmp_path / 'points.npz') as saved:
    assert sorted(saved.files) == ['points']
    points = saved['points']
  assert points.shape == (300, 2) and points.dtype == np.float32
  # The generator's own outputs, not quantised levels: what load_run generates in-process.
  run = jaxgan.load_run(str(tmp_path / 'run'))
  expected = np.concatenate([x for x, _ in run.generate(300, seed=3, batch_size=128)])
  chex.assert_trees_all_close(points, expected, rtol=1e-5, atol=1e-6)
  assert len(np.unique(points)) > 300      # continuous values (uint8 "images" have <= 256)
  proc = _tool(tool + [f'--out={tmp_path / "folder"}'], tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  np.testing.assert_array_equal(np.load(tmp_path / 'folder' / 'points.npy'), points)
  from PIL import Image   # pylint: disable=g-import-not-at-top
  with Image.open(tmp_path / 'folder' / 'scatter.png') as picture:
    assert picture.size[0] > 100 and picture.size[1] > 100
  assert sorted(os.listdir(tmp_path / 'folder')) == ['points.npy', 'scatter.png']
  # Standing statistics need batch norm, which this MLP has not: one sentence, nothing written.
  proc = _tool(tool + ['--standing_step=2', f'--out={tmp_path / "standing.npz"}'], tmp_path)
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert proc.stderr.strip().splitlines()[-1].startswith('error: standing statistics recompute')
  assert not os.path.exists(tmp_path / 'standing.npz')


def test_the_readme_states_a_measured_time_for_each_library_snippet():
  # The README promised "a few seconds on a CPU" for snippets that take tens of seconds; it
  # now states each one's measured CPU time (no timing here: it depends on the machine).
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    readme = f.read()
  assert 'few seconds' not in readme
  below = readme[readme.index('Every snippet below'):]
  blocks = below.count('```python\n')
  claim = ' '.join(below[:below.index('```python\n')].split())
  assert 'CPU time' in claim and 'AMD EPYC' in claim, claim
  times = re.findall(r'about (\d+) s\b', claim)
  assert len(times) == blocks >= 3, (blocks, claim)
