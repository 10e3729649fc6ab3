"""A run's lifecycle: nothing saved is lost, whatever stops it (SIGTERM or Ctrl-C during an
evaluation, a failed save, a killed process, a resume with another config), and it says what
it does (progress by default, one line per problem)."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import data, errors, evaluation, optim
from tests.util import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ['--config=configs/toy_ring.py', '--config.model.hidden=32',
       '--config.train.batch_size=64', '--config.log.samples_every=0',
       '--config.train.compilation_cache=']


def _env():
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  env.pop('XLA_FLAGS', None)   # as users run it: one CPU device
  env.pop('JAXGAN_TRACEBACK', None)
  return env


def _launch(args, **kwargs):
  return subprocess.run([sys.executable, 'launch.py'] + args, cwd=ROOT, env=_env(),
                        capture_output=True, text=True, timeout=600, **kwargs)


def _steps(folder) -> list[int]:
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit())


def _not_info(stderr: str) -> list[str]:
  """The lines of a launch's stderr that are not absl INFO or WARNING records."""
  return [line for line in stderr.splitlines() if line and not line.startswith(('I1', 'W1'))]


class _Evaluator:
  """An evaluator that records what it saw and, if asked, sends this process `signum` and
  then works for a long time (as a 10,000-image FID would), checking nothing."""

  metrics = {'score': None}   # never picks the best checkpoint
  needs_real = False

  def __init__(self, checkpoints: str, signum=None, draw: int = 0):
    self.checkpoints, self.signum, self.draw = checkpoints, signum, draw
    self.saved_before = []   # whether the step's checkpoint existed when evaluation began
    self.finished = False

  def evaluate(self, *, generate, real, num_samples, dataset_key, num_real=None):
    del real, dataset_key, num_real
    step = max(_steps(self.checkpoints), default=0)
    self.saved_before.append(step)
    if self.draw:
      generate(self.draw)
    if self.signum is not None:
      os.kill(os.getpid(), self.signum)
      for _ in range(600):   # 60 s of work, in small pieces as an evaluation's chunks are
        time.sleep(0.1)
      self.finished = True
    yield 'score', float(num_samples)


def _evaluated(workdir, tmp_path, evaluator_args=(), **overrides) -> tuple:
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 100,
                                  'log.samples_every': 0, 'eval.every_steps': 100,
                                  'eval.best_metric': '', 'eval.num_samples': 64,
                                  'eval.evaluators': (),
                                  'eval.chunk_size': 16, **overrides})
  evaluator = _Evaluator(str(workdir / 'checkpoints'), *evaluator_args)
  experiment = jaxgan.build(config).replace(evaluators={'mine': evaluator})
  return experiment, evaluator


@pytest.mark.parametrize('signum,code,name', [(signal.SIGTERM, 143, 'SIGTERM'),
                                              (signal.SIGINT, 130, r'Ctrl-C \(SIGINT\)')])
@pytest.mark.slow
def test_the_last_checkpoint_comes_before_the_evaluation_and_a_signal_stops_it(
    tmp_path, signum, code, name):
  workdir = tmp_path / 'run'
  experiment, evaluator = _evaluated(workdir, tmp_path, (signum,))
  with pytest.raises(errors.Preempted,
                     match=rf'^{name}: saved a checkpoint at step 4 of 4 .*\(stopped an '
                           rf'evaluation\)') as e:
    jaxgan.train(experiment, str(workdir))
  assert e.value.exit_code == code
  assert evaluator.saved_before == [4]   # the final checkpoint was complete before it began
  assert not evaluator.finished          # stopped at once, not after its 60 s
  assert _steps(workdir / 'checkpoints') == [4]
  assert jaxgan.load_run(str(workdir)).step == 4


@pytest.mark.slow
def test_ctrl_c_during_training_saves_and_raises_preempted_with_exit_code_130(tmp_path):
  experiment = jaxgan.build(tiny_config('ring', **{'train.num_steps': 8,
                                                   'train.checkpoint_every': 100}))

  class SigintAt:
    def __init__(self, source):
      self._source = source

    def __getattr__(self, name):
      return getattr(self._source, name)

    def batch(self, step, layout):
      if step == 3:
        os.kill(os.getpid(), signal.SIGINT)
      return self._source.batch(step, layout)

  before = signal.getsignal(signal.SIGINT)
  with pytest.raises(errors.Preempted, match=r'^Ctrl-C \(SIGINT\): saved a checkpoint at step '
                                             r'(\d) of 8') as e:
    jaxgan.train(experiment.replace(data=SigintAt(experiment.data)), str(tmp_path))
  assert e.value.exit_code == 130
  saved = _steps(tmp_path / 'checkpoints')
  assert len(saved) == 1 and f'step {saved[0]} of 8' in str(e.value)
  assert signal.getsignal(signal.SIGINT) is before   # the caller's handler is back


@pytest.mark.slow
def test_ctrl_c_in_the_launcher_saves_one_line_and_exits_130(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, 'launch.py', f'--workdir={tmp_path}'] + TOY + [
          '--config.train.num_steps=100000', '--config.train.checkpoint_every=100000',
          '--config.log.every_steps=50'],
      cwd=ROOT, env=_env(), stderr=subprocess.PIPE, text=True)
  lines = []
  for line in proc.stderr:
    lines.append(line)
    if 'first step done' in line:
      proc.send_signal(signal.SIGINT)
      break
  lines += proc.stderr.readlines()
  assert proc.wait(timeout=120) == 130, ''.join(lines[-20:])
  log = ''.join(lines)
  assert 'Traceback' not in log and 'KeyboardInterrupt' not in log, log
  assert len([l for l in lines if l.startswith('preempted: Ctrl-C (SIGINT): saved a '
                                               'checkpoint at step')]) == 1, log
  assert len(_steps(tmp_path / 'checkpoints')) == 1


def _events(workdir, tag: str) -> list[int]:
  """The steps of TensorBoard scalar `tag` over every events file of `workdir`."""
  # pylint: disable-next=g-import-not-at-top
  from tensorboard.backend.event_processing import event_file_loader
  steps = []
  for name in sorted(os.listdir(workdir)):
    if name.startswith('events.out.tfevents.'):
      for event in event_file_loader.EventFileLoader(str(workdir / name)).Load():
        if any(v.tag == tag for v in event.summary.value):
          steps.append(event.step)
  return sorted(steps)


@pytest.mark.slow
def test_a_resumed_run_drops_the_records_logged_after_its_checkpoint(tmp_path):
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 2,
                                  'log.samples_every': 0})
  jaxgan.train(config, str(tmp_path))
  # As if killed after logging step 4 but before its checkpoint was written; and the last
  # line of metrics.jsonl half-written.
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(tmp_path / 'checkpoints' / '4')
  with open(tmp_path / 'metrics.jsonl', 'a') as f:
    f.write('{"step": 5, "g/tot')
  config.train.num_steps = 6
  jaxgan.train(config, str(tmp_path))
  rows = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3, 4, 5, 6]
  assert _events(tmp_path, 'g/total') == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_the_records_are_written_only_after_a_save_completed(tmp_path, monkeypatch):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  jaxgan.train(tiny_config('ring', **{'train.num_steps': 2}), str(tmp_path))
  records = {n: (tmp_path / n).read_bytes() for n in ('config.json', 'run_info.json')}

  def full_disk(self):
    raise ValueError('INTERNAL: Error writing ... RESOURCE_EXHAUSTED: No space left on device')

  # The save starts, and its writing fails in the background (a full disk).
  monkeypatch.setattr(ocp.CheckpointManager, 'wait_until_finished', full_disk)
  resumed = tiny_config('ring', **{'train.num_steps': 4, 'optim.g_lr': 1e-3})
  with pytest.raises(errors.CheckpointError, match='saving the checkpoint of step 4 .* the disk '
                                                   'is full'):
    jaxgan.train(resumed, str(tmp_path))
  assert {n: (tmp_path / n).read_bytes() for n in records} == records


def test_a_checkpoints_path_that_is_a_file_fails_before_training(tmp_path):
  (tmp_path / 'checkpoints').write_text('x')
  with pytest.raises(errors.CheckpointError, match='is a file where the checkpoints folder'):
    jaxgan.train(tiny_config('ring', **{'train.num_steps': 2}), str(tmp_path))
  assert not (tmp_path / 'metrics.jsonl').exists()   # nothing trained, nothing to lose


@pytest.mark.slow
def test_a_failed_first_save_names_its_step_and_keeps_nothing_it_does_not_have(tmp_path):
  # A full disk for files over 300 kB (the checkpoint's; Python ignores SIGXFSZ, so a write
  # past the limit fails with EFBIG).
  launch = ('import resource, runpy, sys\n'
            'resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))\n'
            'sys.argv = ["launch.py"] + sys.argv[1:]\n'
            'runpy.run_path("launch.py", run_name="__main__")\n')
  proc = subprocess.run(
      [sys.executable, '-c', launch, f'--workdir={tmp_path}', '--config=configs/toy_ring.py',
       '--config.model.hidden=256', '--config.train.batch_size=64',
       '--config.log.samples_every=0', '--config.train.num_steps=30',
       '--config.train.checkpoint_every=10', '--config.log.every_steps=10',
       '--config.train.compilation_cache='], cwd=ROOT, env=_env(), capture_output=True,
      text=True, timeout=600)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert _not_info(proc.stderr) == [
      line for line in proc.stderr.splitlines() if line.startswith('error: ')], proc.stderr[-3000:]
  error, = _not_info(proc.stderr)
  assert 'saving the checkpoint of step 10 ' in error and 'file-size limit' in error, error
  assert 'no complete checkpoint was saved before it' in error
  assert 'is kept' not in error
  assert not (tmp_path / 'config.json').exists()   # no record of checkpoints that are not


@pytest.mark.slow
def test_a_resume_with_other_widths_is_one_line_naming_the_leaf_and_both_shapes(tmp_path):
  args = [f'--workdir={tmp_path}'] + TOY + ['--config.train.num_steps=2']
  assert _launch(args).returncode == 0
  proc = _launch(args[:-1] + ['--config.train.num_steps=4', '--config.model.hidden=64'])
  assert proc.returncode == 1
  assert _not_info(proc.stderr) == [
      f'error: the checkpoints in {tmp_path}/checkpoints were written by a different config '
      f'({tmp_path}/config.json): model.hidden (32 there, 64 here); rerun with that config, '
      f'pass a new --workdir, or pass --allow_changes (train(..., allow_changes=True)) if the '
      f'change is deliberate.'], proc.stderr[-3000:]
  # Allowed, the checkpoint's own check names the first leaf that differs, with both shapes.
  proc = _launch(args[:-1] + ['--config.train.num_steps=4', '--config.model.hidden=64',
                              '--allow_changes'])
  assert proc.returncode == 1
  error, = _not_info(proc.stderr)
  assert error.startswith(f'error: the checkpoint {tmp_path}/checkpoints/2 does not fit this '
                          f'state (d_params.hidden0.bias is (32,) in the checkpoint and (64,) '
                          f'here); none of the checkpoints 2 restores'), error
  for noise in ('strict=False', 'TensorStore', 'Exception ignored', 'Traceback'):
    assert noise not in proc.stderr


@pytest.mark.slow
def test_train_from_python_prints_its_progress_without_orbax(tmp_path):
  script = (
      'import jaxgan\n'
      'from tests.util import tiny_config\n'
      "config = tiny_config('ring', **{'train.num_steps': 4, 'log.every_steps': 2})\n"
      f'jaxgan.train(config, {str(tmp_path)!r})\n')
  proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, env=_env(),
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'step 1/4: first step done in' in proc.stderr
  assert 'step 4/4 |' in proc.stderr and 'ETA' in proc.stderr
  assert 'orbax' not in proc.stderr.lower()


def test_an_evaluation_says_what_it_evaluates_and_its_progress(tmp_path, monkeypatch, caplog):
  monkeypatch.setattr(evaluation, 'PROGRESS_SECONDS', 0.0)
  experiment, _ = _evaluated(tmp_path, tmp_path, (None, 64))
  with caplog.at_level('INFO'):
    jaxgan.train(experiment, str(tmp_path))
  text = caplog.text
  assert 'step 4: evaluating mine of the current generator on 64 generated images.' in text
  assert 'step 4: evaluation, generated: 16/64 images (ETA ' in text


@pytest.mark.slow
def test_an_empty_workdir_is_refused(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(errors.WorkdirError, match=r"^the workdir is ''; pass the folder"):
    jaxgan.train(tiny_config('ring'), '')
  assert os.listdir(tmp_path) == []
  proc = _launch(['--workdir='] + TOY)
  assert proc.returncode == 1 and _not_info(proc.stderr) == [
      "error: the workdir is ''; pass the folder for the run's checkpoints, samples and logs "
      "(e.g. --workdir=runs/dcgan)."], proc.stderr[-2000:]


@pytest.mark.slow
def test_a_resume_with_another_dataset_or_loss_is_refused_unless_allowed(tmp_path):
  jaxgan.train(tiny_config('ring', **{'train.num_steps': 2, 'log.samples_every': 0}),
               str(tmp_path))
  records = {n: (tmp_path / n).read_bytes() for n in ('config.json', 'run_info.json')}
  more = {'train.num_steps': 4, 'log.samples_every': 0}
  with pytest.raises(errors.ConfigMismatch, match=r"data.dataset \('ring' there, 'grid' "
                                                  r"here\); rerun with that config"):
    jaxgan.train(tiny_config('grid', **more), str(tmp_path))
  with pytest.raises(errors.ConfigMismatch, match=r"loss.name \('non_saturating' there, "
                                                  r"'hinge' here\)"):
    jaxgan.train(tiny_config('ring', **more, **{'loss.name': 'hinge'}), str(tmp_path))
  assert {n: (tmp_path / n).read_bytes() for n in records} == records
  assert _steps(tmp_path / 'checkpoints') == [2]
  # A new learning rate is no change of the run; a deliberate change of loss is recorded.
  jaxgan.train(tiny_config('ring', **more, **{'optim.g_lr': 1e-3, 'loss.name': 'hinge'}),
               str(tmp_path), allow_changes=True)
  info = json.loads((tmp_path / 'run_info.json').read_text())
  assert info['config_changes'] == [{'step': 2, 'changes': {
      'loss.name': ['non_saturating', 'hinge']}}]
  assert json.loads((tmp_path / 'config.json').read_text())['loss']['name'] == 'hinge'


def _points(seed: int = 0):
  rng = np.random.default_rng(seed)
  while True:
    yield rng.normal(size=(16, 2)).astype(np.float32)


@pytest.mark.slow
def test_an_own_2d_source_with_sample_plots_trains_to_its_end(tmp_path):
  config = tiny_config('ring', **{'train.num_steps': 4, 'log.samples_every': 2})
  source = data.IterableSource(_points(), example_shape=(2,))
  state = jaxgan.train(jaxgan.build(config).replace(data=source), str(tmp_path))
  assert int(state.step) == 4
  assert sorted(os.listdir(tmp_path / 'samples')) == ['step_0000002.png', 'step_0000004.png']


@pytest.mark.slow
def test_an_iterable_source_resumes_in_the_same_process(tmp_path):
  source = data.IterableSource(_points(), example_shape=(2,))
  experiment = jaxgan.build(tiny_config('ring', **{
      'train.num_steps': 10, 'train.checkpoint_every': 10, 'log.samples_every': 0}))
  experiment = experiment.replace(data=source)
  jaxgan.train(experiment, str(tmp_path))
  longer = experiment.replace(loop=experiment.loop.replace(num_steps=20))
  assert int(jaxgan.train(longer, str(tmp_path)).step) == 20


@pytest.mark.parametrize('make', [
    lambda tx: optax.named_chain(('clip', optax.clip_by_global_norm(1.0)), ('adam', tx)),
    lambda tx: optax.chain(optax.clip_by_global_norm(1.0), tx),
    lambda tx: optax.MultiSteps(tx, 2),
])
def test_the_learning_rate_of_an_own_optax_chain_is_found_where_it_is_injected(make):
  injected = optax.inject_hyperparams(optax.adam)(learning_rate=0.125)
  state = make(injected).init({'w': jnp.zeros(3)})
  assert float(optim.learning_rate(state)) == 0.125
  assert optim.learning_rate(make(optax.adam(0.125)).init({'w': jnp.zeros(3)})) is None


class _OwnGenerator(nn.Module):
  """A generator of the user's own: one dense layer from z to a point."""

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    del y, train
    return nn.Dense(2, name='out')(z)


@pytest.mark.slow
def test_load_run_of_an_own_generator_asks_for_the_experiment(tmp_path):
  config = tiny_config('ring', **{'train.num_steps': 2, 'log.samples_every': 0})
  experiment = jaxgan.build(config).replace(generator=_OwnGenerator())
  jaxgan.train(experiment, str(tmp_path))
  with pytest.raises(errors.CheckpointError, match=r'trained its own generator \(run_info.json\)'
                                                   r'.*; pass experiment= \(the jaxgan.Experiment '
                                                   r'that trained it\) to load_run\.$'):
    jaxgan.load_run(str(tmp_path))
  assert jaxgan.load_run(str(tmp_path), experiment=experiment).step == 2
