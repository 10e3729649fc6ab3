"""Evaluation during training: the evaluator plug-ins named in `config.eval.evaluators`.

Every `config.eval.every_steps` generator steps (and at the last step), process 0 runs each
evaluator (`jaxgan.metrics.evaluators.EVALUATORS`, e.g. 'fid', 'kid', 'inception_score') on
`config.eval.num_samples` generated images against the training images; the values are logged
as `eval/<name>` (TensorBoard and metrics.jsonl), which gives each run the FID curve of the
seed's Figures 10-11. The state with the lowest `config.eval.best_metric` (default 'fid') is
kept as an orbax checkpoint in `workdir/best_fid`, its value and step in `best_fid.json`, and
its sample grid as `samples/best_fid.png`.

Generated images always come from the same latent draws (seeded by `config.eval.seed`), so two
points of a curve differ by the generator only. Real-image statistics are computed once per
(dataset, split, size, count, weights) and cached under `config.eval.cache_dir` (default
$JAXGAN_CACHE or ~/.cache/jaxgan); real images number min(num_samples, dataset size).
"""

import json
import os
import time
from typing import Callable, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors, sample as sample_lib

BEST_FILE = 'best_fid.json'


def evaluator_names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The evaluator names; 'fid,kid' (how --config.eval.evaluators=fid,kid arrives) splits."""
  names = config.eval.get('evaluators', ())
  if isinstance(names, str):
    names = (names,)
  return tuple(n.strip() for item in names for n in item.split(',') if n.strip())


def validate(config: ml_collections.ConfigDict) -> None:
  """ConfigError for unknown evaluator names and evaluation of 2-D data (no images)."""
  names = evaluator_names(config)
  if not names or not config.eval.every_steps:
    return
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  from jaxgan.metrics import evaluators  # pylint: disable=g-import-not-at-top
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


class _Stream:
  """Adapts a generator of image chunks to the evaluators' `sample(n) -> exactly n images`."""

  def __init__(self, chunks):
    self._chunks = chunks
    self._buffer = []
    self._held = 0

  def __call__(self, n: int) -> np.ndarray:
    while self._held < n:
      chunk = next(self._chunks)
      self._buffer.append(chunk)
      self._held += len(chunk)
    out = np.concatenate(self._buffer)
    self._buffer = [out[n:]]
    self._held -= n
    return out[:n]


class TrainingEvaluator:
  """Runs the configured evaluators on process 0 and keeps the best checkpoint on all."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, *, generator,
               sample_fn: Callable, real_images: Optional[np.ndarray], is_chief: bool):
    self.config = config
    self.workdir = workdir
    self.every = config.eval.every_steps if evaluator_names(config) else 0
    self.is_chief = is_chief
    self._generator = generator
    self._sample_fn = sample_fn
    self._real = real_images
    self.best_metric = config.eval.get('best_metric', 'fid') or ''
    self.best = self._read_best()
    self._evaluators = {}
    self._best_ckpt = None
    self.improved = False   # whether the last call found a new best
    if not self.every:
      return
    if is_chief:
      from jaxgan.metrics import evaluators  # pylint: disable=g-import-not-at-top
      cache = config.eval.get('cache_dir', '') or None
      from jaxgan.metrics import torch_weights  # pylint: disable=g-import-not-at-top
      # Built now, so missing Inception weights fail before training starts.
      try:
        self._evaluators = {
            name: evaluators.make_evaluator(name, config.eval, cache_dir=torch_weights.cache_dir(cache))
            for name in evaluator_names(config)}
      except errors.JaxganError as e:
        raise type(e)(f'{str(e).rstrip(".")}; or train without evaluation: '
                      '--config.eval.every_steps=0.') from e
    if self.best_metric:
      self._best_ckpt = checkpoint_lib.Checkpointer(workdir, keep=1,
                                                    subdir=checkpoint_lib.BEST_SUBDIR)

  def due(self, step: int) -> bool:
    return bool(self.every) and (step % self.every == 0 or step == self.config.train.num_steps)

  def _read_best(self) -> Optional[dict]:
    path = os.path.join(self.workdir, BEST_FILE)
    if not os.path.exists(path):
      return None
    try:
      with open(path) as f:
        best = json.load(f)
      return {'step': int(best['step']), 'value': float(best['value'])}
    except (OSError, ValueError, KeyError, TypeError):
      logging.warning('%s is unreadable; the best checkpoint starts afresh.', path)
      return None

  def _dataset_key(self) -> str:
    d = self.config.data
    return f'{d.dataset}-{d.get("split", "train")}-{d.image_size}px'

  def _evaluate_on_chief(self, step: int, state) -> dict[str, float]:
    config = self.config
    num = int(config.eval.num_samples)
    chunk = int(config.eval.get('chunk_size', 500))
    # Host copies of the weights generate() will pick (EMA or live), under both names.
    params, g_state = jax.device_get(
        (state.ema_params if config.train.get('ema_decay', 0.0) > 0 else state.g_params,
         state.g_state))
    host_state = state.replace(g_params=params, ema_params=params, g_state=g_state)
    rng = np.random.default_rng(int(config.eval.get('seed', 0)))
    order = rng.permutation(len(self._real))
    num_real = min(num, len(self._real))
    values = {}
    for name, evaluator in self._evaluators.items():
      fakes = sample_lib.generate(config, self._generator, host_state, num, ema=True,
                                  seed=int(config.eval.get('seed', 0)), batch_size=chunk,
                                  sample_fn=self._sample_fn)
      reals = iter(self._real[order[i:i + chunk]] for i in range(0, num_real, chunk))
      for key, value in evaluator.evaluate(generate=_Stream(x for x, _ in fakes),
                                           real=_Stream(reals), num_samples=num,
                                           num_real=num_real,
                                           dataset_key=self._dataset_key()):
        values[key] = float(value)
    return values

  def __call__(self, step: int, state) -> dict[str, float]:
    """Evaluates at `step`; returns {'eval/<name>': value} (empty off process 0)."""
    start = time.perf_counter()
    self.improved = False
    values = self._evaluate_on_chief(step, state) if self.is_chief else {}
    seconds = time.perf_counter() - start
    if self.is_chief:
      logging.info('step %d: %s (%.1f s)', step,
                   ', '.join(f'{k}={v:.4g}' for k, v in sorted(values.items())), seconds)
    metric = values.get(self.best_metric, np.nan)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      metric = float(multihost_utils.broadcast_one_to_all(np.float64(metric)))
    if self._best_ckpt is not None and np.isfinite(metric) and (
        self.best is None or metric < self.best['value']):
      self._best_ckpt.save(step, state)
      self.best = {'step': step, 'value': float(metric)}
      self.improved = True
      if self.is_chief:
        with open(os.path.join(self.workdir, BEST_FILE), 'w') as f:
          json.dump({'step': step, 'metric': self.best_metric, 'value': float(metric),
                     self.best_metric: float(metric)}, f, indent=2)
    out = {f'eval/{k}': v for k, v in values.items()}
    if values:
      out['eval/seconds'] = seconds
    return out

  def close(self) -> None:
    if self._best_ckpt is not None:
      self._best_ckpt.wait()
      self._best_ckpt.close()
