"""Evaluator plug-ins for the training loop, registered by name (big_vision style).

  context = Context(seed=0, cache_dir=cache_dir)       # what one run's evaluators share
  evaluator = make_evaluator('kid', {'subsets': 50}, context=context)
  evaluator.metrics                                    # {'kid': 'lower'}
  for name, value in evaluator.evaluate(generate=g, real=r, num_samples=10_000,
                                        dataset_key='cifar10-train-64px'):
    writer.scalars(step, {f'eval/{name}': value})

A config names the evaluators in `config.eval.evaluators` and gives each its own settings in
`config.eval.<name>` (`jaxgan.evaluation.evaluators_from_config`); each registration brings
its settings' defaults, which `jaxgan.config.default()` copies into the config:

  fid:              (none) yields ('fid', FID).
  kid:              subsets, subset_size: KID's random subsets (seeded by config.eval.seed).
  inception_score:  splits: Inception Score splits (needs pytorch-fid's .pth weights).
  prdc:             k_pr, k_dc: k of precision/recall (3) and of density/coverage (5).

Your own evaluator registers the same way, with `register(name, factory, settings={...})`;
`factory(settings, context)` returns an object with `metrics` and `evaluate` (`Evaluator`).

Every evaluator declares its metrics and whether a lower or a higher value is better
(`metrics = {'fid': LOWER}`); the training loop keeps the best checkpoint by that direction.
An evaluator declares what it needs instead of being recognised by its type: `features` (a
shared feature network such as `InceptionFeatures`) with `needs_real_features`,
`needs_fake_features` and `needs_logits` make `evaluate_all` run that network once over the
generated images (and look the real statistics up once) for every evaluator naming it, then
call each one's `scores(fake, real)`: 'fid', 'kid' and 'prdc' together cost one Inception pass.

`generate(n)` and `real(n)` return (n, H, W, 3) images, float32 in [-1, 1] or uint8; they are
asked for chunks of at most `chunk_size` images. Real-data statistics (and features, when KID
or PRDC need them) are computed once per reference set and cached as .npz in `cache_dir`,
with their protocol (`jaxgan.metrics.protocol.describe_set`). The cache is keyed by
everything that picks and measures the real images: `dataset_key` (the source's
`identity()`: name, split, files, image size, channels, resize), the number of images,
`reference_selection` (how they were picked from the source: the subset's seed and the
source's size), the Inception weights' sha256 and the Inception preprocessing
(`protocol.RESIZE`); a file is used only when the description it carries says the same
(`InceptionFeatures.real_statistics`). Any image size works (everything is resized to 299x299
as the TF-FID graph does). The Inception network loads on first use (`prepare()` loads it now,
so that missing weights fail before training starts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional, Protocol

import numpy as np

from jaxgan import errors
from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics import prdc as prdc_lib
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights

Sampler = Callable[[int], np.ndarray]

# Which way a metric improves (an evaluator's `metrics` maps each name to one of these, or to
# None for a value that is reported but never picks the best checkpoint, e.g. a std).
LOWER = 'lower'
HIGHER = 'higher'
DIRECTIONS = (LOWER, HIGHER)


class Evaluator(Protocol):
  """An evaluator plug-in.

  `metrics`: {metric name: LOWER or HIGHER (which is better), or None}, every name `evaluate`
  yields. Optional: `prepare()` (load networks early), `needs_real` (False when it never reads
  `real`), `protocol_fields()` (its part of the protocol record, e.g. {'k': {...}}; see
  `jaxgan.metrics.protocol.record`), and `features` to share a feature network's pass with
  other evaluators (subclass `FeatureEvaluator`, which says what else that takes).
  """
  metrics: Mapping[str, Optional[str]]

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `num_real` real images (default num_samples)."""
    ...


def cache_path(cache_dir: str, dataset_key: str, num_samples: int, key: dict) -> str:
  """The cache file of real statistics: readable name, then a hash of the whole `key`."""
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
  safe_key = re.sub(r'[^A-Za-z0-9._-]+', '_', dataset_key)
  return os.path.join(cache_dir, f'fid_stats_{safe_key}_n{num_samples}_{digest}.npz')


def _integer(name: str, value: Any, minimum: int = 1) -> int:
  """int(value), or ConfigError naming the setting unless it is an integer >= minimum."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise errors.ConfigError(f'{name}={value!r} must be an integer >= {minimum}.')
  return int(value)


# ---------------------------------------------------------------------------------------------
# The shared feature network.
# ---------------------------------------------------------------------------------------------

class InceptionFeatures:
  """The TF-FID Inception network's pool3 features (and logits) of image sets, shared by the
  evaluators that read them (`FeatureEvaluator.features`); loaded on first use.

  `weights`: the weights file (None: default_1.pt; the Inception Score needs pytorch-fid's .pth),
  `batch_size`: images per network pass (rounded up to the device count), `chunk_size`: images
  per generate/real call, `cache_dir`: where real statistics are cached. Two objects with equal
  settings are equal: their evaluators share one pass.
  """

  def __init__(self, *, weights: str | None = None, batch_size: int = 50,
               chunk_size: int = 500, cache_dir: str,
               names: tuple[str, str] = ('config.eval.inception.batch_size',
                                         'config.eval.chunk_size')):
    self.weights = weights or None
    self.batch_size = _integer(names[0], batch_size)
    self.chunk_size = _integer(names[1], chunk_size)
    self.cache_dir = cache_dir
    self._extractor = None

  @property
  def key(self) -> tuple:
    return (self.weights or os.environ.get(torch_weights.WEIGHTS_ENV), self.batch_size,
            self.chunk_size, self.cache_dir)

  def __eq__(self, other) -> bool:
    return isinstance(other, InceptionFeatures) and other.key == self.key

  def __hash__(self) -> int:
    return hash(self.key)

  @property
  def extractor(self):
    if self._extractor is None:
      self._extractor = fid_lib.get_extractor(self.weights, batch_size=self.batch_size)
    return self._extractor

  @property
  def weights_sha256(self) -> str | None:
    return protocol_lib.weights_sha256(self.weights)

  def prepare(self) -> None:
    """Loads the network (missing weights fail here)."""
    _ = self.extractor

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


# ---------------------------------------------------------------------------------------------
# The built-in evaluators.
# ---------------------------------------------------------------------------------------------

class FeatureEvaluator:
  """Base of an evaluator computed from the statistics of a shared feature network.

  A subclass says what it reads (`needs_real`, `needs_fake_features`, `needs_real_features`,
  `needs_logits`), declares `metrics`, and computes them in `scores(fake, real)`; `evaluate`
  measures the images it is given, and `evaluate_all` measures them once for all the
  evaluators with equal `features`.
  """
  metrics: Mapping[str, Optional[str]] = {}
  needs_real = True
  needs_fake_features = False
  needs_real_features = False
  needs_logits = False

  def __init__(self, features: InceptionFeatures):
    self.features = features

  def prepare(self) -> None:
    """Loads the feature network (missing weights fail here)."""
    self.features.prepare()

  def protocol_fields(self) -> dict:
    """This evaluator's part of the protocol record (`protocol.record`'s k, kid, is_splits)."""
    return {}

  def scores(self, fake: fid_lib.Statistics, real: fid_lib.Statistics | None
             ) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value) from the generated and real statistics."""
    raise NotImplementedError

  def evaluate(self, *, generate: Sampler, real: Sampler, num_samples: int,
               dataset_key: str, num_real: int | None = None,
               reference_selection: dict | None = None) -> Iterator[tuple[str, float]]:
    """Yields (metric name, value); `reference_selection`: see `real_statistics`."""
    fake, real_stats = _measure([self], generate=lambda: generate, real=lambda: real,
                                num_samples=num_samples, num_real=num_real,
                                dataset_key=dataset_key,
                                reference_selection=reference_selection)
    yield from self.scores(fake, real_stats)


class FidEvaluator(FeatureEvaluator):
  """'fid': yields ('fid', FID) of the pool3 statistics (Heusel et al. 2017, Eq. 6)."""
  metrics = {'fid': LOWER}

  def scores(self, fake, real):
    yield 'fid', fid_lib.fid_from_statistics(fake, real)


class KidEvaluator(FeatureEvaluator):
  """'kid': yields ('kid', KID mean) over `subsets` random subsets of `subset_size` images
  (Binkowski et al. 2018), drawn with `seed`."""
  metrics = {'kid': LOWER}
  needs_fake_features = True
  needs_real_features = True

  def __init__(self, features: InceptionFeatures, *, subsets: int = 100,
               subset_size: int = 1000, seed: int = 0):
    super().__init__(features)
    self.kid_kwargs = dict(num_subsets=_integer('config.eval.kid.subsets', subsets),
                           subset_size=_integer('config.eval.kid.subset_size', subset_size),
                           seed=int(seed))

  def protocol_fields(self) -> dict:
    return {'kid': {'subsets': self.kid_kwargs['num_subsets'],
                    'subset_size': self.kid_kwargs['subset_size'],
                    'seed': self.kid_kwargs['seed']}}

  def scores(self, fake, real):
    kid, _ = fid_lib.kernel_inception_distance(fake.features, real.features,
                                               **self.kid_kwargs)
    yield 'kid', kid


class PrdcEvaluator(FeatureEvaluator):
  """'prdc': yields precision and recall (k = k_pr; Kynkaanniemi et al. 2019) and density and
  coverage (k = k_dc; Naeem et al. 2020) of the pool3 features, the same features FID reads
  (`jaxgan.metrics.prdc`)."""
  metrics = {'precision': HIGHER, 'recall': HIGHER, 'density': HIGHER, 'coverage': HIGHER}
  needs_fake_features = True
  needs_real_features = True

  def __init__(self, features: InceptionFeatures, *, k_pr: int = 3, k_dc: int = 5):
    super().__init__(features)
    self.k_pr, self.k_dc = check_prdc_k(k_pr, k_dc)

  def protocol_fields(self) -> dict:
    return {'k': {'precision_recall': self.k_pr, 'density_coverage': self.k_dc}}

  def check_counts(self, num_fake: int, num_real: int, *,
                   fake_name: str = 'generated images (config.eval.num_samples)',
                   real_name: str = 'real images (min(config.eval.num_samples, dataset size))'
                   ) -> None:
    """ConfigError unless both sets hold more images than the k-NN balls need."""
    check_prdc_counts(num_fake, num_real, self.k_pr, self.k_dc, fake_name=fake_name,
                      real_name=real_name,
                      k_names=('config.eval.prdc.k_pr', 'config.eval.prdc.k_dc'))

  def scores(self, fake, real):
    self.check_counts(fake.num_samples, real.num_samples)
    yield from prdc_lib.prdc(real.features, fake.features, k_pr=self.k_pr,
                             k_dc=self.k_dc).items()


def check_prdc_k(k_pr, k_dc, names=('config.eval.prdc.k_pr', 'config.eval.prdc.k_dc')
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


class InceptionScoreEvaluator(FeatureEvaluator):
  """'inception_score': yields ('inception_score', mean) and ('inception_score_std', std) over
  `splits` splits (Salimans et al. 2016).

  Needs weights with the fc layer (pytorch-fid's .pth); real data is not used.
  """
  metrics = {'inception_score': HIGHER, 'inception_score_std': None}
  needs_real = False
  needs_logits = True

  def __init__(self, features: InceptionFeatures, *, splits: int = 10):
    super().__init__(features)
    self.splits = _integer('config.eval.inception_score.splits', splits)

  def prepare(self) -> None:
    """Loads the network; ConfigError unless its weights hold the fc layer."""
    if not self.features.extractor.with_logits:
      raise errors.ConfigError(fid_lib.inception_score_needs_fc_message())

  def protocol_fields(self) -> dict:
    return {'is_splits': self.splits}

  def scores(self, fake, real):
    del real
    mean, std = fid_lib.inception_score(fake.logits, self.splits)
    yield 'inception_score', mean
    yield 'inception_score_std', std


# ---------------------------------------------------------------------------------------------
# The registry.
# ---------------------------------------------------------------------------------------------

class Context:
  """What the evaluators of one run share: `seed` (KID's subsets), `cache_dir` (real
  statistics) and the Inception network (`inception()`: one `InceptionFeatures` for all, built
  on first ask from `inception_weights`, `inception_batch_size` and `chunk_size`)."""

  def __init__(self, *, seed: int = 0, cache_dir: str, chunk_size: int = 500,
               inception_weights: str | None = None, inception_batch_size: int = 50):
    self.seed, self.cache_dir, self.chunk_size = int(seed), cache_dir, chunk_size
    self._inception_args = dict(weights=inception_weights, batch_size=inception_batch_size)
    self._inception = None

  def inception(self) -> InceptionFeatures:
    if self._inception is None:
      self._inception = InceptionFeatures(**self._inception_args, chunk_size=self.chunk_size,
                                          cache_dir=self.cache_dir)
    return self._inception


@dataclasses.dataclass(frozen=True)
class Registration:
  """`factory(settings, context) -> Evaluator`; `settings`: the defaults of config.eval.<name>."""
  factory: Callable[[Mapping[str, Any], Context], Evaluator]
  settings: Mapping[str, Any]


# config.eval's own keys (settings every evaluator shares): no evaluator may take these names.
RESERVED = ('every_steps', 'evaluators', 'num_samples', 'best_metric', 'chunk_size', 'seed',
            'cache_dir', 'reference_split', 'inception')

# Keys of the flat `eval` section that jaxgan 0.2.0 wrote, and their places in config.eval
# since each evaluator has its own settings; 'kid' (True: 'fid' also reported KID) became the
# evaluator 'kid'. `jaxgan.config.from_json` moves them in a saved config.json; a config or a
# command line that sets one is refused, naming its place.
MOVED = {'batch_size': 'inception.batch_size', 'weights': 'inception.weights',
         'kid_subsets': 'kid.subsets', 'kid_subset_size': 'kid.subset_size',
         'is_splits': 'inception_score.splits', 'prdc_k_pr': 'prdc.k_pr',
         'prdc_k_dc': 'prdc.k_dc', 'kid': 'evaluators'}

_REGISTRY: dict[str, Registration] = {}


def register(name: str, factory: Callable[[Mapping[str, Any], Context], Evaluator], *,
             settings: Mapping[str, Any] | None = None, replace: bool = False) -> None:
  """Registers an evaluator as `name` (then `config.eval.evaluators` may name it).

  `factory(settings, context)` builds it from `settings` (the values of `config.eval.<name>`,
  defaults from `settings` here: plain ints, floats, strings, bools or tuples) and the run's
  `Context`. Register before `jaxgan.config.default()` is called (e.g. at the top of your config
  file), so that the config holds `config.eval.<name>`. A name registered twice is an error
  unless `replace=True`.
  """
  if not isinstance(name, str) or not name.isidentifier() or name in RESERVED:
    raise ValueError(f'evaluator name {name!r} must be an identifier other than config.eval\'s '
                     f'own keys {RESERVED}.')
  if name in _REGISTRY and not replace and _REGISTRY[name].factory is not factory:
    raise ValueError(f'an evaluator is already registered as {name!r}; pass replace=True to '
                     f'replace it.')
  _REGISTRY[name] = Registration(factory, types.MappingProxyType(dict(settings or {})))


def unregister(name: str) -> None:
  """Removes the evaluator registered as `name` (e.g. a test's own)."""
  _REGISTRY.pop(name, None)


def registered() -> Mapping[str, Registration]:
  """{name: Registration} of every registered evaluator (read-only)."""
  return types.MappingProxyType(_REGISTRY)


def make_evaluator(name: str, settings: Mapping[str, Any] | None = None, *,
                   context: Context) -> Evaluator:
  """Builds the evaluator registered as `name` with `settings` over its defaults; ConfigError
  for an unknown name or setting, and for metrics without a known direction."""
  if name not in _REGISTRY:
    raise errors.ConfigError(f'Unknown evaluator {name!r} in config.eval.evaluators; known '
                             f'evaluators: {", ".join(sorted(_REGISTRY))}.')
  registration = _REGISTRY[name]
  values = dict(registration.settings)
  for key, value in dict(settings or {}).items():
    if key not in values:
      raise errors.ConfigError(
          f'config.eval.{name}.{key} is not a setting of the evaluator {name!r}; its settings '
          f'are {sorted(values) or "none"}.')
    values[key] = value
  evaluator = registration.factory(values, context)
  check_metrics(name, evaluator)
  return evaluator


def check_metrics(name: str, evaluator: Any) -> Mapping[str, Optional[str]]:
  """The evaluator's declared `metrics`, or ConfigError saying how to declare them."""
  metrics = getattr(evaluator, 'metrics', None)
  if (not isinstance(metrics, Mapping) or not metrics
      or any(d not in (*DIRECTIONS, None) for d in metrics.values())):
    raise errors.ConfigError(
        f'the evaluator {name!r} must declare `metrics`, a dict from each metric it yields to '
        f'{LOWER!r} or {HIGHER!r} (which is better) or None, e.g. {{"fid": "lower"}}.')
  return metrics


def declared_direction(metric: str) -> Optional[str]:
  """LOWER or HIGHER as the registered evaluator yielding `metric` declares it (each built
  with its default settings; nothing loads), None when no registered evaluator declares a
  direction for it. For readers of a finished run (the report), which have no evaluators."""
  context = Context(cache_dir=os.devnull)   # never read: building an evaluator loads nothing
  for name in sorted(_REGISTRY):
    try:
      direction = make_evaluator(name, context=context).metrics.get(metric)
    except errors.ConfigError:   # an evaluator of one's own that cannot build without settings
      continue
    if direction is not None:
      return direction
  return None


register('fid', lambda s, c: FidEvaluator(c.inception()))
register('kid', lambda s, c: KidEvaluator(c.inception(), seed=c.seed, **s),
         settings={'subsets': 100, 'subset_size': 1000})
register('inception_score', lambda s, c: InceptionScoreEvaluator(c.inception(), **s),
         settings={'splits': 10})
register('prdc', lambda s, c: PrdcEvaluator(c.inception(), **s),
         settings={'k_pr': 3, 'k_dc': 5})


# ---------------------------------------------------------------------------------------------
# Running them.
# ---------------------------------------------------------------------------------------------

def _measure(group, *, generate: Callable[[], Sampler], real: Callable[[], Sampler],
             num_samples: int, num_real: int | None, dataset_key: str,
             reference_selection: dict | None):
  """(generated statistics, real statistics or None) of the evaluators in `group`, which
  share one `features`: one pass, keeping what any of them needs."""
  features = group[0].features
  for evaluator in group:
    evaluator.prepare()   # e.g. the Inception Score's check for the fc layer
  real_stats = None
  if any(e.needs_real for e in group):
    real_stats = features.real_statistics(
        real(), num_real or num_samples, dataset_key,
        need_features=any(e.needs_real_features for e in group),
        reference_selection=reference_selection)
  fake = features.statistics(generate(), num_samples, 'generate',
                             keep_features=any(e.needs_fake_features for e in group),
                             keep_logits=any(e.needs_logits for e in group))
  return fake, real_stats


def evaluate_all(evaluators: Mapping[str, Evaluator], *, generate: Callable[[], Sampler],
                 real: Callable[[], Sampler], num_samples: int, dataset_key: str,
                 num_real: int | None = None, reference_selection: dict | None = None
                 ) -> dict[str, float]:
  """Runs every evaluator; returns {metric name: value}.

  `generate()` and `real()` make fresh samplers (each starts from the first image);
  `reference_selection` says how `real` picks its images (`real_statistics`). Evaluators that
  declare equal `features` share one pass over the generated images, keeping the features or
  logits any of them needs, and one lookup of the real statistics: 'fid', 'kid' and 'prdc'
  together run Inception once over the generated images, not three times. Other evaluators run
  their own `evaluate`.
  """
  groups: dict[Any, list] = {}
  values: dict[str, float] = {}
  for evaluator in evaluators.values():
    if getattr(evaluator, 'features', None) is not None:
      groups.setdefault(evaluator.features, []).append(evaluator)
  for group in groups.values():
    fake, real_stats = _measure(group, generate=generate, real=real, num_samples=num_samples,
                                num_real=num_real, dataset_key=dataset_key,
                                reference_selection=reference_selection)
    for evaluator in group:
      values.update((name, float(v)) for name, v in evaluator.scores(fake, real_stats))
  for evaluator in evaluators.values():
    if getattr(evaluator, 'features', None) is None:
      values.update((name, float(v)) for name, v in evaluator.evaluate(
          generate=generate(), real=real(), num_samples=num_samples,
          dataset_key=dataset_key, num_real=num_real))
  return values
