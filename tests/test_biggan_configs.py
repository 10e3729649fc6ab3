"""The StudioGAN BigGAN CIFAR-10 configs: the yamls' settings, and each trains two steps on the
offline digits (10 classes, as CIFAR-10) with tiny widths."""

import json
import math
import os

import jax
import pytest

import jaxgan
from tests.util import CONFIGS

# src/configs/CIFAR10/BigGAN*.yaml over StudioGAN's src/config.py defaults.
_BIGGAN = {
    'model.name': 'biggan', 'model.num_classes': 10, 'model.z_dim': 80,
    'model.shared_dim': 128, 'model.g_width': 96, 'model.d_width': 96,
    'model.attention_resolution': 16, 'model.g_spectral_norm': True,
    'model.d_spectral_norm': True, 'data.image_size': 32, 'loss.name': 'hinge',
    'optim.g_lr': 2e-4, 'optim.d_lr': 2e-4, 'optim.b1': 0.5, 'optim.b2': 0.999,
    'optim.eps': 1e-6,
    'train.batch_size': 64, 'train.d_steps': 5, 'train.ema_decay': 0.9999,
    'train.ema_start': 1_000}


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
  state = jaxgan.train(experiment, str(tmp_path))
  assert int(state.step) == 2
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
