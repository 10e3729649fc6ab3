"""Scoring a run directly (`jaxgan.tools.evaluate`), the 'prdc' evaluator plug-in, and the
protocol record on every number training keeps.

One tiny DCGAN run on the digits (2 steps, one evaluation of 8 images with 'fid' and 'prdc')
serves the module. References: the logged numbers are recomputed by the library's parts used
directly and by `jaxgan.tools.sample` followed by `jaxgan.tools.fid` on the same latents;
precision/recall/density/coverage against tests/test_prdc.py's numpy/cdist reference; KID
against the unbiased MMD^2 written out; the weights' sha256 against hashlib on the file.
Tiny k (2 and 3) lets 8 images make every metric.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import jaxgan
from jaxgan import errors
from jaxgan.metrics import evaluators
from jaxgan.metrics import fid
from jaxgan.metrics import inception
from jaxgan.metrics import protocol
from jaxgan.metrics import torch_weights
from jaxgan.tools import evaluate as evaluate_tool
from jaxgan.tools import fid as fid_tool
from jaxgan.tools import sample as sample_tool
from tests.test_prdc import _reference as prdc_reference
from tests.util import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM = 8        # images per evaluation
BATCH = 4      # images per Inception pass (8 with 8 devices)
K_PR, K_DC = 2, 3
KID_SUBSETS = 5
SETTINGS = dict(k_pr=K_PR, k_dc=K_DC, kid_subsets=KID_SUBSETS)


class _CountImages:
  """Counts the images every FeatureExtractor runs through the network."""

  def __init__(self):
    self.images = 0
    self._iter = inception.FeatureExtractor.iter_features
    counter = self

    def counted(extractor, arrays, **kwargs):
      def arrays_counted():
        for a in arrays:
          counter.images += len(a)
          yield a
      return counter._iter(extractor, arrays_counted(), **kwargs)
    self.counted = counted


def _quiet(fn, *args, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')   # statistics of < 2048 samples
    return fn(*args, **kwargs)


@pytest.fixture(scope='module')
def weights_path():
  return torch_weights.default_1_path()


@pytest.fixture(scope='module')
def trained(tmp_path_factory, weights_path):
  """(workdir, cache dir, images the Inception network saw during training)."""
  del weights_path
  root = tmp_path_factory.mktemp('evaluate')
  config = tiny_config('digits', **{
      'eval.every_steps': 2, 'eval.num_samples': NUM, 'eval.inception.batch_size': BATCH,
      'eval.chunk_size': NUM, 'eval.kid.subsets': KID_SUBSETS,
      'eval.evaluators': ('fid', 'kid', 'prdc'), 'eval.prdc.k_pr': K_PR, 'eval.prdc.k_dc': K_DC,
      'eval.cache_dir': str(root / 'cache'), 'train.num_steps': 2,
      'train.checkpoint_every': 2, 'log.samples_every': 0})
  counter = _CountImages()
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(inception.FeatureExtractor, 'iter_features', counter.counted)
    _quiet(jaxgan.train, config, str(root / 'run'))
  return root / 'run', root / 'cache', counter.images


@pytest.fixture(scope='module')
def logged(trained):
  workdir, _, _ = trained
  rows = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  evals = [r for r in rows if 'eval/fid' in r]
  assert len(evals) == 1 and evals[0]['step'] == 2
  return evals[0]


@pytest.fixture(scope='module')
def real_images():
  """The 8 reference images training compared with (the digits, seed-0 subset)."""
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  images = data.load_digits(32)[0]
  return images[np.random.default_rng(0).permutation(len(images))[:NUM]]


def _expected_protocol(weights_path, step=2, seed=0):
  """What training (step 2) and evaluate record; run_info.json's has no step."""
  with open(weights_path, 'rb') as f:
    sha = hashlib.sha256(f.read()).hexdigest()
  return {'num_fake': NUM, 'num_real': NUM,
          # The seed-`seed` subset of the 1,797 digits; the latents of that seed, batch NUM.
          'reference': {'source': 'digits-32px', 'split': 'all', 'seed': seed,
                        'num_examples': 1797},
          'generation': {'seed': seed, 'batch_size': NUM, 'step': step, 'ema': False},
          'resize': 'tf1_bilinear_299', 'weights_sha256': sha,
          'k': {'precision_recall': K_PR, 'density_coverage': K_DC},
          # NUM of NUM samples per side: one subset of all of them (no std), as asked is kept.
          'kid': {'subsets': 1, 'subset_size': NUM, 'seed': seed,
                  'requested': {'subsets': KID_SUBSETS, 'subset_size': 1000}},
          'is_splits': None, 'jaxgan_version': jaxgan.__version__}


# ---------------------------------------------------------------------------------------------
# Training: the 'prdc' plug-in, one Inception pass, the protocol everywhere.
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_logs_prdc_with_one_inception_pass_and_the_protocol(trained, logged,
                                                                     weights_path, real_images):
  workdir, cache, images_seen = trained
  # 'fid' and 'prdc' share the pass: 8 real + 8 generated images, not 8 + 8 + 8.
  assert images_seen == 2 * NUM
  want = _expected_protocol(weights_path)
  assert logged['eval/protocol'] == want
  best = json.loads((workdir / 'best_fid.json').read_text())
  assert best['metric'] == 'fid' and best['protocol'] == want
  assert json.loads((workdir / 'run_info.json').read_text())['evaluation'] == (
      _expected_protocol(weights_path, step=None))
  # The real features are cached with the statistics, and carry the set's protocol.
  cached = list(cache.glob('fid_stats_digits-32px_n8_*.npz'))
  assert len(cached) == 1
  real = fid.load_statistics(str(cached[0]))
  assert real.features.shape == (NUM, 2048)
  assert real.protocol['num_samples'] == NUM and real.protocol['weights_sha256'] == want[
      'weights_sha256']
  assert real.protocol['reference_selection'] == {'seed': 0, 'num_examples': 1797}
  # The logged PRDC and KID against the numpy references on features computed afresh.
  run = jaxgan.load_run(str(workdir))
  fakes = np.concatenate([x for x, _ in run.generate(NUM, batch_size=NUM)])
  extractor = fid.get_extractor(batch_size=BATCH)
  fake_f = _quiet(fid.compute_statistics, fakes, extractor=extractor, keep_features=True).features
  real_f = _quiet(fid.compute_statistics, real_images, extractor=extractor,
                  keep_features=True).features
  np.testing.assert_array_equal(real_f, real.features)
  ref, margin = prdc_reference(real_f, fake_f, k_pr=K_PR, k_dc=K_DC)
  assert margin > 1e-5
  assert {k: logged[f'eval/{k}'] for k in ref} == ref
  assert logged['eval/kid'] == pytest.approx(_mmd(fake_f, real_f), rel=1e-5)


def _mmd(x, y):
  """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 over the whole sets (subset size >= n)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  k = lambda a, b: (a @ b.T / x.shape[1] + 1) ** 3
  m, n = len(x), len(y)
  return ((k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
          + (k(y, y).sum() - np.trace(k(y, y))) / (n * (n - 1)) - 2 * k(x, y).mean())


@pytest.mark.slow
def test_prdc_evaluator_shares_the_pass_and_matches_numpy(tmp_path, weights_path):
  """fid + kid + prdc through evaluate_all on digits against the same digits with noise (PRDC
  neither 0 nor all 1): one Inception pass over each set, values as the references."""
  del weights_path
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  digits = data.load_digits(16)[0]
  rng = np.random.default_rng(0)
  real = digits[:12]
  fake = np.clip(real.astype(np.float32) + rng.normal(0, 5, real.shape), 0, 255).astype(np.uint8)
  context = evaluators.Context(cache_dir=str(tmp_path), chunk_size=5,
                               inception_batch_size=BATCH)
  settings = {'kid': {'subsets': 3}, 'prdc': {'k_pr': K_PR, 'k_dc': K_DC}}
  chosen = {name: evaluators.make_evaluator(name, settings.get(name), context=context)
            for name in ('fid', 'kid', 'prdc')}
  sampler = lambda images: lambda: _stream(images)
  counter = _CountImages()
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(inception.FeatureExtractor, 'iter_features', counter.counted)
    values = _quiet(evaluators.evaluate_all, chosen, generate=sampler(fake),
                    real=sampler(real), num_samples=12, dataset_key='digits16')
  assert counter.images == 24
  extractor = fid.get_extractor(batch_size=BATCH)
  real_f = _quiet(fid.compute_statistics, real, extractor=extractor, keep_features=True).features
  fake_f = _quiet(fid.compute_statistics, fake, extractor=extractor, keep_features=True).features
  ref, margin = prdc_reference(real_f, fake_f, k_pr=K_PR, k_dc=K_DC)
  assert margin > 1e-5
  assert 0 < ref['precision'] < 1 and 0 < ref['coverage'] < 1 and ref['density'] > 0, ref
  assert {k: values[k] for k in ref} == ref
  assert values['kid'] == pytest.approx(_mmd(fake_f, real_f), rel=1e-5)
  assert set(values) == {'fid', 'kid', 'precision', 'recall', 'density', 'coverage'}


def _stream(images):
  """A fresh `sample(n)` over `images` (as the training loop's Stream of chunks)."""
  from jaxgan import evaluation  # pylint: disable=g-import-not-at-top
  return evaluation.Stream(iter([images[i:i + 5] for i in range(0, len(images), 5)]))


def test_evaluate_all_runs_other_plug_ins_on_fresh_samplers():
  """A plug-in of one's own (no Inception) gets its own samplers, each from the first image."""
  class MeanPixel:
    needs_real = False

    def evaluate(self, *, generate, real, num_samples, dataset_key, num_real=None):
      del real, dataset_key, num_real
      yield 'mean_pixel', float(np.mean(generate(num_samples)))

  images = np.arange(6 * 4 * 4 * 3, dtype=np.float32).reshape(6, 4, 4, 3) / 288 - 1
  values = evaluators.evaluate_all({'a': MeanPixel(), 'b': MeanPixel()},
                                   generate=lambda: _stream(images), real=lambda: None,
                                   num_samples=6, dataset_key='x')
  assert values == {'mean_pixel': pytest.approx(float(images.mean()))}


def test_prdc_settings_are_validated():
  for overrides, match in (
      ({'eval.evaluators': ('prdc',), 'eval.prdc.k_pr': 0},
       r'config\.eval\.prdc\.k_pr=0 must be an integer >= 1'),
      ({'eval.evaluators': ('prdc',), 'eval.prdc.k_dc': -1}, r'prdc\.k_dc=-1 must be an integer'),
      ({'eval.every_steps': 2, 'eval.evaluators': ('prdc',), 'eval.num_samples': 5},
       r'at least 6 images \(config\.eval\.num_samples\) for config\.eval\.prdc\.k_dc=5'),
      ({'eval.every_steps': 2, 'eval.evaluators': ('prdc',), 'eval.best_metric': 'fid'},
       r"best_metric='fid' is not a metric")):
    config = tiny_config('digits', **overrides)
    with pytest.raises(errors.ConfigError, match=match):
      jaxgan.validation.validate(config)
  config = tiny_config('digits', **{'eval.every_steps': 2, 'eval.evaluators': ('prdc',),
                                    'eval.best_metric': 'coverage'})
  jaxgan.validation.validate(config)   # PRDC's metrics can choose the best checkpoint


# ---------------------------------------------------------------------------------------------
# python -m jaxgan.tools.evaluate
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_recomputes_training_and_equals_sample_then_fid(trained, logged, tmp_path,
                                                                 real_images):
  workdir, _, _ = trained
  written = {name: (workdir / name).read_bytes()
             for name in ('metrics.jsonl', 'run_info.json', 'best_fid.json', 'config.json')}
  before = _evaluations(workdir)
  # Defaults from the run's config.eval (seed, batch, weights, cache): the logged numbers.
  result = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM, **SETTINGS)
  # Recorded in the run: one more line of evaluations.jsonl; nothing training wrote changes.
  rows = _evaluations(workdir)
  assert rows[:len(before)] == before and len(rows) == len(before) + 1
  assert isinstance(rows[-1].pop('time'), float)
  assert rows[-1] == {'step': 2, 'checkpoint': 'latest', 'ema': False, 'num': NUM,
                      **{k: result[k] for k in fid_tool.RESULT_KEYS if k in result},
                      'protocol': result['protocol']}
  assert {name: (workdir / name).read_bytes() for name in written} == written
  assert result['fid'] == logged['eval/fid'] and result['kid_mean'] == logged['eval/kid']
  for key in ('precision', 'recall', 'density', 'coverage'):
    assert result[key] == logged[f'eval/{key}']
  assert result['protocol'] == logged['eval/protocol']
  assert result['run'] == {'workdir': str(workdir), 'step': 2, 'checkpoint': 'latest',
                           'ema': False}
  # jaxgan.tools.sample's images of the same latents, scored by jaxgan.tools.fid.
  fakes = str(tmp_path / 'fakes.npz')
  run = jaxgan.load_run(str(workdir))
  sample_tool.write(run.generate(NUM, batch_size=NUM), fakes, NUM)
  np.savez(tmp_path / 'reals.npz', images=real_images)
  via_files = _quiet(fid_tool.run, [fakes, str(tmp_path / 'reals.npz')], batch_size=BATCH,
                     **SETTINGS)
  for key in ('fid', 'kid_mean', 'precision', 'recall', 'density', 'coverage'):
    assert via_files[key] == pytest.approx(result[key], rel=1e-9, abs=1e-12), key
  assert via_files['kid_std'] is None and result['kid_std'] is None   # NUM of NUM: no spread
  assert via_files['protocol']['reference']['source'] == str(tmp_path / 'reals.npz')
  # Against saved features of those reals: the same numbers.
  _quiet(fid_tool.run, [str(tmp_path / 'reals.npz'), str(tmp_path / 'reals.npy')],
         save_features=True, batch_size=BATCH)
  against = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM,
                   against=str(tmp_path / 'reals.npy'), record=False, **SETTINGS)
  assert against['fid'] == pytest.approx(result['fid'], rel=1e-9)
  assert against['precision'] == result['precision']
  assert against['protocol']['reference'] == {'source': str(tmp_path / 'reals.npy'),
                                              'split': None, 'seed': None,
                                              'num_examples': None}
  assert len(_evaluations(workdir)) == len(rows)   # record=False


@pytest.mark.slow
def test_evaluate_with_standing_statistics_equals_the_library_then_fid(trained, logged, tmp_path,
                                                                      real_images):
  """--standing_step/--standing_max_batch: the DCGAN's batch norm statistics recomputed
  (jaxgan.standing) before generating; recorded in the protocol's generation."""
  workdir, _, _ = trained
  result = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM, standing_step=3,
                  standing_max_batch=4, record=False, **SETTINGS)
  generation = result['protocol']['generation']
  assert generation == {'seed': 0, 'batch_size': NUM, 'step': 2, 'ema': False,
                        'standing_statistics': {'steps': 3, 'max_batch': 4, 'seed': 0}}
  assert 'standing statistics 3 passes of 1..4 seed 0' in protocol.summary(result['protocol'])
  assert result['fid'] != logged['eval/fid']   # other statistics, other images
  # The same flags of jaxgan.tools.sample (same latents: seed 0, batch NUM), its images scored.
  fakes = str(tmp_path / 'fakes.npz')
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  proc = subprocess.run(
      [sys.executable, '-m', 'jaxgan.tools.sample', f'--workdir={workdir}', f'--num={NUM}',
       f'--batch_size={NUM}', '--standing_step=3', '--standing_max_batch=4', f'--out={fakes}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  np.savez(tmp_path / 'reals.npz', images=real_images)
  via_files = _quiet(fid_tool.run, [fakes, str(tmp_path / 'reals.npz')], batch_size=BATCH,
                     **SETTINGS)
  assert via_files['fid'] == pytest.approx(result['fid'], rel=1e-9)


def _evaluations(workdir):
  path = workdir / 'evaluations.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_reference_cache_is_keyed_by_the_subset_seed(trained, tmp_path, weights_path):
  """--seed=1 picks another subset of the digits: its statistics are computed (not seed 0's
  cached file, which training wrote), equal to those of that subset given as a file, and the
  protocol says which subset and which latents."""
  workdir, cache, _ = trained
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  digits = data.load_digits(32)[0]
  np.savez(tmp_path / 'seed1.npz',
           images=digits[np.random.default_rng(1).permutation(len(digits))[:NUM]])
  seed1 = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM, seed=1, record=False,
                 **SETTINGS)
  fresh = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM, seed=1, record=False,
                 against=str(tmp_path / 'seed1.npz'), **SETTINGS)
  assert seed1['fid'] == pytest.approx(fresh['fid'], rel=1e-9)
  assert seed1['kid_mean'] == pytest.approx(fresh['kid_mean'], rel=1e-9)
  assert seed1['protocol'] == _expected_protocol(weights_path, seed=1)
  cached = sorted(cache.glob('fid_stats_digits-32px_n8_*.npz'))
  assert len(cached) == 2
  assert sorted(fid.load_statistics(str(p)).protocol['reference_selection']['seed']
                for p in cached) == [0, 1]
  # Seed 1 again: from its own cache file now.
  again = _quiet(evaluate_tool.evaluate, str(workdir), num=NUM, seed=1, record=False,
                 **SETTINGS)
  assert again['fid'] == seed1['fid']


@pytest.mark.slow
def test_evaluate_command_line_json_and_saved_features(trained, logged, tmp_path, real_images):
  workdir, cache, _ = trained
  np.save(tmp_path / 'reals.npy', _quiet(
      fid.compute_statistics, real_images, extractor=fid.get_extractor(batch_size=BATCH),
      keep_features=True).features)
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  env.pop('XLA_FLAGS', None)   # as users run it: one CPU device
  recorded = len(_evaluations(workdir))
  proc = subprocess.run(
      [sys.executable, '-m', 'jaxgan.tools.evaluate', f'--workdir={workdir}', f'--num={NUM}',
       f'--against={tmp_path / "reals.npy"}', f'--k_pr={K_PR}', f'--k_dc={K_DC}',
       f'--kid_subsets={KID_SUBSETS}', f'--inception-batch-size={BATCH}', '--json',
       f'--save-features={tmp_path / "fakes.npy"}', f'--save-stats={tmp_path / "fakes.npz"}',
       '--norecord'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout)   # stdout is the one JSON object
  assert set(result) == {'fid', 'kid_mean', 'kid_std', 'precision', 'recall', 'density',
                         'coverage', 'protocol', 'run'}
  # One device and batch 4 in the subprocess: the same FID up to float rounding.
  assert result['fid'] == pytest.approx(logged['eval/fid'], rel=1e-4)
  assert result['protocol']['reference'] == {'source': str(tmp_path / 'reals.npy'),
                                             'split': None, 'seed': None, 'num_examples': None}
  assert result['protocol']['generation'] == {'seed': 0, 'batch_size': NUM, 'step': 2,
                                              'ema': False}
  assert len(_evaluations(workdir)) == recorded   # --norecord
  # A bare .npy records no weights: the generated side's are the record's.
  assert result['protocol']['weights_sha256'] == logged['eval/protocol']['weights_sha256']
  fakes = np.load(tmp_path / 'fakes.npy')
  assert fakes.shape == (NUM, 2048) and fakes.dtype == np.float32
  stats = fid.load_statistics(str(tmp_path / 'fakes.npz'))
  assert stats.protocol['num_samples'] == NUM and stats.protocol['resize'] == 'tf1_bilinear_299'
  np.testing.assert_allclose(stats.mu, fakes.astype(np.float64).mean(0), rtol=1e-10)
  assert 'warning: ' in proc.stderr   # < 2048 samples, as one plain line


@pytest.mark.slow
def test_evaluate_bad_inputs(trained, tmp_path):
  workdir, _, _ = trained
  bare = tmp_path / 'bare'
  bare.mkdir()
  shutil.copy(workdir / 'config.json', bare / 'config.json')
  cases = [
      (dict(workdir=str(bare)), errors.CheckpointError, r'holds no checkpoint; train first'),
      (dict(workdir=str(tmp_path / 'nowhere')), errors.CheckpointError, 'is not a folder'),
      (dict(workdir=str(workdir), num=1), errors.ConfigError, r'--num=1 must be an integer >= 2'),
      (dict(workdir=str(workdir), num=3, prdc=True, k_pr=K_PR, k_dc=K_DC), errors.ConfigError,
       r'at least 4 reference images \(min\(--num, dataset size\)\) for --k_dc=3'),
      (dict(workdir=str(workdir), save_features=str(workdir / 'config.json')),
       errors.ConfigError, r'must end in \.npy or \.npz'),
      (dict(workdir=str(workdir), save_stats=str(workdir / 'run_info.json')),
       errors.ConfigError, r'must end in \.npz'),
      (dict(workdir=str(workdir), k_pr=0), errors.ConfigError, r'--k_pr=0 must be an integer'),
      (dict(workdir=str(workdir), standing_step=-1), errors.ConfigError,
       r'--standing_step=-1 must be an integer >= 0'),
      (dict(workdir=str(workdir), standing_max_batch=4), errors.ConfigError,
       r'pass --standing_step=N \(N > 0\) with it'),
      (dict(workdir=str(workdir), standing_step=2, standing_max_batch=0), errors.ConfigError,
       r'max_batch=0 must be an integer >= 1'),
  ]
  for kwargs, kind, match in cases:
    with pytest.raises(kind, match=match):
      evaluate_tool.evaluate(**kwargs)
  env = {**os.environ, 'PYTHONPATH': REPO, 'JAX_PLATFORMS': 'cpu'}
  env.pop('XLA_FLAGS', None)
  proc = subprocess.run([sys.executable, '-m', 'jaxgan.tools.evaluate', f'--workdir={bare}'],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
  assert 'holds no checkpoint' in proc.stderr


# ---------------------------------------------------------------------------------------------
# The protocol record itself.
# ---------------------------------------------------------------------------------------------

def test_protocol_record_and_differences(tmp_path):
  rec = protocol.record(num_fake=10, num_real=20, reference={'source': 's', 'split': 'train'},
                        weights_sha256='ab' * 32, k={'precision_recall': 3,
                                                     'density_coverage': 5})
  assert rec == {'num_fake': 10, 'num_real': 20,
                 'reference': {'source': 's', 'split': 'train', 'seed': None,
                               'num_examples': None},
                 'generation': None, 'resize': 'tf1_bilinear_299', 'weights_sha256': 'ab' * 32,
                 'k': {'precision_recall': 3, 'density_coverage': 5}, 'kid': None,
                 'is_splits': None, 'jaxgan_version': jaxgan.__version__}
  assert json.loads(json.dumps(rec)) == rec
  a = protocol.describe_set(source='a', num_samples=5, weights_sha256='x')
  b = protocol.describe_set(source='b', num_samples=7, weights_sha256='y', resize='clean')
  assert protocol.differences(a, b) == ['resize tf1_bilinear_299 (A) vs clean (B)',
                                        'weights_sha256 x (A) vs y (B)']
  assert protocol.differences(a, {**a, 'weights_sha256': None}) == []   # unknown: no claim
  assert protocol.merged('x', 'x') == 'x' and protocol.merged(None, 'y') == 'y'
  assert protocol.merged('x', 'y') == ['x', 'y']
  # Any weights file is hashed as it is; default_1.pt's hash is the pinned one.
  other = tmp_path / 'w.pt'
  other.write_bytes(b'not weights')
  assert protocol.weights_sha256(str(other)) == hashlib.sha256(b'not weights').hexdigest()
  assert protocol.weights_sha256(None) == torch_weights.DEFAULT1_SHA256
  assert protocol.weights_sha256(str(tmp_path / 'missing.pt')) is None
  assert protocol.summary(rec) == ('10 generated vs 20 real (s, split train), tf1_bilinear_299, '
                                   f'weights {"ab" * 6}, k 3/5, jaxgan {jaxgan.__version__}')
  assert protocol.summary(None) == 'protocol not recorded'
  full = protocol.record(
      num_fake=10, num_real=20,
      reference={'source': 's', 'split': None, 'seed': 3, 'num_examples': 1797},
      generation={'seed': 3, 'batch_size': 50, 'step': 4000, 'ema': True},
      weights_sha256='ab' * 32, kid=protocol.kid_record(10, 20, subsets=5, subset_size=8,
                                                        seed=3))
  assert full['reference'] == {'source': 's', 'split': None, 'seed': 3, 'num_examples': 1797}
  assert full['generation'] == {'seed': 3, 'batch_size': 50, 'step': 4000, 'ema': True}
  assert full['kid'] == {'subsets': 5, 'subset_size': 8, 'seed': 3}
  assert protocol.at_step({**full, 'generation': {**full['generation'], 'step': None}},
                          4000) == full
  assert protocol.summary(full) == (
      '10 generated vs 20 real (s, subset seed 3 of 1,797), step 4,000 EMA, latents seed 3 '
      f'batch 50, tf1_bilinear_299, weights {"ab" * 6}, KID 5 subsets of 8 seed 3, '
      f'jaxgan {jaxgan.__version__}')


def test_recorded_scores_are_only_appended(tmp_path):
  """evaluations.jsonl: each score one more line after what is there, a line cut short by a
  killed write kept and not glued to the next; a workdir that cannot be written is a
  warning."""
  result = {'run': {'step': 3, 'checkpoint': 'latest', 'ema': True}, 'fid': 1.5,
            'kid_mean': 0.25, 'kid_std': None, 'protocol': {'num_fake': 10}}
  path = tmp_path / 'evaluations.jsonl'
  path.write_text('{"step": 6')   # cut short
  for _ in range(2):
    assert evaluate_tool.record_scores(str(tmp_path), result, num=10) == str(path)
  lines = path.read_text().split('\n')
  assert lines[0] == '{"step": 6' and lines[3] == ''
  rows = [json.loads(line) for line in lines[1:3]]
  for row in rows:
    assert isinstance(row.pop('time'), float)
    assert row == {'step': 3, 'checkpoint': 'latest', 'ema': True, 'num': 10, 'fid': 1.5,
                   'kid_mean': 0.25, 'kid_std': None, 'protocol': {'num_fake': 10}}
  with pytest.warns(UserWarning, match=r'the scores were not recorded in .*missing'):
    assert evaluate_tool.record_scores(str(tmp_path / 'missing'), result, num=10) is None


# ---------------------------------------------------------------------------------------------
# The registry: evaluators of one's own, each metric's direction, per-evaluator settings.
# ---------------------------------------------------------------------------------------------

class _Scripted:
  """Yields ('sharpness', v) with v the next of `values` at each evaluation (the best
  checkpoint must then follow the declared direction, whatever the generator does)."""
  needs_real = False

  def __init__(self, values, direction):
    self.metrics = {'sharpness': direction}
    self._values = iter(values)

  def evaluate(self, *, generate, real, num_samples, dataset_key, num_real=None):
    del real, dataset_key, num_real
    _ = generate(num_samples)   # drawn as any evaluator does
    yield 'sharpness', next(self._values)


@pytest.fixture
def scripted():
  """Registers 'scripted' (settings: values, direction) for one test."""
  evaluators.register(
      'scripted', lambda s, context: _Scripted(s['values'], s['direction']),
      settings={'values': (0.0,), 'direction': evaluators.HIGHER})
  yield
  evaluators.unregister('scripted')


@pytest.mark.parametrize('direction,best_step', [(evaluators.HIGHER, 2),
                                                 (evaluators.LOWER, 4)])
@pytest.mark.slow
def test_best_checkpoint_follows_the_declared_direction(tmp_path, scripted, direction,
                                                        best_step):
  """A user evaluator registered by name, configured under config.eval.<name>: the best
  checkpoint keeps the highest value when its metric is higher-is-better, else the lowest."""
  del scripted
  values = (3.0, 5.0, 4.0, 1.0)   # steps 1-4: highest at 2, lowest at 4
  config = tiny_config('digits', **{
      'eval.every_steps': 1, 'eval.num_samples': 4, 'eval.chunk_size': 4,
      'eval.evaluators': ('scripted',), 'eval.best_metric': 'sharpness',
      'eval.scripted.values': values, 'eval.scripted.direction': direction,
      'train.num_steps': 4, 'train.checkpoint_every': 4, 'log.samples_every': 0})
  workdir = tmp_path / 'run'
  jaxgan.train(config, str(workdir))
  rows = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  logged = {r['step']: r['eval/sharpness'] for r in rows if 'eval/sharpness' in r}
  assert logged == dict(zip((1, 2, 3, 4), values))
  best = json.loads((workdir / 'best_fid.json').read_text())
  assert (best['step'], best['metric'], best['better'], best['value']) == (
      best_step, 'sharpness', direction, values[best_step - 1])
  assert os.listdir(workdir / 'best_fid') == [str(best_step)]
  assert int(jaxgan.load_run(str(workdir), best=True).state.step) == best_step
  evaluators.unregister('scripted')   # e.g. another process that loads the run
  with pytest.raises(errors.ConfigError, match="the evaluator 'scripted', which is not "
                                               r'registered; register it \(jaxgan'):
    jaxgan.load_run(str(workdir))


def test_registry_refuses_what_it_cannot_use(tmp_path, scripted):
  del scripted
  with pytest.raises(ValueError, match="already registered as 'scripted'"):
    evaluators.register('scripted', lambda s, c: None)
  with pytest.raises(ValueError, match='other than config.eval'):
    evaluators.register('num_samples', lambda s, c: None)
  context = evaluators.Context(cache_dir='/tmp')
  evaluators.register('undeclared', lambda s, c: object())
  try:
    with pytest.raises(errors.ConfigError, match="'undeclared' must declare `metrics`"):
      evaluators.make_evaluator('undeclared', context=context)
  finally:
    evaluators.unregister('undeclared')
  # An evaluator object of one's own must declare them too, before training starts.
  class Undeclared:
    def evaluate(self, **kwargs):
      yield 'x', 1.0
  config = tiny_config('digits', **{'eval.every_steps': 1, 'eval.best_metric': ''})
  experiment = jaxgan.build(config).replace(evaluators={'mine': Undeclared()})
  with pytest.raises(errors.ConfigError, match="'mine' must declare `metrics`"):
    jaxgan.train(experiment, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists()
  # Settings are its own: unknown ones are refused, naming the key.
  config = tiny_config('digits', **{'eval.every_steps': 1, 'eval.evaluators': ('scripted',),
                                    'eval.best_metric': 'sharpness'})
  config.eval.scripted.valuez = (1.0,)
  with pytest.raises(errors.ConfigError, match=r'config\.eval\.scripted\.valuez is not a '
                                               r"setting of the evaluator 'scripted'"):
    jaxgan.validation.validate(config)
  # A metric without a direction (a std) cannot pick the best checkpoint.
  config = tiny_config('digits', **{'eval.every_steps': 1,
                                    'eval.evaluators': ('inception_score',),
                                    'eval.best_metric': 'inception_score_std'})
  with pytest.raises(errors.ConfigError, match=r"one of \['inception_score'\]"):
    jaxgan.validation.validate(config)


class _Network:
  """A feature network of one's own: counts the passes over each set."""

  def __init__(self):
    self.passes = []

  def prepare(self):
    pass

  def statistics(self, sample, num_samples, what, *, keep_features=False, keep_logits=False):
    self.passes.append(what)
    return sample(num_samples).reshape(num_samples, -1).mean(axis=1)

  def real_statistics(self, real, num_samples, dataset_key, *, need_features,
                      reference_selection=None):
    return self.statistics(real, num_samples, 'real')


class _MeanOf(evaluators.FeatureEvaluator):
  def __init__(self, features, metric):
    super().__init__(features)
    self.metric = metric
    self.metrics = {metric: evaluators.LOWER}

  def scores(self, fake, real):
    yield self.metric, float(np.mean(fake) - np.mean(real))


def test_evaluators_declaring_one_network_share_its_pass():
  """Sharing follows what an evaluator declares (`features`), not its type: two evaluators of
  one network cost one pass over each set."""
  network = _Network()
  images = np.linspace(-1, 1, 6 * 4 * 4 * 3, dtype=np.float32).reshape(6, 4, 4, 3)
  values = evaluators.evaluate_all(
      {'a': _MeanOf(network, 'a'), 'b': _MeanOf(network, 'b')},
      generate=lambda: _stream(images), real=lambda: _stream(images[::-1]), num_samples=6,
      dataset_key='x')
  assert sorted(network.passes) == ['generate', 'real']
  assert values == {'a': pytest.approx(0.0, abs=1e-6), 'b': pytest.approx(0.0, abs=1e-6)}


# The eval section as jaxgan 0.2.0 (before per-evaluator settings) wrote it in config.json.
_FLAT_EVAL = {'every_steps': 0, 'evaluators': ['fid'], 'num_samples': 10000,
              'best_metric': 'fid', 'batch_size': 16, 'chunk_size': 500, 'kid': True,
              'kid_subsets': 7, 'kid_subset_size': 1000, 'is_splits': 10, 'prdc_k_pr': 3,
              'prdc_k_dc': 4, 'seed': 0, 'weights': '', 'cache_dir': '',
              'reference_split': ''}


@pytest.mark.slow
def test_old_flat_eval_keys(tmp_path):
  """A run whose config.json has the flat eval section loads and resumes with the settings at
  their new places; a config that sets a flat key is refused, naming the new place."""
  config = tiny_config('digits', **{'train.num_steps': 2, 'train.checkpoint_every': 2,
                                    'log.samples_every': 0})
  workdir = tmp_path / 'run'
  jaxgan.train(config, str(workdir))
  saved = json.loads((workdir / 'config.json').read_text())
  saved['eval'] = dict(_FLAT_EVAL)
  (workdir / 'config.json').write_text(json.dumps(saved))
  run = jaxgan.load_run(str(workdir))
  e = run.config.eval
  assert (e.evaluators, e.inception.batch_size, e.kid.subsets, e.prdc.k_dc) == (
      ('fid', 'kid'), 16, 7, 4)
  config.train.num_steps = 4
  config.eval.kid.subsets = 9
  jaxgan.train(config, str(workdir))   # resumes, and writes config.json as it is now
  run = jaxgan.load_run(str(workdir))
  assert int(run.state.step) == 4
  assert (run.config.eval.evaluators, run.config.eval.kid.subsets) == (('fid', 'kid'), 9)
  for key, value, match in (
      ('batch_size', 16, r'config\.eval\.batch_size moved to config\.eval\.inception\.batch_size'),
      ('prdc_k_pr', 2, r'config\.eval\.prdc_k_pr moved to config\.eval\.prdc\.k_pr')):
    config = tiny_config('digits')
    config.eval[key] = value   # as a config file written for 0.2.0 does
    with pytest.raises(errors.ConfigError, match=match):
      jaxgan.validation.validate(config)


@pytest.mark.slow
def test_launch_names_the_new_place_of_a_flat_eval_override(tmp_path):
  for override, message in (
      ('--config.eval.kid_subsets=5', 'error: config.eval.kid_subsets moved to '
       'config.eval.kid.subsets (each evaluator has its own settings); pass '
       '--config.eval.kid.subsets=... instead.'),
      ('--config.eval.kid=False', "error: config.eval.kid is now the evaluator 'kid' (a "
       "section of its settings), not a switch; leave 'kid' out of config.eval.evaluators "
       '(e.g. --config.eval.evaluators=fid) to skip KID.')):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, 'launch.py'),
         f'--config={os.path.join(REPO, "configs", "dcgan_digits.py")}',
         f'--workdir={tmp_path / "run"}', override],
        capture_output=True, text=True, env=os.environ, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [message], proc.stderr
