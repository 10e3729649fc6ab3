"""The study runner: study definitions, validated overrides, and resuming an interrupted study."""

import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

import jaxgan
from jaxgan import errors, report
from jaxgan.study import runner
from tests.util import CONFIGS, SigtermAt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# tests/util.py's tiny_config as overrides of configs/dcgan.py.
TINY = {'data.dataset': 'digits', 'data.image_size': 32, 'model.z_dim': 8, 'model.g_width': 32,
        'model.d_width': 4, 'train.batch_size': 16, 'train.checkpoint_every': 2,
        'log.every_steps': 1, 'log.samples_every': 2, 'log.num_samples': 4,
        'eval.every_steps': 0}


def _resolve(study, *texts):
  return runner.resolve(study, runner.parse_overrides(texts), CONFIGS)


def test_seed_study_overrides_apply_to_the_runs_that_have_the_key():
  study = runner.get_study('seed')
  assert [r.name for r in study.runs] == [
      'dcgan', 'dcgan_wasserstein', 'wgan_clip', 'wgan_gp', 'sagan_hinge', 'sagan_minimax',
      'sagan_wasserstein']
  configs = _resolve(study, 'train.num_steps=200', 'data.dataset=digits',
                     'sagan_*:model.g_width=16', 'model.attention_pool=true',
                     'eval.evaluators=fid,kid', 'optim.g_lr=1')
  assert {c.train.num_steps for c in configs.values()} == {200}
  assert configs['sagan_minimax'].model.g_width == 16 and configs['dcgan'].model.g_width == 1024
  assert configs['sagan_hinge'].model.attention_pool is True       # a bool from 'true'
  assert configs['dcgan'].model.attention_pool is None             # DCGAN never reads it
  assert configs['wgan_gp'].eval.evaluators == ('fid', 'kid')
  assert configs['dcgan'].optim.g_lr == 1.0 and isinstance(configs['dcgan'].optim.g_lr, float)
  assert configs['sagan_minimax'].loss.name == 'minimax'             # the config file's own
  assert configs['wgan_clip'].optim.d_clip == 0.01


def test_mixtures_study_reuses_the_benchmark_families():
  study = runner.get_study('mixtures')
  configs = _resolve(study, 'train.num_steps=100')
  assert len(study.runs) == 14
  run = {r.name: r for r in study.runs}
  clip = configs['grid_wgan_clip']
  assert (clip.data.dataset, clip.optim.d_clip, clip.train.d_steps) == ('grid', 0.01, 5)
  assert configs['ring_hinge'].log.samples_every == 500
  # The families' learning-rate decay: the last quarter of the ring's steps at 0.1 x the rates.
  hinge = configs['ring_hinge'].optim
  for schedule in (hinge.g_schedule, hinge.d_schedule):
    assert (schedule.name, schedule.milestones, schedule.factor) == ('step', (0.75,), 0.1)
  assert configs['ring_wgan_clip'].optim.g_schedule.name == 'constant'
  assert set(run) == {r.name for r in study.runs}


@pytest.mark.parametrize('texts, message', [
    (['train.nm_steps=3'], "no run's config has the key 'train.nm_steps'"),
    (['train.num_steps=abc'], "config.train.num_steps of run 'dcgan' holds a value of type int"),
    (['train.num_steps'], 'is not \\[RUNS:\\]key=value'),
    (['nope*:train.num_steps=3'], 'selects none of the runs'),
    (['data.image_size=48'], "run 'dcgan': config.data.image_size=48 is not supported"),
])
def test_bad_overrides_are_one_sentence_config_errors(texts, message):
  with pytest.raises(errors.ConfigError, match=message):
    _resolve(runner.get_study('seed'), *texts)


def test_unknown_study_and_run_names():
  with pytest.raises(runner.StudyError, match="unknown study 'cifar'; choose one of seed"):
    runner.get_study('cifar')
  with pytest.raises(runner.StudyError, match='--runs names dcgan_gp'):
    runner.select_runs(runner.get_study('seed'), ['dcgan', 'dcgan_gp'])


@pytest.mark.slow
def test_command_line_errors_are_one_line(tmp_path):
  done = subprocess.run(
      [sys.executable, '-m', 'jaxgan.study', '--study=seed', f'--out={tmp_path / "s"}',
       '--set', 'train.nm_steps=3'], cwd=ROOT, capture_output=True, text=True, timeout=300,
      check=False)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      "error: --set 'train.nm_steps=3': no run's config has the key 'train.nm_steps'; use a "
      "field that the configs define (see configs/default.py, e.g. train.num_steps).")
  assert not (tmp_path / 's').exists()          # nothing written before the overrides check


@pytest.mark.slow
def test_a_preempted_study_stops_unfinished_and_resumes_exactly(tmp_path):
  """SIGTERM during run b (of a, b, c): b saves and is recorded as preempted, c never starts,
  the study raises Preempted; rerunning trains only b (from its checkpoint) and c, and b ends
  bit-exact with an uninterrupted b."""
  study = runner.Study('tiny', 'three tiny DCGANs', (
      runner.Run('a', 'dcgan.py', TINY),
      runner.Run('b', 'dcgan.py', {**TINY, 'train.seed': 1}),
      runner.Run('c', 'dcgan.py', {**TINY, 'train.seed': 2})))
  out = str(tmp_path / 'study')
  overrides = runner.parse_overrides(['train.num_steps=4'])

  def preempted_in_b(config, workdir):
    experiment = jaxgan.build(config)
    if os.path.basename(workdir) == 'b':
      experiment = experiment.replace(data=SigtermAt(experiment.data, 2))
    return jaxgan.train(experiment, workdir)

  with pytest.raises(errors.Preempted):
    runner.run_study(study, out, overrides, train_fn=preempted_in_b, log=lambda _: None,
                     configs_dir=CONFIGS)
  a, b, c = (os.path.join(out, n) for n in 'abc')
  assert runner.latest_step(a) == 4 and 1 <= runner.latest_step(b) < 4
  assert not os.path.exists(c)
  record = json.load(open(os.path.join(out, 'study.json')))
  assert record['status']['a']['state'] == 'finished'
  assert record['status']['b']['state'] == 'preempted'
  assert 'c' not in record['status']
  a_metrics = open(os.path.join(a, 'metrics.jsonl')).read()
  a_mtime = os.stat(os.path.join(a, 'checkpoints', '4')).st_mtime_ns

  calls = []

  def recording(config, workdir):
    calls.append((os.path.basename(workdir), config.train.num_steps))
    return jaxgan.train(config, workdir)

  statuses = runner.run_study(study, out, overrides, train_fn=recording, log=lambda _: None,
                              configs_dir=CONFIGS)
  assert calls == [('b', 4), ('c', 4)]                       # a is not trained again
  assert {n: s['state'] for n, s in statuses.items()} == {
      'a': 'finished', 'b': 'finished', 'c': 'finished'}
  assert runner.latest_step(b) == 4
  straight_b = runner.resolve(
      runner.Study('one', '', (study.runs[1],)), overrides, CONFIGS)['b']
  straight = jaxgan.train(straight_b, str(tmp_path / 'straight_b'))
  resumed = jaxgan.load_run(b).state
  chex.assert_trees_all_equal(jax.device_get(straight), resumed)
  assert open(os.path.join(a, 'metrics.jsonl')).read() == a_metrics
  assert os.stat(os.path.join(a, 'checkpoints', '4')).st_mtime_ns == a_mtime
  # b resumed from its checkpoint: each step was logged once, not retrained from step 0.
  b_steps = [json.loads(line)['step'] for line in open(os.path.join(b, 'metrics.jsonl'))]
  assert b_steps == [1, 2, 3, 4]
  record = json.load(open(os.path.join(out, 'study.json')))
  assert [r['name'] for r in record['runs']] == ['a', 'b', 'c']
  assert record['overrides'] == ['train.num_steps=4'] and len(record['history']) == 2
  assert record['runs'][1]['overrides']['train.seed'] == 1

  calls.clear()
  runner.run_study(study, out, overrides, train_fn=recording, log=lambda _: None,
                   configs_dir=CONFIGS)
  assert not calls                                            # everything finished: no-op

  # The report of these real runs: every run's rows, grids and loss curves; no FID logged.
  page = open(report.build([out]), encoding='utf-8').read()
  for name in ('a', 'b', 'c'):
    assert f'<figcaption>{name}: final samples, step 4 (live weights)' in page
    assert f'id="run-{name}-repro"' in page
  assert page.count('no FID logged') == 3
  figures = os.listdir(os.path.join(out, 'report', 'figures'))
  assert {'generator_loss.png', 'critic_loss.png', 'samples_final.png'} <= set(figures)
