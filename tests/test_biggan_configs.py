"""The StudioGAN BigGAN CIFAR-10 configs: the yamls' settings, and each trains two steps on the
offline digits (10 classes, as CIFAR-10) with tiny widths."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from tests.util import CONFIGS

# src/configs/CIFAR10/BigGAN*.yaml over StudioGAN's src/config.py defaults.
_BIGGAN = {
    'model.name': 'biggan', 'model.num_classes': 10, 'model.z_dim': 80,
    'model.shared_dim': 128, 'model.g_width': 96, 'model.d_width': 96,
    'model.attention_resolution': 16, 'model.g_spectral_norm': True,
    'model.d_spectral_norm': True, 'data.image_size': 32, 'data.mirror': True,
    'loss.name': 'hinge',
    'optim.g_lr': 2e-4, 'optim.d_lr': 2e-4, 'optim.b1': 0.5, 'optim.b2': 0.999,
    'optim.eps': 1e-6,
    'train.batch_size': 64, 'train.d_steps': 5, 'train.ema_decay': 0.9999,
    'train.ema_start': 1_000,
    # StudioGAN's Ema (src/utils/ema.py) lerps G's buffers with the parameters' decay.
    'train.ema_state': 'average'}


@pytest.mark.parametrize('name, steps, policy, regularizers, loss', [
    ('biggan_cifar10', 100_000, '', {}, 'hinge'),
    ('biggan_diffaug_cifar10', 200_000, 'color,translation,cutout', {}, 'hinge'),
    ('biggan_lecam_diffaug_cifar10', 200_000, 'color,translation,cutout',
     {'lecam': {'name': 'step', 'init_value': 0.0, 'end_value': 0.3, 'steps': 1001.0}},
     'hinge + step_ramp(0->0.3 over 1001 steps)(step) * lecam'),
])
@pytest.mark.slow
def test_config_is_the_yaml_and_trains_two_steps(tmp_path, name, steps, policy, regularizers,
                                                 loss):
  config = jaxgan.config.from_file(os.path.join(CONFIGS, f'{name}.py'))
  for key, value in _BIGGAN.items():
    assert jaxgan.config.get(config, key) == value, key
  assert config.train.num_steps == steps
  assert config.augment.policy == policy
  assert config.loss.regularizers.to_dict() == regularizers

  config.data.dataset = 'digits'
  config.model.g_width = config.model.d_width = 2
  config.train.batch_size = 8
  # One D update per G update: five unrolled ones take minutes to compile on a loaded 2-core
  # CPU, and the loop's d_steps is tested on its own (tests/test_train.py).
  config.train.d_steps = 1
  config.train.num_steps = 2
  config.train.checkpoint_every = 2
  config.log.every_steps = 1
  config.log.samples_every = 0
  config.eval.every_steps = 0
  experiment = jaxgan.build(config)
  assert repr(experiment.loss) == loss
  assert experiment.ema == jaxgan.EMA(decay=0.9999, start=1_000, state='average')
  state = jaxgan.train(experiment, str(tmp_path))
  assert int(state.step) == 2
  # G's batch statistics and spectral-norm vectors, averaged (before start: a copy).
  assert jax.tree.leaves(state.ema_state)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.ema_state),
               jax.device_get(state.g_state))
  records = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2]
  for record in records:
    for key in ('d/hinge', 'g/hinge') + tuple(f'd/{r}' for r in regularizers):
      assert math.isfinite(record[key]), (key, record)


def test_lecam_weighs_from_studiogans_start_step_and_adam_has_its_epsilon():
  """BigGAN-DiffAug-LeCam.yaml: lecam_lambda 0.3 applied while current_step > 1000
  (lecam_ema_start_iter; src/worker.py line 403, steps from 0); Adam's eps 1e-6
  (src/config.py line 552)."""
  from jaxgan import validation  # pylint: disable=g-import-not-at-top
  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'biggan_lecam_diffaug_cifar10.py'))
  checked = validation.validate(config)
  (weight,) = [w for w, t in checked.loss.parts if t.name == 'lecam']
  assert [float(weight(t)) for t in (0, 999, 1000, 1001, 1002, 150_000)] == [
      0.0, 0.0, 0.0, pytest.approx(0.3), pytest.approx(0.3), pytest.approx(0.3)]
  params = {'w': jax.numpy.zeros(2)}
  for tx in (checked.g_optimizer, checked.d_optimizer):
    assert float(tx.init(params).hyperparams['eps']) == pytest.approx(1e-6)


class _StudioGANLeCamEMA:
  """StudioGAN src/utils/ops.py lines 106-132 (LeCamEMA), the two means LeCam reads, float64."""

  def __init__(self, decay, start_itr, init=7777.0):
    self.d_real = self.d_fake = init
    self.decay, self.start_itr = decay, start_itr

  def update(self, real, fake, itr):
    decay = 0.0 if itr < self.start_itr else self.decay
    self.d_real = self.d_real * decay + real * (1 - decay)
    self.d_fake = self.d_fake * decay + fake * (1 - decay)


def _studiogan_lecam(real, fake, ema):
  """StudioGAN src/utils/losses.py line 262 (lecam_reg), float64."""
  return (np.mean(np.maximum(real - ema.d_fake, 0.0) ** 2)
          + np.mean(np.maximum(ema.d_real - fake, 0.0) ** 2))


def test_lecam_is_studiogans_hinged_penalty_with_its_moving_averages():
  """The config's LeCam against StudioGAN's code in float64 (src/worker.py lines 401-407: the
  averages take each critic update's mean logits first, then 0.3 x lecam_reg while
  current_step > 1000), over critic updates (2 per step) on both sides of steps 1000 and 1001."""
  from jaxgan import losses, validation  # pylint: disable=g-import-not-at-top
  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'biggan_lecam_diffaug_cifar10.py'))
  assert (config.loss.lecam_hinged, config.loss.lecam_decay, config.loss.lecam_ema_start) == (
      True, 0.99, 1000)
  loss = validation.validate(config).loss
  (lecam,) = [t for _, t in loss.parts if t.name == 'lecam']
  assert isinstance(lecam, losses.LeCam)
  ema = _StudioGANLeCamEMA(decay=0.99, start_itr=1000)
  state = loss.init_state()
  rng = np.random.default_rng(0)
  for step in (0, 0, 1, 998, 999, 999, 1000, 1000, 1001, 1001, 1002, 1005, 1005):
    real = rng.normal(0.5, 1.0, 16).astype(np.float32)
    fake = rng.normal(-0.5, 1.0, 16).astype(np.float32)
    inputs = losses.LossInputs(real_logits=jnp.asarray(real), fake_logits=jnp.asarray(fake),
                               state=state, step=jnp.asarray(step))
    got = float(loss.d_terms(inputs)['lecam'])
    real64, fake64 = real.astype(np.float64), fake.astype(np.float64)
    ema.update(real64.mean(), fake64.mean(), step)
    want = 0.3 * _studiogan_lecam(real64, fake64, ema) if step > 1000 else 0.0
    # float32: means and squares of 16 logits of size ~1 (and the 7777 start, gone once decay
    # 0 overwrites it): a few float32 ulps of the penalty's terms.
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
    state = loss.update_state(state, inputs)
  # The paper's eq. 4 when not hinged: the config key selects the form.
  config.loss.lecam_hinged = False
  (plain,) = [t for _, t in validation.validate(config).loss.parts if t.name == 'lecam']
  assert not plain.hinged and lecam.hinged


def test_lecam_s_own_batch_means_are_the_global_batch_s_on_8_devices():
  """With the authors' averages the penalty reads this update's mean logits: over devices,
  those of the global batch (`LossInputs.device_mean`), so 8 devices give 1 device's value
  (before ema_start, decay 0: the anchors are this update's means alone)."""
  from jaxgan import losses  # pylint: disable=g-import-not-at-top
  lecam = losses.LeCam(hinged=True, ema_start=3)
  rng = np.random.default_rng(1)
  n = jax.device_count()
  shift = np.repeat(np.linspace(-2.0, 2.0, n), 64 // n)   # each device's batch its own mean
  real = jnp.asarray(rng.normal(0.5, 1.0, 64) + shift, jnp.float32)
  fake = jnp.asarray(rng.normal(-0.5, 1.0, 64) - shift, jnp.float32)
  state = {'lecam': {'real': jnp.float32(0.2), 'fake': jnp.float32(-0.1),
                     'count': jnp.int32(7)}}

  def penalty(r, f, device_mean=None):
    return lecam.d_terms(losses.LossInputs(real_logits=r, fake_logits=f, state=state,
                                           step=jnp.int32(2), device_mean=device_mean))['lecam']

  one = penalty(real, fake)
  per_device = jax.pmap(lambda r, f: penalty(r, f, lambda x: jax.lax.pmean(x, 'b')),
                        axis_name='b')(real.reshape(n, -1), fake.reshape(n, -1))
  np.testing.assert_allclose(np.mean(per_device), one, rtol=1e-5)
  alone = jax.pmap(penalty)(real.reshape(n, -1), fake.reshape(n, -1))   # no device mean
  assert abs(float(np.mean(alone)) - float(one)) > 0.1 * float(one)
