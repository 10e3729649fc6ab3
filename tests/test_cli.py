"""The command-line tools as users run them: one `error:` line (no traceback) for every
problem a user can fix, exit 143 after a preemption save, and logs without library noise."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxgan
from jaxgan import config as jaxgan_config
from tests.util import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ['--config=configs/toy_ring.py', '--config.model.hidden=32',
       '--config.train.batch_size=64', '--config.log.samples_every=0']


def _env(**extra):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT, **extra}
  env.pop('XLA_FLAGS', None)   # as users run it: one CPU device
  env.pop('JAXGAN_TRACEBACK', None)
  return env


def _run(args, **kwargs):
  return subprocess.run([sys.executable] + args, cwd=ROOT, env=_env(), capture_output=True,
                        text=True, timeout=600, **kwargs)


def _one_error_line(proc, pattern: str) -> None:
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1, proc.stderr[-2000:]
  assert pattern in errors[0], errors[0]


@pytest.mark.slow
def test_launcher_config_mistakes_are_one_line(tmp_path):
  bad = tmp_path / 'bad.py'
  bad.write_text('def get_config(:\n')
  cases = [
      (['--config=configs/nope.py'], 'cannot read the config file'),
      ([f'--config={bad}'], 'syntax error'),
      (['--config=configs/toy_ring.py', '--config.train.num_stepz=3'], 'unknown config key'),
      (['--config=configs/toy_ring.py', '--config.model.hidden=0'],
       'config.model.hidden=0 must be an integer >= 1'),
      (['--config=configs/toy_grid.py:nope'], "error: unknown loss family 'nope'; choose from"),
      (['--config=configs/dcgan_digits.py', '--config.data.dataset=cifar10',
        f'--config.data.data_dir={tmp_path}/tfds'], "TFDS dataset 'cifar10' is not prepared"),
  ]
  for args, pattern in cases:
    proc = _run(['launch.py', f'--workdir={tmp_path / "run"}'] + args)
    _one_error_line(proc, pattern)
  (tmp_path / 'file').write_text('x')
  _one_error_line(_run(['launch.py', f'--workdir={tmp_path / "file"}'] + TOY), 'is a file')
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_launcher_logs_progress_and_no_orbax_info_then_exits_143_on_sigterm(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, 'launch.py', f'--workdir={tmp_path}'] + TOY + [
          '--config.train.num_steps=100000', '--config.train.checkpoint_every=100000',
          '--config.log.every_steps=50'],
      cwd=ROOT, env=_env(), stderr=subprocess.PIPE, text=True)
  lines = []
  start = time.time()
  for line in proc.stderr:
    lines.append(line)
    if 'first step done' in line:
      time.sleep(1.0)
      proc.send_signal(signal.SIGTERM)
      break
    assert time.time() - start < 300, ''.join(lines)
  lines += proc.stderr.readlines()
  assert proc.wait(timeout=120) == 143, ''.join(lines[-20:])
  log = ''.join(lines)
  assert 'preempted: SIGTERM: saved a checkpoint at step' in log
  assert not [l for l in lines if '/orbax/' in l or 'orbax' in l.split(']')[0]], log
  assert 'Traceback' not in log
  steps = [int(n) for n in os.listdir(tmp_path / 'checkpoints') if n.isdigit()]
  assert len(steps) == 1 and steps[0] >= 1
  # The same command resumes from that checkpoint.
  proc = _run(['launch.py', f'--workdir={tmp_path}'] + TOY + [
      f'--config.train.num_steps={steps[0] + 2}', '--config.log.every_steps=1'])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f'Resumed from {tmp_path}/checkpoints at step {steps[0]}' in proc.stderr


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_notice_and_a_foreign_one_one_error(tmp_path):
  # The run the command below resumes: configs/toy_ring.py with TOY's overrides.
  config = jaxgan.config.from_file(os.path.join(ROOT, 'configs', 'toy_ring.py'))
  config.model.hidden, config.model.depth, config.train.batch_size = 32, 2, 64
  config.train.num_steps, config.train.checkpoint_every, config.log.samples_every = 4, 2, 0
  jaxgan.train(config, str(tmp_path))
  for root, _, files in os.walk(tmp_path / 'checkpoints' / '4'):
    for f in files:
      if 'metadata' not in f and os.path.getsize(os.path.join(root, f)):
        with open(os.path.join(root, f), 'r+b') as fh:
          fh.write(os.urandom(64))
  args = ['launch.py', f'--workdir={tmp_path}'] + TOY + [
      '--config.train.num_steps=6', '--config.train.checkpoint_every=2', '--config.model.depth=2']
  proc = _run(args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr and 'Exception ignored' not in proc.stderr
  notices = [l for l in proc.stderr.splitlines() if 'failed to restore' in l]
  assert len(notices) == 1 and 'damaged_checkpoints' in notices[0], proc.stderr[-3000:]
  # A checkpoint of another model: one error line, and config.json as it was.
  saved = (tmp_path / 'config.json').read_bytes()
  proc = _run(args[:-1] + ['--config.model.depth=3', '--config.train.num_steps=8'])
  _one_error_line(proc, 'different config')
  assert (tmp_path / 'config.json').read_bytes() == saved


@pytest.mark.slow
def test_launcher_trains_r3gan_rpgan_with_r1_and_r2_on_digits(tmp_path):
  # configs/r3gan_rpgan.py as published (class-conditional SAGAN, RpGAN + R1 + R2) with tiny
  # widths on the offline digits, which have 10 labels as CIFAR-10 has.
  proc = _run(['launch.py', f'--workdir={tmp_path}', '--config=configs/r3gan_rpgan.py',
               '--config.data.dataset=digits', '--config.data.image_size=32',
               '--config.model.g_width=16', '--config.model.d_width=16',
               '--config.train.batch_size=16', '--config.train.num_steps=2',
               '--config.train.checkpoint_every=2', '--config.log.every_steps=1',
               '--config.log.samples_every=0', '--config.eval.every_steps=0'])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'loss: rpgan + 0.025 * r1 + 0.025 * r2.' in proc.stderr, proc.stderr[-3000:]
  assert (tmp_path / 'checkpoints' / '2').is_dir()
  config = json.loads((tmp_path / 'config.json').read_text())
  loss = config['loss']
  assert {key: loss[key] for key in ('name', 'regularizers', 'regularizer_interval',
                                     'path_length', 'reg_phases')} == {
      'name': 'rpgan', 'regularizers': {'r1': 0.025, 'r2': 0.025}, 'regularizer_interval': 1,
      'path_length': 0.0, 'reg_phases': 'joined'}
  assert set(loss) == set(jaxgan_config.default().loss), sorted(loss)
  assert config['model']['num_classes'] == 10
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2]
  for record in records:
    for key in ('d/rpgan', 'd/r1', 'd/r2', 'g/rpgan', 'd/total', 'g/total'):
      assert math.isfinite(record[key]), (key, record)
    assert record['d/r1'] > 0 and record['d/r2'] > 0       # the penalties ran, not zeros
    # D's loss is the objective plus the penalties (logged with their weights gamma / 2).
    assert record['d/total'] == pytest.approx(record['d/rpgan'] + record['d/r1'] + record['d/r2'],
                                              rel=1e-5)


@pytest.mark.slow
def test_sample_tool_bad_values_and_a_good_run(tmp_path):
  config = tiny_config('digits', **{'train.num_steps': 1, 'train.checkpoint_every': 1,
                                    'log.samples_every': 0})
  jaxgan.train(config, str(tmp_path / 'run'))
  tool = ['-m', 'jaxgan.tools.sample', f'--workdir={tmp_path / "run"}']
  _one_error_line(_run(tool + ['--num=4', '--batch_size=0', f'--out={tmp_path}/a.npz']),
                  '--batch_size=0 must be >= 1')
  _one_error_line(_run(tool + ['--num=0', f'--out={tmp_path}/a.npz']), '--num=0 must be >= 1')
  _one_error_line(_run(['-m', 'jaxgan.tools.sample', f'--workdir={tmp_path}/none',
                        f'--out={tmp_path}/a.npz']), 'is not a folder')
  proc = _run(tool + ['--num=5', '--batch_size=2', f'--out={tmp_path}/a.npz'])
  assert proc.returncode == 0, proc.stderr[-2000:]
  images = np.load(tmp_path / 'a.npz')['images']
  assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
  _one_error_line(_run(tool + ['--num=5', f'--out={tmp_path}/a.npz']), 'already exists')


@pytest.mark.slow
def test_fid_tool_bad_inputs_are_one_line(tmp_path):
  rng = np.random.default_rng(0)
  np.savez(tmp_path / 'good.npz', images=rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8))
  np.savez(tmp_path / 'keys.npz', pictures=np.zeros((4, 8, 8, 3), np.uint8),
           extra=np.zeros(3))
  data = (tmp_path / 'good.npz').read_bytes()
  (tmp_path / 'cut.npz').write_bytes(data[:len(data) // 2])
  good = str(tmp_path / 'good.npz')
  cases = [
      ([good, good, '--batch_size=0'], '--batch-size=0 must be >= 1'),
      ([str(tmp_path / 'cut.npz'), good], 'is not a readable .npz file'),
      ([str(tmp_path / 'keys.npz'), good], 'none named "images"'),
  ]
  for args, pattern in cases:
    _one_error_line(_run(['-m', 'jaxgan.tools.fid'] + args), pattern)


@pytest.mark.slow
def test_study_refuses_a_busy_or_unwritable_study_directory(tmp_path):
  import fcntl  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'study'
  out.mkdir()
  args = ['-m', 'jaxgan.study', '--study=mixtures', '--runs=ring_hinge', f'--out={out}',
          '--set', 'train.num_steps=2', '--set', 'model.hidden=8']
  with open(out / '.lock', 'w') as held:
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _one_error_line(_run(args), 'another jaxgan process is running a study')
  (tmp_path / 'file').write_text('x')
  args[4] = f'--out={tmp_path / "file"}'
  _one_error_line(_run(args), '--out=' + str(tmp_path / 'file') + ' is a file')


@pytest.mark.slow
def test_launcher_compilation_cache_is_written_and_a_bad_folder_is_one_line(tmp_path):
  cache = tmp_path / 'xla'
  args = [sys.executable, 'launch.py', f'--workdir={tmp_path / "run"}'] + TOY + [
      '--config.train.num_steps=1', f'--config.train.compilation_cache={cache}']
  # Every compilation is written (JAX's default skips those under a second).
  proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                        env=_env(JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0'))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert cache.is_dir() and os.listdir(cache), 'no compilation was written to the cache'
  (tmp_path / 'a_file').write_text('x')
  _one_error_line(_run(['launch.py', f'--workdir={tmp_path / "run2"}'] + TOY + [
      f'--config.train.compilation_cache={tmp_path / "a_file" / "xla"}']),
                  'config.train.compilation_cache=')
  assert not (tmp_path / 'run2').exists()


def test_an_unusable_default_compilation_cache_is_a_warning_not_an_error(tmp_path, capsys,
                                                                       monkeypatch):
  """A read-only home must not stop a run: the default cache folder is optional."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config as config_lib, errors  # pylint: disable=g-import-not-at-top
  from jaxgan.tools import common  # pylint: disable=g-import-not-at-top
  blocker = tmp_path / 'home'
  blocker.write_text('a file where the home folder should be')
  monkeypatch.setenv('HOME', str(blocker))
  before = jax.config.jax_compilation_cache_dir
  common.use_compilation_cache(config_lib.default().train.compilation_cache)
  assert jax.config.jax_compilation_cache_dir == before   # unchanged: no cache set
  err = capsys.readouterr().err
  assert err.startswith('warning: no persistent compilation cache') and err.count('\n') == 1
  with pytest.raises(errors.ConfigError, match='cannot be used'):
    common.use_compilation_cache(str(blocker / 'xla'))   # a folder the user chose


@pytest.mark.slow
def test_launcher_type_mistakes_on_section_keys_are_one_sentence(tmp_path):
  """A section (config.eval.kid, an evaluator's settings) or a typed key given a value it
  cannot take, in a config file or on the command line: one sentence saying what to do."""
  mistake = tmp_path / 'kid_off.py'
  mistake.write_text('import jaxgan\n\ndef get_config():\n  config = jaxgan.config.default()\n'
                     '  config.eval.kid = False\n  return config\n')
  cases = [
      ([f'--config={mistake}'],
       f"error: {mistake}, line 5: config.eval.kid is now the evaluator 'kid' (a section of its "
       "settings), not a switch; leave 'kid' out of config.eval.evaluators (e.g. "
       "config.eval.evaluators = ('fid',)) to skip KID."),
      (['--config=configs/dcgan.py', '--config.eval.kid=False'],
       "error: config.eval.kid is now the evaluator 'kid' (a section of its settings), not a "
       "switch; leave 'kid' out of config.eval.evaluators (e.g. --config.eval.evaluators=fid) "
       'to skip KID.'),
      (['--config=configs/dcgan.py', '--config.eval.prdc=3'],
       "error: config.eval.prdc holds the settings of the evaluator 'prdc' (k_dc, k_pr), not a "
       'value like 3; name it in config.eval.evaluators to run it (e.g. '
       '--config.eval.evaluators=fid,prdc) and leave it out to skip it.'),
      (['--config=configs/dcgan.py', '--config.eval.kid.subsets=abc'],
       "error: config.eval.kid.subsets=abc does not fit the key's type (int, default 100); "
       'pass --config.eval.kid.subsets=<int>.'),
  ]
  for args, message in cases:
    proc = _run(['launch.py', f'--workdir={tmp_path / "run"}'] + args)
    _one_error_line(proc, message)
    assert proc.stderr.strip().splitlines()[-1] == message
  assert not (tmp_path / 'run').exists()


def test_unfinished_coroutines_at_exit_print_nothing_after_the_error_line():
  # A failed orbax save can leave write coroutines un-awaited; when the exit outruns them,
  # Python prints "RuntimeWarning: coroutine ... was never awaited" at shutdown (seen in
  # tests/test_lifecycle.py's failed-save test in CI). The tools' runner silences them
  # (JAXGAN_TRACEBACK=1 leaves them). Whether the warning shows without the filter depends on
  # the order of the interpreter's teardown; with this script it showed in 3 of 3 runs.
  script = ('from jaxgan.tools import common\n'
            'async def write_fragment():\n'
            '  pass\n'
            'class Holder:\n'
            '  pass\n'
            'def main(argv):\n'
            '  h = Holder()\n'   # garbage in a reference cycle, collected at shutdown
            '  h.self, h.coroutine = h, write_fragment()\n'
            '  raise SystemExit("error: the save failed.")\n'
            'common.run(main)\n')
  proc = _run(['-c', script])
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == ['error: the save failed.'], proc.stderr
