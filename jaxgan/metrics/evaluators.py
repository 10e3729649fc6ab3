"""Evaluator plug-ins for the training loop, chosen by name (big_vision style).

  evaluator = make_evaluator('fid', config.eval, cache_dir=cache_dir)
  for name, value in evaluator.evaluate(generate=g, real=r, num_samples=10_000,
                                        dataset_key='cifar10-train-64px'):
    writer.scalars(step, {f'eval/{name}': value})

(`jaxgan.evaluation` does this in the training loop.) `generate(n)` and `real(n)` return
(n, H, W, 3) images, float32 in [-1, 1] or uint8; they are asked for chunks of at most
`chunk_size` images. Real-data statistics are computed once per (dataset_key, number of real
images, weights) and cached as .npz in `cache_dir`. Any image size works (everything
is resized to 299x299 as the TF-FID graph does). The settings are `config.eval`'s (any key
missing from `cfg` takes its default from `jaxgan.config.default().eval`):

  weights:          Inception weights path ('': default_1.pt; IS needs pytorch-fid's .pth).
  batch_size:       images per Inception pass (rounded up to the device count).
  chunk_size:       images per generate/real call.
  kid:              'fid' also yields ('kid', v).
  kid_subsets, kid_subset_size, seed: KID subsets.
  is_splits:        Inception Score splits.

The Inception network loads on first use (`prepare()` loads it now, so that missing weights
fail before training starts).
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
  """An evaluator plug-in. Optional: `prepare()` (load networks early) and `needs_real`
  (False when it never reads `real`)."""

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `num_real` real images (default num_samples)."""
    ...


def settings(cfg: ml_collections.ConfigDict | dict | None) -> ml_collections.ConfigDict:
  """`cfg` on top of the default config.eval: every evaluation setting, each default once."""
  from jaxgan import config as config_lib  # pylint: disable=g-import-not-at-top
  full = config_lib.default().eval
  if cfg:
    config_lib.merge(full, dict(cfg), origin='the evaluator settings')
  return full


class _InceptionEvaluator:
  """Shared set-up: the settings and the process-wide feature extractor (loaded lazily)."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    cfg = settings(cfg)
    self.cache_dir = cache_dir
    self.weights = cfg.weights or None   # '': default_1.pt
    self.batch_size = int(cfg.batch_size)
    self.chunk_size = int(cfg.chunk_size)
    for key in ('batch_size', 'chunk_size'):
      if getattr(self, key) < 1:
        raise errors.ConfigError(f'config.eval.{key}={getattr(self, key)} must be positive.')
    self._extractor = None

  @property
  def extractor(self):
    if self._extractor is None:
      self._extractor = fid_lib.get_extractor(self.weights, batch_size=self.batch_size)
    return self._extractor

  def prepare(self) -> None:
    """Loads the Inception network (missing weights fail here)."""
    _ = self.extractor

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
  needs_real = True

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    cfg = settings(cfg)
    self.with_kid = bool(cfg.kid) or not self.with_fid
    self.kid_kwargs = dict(num_subsets=int(cfg.kid_subsets),
                           subset_size=int(cfg.kid_subset_size), seed=int(cfg.seed))

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
  needs_real = False

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    self.splits = int(settings(cfg).is_splits)

  @property
  def extractor(self):
    extractor = super().extractor
    if not extractor.with_logits:
      raise errors.ConfigError(fid_lib.inception_score_needs_fc_message())
    return extractor

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
