"""`train(experiment_or_config, workdir)`: the whole training run, in one readable loop.

  state = jaxgan.train(config, 'runs/dcgan')             # built from a config
  state = jaxgan.train(experiment, 'runs/mine')          # or an experiment with your parts

Checkpoints every `experiment.loop.checkpoint_every` steps, at the end and on SIGTERM or
Ctrl-C, before that step's pictures and evaluation; rerunning resumes exactly from the newest
checkpoint that restores (a resume with another data, model or loss is refused unless
allowed). A NaN or inf in a loss or a parameter stops the run with the last good checkpoint
kept; SIGTERM and Ctrl-C save and raise `errors.Preempted` (command-line tools exit 143 and
130), stopping an evaluation at once. config.json (an experiment built from a config) and
run_info.json are written once the session's first checkpoint is complete; a resumed run
first drops the logs of the steps after its checkpoint. The loop reads only the experiment's
typed values (`experiment.loop`, `z_dim`, `num_classes`, `ema`), never its config. Logs go to
TensorBoard, `metrics.jsonl` and the console (on by default, `jaxgan.console`); evaluators
run every `loop.eval_every`; sample grids (and SAGAN attention figures) are
written under the workdir (`jaxgan.workdir` names every file).
"""

import collections
import contextlib
import dataclasses
import functools
import json
import os
import signal
import time
from typing import Optional, Union

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import console, errors, evaluation, optim
from jaxgan import experiment as experiment_lib
from jaxgan import state as state_lib
from jaxgan import workdir as workdir_lib
from jaxgan.viz import attention as attention_viz
from jaxgan.viz import images


class _Stop(BaseException):
  """Raised by the signal handler inside `_Signals.interruptible()` (an evaluation)."""


class _Signals:
  """Turns SIGTERM and SIGINT (Ctrl-C) into a flag the loop checks after each step, so it can
  checkpoint before exiting. Inside `interruptible()` (an evaluation, which can take minutes)
  the signal also raises `_Stop` at once, so the run stops within seconds. A second Ctrl-C
  raises KeyboardInterrupt, for a user who will not wait for the save."""

  NAMES = {signal.SIGTERM: 'SIGTERM', signal.SIGINT: 'Ctrl-C (SIGINT)'}

  def __init__(self):
    self.signum: Optional[int] = None
    self._previous = {}
    self._interruptible = False

  @property
  def requested(self) -> bool:
    return self.signum is not None

  @property
  def name(self) -> str:
    return self.NAMES[self.signum]

  def __enter__(self):
    for signum in self.NAMES:
      try:
        self._previous[signum] = signal.signal(signum, self._handle)
      except ValueError:  # not the main thread: no handler, nothing to restore
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.signum == signal.SIGINT:
      raise KeyboardInterrupt
    if self.signum is None:
      self.signum = signum
    if self._interruptible:
      self._interruptible = False
      raise _Stop()

  @contextlib.contextmanager
  def interruptible(self):
    """A section that a signal stops at once (raising `_Stop`)."""
    if self.requested:
      raise _Stop()
    self._interruptible = True
    try:
      yield
    finally:
      self._interruptible = False

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)


def run_record(experiment: experiment_lib.Experiment, state: state_lib.GANState,
               evaluation: Optional[dict] = None) -> dict:
  """run_info.json: library versions, devices, git revision, parameter counts, the parts, the
  data (its identity, size, classes and their names, streamed or in memory), and `evaluation`:
  the protocol record of the run's evaluations (None when it does not evaluate;
  jaxgan.metrics.protocol)."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  versions = {}
  for package in ('jaxgan', 'jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint',
                  'numpy', 'tensorflow-datasets'):
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      versions[package] = None
  record = {
      'jax': jax.__version__,
      'versions': versions,
      'devices': [str(d) for d in jax.devices()],
      'device_kind': jax.devices()[0].device_kind,
      'process_count': jax.process_count(),
      'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      'g_params': state_lib.param_count(state.g_params),
      'd_params': state_lib.param_count(state.d_params),
      'parts': experiment.record(),
      'loss': repr(experiment.loss),
      'evaluation': evaluation,
      'data': experiment_lib.data_record(experiment.data),
  }
  try:
    import subprocess  # pylint: disable=g-import-not-at-top
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    record['git_revision'] = subprocess.run(
        ['git', '-C', root, 'rev-parse', 'HEAD'], capture_output=True, text=True,
        timeout=10).stdout.strip() or None
  except Exception:  # pylint: disable=broad-except
    record['git_revision'] = None
  return record


def _to_host(tree):
  """Per-device values of every process (an all-gather when several processes run)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def _truncate_metrics(path: str, step: int) -> int:
  """Drops the records of metrics.jsonl after `step` (and a half-written last line); returns
  how many were dropped. A resumed run logs those steps again."""
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    lines = f.read().splitlines()
  kept = []
  for line in lines:
    try:
      if int(json.loads(line)['step']) <= step:
        kept.append(line)
    except (ValueError, KeyError, TypeError):
      pass
  if len(kept) < len(lines):
    workdir_lib.write_text(path, ''.join(line + '\n' for line in kept))
  return len(lines) - len(kept)


def _truncate_events(folder: str, step: int) -> int:
  """Drops the TensorBoard events after `step` from the event files in `folder`; returns how
  many were dropped. TensorBoard would otherwise show the resumed steps twice (its purge of
  'orphaned' events depends on the reader), so the files are rewritten, each atomically."""
  names = [n for n in os.listdir(folder) if n.startswith('events.out.tfevents.')]
  if not names:
    return 0
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top
  dropped = 0
  for name in names:
    path = os.path.join(folder, name)
    records, cut = [], 0
    try:
      for record in tf.data.TFRecordDataset(path):
        record = record.numpy()
        if event_pb2.Event.FromString(record).step <= step:
          records.append(record)
        else:
          cut += 1
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
      cut += 1   # a half-written last record (the process was killed mid-write)
    if cut:
      tmp = f'{path}.tmp-{os.getpid()}'
      with tf.io.TFRecordWriter(tmp) as out:
        for record in records:
          out.write(record)
      os.replace(tmp, path)
      dropped += cut
  return dropped


class _Writer:
  """TensorBoard scalars and images, and `metrics.jsonl`, on process 0; a no-op elsewhere.

  A session starting at `start_step` first drops every record after it (metrics.jsonl rows,
  TensorBoard events): a run killed after its last checkpoint logged steps that the resumed
  run logs again, which would otherwise appear twice."""

  def __init__(self, paths: workdir_lib.Paths, enabled: bool, start_step: int = 0):
    self._tb = None
    self._jsonl = None
    if enabled:
      from flax.metrics import tensorboard  # pylint: disable=g-import-not-at-top
      try:
        dropped = (_truncate_metrics(paths.metrics, start_step) +
                   _truncate_events(paths.root, start_step))
        if dropped:
          logging.info('Dropped %d logged records after step %d (the run restarts there).',
                       dropped, start_step)
        self._tb = tensorboard.SummaryWriter(paths.root)
        self._jsonl = open(paths.metrics, 'a')
      except OSError as e:
        raise errors.WorkdirError(errors.os_error_message(e, f'opening the logs in {paths.root}'))

  def scalars(self, step: int, values: dict) -> None:
    """Numbers to TensorBoard and metrics.jsonl; dict values (an evaluation's protocol record)
    to metrics.jsonl only, as JSON objects."""
    if self._tb:
      numbers = {k: float(v) for k, v in values.items() if not isinstance(v, dict)}
      for k, v in numbers.items():
        self._tb.scalar(k, v, step)
      record = {'step': int(step), 'time': time.time()}
      record.update(numbers)
      record.update({k: v for k, v in values.items() if isinstance(v, dict)})
      self._jsonl.write(json.dumps(record) + '\n')
      self._jsonl.flush()

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    if self._tb:
      self._tb.image(name, image, step)

  def close(self) -> None:
    if self._tb:
      self._tb.flush()
      self._jsonl.close()
      self._tb = self._jsonl = None


class _Pictures:
  """Pictures of samples of a fixed z, as the data's sample view draws them (a grid of images,
  a scatter plot and mode statistics for 2-D points), and SAGAN attention figures, on process
  0 from host copies of the sampling weights."""

  def __init__(self, experiment: experiment_lib.Experiment, paths: workdir_lib.Paths,
               writer: _Writer):
    self.ex, self.paths, self.writer = experiment, paths, writer
    loop = experiment.loop
    self.fixed_key = jax.random.fold_in(jax.random.key(loop.seed), 0x5a11)
    self.z = jax.random.normal(self.fixed_key, (loop.num_samples, experiment.z_dim))
    self.y = (np.arange(loop.num_samples) % experiment.num_classes
              if experiment.num_classes else None)
    # How this data's samples are shown (a grid, a scatter plot); a view with its own
    # `num_samples` draws them from a z of their own.
    self.view = data_lib.sample_view(experiment.data)
    self.view_z, self.view_y = self.z, self.y
    if self.view.num_samples:
      n = self.view.num_samples
      self.view_z = jax.random.normal(jax.random.fold_in(self.fixed_key, 1),
                                      (n, experiment.z_dim))
      self.view_y = np.arange(n) % experiment.num_classes if experiment.num_classes else None
    self.attention_every = loop.attention_every if self.view.shows_images else 0
    self._attention = None

  def _host(self, state):
    params, g_state = jax.device_get((state.sampling_params(), state.sampling_state()))
    return params, g_state

  def samples(self, step: int, state, name: Optional[str] = None) -> None:
    params, g_state = self._host(state)
    samples = np.asarray(self.ex.sample_fn(params, g_state, self.view_z, self.view_y))
    picture = self.view.picture(samples, f'step {step}')
    if picture is None:   # samples this data does not draw (e.g. vectors of D != 2)
      return
    if picture.scalars:
      self.writer.scalars(step, picture.scalars)
    if picture.note:
      logging.info('step %d: %s', step, picture.note)
    images.save_png(picture.image, self.paths.best_samples if name == 'best' else
                    self.paths.sample_grid(step))
    if name is None:
      self.writer.image(step, 'samples', picture.image)

  def attention(self, step: int, state) -> None:
    """The seed's attention figure: samples with query points and where each attends."""
    if self._attention is None:
      self._attention = jax.jit(functools.partial(attention_viz.attention_for,
                                                  self.ex.generator))
    n = min(4, len(self.z))
    params, g_state = self._host(state)
    y = None if self.y is None else self.y[:n]
    try:
      beta = self._attention({'params': params, **g_state}, self.z[:n], y)
    except ValueError:   # the generator has no attention block: stop trying
      logging.warning('loop.attention_every is set but the generator sows no attention map; '
                      'no attention figures will be written.')
      self.attention_every = 0
      return
    samples = np.asarray(self.ex.sample_fn(params, g_state, self.z[:n], y))
    size = samples.shape[1]
    queries = [(size // 4, size // 4), (size // 2, size // 2), (3 * size // 4, size // 3)]
    picture = attention_viz.render_attention(samples, beta, queries)
    images.save_png(picture, self.paths.attention(step))
    self.writer.image(step, 'attention', picture)


def _every(done: int, every: int, num_steps: int) -> bool:
  return bool(every) and (done % every == 0 or done == num_steps)


# The config keys that define what a run's checkpoints are: its data, model and objective
# (loss and regularisers). The others (the learning rates and schedules, the number of steps,
# logging, evaluation, where the data lives and how it is read) may change on resume.
_DEFINING = {'data': ('dataset', 'image_size', 'channels', 'path', 'labels', 'split',
                      'fraction', 'image_key', 'label_key'),
             'model': None,    # every key but the ones below
             'loss': None,
             # The optimisers' regulariser (BigGAN's orthogonal regularisation); their rates,
             # betas and schedules may change freely.
             'optim': ('g_ortho', 'd_ortho', 'ortho_exclude')}
_NOT_DEFINING = {'model.conv_impl'}   # an implementation choice, same numbers
# Which part of an Experiment each section builds: a replaced part is not compared.
_SECTION_PARTS = {'data': ('data',), 'model': ('generator', 'discriminator'), 'loss': ('loss',),
                  'optim': ('g_optimizer', 'd_optimizer')}


def _flat(tree, prefix: str = '') -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for key, value in tree.items():
    out.update(_flat(value, f'{prefix}.{key}' if prefix else key))
  return out


def config_changes(saved: dict, config: ml_collections.ConfigDict,
                   from_config=None) -> dict[str, list]:
  """{key: [saved value, new value]} of the run-defining keys (`_DEFINING`) of `config` (an
  experiment's `config_record()`) that differ from `saved` (a workdir's config.json); keys
  that `saved` lacks (an older jaxgan) and sections of parts not built from the config
  (`from_config`) are not compared."""
  new = json.loads(config.to_json_best_effort())
  changes = {}
  for section, keys in _DEFINING.items():
    if from_config is not None and not set(_SECTION_PARTS[section]) & set(from_config):
      continue
    old_flat = _flat(saved.get(section, {}), section)
    new_flat = _flat(new.get(section, {}), section)
    names = ([f'{section}.{k}' for k in keys] if keys is not None
             else sorted(set(old_flat) | set(new_flat)))
    for name in names:
      if name in _NOT_DEFINING or name not in old_flat:
        continue
      if old_flat[name] != new_flat.get(name):
        changes[name] = [old_flat[name], new_flat.get(name)]
  return changes


def train(experiment: Union[experiment_lib.Experiment, ml_collections.ConfigDict],
          workdir: str, *, allow_changes: bool = False) -> state_lib.GANState:
  """Trains `experiment` (or `jaxgan.build(config)`) in `workdir`; returns the final state.

  Resumes from the newest restorable checkpoint in `workdir`. Resuming with another data,
  model or loss (regularisers included, and the optimisers' orthogonal regularisation,
  `optim.{g,d}_ortho`) than the workdir's config.json is refused
  (`errors.ConfigMismatch`, naming the keys) unless `allow_changes`, which records the change
  in run_info.json; the learning rates, schedules and the other sections may change freely.
  Raises `errors.Preempted` after saving on SIGTERM or Ctrl-C, `errors.TrainingDiverged` on
  NaN/inf (the last good checkpoint kept), and other `errors.JaxganError`s with one sentence
  for problems a user can fix. Progress is logged through absl, on by default
  (`jaxgan.console`).
  """
  if not isinstance(workdir, (str, os.PathLike)) or not str(workdir).strip():
    raise errors.WorkdirError(
        f'the workdir is {workdir!r}; pass the folder for the run\'s checkpoints, samples and '
        f'logs (e.g. --workdir=runs/dcgan).')
  with console.progress():
    return _train(experiment, workdir, allow_changes)


def _train(experiment, workdir: str, allow_changes: bool) -> state_lib.GANState:
  if isinstance(experiment, ml_collections.ConfigDict):
    experiment = experiment_lib.build(experiment)
  elif not isinstance(experiment, experiment_lib.Experiment):
    raise TypeError('train() takes a jaxgan.Experiment or an ml_collections.ConfigDict, got '
                    f'{type(experiment).__name__}')
  paths = workdir_lib.Paths.of(workdir)
  is_chief = jax.process_index() == 0
  lock = None
  created = not os.path.exists(paths.root)
  if is_chief:
    workdir_lib.make(paths.root)
    lock = workdir_lib.Lock(paths.lock, 'training')
  try:
    return _Run(experiment, paths, is_chief, allow_changes).run()
  finally:
    if lock is not None:
      lock.release()
      if created and os.listdir(paths.root) == [os.path.basename(paths.lock)]:
        # A run that failed before writing anything (a missing dataset, say) leaves no trace.
        os.remove(paths.lock)
        os.rmdir(paths.root)


train_and_evaluate = train   # the flax examples' name


class _Run:
  """One training session in a locked workdir: `run()` prepares, restores, loops, closes."""

  def __init__(self, experiment: experiment_lib.Experiment, paths: workdir_lib.Paths,
               is_chief: bool, allow_changes: bool = False):
    self.ex, self.paths, self.is_chief = experiment, paths, is_chief
    self.loop = experiment.loop
    # config.json: what `build` read, with the typed values this experiment holds (None: an
    # experiment made in code, which writes no config.json).
    self.config_record = experiment.config_record()
    self.allow_changes = allow_changes
    self.changes: dict[str, list] = {}   # run-defining keys changed on resume (allowed)
    self.last_saved: Optional[int] = None   # the newest checkpoint of this workdir
    self._records_written = False

  def _check_resume(self) -> None:
    """ConfigMismatch when the workdir's checkpoints were trained with another data, model or
    loss than this experiment's (config.json), unless allowed."""
    folder = self.paths.checkpoints
    if not (os.path.isdir(folder) and os.path.exists(self.paths.config) and
            any(n.isdigit() for n in os.listdir(folder))):
      return
    if self.config_record is None:
      return   # made in code: the checkpoint's own check (shapes) applies
    try:
      with open(self.paths.config) as f:
        saved = json.load(f)
    except (OSError, ValueError):
      return   # unreadable records: the checkpoint's own check (shapes) still applies
    changes = config_changes(saved, self.config_record, self.ex.from_config)
    if not changes:
      return
    if not self.allow_changes:
      listed = ', '.join(f'{k} ({old!r} there, {new!r} here)'
                         for k, (old, new) in changes.items())
      raise errors.ConfigMismatch(
          f'the checkpoints in {folder} were written by a different config ({self.paths.config}'
          f'): {listed}; rerun with that config, pass a new --workdir, or pass --allow_changes '
          f'(train(..., allow_changes=True)) if the change is deliberate.')
    logging.warning('Resuming with changed %s (allowed; recorded in run_info.json).',
                    ', '.join(changes))
    self.changes = changes

  def run(self) -> state_lib.GANState:
    self._check_resume()
    # --- input and evaluators: a missing dataset or Inception weights fail before compiling --
    self.ex.data.prepare()
    # The evaluators' shared settings; the reference split is known only for config data.
    settings = dataclasses.replace(
        self.ex.evaluation, every_steps=self.loop.eval_every,
        split=self.ex.evaluation.split if 'data' in self.ex.from_config else None)
    self.evaluator = evaluation.TrainingEvaluator(
        self.ex, self.paths, settings=settings, num_steps=self.loop.num_steps,
        is_chief=self.is_chief)
    self.step_fn = self.ex.train_step()
    # --- state and checkpoint -------------------------------------------------------------------
    self.ckpt = checkpoint_lib.Checkpointer(
        self.paths.checkpoints, keep=self.loop.keep_checkpoints,
        damaged_dir=self.paths.damaged_checkpoints)
    state = self._restore_or_init()
    self.initial_state = state
    # --- records (config.json, run_info.json) are written once this session's first
    # checkpoint is complete, so a session that fails before then leaves them as they were --
    # --- logging and input ----------------------------------------------------------------------
    start_step = int(state.step)
    self.writer = _Writer(self.paths, enabled=self.is_chief, start_step=start_step)
    self.pictures = _Pictures(self.ex, self.paths, self.writer)
    self.batches = data_lib.iterate(self.ex.data, self.ex.layout(), start_step,
                                    self.step_fn.batch_sharding,
                                    prefetch=self.loop.prefetch)
    # --- the loop ---------------------------------------------------------------------------------
    try:
      state = self._loop(state, start_step)
      self.ckpt.wait()
    except BaseException:
      # Finish (or fail) the save in flight before leaving, so no checkpoint is half-written
      # when the process exits; the original error is the one raised.
      try:
        self.ckpt.wait()
      except errors.JaxganError as e:
        logging.error('%s', e)
      raise
    finally:
      self._close()
    if self.is_chief:
      logging.info('Done. Samples in %s, TensorBoard logs and checkpoints in %s.',
                   self.paths.samples, self.paths.root)
    return state

  def _restore_or_init(self) -> state_lib.GANState:
    """The newest restorable checkpoint's state, or a fresh one; replicated over devices."""
    fresh, _ = self.step_fn.place(self.ex.init_state())
    state, self.last_saved = self.ckpt.restore_latest(fresh)
    self.restored_step = self.last_saved or 0
    if self.last_saved is not None:
      # The experiment's optimiser hyperparameters (e.g. a new learning rate), not the saved.
      state = state.replace(
          g_opt_state=optim.refresh_hyperparams(state.g_opt_state, fresh.g_opt_state),
          d_opt_state=optim.refresh_hyperparams(state.d_opt_state, fresh.d_opt_state))
      logging.info('Resumed from %s at step %d.', self.ckpt.directory, self.last_saved)
    logging.info('Generator: %d params; discriminator: %d params; loss: %r.',
                 state_lib.param_count(state.g_params), state_lib.param_count(state.d_params),
                 self.ex.loss)
    return state

  def _write_records(self) -> None:
    """config.json and run_info.json (once per session, after its first complete save)."""
    if self.is_chief and not self._records_written:
      record = run_record(self.ex, self.initial_state, evaluation=self.evaluator.protocol)
      history = self._config_history()
      if self.changes:
        history.append({'step': self.restored_step, 'changes': self.changes})
      if history:
        record['config_changes'] = history
      if self.config_record is not None:
        workdir_lib.write_text(self.paths.config,
                               self.config_record.to_json_best_effort(indent=2) + '\n')
      workdir_lib.write_json(self.paths.run_info, record)
    self._records_written = True

  def _config_history(self) -> list:
    """The run-defining changes earlier sessions allowed (run_info.json's config_changes)."""
    try:
      with open(self.paths.run_info) as f:
        history = json.load(f).get('config_changes', [])
      return list(history) if isinstance(history, list) else []
    except (OSError, ValueError, AttributeError):
      return []

  def _close(self) -> None:
    for closable in (self.batches, self.ckpt, self.evaluator, self.writer):
      closable.close()

  def _loop(self, state, start_step: int) -> state_lib.GANState:
    loop, num_steps = self.loop, self.loop.num_steps
    rate = _Rate(start_step)
    in_flight = collections.deque()
    with _Signals() as signals:
      for step in range(start_step, num_steps):
        state, metrics = self.step_fn(state, next(self.batches))
        done = step + 1
        # At most two steps queued ahead of the host: enough to keep an accelerator busy, and
        # it stops XLA:CPU's in-process collectives from deadlocking when many queued steps on
        # many virtual devices compete for the thread pool.
        in_flight.append(metrics)
        if len(in_flight) > 2:
          jax.block_until_ready(in_flight.popleft())
        if done == start_step + 1:
          jax.block_until_ready(metrics)
          logging.info('step %d/%d: first step done in %.1f s (compilation included).', done,
                       num_steps, rate.restart(done))
        if _every(done, loop.log_every, num_steps):
          self._log_scalars(done, metrics, rate)
        # The checkpoint comes first: pictures and evaluations may fail or be stopped.
        if _every(done, loop.checkpoint_every, num_steps) or signals.requested:
          self._checkpoint(done, state, metrics)
        if signals.requested:
          self._stop(done, state, metrics, signals)
        if self.is_chief and _every(done, loop.samples_every, num_steps):
          self.pictures.samples(done, state)
        if self.is_chief and _every(done, self.pictures.attention_every, num_steps):
          self.pictures.attention(done, state)
        if self.evaluator.due(done):
          if self.last_saved == done:
            self.ckpt.wait()   # complete before an evaluation that may take minutes
          try:
            with rate.paused():   # steps/s stays a training rate
              self.writer.scalars(done, self.evaluator(
                  done, state, interruptible=signals.interruptible))
              if self.evaluator.improved and self.is_chief:
                self.pictures.samples(done, state, name='best')
          except _Stop:
            self._stop(done, state, metrics, signals, during='an evaluation')
        if signals.requested:
          self._stop(done, state, metrics, signals)
    return state

  def _stop(self, done: int, state, metrics, signals: '_Signals', during: str = '') -> None:
    """After SIGTERM or Ctrl-C: the checkpoint of step `done` (unless saved), then Preempted."""
    if self.last_saved != done:
      self._checkpoint(done, state, metrics)
    self.ckpt.wait()
    num_steps = self.loop.num_steps
    stopped = f' (stopped {during})' if during else ''
    then = ('the training is complete; evaluate its checkpoint with jaxgan-evaluate'
            if done == num_steps else 'rerun the same command to resume')
    error = errors.Preempted(
        f'{signals.name}: saved a checkpoint at step {done} of {num_steps} in '
        f'{self.ckpt.directory}{stopped}; {then}.')
    error.exit_code = 128 + signals.signum
    raise error

  def _log_scalars(self, done: int, metrics, rate: '_Rate') -> None:
    """The step's metrics (mean over devices) to TensorBoard, metrics.jsonl and the console;
    a non-finite loss stops the run."""
    num_steps = self.loop.num_steps
    values = {k: float(np.mean(v)) for k, v in _to_host(metrics).items()}
    bad = sorted(k for k, v in values.items() if not np.isfinite(v))
    if bad:
      raise errors.TrainingDiverged(
          f'{", ".join(bad)} became non-finite at step {done}; {self._kept()}: lower the '
          f'learning rates or change the loss, then rerun.')
    steps_per_sec = rate.tick(done)
    if steps_per_sec:
      values['steps_per_sec'] = steps_per_sec
      values['images_per_sec'] = (steps_per_sec * self.loop.batch_size *
                                  (self.loop.d_steps + 1))
    self.writer.scalars(done, values)
    eta = (num_steps - done) / steps_per_sec if steps_per_sec else 0.0
    logging.info('step %d/%d | %s | %.2f steps/s | ETA %s', done, num_steps,
                 ' '.join(f'{k}={v:.4g}' for k, v in sorted(values.items())
                          if k.endswith('total') or k.startswith('g/')),
                 steps_per_sec, time.strftime('%H:%M:%S', time.gmtime(eta)))

  def _checkpoint(self, done: int, state, metrics) -> None:
    """Saves `state` (asynchronously) if every parameter is finite; else stops the run naming
    what went wrong, the last good checkpoint kept."""
    flags = self.ex.finite(state.g_params, state.d_params)
    bad = [name for name, ok in zip(('generator', 'discriminator'), flags) if not ok]
    if bad:
      values = {k: float(np.mean(v)) for k, v in _to_host(metrics).items()}
      terms = ', '.join(f'{k}={v:.4g}' for k, v in sorted(values.items())
                        if k.startswith(('d/', 'g/')) and not k.endswith('lr'))
      raise errors.TrainingDiverged(
          f'the {" and ".join(bad)} parameters became non-finite by step {done} (loss terms '
          f'at that step: {terms}); {self._kept()}: lower the learning rates or change the '
          f'loss, then rerun.')
    self.ckpt.save(done, state)
    self.last_saved = done
    if not self._records_written:
      # The records describe the checkpoints: written only once one of this session is
      # complete (a save that fails leaves the workdir's records as they were).
      self.ckpt.wait()
      self._write_records()

  def _kept(self) -> str:
    if self.last_saved is None:
      return 'no checkpoint was saved yet, so nothing is kept'
    return (f'the last good checkpoint (step {self.last_saved}) in {self.ckpt.directory} is '
            f'kept')


class _Rate:
  """Generator steps per second between logging points, without compilation and evaluation."""

  def __init__(self, step: int):
    self.step, self.time, self.start = step, time.perf_counter(), time.perf_counter()

  def restart(self, step: int) -> float:
    """Starts counting at `step`; returns the seconds since the session started."""
    self.step, self.time = step, time.perf_counter()
    return self.time - self.start

  def tick(self, step: int) -> float:
    now = time.perf_counter()
    rate = (step - self.step) / max(now - self.time, 1e-9) if step > self.step else 0.0
    self.step, self.time = step, now
    return rate

  @contextlib.contextmanager
  def paused(self):
    start = time.perf_counter()
    try:
      yield
    finally:
      self.time += time.perf_counter() - start
