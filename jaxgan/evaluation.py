"""Evaluation during training: the experiment's evaluator plug-ins.

Every `config.eval.every_steps` generator steps (and at the last step), process 0 runs each
evaluator (`Experiment.evaluators`; from a config, `config.eval.evaluators` names them in
`jaxgan.metrics.evaluators.EVALUATORS`, e.g. 'fid', 'kid', 'inception_score') on
`config.eval.num_samples` generated images against the data source's reference images; the
values are logged as `eval/<name>` (TensorBoard and metrics.jsonl), which gives each run the
FID curve of the seed's Figures 10-11. The state with the lowest `config.eval.best_metric`
(default 'fid'; the highest for scores where higher is better, e.g. the Inception Score) is
kept as an orbax checkpoint in `workdir/best_fid`, its value and step in
`best_fid.json`, and its sample grid as `samples/best_fid.png`.

Generated images always come from the same latent draws (seeded by `config.eval.seed`) and
the sampling weights (the EMA when the run keeps one), so two points of a curve differ by the
generator only. The Inception evaluators share one pass over the generated images
(`evaluators.evaluate_all`: 'fid' and 'prdc' read the same pool3 features). Real images come
from the run's data source, as it trains (same size, channels, crop and resize;
`config.eval.reference_split` picks another split of a TFDS dataset), min(num_samples,
dataset size) of them, a random subset seeded by `config.eval.seed`; their statistics (with
features for KID and PRDC) are computed once per (the source's `identity()`: name, split, path,
file count and size, image size, resize; count; the subset's seed and the source's size;
weights' sha256) and cached under `config.eval.cache_dir` (default $JAXGAN_CACHE or
~/.cache/jaxgan).

Every number carries its protocol (`jaxgan.metrics.protocol.record`: image counts, reference
source, split, subset seed and source size, the latents' seed and batch, the step and EMA,
resize, Inception weights' sha256, k, KID's subsets, jaxgan version): metrics.jsonl's
evaluation rows hold it as one object under `eval/protocol` (an object, not flat keys: its
sha256 and source are strings, which a scalar column cannot hold, and the row then holds the
same record as `python -m jaxgan.tools.evaluate --json`; scalar readers such as TensorBoard
and the report's curves skip it), best_fid.json under `protocol`, and run_info.json under
`evaluation` (the run's protocol, written with the session's first complete checkpoint: its
step is null).

Each evaluation logs what it evaluates (the evaluators, the sampling weights, how many
generated and real images, the reference) and then its progress with an ETA every
`PROGRESS_SECONDS` while it draws images.
"""

import contextlib
import json
import os
import time
from typing import Any, Callable, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors, workdir as workdir_lib
from jaxgan.metrics import protocol as protocol_lib


def evaluator_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The evaluator names; 'fid,kid' (how --config.eval.evaluators=fid,kid arrives) splits."""
  names = config.eval.evaluators
  if isinstance(names, str):
    names = (names,)
  return tuple(n.strip() for item in names for n in item.split(',') if n.strip())


def validate(config: ml_collections.ConfigDict) -> None:
  """ConfigError for unknown evaluator names, evaluation of 2-D data (no images) and bad
  evaluation settings (PRDC's k, too few samples for it)."""
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  from jaxgan.metrics import evaluators  # pylint: disable=g-import-not-at-top
  k_pr, k_dc = evaluators.check_prdc_k(config.eval.prdc_k_pr, config.eval.prdc_k_dc)
  names = evaluator_names(config)
  if not names or not config.eval.every_steps:
    return
  for name in names:
    errors.check_choice('eval.evaluators', name, evaluators.EVALUATORS)
  if config.data.dataset in data.MIXTURES:
    raise errors.ConfigError(
        f'config.eval.evaluators={names!r} need images, but {config.data.dataset!r} is 2-D '
        'data (its mode coverage is logged instead); set --config.eval.evaluators=\'\'.')
  if config.eval.num_samples < 2:
    raise errors.ConfigError(
        f'config.eval.num_samples={config.eval.num_samples} must be >= 2 (10,000 or more for '
        'FIDs comparable to published ones).')
  if 'prdc' in names:
    evaluators.check_prdc_counts(
        config.eval.num_samples, config.eval.num_samples, k_pr, k_dc,
        fake_name='images (config.eval.num_samples)',
        real_name='images (config.eval.num_samples)',
        k_names=('config.eval.prdc_k_pr', 'config.eval.prdc_k_dc'))
  if config.eval.best_metric and config.eval.best_metric not in _metric_names(names):
    raise errors.ConfigError(
        f'config.eval.best_metric={config.eval.best_metric!r} is not a metric of the '
        f'evaluators {names!r}; choose one of {_metric_names(names)} or \'\' (no best '
        f'checkpoint).')


# Metrics where a larger value is better (the best checkpoint keeps the largest).
HIGHER_IS_BETTER = frozenset({'inception_score', 'precision', 'recall', 'density', 'coverage'})


def _metric_names(names) -> list[str]:
  out = []
  for name in names:
    out += {'fid': ['fid', 'kid'], 'kid': ['kid'],
            'inception_score': ['inception_score'],
            'prdc': ['precision', 'recall', 'density', 'coverage']}.get(name, [name])
  return out


def evaluators_from_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{name: evaluator} of config.eval.evaluators ({} when evaluation is off); nothing loads."""
  if not config.eval.every_steps:
    return {}
  from jaxgan.metrics import evaluators, torch_weights  # pylint: disable=g-import-not-at-top
  cache = torch_weights.cache_dir(config.eval.cache_dir or None)
  return {name: evaluators.make_evaluator(name, config.eval, cache_dir=cache)
          for name in evaluator_names(config)}


def reference(experiment, source=None, *, seed: Optional[int] = None) -> dict:
  """{'source', 'split', 'seed', 'num_examples'} of the images a run's evaluations compare
  with: `source` (default: the experiment's data source), its images picked by
  `reference_images(num, seed=seed)` (seed None: not recorded)."""
  data = experiment.data if source is None else source
  name = (data.identity() if hasattr(data, 'identity')
          else getattr(data, 'name', type(data).__name__))
  split = getattr(data, 'split', None)
  if split is None and 'data' in experiment.from_config:
    d = experiment.config.data
    # scikit-learn's digits come as one set of 1,797 images: no split.
    split = 'all' if d.dataset == 'digits' else (experiment.config.eval.reference_split
                                                 or d.split)
  return {'source': name, 'split': split, 'seed': seed,
          'num_examples': _size(data) if seed is not None else None}


def _size(source) -> Optional[int]:
  """The source's number of images, None where it does not say (a source of one's own)."""
  try:
    return int(source.num_examples)
  except (AttributeError, NotImplementedError, TypeError):
    return None


def reference_selection(source, seed: int) -> dict:
  """How `source.reference_images(num, seed=seed)` picks its images (the real statistics'
  cache key, `evaluators.real_statistics`): the seed and the source's size."""
  return {'seed': int(seed), 'num_examples': _size(source)}


def _rgb(images: np.ndarray) -> np.ndarray:
  """Greyscale (..., 1) images repeated to the three channels Inception reads."""
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


PROGRESS_SECONDS = 10.0   # how often an evaluation logs its progress


class _Progress:
  """Logs '<what>: i/total images (ETA h:mm:ss)' at most every PROGRESS_SECONDS."""

  def __init__(self, what: str, total: int):
    self.what, self.total, self.done = what, total, 0
    self.start = self.last = time.perf_counter()

  def add(self, n: int) -> None:
    self.done += n
    now = time.perf_counter()
    if now - self.last >= PROGRESS_SECONDS and self.done < self.total:
      self.last = now
      eta = (now - self.start) / self.done * (self.total - self.done)
      logging.info('%s: %d/%d images (ETA %s)', self.what, self.done, self.total,
                   time.strftime('%H:%M:%S', time.gmtime(eta)))


class Stream:
  """Adapts a generator of image chunks to the evaluators' `sample(n) -> exactly n images`;
  `progress` (optional) counts the images drawn."""

  def __init__(self, chunks, progress: Optional[_Progress] = None):
    self._chunks = chunks
    self._buffer = []
    self._held = 0
    self._progress = progress

  def __call__(self, n: int) -> np.ndarray:
    while self._held < n:
      chunk = next(self._chunks)
      self._buffer.append(chunk)
      self._held += len(chunk)
      if self._progress is not None:
        self._progress.add(len(chunk))
    out = np.concatenate(self._buffer)
    self._buffer = [out[n:]]
    self._held -= n
    return out[:n]


def _settings(experiment) -> ml_collections.ConfigDict:
  """The evaluation settings: the config's `eval` section (the defaults for an experiment
  made in code, which has no config)."""
  from jaxgan.metrics import evaluators  # pylint: disable=g-import-not-at-top
  return evaluators.settings(None if experiment.config is None else experiment.config.eval)


class TrainingEvaluator:
  """Runs the experiment's evaluators on process 0 and keeps the best checkpoint on all."""

  def __init__(self, experiment, paths: workdir_lib.Paths, *, is_chief: bool):
    self.experiment = experiment
    self.paths = paths
    cfg = _settings(experiment)
    self.every = experiment.loop.eval_every if experiment.evaluators else 0
    self.num_steps = experiment.loop.num_steps
    self.is_chief = is_chief
    self.best_metric = cfg.best_metric if self.every else ''
    self.best = self._read_best()
    self._best_ckpt = None
    self._protocol = None
    self.improved = False   # whether the last call found a new best
    self.reference = experiment.data   # where real images come from (eval.reference_split)
    if not self.every:
      return
    if is_chief:
      if not hasattr(experiment.data, 'reference_images') and any(
          getattr(e, 'needs_real', True) for e in experiment.evaluators.values()):
        raise errors.ConfigError(
            'the evaluators compare with real images, but the data source has no '
            'reference_images(); pass evaluators={} or a source with images (ArraySource).')
      from jaxgan import data as data_lib  # pylint: disable=g-import-not-at-top
      self.reference = data_lib.reference_source(experiment.data, cfg.reference_split)
      if self.reference is not experiment.data:
        self.reference.prepare()   # a missing split fails now, not at the first evaluation
      try:   # load the networks now, so that missing Inception weights fail before training
        for evaluator in experiment.evaluators.values():
          if hasattr(evaluator, 'prepare'):
            evaluator.prepare()
      except errors.JaxganError as e:
        raise type(e)(f'{str(e).rstrip(".")}; or train without evaluation: '
                      '--config.eval.every_steps=0.') from e
    if self.best_metric:
      self._best_ckpt = checkpoint_lib.Checkpointer(paths.best_checkpoints, keep=1)

  def due(self, step: int) -> bool:
    return bool(self.every) and (step % self.every == 0 or step == self.num_steps)

  def _read_best(self) -> Optional[dict]:
    path = self.paths.best_json
    if not os.path.exists(path):
      return None
    try:
      with open(path) as f:
        best = json.load(f)
      return {'step': int(best['step']), 'value': float(best['value'])}
    except (OSError, ValueError, KeyError, TypeError):
      logging.warning('%s is unreadable; the best checkpoint starts afresh.', path)
      return None

  def _num_real(self) -> int:
    num = int(_settings(self.experiment).num_samples)
    return min(num, getattr(self.reference, 'num_examples', num))

  @property
  def protocol(self) -> Optional[dict]:
    """The protocol record of this run's evaluations (None when it does not evaluate)."""
    if not self.every:
      return None
    if self._protocol is None:
      cfg = _settings(self.experiment)
      fields = {}
      for evaluator in self.experiment.evaluators.values():
        if hasattr(evaluator, 'protocol_fields'):
          fields.update(evaluator.protocol_fields())
      needs_real = any(getattr(e, 'needs_real', True)
                       for e in self.experiment.evaluators.values())
      num_real = self._num_real() if needs_real else None
      if fields.get('kid') and num_real is not None:   # what KID really uses at these counts
        fields['kid'] = protocol_lib.kid_record(
            int(cfg.num_samples), num_real, subsets=fields['kid']['subsets'],
            subset_size=fields['kid']['subset_size'], seed=fields['kid']['seed'])
      self._protocol = protocol_lib.record(
          num_fake=int(cfg.num_samples), num_real=num_real,
          reference=(reference(self.experiment, self.reference, seed=int(cfg.seed))
                     if needs_real else None),
          generation={'seed': int(cfg.seed), 'batch_size': int(cfg.chunk_size), 'step': None,
                      'ema': self.experiment.ema is not None},
          weights_sha256=protocol_lib.weights_sha256(cfg.weights or None), **fields)
    return self._protocol

  def _evaluate_on_chief(self, state, step: int) -> dict[str, float]:
    from jaxgan.metrics import evaluators  # pylint: disable=g-import-not-at-top
    cfg = _settings(self.experiment)
    num, chunk = int(cfg.num_samples), int(cfg.chunk_size)
    # Host copies: only process 0 evaluates, so no computation may span other processes.
    host_state = state.replace(**dict(zip(
        ('g_params', 'ema_params', 'g_state'),
        jax.device_get((state.g_params, state.ema_params, state.g_state)))))
    data = self.reference
    num_real = self._num_real()
    key = data.identity() if hasattr(data, 'identity') else type(data).__name__
    weights = 'EMA' if self.experiment.ema is not None else 'current'
    needs_real = any(getattr(e, 'needs_real', True) for e in self.experiment.evaluators.values())
    against = (f' against {num_real} real images of {reference(self.experiment, data)["source"]}'
               f' (their statistics cached after the first evaluation)' if needs_real else '')
    logging.info('step %d: evaluating %s of the %s generator on %d generated images%s.', step,
                 ', '.join(self.experiment.evaluators), weights, num, against)

    def generate():
      fakes = self.experiment.generate(host_state, num, seed=int(cfg.seed), batch_size=chunk)
      return Stream((_rgb(x) for x, _ in fakes),
                    _Progress(f'step {step}: evaluation, generated', num))

    def real():
      return Stream((_rgb(x) for x in (
          data.reference_images(num_real, seed=int(cfg.seed), chunk=chunk)
          if hasattr(data, 'reference_images') else iter(()))),
                    _Progress(f'step {step}: evaluation, real', num_real))

    return evaluators.evaluate_all(self.experiment.evaluators, generate=generate, real=real,
                                   num_samples=num, num_real=num_real, dataset_key=key,
                                   reference_selection=reference_selection(data, int(cfg.seed)))

  def __call__(self, step: int, state, *,
               interruptible: Callable[[], Any] = contextlib.nullcontext) -> dict[str, Any]:
    """Evaluates at `step`; returns {'eval/<name>': value, 'eval/seconds': s,
    'eval/protocol': record} (empty off process 0). `interruptible()` wraps the computation
    (the training loop's: a signal stops it at once); the best checkpoint is saved outside."""
    start = time.perf_counter()
    self.improved = False
    with interruptible():
      values = self._evaluate_on_chief(state, step) if self.is_chief else {}
    seconds = time.perf_counter() - start
    if self.is_chief:
      logging.info('step %d: %s (%.1f s)', step,
                   ', '.join(f'{k}={v:.4g}' for k, v in sorted(values.items())), seconds)
    metric = values.get(self.best_metric, np.nan)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      metric = float(multihost_utils.broadcast_one_to_all(np.float64(metric)))
    sign = -1.0 if self.best_metric in HIGHER_IS_BETTER else 1.0
    if self._best_ckpt is not None and np.isfinite(metric) and (
        self.best is None or sign * metric < sign * self.best['value']):
      self._best_ckpt.save(step, state)
      self.best = {'step': step, 'value': float(metric)}
      self.improved = True
      if self.is_chief:
        workdir_lib.write_json(self.paths.best_json, {
            'step': step, 'metric': self.best_metric, 'value': float(metric),
            self.best_metric: float(metric),
            'protocol': protocol_lib.at_step(self.protocol, step)})
    out: dict[str, Any] = {f'eval/{k}': v for k, v in values.items()}
    if values:
      out['eval/seconds'] = seconds
      out['eval/protocol'] = protocol_lib.at_step(self.protocol, step)
    return out

  def close(self) -> None:
    if self._best_ckpt is not None:
      self._best_ckpt.wait()
      self._best_ckpt.close()
