"""BigGAN's orthogonal regularisation (`jaxgan.optim.orthogonal_regularization`, config
`optim.{g,d}_ortho`) against BigGAN-PyTorch's `utils.ortho`, transcribed in PyTorch float64
on the weights in PyTorch's layout, and against autodiff of the penalty it is the gradient of."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jaxgan
from jaxgan import errors, optim
from tests.test_families_train import family_config
from tests.util import host_batch


def torch_ortho_grads(named_weights: dict, strength: float, blacklist=()) -> dict:
  """BigGAN-PyTorch's utils.ortho (and StudioGAN's orthogonalize_model) on PyTorch-layout
  weights with zero gradients: what it adds to each param.grad."""
  out = {}
  for name, param in named_weights.items():
    param = torch.tensor(np.ascontiguousarray(param), dtype=torch.float64)
    grad = torch.zeros_like(param)
    if param.dim() >= 2 and name not in blacklist:
      w = param.view(param.shape[0], -1)
      g = 2 * torch.mm(torch.mm(w, w.t()) * (1. - torch.eye(w.shape[0], dtype=w.dtype)), w)
      grad += strength * g.view(param.shape)
    out[name] = grad.numpy()
  return out


def to_torch_layout(path: str, leaf: np.ndarray) -> np.ndarray:
  """A flax leaf as PyTorch stores it: conv kernels (kh, kw, in, out) -> (out, in, kh, kw),
  dense kernels (in, out) -> (out, in); embeddings (num, features) and vectors unchanged."""
  if path.endswith("['kernel']") and leaf.ndim == 4:
    return leaf.transpose(3, 2, 0, 1)
  if path.endswith("['kernel']") and leaf.ndim == 2:
    return leaf.T
  return leaf


def from_torch_layout(path: str, leaf: np.ndarray) -> np.ndarray:
  if path.endswith("['kernel']") and leaf.ndim == 4:
    return leaf.transpose(2, 3, 1, 0)
  if path.endswith("['kernel']") and leaf.ndim == 2:
    return leaf.T
  return leaf


@pytest.fixture(scope='module')
def biggan_state():
  config = family_config('biggan')
  experiment = jaxgan.build(config)
  return experiment, experiment.init_state(seed=0)


@pytest.mark.parametrize('player', ['g', 'd'])
def test_the_added_gradient_is_biggan_pytorchs_ortho(biggan_state, player):
  experiment, state = biggan_state
  params = state.g_params if player == 'g' else state.d_params
  strength = 1e-4
  tx = optim.orthogonal_regularization(optax.sgd(1.0), strength)   # update = -grad
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  ours = {jax.tree_util.keystr(p): -np.asarray(u)
          for p, u in jax.tree_util.tree_leaves_with_path(updates)}
  leaves = {jax.tree_util.keystr(p): np.asarray(l, np.float64)
            for p, l in jax.tree_util.tree_leaves_with_path(params)}
  # BigGAN-PyTorch leaves out G.shared (the shared class embedding); D has none.
  blacklist = [k for k in leaves if "['shared']" in k]
  assert (player == 'g') == bool(blacklist)
  reference = torch_ortho_grads({k: to_torch_layout(k, v) for k, v in leaves.items()}, strength,
                                blacklist)
  checked = 0
  for name, leaf in leaves.items():
    expected = from_torch_layout(name, reference[name])
    if leaf.ndim < 2 or name in blacklist:
      assert not np.any(ours[name]), name        # biases, gains, the shared embedding
      continue
    # float32 rounding of W W^T and (.) W: each output sums fan_in + rows products, each
    # within 2^-24 of its value; bound by those sums of magnitudes (|W| |W|^T |W|).
    torch_leaf = to_torch_layout(name, leaf)
    w = np.abs(torch_leaf.reshape(torch_leaf.shape[0], -1))
    magnitude = (2 * strength * (w @ w.T) @ w).reshape(torch_leaf.shape)
    bound = (w.shape[0] + w.shape[1]) * 2.0 ** -23 * from_torch_layout(name, magnitude)
    np.testing.assert_array_less(np.abs(ours[name] - expected), bound + 1e-30, err_msg=name)
    checked += bool(np.abs(expected).max() > 0)   # a one-row matrix (1 output) has none
  assert checked >= 10


def test_the_added_gradient_is_the_penalty_gradient(biggan_state):
  _, state = biggan_state
  strength = 3e-3
  tx = optim.orthogonal_regularization(optax.sgd(1.0), strength)
  zeros = jax.tree.map(jnp.zeros_like, state.g_params)
  updates, _ = tx.update(zeros, tx.init(state.g_params), state.g_params)
  autodiff = jax.grad(lambda p: strength * optim.orthogonal_penalty(p))(state.g_params)
  chex.assert_trees_all_close(jax.tree.map(lambda u: -u, updates), autodiff, rtol=1e-5,
                              atol=1e-9)
  # A matrix with orthonormal rows has no penalty (only W W^T's off-diagonal is penalised).
  q = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 4)))[0]     # (6, 4), q^T q = I
  assert float(optim.orthogonal_penalty({'dense': {'kernel': jnp.asarray(q)}})) < 1e-10
  assert float(optim.orthogonal_penalty({'dense': {'kernel': jnp.asarray(2 * q)}})) < 1e-9


def test_the_state_is_the_optimisers_own_and_grads_add():
  params = {'dense': {'kernel': jnp.arange(6.0).reshape(2, 3) / 6, 'bias': jnp.ones(3)}}
  adam = optim.optimizer('adam', 1e-3, b1=0.5, b2=0.999)
  tx = optim.orthogonal_regularization(adam, 1e-2)
  # The same state structure (a resume may turn it on or off).
  assert (jax.tree_util.tree_structure(tx.init(params))
          == jax.tree_util.tree_structure(adam.init(params)))
  grads = jax.tree.map(jnp.ones_like, params)
  extra = jax.grad(lambda p: 1e-2 * optim.orthogonal_penalty(p))(params)
  ours, _ = tx.update(grads, tx.init(params), params)
  plain, _ = adam.update(jax.tree.map(jnp.add, grads, extra), adam.init(params), params)
  chex.assert_trees_all_close(ours, plain, rtol=1e-6)
  with pytest.raises(errors.ConfigError, match='needs the parameters'):
    tx.update(grads, tx.init(params))


@pytest.mark.slow
def test_config_turns_it_on_per_player_and_refuses_bad_values():
  # SGD: Adam's first update, lr * sign(g), would hide a small change of the gradient.
  config = family_config('biggan', **{'optim.g_optimizer': 'sgd', 'optim.d_optimizer': 'sgd'})
  off = jaxgan.build(config)
  config.optim.g_ortho = 1e-2
  on = jaxgan.build(config)
  # The config's G optimiser is the plain one wrapped; D's is unchanged.
  plain_g, plain_d = off.g_optimizer, off.d_optimizer
  by_hand = on.replace(g_optimizer=optim.orthogonal_regularization(plain_g, 1e-2),
                       d_optimizer=plain_d)

  def one_step(e):
    state = e.init_state(seed=0)
    # BigGAN's orthogonal initialisation leaves nothing to penalise: move off it.
    leaves, tree = jax.tree.flatten(state.g_params)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    state = state.replace(g_params=jax.tree.unflatten(tree, [
        leaf + 0.3 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)]))
    step = e.train_step(devices=jax.devices()[:1])
    return jax.device_get(step(state, host_batch(e, 0, 1))[0])

  a, b, c = one_step(on), one_step(by_hand), one_step(off)
  chex.assert_trees_all_equal(a.g_params, b.g_params)
  chex.assert_trees_all_equal(a.d_params, c.d_params)         # D's update is untouched
  diff = jax.tree.map(lambda x, y: float(np.abs(x - y).max()), a.g_params, c.g_params)
  assert diff['shared']['embedding'] == 0.0                    # left out
  assert diff['block0']['conv1']['conv']['kernel'] > 0
  for key, value, match in (('g_ortho', -1e-4, 'optim.g_ortho'),
                            ('d_ortho', -1.0, 'optim.d_ortho'),
                            ('ortho_exclude', (1,), 'ortho_exclude')):
    bad = family_config('biggan')
    bad.optim[key] = value
    with pytest.raises(errors.ConfigError, match=match):
      jaxgan.build(bad)


def test_a_resume_that_turns_it_on_is_a_changed_run():
  """Like a regulariser of the loss, orthogonal regularisation defines the run: a resume that
  changes it is refused unless allowed (`training.config_changes`); a learning rate is not."""
  from jaxgan import training
  import json
  saved = json.loads(family_config('biggan').to_json_best_effort())
  changed = family_config('biggan')
  changed.optim.g_ortho = 1e-4
  changed.optim.g_lr = 1e-3
  assert training.config_changes(saved, changed) == {'optim.g_ortho': [0.0, 1e-4]}
  # A config.json from before these keys existed is not compared on them.
  old = json.loads(family_config('biggan').to_json_best_effort())
  del old['optim']['g_ortho']
  assert training.config_changes(old, changed) == {}
  # An experiment whose optimisers were replaced in code is not compared on them.
  assert training.config_changes(saved, changed, from_config=('data', 'loss')) == {}
