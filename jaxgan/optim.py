"""Optimisers and learning-rate schedules of both players, as optax objects.

  tx_g, tx_d = optim.from_config(config)

Each player's optimiser is `config.optim.{g,d}_optimizer` with base rate `config.optim.{g,d}_lr`
and the schedule `config.optim.{g,d}_schedule`; `config.optim.{g,d}_reg_interval` k > 1 scales
that player's rate by k / (k + 1) and its betas to the power k / (k + 1), StyleGAN2's
compensation for lazy regularisation (`lazy_ratio`; the loss side is `losses.lazy`):

  name         'constant', 'linear', 'cosine' or 'step'
  warmup_steps linear warm-up from 0 over the first generator steps (every schedule)
  end_factor   'linear' / 'cosine': the rate at the last step is lr * end_factor
  steps        'linear' / 'cosine': their length in generator steps after the warm-up (a float
               allowed: a decay over N images at batch B is N / B steps); the rate stays at
               lr * end_factor after it. 0 (the default): to train.num_steps
  milestones   'step': fractions of train.num_steps at which the rate is multiplied by `factor`
  factor       'step': the multiplier at each milestone

Schedules are written in generator steps (train.num_steps units) for both players: the
discriminator's optimiser counts `train.d_steps` updates per generator step, so its schedule is
read at count // d_steps. Adam's beta2 may follow a ramp (`config.optim.b2_schedule`, a
`jaxgan.schedules` block; name 'constant', the default, keeps `optim.b2`), as R3GAN's rises from
0.9 to 0.99. Every optimiser is wrapped in `optax.inject_hyperparams`, so its
state holds the learning rate of its latest update: `learning_rate(opt_state)` reads it (the
train step logs it as g/lr and d/lr; an optimiser of your own is logged when its state holds
an injected rate, see `learning_rate`). Weight clipping (`optim.d_clip`) is a projection applied
by the train step after each critic update, not part of the optimiser.

BigGAN's orthogonal regularisation (Brock et al. 2019, section 3.1; BigGAN-PyTorch's
`--G_ortho` / `--D_ortho`, `utils.ortho`) is `config.optim.{g,d}_ortho` (beta; 0: off, 1e-4 in
the paper's ImageNet runs): `orthogonal_regularization` wraps that player's optimiser.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import checks, errors, schedules
from jaxgan import config as config_lib

OPTIMIZERS = ('adam', 'rmsprop', 'sgd')
SCHEDULES = ('constant', 'linear', 'cosine', 'step')


def schedule(lr: float, cfg: ml_collections.ConfigDict, num_steps: int) -> optax.ScalarOrSchedule:
  """The learning rate at each generator step for base rate `lr` (see the module docstring).

  A constant rate without warm-up is returned as the float itself: optax then keeps it as a
  plain hyperparameter that the step passes through (a constant schedule's output would be a
  new constant each step, and its donated input buffer would go unused).
  """
  name = cfg.name
  warmup = int(cfg.warmup_steps)
  length = float(cfg.get('steps', 0.0)) or max(num_steps - warmup, 1)
  if name == 'constant':
    if warmup <= 0:
      return float(lr)
    main = optax.constant_schedule(lr)
  elif name == 'linear':
    main = optax.linear_schedule(lr, lr * cfg.end_factor, length)
  elif name == 'cosine':
    main = optax.cosine_decay_schedule(lr, length, alpha=cfg.end_factor)
  elif name == 'step':
    bounds = sorted(int(round(m * num_steps)) - warmup for m in cfg.milestones)
    scales: dict[int, float] = {}
    for b in bounds:   # two milestones on one step multiply
      scales[b] = scales.get(b, 1.0) * cfg.factor
    main = optax.piecewise_constant_schedule(lr, scales)
  else:
    raise errors.ConfigError(f'schedule name {name!r} is not supported; choose one of '
                             f'{", ".join(repr(s) for s in SCHEDULES)}.')
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def optimizer(name: str, learning_rate, *, b1: float, b2, eps: float = 1e-8,
              key: str = 'optimizer') -> optax.GradientTransformation:
  """optax's `name` with `learning_rate` (a float or a schedule), its rate injected; `b2`
  (Adam's beta2) a float or a schedule too.

  'adam': Adam(b1, b2, eps) as PyTorch's. 'rmsprop': PyTorch's RMSprop (alpha 0.99,
  eps added to sqrt(v), not inside it: optax's default divides by sqrt(v + eps), which for
  a clipped critic's gradients of ~1e-5 gives updates ~100x smaller than the WGAN reference
  code's). 'sgd': momentum b1 (0: plain SGD).
  """
  if name == 'adam':
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate, b1=b1, b2=b2,
                                                eps=eps)
  if name == 'rmsprop':
    return optax.inject_hyperparams(optax.rmsprop, static_args=('eps_in_sqrt',))(
        learning_rate=learning_rate, decay=0.99, eps=eps, eps_in_sqrt=False)
  if name == 'sgd':
    return optax.inject_hyperparams(optax.sgd, static_args=('momentum',))(
        learning_rate=learning_rate, momentum=b1 or None)
  raise errors.ConfigError(
      f'config.optim.{key}={name!r} is not supported; choose one of '
      f'{", ".join(repr(o) for o in OPTIMIZERS)}.')


def _ortho_matrix(path, leaf) -> Optional[jax.Array]:
  """The (rows, -1) matrix PyTorch's `param.view(param.shape[0], -1)` sees for `leaf`: an
  embedding table ('embedding', (num, features), as PyTorch's) as it is; any other leaf of 2
  or more axes a flax kernel (..., out): its output units as rows. None for vectors."""
  if leaf.ndim < 2:
    return None
  name = getattr(path[-1], 'key', None)
  if name == 'embedding':
    return leaf.reshape(leaf.shape[0], -1)
  return leaf.reshape(-1, leaf.shape[-1]).T


def _excluded(path, exclude) -> bool:
  return any(getattr(entry, 'key', None) in exclude for entry in path)


def orthogonal_penalty(params, exclude: tuple[str, ...] = ('shared',)) -> jax.Array:
  """BigGAN's orthogonal regulariser without its beta: 1/2 sum_W ||W W^T * (1 - I)||_F^2 over
  the weight matrices of `params` (`_ortho_matrix`; leaves under a module named in `exclude`
  are left out: BigGAN-PyTorch leaves out the shared class embedding, `G.shared`). Its
  gradient, 2 (W W^T * (1 - I)) W, is what `utils.ortho` adds to each weight's gradient."""
  total = jnp.zeros((), jnp.float32)
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    w = None if _excluded(path, exclude) else _ortho_matrix(path, leaf)
    if w is not None:
      gram = w @ w.T
      total = total + 0.5 * jnp.sum((gram * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))) ** 2)
  return total


def orthogonal_regularization(tx: optax.GradientTransformation, strength: float,
                              exclude: tuple[str, ...] = ('shared',)
                              ) -> optax.GradientTransformation:
  """`tx` with BigGAN's orthogonal regularisation: before each update, strength * 2 (W W^T *
  (1 - I)) W is added to the gradient of every weight matrix W (the gradient of strength *
  `orthogonal_penalty`), as BigGAN-PyTorch's `utils.ortho` adds it to `param.grad` between
  the backward pass and the optimiser's step. W is an embedding table ('embedding') as it is,
  and any other leaf of 2 or more axes read as a flax kernel, output units last (every jaxgan
  network's layout); vectors are left alone. The state is `tx`'s own, so turning it on or off
  at a resume changes no checkpointed structure. (A wrapper rather than `optax.chain`, which
  would nest the state; optax has no orthogonal regulariser.)"""
  strength = float(checks.number('orthogonal_regularization(strength=...)', strength, low=0,
                                 prefix='', hint=' (BigGAN: 1e-4)'))

  def matrix_gradient(path, leaf):
    w = None if _excluded(path, exclude) else _ortho_matrix(path, leaf)
    if w is None:
      return jnp.zeros_like(leaf)
    grad = 2.0 * ((w @ w.T) * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))) @ w
    if getattr(path[-1], 'key', None) == 'embedding':
      return grad.reshape(leaf.shape)
    return grad.T.reshape(leaf.shape)

  def update(updates, state, params=None):
    if params is None:
      raise errors.ConfigError('orthogonal_regularization needs the parameters: call '
                               'update(grads, state, params).')
    extra = jax.tree_util.tree_map_with_path(matrix_gradient, params)
    updates = jax.tree.map(lambda g, e: g + strength * e.astype(g.dtype), updates, extra)
    return tx.update(updates, state, params)

  return optax.GradientTransformation(tx.init, update)


def nan_to_num_gradients(tx: optax.GradientTransformation, *, nan: float = 0.0,
                         posinf: float = 1e5, neginf: float = -1e5
                         ) -> optax.GradientTransformation:
  """`tx` on gradients whose NaNs are replaced by `nan` and infinities by `posinf` /
  `neginf` before each update, as StyleGAN2-ADA's training loop does to every gradient
  (`misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5)` before `opt.step()`; its
  float16 layers have no loss scaling). The state is `tx`'s own (a wrapper rather than
  `optax.chain`, which would nest the state; optax's `zero_nans` leaves infinities alone)."""

  def update(updates, state, params=None):
    updates = jax.tree.map(
        lambda g: jnp.nan_to_num(g, nan=nan, posinf=posinf, neginf=neginf), updates)
    return tx.update(updates, state, params)

  return optax.GradientTransformation(tx.init, update)


def lazy_ratio(every: int) -> float:
  """StyleGAN2's mb_ratio = k / (k + 1) for regularisation every k minibatches (official
  training_loop.py: lr * mb_ratio, betas ** mb_ratio; 1 for k = 1)."""
  checks.number('optim.reg_interval', every, integer=True, low=1)
  return 1.0 if every == 1 else every / (every + 1)


def _lazy_scaled(lr: optax.ScalarOrSchedule, b1: float, b2: optax.ScalarOrSchedule,
                 every: int):
  """(lr, b1, b2) scaled for lazy regularisation every `every` steps (see `lazy_ratio`);
  lr and b2 may be schedules."""
  ratio = lazy_ratio(every)
  if ratio == 1.0:
    return lr, b1, b2
  scaled = (lambda count: lr(count) * ratio) if callable(lr) else lr * ratio
  b2_scaled = (lambda count: b2(count) ** ratio) if callable(b2) else b2 ** ratio
  return scaled, b1 ** ratio, b2_scaled


def _per_generator_step(fn: optax.ScalarOrSchedule, d_steps: int) -> optax.ScalarOrSchedule:
  if d_steps == 1 or not callable(fn):
    return fn
  return lambda count: fn(count // d_steps)


def from_config(config: ml_collections.ConfigDict
                ) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """(generator optimiser, discriminator optimiser) from config.optim and config.train.

  Checks every `config.optim` key it reads (ConfigError naming the key); `train.num_steps`
  and `train.d_steps` are the loop's (`config.validate_loop`).
  """
  o, num_steps = config.optim, int(config.train.num_steps)
  for key in ('g_lr', 'd_lr'):
    checks.number(f'optim.{key}', o[key], low=0, low_open=True)
  for key in ('b1', 'b2'):
    checks.number(f'optim.{key}', o[key], low=0, high=1, high_open=True,
                  hint=f' (a moment\'s decay rate: Adam\'s beta{key[1]}, SGD\'s momentum for '
                       f'b1), e.g. 0.5 and 0.999')
  eps = float(checks.number('optim.eps', o.get('eps', 1e-8), low=0, low_open=True,
                            hint=' (Adam\'s and RMSprop\'s epsilon), e.g. 1e-8'))
  for key in ('g_schedule', 'd_schedule'):
    validate_schedule(o[key], key)
  d_steps = int(config.train.d_steps)
  g_lr = schedule(o.g_lr, o.g_schedule, num_steps)
  d_lr = _per_generator_step(schedule(o.d_lr, o.d_schedule, num_steps), d_steps)
  g_b2 = d_b2 = float(o.b2)
  b2_schedule = o.get('b2_schedule')
  if b2_schedule is not None:
    errors.check_choice('optim.b2_schedule.name', b2_schedule.name,
                        ('constant',) + schedules.RAMPS)
  if b2_schedule is not None and b2_schedule.name != 'constant':
    g_b2 = schedules.ramp('optim.b2_schedule', b2_schedule, low=0, high=1, high_open=True,
                          hint=' (Adam\'s beta2 along the ramp)')
    d_b2 = _per_generator_step(g_b2, d_steps)
  g_every, d_every = (checks.number(f'optim.{key}', o.get(key, 1), integer=True, low=1,
                                    hint=' (lazy regularisation\'s interval; 1: off)')
                      for key in ('g_reg_interval', 'd_reg_interval'))
  g_lr, g_b1, g_b2 = _lazy_scaled(g_lr, o.b1, g_b2, g_every)
  d_lr, d_b1, d_b2 = _lazy_scaled(d_lr, o.b1, d_b2, d_every)
  tx_g = optimizer(o.g_optimizer, g_lr, b1=g_b1, b2=g_b2, eps=eps, key='g_optimizer')
  tx_d = optimizer(o.d_optimizer, d_lr, b1=d_b1, b2=d_b2, eps=eps, key='d_optimizer')
  exclude = o.get('ortho_exclude', ('shared',))
  if isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
    raise errors.ConfigError(f'config.optim.ortho_exclude={exclude!r} must be a tuple of module '
                             f'names, e.g. (\'shared\',).')
  wrapped = []
  for key, tx in (('g_ortho', tx_g), ('d_ortho', tx_d)):
    beta = float(checks.number(f'optim.{key}', o.get(key, 0.0), low=0,
                               hint=' (orthogonal regularisation\'s beta; 0: off, BigGAN 1e-4)'))
    wrapped.append(orthogonal_regularization(tx, beta, tuple(exclude)) if beta > 0 else tx)
  cleaning = o.get('nan_to_num', False)
  if not isinstance(cleaning, bool):
    raise errors.ConfigError(f'config.optim.nan_to_num={cleaning!r} must be True or False.')
  if cleaning:   # outermost: the cleaned gradient is what orthogonal regularisation adds to
    wrapped = [nan_to_num_gradients(tx) for tx in wrapped]
  return tuple(wrapped)


# The names optax's optimisers give the rate (sgd, adam, ...: learning_rate) and common others.
RATE_NAMES = ('learning_rate', 'lr', 'step_size')


def _has_hyperparams(node) -> bool:
  return isinstance(getattr(node, 'hyperparams', None), dict)


def learning_rate(opt_state) -> Optional[jax.Array]:
  """The learning rate an injected-hyperparameter optimiser used last, found anywhere in the
  state of any optax transformation (a chain, a named chain, `MultiSteps`, `masked`, ...);
  None when no part of the state holds it.

  The train step logs it as g/lr and d/lr. For your own optimiser, wrap the transformation
  that takes the rate in `optax.inject_hyperparams` so that its state holds it, e.g.
  `optax.chain(optax.clip_by_global_norm(1.0),
  optax.inject_hyperparams(optax.adam)(learning_rate=schedule))`: a plain
  `optax.adam(schedule)` keeps only a step count, and nothing is logged. The first injected
  `learning_rate` (or `lr`, `step_size`) in the state's order is the one logged.
  """
  for node in jax.tree.leaves(opt_state, is_leaf=_has_hyperparams):
    if _has_hyperparams(node):
      for name in RATE_NAMES:
        if name in node.hyperparams:
          return jnp.asarray(node.hyperparams[name], jnp.float32)
      rate = learning_rate(node.inner_state)   # e.g. an injected chain's own injected part
      if rate is not None:
        return rate
  return None


def validate_schedule(cfg: ml_collections.ConfigDict, key: str) -> None:
  """ConfigError (naming `config.optim.<key>`) for a bad schedule."""
  errors.check_choice(f'optim.{key}.name', cfg.name, SCHEDULES)
  checks.number(f'optim.{key}.warmup_steps', cfg.warmup_steps, integer=True, low=0)
  checks.number(f'optim.{key}.end_factor', cfg.end_factor, low=0)
  checks.number(f'optim.{key}.steps', cfg.get('steps', 0.0), low=0,
                hint=' (the decay\'s length in generator steps; 0: to train.num_steps)')
  if cfg.name == 'step':
    milestones = tuple(cfg.milestones)
    if not milestones or not all(
        isinstance(m, (int, float)) and not isinstance(m, bool) and 0.0 < m < 1.0
        for m in milestones):
      raise errors.ConfigError(
          f'config.optim.{key}.milestones={milestones!r} must be fractions of train.num_steps '
          f'in (0, 1), e.g. (0.75,), for the step schedule.')
    checks.number(f'optim.{key}.factor', cfg.factor, low=0, low_open=True)


# The schedule's config block lives with the other defaults (jaxgan.config, a leaf module).
schedule_config = config_lib.schedule_config


def refresh_hyperparams(restored, fresh):
  """`restored` optimiser state with the hyperparameters of `fresh` (a new `init`).

  A checkpoint holds the optimiser's statistics (moments, counts); its hyperparameters (the
  injected learning rate, betas) come from the experiment being run, so that resuming with a
  new learning rate uses it. Scheduled rates are recomputed from the count at every update.
  """
  if isinstance(getattr(restored, 'hyperparams', None), dict):
    inner = refresh_hyperparams(restored.inner_state, fresh.inner_state)
    return restored._replace(hyperparams=fresh.hyperparams, inner_state=inner)
  if isinstance(restored, tuple) and not hasattr(restored, '_fields'):
    return tuple(refresh_hyperparams(r, f) for r, f in zip(restored, fresh))
  if isinstance(restored, list):
    return [refresh_hyperparams(r, f) for r, f in zip(restored, fresh)]
  if isinstance(restored, dict):
    return {k: refresh_hyperparams(v, fresh[k]) for k, v in restored.items()}
  return restored
