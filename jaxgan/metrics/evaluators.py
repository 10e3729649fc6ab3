"""Evaluator plug-ins for the training loop, chosen by name (big_vision style).

  evaluator = make_evaluator('fid', config.eval, cache_dir=cache_dir)
  for name, value in evaluator.evaluate(generate=g, real=r, num_samples=10_000,
                                        dataset_key='cifar10-train-64px'):
    writer.scalars(step, {f'eval/{name}': value})

(`jaxgan.evaluation` does this in the training loop.) `generate(n)` and `real(n)` return
(n, H, W, 3) images, float32 in [-1, 1] or uint8; they are asked for chunks of at most
`chunk_size` images. Real-data statistics are computed once per (dataset_key, number of real
images, weights) and cached as .npz in `cache_dir`. Any image size works (everything
is resized to 299x299 as the TF-FID graph does). Config fields, all optional:

  weights:          Inception weights path (None: default_1.pt; IS needs pytorch-fid's .pth).
  batch_size:       images per Inception pass (default 50; rounded up to the device count).
  chunk_size:       images per generate/real call (default 500).
  kid:              'fid' also yields ('kid', v) (default True).
  kid_subsets, kid_subset_size, seed: KID subsets (defaults 100, 1000, 0).
  is_splits:        Inception Score splits (default 10).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Protocol

import ml_collections
import numpy as np

from jaxgan import errors
from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics import torch_weights

Sampler = Callable[[int], np.ndarray]


class Evaluator(Protocol):

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `num_real` real images (default num_samples)."""
    ...


class _InceptionEvaluator:
  """Shared set-up: config fields and the process-wide feature extractor."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    cfg = cfg if cfg is not None else ml_collections.ConfigDict()
    self.cache_dir = cache_dir
    self.weights = cfg.get('weights', None) or None   # '' (configs' default): default_1.pt
    self.batch_size = int(cfg.get('batch_size', 50))
    self.chunk_size = int(cfg.get('chunk_size', 500))
    for key in ('batch_size', 'chunk_size'):
      if getattr(self, key) < 1:
        raise errors.ConfigError(f'evals.{key}={getattr(self, key)} must be positive.')
    self.extractor = fid_lib.get_extractor(self.weights, batch_size=self.batch_size)

  def _statistics(self, sample: Sampler, num_samples: int, what: str, *,
                  keep_features: bool = False, keep_logits: bool = False):
    if num_samples < 2:
      raise errors.ConfigError(f'Inception metrics need num_samples >= 2, got {num_samples}.')
    chunks = fid_lib.iter_chunks(sample, num_samples, self.chunk_size, what)
    return fid_lib.compute_statistics(chunks, extractor=self.extractor,
                                      keep_features=keep_features, keep_logits=keep_logits)

  def _real_statistics(self, real: Sampler, num_samples: int, dataset_key: str, *,
                       need_features: bool):
    weights = self.weights or os.environ.get(torch_weights.WEIGHTS_ENV)
    weights_tag = hashlib.sha256(
        os.path.abspath(weights).encode() if weights else b'default_1').hexdigest()[:8]
    safe_key = re.sub(r'[^A-Za-z0-9._-]+', '_', dataset_key)
    path = os.path.join(self.cache_dir, f'fid_stats_{safe_key}_n{num_samples}_{weights_tag}.npz')
    if os.path.isfile(path):
      try:
        stats = fid_lib.load_statistics(path)
        if not need_features or stats.features is not None:
          return stats
      except fid_lib.FidInputError:
        pass  # unreadable cache entry: recompute
    stats = self._statistics(real, num_samples, 'real', keep_features=need_features)
    fid_lib.save_statistics(path, stats, with_features=need_features)
    return stats


class FidEvaluator(_InceptionEvaluator):
  """'fid': yields ('fid', FID) and, unless cfg.kid is False, ('kid', KID mean)."""
  with_fid = True

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    cfg = cfg if cfg is not None else ml_collections.ConfigDict()
    self.with_kid = bool(cfg.get('kid', True)) or not self.with_fid
    self.kid_kwargs = dict(num_subsets=int(cfg.get('kid_subsets', 100)),
                           subset_size=int(cfg.get('kid_subset_size', 1000)),
                           seed=int(cfg.get('seed', 0)))

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    real_stats = self._real_statistics(real, num_real or num_samples, dataset_key,
                                       need_features=self.with_kid)
    fake = self._statistics(generate, num_samples, 'generate', keep_features=self.with_kid)
    if self.with_fid:
      yield 'fid', fid_lib.fid_from_statistics(fake, real_stats)
    if self.with_kid:
      kid, _ = fid_lib.kernel_inception_distance(fake.features, real_stats.features,
                                                 **self.kid_kwargs)
      yield 'kid', kid


class KidEvaluator(FidEvaluator):
  """'kid': yields ('kid', KID mean) only."""
  with_fid = False


class InceptionScoreEvaluator(_InceptionEvaluator):
  """'inception_score': yields ('inception_score', mean) and ('inception_score_std', std).

  Needs weights with the fc layer (pytorch-fid's .pth); real data is not used.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    if not self.extractor.with_logits:
      raise errors.ConfigError(fid_lib.inception_score_needs_fc_message())
    self.splits = int((cfg or ml_collections.ConfigDict()).get('is_splits', 10))

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    del real, dataset_key, num_real
    stats = self._statistics(generate, num_samples, 'generate', keep_logits=True)
    mean, std = fid_lib.inception_score(stats.logits, self.splits)
    yield 'inception_score', mean
    yield 'inception_score_std', std


EVALUATORS: dict[str, type] = {
    'fid': FidEvaluator,
    'kid': KidEvaluator,
    'inception_score': InceptionScoreEvaluator,
}


def make_evaluator(name: str, cfg: ml_collections.ConfigDict, *, cache_dir: str) -> Evaluator:
  """Builds the evaluator registered as `name`; ValueError (ConfigError) for unknown names."""
  if name not in EVALUATORS:
    raise errors.ConfigError(f'Unknown evaluator {name!r}; known evaluators: '
                             f'{", ".join(sorted(EVALUATORS))}.')
  return EVALUATORS[name](cfg, cache_dir=cache_dir)
