"""Score a run's generator directly: N images from a checkpoint, streamed through Inception.

  python -m jaxgan.tools.evaluate --workdir=runs/dcgan                  # 50,000 images
  python -m jaxgan.tools.evaluate --workdir=runs/dcgan --best --json
  python -m jaxgan.tools.evaluate --workdir=runs/dcgan --against=ref_stats.npz \
      --save-features=fakes.npy --save-stats=fakes_stats.npz

Generates `--num` images (default 50,000) from the run's latest checkpoint (`--best`: the
best-evaluation one; `--step=S`), with its EMA weights when it keeps them (`--noema`: the live
ones), and computes FID, KID (mean and std over subsets), the Inception Score when the
Inception weights have the fc layer (pytorch-fid's .pth, `--weights`), and precision/recall
(k_pr) and density/coverage (k_dc). Images go from the generator to the Inception network in
batches and are never written: mu and Sigma are accumulated batch by batch, so without
features memory does not grow with N. KID and PRDC need every image's pool3 features, which
are kept: N x 2048 float32, 400 MB at N = 50,000 (`--nokid --noprdc` keeps none).

`--against` takes anything `python -m jaxgan.tools.fid` takes: an image folder, an .npz/.npy of
images, a statistics .npz (mu/sigma: FID only) or saved features (.npy (N, 2048), or an .npz
with `features`). By default the run's own data source's reference images are used
(`experiment.data.reference_images`, or config.eval.reference_split's: min(--num, dataset
size) images, a random subset seeded by `--seed` (default config.eval.seed), `--num_real` to
choose), with their statistics and features cached as training caches them (keyed by the
source, the count, the seed and the weights), so `--num=<config.eval.num_samples>` recomputes
the FID that training logged for the same checkpoint.

Defaults come from the run's `config.eval`: the seed (latents, reference subset, KID
subsets), the generation batch (`chunk_size`: the latents depend on it, as in `python -m
jaxgan.tools.sample --batch_size`), the Inception weights and batch, k, KID's subsets. Prints
the metrics and the protocol (`--json`: one JSON object, as `jaxgan.tools.fid --json`, plus
`run`: workdir, step, checkpoint, ema); the protocol's `reference` and `generation` say which
real images (subset seed, source size) and which generated ones (latents' seed and batch, step,
EMA) were scored. `--save-features=PATH` writes the generated images' pool3 features (.npy, or
.npz with mu, sigma and the protocol) and `--save-stats=PATH` their statistics (.npz).

`--standing_step=S` applies standing statistics before generating (PyTorch-StudioGAN's `-std_stat
-std_step S -std_max M`, which its CIFAR-10 and ImageNet benchmark commands use for BigGAN and
the other batch-norm generators): every batch norm's running statistics are reset and
recomputed for the weights being scored over S training-mode passes of 1..M latents
(`--standing_max_batch=M`, default the run's batch size), seeded by `--seed` (`jaxgan.standing`
says how). The protocol's `generation` records them as `standing_statistics`. A generator
without batch norm (R3GAN, StyleGAN2) is refused with one sentence.

The scores are also appended to the run's `evaluations.jsonl` (one JSON object a line: time,
step, checkpoint, ema, num, the metrics and the protocol), which `jaxgan.report` shows next to
what training logged; the file is only ever appended to, and nothing training wrote is touched.
`--norecord` skips it; a workdir that cannot be written gives a warning, not an error.
"""

from __future__ import annotations

import os
import time
import warnings

from absl import app
from absl import flags
import ml_collections

from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import evaluation
from jaxgan.experiment import load_run
from jaxgan.metrics import evaluators
from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics import protocol as protocol_lib
from jaxgan.metrics import torch_weights
from jaxgan.tools import common
from jaxgan.tools import fid as fid_tool

_DASHED = ('save-features', 'save-stats', 'batch-size', 'num-real', 'inception-batch-size',
           'standing-step', 'standing-max-batch')
EVALUATIONS_FILE = 'evaluations.jsonl'   # in the workdir; appended to, never rewritten


def _check_output(path: str, flag: str, endings: tuple[str, ...]) -> None:
  if not path.endswith(endings):
    raise errors.ConfigError(f'--{flag}={path} must end in {" or ".join(endings)}.')
  if os.path.exists(path):
    raise errors.ConfigError(f'--{flag}={path} already exists; remove it or choose another '
                             'path (nothing is overwritten).')


def evaluate(workdir: str, *, num: int = 50_000, step: int | None = None, best: bool = False,
             ema: bool = True, against: str | None = None, num_real: int | None = None,
             seed: int | None = None, batch_size: int | None = None,
             inception_batch_size: int | None = None, weights: str | None = None,
             kid: bool | None = None, prdc: bool | None = None, k_pr: int | None = None,
             k_dc: int | None = None, kid_subsets: int | None = None,
             kid_subset_size: int | None = None, save_features: str | None = None,
             save_stats: str | None = None, record: bool = True, standing_step: int = 0,
             standing_max_batch: int | None = None) -> dict:
  """The command's work, callable from Python; None takes the run's config.eval value.

  Returns `jaxgan.tools.fid.scores(...)`'s dict (fid, kid_mean, kid_std, is_mean, is_std,
  precision, recall, density, coverage where computed; protocol) plus `run`: {workdir, step,
  checkpoint, ema}. `record`: append it to the workdir's evaluations.jsonl (`record_scores`).
  `standing_step` > 0: standing statistics first (`jaxgan.standing`; StudioGAN's -std_stat),
  that many passes of 1..`standing_max_batch` latents (default: the run's batch size).
  """
  common.check_standing(standing_step, standing_max_batch)
  if isinstance(num, bool) or not isinstance(num, int) or num < 2:
    raise errors.ConfigError(f'--num={num!r} must be an integer >= 2 (FID needs a covariance; '
                             '50,000 for numbers comparable to published ones).')
  if num_real is not None and num_real < 2:
    raise errors.ConfigError(f'--num_real={num_real} must be >= 2.')
  if save_features:
    _check_output(save_features, 'save-features', ('.npy', '.npz'))
  if save_stats:
    _check_output(save_stats, 'save-stats', ('.npz',))
  if against is not None and num_real is not None:
    raise errors.ConfigError('--num_real chooses how many of the run\'s own reference images '
                             'to use; with --against, every image of that source is used.')

  run = load_run(workdir, step=step, best=best)
  e = run.config.eval   # the run's settings, flat as the command's flags are
  cfg = ml_collections.ConfigDict({
      'weights': e.inception.weights, 'batch_size': e.inception.batch_size,
      'chunk_size': e.chunk_size, 'seed': e.seed, 'cache_dir': e.cache_dir,
      'kid_subsets': e.kid.subsets, 'kid_subset_size': e.kid.subset_size,
      'is_splits': e.inception_score.splits, 'prdc_k_pr': e.prdc.k_pr, 'prdc_k_dc': e.prdc.k_dc})
  for key, value in (('weights', weights), ('batch_size', inception_batch_size),
                     ('prdc_k_pr', k_pr), ('prdc_k_dc', k_dc), ('kid_subsets', kid_subsets),
                     ('kid_subset_size', kid_subset_size), ('seed', seed),
                     ('chunk_size', batch_size)):
    if value is not None:
      cfg[key] = value
  k_pr, k_dc = evaluators.check_prdc_k(cfg.prdc_k_pr, cfg.prdc_k_dc,
                                       names=('--k_pr', '--k_dc'))
  for key in ('batch_size', 'chunk_size', 'kid_subsets', 'kid_subset_size'):
    if cfg[key] < 1:
      flag = {'chunk_size': 'batch_size', 'batch_size': 'inception_batch_size'}.get(key, key)
      raise errors.ConfigError(f'--{flag}={cfg[key]} must be >= 1.')
  if prdc:   # required: fail before generating (the default skips PRDC with a warning)
    # An --against file's count is known once it is read (`scores` checks it then).
    real_count = num_real or (num if against is None else max(k_pr, k_dc) + 1)
    evaluators.check_prdc_counts(
        num, real_count, k_pr, k_dc, fake_name='generated images (--num)',
        real_name='reference images' + ('' if num_real else ' (min(--num, dataset size))'),
        k_names=('--k_pr', '--k_dc'))
  weights_sha = protocol_lib.weights_sha256(cfg.weights or None)
  # Built before anything heavy runs, so that bad flags and missing weights fail first.
  features = evaluators.InceptionFeatures(
      weights=cfg.weights or None, batch_size=cfg.batch_size, chunk_size=cfg.chunk_size,
      cache_dir=torch_weights.cache_dir(cfg.cache_dir or None))
  extractor = features.extractor
  want_features = kid is not False or prdc is not False

  # --- the reference: a file or folder, or the run's own data --------------------------------
  if against is not None:
    source = fid_tool.Source(against, int(cfg.chunk_size))
    real = source.statistics(extractor, weights_sha256=weights_sha,
                             keep_features=want_features and source.has_features)
    real_name = against
  else:
    # The images training compared with (config.eval.reference_split's, when set).
    data = data_lib.reference_source(run.experiment.data, run.experiment.evaluation.reference_split)
    if data is not run.experiment.data:
      data.prepare()
    if not hasattr(data, 'reference_images'):
      raise errors.ConfigError('the run\'s data source has no reference_images(); pass '
                               '--against=SOURCE (an image folder, .npz, statistics or features).')
    available = getattr(data, 'num_examples', num)
    n_real = min(num, available) if num_real is None else num_real
    if n_real > available:
      raise errors.ConfigError(f'--num_real={n_real} but the data source holds {available} '
                               'images; pass at most that.')
    chunk = int(cfg.chunk_size)
    sampler = evaluation.Stream(data.reference_images(n_real, seed=int(cfg.seed), chunk=chunk))
    key = data.identity() if hasattr(data, 'identity') else type(data).__name__
    real = features.real_statistics(
        sampler, n_real, key, need_features=want_features,
        reference_selection=evaluation.reference_selection(data, int(cfg.seed)))
    split = (run.experiment.evaluation.split if 'data' in run.experiment.from_config
             else None)
    ref = evaluation.reference(data, split=split, seed=int(cfg.seed))
    real.protocol = {**(real.protocol or protocol_lib.describe_set(
        source=key, num_samples=real.num_samples, weights_sha256=weights_sha)), **ref}
    real_name = f'the reference images ({key})'

  # --- the generated images, streamed ----------------------------------------------------------
  state, standing = common.sampling_state(run, ema=ema, seed=int(cfg.seed),
                                          standing_step=standing_step,
                                          standing_max_batch=standing_max_batch)
  chunks = (x for x, _ in run.experiment.generate(state, num, ema=ema, seed=int(cfg.seed),
                                                  batch_size=int(cfg.chunk_size)))
  keep = want_features and real.features is not None
  fake = fid_lib.compute_statistics(chunks, extractor=extractor,
                                    keep_features=keep or bool(save_features),
                                    keep_logits=extractor.with_logits, progress='generated',
                                    total=num)
  fake.protocol = protocol_lib.describe_set(
      source=f'{run.workdir} step {run.step}', num_samples=fake.num_samples,
      weights_sha256=weights_sha)
  if save_features:
    fid_lib.save_features(save_features, fake)
  if save_stats:
    fid_lib.save_statistics(save_stats, fake)

  used_ema = bool(ema) and run.experiment.ema is not None
  result = fid_tool.scores(
      fake, real, kid=kid, prdc=prdc, k_pr=k_pr, k_dc=k_dc, kid_subsets=int(cfg.kid_subsets),
      kid_subset_size=int(cfg.kid_subset_size), seed=int(cfg.seed),
      is_splits=int(cfg.is_splits), names=('the generated images', real_name),
      generation={'seed': int(cfg.seed), 'batch_size': int(cfg.chunk_size), 'step': run.step,
                  'ema': used_ema, 'standing_statistics': standing})
  result['run'] = {'workdir': run.workdir, 'step': run.step,
                   'checkpoint': 'best' if best else ('step' if step is not None else 'latest'),
                   'ema': used_ema}
  if record:
    record_scores(run.workdir, result, num=num)
  return result


def record_scores(workdir: str, result: dict, *, num: int) -> str | None:
  """Appends `result` to workdir/evaluations.jsonl; its path, or None (with a warning) when
  the workdir cannot be written.

  One line: {"time", "step", "checkpoint", "ema", "num", <metrics>, "protocol"}. Appending
  (never rewriting) keeps every earlier line, and the file is the tool's own: nothing the run
  wrote (metrics.jsonl, best_fid.json, run_info.json) is touched.
  """
  path = os.path.join(workdir, EVALUATIONS_FILE)
  row = {'time': time.time(), **{k: result['run'][k] for k in ('step', 'checkpoint', 'ema')},
         'num': int(num), **{k: result[k] for k in fid_tool.RESULT_KEYS if k in result},
         'protocol': result['protocol']}
  line = (fid_tool.to_json(row) + '\n').encode('utf-8')
  try:
    with open(path, 'ab+') as f:
      if f.seek(0, os.SEEK_END):
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b'\n':   # a line cut short (a killed write): ours starts on a new one
          line = b'\n' + line
      f.write(line)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    warnings.warn(f'the scores were not recorded in {path} ({e.strerror or e}); make the '
                  'workdir writable to keep them with the run.', stacklevel=2)
    return None
  return path


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_string('workdir', None, 'A training run\'s workdir.')
  flags.DEFINE_integer('num', 50_000, 'Generated images (>= 2).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('best', False, 'Use the best-evaluation checkpoint (workdir/best_fid).')
  flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
  flags.DEFINE_string('against', None,
                      'Reference: an image folder, .npz/.npy of images, statistics .npz or '
                      'saved features (default: the run\'s own data source\'s images).')
  flags.DEFINE_integer('num_real', None, 'Reference images from the run\'s data source '
                       '(default: min(--num, dataset size)).')
  flags.DEFINE_integer('seed', None, 'Seed of the latents, of the reference subset and of '
                       'KID\'s subsets (default: config.eval.seed).')
  flags.DEFINE_integer('batch_size', None, 'Images generated per call; the latents depend on '
                       'it (default: config.eval.chunk_size).')
  flags.DEFINE_integer('inception_batch_size', None, 'Images per Inception pass (default: '
                       'config.eval.inception.batch_size).')
  flags.DEFINE_string('weights', None, 'Inception weights (default: config.eval.inception.weights, '
                      'else default_1.pt); pytorch-fid\'s .pth adds the Inception Score.')
  flags.DEFINE_boolean('kid', None, 'KID: --nokid skips it (and keeps no features for it).')
  flags.DEFINE_boolean('prdc', None, 'Precision/recall/density/coverage: --noprdc skips them.')
  flags.DEFINE_integer('k_pr', None, 'k of precision/recall (default: config.eval.prdc.k_pr).')
  flags.DEFINE_integer('k_dc', None, 'k of density/coverage (default: config.eval.prdc.k_dc).')
  flags.DEFINE_integer('kid_subsets', None, 'KID subsets (default: config.eval.kid.subsets).')
  flags.DEFINE_integer('kid_subset_size', None,
                       'KID subset size (default: config.eval.kid.subset_size).')
  common.define_standing_flags()
  flags.DEFINE_boolean('json', False, 'Print one JSON object (metrics, protocol, run).')
  flags.DEFINE_string('save_features', None, 'Write the generated images\' pool3 features '
                      'to this .npy (or .npz with mu, sigma and the protocol).')
  flags.DEFINE_string('save_stats', None, 'Write the generated images\' statistics to this '
                      '.npz (mu, sigma, protocol).')
  flags.DEFINE_boolean('record', True, f'Append the scores to the workdir\'s {EVALUATIONS_FILE} '
                       '(jaxgan.report shows them); --norecord skips it.')
  flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  with common.user_errors(), fid_tool.warnings_as_lines():
    result = evaluate(
        f.workdir, num=f.num, step=f.step, best=f.best, ema=f.ema, against=f.against,
        num_real=f.num_real, seed=f.seed, batch_size=f.batch_size,
        inception_batch_size=f.inception_batch_size, weights=f.weights, kid=f.kid,
        prdc=f.prdc, k_pr=f.k_pr, k_dc=f.k_dc, kid_subsets=f.kid_subsets,
        kid_subset_size=f.kid_subset_size, save_features=f.save_features,
        save_stats=f.save_stats, record=f.record, standing_step=f.standing_step,
        standing_max_batch=f.standing_max_batch)
  if f.json:
    print(fid_tool.to_json(result))
  else:
    r = result['run']
    print(f'{r["workdir"]}, step {r["step"]} ({r["checkpoint"]}, '
          f'{"EMA" if r["ema"] else "live"} weights):')
    print(fid_tool.text(result))


def cli() -> None:
  _define_flags()
  common.run(main, flags_parser=lambda argv: fid_tool.parse_flags(argv, _DASHED))


if __name__ == '__main__':
  cli()
