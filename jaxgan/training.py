"""`train(experiment_or_config, workdir)`: the whole training run, in one readable loop.

  state = jaxgan.train(config, 'runs/dcgan')             # built from a config
  state = jaxgan.train(experiment, 'runs/mine')          # or an experiment with your parts

Checkpoints every `train.checkpoint_every` steps, at the end and on SIGTERM; rerunning resumes
exactly from the newest checkpoint that restores. A NaN or inf in a loss or a parameter stops
the run with the last good checkpoint kept; SIGTERM saves and raises `errors.Preempted`
(command-line tools exit 143). Logs go to TensorBoard, `metrics.jsonl` and the console;
evaluators run every `eval.every_steps`; sample grids (and SAGAN attention figures) are
written under the workdir (`jaxgan.workdir` names every file).
"""

import collections
import contextlib
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
from jaxgan import errors, evaluation, optim
from jaxgan import experiment as experiment_lib
from jaxgan import state as state_lib
from jaxgan import workdir as workdir_lib
from jaxgan.metrics import mixtures
from jaxgan.viz import images


class _Preemption:
  """Turns SIGTERM into a flag the loop checks, so it can checkpoint before exiting."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: no handler, nothing to restore
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


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


class _Writer:
  """TensorBoard scalars and images, and `metrics.jsonl`, on process 0; a no-op elsewhere."""

  def __init__(self, paths: workdir_lib.Paths, enabled: bool):
    self._tb = None
    self._jsonl = None
    if enabled:
      from flax.metrics import tensorboard  # pylint: disable=g-import-not-at-top
      try:
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
  """Sample grids of a fixed z (scatter plots and mode statistics for 2-D data) and SAGAN
  attention figures, on process 0 from host copies of the sampling weights."""

  def __init__(self, experiment: experiment_lib.Experiment, paths: workdir_lib.Paths,
               writer: _Writer):
    self.ex, self.paths, self.writer = experiment, paths, writer
    log = experiment.config.log
    self.fixed_key = jax.random.fold_in(jax.random.key(experiment.config.train.seed), 0x5a11)
    self.z = jax.random.normal(self.fixed_key, (log.num_samples, experiment.z_dim))
    self.y = (np.arange(log.num_samples) % experiment.num_classes
              if experiment.num_classes else None)
    self.attention_every = 0 if experiment.is_2d else log.attention_every
    self._attention = None

  def _host(self, state):
    params, g_state = jax.device_get((state.sampling_params(self.ex.uses_ema), state.g_state))
    return params, g_state

  def samples(self, step: int, state, name: Optional[str] = None) -> None:
    params, g_state = self._host(state)
    if self.ex.is_2d:
      z = jax.random.normal(jax.random.fold_in(self.fixed_key, 1), (2_500, self.ex.z_dim))
      points = np.asarray(self.ex.sample_fn(params, g_state, z, None))
      centres, sigma = getattr(self.ex.data, 'modes', (None, None))
      if centres is None:
        picture = images.scatter(points, np.zeros((0, 2)), f'step {step}')
      else:
        stats = mixtures.mode_metrics(points, centres, sigma)
        self.writer.scalars(step, {f'modes/{k}': v for k, v in stats.items()})
        logging.info('step %d: %d/%d modes covered, %.1f%% high-quality samples.', step,
                     stats['modes_covered'], len(centres), 100 * stats['high_quality'])
        picture = images.scatter(points, centres, f'step {step}')
    else:
      picture = images.grid(np.asarray(self.ex.sample_fn(params, g_state, self.z, self.y)))
    images.save_png(picture, self.paths.best_samples if name == 'best' else
                    self.paths.sample_grid(step))
    if name is None:
      self.writer.image(step, 'samples', picture)

  def attention(self, step: int, state) -> None:
    """The seed's attention figure: samples with query points and where each attends."""
    from jaxgan.viz import attention as attention_viz  # pylint: disable=g-import-not-at-top
    if self._attention is None:
      self._attention = jax.jit(functools.partial(attention_viz.attention_for,
                                                  self.ex.generator))
    n = min(4, len(self.z))
    params, g_state = self._host(state)
    y = None if self.y is None else self.y[:n]
    try:
      beta = self._attention({'params': params, **g_state}, self.z[:n], y)
    except ValueError:   # the generator has no attention block: stop trying
      logging.warning('log.attention_every is set but the generator sows no attention map; '
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


def train(experiment: Union[experiment_lib.Experiment, ml_collections.ConfigDict],
          workdir: str) -> state_lib.GANState:
  """Trains `experiment` (or `jaxgan.build(config)`) in `workdir`; returns the final state.

  Resumes from the newest restorable checkpoint in `workdir`. Raises `errors.Preempted` after
  saving on SIGTERM, `errors.TrainingDiverged` on NaN/inf (the last good checkpoint kept), and
  other `errors.JaxganError`s with one sentence for problems a user can fix.
  """
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
    return _Run(experiment, paths, is_chief).run()
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
               is_chief: bool):
    self.ex, self.paths, self.is_chief = experiment, paths, is_chief
    self.cfg = experiment.config
    self.last_saved: Optional[int] = None   # the newest complete checkpoint of this workdir
    self._records_written = False

  def run(self) -> state_lib.GANState:
    # --- input and evaluators: a missing dataset or Inception weights fail before compiling --
    self.ex.data.prepare()
    self.evaluator = evaluation.TrainingEvaluator(self.ex, self.paths, is_chief=self.is_chief)
    self.step_fn = self.ex.train_step
    # --- state and checkpoint -------------------------------------------------------------------
    self.ckpt = checkpoint_lib.Checkpointer(
        self.paths.checkpoints, keep=self.cfg.train.keep_checkpoints,
        damaged_dir=self.paths.damaged_checkpoints)
    state = self._restore_or_init()
    self.initial_state = state
    # --- records: a fresh run writes them now; a resumed one when it saves its first
    # checkpoint, so that a session that fails before then leaves them as they were ---------
    if self.last_saved is None:
      self._write_records()
    # --- logging and input ----------------------------------------------------------------------
    self.writer = _Writer(self.paths, enabled=self.is_chief)
    self.pictures = _Pictures(self.ex, self.paths, self.writer)
    start_step = int(state.step)
    self.batches = data_lib.iterate(self.ex.data, self.ex.layout(), start_step,
                                    self.step_fn.batch_sharding,
                                    prefetch=self.cfg.data.prefetch)
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
    """config.json and run_info.json (once per session)."""
    if self.is_chief and not self._records_written:
      workdir_lib.write_text(self.paths.config, self.cfg.to_json_best_effort(indent=2) + '\n')
      workdir_lib.write_json(self.paths.run_info, run_record(
          self.ex, self.initial_state, evaluation=self.evaluator.protocol))
    self._records_written = True

  def _close(self) -> None:
    for closable in (self.batches, self.ckpt, self.evaluator, self.writer):
      closable.close()

  def _loop(self, state, start_step: int) -> state_lib.GANState:
    cfg, log, num_steps = self.cfg, self.cfg.log, self.cfg.train.num_steps
    rate = _Rate(start_step)
    in_flight = collections.deque()
    with _Preemption() as preemption:
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
        if _every(done, log.every_steps, num_steps):
          self._log_scalars(done, metrics, rate)
        if self.is_chief and _every(done, log.samples_every, num_steps):
          self.pictures.samples(done, state)
        if self.is_chief and _every(done, self.pictures.attention_every, num_steps):
          self.pictures.attention(done, state)
        if self.evaluator.due(done):
          with rate.paused():   # steps/s stays a training rate
            self.writer.scalars(done, self.evaluator(done, state))
            if self.evaluator.improved and self.is_chief:
              self.pictures.samples(done, state, name='best')
        if _every(done, cfg.train.checkpoint_every, num_steps) or preemption.requested:
          self._checkpoint(done, state, metrics)
          if preemption.requested:
            self.ckpt.wait()
            raise errors.Preempted(
                f'SIGTERM: saved a checkpoint at step {done} of {num_steps} in '
                f'{self.ckpt.directory}; rerun the same command to resume.')
    return state

  def _log_scalars(self, done: int, metrics, rate: '_Rate') -> None:
    """The step's metrics (mean over devices) to TensorBoard, metrics.jsonl and the console;
    a non-finite loss stops the run."""
    num_steps = self.cfg.train.num_steps
    values = {k: float(np.mean(v)) for k, v in _to_host(metrics).items()}
    bad = sorted(k for k, v in values.items() if not np.isfinite(v))
    if bad:
      raise errors.TrainingDiverged(
          f'{", ".join(bad)} became non-finite at step {done}; {self._kept()}: lower the '
          f'learning rates or change the loss, then rerun.')
    steps_per_sec = rate.tick(done)
    if steps_per_sec:
      t = self.cfg.train
      values['steps_per_sec'] = steps_per_sec
      values['images_per_sec'] = steps_per_sec * t.batch_size * (t.d_steps + 1)
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
