"""Each config key is checked once, by the code that reads it; numbers through one helper; the
config module imports no part (only the evaluator registry) (no cycle config -> evaluation -> evaluators ->
config)."""

import ast
import math
import os
from unittest import mock

import pytest

import jaxgan
from jaxgan import augment, checks, errors, evaluation, losses, models, optim
from jaxgan import config as config_lib
from tests.util import tiny_config

PACKAGE = os.path.dirname(os.path.abspath(jaxgan.__file__))


def test_build_checks_each_section_once():
  """One build reads (and checks) the loop, the loss, the augmentation and its policy, the
  optimisers and the evaluation settings once each (it checked the loop twice, built the loss
  twice, the augmentation section twice and parsed the policy four times)."""
  config = tiny_config('digits', **{'augment.policy': 'color,translation',
                                    'loss.regularizers': {'consistency': 1.0},
                                    'eval.every_steps': 2})
  targets = [(config_lib, 'validate_loop'), (losses, 'from_config'), (augment, 'from_config'),
             (augment, 'parse_policy'), (optim, 'from_config'), (evaluation, 'validate'),
             (evaluation, 'evaluators_from_config'), (models, 'build')]
  mocks = {}
  patches = [mock.patch.object(module, name, wraps=getattr(module, name))
             for module, name in targets]
  try:
    for (module, name), patch in zip(targets, patches, strict=True):
      mocks[f'{module.__name__}.{name}'] = patch.start()
    experiment = jaxgan.build(config)
  finally:
    for patch in patches:
      patch.stop()
  assert {name: m.call_count for name, m in mocks.items()} == {name: 1 for name in mocks}
  # The parts checked on the way are the experiment's.
  assert experiment.augmentation == augment.DiffAugment('color,translation')
  assert experiment.loss.needs_augment and list(experiment.evaluators) == ['fid', 'kid']


def test_a_replaced_loop_is_checked():
  experiment = jaxgan.build(tiny_config('ring'))
  with pytest.raises(errors.ConfigError, match=r'batch_size=0 must be an integer >= 1\.$'):
    experiment.replace(loop=experiment.loop.replace(batch_size=0))


@pytest.mark.parametrize('kwargs, value, message', [
    (dict(integer=True, low=1), 0, 'must be an integer >= 1.'),
    (dict(integer=True, low=1), 2.0, 'must be an integer >= 1.'),
    (dict(integer=True, low=1), True, 'must be an integer >= 1.'),
    (dict(low=0), False, 'must be a number >= 0.'),
    (dict(low=0), '1', 'must be a number >= 0.'),
    (dict(low=0, low_open=True), 0.0, 'must be a number > 0.'),
    (dict(low=0, low_open=True), math.nan, 'must be a number > 0.'),
    (dict(low=0, high=1, high_open=True), 1.0, r'must be in \[0, 1\).'),
    (dict(low=0, high=1, low_open=True), 0, r'must be in \(0, 1\].'),
    (dict(integer=True, low=0, high=9), 10, r'must be an integer in \[0, 9\].'),
    (dict(high=5), 6, 'must be a number <= 5.'),
    (dict(low=1, hint=' (ADA: 4)'), 0, r'must be a number >= 1 \(ADA: 4\).'),
])
def test_number_refuses_with_one_sentence_naming_the_key(kwargs, value, message):
  with pytest.raises(errors.ConfigError, match=rf'^config\.a\.b={value!r} {message}$') as e:
    checks.number('a.b', value, **kwargs)
  assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize('kwargs, value', [
    (dict(integer=True, low=1), 1), (dict(low=0), 0), (dict(low=0), 0.5),
    (dict(low=0, high=1, high_open=True), 0.999), (dict(low=0, high=1, low_open=True), 1),
    (dict(integer=True, low=-1), -1), (dict(), -3.5)])
def test_number_accepts_values_in_range(kwargs, value):
  assert checks.number('a.b', value, **kwargs) is value


@pytest.mark.parametrize('overrides, message', [
    ({'optim.g_lr': 0.0}, r'config.optim.g_lr=0.0 must be a number > 0\.'),
    ({'optim.d_clip': -1.0}, r'config.optim.d_clip=-1.0 must be a number >= 0 \(0 turns'),
    ({'train.ema_decay': 1.0}, r'config.train.ema_decay=1.0 must be in \[0, 1\)\.'),
    ({'train.ema_half_life_kimg': -1.0},
     r'config.train.ema_half_life_kimg=-1.0 must be a number >= 0 \(thousands of images'),
    ({'train.ema_decay': 0.9, 'train.ema_half_life_kimg': 10.0},
     r'config.train.ema_decay=0.9 and config.train.ema_half_life_kimg=10.0 both set the EMA'),
    ({'train.ema_rampup': 0.05}, r'config.train.ema_rampup=0.05 ramps up StyleGAN2'),
    ({'data.cache_max_gb': 0.0}, r'config.data.cache_max_gb=0.0 must be a number > 0 \(GB\)'),
    ({'augment.policy': 'color', 'augment.ada': True, 'augment.ada_interval': 0},
     r'config.augment.ada_interval=0 must be an integer >= 1 \(steps'),
    ({'eval.every_steps': 2, 'eval.inception.batch_size': 0},
     r'config.eval.inception.batch_size=0 must be'),
    ({'augment.policy': 'color,zoom'},
     r"config.augment.policy='color,zoom': unknown augmentation policy 'zoom'"),
    ({'optim.g_schedule': config_lib.schedule_config('step', milestones=(0.5,), factor=0.0)},
     r'config.optim.g_schedule.factor=0.0 must be a number > 0\.'),
])
def test_bad_numbers_are_refused_before_any_data_loads(overrides, message):
  config = tiny_config('digits', **overrides)
  with mock.patch.object(jaxgan.data, 'from_config') as data_from_config:
    with pytest.raises(errors.ConfigError, match=message) as e:
      jaxgan.build(config)
  data_from_config.assert_not_called()
  assert len(str(e.value).splitlines()) == 1


def test_an_unknown_model_is_refused_by_one_function():
  config = tiny_config('digits', **{'model.name': 'bigan'})
  with mock.patch.object(jaxgan.data, 'from_config') as data_from_config:
    with pytest.raises(errors.ConfigError, match=r"config.model.name='bigan' is not supported"):
      jaxgan.build(config)
  data_from_config.assert_not_called()
  with pytest.raises(errors.ConfigError, match=r"config.model.name='bigan' is not supported"):
    models.build(config)


def _jaxgan_imports(path: str) -> set[str]:
  """The jaxgan modules a source file imports, at any level (function-level ones too)."""
  with open(path) as f:
    tree = ast.parse(f.read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names if a.name.split('.')[0] == 'jaxgan'}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if node.module == 'jaxgan':
        out |= {f'jaxgan.{a.name}' for a in node.names}
      elif node.module.startswith('jaxgan.'):
        out.add(node.module)
  return out


@pytest.mark.parametrize('module, allowed', [
    # config.eval holds the evaluator registry's defaults (each written once, by the registry).
    ('config', {'jaxgan.errors', 'jaxgan.checks', 'jaxgan.schedules', 'jaxgan.metrics'}),
    ('schedules', {'jaxgan.errors', 'jaxgan.checks'}),
    ('checks', {'jaxgan.errors'}),
    ('errors', set()),
])
def test_the_config_module_is_a_leaf(module, allowed):
  """config imports no part of jaxgan (it imported optim, and evaluation inside validate,
  which imported metrics.evaluators, which imported config: a cycle)."""
  assert _jaxgan_imports(os.path.join(PACKAGE, f'{module}.py')) <= allowed


@pytest.mark.parametrize('lines, message', [
    (['config.eval.kid = False'],
     "config.eval.kid is now the evaluator 'kid' (a section of its settings), not a switch; "
     "leave 'kid' out of config.eval.evaluators (e.g. config.eval.evaluators = ('fid',)) to "
     'skip KID.'),
    (["config['eval']['prdc'] = 3"],
     "config.eval.prdc holds the settings of the evaluator 'prdc' (k_dc, k_pr), not a value "
     "like 3; name it in config.eval.evaluators to run it (e.g. config.eval.evaluators = "
     "('fid', 'prdc')) and leave it out to skip it."),
    # A line that does not name the section: the one default key of that name.
    (['e = config.eval', "e.inception = 'x'"],
     'config.eval.inception is a section (its keys: batch_size, weights), not a value like x; '
     'set one of its keys instead (config.eval.inception.<key>=...).'),
    (["config.eval.kid.subsets = 'abc'"],
     "config.eval.kid.subsets=abc does not fit the key's type (int, default 100); fix the "
     'config file.'),
])
def test_a_config_file_s_type_mistake_is_one_sentence_naming_the_key(tmp_path, lines, message):
  path = tmp_path / 'mistake.py'
  path.write_text('import jaxgan\n\ndef get_config():\n  config = jaxgan.config.default()\n'
                  + ''.join(f'  {line}\n' for line in lines) + '  return config\n')
  with pytest.raises(errors.ConfigError) as raised:
    config_lib.from_file(str(path))
  assert str(raised.value) == f'{path}: {message}'


@pytest.mark.parametrize('field', sorted(config_lib.LOOP))
def test_each_loop_range_is_stated_once_and_names_what_the_user_wrote(field):
  """config.LOOP holds each loop value's range: a config's bad value names its config key, a
  Loop's the Loop field, with the same bound."""
  key, low, _ = config_lib.LOOP[field]
  config = tiny_config()
  section, name = key.split('.')
  config[section][name] = low - 1
  with pytest.raises(errors.ConfigError) as from_config:
    jaxgan.build(config)
  with pytest.raises(errors.ConfigError) as in_code:
    jaxgan.Loop(**{field: low - 1})
  assert str(from_config.value).startswith(f'config.{key}={low - 1} must be an integer ')
  assert str(in_code.value).startswith(f'Loop.{field}={low - 1} must be an integer ')
  assert (str(from_config.value).split(' must be ')[1]
          == str(in_code.value).split(' must be ')[1])
  import numpy as np  # pylint: disable=g-import-not-at-top
  assert jaxgan.Loop(**{field: np.int64(low + 1)}) == jaxgan.Loop(**{field: low + 1})
