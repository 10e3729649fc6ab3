"""Standing statistics (jaxgan.standing): batch norm's running statistics recomputed for the
evaluated weights, as PyTorch-StudioGAN's -std_stat does.

References: a closed form in float64 numpy for a linear layer followed by batch norm (reset to
0 and 1, then one momentum step per pass on the first b rows only), and StudioGAN's procedure
run on the independent PyTorch BigGAN replica (tests/biggan_torch.py) with the same weights,
latents and batch sizes.
"""

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import errors, standing
from jaxgan.models import biggan, biggan_studiogan, layers
from tests import test_biggan
from tests.util import tiny_config


class _DenseBN(nn.Module):
  """z -> Dense(3), a label offset -> jaxgan's BatchNorm (flax momentum 0.9, PyTorch's 0.1), as
  a generator: (z, labels, *, train) -> outputs."""
  num_classes: int = 0

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    h = nn.Dense(3, name='dense')(z)
    if labels is not None:
      h = h + labels[:, None].astype(h.dtype)
    return layers.BatchNorm(use_running_average=not train, momentum=0.9, name='bn')(h)


def test_closed_form_of_reset_and_masked_momentum_steps():
  steps, max_batch, z_dim, seed = 6, 5, 4, 3
  module = _DenseBN(num_classes=2)
  variables = module.init(jax.random.key(0), jnp.zeros((1, z_dim)), jnp.zeros((1,), jnp.int32),
                          train=False)
  params = variables['params']
  # Running statistics far from 0 and 1, so that the reset is seen.
  g_state = {'batch_stats': {'bn': {'mean': jnp.full((3,), 5.0), 'var': jnp.full((3,), 9.0)}}}
  new = standing.standing_statistics(module, params, g_state, z_dim=z_dim, num_classes=2,
                                     steps=steps, max_batch=max_batch, seed=seed)

  w = np.asarray(params['dense']['kernel'], np.float64)
  bias = np.asarray(params['dense']['bias'], np.float64)
  mean, var = np.zeros(3), np.ones(3)
  sizes, keys = standing.schedule(seed, steps, max_batch)
  assert len(set(np.asarray(sizes).tolist())) > 1   # the sizes vary
  for size, key in zip(np.asarray(sizes), keys):
    z, labels, _ = standing.draw(key, max_batch, z_dim, 2)
    h = np.asarray(z, np.float64)[:size] @ w + bias + np.asarray(labels)[:size, None]
    mean = 0.9 * mean + 0.1 * h.mean(0)
    # The unbiased batch variance, as PyTorch's (one row: the biased one, 0; module doc).
    var = 0.9 * var + 0.1 * h.var(0, ddof=1 if size > 1 else 0)
  np.testing.assert_allclose(new['batch_stats']['bn']['mean'], mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new['batch_stats']['bn']['var'], var, rtol=1e-5, atol=1e-6)
  assert float(g_state['batch_stats']['bn']['mean'][0]) == 5.0   # the input is not changed


def test_bad_settings_and_models_without_batch_norm():
  module = _DenseBN()
  params = module.init(jax.random.key(0), jnp.zeros((1, 2)), train=False)['params']
  state = {'batch_stats': {'bn': {'mean': jnp.zeros(3), 'var': jnp.ones(3)}}}
  for bad in (dict(steps=0, max_batch=4), dict(steps=2, max_batch=0),
              dict(steps=True, max_batch=4), dict(steps=2, max_batch=2.5)):
    with pytest.raises(errors.ConfigError, match='must be an integer >= 1'):
      standing.standing_statistics(module, params, state, z_dim=2, **bad)
  with pytest.raises(errors.ConfigError, match='has none'):
    standing.standing_statistics(module, params, {'spectral_stats': {}}, z_dim=2, steps=2,
                                 max_batch=4)


@pytest.mark.slow
def test_biggan_equals_studiogans_procedure_on_the_pytorch_replica():
  """StudioGAN's apply_standing_statistics: reset_running_stats, train mode, one pass per
  size. jaxgan's BigGAN keeps its 'batch' axis for batch norm (the default), as in training."""
  steps, max_batch, seed = 4, 3, 1
  g, _, tg, _ = test_biggan._small()   # pylint: disable=protected-access
  g = g.clone(bn_axis_name='batch')
  z0, _, y0 = test_biggan._inputs(5)   # pylint: disable=protected-access
  variables = test_biggan._converged(test_biggan._randomised(   # pylint: disable=protected-access
      g.init(jax.random.key(4), z0, y0, train=False), 6))
  params, g_state = jaxgan.state.split_variables(variables)
  new = standing.standing_statistics(g, params, g_state, z_dim=g.z_dim,
                                     num_classes=g.num_classes, steps=steps,
                                     max_batch=max_batch, seed=seed)

  test_biggan._load(  # pylint: disable=protected-access
      tg, biggan_studiogan.to_studiogan(variables, g))
  tg.train()
  sizes, keys = standing.schedule(seed, steps, max_batch)
  sizes = np.asarray(sizes)
  batch_norm = torch.nn.modules.batchnorm._BatchNorm   # pylint: disable=protected-access
  norms = {name: m for name, m in tg.named_modules() if isinstance(m, batch_norm)}
  assert len(norms) >= 7
  side2 = {}   # each batch norm's map size (height x width), seen by a hook
  for name, module in norms.items():
    module.reset_running_stats()   # StudioGAN's reset_bn_statistics
    module.register_forward_pre_hook(
        lambda m, inputs, name=name: side2.update({name: inputs[0][0, 0].numel()}))
  with torch.no_grad():
    for size, key in zip(sizes, keys):
      z, labels, _ = standing.draw(key, max_batch, g.z_dim, g.num_classes)
      tg(torch.from_numpy(np.array(z)[:size]),
         torch.from_numpy(np.array(labels)[:size]).long())
  want = tg.state_dict()
  got = biggan_studiogan.to_studiogan({**variables, **new}, g)
  for layer in norms:
    np.testing.assert_allclose(got[f'{layer}.running_mean'],
                               want[f'{layer}.running_mean'].numpy(), rtol=1e-4, atol=1e-5,
                               err_msg=layer)
    # Both move by the unbiased batch variance of the b counted rows (b x side^2 values).
    np.testing.assert_allclose(got[f'{layer}.running_var'],
                               want[f'{layer}.running_var'].numpy(), rtol=1e-4, err_msg=layer)
  assert min(side2.values()) == 16 and int(sizes.min()) == 1   # the smallest n: 16 values
  # Not the statistics the weights came with.
  first = next(iter(norms))
  old = biggan_studiogan.to_studiogan(variables, g)
  assert not np.allclose(got[f'{first}.running_mean'], old[f'{first}.running_mean'])


@pytest.mark.slow
def test_experiment_replaces_the_sampling_state_it_samples_with():
  experiment = jaxgan.build(tiny_config(**{'train.ema_decay': 0.999}))
  state = experiment.init_state()
  assert state.ema_params is not None and state.ema_state is None   # EMA samples with g_state
  ema = experiment.standing_statistics(state, steps=3, max_batch=4, seed=2)
  assert ema.g_state is state.g_state and ema.ema_state is not None
  want = standing.standing_statistics(experiment.generator, state.ema_params, state.g_state,
                                      z_dim=experiment.z_dim, num_classes=experiment.num_classes,
                                      steps=3, max_batch=4, seed=2)
  jax.tree.map(np.testing.assert_array_equal, ema.sampling_state(True), want)
  live = experiment.standing_statistics(state, steps=3, max_batch=4, seed=2, ema=False)
  assert live.ema_state is None
  assert not np.allclose(jax.tree.leaves(live.g_state['batch_stats'])[0],
                         jax.tree.leaves(state.g_state['batch_stats'])[0])
  before = next(experiment.generate(state, 4, batch_size=4))[0]
  after = next(experiment.generate(ema, 4, batch_size=4))[0]
  # Sampling uses the new statistics (outputs at init are small: compare with their scale).
  assert np.abs(before - after).max() > 0.1 * np.abs(after).max() > 0
  flat = flax.traverse_util.flatten_dict(ema.ema_state['batch_stats'])
  assert all(np.all(np.isfinite(v)) for v in flat.values())
