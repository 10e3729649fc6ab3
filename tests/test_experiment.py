"""The typed experiment: `build` fills the values the loop reads (Loop, EMA, z_dim, ...), the
config is only a record, `replace` swaps values, the train step is owned per device set."""

import dataclasses
import gc
import json
import os
import weakref

import flax.linen as nn
import jax
import numpy as np
import pytest

import jaxgan
from jaxgan import errors
from jaxgan.metrics import fid
from tests.util import tiny_config


def test_build_fills_every_value_the_loop_reads_and_keeps_a_copy_of_the_config():
  config = tiny_config('ring', **{
      'train.ema_decay': 0.9, 'train.ema_start': 3, 'train.d_steps': 2, 'train.seed': 7,
      'log.attention_every': 5, 'eval.every_steps': 0, 'data.prefetch': 3})
  config.optim.d_clip = 0.01
  experiment = jaxgan.build(config)
  assert experiment.loop == jaxgan.Loop(
      num_steps=4, batch_size=16, d_steps=2, seed=7, checkpoint_every=2, keep_checkpoints=3,
      log_every=1, samples_every=2, num_samples=4, attention_every=5, eval_every=0, prefetch=3)
  assert experiment.ema == jaxgan.EMA(decay=0.9, start=3)
  assert experiment.d_clip == 0.01 and experiment.z_dim == 2 and experiment.num_classes == 0
  config.train.num_steps = 999   # the caller's config is not the experiment's record
  assert experiment.config.train.num_steps == 4 and experiment.loop.num_steps == 4
  off = jaxgan.build(tiny_config('ring'))
  assert off.ema is None and off.d_clip is None
  assert off.init_state().ema_params is None
  assert jaxgan.Loop() == jaxgan.Loop.from_config(jaxgan.config.default())


def test_replace_swaps_values_and_refuses_a_config():
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match=r'build the new one with jaxgan\.build\(config\)'):
    experiment.replace(config=tiny_config('ring'))
  other = experiment.replace(loop=experiment.loop.replace(num_steps=9),
                             ema=jaxgan.EMA(decay=0.5), z_dim=3)
  assert other.loop.num_steps == 9 and other.ema.decay == 0.5 and other.z_dim == 3
  assert other.init_state().ema_params is not None
  record = other.record()
  assert set(record['replaced']) == {'loop', 'ema', 'z_dim'}
  assert record['loop']['num_steps'] == 9 and record['ema'] == {'decay': 0.5, 'start': 0}
  assert experiment.record()['replaced'] == []
  # The config's record (config.json) holds the values the experiment has.
  recorded = other.config_record()
  assert (recorded.train.num_steps, recorded.train.ema_decay, recorded.model.z_dim) == (
      9, 0.5, 3)
  with pytest.raises(TypeError, match='unknown experiment parts'):
    experiment.replace(seed=3)


@pytest.mark.parametrize('make, message', [
    (lambda: jaxgan.Loop(num_steps=0), r'Loop\.num_steps=0 must be an integer >= 1\.'),
    (lambda: jaxgan.Loop(samples_every=-1), r'Loop\.samples_every=-1 must be an integer >= 0'),
    (lambda: jaxgan.Loop(batch_size=True), r'Loop\.batch_size=True must be an integer'),
    (lambda: jaxgan.EMA(decay=1.0), r'EMA\.decay=1\.0 must be in \(0, 1\).*ema=None'),
    (lambda: jaxgan.EMA(decay=0.9, start=-1), r'EMA\.start=-1 must be an integer >= 0'),
])
def test_bad_values_are_one_sentence(make, message):
  with pytest.raises(errors.ConfigError, match=message):
    make()


def test_bad_experiment_values_are_one_sentence():
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match=r'Experiment\.d_clip=-1\.0 must be a number > 0'):
    experiment.replace(d_clip=-1.0)
  with pytest.raises(errors.ConfigError, match=r'Experiment\.ema must be a jaxgan\.EMA'):
    experiment.replace(ema=0.999)
  with pytest.raises(errors.ConfigError, match=r'Experiment\.loop must be a jaxgan\.Loop'):
    experiment.replace(loop={'num_steps': 3})
  with pytest.raises(errors.ConfigError, match=r'Experiment\.z_dim=0 must be an integer >= 1'):
    experiment.replace(z_dim=0)


def test_the_train_step_is_one_per_device_set_and_freed_with_the_experiment():
  experiment = jaxgan.build(tiny_config('ring'))
  step = experiment.train_step()
  assert experiment.train_step() is step and experiment.train_step(jax.devices()) is step
  assert step.devices == jax.devices()
  one = experiment.train_step(jax.devices()[:1])
  assert one is not step and one.devices == jax.devices()[:1]
  assert experiment.train_step(jax.devices()[:1]) is one
  with pytest.raises(TypeError, match=r'experiment\.train_step\(\)\(state, batch\)'):
    experiment.train_step(experiment.init_state())
  assert experiment.replace(ema=None).train_step() is not step   # a new experiment, new steps
  gone = weakref.ref(one)
  del experiment, step, one
  gc.collect()
  assert gone() is None


@pytest.mark.slow
def test_config_json_holds_the_run_s_values_and_a_run_made_in_code_writes_none(tmp_path):
  built = jaxgan.build(tiny_config('ring', **{'train.num_steps': 4, 'log.samples_every': 0}))
  short = built.replace(loop=built.loop.replace(num_steps=2), ema=jaxgan.EMA(decay=0.5))
  jaxgan.train(short, str(tmp_path / 'built'))
  with open(tmp_path / 'built' / 'config.json') as f:
    saved = json.load(f)
  assert saved['train']['num_steps'] == 2 and saved['train']['ema_decay'] == 0.5
  with open(tmp_path / 'built' / 'run_info.json') as f:
    parts = json.load(f)['parts']
  assert parts['config'] and set(parts['replaced']) == {'loop', 'ema'}
  assert jaxgan.load_run(str(tmp_path / 'built')).state.ema_params is not None
  # The same parts made in code, no config: no config.json; load_run needs the experiment.
  fields = {f.name: getattr(built, f.name) for f in dataclasses.fields(built)
            if f.name not in ('config', 'from_config', '_')}
  made = jaxgan.Experiment(**{**fields, 'loop': jaxgan.Loop(
      num_steps=2, batch_size=16, checkpoint_every=2, samples_every=0, log_every=1)})
  state = jaxgan.train(made, str(tmp_path / 'code'))
  assert int(state.step) == 2 and state.ema_params is None
  assert not os.path.exists(tmp_path / 'code' / 'config.json')
  with open(tmp_path / 'code' / 'run_info.json') as f:
    parts = json.load(f)['parts']
  assert not parts['config'] and parts['loop']['num_steps'] == 2
  with pytest.raises(errors.CheckpointError, match=r'has no config\.json .* pass experiment='):
    jaxgan.load_run(str(tmp_path / 'code'))
  assert jaxgan.load_run(str(tmp_path / 'code'), experiment=made).step == 2


class _Unsquashed(nn.Module):
  """A generator without a final tanh (as R3GAN's and StyleGAN2's): images well past [-1, 1]."""

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    del labels, train
    x = nn.Dense(32 * 32 * 3, kernel_init=nn.initializers.normal(10.0))(z)
    return x.reshape(z.shape[0], 32, 32, 3)


def test_generate_clips_images_to_minus_one_one_and_leaves_points_as_they_are():
  experiment = jaxgan.build(tiny_config()).replace(generator=_Unsquashed())
  state = experiment.init_state()
  images, _ = next(experiment.generate(state, 8, batch_size=8))
  z = jax.random.normal(jax.random.split(jax.random.fold_in(jax.random.key(0), 0))[0], (8, 8))
  raw = np.asarray(experiment.sample_fn(state.sampling_params(True), state.g_state, z, None))
  assert raw.min() < -1.5 and raw.max() > 1.5   # the test's generator leaves the range
  np.testing.assert_array_equal(images, np.clip(raw, -1.0, 1.0))
  # Clipping first changes no uint8 level of FID's quantisation (which clamps as NVlabs does).
  np.testing.assert_array_equal(fid.to_uint8(images), fid.to_uint8(raw))
  # 2-D points are samples, not images: never clipped.
  ring = jaxgan.build(tiny_config('ring'))
  ring_state = ring.init_state()
  ring_state = ring_state.replace(g_params=jax.tree.map(lambda p: p * 50.0, ring_state.g_params))
  points, _ = next(ring.generate(ring_state, 64, ema=False, batch_size=64))
  assert np.abs(points).max() > 1.0
