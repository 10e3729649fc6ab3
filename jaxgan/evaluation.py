"""Evaluation during training: the experiment's evaluator plug-ins.

Every `config.eval.every_steps` generator steps (and at the last step), process 0 runs each
evaluator (`Experiment.evaluators`; from a config, `config.eval.evaluators` names them in the
registry of `jaxgan.metrics.evaluators`, e.g. 'fid', 'kid', 'inception_score', 'prdc', each
with its own settings in `config.eval.<name>`) on `config.eval.num_samples` generated images
against the data source's reference images; the values are logged as `eval/<name>`
(TensorBoard and metrics.jsonl), which gives each run the FID curve of the seed's Figures
10-11. The state with the best value of `config.eval.best_metric` (default 'fid') is kept as
an orbax checkpoint in `workdir/best_fid`, its value and step in `best_fid.json`, and its
sample grid as `samples/best_fid.png`; "best" is the lowest or the highest value as the
evaluator that yields the metric declares (`metrics = {'fid': 'lower'}`; the Inception Score
and precision/recall/density/coverage are higher-is-better).

Generated images always come from the same latent draws (seeded by `config.eval.seed`) and
the sampling weights (the EMA when the run keeps one), so two points of a curve differ by the
generator only. Evaluators that share a feature network share one pass over the generated
images (`evaluators.evaluate_all`: 'fid', 'kid' and 'prdc' read the same pool3 features).
Real images come from the run's data source, as it trains (same size, channels, crop and
resize; `config.eval.reference_split` picks another split of a TFDS dataset),
min(num_samples, dataset size) of them, a random subset seeded by `config.eval.seed`; their
statistics (with features for KID and PRDC) are computed once per (the source's `identity()`:
name, split, path, file count and size, image size, resize; count; the subset's seed and the
source's size; weights' sha256) and cached under `config.eval.cache_dir` (default
$JAXGAN_CACHE or ~/.cache/jaxgan).

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

The config is read once, by `settings_from_config` and `evaluators_from_config`;
`TrainingEvaluator` takes the resulting `Settings` and evaluator objects.
"""

import contextlib
import dataclasses
import json
import os
import time
from typing import Any, Callable, Mapping, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import errors, workdir as workdir_lib
from jaxgan.metrics import evaluators as evaluators_lib
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights


@dataclasses.dataclass(frozen=True)
class Settings:
  """What every evaluator of a run shares (`config.eval`'s own keys).

  every_steps: evaluate every this many generator steps and at the last (0: never).
  num_samples: generated images per evaluation (real: min(this, the source's size)).
  chunk_size: images generated (and real images read) per call.
  seed: the latents' seed, the same at every evaluation; also picks the real subset.
  best_metric: the metric whose best value keeps `workdir/best_fid` ('': none).
  reference_split: another TFDS split to compare with ('': the split the run trains on).
  split: the reference images' split as the protocol records it (None: the source's `split`
    attribute, or unknown).
  """
  every_steps: int = 0
  num_samples: int = 10_000
  chunk_size: int = 500
  seed: int = 0
  best_metric: str = 'fid'
  reference_split: str = ''
  split: Optional[str] = None


def settings_from_config(config: ml_collections.ConfigDict, *,
                         data_from_config: bool = True) -> Settings:
  """`Settings` of `config.eval`; `data_from_config`: whether the run's data source is the one
  `config.data` describes (then the protocol records its split)."""
  e, d = config.eval, config.data
  split = None
  if data_from_config:
    # scikit-learn's digits come as one set of 1,797 images: no split.
    split = 'all' if d.dataset == 'digits' else (e.reference_split or d.split)
  return Settings(every_steps=int(e.every_steps), num_samples=int(e.num_samples),
                  chunk_size=int(e.chunk_size), seed=int(e.seed),
                  best_metric=str(e.best_metric), reference_split=str(e.reference_split),
                  split=split)


def evaluator_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The evaluator names; 'fid,kid' (how --config.eval.evaluators=fid,kid arrives) splits."""
  names = config.eval.evaluators
  if isinstance(names, str):
    names = (names,)
  return tuple(n.strip() for item in names for n in item.split(',') if n.strip())


def _check_keys(eval_config: ml_collections.ConfigDict) -> None:
  """ConfigError for a key of config.eval that no evaluator reads (one that moved: its place)."""
  for key in eval_config:
    if key in evaluators_lib.RESERVED or key in evaluators_lib.registered():
      continue
    if key in evaluators_lib.MOVED:   # ('kid', now an evaluator's section, never gets here)
      raise errors.ConfigError(f'config.eval.{key} moved to config.eval.'
                               f'{evaluators_lib.MOVED[key]} (each evaluator has its own '
                               f'settings); set that instead.')
    raise errors.ConfigError(
        f'config.eval.{key} is neither a setting of config.eval nor a registered evaluator; '
        f'register the evaluator first (jaxgan.metrics.evaluators.register) or remove it.')


def _build(config: ml_collections.ConfigDict, names) -> dict[str, Any]:
  e = config.eval
  _check_keys(e)
  for name in names:
    errors.check_choice('eval.evaluators', name, evaluators_lib.registered())
  context = evaluators_lib.Context(
      seed=e.seed, cache_dir=torch_weights.cache_dir(e.cache_dir or None),
      chunk_size=e.chunk_size, inception_weights=e.inception.weights or None,
      inception_batch_size=e.inception.batch_size)
  return {name: evaluators_lib.make_evaluator(name, e.get(name), context=context)
          for name in names}


def evaluators_from_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{name: evaluator} of config.eval.evaluators ({} when evaluation is off); nothing loads."""
  if not config.eval.every_steps:
    return {}
  return _build(config, evaluator_names(config))


def best_direction(evaluators: Mapping[str, Any], metric: str) -> Optional[str]:
  """LOWER or HIGHER as the evaluator yielding `metric` declares; None when none declares a
  direction for it."""
  for name, evaluator in evaluators.items():
    direction = evaluators_lib.check_metrics(name, evaluator).get(metric)
    if direction is not None:
      return direction
  return None


def _rankable(evaluators: Mapping[str, Any]) -> list[str]:
  return [m for name, e in evaluators.items()
          for m, d in evaluators_lib.check_metrics(name, e).items() if d is not None]


def validate(config: ml_collections.ConfigDict) -> None:
  """ConfigError for unknown evaluator names or settings, evaluation of 2-D data (no images),
  too few samples, and a best_metric no evaluator yields with a direction."""
  names = evaluator_names(config)
  built = _build(config, names)   # every evaluator's settings, checked even when it is off
  if not names or not config.eval.every_steps:
    return
  if config.data.dataset in data_lib.MIXTURES:
    raise errors.ConfigError(
        f'config.eval.evaluators={names!r} need images, but {config.data.dataset!r} is 2-D '
        'data (its mode coverage is logged instead); set --config.eval.evaluators=\'\'.')
  num = config.eval.num_samples
  if isinstance(num, bool) or not isinstance(num, int) or num < 2:
    raise errors.ConfigError(
        f'config.eval.num_samples={num!r} must be an integer >= 2 (10,000 or more for FIDs '
        'comparable to published ones).')
  for evaluator in built.values():
    if hasattr(evaluator, 'check_counts'):
      evaluator.check_counts(num, num, fake_name='images (config.eval.num_samples)',
                             real_name='images (config.eval.num_samples)')
  best = config.eval.best_metric
  if best and best_direction(built, best) is None:
    raise errors.ConfigError(
        f'config.eval.best_metric={best!r} is not a metric of the evaluators {names!r}; '
        f'choose one of {_rankable(built)} or \'\' (no best checkpoint).')


def reference(source, *, split: Optional[str] = None, seed: Optional[int] = None) -> dict:
  """{'source', 'split', 'seed', 'num_examples'} of the images a run's evaluations compare
  with: `source`, its images picked by `reference_images(num, seed=seed)` (seed None: not
  recorded); `split`: the split to record where the source has no `split` attribute."""
  name = (source.identity() if hasattr(source, 'identity')
          else getattr(source, 'name', type(source).__name__))
  split = getattr(source, 'split', None) or split
  return {'source': name, 'split': split, 'seed': seed,
          'num_examples': _size(source) if seed is not None else None}


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


class TrainingEvaluator:
  """Runs the experiment's evaluators on process 0 and keeps the best checkpoint on all.

  `experiment` gives the evaluators, the data source, `generate` and `ema`; `settings`
  what they share; `num_steps` the run's last step (always evaluated).
  """

  def __init__(self, experiment, paths: workdir_lib.Paths, *, settings: Settings,
               num_steps: int, is_chief: bool):
    self.experiment = experiment
    self.evaluators = dict(experiment.evaluators)
    self.settings = settings
    self.paths = paths
    self.every = settings.every_steps if self.evaluators else 0
    self.num_steps = int(num_steps)
    self.is_chief = is_chief
    self.best_metric = settings.best_metric if self.every else ''
    if self.every:
      for name, evaluator in self.evaluators.items():
        evaluators_lib.check_metrics(name, evaluator)
    # Which way the best checkpoint's metric improves, as its evaluator declares.
    self.direction = None
    if self.best_metric:
      self.direction = best_direction(self.evaluators, self.best_metric)
      if self.direction is None:
        raise errors.ConfigError(
            f'config.eval.best_metric={self.best_metric!r} is not a metric the evaluators '
            f'{sorted(self.evaluators)} declare with a direction; choose one of '
            f'{_rankable(self.evaluators)} or \'\' (no best checkpoint).')
    self.best = self._read_best()
    self._best_ckpt = None
    self._protocol = None
    self.improved = False   # whether the last call found a new best
    self.reference = experiment.data   # where real images come from (reference_split)
    self.needs_real = any(getattr(e, 'needs_real', True) for e in self.evaluators.values())
    if not self.every:
      return
    if is_chief:
      if not hasattr(experiment.data, 'reference_images') and self.needs_real:
        raise errors.ConfigError(
            'the evaluators compare with real images, but the data source has no '
            'reference_images(); pass evaluators={} or a source with images (ArraySource).')
      self.reference = data_lib.reference_source(experiment.data, settings.reference_split)
      if self.reference is not experiment.data:
        self.reference.prepare()   # a missing split fails now, not at the first evaluation
      try:   # load the networks now, so that missing Inception weights fail before training
        for evaluator in self.evaluators.values():
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
      metric = best.get('metric', 'fid')   # the first best_fid.json files named none
      if metric != self.best_metric:
        logging.warning('%s holds the best %s, but this run keeps the best %s; the best '
                        'checkpoint starts afresh.', path, metric, self.best_metric)
        return None
      return {'step': int(best['step']), 'value': float(best['value'])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
      logging.warning('%s is unreadable; the best checkpoint starts afresh.', path)
      return None

  def _num_real(self) -> int:
    num = self.settings.num_samples
    return min(num, getattr(self.reference, 'num_examples', num))

  def _better(self, value: float) -> bool:
    if self.best is None:
      return True
    if self.direction == evaluators_lib.HIGHER:
      return value > self.best['value']
    return value < self.best['value']

  @property
  def protocol(self) -> Optional[dict]:
    """The protocol record of this run's evaluations (None when it does not evaluate)."""
    if not self.every:
      return None
    if self._protocol is None:
      s = self.settings
      fields = {}
      for evaluator in self.evaluators.values():
        if hasattr(evaluator, 'protocol_fields'):
          fields.update(evaluator.protocol_fields())
      num_real = self._num_real() if self.needs_real else None
      if fields.get('kid') and num_real is not None:   # what KID really uses at these counts
        fields['kid'] = protocol_lib.kid_record(
            s.num_samples, num_real, subsets=fields['kid']['subsets'],
            subset_size=fields['kid']['subset_size'], seed=fields['kid']['seed'])
      networks = [e.features for e in self.evaluators.values()
                  if getattr(e, 'features', None) is not None]
      self._protocol = protocol_lib.record(
          num_fake=s.num_samples, num_real=num_real,
          reference=(reference(self.reference, split=s.split, seed=s.seed)
                     if self.needs_real else None),
          generation={'seed': s.seed, 'batch_size': s.chunk_size, 'step': None,
                      'ema': bool(self.experiment.ema is not None)},
          weights_sha256=getattr(networks[0], 'weights_sha256', None) if networks else None,
          **fields)
    return self._protocol

  def _evaluate_on_chief(self, state, step: int) -> dict[str, float]:
    s = self.settings
    num, chunk = s.num_samples, s.chunk_size
    # Host copies: only process 0 evaluates, so no computation may span other processes.
    host_state = state.replace(**dict(zip(
        ('g_params', 'ema_params', 'g_state', 'ema_state'),
        jax.device_get((state.g_params, state.ema_params, state.g_state, state.ema_state)))))
    data = self.reference
    num_real = self._num_real()
    key = data.identity() if hasattr(data, 'identity') else type(data).__name__
    weights = 'EMA' if self.experiment.ema is not None else 'current'
    against = (f' against {num_real} real images of {reference(data)["source"]}'
               f' (their statistics cached after the first evaluation)'
               if self.needs_real else '')
    logging.info('step %d: evaluating %s of the %s generator on %d generated images%s.', step,
                 ', '.join(self.evaluators), weights, num, against)

    def generate():
      fakes = self.experiment.generate(host_state, num, seed=s.seed, batch_size=chunk)
      return Stream((_rgb(x) for x, _ in fakes),
                    _Progress(f'step {step}: evaluation, generated', num))

    def real():
      return Stream((_rgb(x) for x in (
          data.reference_images(num_real, seed=s.seed, chunk=chunk)
          if hasattr(data, 'reference_images') else iter(()))),
                    _Progress(f'step {step}: evaluation, real', num_real))

    return evaluators_lib.evaluate_all(
        self.evaluators, generate=generate, real=real, num_samples=num, num_real=num_real,
        dataset_key=key, reference_selection=reference_selection(data, s.seed))

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
    if self._best_ckpt is not None and np.isfinite(metric) and self._better(float(metric)):
      self._best_ckpt.save(step, state)
      self.best = {'step': step, 'value': float(metric)}
      self.improved = True
      if self.is_chief:
        workdir_lib.write_json(self.paths.best_json, {
            'step': step, 'metric': self.best_metric, 'better': self.direction,
            'value': float(metric), self.best_metric: float(metric),
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
