"""Steady state of the pmapped train step on 8 devices: after the first step it makes no
implicit host transfer, never compiles again, and the donated input state is consumed.

One tiny DCGAN run (the `run` fixture) is shared by the tests: its state and batches are
placed the way `jaxgan.train` places them (`TrainStep.place`, `data.iterate`), the first
step compiles, and the next ones run under `jax.transfer_guard('disallow')`.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import data, steps
from tests.util import tiny_config

# Emitted once per lowering to MLIR, i.e. per compile, whether or not the persistent
# compilation cache then supplies the executable.
LOWERING_EVENT = '/jax/core/compile/jaxpr_to_mlir_module_duration'
STEADY_STEPS = 3


class _SyntheticSource:
  """A `data.Source` of random images: no dataset to load."""
  example_shape = (32, 32, 3)
  num_classes = 0

  def prepare(self):
    pass

  def batch(self, step: int, layout: data.Layout):
    rng = np.random.default_rng(step)
    shape = (layout.local_devices, layout.d_steps, layout.per_device)
    return {'image': rng.uniform(-1, 1, shape + self.example_shape).astype(np.float32),
            'label': np.zeros(shape, np.int32)}


class _CompileCounter:

  def __init__(self):
    self.names = []

  def __call__(self, event: str, duration: float, **kwargs):
    del duration
    if event == LOWERING_EVENT:
      self.names.append(kwargs.get('fun_name', '?'))


@pytest.fixture(scope='module')
def run():
  experiment = jaxgan.build(tiny_config('digits')).replace(data=_SyntheticSource())
  assert len(jax.devices()) == 8
  step = experiment.train_step()
  state, _ = step.place(experiment.init_state())
  state_sharding = step.state_sharding
  batches = data.iterate(experiment.data, experiment.layout(), 0, step.batch_sharding,
                         prefetch=2)
  counter = _CompileCounter()
  jax.monitoring.register_event_duration_secs_listener(counter)
  try:
    state, metrics = step(state, next(batches))           # compiles
    jax.block_until_ready(metrics)
    first_compiles = list(counter.names)
    out = {'first_compiles': first_compiles, 'input_sharding': state_sharding,
           'donated_deleted': [], 'guard_error': None, 'metrics': []}
    try:
      with jax.transfer_guard('disallow'):
        for _ in range(STEADY_STEPS):
          donated = jax.tree.leaves(state)
          state, metrics = step(state, next(batches))
          jax.block_until_ready(metrics)
          out['donated_deleted'].append([x.is_deleted() for x in donated])
          out['metrics'].append(jax.device_get(metrics))  # explicit: allowed
    except Exception as e:  # pylint: disable=broad-except
      out['guard_error'] = e
    out['steady_compiles'] = counter.names[len(first_compiles):]
    out['state'] = state
  finally:
    jax.monitoring.unregister_event_duration_listener(counter)
    batches.close()
  return out


@pytest.mark.slow
def test_the_first_step_compiles(run):
  assert run['first_compiles']   # a check of the compile counter


def test_no_implicit_host_transfer_in_steady_state(run):
  assert run['guard_error'] is None, f'implicit transfer in steady state: {run["guard_error"]}'
  assert len(run['metrics']) == STEADY_STEPS
  assert np.all(np.isfinite(run['metrics'][-1]['g/total']))


def test_the_transfer_guard_is_armed_for_pmapped_functions():
  # A check of the check: an implicit host-to-device copy into a pmapped function fails.
  double = jax.pmap(lambda x: 2 * x)
  with jax.transfer_guard('disallow'):
    with pytest.raises(Exception, match='[Dd]isallowed'):
      double(np.ones((jax.device_count(),), np.float32))


def test_no_recompilation_after_the_first_step(run):
  assert run['steady_compiles'] == []


def test_donated_state_buffers_are_deleted(run):
  assert len(run['donated_deleted']) == STEADY_STEPS
  for deleted in run['donated_deleted']:
    assert deleted and all(deleted)


def test_the_state_keeps_its_input_sharding(run):
  # Why the step compiles once: the state it returns is placed exactly as the state it took.
  for leaf in jax.tree.leaves(run['state']):
    assert leaf.sharding == run['input_sharding']


def test_inputs_on_a_differently_named_mesh_compile_the_step_twice():
  # The failure `steps.input_shardings` avoids, on a small pmapped function of the step's shape
  # (unmapped state in and out, mapped batch): placed on a mesh whose axis is not AXIS, the
  # state comes back equal in content but not in sharding, and the second call compiles again.
  counter = _CompileCounter()

  def compiles(state_sharding, batch_sharding):
    fn = jax.pmap(lambda s, b: (s + jnp.sum(b), b), axis_name=steps.AXIS, in_axes=(None, 0),
                  out_axes=(None, 0), donate_argnums=(0,))
    s = jax.device_put(jnp.zeros(3), state_sharding)
    b = jax.device_put(jnp.ones((jax.device_count(), 2)), batch_sharding)
    before = len(counter.names)
    for _ in range(3):
      s, _ = fn(s, b)
    return len(counter.names) - before

  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ('devices',))
  other = (jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
           jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('devices')))
  jax.monitoring.register_event_duration_secs_listener(counter)
  try:
    assert compiles(*steps.input_shardings()) == 1
    assert compiles(*other) == 2
  finally:
    jax.monitoring.unregister_event_duration_listener(counter)


@pytest.mark.slow
def test_a_training_run_compiles_each_function_once(tmp_path):
  """The whole loop (steps, checkpoints, sample grids, logging) lowers every function once:
  the state keeps the step's own sharding from step to step."""
  config = tiny_config('ring', **{'train.num_steps': 4, 'train.checkpoint_every': 2,
                                  'log.samples_every': 2})
  counter = _CompileCounter()
  jax.monitoring.register_event_duration_secs_listener(counter)
  try:
    jaxgan.train(config, str(tmp_path))
  finally:
    jax.monitoring.unregister_event_duration_listener(counter)
  counts = collections.Counter(counter.names)
  # The pmapped step, the sampler, the finiteness check before checkpoints and state init are
  # lowered once each (eager jax ops, e.g. orbax's slices, are cached by shape by jax itself).
  assert {n: counts[n] for n in ('jit(mapped_step)', 'jit(sample)', 'jit(finite)', 'jit(init)')} == {
      'jit(mapped_step)': 1, 'jit(sample)': 1, 'jit(finite)': 1, 'jit(init)': 1}, counts


@pytest.mark.slow
def test_a_state_from_init_passed_straight_to_the_step_compiles_it_once():
  """Research code that does not know about shardings: `init_state()` then the step, twice.
  The step places the state itself, so the second call does not compile again (before, it
  did: 21 s lost at SAGAN batch 64)."""
  experiment = jaxgan.build(tiny_config('ring', **{'model.hidden': 24}))
  state = experiment.init_state()
  batch = experiment.data.batch(0, experiment.layout())   # a numpy batch
  counter = _CompileCounter()
  jax.monitoring.register_event_duration_secs_listener(counter)
  try:
    for _ in range(3):
      state, _ = experiment.train_step()(state, batch)
  finally:
    jax.monitoring.unregister_event_duration_listener(counter)
  assert collections.Counter(counter.names)['jit(mapped_step)'] == 1, counter.names
