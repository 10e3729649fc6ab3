"""GAN objectives and regularisers: pure functions over logits, composable in one line.

Two layers:

* Pure, keyword-only functions over discriminator logits (the `*_d` / `*_g` pairs below:
  the classic objectives, whose generator side reads D(G(z)) only, and the relativistic ones
  `rpgan`, `ragan`, `rahinge`, whose generator side also reads D(x)), over a critic function
  (`gradient_penalty`, `r1_penalty`, `r2_penalty`, `consistency_penalty`) and over logits and
  moving averages (`lecam_penalty`). Use them directly in your own training code; they
  are not Terms (`hinge + 10 * losses.gradient_penalty` raises a TypeError naming
  `gradient_penalty_term`).
* `Term` objects wrapping them, which the training step receives. Terms add and scale:

      loss = losses.hinge + 10.0 * losses.gradient_penalty_term
      loss = losses.get('wasserstein') + losses.get('gradient_penalty', weight=10.0)
      loss = losses.hinge + 0.1 * losses.term('my_reg', d=lambda i: jnp.mean(i.real_logits**2))
      loss = losses.hinge + losses.lecam_term.weighted(optax.linear_schedule(0.0, 0.3, 1000))

  A weight is a number or a schedule (a function of the step, as an optax schedule; see
  `Term`).

  A term maps a `LossInputs` to named scalars for the discriminator update (`d_terms`) and
  for the generator update (`g_terms`); the update minimises their sum and logs each one.
  A term may keep state across steps (`init_state` / `update_state`): it lives in the GAN
  state (`GANState.loss_state`), is checkpointed, averaged over devices and resumed exactly.

Sign conventions: D outputs raw logits (no sigmoid); every function returns a quantity to be
*minimised* by its player.
"""

import dataclasses
import functools
import inspect
import numbers
from typing import Any, Callable, Mapping, Optional, Union

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan import checks, errors, schedules

Array = jax.Array


class _PlainFunction:
  """A pure loss function, callable as the function it wraps, that refuses `+` and `*` with
  a sentence naming the `Term` to compose instead (`hinge + 10 * losses.gradient_penalty`
  would otherwise fail deep in Python with "unsupported operand type(s)")."""

  def __init__(self, fn: Callable[..., Array], term_name: str):
    functools.update_wrapper(self, fn)
    self._fn = fn
    self.term_name = term_name

  def __call__(self, *args, **kwargs):
    return self._fn(*args, **kwargs)

  def __repr__(self):
    return f'losses.{self.__name__}'

  def __reduce__(self):   # pickled by name, as the module-level function it stands for
    return (_plain_function_named, (self.__name__,))

  def message(self) -> str:
    return (f'losses.{self.__name__} is a plain function, not a loss Term; compose '
            f'losses.{self.term_name} instead (or make a Term of your own function with '
            f'losses.term(name, d=..., g=...)).')

  def _refuse(self, other):
    raise TypeError(self.message())

  __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse


def _plain_function_named(name: str) -> _PlainFunction:
  return globals()[name]


def _plain(term_name: str) -> Callable[[Callable[..., Array]], _PlainFunction]:
  """Marks a pure loss function whose composable Term is `losses.<term_name>`."""
  return lambda fn: _PlainFunction(fn, term_name)


# ---------------------------------------------------------------------------------------------
# Objectives over logits.
# ---------------------------------------------------------------------------------------------

@_plain('minimax')
def minimax_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """Discriminator side of the seed's eq. (J_D), negated to a loss (Goodfellow et al. 2014):
  L_D = -E[log D(x)] - E[log(1 - D(G(z)))], with D = sigmoid(logit)."""
  return (optax.losses.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)).mean()
          + optax.losses.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean())


@_plain('minimax')
def minimax_g(*, fake_logits: Array) -> Array:
  """The seed's J_G, minimised as written (saturating): L_G = E[log(1 - D(G(z)))]."""
  return -optax.losses.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean()


non_saturating_d = _plain('non_saturating')(minimax_d.__wrapped__)
non_saturating_d.__name__ = non_saturating_d.__qualname__ = 'non_saturating_d'


@_plain('non_saturating')
def non_saturating_g(*, fake_logits: Array) -> Array:
  """The non-saturating generator loss of Goodfellow et al. 2014: L_G = -E[log D(G(z))]."""
  return optax.losses.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits)).mean()


@_plain('wasserstein')
def wasserstein_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """WGAN critic loss (Arjovsky et al. 2017, Algorithm 1 line 5, negated to a loss):
  L_D = E[f(G(z))] - E[f(x)]."""
  return fake_logits.mean() - real_logits.mean()


@_plain('wasserstein')
def wasserstein_g(*, fake_logits: Array) -> Array:
  """WGAN generator loss (Algorithm 1 line 10): L_G = -E[f(G(z))]."""
  return -fake_logits.mean()


@_plain('hinge')
def hinge_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """SAGAN's hinge loss (the seed's L_D, section 4):
  L_D = -E[min(0, -1 + D(x))] - E[min(0, -1 - D(G(z)))]."""
  return (-jnp.minimum(0.0, -1.0 + real_logits).mean()
          - jnp.minimum(0.0, -1.0 - fake_logits).mean())


@_plain('hinge')
def hinge_g(*, fake_logits: Array) -> Array:
  """SAGAN's generator loss (the seed's L_G, section 4): L_G = -E[D(G(z))]."""
  return -fake_logits.mean()


@_plain('least_squares')
def least_squares_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN (Mao et al. 2017, eq. 9 with a=0, b=c=1): L_D = 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]."""
  return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)


@_plain('least_squares')
def least_squares_g(*, fake_logits: Array) -> Array:
  """LSGAN generator (Mao et al. 2017, eq. 9, c=1): L_G = 1/2 E[(D(G(z))-1)^2]."""
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


# Relativistic objectives: the generator's loss reads D(x) too (`Objective(g_needs_real=True)`).

def _paired(real_logits: Array, fake_logits: Array) -> None:
  if real_logits.shape != fake_logits.shape:
    raise ValueError(f'relativistic pairing needs as many real as fake logits, got shapes '
                     f'{real_logits.shape} and {fake_logits.shape}.')


@_plain('rpgan')
def rpgan_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """RpGAN's discriminator loss (R3GAN, Huang et al. 2024, eq. 2, with f = softplus(-t);
  the relativistic pairing of Jolicoeur-Martineau 2018): L_D = E[softplus(-(D(x_i) -
  D(G(z_i))))], real i paired with fake i by position in the batch."""
  _paired(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-(real_logits - fake_logits)))


@_plain('rpgan')
def rpgan_g(*, real_logits: Array, fake_logits: Array) -> Array:
  """RpGAN's generator loss (R3GAN eq. 2, the players' roles swapped): L_G =
  E[softplus(-(D(G(z_i)) - D(x_i)))], paired by position in the batch."""
  _paired(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-(fake_logits - real_logits)))


@_plain('ragan')
def ragan_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average GAN, discriminator (Jolicoeur-Martineau 2018, section 4.2, RaSGAN;
  -log sigmoid(t) = softplus(-t)): L_D = E_x[softplus(-(D(x) - E_z D(G(z))))] +
  E_z[softplus(D(G(z)) - E_x D(x))]. The averages are over the replica's batch."""
  return (jnp.mean(jax.nn.softplus(-(real_logits - jnp.mean(fake_logits))))
          + jnp.mean(jax.nn.softplus(fake_logits - jnp.mean(real_logits))))


@_plain('ragan')
def ragan_g(*, real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average GAN, generator (Jolicoeur-Martineau 2018, section 4.2, RaSGAN):
  L_G = E_z[softplus(-(D(G(z)) - E_x D(x)))] + E_x[softplus(D(x) - E_z D(G(z)))]."""
  return (jnp.mean(jax.nn.softplus(-(fake_logits - jnp.mean(real_logits))))
          + jnp.mean(jax.nn.softplus(real_logits - jnp.mean(fake_logits))))


@_plain('rahinge')
def rahinge_d(*, real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average hinge loss, discriminator (Jolicoeur-Martineau 2018's RaHinge, as in
  ESRGAN and StudioGAN): L_D = E_x[max(0, 1 - (D(x) - E_z D(G(z))))] +
  E_z[max(0, 1 + (D(G(z)) - E_x D(x)))]."""
  return (jnp.mean(jax.nn.relu(1.0 - (real_logits - jnp.mean(fake_logits))))
          + jnp.mean(jax.nn.relu(1.0 + (fake_logits - jnp.mean(real_logits)))))


@_plain('rahinge')
def rahinge_g(*, real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average hinge loss, generator: L_G = E_z[max(0, 1 - (D(G(z)) - E_x D(x)))]
  + E_x[max(0, 1 + (D(x) - E_z D(G(z))))]."""
  return (jnp.mean(jax.nn.relu(1.0 - (fake_logits - jnp.mean(real_logits))))
          + jnp.mean(jax.nn.relu(1.0 + (real_logits - jnp.mean(fake_logits)))))


# ---------------------------------------------------------------------------------------------
# Regularisers over a critic function.
# ---------------------------------------------------------------------------------------------

def _per_sample_grad_norm(critic: Callable[[Array], Array], x: Array) -> Array:
  # d(sum_i f(x_i))/dx_i = df(x_i)/dx_i because samples do not interact in the critic
  # (no batch norm in a critic that is gradient-penalised; see `LossInputs.critic`).
  grads = jax.grad(lambda v: jnp.sum(critic(v)))(x)
  return jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1) + 1e-12)


@_plain('gradient_penalty_term')
def gradient_penalty(*, critic: Callable[[Array], Array], real: Array, fake: Array,
                     rng: Array, target: float = 1.0) -> Array:
  """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3, without its weight lambda):
  E_{x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1]} [(||grad_x^ D(x^)||_2 - 1)^2]."""
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  interpolates = eps * real + (1.0 - eps) * fake
  return jnp.mean((_per_sample_grad_norm(critic, interpolates) - target) ** 2)


@_plain('r1_term')
def r1_penalty(*, critic: Callable[[Array], Array], real: Array) -> Array:
  """R1 (Mescheder et al. 2018, eq. 9, without gamma/2): E_x[||grad_x D(x)||^2] on real data."""
  return jnp.mean(_per_sample_grad_norm(critic, real) ** 2)


@_plain('r2_term')
def r2_penalty(*, critic: Callable[[Array], Array], fake: Array) -> Array:
  """R2 (Mescheder et al. 2018, eq. 10, without gamma/2; R3GAN's second zero-centred penalty):
  E_z[||grad_x D(x)|_{x = G(z)}||^2] on generated samples, held fixed (no gradient reaches G).
  """
  fake = lax.stop_gradient(fake)
  grads = jax.grad(lambda v: jnp.sum(critic(v)))(fake)   # per sample: see _per_sample_grad_norm
  return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1))


@_plain('consistency_term')
def consistency_penalty(*, critic: Callable[[Array], Array], images: Array,
                        augment: Callable[[Array], Array]) -> Array:
  """Consistency regularisation (Zhang et al. 2020, CR-GAN): E||D(x) - D(T(x))||^2 over
  `images`, T = `augment` (a random, semantics-preserving transformation). bCR (Zhao et al.
  2021, Algorithm 1) adds this term for real and for generated images; both views are
  differentiated (no stop-gradient), as in the paper."""
  return jnp.mean((critic(images) - critic(augment(images))) ** 2)


@_plain('lecam_term')
def lecam_penalty(*, real_logits: Array, fake_logits: Array, ema_real: Array, ema_fake: Array,
                  hinged: bool = False) -> Array:
  """LeCam regularisation (Tseng et al. 2021, eq. 4): R_LC = E_x[||D(x) - alpha_F||^2] +
  E_z[||D(G(z)) - alpha_R||^2], alpha_R and alpha_F moving averages of D's real and fake
  outputs (`LeCam` keeps them). `hinged`: the authors' code (google/lecam-gan, and StudioGAN)
  squares only the side that crosses the anchor, E[max(0, D(x) - alpha_F)^2] +
  E[max(0, alpha_R - D(G(z)))^2]."""
  real_gap = real_logits - ema_fake
  fake_gap = ema_real - fake_logits
  if hinged:
    real_gap, fake_gap = jax.nn.relu(real_gap), jax.nn.relu(fake_gap)
  return jnp.mean(real_gap ** 2) + jnp.mean(fake_gap ** 2)


def lecam_update(ema: Mapping[str, Array], *, real_logits: Array, fake_logits: Array,
                 decay: float) -> dict[str, Array]:
  """One update of LeCam's moving averages {'real', 'fake', 'count'}: ema <- decay * ema +
  (1 - decay) * mean(logits) for each side, count <- count + 1 (the number of updates)."""
  return {'real': decay * ema['real'] + (1.0 - decay) * jnp.mean(real_logits),
          'fake': decay * ema['fake'] + (1.0 - decay) * jnp.mean(fake_logits),
          'count': ema['count'] + 1}


def lecam_anchors(ema: Mapping[str, Array], *, decay: float) -> tuple[Array, Array]:
  """(alpha_R, alpha_F): the moving averages with Adam-style zero-debiasing, ema / (1 -
  decay^count), as the authors' StyleGAN2 code (`zero_debias=True`); 0 before any update."""
  count = ema['count']
  scale = jnp.where(count > 0, 1.0 / (1.0 - decay ** jnp.maximum(count, 1)), 0.0)
  return ema['real'] * scale, ema['fake'] * scale


def path_lengths(grads: Array) -> Array:
  """Per-sample path lengths from J^T y, the gradients of sum(G(w) * y) with respect to ws
  (B, num_ws, w_dim): sqrt(mean over the ws of the squared norm over w_dim), as the
  official loss.py (`pl_grads.square().sum(2).mean(1).sqrt()`)."""
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


@_plain('path_length_term')
def path_length_penalty(*, lengths: Array, pl_mean: Array, decay: float
                        ) -> tuple[Array, Array]:
  """Path length regularisation (Karras et al. 2020, "Analyzing and Improving the Image
  Quality of StyleGAN", eq. 4, without its weight): E_w[(||J_w^T y||_2 - a)^2], a the running
  mean of the lengths. Returns (penalty, the updated mean a' = a + decay * (mean(lengths) -
  a)); the penalty is taken around a', which is not stopped, as the official loss.py's
  `pl_mean.lerp(pl_lengths.mean(), pl_decay)` (the caller stores a' without its gradient)."""
  new_mean = pl_mean + decay * (jnp.mean(lengths) - pl_mean)
  return jnp.mean(jnp.square(lengths - new_mean)), new_mean


# ---------------------------------------------------------------------------------------------
# Composable terms.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GeneratorAccess:
  """The generator as a generator-side term may run it (`LossInputs.generator`), with the
  parameters being differentiated and the generator's state as the step found it, in
  training mode (state changes are discarded, except the collections the model's
  `moving_state` names, e.g. StyleGAN2's w_avg, which `styles` calls move):

  `draw(n)`: fresh (z, labels) for n examples of this device (labels None unconditionally);
  `styles(z, labels)`: the ws the synthesis network receives (StyleGAN2's mapping and, when
  on, style mixing); `synthesize(ws)`: the images, with the generator's own noise drawn
  from keys of their own; `batch`: this device's batch in the generator update.
  """
  draw: Callable[[int], tuple[Array, Optional[Array]]]
  styles: Callable[[Array, Optional[Array]], Array]
  synthesize: Callable[[Array], Array]
  batch: int

@dataclasses.dataclass(frozen=True)
class LossInputs:
  """What a loss term may read in one update.

  Discriminator update: all fields. `critic` evaluates the discriminator with the parameters
  being differentiated and its current mutable state (state changes it would make are
  discarded), so regularisers differentiate through it like any other term; it is set when
  the loss `needs_critic`. `critic(x)` is D as it sees the real batch (the real labels; with
  differentiable augmentation on, x augmented as the real batch was, so critic(real) equals
  real_logits and a penalty's input gradient passes through the augmentation, as in
  StyleGAN2-ADA and R3GAN); `fake_critic(x)` is D as it sees the fake batch (its labels and
  augmentation; None means `critic`). `augment(images, draw)` is the experiment's
  augmentation T applied to every image (probability 1), a fresh draw per `draw` index
  (None when the experiment has none; a term that reads it says `needs_augment`).
  Generator update: `fake_logits` and `fake`; `real_logits` and `real` (the last critic
  update's real batch, or with `Loop.g_real_batch='own'` a real batch of the generator's own;
  D's logits with the updated D) only when the loss `g_needs_real` (relativistic losses);
  `critic`, `fake_critic` and `augment` are None, and `rng` is None unless the loss
  `needs_generator` (see below). `state`
  holds every stateful term's state ({name: pytree}, read-only here; see
  `Term.update_state`). Logits are those of the images as D saw them (augmented, if on);
  `real` and `fake` are the images before augmentation. `step`: the number of GAN steps done
  before this one (`GANState.step`, from 0), which scheduled weights read (see `Term`); None
  in inputs built by hand without it. `device_mean(x)`: the mean of a per-device value over
  the devices of the step (their batches together are the global batch); None: one device.

  `generator` (generator update only, when the loss `needs_generator`: path length) runs the
  generator with the parameters being differentiated (`GeneratorAccess`), and `rng` is then
  a per-device key for the term's own draws.

  A field a term reads without declaring it (`critic` or `fake_critic` without
  `needs_critic`, `augment` without `needs_augment`, `generator` without `needs_generator`)
  raises `errors.ConfigError` saying so when a `term(...)`, `Regularizer` or built-in term
  calls it.
  """
  fake_logits: Array
  real_logits: Optional[Array] = None
  real: Optional[Array] = None
  fake: Optional[Array] = None
  critic: Optional[Callable[[Array], Array]] = None
  rng: Optional[Array] = None
  state: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  fake_critic: Optional[Callable[[Array], Array]] = None
  augment: Optional[Callable[[Array, int], Array]] = None
  step: Optional[Array] = None
  generator: Optional['GeneratorAccess'] = None
  device_mean: Optional[Callable[[Array], Array]] = None

  def critic_of_fakes(self) -> Optional[Callable[[Array], Array]]:
    """`fake_critic`, or `critic` where none was given."""
    return self.critic if self.fake_critic is None else self.fake_critic


# A weight: a number, or a schedule (a function of the step, as an optax schedule).
Weight = Union[float, Callable[[Array], Array]]


def _is_number(weight) -> bool:
  return isinstance(weight, numbers.Real)


def _checked_weight(weight) -> Weight:
  """`weight` if it is a number or a schedule (a function of one argument, the step), else
  TypeError saying what a weight is."""
  if _is_number(weight):
    return weight
  if isinstance(weight, _PlainFunction):
    raise TypeError(weight.message())
  if isinstance(weight, Term):
    raise TypeError(f'{weight!r} cannot weight a Term: add terms with + and scale them by a '
                    f'number or a schedule (a function of the step).')
  if callable(weight):
    try:
      inspect.signature(weight).bind(0)
    except ValueError:          # no signature to read (a builtin): take it as a schedule
      return weight
    except TypeError:
      raise TypeError(
          f'{_weight_repr(weight)} cannot be a weight: a weight is a number or a schedule '
          f'called with the step alone (e.g. optax.linear_schedule(0.0, 0.3, 1000)); to add a '
          f'loss function, make it a Term with losses.term(name, d=..., g=...).') from None
    return weight
  raise TypeError(f'{weight!r} cannot be a weight: pass a Python number or a schedule (a '
                  f'function of the step, e.g. optax.linear_schedule(0.0, 0.3, 1000)).')


@dataclasses.dataclass(frozen=True)
class _CombinedWeight:
  """The product (`op` '*') or sum ('+') of two weights, at least one a schedule."""
  op: str
  a: Weight
  b: Weight

  def __call__(self, step):
    a, b = _weight_at(self.a, step), _weight_at(self.b, step)
    return a * b if self.op == '*' else a + b

  def __repr__(self):
    text = f'{_weight_repr(self.a)} {self.op} {_weight_repr(self.b)}'
    return f'({text})' if self.op == '+' else text


def _times(a: Weight, b: Weight) -> Weight:
  if _is_number(a) and _is_number(b):
    return a * b
  if _is_number(a) and a == 1:
    return b
  if _is_number(b) and b == 1:
    return a
  return _CombinedWeight('*', a, b)


def _plus(a: Weight, b: Weight) -> Weight:
  if _is_number(a) and _is_number(b):
    return a + b
  return _CombinedWeight('+', a, b)


def _weight_at(weight: Weight, step: Optional[Array]):
  if _is_number(weight):
    return weight
  if step is None:
    raise errors.ConfigError(
        f'the weight {_weight_repr(weight)} is a schedule and needs the step: build the '
        f'inputs with LossInputs(..., step=...) (the train step passes GANState.step).')
  return weight(step)


def _weight_repr(weight: Weight) -> str:
  if _is_number(weight):
    return f'{weight:g}'
  if isinstance(weight, _CombinedWeight):
    return repr(weight)
  # An optax schedule's repr holds a memory address; its name reads better in run_info.json.
  return f'{getattr(weight, "__name__", type(weight).__name__)}(step)'


class _Undeclared:
  """Stands for a `LossInputs` callable a term reads without declaring (or that the update
  does not have); calling it, or reading an attribute of it, raises a one-sentence
  `errors.ConfigError`."""

  def __init__(self, message: str):
    self.message = message

  def __call__(self, *args, **kwargs):
    raise errors.ConfigError(self.message)

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    raise errors.ConfigError(self.message)


def _as_declared(inputs: LossInputs, name: str, needs_critic: bool,
                 needs_augment: bool, needs_generator: bool = False) -> LossInputs:
  """`inputs` with the callables term `name` did not declare (or that are absent) replaced by
  `_Undeclared` ones, so that a missing declaration is a sentence, not "'NoneType' object is
  not callable" from inside the traced step."""
  changes = {}
  for field, flag, needed in (('critic', 'needs_critic', needs_critic),
                              ('fake_critic', 'needs_critic', needs_critic),
                              ('augment', 'needs_augment', needs_augment),
                              ('generator', 'needs_generator', needs_generator)):
    value = getattr(inputs, field)
    if not needed:
      if value is not None or field != 'fake_critic':   # None: critic_of_fakes() -> critic
        changes[field] = _Undeclared(
            f'the loss term {name!r} calls LossInputs.{field} without declaring it; build it '
            f'with {flag}=True (losses.term({name!r}, ..., {flag}=True), or {flag} = True '
            f'on your Term subclass).')
    elif value is None and field != 'fake_critic':
      where = ('the discriminator update has none (read it in g=, not d=)'
               if field == 'generator' else 'the generator update has none (read it in d=, '
               'not g=)')
      changes[field] = _Undeclared(
          f'the loss term {name!r} calls LossInputs.{field}, which is None here: {where}, '
          f'and LossInputs built by hand need {field}=.')
  return dataclasses.replace(inputs, **changes) if changes else inputs


class Term:
  """A weighted sum of named loss terms; `a + b`, `w * a`, `a.weighted(w)` and `sum([...])`
  build new ones.

  A weight is a number or a schedule: a function of the step (`LossInputs.step`, the GAN
  steps done before this one) returning the weight, as an optax schedule does. LeCam's
  warm-up of the authors' code (no penalty for the first 1,000 steps, then 0.3):

      warm_up = optax.join_schedules([optax.constant_schedule(0.0),
                                      optax.constant_schedule(0.3)], [1000])
      loss = losses.hinge + losses.lecam_term.weighted(warm_up)      # or warm_up * lecam_term

  Weights multiply (`0.5 * (schedule * t)` weighs t by 0.5 * schedule(step)); the same term
  added twice has the sum of its weights. Each term's value is logged under its name with its
  weight applied (d/<name>, g/<name>); two different terms with one name are refused
  (`errors.ConfigError`): name them apart (`losses.term('r1_fake', ...)`,
  `losses.LeCam(name='lecam_hinged', hinged=True)`).

  Subclasses implement `d_terms` and `g_terms` and say what they read: `needs_critic` (the
  critic function, for penalties on D's input gradients), `g_needs_real` (D's real logits in
  the generator update), `per_sample_gradients` (a penalty on per-sample input gradients,
  wrong for a critic that mixes samples through batch norm), `needs_augment` (the
  experiment's augmentation, `LossInputs.augment`), `needs_generator` (the generator
  itself in its update, `LossInputs.generator`: path length). A stateful term returns its
  initial state from `init_state` ({its name: pytree of arrays}) and its next state from
  `update_state`, which the step calls after each critic update with that update's inputs
  (outside the gradient); the step then averages the state over devices. A term whose state
  follows the generator update (path length's running mean) returns its new entries from
  `g_terms_and_state` instead, which the step calls for the generator's terms.
  """
  needs_critic: bool = False
  g_needs_real: bool = False
  per_sample_gradients: bool = False
  needs_augment: bool = False
  needs_generator: bool = False

  def d_terms(self, inputs: LossInputs) -> dict[str, Array]:
    raise NotImplementedError

  def g_terms(self, inputs: LossInputs) -> dict[str, Array]:
    raise NotImplementedError

  def init_state(self) -> dict[str, Any]:
    return {}

  def update_state(self, state: Mapping[str, Any], inputs: LossInputs) -> dict[str, Any]:
    return dict(state)

  def g_terms_and_state(self, inputs: LossInputs) -> tuple[dict[str, Array], dict[str, Any]]:
    """(`g_terms(inputs)`, the state entries this generator update sets: {name: pytree},
    computed in the gradient's forward pass, taken outside it by the step; {} by default)."""
    return self.g_terms(inputs), {}

  def d_loss(self, inputs: LossInputs) -> Array:
    return sum(self.d_terms(inputs).values(), jnp.zeros(()))

  def g_loss(self, inputs: LossInputs) -> Array:
    return sum(self.g_terms(inputs).values(), jnp.zeros(()))

  @property
  def parts(self) -> tuple[tuple[Weight, 'Term'], ...]:
    return ((1.0, self),)

  def __add__(self, other: 'Term') -> 'Term':
    if isinstance(other, (int, float)) and other == 0:   # lets sum([...]) start from 0
      return self
    if isinstance(other, _PlainFunction):
      raise TypeError(other.message())
    if not isinstance(other, Term) and callable(other):
      raise TypeError(f'{getattr(other, "__name__", repr(other))} is a function, not a loss '
                      f'Term; make it one with '
                      f'losses.term(name, d=..., g=...) and add that.')
    if not isinstance(other, Term):
      return NotImplemented
    return Sum(self.parts + other.parts)

  __radd__ = __add__

  def weighted(self, weight: Weight) -> 'Term':
    """This term times `weight`: a number or a schedule (a function of the step)."""
    weight = _checked_weight(weight)
    return Sum(tuple((_times(weight, w), t) for w, t in self.parts))

  def __mul__(self, weight: Weight) -> 'Term':
    return self.weighted(weight)

  __rmul__ = __mul__


@dataclasses.dataclass(frozen=True, eq=False)
class Objective(Term):
  """An adversarial objective: a discriminator loss and a generator loss over logits.

  `g_fn(fake_logits=...)`, or `g_fn(real_logits=..., fake_logits=...)` when `g_needs_real`.
  """
  name: str
  d_fn: Callable[..., Array]
  g_fn: Callable[..., Array]
  g_needs_real: bool = False

  def d_terms(self, inputs):
    return {self.name: self.d_fn(real_logits=inputs.real_logits, fake_logits=inputs.fake_logits)}

  def g_terms(self, inputs):
    if self.g_needs_real:
      return {self.name: self.g_fn(real_logits=inputs.real_logits,
                                   fake_logits=inputs.fake_logits)}
    return {self.name: self.g_fn(fake_logits=inputs.fake_logits)}

  def __repr__(self):
    return self.name


@dataclasses.dataclass(frozen=True, eq=False)
class Regularizer(Term):
  """A discriminator-only term computed from `LossInputs` (it contributes nothing to G)."""
  name: str
  fn: Callable[[LossInputs], Array]
  needs_critic: bool = True
  per_sample_gradients: bool = True
  needs_augment: bool = False

  def d_terms(self, inputs):
    return {self.name: self.fn(_as_declared(inputs, self.name, self.needs_critic,
                                            self.needs_augment))}

  def g_terms(self, inputs):
    return {}

  def __repr__(self):
    return self.name


@dataclasses.dataclass(frozen=True, eq=False)
class Custom(Term):
  """A term from plain functions of `LossInputs` (`term(...)` builds one; see there)."""
  name: str
  d: Optional[Callable[[LossInputs], Array]] = None
  g: Optional[Callable[[LossInputs], Array]] = None
  needs_critic: bool = False
  g_needs_real: bool = False
  per_sample_gradients: bool = False
  needs_augment: bool = False
  needs_generator: bool = False

  def d_terms(self, inputs):
    if self.d is None:
      return {}
    return {self.name: self.d(_as_declared(inputs, self.name, self.needs_critic,
                                           self.needs_augment, self.needs_generator))}

  def g_terms(self, inputs):
    if self.g is None:
      return {}
    return {self.name: self.g(_as_declared(inputs, self.name, self.needs_critic,
                                           self.needs_augment, self.needs_generator))}

  def __repr__(self):
    return self.name


def term(name: str, *, d: Optional[Callable[[LossInputs], Array]] = None,
         g: Optional[Callable[[LossInputs], Array]] = None, needs_critic: bool = False,
         g_needs_real: bool = False, per_sample_gradients: bool = False,
         needs_augment: bool = False, needs_generator: bool = False) -> Term:
  """A loss term from plain Python functions of `LossInputs`, each returning a scalar.

  `d` is added to the discriminator's loss, `g` to the generator's (either may be None);
  the value is logged as d/<name> and g/<name>. Say what the functions read: `needs_critic`
  (inputs.critic, inputs.fake_critic), `g_needs_real` (inputs.real_logits and inputs.real in
  `g`), `per_sample_gradients` (a penalty on per-sample input gradients), `needs_augment`
  (inputs.augment), `needs_generator` (inputs.generator in `g`). Example, the relativistic
  average hinge loss (Jolicoeur-Martineau 2018; registered as `losses.rahinge`, written here
  as research code would):

      relu = jax.nn.relu
      rahinge = losses.term(
          'rahinge',
          d=lambda i: (relu(1 - (i.real_logits - i.fake_logits.mean())).mean()
                       + relu(1 + (i.fake_logits - i.real_logits.mean())).mean()),
          g=lambda i: (relu(1 + (i.real_logits - i.fake_logits.mean())).mean()
                       + relu(1 - (i.fake_logits - i.real_logits.mean())).mean()),
          g_needs_real=True)
  """
  if d is None and g is None:
    raise ValueError('pass d= or g= (a function of LossInputs returning a scalar)')
  return Custom(name, d, g, needs_critic, g_needs_real, per_sample_gradients, needs_augment,
                needs_generator)


@dataclasses.dataclass(frozen=True, eq=False)
class Sum(Term):
  """`sum_i w_i * term_i`; logged terms are named after their parts (weights applied).

  The same term given twice becomes one part with the sum of its weights; two different terms
  with one name are refused (their logs and states would merge).
  """
  summands: tuple[tuple[Weight, Term], ...]

  def __post_init__(self):
    merged: list[list[Any]] = []
    for weight, term_ in self.summands:
      for entry in merged:
        if entry[1] is term_:
          entry[0] = _plus(entry[0], weight)
          break
      else:
        merged.append([weight, term_])
    _check_distinct([t for _, t in merged])
    object.__setattr__(self, 'summands', tuple((w, t) for w, t in merged))

  @property
  def parts(self):
    return self.summands

  @property
  def needs_critic(self):
    return any(t.needs_critic for _, t in self.summands)

  @property
  def g_needs_real(self):
    return any(t.g_needs_real for _, t in self.summands)

  @property
  def per_sample_gradients(self):
    return any(t.per_sample_gradients for _, t in self.summands)

  @property
  def needs_augment(self):
    return any(t.needs_augment for _, t in self.summands)

  @property
  def needs_generator(self):
    return any(t.needs_generator for _, t in self.summands)

  def init_state(self):
    state = {}
    for _, t in self.summands:
      own = t.init_state()
      _refuse_shared_names(set(state) & set(own), 'state')
      state.update(own)
    return state

  def update_state(self, state, inputs):
    for _, t in self.summands:
      state = t.update_state(state, inputs)
    return dict(state)

  def _combine(self, which: str, inputs: LossInputs) -> dict[str, Array]:
    out: dict[str, Array] = {}
    for weight, term_ in self.summands:
      own = getattr(term_, which)(inputs)
      _refuse_shared_names(set(out) & set(own), which)
      if own:
        weight = _weight_at(weight, inputs.step)
        out.update({name: weight * value for name, value in own.items()})
    return out

  def d_terms(self, inputs):
    return self._combine('d_terms', inputs)

  def g_terms(self, inputs):
    return self._combine('g_terms', inputs)

  def g_terms_and_state(self, inputs):
    out: dict[str, Array] = {}
    updates: dict[str, Any] = {}
    for weight, term_ in self.summands:
      own, own_updates = term_.g_terms_and_state(inputs)
      _refuse_shared_names(set(out) & set(own), 'g_terms')
      _refuse_shared_names(set(updates) & set(own_updates), 'state')
      updates.update(own_updates)
      if own:
        weight = _weight_at(weight, inputs.step)
        out.update({name: weight * value for name, value in own.items()})
    return out, updates

  def __repr__(self):
    return ' + '.join(repr(t) if _is_number(w) and w == 1 else f'{_weight_repr(w)} * {t!r}'
                      for w, t in self.summands)


def _refuse_shared_names(shared, what: str) -> None:
  if shared:
    raise errors.ConfigError(
        f'two different loss terms both produce {what} {", ".join(sorted(map(repr, shared)))}; '
        f'give one of them another name (a Term subclass: other keys).')


def _check_distinct(terms: list[Term]) -> None:
  """Refuses two different terms with one `name` (terms without a name are checked when
  their values or states meet, in `Sum`)."""
  seen: dict[str, Term] = {}
  for t in terms:
    name = getattr(t, 'name', None)
    if not isinstance(name, str):
      continue
    if name in seen:
      raise errors.ConfigError(
          f'two different loss terms are both named {name!r} (their logs and states would '
          f'merge); give one another name, e.g. losses.term({name + "_2"!r}, ...) or '
          f'losses.LeCam(name={name + "_2"!r}).')
    seen[name] = t


# The authors' moving averages start at this value (google/lecam-gan third_party/utils.py
# `ema_losses(init=7777)`, StudioGAN src/utils/ops.py `LeCamEMA(init=7777)`).
LECAM_AUTHORS_INIT = 7777.0


@dataclasses.dataclass(frozen=True, eq=False)
class LeCam(Term):
  """LeCam regularisation (Tseng et al. 2021, eq. 4; `lecam_penalty`), a stateful term.

  Its state ({name: {'real', 'fake', 'count'}}) holds moving averages (decay `decay`) of D's
  mean real and fake logits over critic updates (the step updates the state after each critic
  update and averages it over devices, so every device holds the averages of the global batch
  means). `hinged`: the authors' code's variant (see `lecam_penalty`).

  `ema_start` None: the penalty of an update uses the zero-debiased averages of the updates
  before it (`lecam_anchors`). `ema_start` an integer: the authors' averages (google/lecam-gan,
  PyTorch-StudioGAN src/utils/ops.py `LeCamEMA.update` and src/worker.py lines 401-404): they
  start at 7777, each critic update first folds its own global mean logits in (detached),
  with decay 0 while the GAN step (`LossInputs.step`) is below `ema_start` and `decay` from
  it on, no debiasing, and the penalty reads the averages with that update in.

  The authors' code applies the penalty only after iteration 1,000; here it applies from the
  first update unless its weight is a schedule: `losses.lecam_term.weighted(
  optax.join_schedules([optax.constant_schedule(0.0), optax.constant_schedule(0.3)], [1001]))`
  applies 0.3 from step 1,001 on (StudioGAN's `current_step > 1000`), the averages being
  updated from the first step (see `Term`).
  """
  name: str = 'lecam'
  decay: float = 0.99
  hinged: bool = False
  ema_start: Optional[int] = None

  def init_state(self):
    start = 0.0 if self.ema_start is None else LECAM_AUTHORS_INIT
    return {self.name: {'real': jnp.full((), start, jnp.float32),
                        'fake': jnp.full((), start, jnp.float32),
                        'count': jnp.zeros((), jnp.int32)}}

  def _decay(self, inputs) -> Array:
    if inputs.step is None:
      raise errors.ConfigError(
          f'the loss term {self.name!r} (LeCam with ema_start={self.ema_start}) needs the step: '
          f'build the inputs with LossInputs(..., step=...) (the train step passes '
          f'GANState.step).')
    return jnp.where(inputs.step < self.ema_start, 0.0, self.decay)

  def update_state(self, state, inputs):
    decay = self.decay if self.ema_start is None else self._decay(inputs)
    return {**state, self.name: lecam_update(state[self.name], real_logits=inputs.real_logits,
                                             fake_logits=inputs.fake_logits, decay=decay)}

  def d_terms(self, inputs):
    if self.ema_start is None:
      alpha_r, alpha_f = lecam_anchors(inputs.state[self.name], decay=self.decay)
    else:   # the authors': this update's global mean logits folded in first, detached
      mean = inputs.device_mean or (lambda x: x)
      ema = lecam_update(
          inputs.state[self.name], decay=self._decay(inputs),
          real_logits=mean(jnp.mean(lax.stop_gradient(inputs.real_logits))),
          fake_logits=mean(jnp.mean(lax.stop_gradient(inputs.fake_logits))))
      alpha_r, alpha_f = ema['real'], ema['fake']
    return {self.name: lecam_penalty(real_logits=inputs.real_logits,
                                     fake_logits=inputs.fake_logits, ema_real=alpha_r,
                                     ema_fake=alpha_f, hinged=self.hinged)}

  def g_terms(self, inputs):
    return {}

  def __repr__(self):
    return self.name


@dataclasses.dataclass(frozen=True, eq=False)
class PathLength(Term):
  """Path length regularisation (Karras et al. 2020, eq. 4; official loss.py, the Greg
  phase), a generator-side stateful term (`path_length_penalty`).

  In the generator update, on `batch // batch_shrink` fresh latents of each device: ws =
  styles(z, c) (with style mixing when the generator mixes), images = synthesize(ws), y ~
  N(0, I) / sqrt(H W) (key `LossInputs.rng`), J^T y = d sum(images * y) / d ws, lengths =
  `path_lengths(J^T y)`; the penalty (lengths - a')^2 around the running mean a' =
  lerp(a, mean(lengths), decay), a' becoming the state {name: {'mean'}} (averaged over
  devices by the step; the official code keeps one per GPU). Weight it by pl_weight (2) and
  make it lazy every G_reg_interval (4) steps: `losses.lazy(2.0 * losses.path_length_term,
  4)`; a lazy step that skips it leaves the mean as it is. It reads `LossInputs.generator`
  (`needs_generator`), so the generator must expose `styles` and `synthesize` (StyleGAN2's).
  """
  name: str = 'path_length'
  decay: float = 0.01
  batch_shrink: int = 2
  needs_generator = True

  def __post_init__(self):
    if not 0 < self.decay <= 1:
      raise errors.ConfigError(f'PathLength(decay={self.decay!r}): the running mean\'s decay '
                               f'must be in (0, 1] (the official pl_decay is 0.01).')
    if (isinstance(self.batch_shrink, bool) or not isinstance(self.batch_shrink, int)
        or self.batch_shrink < 1):
      raise errors.ConfigError(f'PathLength(batch_shrink={self.batch_shrink!r}) must be an '
                               f'integer >= 1 (the official pl_batch_shrink is 2).')

  def init_state(self):
    return {self.name: {'mean': jnp.zeros((), jnp.float32)}}

  def d_terms(self, inputs):
    return {}

  def g_terms(self, inputs):
    return self.g_terms_and_state(inputs)[0]

  def g_terms_and_state(self, inputs):
    gen = _as_declared(inputs, self.name, False, False, True).generator
    if inputs.rng is None:
      raise errors.ConfigError(f'the loss term {self.name!r} draws its projections y from '
                               f'LossInputs.rng, which is None here; pass rng=.')
    n = gen.batch // self.batch_shrink
    if n < 1:
      raise errors.ConfigError(
          f'path length on {gen.batch} // {self.batch_shrink} = 0 examples per device: use a '
          f'per-device batch of at least {self.batch_shrink} or a smaller batch_shrink.')
    z, labels = gen.draw(n)
    ws = gen.styles(z, labels)
    images, pullback = jax.vjp(gen.synthesize, ws)
    y = jax.random.normal(inputs.rng, images.shape, images.dtype) / jnp.sqrt(
        float(images.shape[1] * images.shape[2]))
    (grads,) = pullback(y)
    penalty, new_mean = path_length_penalty(
        lengths=path_lengths(grads), pl_mean=inputs.state[self.name]['mean'],
        decay=self.decay)
    return {self.name: penalty}, {self.name: {'mean': lax.stop_gradient(new_mean)}}

  def __repr__(self):
    return self.name


@dataclasses.dataclass(frozen=True, eq=False)
class Lazy(Term):
  """`term` computed only every `every` GAN steps, weighted by `every` (`lazy` builds one).

  Lazy regularisation (Karras et al. 2020, "Analyzing and Improving the Image Quality of
  StyleGAN", section 3.1; official stylegan2-ada-pytorch training_loop.py: a phase of
  interval k runs when batch_idx % k == 0 with its loss multiplied by gain = k): on step s
  with s % every == 0 the term's values are every x its own, on the other steps 0. The
  choice is a `lax.cond` on `LossInputs.step`, so the skipped steps do not compute the term
  (nor its gradient); all critic updates of a step (`train.d_steps`) share the step's
  choice. The term's state (if any) is updated every update as without `Lazy`.

  The official loop applies the regulariser in an optimiser step of its own after the main
  one on the same minibatch (its 'Dreg' / 'Greg' phases); with `separate=True` the train
  step does the same (see `separate_phases`), otherwise (the default) its values join the
  update's sum (one optimiser step). Pair it with `optim.lazy_ratio(every)` (config
  `optim.{d,g}_reg_interval`) to scale the optimiser's rate and betas as the official code
  does. A separate phase is an optimiser update like any other: an optax schedule's count
  (learning rate, beta2) advances on it too, as torch's Adam step count does.
  """
  term: Term
  every: int
  separate: bool = False

  def __post_init__(self):
    if not isinstance(self.term, Term):
      raise TypeError(f'losses.lazy takes a Term, got {type(self.term).__name__}.')
    if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
      raise errors.ConfigError(f'losses.lazy(..., every={self.every!r}): every must be an '
                               f'integer >= 1 (the steps between computations of the term).')

  needs_critic = property(lambda self: self.term.needs_critic)
  g_needs_real = property(lambda self: self.term.g_needs_real)
  per_sample_gradients = property(lambda self: self.term.per_sample_gradients)
  needs_augment = property(lambda self: self.term.needs_augment)
  needs_generator = property(lambda self: self.term.needs_generator)

  def init_state(self):
    return self.term.init_state()

  def update_state(self, state, inputs):
    return self.term.update_state(state, inputs)

  def _check_step(self, inputs: LossInputs) -> None:
    if inputs.step is None:
      raise errors.ConfigError(
          f'{self!r} is computed every {self.every} steps and needs the step: build the '
          f'inputs with LossInputs(..., step=...) (the train step passes GANState.step).')

  def _lazily(self, which: str, inputs: LossInputs) -> dict[str, Array]:
    def computed():
      return {k: self.every * v for k, v in getattr(self.term, which)(inputs).items()}
    if self.every == 1:
      return computed()
    self._check_step(inputs)
    shapes = jax.eval_shape(computed)   # traced once for the skipped branch's zeros
    if not shapes:
      return {}
    return lax.cond(jnp.asarray(inputs.step) % self.every == 0, computed,
                    lambda: jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes))

  def d_terms(self, inputs):
    return self._lazily('d_terms', inputs)

  def g_terms(self, inputs):
    return self._lazily('g_terms', inputs)

  def g_terms_and_state(self, inputs):
    def computed():
      terms, updates = self.term.g_terms_and_state(inputs)
      return {k: self.every * v for k, v in terms.items()}, updates
    if self.every == 1:
      return computed()
    self._check_step(inputs)
    shapes = jax.eval_shape(computed)
    if not shapes[0] and not shapes[1]:
      return {}, {}
    # Skipped steps leave the state as it is (the official pl_mean moves on Greg steps only).
    skipped = lambda: ({k: jnp.zeros(x.shape, x.dtype) for k, x in shapes[0].items()},
                       {k: inputs.state[k] for k in shapes[1]})
    return lax.cond(jnp.asarray(inputs.step) % self.every == 0, computed, skipped)

  def ungated(self) -> Term:
    """The term with its gain `every` and no gating (the train step gates a separate phase
    as a whole)."""
    return self.term.weighted(self.every)

  def __repr__(self):
    separate = ', separate=True' if self.separate else ''
    return f'lazy({self.term!r}, every={self.every}{separate})'


def lazy(term_: Term, every: int, *, separate: bool = False) -> Term:
  """`term_` computed every `every` steps with weight x `every`, as StyleGAN2's lazy R1
  (`--cfg=cifar`: `losses.non_saturating + losses.lazy(0.005 * losses.r1_term, 16)`, gamma / 2
  = 0.005); see `Lazy`. `separate`: in an optimiser step of its own after the main one, as
  the official loop's 'Dreg' / 'Greg' phases. `every=1` is the term itself."""
  return Lazy(term_, every, bool(separate))


def separate_phases(loss: Term) -> tuple[Term, tuple[Lazy, ...]]:
  """(the main phase's term, the `Lazy(separate=True)` parts) of `loss`, each part's outer
  weight moved inside it; the main term is `loss` itself when it has no such part."""
  main, separate = [], []
  for weight, part in loss.parts:
    if isinstance(part, Lazy) and part.separate and part.every > 1:
      separate.append(Lazy(part.term.weighted(weight), part.every, True))
    else:
      main.append((weight, part))
  if not separate:
    return loss, ()
  return Sum(tuple(main)), tuple(separate)


def _balanced_consistency(i: LossInputs) -> Array:
  """bCR: the consistency penalty on the real batch plus on the fake batch, each with its
  own critic view and its own draw of T."""
  return (consistency_penalty(critic=i.critic, images=i.real,
                              augment=lambda x: i.augment(x, 0))
          + consistency_penalty(critic=i.critic_of_fakes(), images=i.fake,
                                augment=lambda x: i.augment(x, 1)))


minimax = Objective('minimax', minimax_d, minimax_g)
non_saturating = Objective('non_saturating', non_saturating_d, non_saturating_g)
wasserstein = Objective('wasserstein', wasserstein_d, wasserstein_g)
hinge = Objective('hinge', hinge_d, hinge_g)
least_squares = Objective('least_squares', least_squares_d, least_squares_g)
rpgan = Objective('rpgan', rpgan_d, rpgan_g, g_needs_real=True)
ragan = Objective('ragan', ragan_d, ragan_g, g_needs_real=True)
rahinge = Objective('rahinge', rahinge_d, rahinge_g, g_needs_real=True)

gradient_penalty_term = Regularizer(
    'gradient_penalty',
    lambda i: gradient_penalty(critic=i.critic, real=i.real, fake=i.fake, rng=i.rng))
r1_term = Regularizer('r1', lambda i: r1_penalty(critic=i.critic, real=i.real))
r2_term = Regularizer('r2', lambda i: r2_penalty(critic=i.critic_of_fakes(), fake=i.fake))
lecam_term = LeCam()
path_length_term = PathLength()
consistency_term = Regularizer('consistency', _balanced_consistency,
                               per_sample_gradients=False, needs_augment=True)

OBJECTIVES: dict[str, Objective] = {
    t.name: t for t in (minimax, non_saturating, wasserstein, hinge, least_squares, rpgan,
                        ragan, rahinge)}
REGULARIZERS: dict[str, Term] = {
    t.name: t for t in (gradient_penalty_term, r1_term, r2_term, lecam_term, consistency_term)}


def get(name: str, weight: Weight = 1.0) -> Term:
  """The objective or regulariser registered as `name`, times `weight` (a number or a
  schedule)."""
  if name in OBJECTIVES:
    found: Term = OBJECTIVES[name]
  elif name in REGULARIZERS:
    found = REGULARIZERS[name]
  else:
    raise errors.ConfigError(
        f'unknown loss {name!r}; known objectives: {", ".join(sorted(OBJECTIVES))}; '
        f'known regularizers: {", ".join(sorted(REGULARIZERS))}.')
  return found if _is_number(weight) and weight == 1.0 else found.weighted(weight)


def from_config(loss_config) -> Term:
  """`config.loss.name` plus `config.loss.regularizers` ({name: weight}) as one Term, each
  regulariser `lazy` every `config.loss.regularizer_interval` steps when that is > 1; plus
  path length (`PathLength`) of weight `config.loss.path_length` when > 0 (`pl_decay`,
  `pl_batch_shrink`), lazy every `config.loss.g_regularizer_interval` steps when > 1. With
  `config.loss.reg_phases='separate'` the lazy terms take optimiser steps of their own (the
  official Dreg / Greg phases; see `Lazy`).

  A weight is a number or a ramp's config block (`jaxgan.schedules`), e.g. R3GAN's gamma/2
  falling from 0.025 to 0.0025 along a half-cosine over 39062.5 generator steps:
  `{'r1': schedules.ramp_config('cosine', 0.025, 0.0025, 39062.5)}`.
  """
  if loss_config.name not in OBJECTIVES:
    raise errors.ConfigError(
        f'config.loss.name={loss_config.name!r} is not a known objective; choose one of '
        f'{", ".join(sorted(OBJECTIVES))} (regularizers go in config.loss.regularizers).')
  result: Term = OBJECTIVES[loss_config.name]
  regs: Mapping[str, float] = dict(loss_config.regularizers or {})
  every = checks.number('loss.regularizer_interval',
                        loss_config.get('regularizer_interval', 1),
                        integer=True, low=1, hint=' (1: every step; StyleGAN2: 16)')
  phases = loss_config.get('reg_phases', 'joined')
  errors.check_choice('loss.reg_phases', phases, ('joined', 'separate'))
  separate = phases == 'separate'
  known = {**REGULARIZERS, 'lecam': _lecam_from_config(loss_config)}
  for name, weight in regs.items():
    if name not in REGULARIZERS:
      raise errors.ConfigError(
          f'config.loss.regularizers.{name} is not a known regularizer; choose one of '
          f'{", ".join(sorted(REGULARIZERS))}.')
    hint = (' (the weight of the term; a negative one would reward what the term '
            'penalises)')
    if schedules.is_ramp(weight):
      weighted = known[name].weighted(
          schedules.ramp(f'loss.regularizers.{name}', weight, low=0, hint=hint))
    else:
      checks.number(f'loss.regularizers.{name}', weight, low=0, hint=hint)
      weighted = float(weight) * known[name]
    result = result + (lazy(weighted, every, separate=separate) if every > 1 else weighted)
  pl_weight = checks.number('loss.path_length', loss_config.get('path_length', 0.0), low=0,
                            hint=' (the path length weight; 0: off, StyleGAN2: 2)')
  if pl_weight > 0:
    g_every = checks.number('loss.g_regularizer_interval',
                            loss_config.get('g_regularizer_interval', 1), integer=True, low=1,
                            hint=' (1: every step; StyleGAN2: 4)')
    decay = checks.number('loss.pl_decay', loss_config.get('pl_decay', 0.01), low=0, high=1,
                          low_open=True, hint=' (the official pl_decay is 0.01)')
    shrink = checks.number('loss.pl_batch_shrink', loss_config.get('pl_batch_shrink', 2),
                           integer=True, low=1, hint=' (the official pl_batch_shrink is 2)')
    weighted = float(pl_weight) * PathLength(decay=float(decay), batch_shrink=int(shrink))
    result = result + (lazy(weighted, int(g_every), separate=separate) if g_every > 1
                       else weighted)
  else:
    for key, default in (('g_regularizer_interval', 1), ('pl_decay', 0.01),
                         ('pl_batch_shrink', 2)):
      if loss_config.get(key, default) != default:
        raise errors.ConfigError(
            f'config.loss.{key}={loss_config.get(key)!r} sets path length regularisation, '
            f'which is off; set config.loss.path_length (StyleGAN2: 2) or remove it.')
  if separate and not _has_separate(result):
    raise errors.ConfigError(
        'config.loss.reg_phases=\'separate\' gives lazy regularisers optimiser steps of '
        'their own, but none is lazy; set config.loss.regularizer_interval or '
        'g_regularizer_interval above 1, or reg_phases=\'joined\'.')
  return result


def _has_separate(loss: Term) -> bool:
  """Whether `loss` has a part in an optimiser step of its own (`separate_phases`)."""
  return bool(separate_phases(loss)[1])


def _lecam_from_config(loss_config) -> LeCam:
  """The 'lecam' regulariser of config.loss.lecam_hinged, lecam_decay and lecam_ema_start
  (see `LeCam`; the defaults give `lecam_term`)."""
  hinged = loss_config.get('lecam_hinged', False)
  if not isinstance(hinged, bool):
    raise errors.ConfigError(f'config.loss.lecam_hinged={hinged!r} must be True (the authors\' '
                             f'and StudioGAN\'s hinged penalty) or False (the paper\'s eq. 4).')
  decay = float(checks.number('loss.lecam_decay', loss_config.get('lecam_decay', 0.99), low=0,
                              high=1, high_open=True, hint=' (the moving averages\' decay)'))
  start = loss_config.get('lecam_ema_start', None)
  if start is not None:
    start = int(checks.number('loss.lecam_ema_start', start, integer=True, low=0,
                              hint=' (the step from which the averages decay; None: '
                                   'jaxgan\'s zero-debiased averages)'))
  return LeCam(decay=decay, hinged=hinged, ema_start=start)


def needs_critic(loss: Term) -> bool:
  """Whether the loss reads `LossInputs.critic` (a regulariser on D's input gradients)."""
  return bool(loss.needs_critic)
