"""`train_and_evaluate(config, workdir)`: the whole training run, in one readable loop."""

import collections
import functools
import json
import os
import signal
import time
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_checks, data, errors, evaluation, images, losses, models
from jaxgan import state as state_lib, steps
from jaxgan.metrics import mixtures


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


def _write_run_record(config, workdir: str, **fields) -> None:
  """The resolved config and the environment (plus `fields`), for reproducibility."""
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  versions = {}
  for package in ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint', 'numpy',
                  'tensorflow-datasets'):
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
      **fields,
  }
  try:
    import subprocess  # pylint: disable=g-import-not-at-top
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    record['git_revision'] = subprocess.run(
        ['git', '-C', root, 'rev-parse', 'HEAD'], capture_output=True, text=True,
        timeout=10).stdout.strip() or None
  except Exception:  # pylint: disable=broad-except
    record['git_revision'] = None
  with open(os.path.join(workdir, 'run_info.json'), 'w') as f:
    json.dump(record, f, indent=2)


def _lock(workdir: str):
  """An exclusive lock on workdir/.lock: two runs writing one workdir corrupt each other."""
  import fcntl  # pylint: disable=g-import-not-at-top
  f = open(os.path.join(workdir, '.lock'), 'w')
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    f.close()
    raise errors.WorkdirBusy(
        f'another jaxgan run is training in {workdir} (it holds {workdir}/.lock); wait for it '
        'to finish or stop it, or pass another --workdir.') from None
  return f


def _to_host(tree):
  """Per-device values of every process (an all-gather when several processes run)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


@jax.jit
def _finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
                            if jnp.issubdtype(x.dtype, jnp.floating)]))


def _all_finite(tree) -> bool:
  return bool(_finite(tree))   # one module-level jit: compiled once per state structure


class _Writer:
  """TensorBoard scalars and images on process 0; a no-op elsewhere.

  Scalars also go, one JSON object per line with the step and the run's wall time, to
  `metrics.jsonl`: what `jaxgan.report` reads (no TensorBoard event parsing needed).
  """

  def __init__(self, workdir: str, enabled: bool):
    self._tb = None
    self._jsonl = None
    if enabled:
      from flax.metrics import tensorboard  # pylint: disable=g-import-not-at-top
      self._tb = tensorboard.SummaryWriter(workdir)
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def scalars(self, step: int, values: dict) -> None:
    if self._tb:
      for k, v in values.items():
        self._tb.scalar(k, float(v), step)
      record = {'step': int(step), 'time': time.time()}
      record.update({k: float(v) for k, v in values.items()})
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


# Models, optimisers and compiled steps of the configs trained in this process, by what they
# depend on. jax.pmap keeps every executable it compiles alive for as long as the process runs
# (a new pmapped function per call adds ~25 MB and ~650 memory maps with the tiny test models;
# jax.jit does not), so studies, sweeps and tests that train many runs in one process reuse
# one pmapped step per distinct setting instead of leaking one per run.
_BUILT: dict[str, tuple] = {}


def _built(config: ml_collections.ConfigDict) -> tuple:
  """(generator, discriminator, loss, tx_g, tx_d, train_step, sample) for `config`."""
  key = json.dumps({
      'model': config.model.to_dict(), 'loss': config.loss.to_dict(),
      'optim': config.optim.to_dict(), 'dataset': config.data.dataset,
      'image_size': config.data.image_size,
      'ema': [config.train.get('ema_decay', 0.0), config.train.get('ema_start', 0)],
      'devices': [d.id for d in jax.devices()]}, sort_keys=True, default=repr)
  if key not in _BUILT:
    generator, discriminator = models.build(config)
    loss = losses.from_config(config.loss)
    tx_g, tx_d = state_lib.optimizers(config)
    train_step = steps.make_train_step(config, generator, discriminator, loss, tx_g, tx_d)
    _BUILT[key] = (generator, discriminator, loss, tx_g, tx_d, train_step,
                   steps.make_sample_fn(generator))
  return _BUILT[key]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> state_lib.GANState:
  """Trains (resuming from `workdir` if it holds checkpoints); returns the final state."""
  # --- config and workdir ---------------------------------------------------------------------
  config_checks.validate(config)
  workdir = os.path.abspath(workdir)
  is_chief = jax.process_index() == 0
  lock = None
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    lock = _lock(workdir)
  try:
    return _train(config, workdir, is_chief)
  finally:
    if lock is not None:
      lock.close()


def _train(config: ml_collections.ConfigDict, workdir: str, is_chief: bool) -> state_lib.GANState:
  """The run itself, with the config validated and the workdir locked."""
  writer = _Writer(workdir, enabled=is_chief)

  # --- input (fails fast on a missing dataset, before anything compiles) ----------------------
  local_devices = jax.local_devices()
  source = data.Source(config, process_index=jax.process_index(),
                       process_count=jax.process_count(), local_devices=len(local_devices))
  # On a mesh whose axis has the step's own name, so that the state the step returns has the
  # very sharding it was given and the step compiles once (tests/test_steady_state.py).
  replicated, batch_sharding = steps.input_shardings()

  # --- model, loss, state ---------------------------------------------------------------------
  generator, discriminator, loss, tx_g, tx_d, train_step, sample = _built(config)
  # Replicated over every device of every process (what the step's unmapped state is).
  state = jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(replicated, np.asarray(x)),
      state_lib.create(config, generator, discriminator, tx_g, tx_d))
  g_count, d_count = state_lib.param_count(state.g_params), state_lib.param_count(state.d_params)
  logging.info('Generator: %d params; discriminator: %d params; loss: %r.', g_count, d_count, loss)
  if is_chief:
    _write_run_record(config, workdir, g_params=g_count, d_params=d_count, loss=repr(loss))

  # --- checkpoint -----------------------------------------------------------------------------
  ckpt = checkpoint_lib.Checkpointer(workdir, keep=config.train.keep_checkpoints)
  start_step = 0
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    start_step = int(state.step)
    logging.info('Resumed from %s at step %d.', ckpt.directory, start_step)
  last_saved = start_step if ckpt.latest_step() is not None else None

  # --- compiled functions, built once ---------------------------------------------------------
  use_ema = config.train.get('ema_decay', 0.0) > 0
  num_classes = config.model.get('num_classes', 0)
  fixed_key = jax.random.fold_in(jax.random.key(config.train.seed), 0x5a11)
  fixed_z = jax.random.normal(fixed_key, (config.log.num_samples, config.model.z_dim))
  fixed_y = (jnp.arange(config.log.num_samples) % num_classes) if num_classes else None
  is_2d = config.data.dataset in data.MIXTURES

  def log_samples(step: int, st, name: Optional[str] = None) -> None:
    # Host copies: only process 0 samples, so no computation may span other processes.
    params, g_state = jax.device_get((st.ema_params if use_ema else st.g_params, st.g_state))
    st = st.replace(g_state=g_state)
    if is_2d:
      z = jax.random.normal(jax.random.fold_in(fixed_key, 1), (2_500, config.model.z_dim))
      points = np.asarray(sample(params, st.g_state, z, None))
      centres, sigma = data.mixture_modes(config.data.dataset)
      stats = mixtures.mode_metrics(points, centres, sigma)
      writer.scalars(step, {f'modes/{k}': v for k, v in stats.items()})
      logging.info('step %d: %d/%d modes covered, %.1f%% high-quality samples.', step,
                   stats['modes_covered'], len(centres), 100 * stats['high_quality'])
      picture = images.scatter(points, centres, f'step {step}')
    else:
      picture = images.grid(np.asarray(sample(params, st.g_state, fixed_z, fixed_y)))
    images.save_png(picture, os.path.join(workdir, 'samples', name or f'step_{step:07d}.png'))
    if name is None:
      writer.image(step, 'samples', picture)

  # Evaluator plug-ins (FID, KID, IS); built now so that missing Inception weights fail early.
  evaluator = evaluation.TrainingEvaluator(
      config, workdir, generator=generator, sample_fn=sample,
      real_images=source.images if is_chief else None, is_chief=is_chief)

  attention_every = config.log.get('attention_every', 0)
  if attention_every and config.model.get('attention_resolution', 0) and not is_2d:
    from jaxgan import attention_viz  # pylint: disable=g-import-not-at-top
    attention_maps = jax.jit(functools.partial(attention_viz.attention_for, generator))
  else:
    attention_every = 0

  def log_attention(step: int, st) -> None:
    """The seed's attention figure: samples with query points and where each attends."""
    n = min(4, config.log.num_samples)
    params, g_state = jax.device_get((st.ema_params if use_ema else st.g_params, st.g_state))
    st = st.replace(g_state=g_state)
    y = None if fixed_y is None else fixed_y[:n]
    samples = np.asarray(sample(params, st.g_state, fixed_z[:n], y))
    beta = attention_maps({'params': params, **st.g_state}, fixed_z[:n], y)
    size = config.data.image_size
    queries = [(size // 4, size // 4), (size // 2, size // 2), (3 * size // 4, size // 3)]
    picture = attention_viz.render_attention(samples, beta, queries)
    images.save_png(picture, os.path.join(workdir, 'attention', f'step_{step:07d}.png'))
    writer.image(step, 'attention', picture)

  # --- loop -----------------------------------------------------------------------------------
  num_steps = config.train.num_steps
  batches = data.iterate(source, start_step, batch_sharding, prefetch=config.data.prefetch)
  timer_step, timer_time = start_step, time.perf_counter()
  metrics = None
  in_flight = collections.deque()
  with _Preemption() as preemption:
    for step in range(start_step, num_steps):
      state, metrics = train_step(state, next(batches))
      done = step + 1
      # At most two steps queued ahead of the host: enough to keep an accelerator busy, and
      # it stops XLA:CPU's in-process collectives from deadlocking when many queued steps on
      # many virtual devices compete for the thread pool.
      in_flight.append(metrics)
      if len(in_flight) > 2:
        jax.block_until_ready(in_flight.popleft())

      if done % config.log.every_steps == 0 or done == num_steps:
        values = {k: float(np.mean(v)) for k, v in _to_host(metrics).items()}
        bad = sorted(k for k, v in values.items() if not np.isfinite(v))
        if bad:
          raise errors.TrainingDiverged(
              f'{", ".join(bad)} became non-finite at step {done}; the last good checkpoint '
              f'(step {last_saved}) in {ckpt.directory} is kept: lower the learning rates or '
              f'change the loss, then rerun to resume from it.')
        now = time.perf_counter()
        rate = (done - timer_step) / max(now - timer_time, 1e-9)
        timer_step, timer_time = done, now
        values['steps_per_sec'] = rate
        values['images_per_sec'] = rate * config.train.batch_size * (config.train.d_steps + 1)
        writer.scalars(done, values)
        eta = (num_steps - done) / max(rate, 1e-9)
        logging.info('step %d/%d | %s | %.2f steps/s | ETA %s', done, num_steps,
                     ' '.join(f'{k}={v:.4f}' for k, v in sorted(values.items())
                              if k.endswith('total') or k.startswith('g/')),
                     rate, time.strftime('%H:%M:%S', time.gmtime(eta)))

      if config.log.samples_every and (done % config.log.samples_every == 0 or done == num_steps):
        if is_chief:
          log_samples(done, state)

      if attention_every and is_chief and (done % attention_every == 0 or done == num_steps):
        log_attention(done, state)

      if evaluator.due(done):
        eval_start = time.perf_counter()
        writer.scalars(done, evaluator(done, state))
        if evaluator.improved and is_chief:
          log_samples(done, state, name='best_fid.png')
        timer_time += time.perf_counter() - eval_start   # keep steps/s a training rate

      if done % config.train.checkpoint_every == 0 or done == num_steps or preemption.requested:
        if not _all_finite((state.g_params, state.d_params)):
          raise errors.TrainingDiverged(
              f'parameters became non-finite by step {done}; the last good checkpoint (step '
              f'{last_saved}) in {ckpt.directory} is kept: lower the learning rates or change '
              f'the loss, then rerun to resume from it.')
        ckpt.save(done, state)
        last_saved = done
        if preemption.requested:
          logging.warning('SIGTERM: saved a checkpoint at step %d; exiting.', done)
          break
  ckpt.wait()
  ckpt.close()
  evaluator.close()
  batches.close()
  writer.close()
  if is_chief:
    logging.info('Done. Samples in %s, TensorBoard logs and checkpoints in %s.',
                 os.path.join(workdir, 'samples'), workdir)
  return state
