"""Evaluator plug-ins for the training loop, chosen by name (big_vision style).

  evaluator = make_evaluator('fid', config.eval, cache_dir=cache_dir)
  for name, value in evaluator.evaluate(generate=g, real=r, num_samples=10_000,
                                        dataset_key='cifar10-train-64px'):
    writer.scalars(step, {f'eval/{name}': value})

(`jaxgan.evaluation` runs them all with `evaluate_all`, which lets the Inception evaluators
share one pass over the generated images.) `generate(n)` and `real(n)` return
(n, H, W, 3) images, float32 in [-1, 1] or uint8; they are asked for chunks of at most
`chunk_size` images. Real-data statistics (and features, when KID or PRDC need them) are
computed once per reference set and cached as .npz in `cache_dir`, with their protocol
(`jaxgan.metrics.protocol.describe_set`). The cache is keyed by everything that picks and
measures the real images: `dataset_key` (the source's `identity()`: name, split, files, image
size, channels, resize), the number of images, `reference_selection` (how they were picked
from the source: the subset's seed and the source's size), the Inception weights' sha256 and
the Inception preprocessing (`protocol.RESIZE`); a file is used only when the description it
carries says the same (`real_statistics`). Any image size
works (everything is resized to 299x299 as the TF-FID graph does). The settings are
`config.eval`'s (any key missing from `cfg` takes its default from
`jaxgan.config.default().eval`):

  weights:          Inception weights path ('': default_1.pt; IS needs pytorch-fid's .pth).
  batch_size:       images per Inception pass (rounded up to the device count).
  chunk_size:       images per generate/real call.
  kid:              'fid' also yields ('kid', v).
  kid_subsets, kid_subset_size, seed: KID subsets.
  is_splits:        Inception Score splits.
  prdc_k_pr, prdc_k_dc: 'prdc': k of precision/recall (3) and of density/coverage (5).

The Inception network loads on first use (`prepare()` loads it now, so that missing weights
fail before training starts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

import ml_collections
import numpy as np

from jaxgan import config as config_lib
from jaxgan import errors
from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics import prdc as prdc_lib
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights

Sampler = Callable[[int], np.ndarray]


class Evaluator(Protocol):
  """An evaluator plug-in. Optional: `prepare()` (load networks early), `needs_real` (False
  when it never reads `real`) and `protocol_fields()` (its part of the protocol record, e.g.
  {'k': {...}}; see `jaxgan.metrics.protocol.record`)."""

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `num_real` real images (default num_samples)."""
    ...


def cache_path(cache_dir: str, dataset_key: str, num_samples: int, key: dict) -> str:
  """The cache file of real statistics: readable name, then a hash of the whole `key`."""
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
  safe_key = re.sub(r'[^A-Za-z0-9._-]+', '_', dataset_key)
  return os.path.join(cache_dir, f'fid_stats_{safe_key}_n{num_samples}_{digest}.npz')


def settings(cfg: ml_collections.ConfigDict | dict | None) -> ml_collections.ConfigDict:
  """`cfg` on top of the default config.eval: every evaluation setting, each default once."""
  full = config_lib.default().eval
  if cfg:
    config_lib.merge(full, dict(cfg), origin='the evaluator settings')
  return full


class _InceptionEvaluator:
  """Shared set-up: the settings and the process-wide feature extractor (loaded lazily).

  A subclass says what it reads (`needs_real`, `needs_fake_features`, `needs_real_features`,
  `needs_logits`) and computes its metrics from statistics in `scores(fake, real)`; `evaluate`
  measures the images it is given, and `evaluate_all` measures them once for all the Inception
  evaluators that share an extractor (`pass_key`).
  """
  needs_real = True
  needs_fake_features = False
  needs_real_features = False
  needs_logits = False

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
  def pass_key(self) -> tuple:
    """Evaluators with equal keys read the same features of the same images."""
    return (self.weights or os.environ.get(torch_weights.WEIGHTS_ENV), self.batch_size,
            self.cache_dir)

  @property
  def extractor(self):
    if self._extractor is None:
      self._extractor = fid_lib.get_extractor(self.weights, batch_size=self.batch_size)
    return self._extractor

  @property
  def weights_sha256(self) -> str | None:
    return protocol_lib.weights_sha256(self.weights)

  def prepare(self) -> None:
    """Loads the Inception network (missing weights fail here)."""
    _ = self.extractor

  def protocol_fields(self) -> dict:
    """This evaluator's part of the protocol record (`protocol.record`'s k, kid, is_splits)."""
    return {}

  def statistics(self, sample: Sampler, num_samples: int, what: str, *,
                 keep_features: bool = False, keep_logits: bool = False
                 ) -> fid_lib.Statistics:
    """Statistics of `num_samples` images drawn from `sample`, chunk by chunk."""
    if num_samples < 2:
      raise errors.ConfigError(f'Inception metrics need num_samples >= 2, got {num_samples}.')
    chunks = fid_lib.iter_chunks(sample, num_samples, self.chunk_size, what)
    return fid_lib.compute_statistics(chunks, extractor=self.extractor,
                                      keep_features=keep_features, keep_logits=keep_logits)

  def real_statistics(self, real: Sampler, num_samples: int, dataset_key: str, *,
                      need_features: bool, reference_selection: dict | None = None
                      ) -> fid_lib.Statistics:
    """The statistics of `num_samples` real images, from the cache when it holds them.

    `reference_selection` says how `real` picks its images from the source `dataset_key`
    names (e.g. {'seed': 0, 'num_examples': 1797}: a seeded random subset of that many); None:
    the source's images in their order. The cache key holds it with everything else that
    changes the statistics (module doc); a cached file whose recorded description differs
    (e.g. one written before the key held the seed) is not used.
    """
    weights = self.weights or os.environ.get(torch_weights.WEIGHTS_ENV)
    selection = dict(reference_selection or {})
    key = {'source': dataset_key, 'num_samples': int(num_samples), 'selection': selection,
           # the file's content, or its path where it cannot be read (then loading fails)
           'weights': self.weights_sha256 or os.path.abspath(weights or 'default_1'),
           'resize': protocol_lib.RESIZE}
    path = cache_path(self.cache_dir, dataset_key, int(num_samples), key)
    if os.path.isfile(path):
      try:
        stats = fid_lib.load_statistics(path)
        cached = stats.protocol or {}
        if ((not need_features or stats.features is not None)
            and cached.get('reference_selection') == selection
            and cached.get('source') == dataset_key
            and cached.get('num_samples') == int(num_samples)
            and cached.get('weights_sha256') == self.weights_sha256
            and cached.get('resize') == protocol_lib.RESIZE):
          return stats
      except fid_lib.FidInputError:
        pass  # unreadable cache entry: recompute
    stats = self.statistics(real, num_samples, 'real', keep_features=need_features)
    stats.protocol = {**protocol_lib.describe_set(source=dataset_key,
                                                  num_samples=stats.num_samples,
                                                  weights_sha256=self.weights_sha256),
                      'reference_selection': selection}
    fid_lib.save_statistics(path, stats, with_features=need_features)
    return stats

  def scores(self, fake: fid_lib.Statistics, real: fid_lib.Statistics | None
             ) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value) from the generated and real statistics."""
    raise NotImplementedError

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None,
               reference_selection: dict | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `reference_selection`: see `real_statistics`."""
    real_stats = None
    if self.needs_real:
      real_stats = self.real_statistics(real, num_real or num_samples, dataset_key,
                                        need_features=self.needs_real_features,
                                        reference_selection=reference_selection)
    fake = self.statistics(generate, num_samples, 'generate',
                           keep_features=self.needs_fake_features, keep_logits=self.needs_logits)
    yield from self.scores(fake, real_stats)


class FidEvaluator(_InceptionEvaluator):
  """'fid': yields ('fid', FID) and, unless cfg.kid is False, ('kid', KID mean)."""
  with_fid = True

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    cfg = settings(cfg)
    self.with_kid = bool(cfg.kid) or not self.with_fid
    self.needs_fake_features = self.needs_real_features = self.with_kid
    self.kid_kwargs = dict(num_subsets=int(cfg.kid_subsets),
                           subset_size=int(cfg.kid_subset_size), seed=int(cfg.seed))

  def protocol_fields(self) -> dict:
    if not self.with_kid:
      return {}
    return {'kid': {'subsets': self.kid_kwargs['num_subsets'],
                    'subset_size': self.kid_kwargs['subset_size'],
                    'seed': self.kid_kwargs['seed']}}

  def scores(self, fake, real):
    if self.with_fid:
      yield 'fid', fid_lib.fid_from_statistics(fake, real)
    if self.with_kid:
      kid, _ = fid_lib.kernel_inception_distance(fake.features, real.features,
                                                 **self.kid_kwargs)
      yield 'kid', kid


class KidEvaluator(FidEvaluator):
  """'kid': yields ('kid', KID mean) only."""
  with_fid = False


class PrdcEvaluator(_InceptionEvaluator):
  """'prdc': yields precision and recall (k = cfg.prdc_k_pr; Kynkaanniemi et al. 2019) and
  density and coverage (k = cfg.prdc_k_dc; Naeem et al. 2020) of the pool3 features, the same
  features FID reads (`jaxgan.metrics.prdc`)."""
  needs_fake_features = True
  needs_real_features = True

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    cfg = settings(cfg)
    self.k_pr, self.k_dc = check_prdc_k(cfg.prdc_k_pr, cfg.prdc_k_dc)

  def protocol_fields(self) -> dict:
    return {'k': {'precision_recall': self.k_pr, 'density_coverage': self.k_dc}}

  def scores(self, fake, real):
    check_prdc_counts(fake.num_samples, real.num_samples, self.k_pr, self.k_dc,
                      fake_name='generated images (config.eval.num_samples)',
                      real_name='real images (min(config.eval.num_samples, dataset size))',
                      k_names=('config.eval.prdc_k_pr', 'config.eval.prdc_k_dc'))
    yield from prdc_lib.prdc(real.features, fake.features, k_pr=self.k_pr,
                             k_dc=self.k_dc).items()


def check_prdc_k(k_pr, k_dc, names=('config.eval.prdc_k_pr', 'config.eval.prdc_k_dc')
                 ) -> tuple[int, int]:
  """(k_pr, k_dc) as ints, or ConfigError naming the setting unless both are integers >= 1."""
  for name, k in zip(names, (k_pr, k_dc)):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
      raise errors.ConfigError(f'{name}={k!r} must be an integer >= 1 (the papers use 3 for '
                               'precision/recall and 5 for density/coverage).')
  return int(k_pr), int(k_dc)


def check_prdc_counts(num_fake: int, num_real: int, k_pr: int, k_dc: int, *,
                      fake_name: str = 'generated images', real_name: str = 'real images',
                      k_names=('k_pr', 'k_dc')) -> None:
  """ConfigError unless both sets hold more samples than the k-NN balls need (k + 1)."""
  needs = ((fake_name, num_fake, k_pr, k_names[0]),
           (real_name, num_real, max(k_pr, k_dc), k_names[0] if k_pr >= k_dc else k_names[1]))
  for what, n, k, k_name in needs:
    if n < k + 1:
      raise errors.ConfigError(
          f'precision/recall/density/coverage need at least {k + 1} {what} for {k_name}={k} '
          f'(a sample and its {k} nearest neighbours), got {n}; use more images or a '
          f'smaller {k_name}.')


class InceptionScoreEvaluator(_InceptionEvaluator):
  """'inception_score': yields ('inception_score', mean) and ('inception_score_std', std).

  Needs weights with the fc layer (pytorch-fid's .pth); real data is not used.
  """
  needs_real = False
  needs_logits = True

  def __init__(self, cfg: ml_collections.ConfigDict, *, cache_dir: str):
    super().__init__(cfg, cache_dir=cache_dir)
    self.splits = int(settings(cfg).is_splits)

  @property
  def extractor(self):
    extractor = super().extractor
    if not extractor.with_logits:
      raise errors.ConfigError(fid_lib.inception_score_needs_fc_message())
    return extractor

  def protocol_fields(self) -> dict:
    return {'is_splits': self.splits}

  def scores(self, fake, real):
    del real
    mean, std = fid_lib.inception_score(fake.logits, self.splits)
    yield 'inception_score', mean
    yield 'inception_score_std', std


EVALUATORS: dict[str, type] = {
    'fid': FidEvaluator,
    'kid': KidEvaluator,
    'inception_score': InceptionScoreEvaluator,
    'prdc': PrdcEvaluator,
}


def make_evaluator(name: str, cfg: ml_collections.ConfigDict, *, cache_dir: str) -> Evaluator:
  """Builds the evaluator registered as `name`; ValueError (ConfigError) for unknown names."""
  if name not in EVALUATORS:
    raise errors.ConfigError(f'Unknown evaluator {name!r}; known evaluators: '
                             f'{", ".join(sorted(EVALUATORS))}.')
  return EVALUATORS[name](cfg, cache_dir=cache_dir)


def evaluate_all(evaluators: Mapping[str, Evaluator], *, generate: Callable[[], Sampler],
                 real: Callable[[], Sampler], num_samples: int, dataset_key: str,
                 num_real: int | None = None, reference_selection: dict | None = None
                 ) -> dict[str, float]:
  """Runs every evaluator; returns {metric name: value}.

  `generate()` and `real()` make fresh samplers (each starts from the first image);
  `reference_selection` says how `real` picks its images (`real_statistics`). The
  Inception evaluators that share an extractor (`pass_key`: weights, batch size, cache) share
  one pass over the generated images, keeping the features or logits any of them needs, and
  one lookup of the real statistics: 'fid' and 'prdc' together run Inception once over the
  generated images, not twice. Other evaluators run their own `evaluate`.
  """
  groups: dict[tuple, list] = {}
  values: dict[str, float] = {}
  for evaluator in evaluators.values():
    if isinstance(evaluator, _InceptionEvaluator):
      groups.setdefault(evaluator.pass_key, []).append(evaluator)
  for group in groups.values():
    for evaluator in group:
      _ = evaluator.extractor   # e.g. the Inception Score's check for the fc layer
    first = group[0]
    real_stats = None
    if any(e.needs_real for e in group):
      real_stats = first.real_statistics(
          real(), num_real or num_samples, dataset_key,
          need_features=any(e.needs_real_features for e in group),
          reference_selection=reference_selection)
    fake = first.statistics(generate(), num_samples, 'generate',
                            keep_features=any(e.needs_fake_features for e in group),
                            keep_logits=any(e.needs_logits for e in group))
    for evaluator in group:
      values.update((name, float(v)) for name, v in evaluator.scores(fake, real_stats))
  for evaluator in evaluators.values():
    if not isinstance(evaluator, _InceptionEvaluator):
      values.update((name, float(v)) for name, v in evaluator.evaluate(
          generate=generate(), real=real(), num_samples=num_samples,
          dataset_key=dataset_key, num_real=num_real))
  return values
