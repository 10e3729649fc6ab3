"""Values and inputs that cannot be meant are refused with one sentence before anything runs:
optimiser moments outside [0, 1), negative regulariser weights, keys the chosen model or data
never reads, "the data's classes" of unlabelled data, image augmentation of 2-D points, arrays
that are neither images nor features, an unreadable study record."""

import os
import subprocess
import sys

import numpy as np
import pytest

import jaxgan
from jaxgan import augment, errors
from tests.util import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(args, cwd):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  env.pop('XLA_FLAGS', None)
  env.pop('JAXGAN_TRACEBACK', None)
  return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=600)


@pytest.mark.parametrize('dataset, overrides, message', [
    ('digits', {'optim.b1': 2.0}, r'config.optim.b1=2.0 must be in \[0, 1\)'),
    ('digits', {'optim.b2': -1.0}, r'config.optim.b2=-1.0 must be in \[0, 1\)'),
    ('digits', {'optim.b2': 1.0}, r'config.optim.b2=1.0 must be in \[0, 1\)'),
    ('ring', {'loss.regularizers': {'r1': -0.5}},
     r'config.loss.regularizers.r1=-0.5 must be a number >= 0'),
    ('digits', {'model.attention_resolution': 16},
     "config.model.attention_resolution=16 is not read by the model 'dcgan'"),
    ('digits', {'model.hidden': 32}, "config.model.hidden=32 is not read by the model 'dcgan'"),
    ('ring', {'model.g_width': 8}, "config.model.g_width=8 is not read by the model 'mlp'"),
    ('ring', {'model.conv_impl': 'flax'}, "config.model.conv_impl='flax' is not read by"),
    ('ring', {'data.image_size': 32},
     "config.data.image_size=32 is not read by the 2-D mixture 'ring'"),
    ('grid', {'data.path': '/tmp/x.npz'}, "config.data.path='/tmp/x.npz' is not read by"),
    ('digits', {'data.split': 'test'},
     "config.data.split='test' is not read by the bundled dataset 'digits'"),
    ('digits', {'data.data_dir': '/data/tfds'}, "config.data.data_dir='/data/tfds' is not read"),
])
def test_values_that_cannot_be_meant_are_refused(dataset, overrides, message):
  config = tiny_config(dataset, **overrides)
  with pytest.raises(errors.ConfigError, match=message) as e:
    jaxgan.build(config)
  assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize('dataset, overrides', [
    ('digits', {'optim.b1': 0.0, 'optim.b2': 0.9}),
    ('ring', {'loss.regularizers': {'r1': 0.0}}),
    ('digits', {'model.name': 'sagan', 'model.attention_resolution': 16,
                'model.g_width': 8, 'model.d_width': 8}),
    ('ring', {'model.hidden': 16}),
])
def test_values_a_part_reads_are_accepted(dataset, overrides):
  jaxgan.build(tiny_config(dataset, **overrides))


def test_the_datas_classes_of_unlabelled_data_are_refused(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
  np.savez(tmp_path / 'plain.npz', images=images)
  np.savez(tmp_path / 'labelled.npz', images=images, labels=np.arange(8) % 3)
  config = tiny_config('npz', **{'data.path': str(tmp_path / 'plain.npz'),
                                 'model.num_classes': -1})
  with pytest.raises(errors.ConfigError, match=r'num_classes=-1 .* has no labels; set it to 0'):
    jaxgan.build(config)
  config.data.path = str(tmp_path / 'labelled.npz')
  config.model.name = 'sagan'
  assert jaxgan.build(config).num_classes == 3


@pytest.mark.parametrize('shape, kind', [((4, 4, 4), 'npy'), ((4, 4, 4), 'npz'),
                                         ((6, 3, 16, 16), 'npz'), ((6, 16, 16, 4), 'npy')])
@pytest.mark.slow
def test_fid_tool_refuses_arrays_that_are_neither_images_nor_features(tmp_path, shape, kind):
  values = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
  bad = tmp_path / f'bad.{kind}'
  if kind == 'npy':
    np.save(bad, values)
  else:
    np.savez(bad, images=values)
  good = tmp_path / 'good.npz'
  np.savez(good, images=np.zeros((4, 8, 8, 3), np.uint8))
  proc = _tool(['-m', 'jaxgan.tools.fid', str(bad), str(good)], tmp_path)
  assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr and 'FID' not in proc.stdout, proc.stderr[-2000:]
  lines = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
  assert len(lines) == 1 and 'neither images nor features' in lines[0], proc.stderr[-2000:]
  assert 'at least 8 pixels' in lines[0]


@pytest.mark.parametrize('content', ['{"study": "tiny", "history": [', '[1, 2]', ''])
def test_an_unreadable_study_record_is_refused_and_kept(tmp_path, content):
  from jaxgan.study import runner   # pylint: disable=g-import-not-at-top
  study = runner.Study('tiny', 'one tiny DCGAN', (runner.Run(
      'a', 'dcgan.py', {'data.dataset': 'digits', 'data.image_size': 32, 'model.g_width': 32,
                        'model.d_width': 4, 'train.num_steps': 2}),))
  out = tmp_path / 'study'
  out.mkdir()
  (out / 'study.json').write_text(content)
  calls = []
  with pytest.raises(runner.StudyError, match=r'study.json cannot be read .* so it is left as '
                     r'it is; restore it .* or move it aside') as e:
    runner.run_study(study, str(out), train_fn=lambda *a: calls.append(a), log=lambda _: None,
                     configs_dir=os.path.join(ROOT, 'configs'))
  assert len(str(e.value).splitlines()) == 1
  assert calls == [] and (out / 'study.json').read_text() == content
  assert set(os.listdir(out)) <= {'.lock', 'study.json'}   # no run started


@pytest.mark.parametrize('policy', ['color', 'translation', 'color,translation,cutout'])
def test_image_augmentation_of_2d_points_is_one_sentence(policy):
  config = tiny_config('ring', **{'augment.policy': policy})
  with pytest.raises(errors.ConfigError, match=rf"the augmentation '{policy}' transforms images "
                     r"\(H, W, C\), but the data's examples have shape \(2,\); set "
                     r"config.augment.policy=''") as e:
    jaxgan.build(config)
  assert len(str(e.value).splitlines()) == 1
  # Research code: the same check on an experiment put together by hand.
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match='transforms images'):
    experiment.replace(augmentation=augment.DiffAugment(policy))
