"""Differentiable augmentation: DiffAugment's policies as pure, jittable JAX functions.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", arXiv:2006.10738) augments every image the discriminator sees, real and fake, in
both players' updates, with transformations that are differentiable w.r.t. the images, so
the generator's gradient flows through them. The three policies follow the authors'
reference implementation (mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py and
DiffAugment_tf.py):

* 'color': brightness (add b ~ U[-0.5, 0.5)), then saturation (scale each pixel's deviation
  from its mean over channels by s ~ U[0, 2)), then contrast (scale the deviation from the
  image's mean over all pixels and channels by c ~ U[0.5, 1.5)); one b, s, c per image.
* 'translation': out[i, j] = in[i + t_h, j + t_w], zero where i + t_h or j + t_w falls
  outside the image, with integers t ~ U{-shift, ..., shift} per image and axis and
  shift = int(size * 1/8 + 0.5).
* 'cutout': zero a square of side n = int(size * 1/2 + 0.5) per axis, its rows
  [o_h - n // 2, o_h - n // 2 + n) clipped to the image (columns alike), with the integer
  centre o ~ U{0, ..., size - n % 2} per image and axis.

Policies apply in the order written ('color,translation,cutout' is the paper's choice).

Conventions:

* Images are NHWC floats in [-1, 1] (the generator's output range, and the range the
  reference's GANs feed DiffAugment). Nothing is clipped after augmenting, as in the
  reference.
* Randomness is per example: `keys` holds one key per image (e.g. `steps.example_keys`,
  fold_in of the global example index), and image j's parameters are drawn from keys[j]
  alone, so its augmentation does not depend on the batch size or on the device holding it:
  a run on 8 devices augments exactly as one on 1. Each example key is used once, for one
  draw of 8 numbers u ~ U[0, 1) that fix all of the image's parameters whatever the policy
  (so the colour factors of an image are the same under 'color' and under
  'color,translation,cutout'); integers in [0, n) are floor(u n). Pass keys reserved for
  augmentation (e.g. fold_in a dedicated subkey), not keys used for anything else.
* Drawing and applying are separate: `draw_params` returns a dict of per-image arrays,
  `apply` is a deterministic function of the images and those arrays, and `augment` does
  both.
* `probability` p (ADA, Karras et al. 2020, "Training Generative Adversarial Networks with
  Limited Data", arXiv:2006.06676): each image is augmented by the whole policy with
  probability p, a Bernoulli draw from its own key, and passed through unchanged otherwise.
  (ADA draws one such decision per transformation; here one gates the whole policy.) p may
  be a traced scalar (from the training state); p <= 0 augments nothing and p >= 1 all.

In training (the end of this module): an `Augmentation` is a part of the experiment
(`Experiment.augmentation`; the built-in ones are `DiffAugment` and `ADAPipeline`, ADA's
official pipeline of jaxgan/augment_pipe.py, built from `config.augment` by `from_config`, or
None when config.augment.pipeline is 'diffaugment' and its policy ''; p is a constant, ADA's
adaptive p, or a `ProbabilityRamp` of the training steps, as R3GAN schedules it). Why a part
of the experiment rather than settings of the step: the experiment is the one value that says
what a run trains, and every part of it can be replaced by research code (`experiment.replace(
augmentation=MyAugmentation())`) without the step or the config knowing; the step only calls
the object's methods. The step applies it to every image D sees (real and fake, in
both players' updates, and inside the regularisers' critic calls), with per-example keys
from `steps.example_keys`, and keeps its state (ADA's adaptive p, a schedule's step count) in
`GANState.augment_state`.
"""

import dataclasses
import itertools
from typing import Any, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from jaxgan import augment_pipe, checks, errors, schedules

Array = jax.Array

POLICIES = ('color', 'translation', 'cutout')

TRANSLATION_RATIO = 0.125   # The reference's rand_translation(ratio=0.125).
CUTOUT_RATIO = 0.5          # The reference's rand_cutout(ratio=0.5).

# How many U[0, 1) numbers each quantity takes from its image's single draw.
_COUNTS = {'gate': 1, 'brightness': 1, 'saturation': 1, 'contrast': 1, 'translation': 2,
           'cutout': 2}
_DRAWS = tuple(_COUNTS)
_NUM_DRAWS = sum(_COUNTS.values())
_SPLITS = tuple(itertools.accumulate(_COUNTS.values()))[:-1]


def parse_policy(policy: str) -> tuple[str, ...]:
  """The policy names in `policy` ('' is none), in order; ConfigError on an unknown or
  repeated name."""
  if not isinstance(policy, str):
    raise errors.ConfigError(
        f'augmentation policy {policy!r} must be a comma-separated string of '
        f'{", ".join(repr(p) for p in POLICIES)} (or \'\' for none).')
  if not policy.strip():
    return ()
  names = tuple(name.strip() for name in policy.split(','))
  for name in names:
    if name not in POLICIES:
      raise errors.ConfigError(
          f'unknown augmentation policy {name!r} in {policy!r}; choose a comma-separated '
          f'subset of {", ".join(repr(p) for p in POLICIES)}.')
  if len(set(names)) != len(names):
    raise errors.ConfigError(
        f'augmentation policy {policy!r} names a policy twice; name each at most once.')
  return names


def translation_shift(size: int) -> int:
  """The largest shift along an axis of `size` pixels: int(size * 1/8 + 0.5) (reference)."""
  return int(size * TRANSLATION_RATIO + 0.5)


def cutout_size(size: int) -> int:
  """The side of the cut-out square along an axis of `size` pixels: int(size / 2 + 0.5)."""
  return int(size * CUTOUT_RATIO + 0.5)


def _check_probability(probability) -> None:
  if isinstance(probability, (int, float)) and not 0.0 <= probability <= 1.0:
    raise errors.ConfigError(
        f'augmentation probability {probability!r} is outside [0, 1]; pass a value in it.')


def draw_params(policy: str, keys: Array, image_shape: Sequence[int], *,
                probability: Union[float, Array] = 1.0) -> dict[str, Array]:
  """Each image's augmentation parameters, drawn from its own key in `keys` (shape (B,)).

  `image_shape` is the images' shape, (..., H, W, C); only H and W are read. Each key is used
  once, for 8 numbers u ~ U[0, 1); integers in [0, n) are floor(u n), uniform to within
  n 2^-23 (u has 23 random bits). Returns arrays with a leading batch axis:

  * 'augmented': bool (B,), u < probability: whether `apply` augments the image.
  * 'brightness', 'saturation', 'contrast' (for 'color'): float32 (B,), drawn from
    U[-0.5, 0.5), U[0, 2) and U[0.5, 1.5) (the reference's rand_brightness,
    rand_saturation, rand_contrast).
  * 'translation': int32 (B, 2), (t_h, t_w), each uniform over the integers in
    [-translation_shift(size), translation_shift(size)], inclusive.
  * 'cutout': int32 (B, 2), the square's centre (o_h, o_w), each uniform over the integers
    in [0, size - cutout_size(size) % 2], inclusive (the reference's randint(0, size + (1 -
    n % 2))).

  Only the entries that `policy` needs are present.
  """
  names = parse_policy(policy)
  _check_probability(probability)
  if len(image_shape) < 3:
    raise ValueError(f'image_shape {tuple(image_shape)} is not (..., H, W, C).')
  h, w = int(image_shape[-3]), int(image_shape[-2])
  shift = jnp.array([translation_shift(h), translation_shift(w)], jnp.int32)
  centres = jnp.array([h + 1 - cutout_size(h) % 2, w + 1 - cutout_size(w) % 2], jnp.int32)

  def integers(u, n):
    return jnp.minimum(jnp.floor(u * n).astype(jnp.int32), n - 1)

  def one(key):
    # One draw per example key, of every quantity whatever the policy (one random-bits call
    # compiles several times faster than one per quantity, and keeps draws policy-independent).
    u = dict(zip(_DRAWS, jnp.split(jax.random.uniform(key, (_NUM_DRAWS,), jnp.float32),
                                   _SPLITS)))
    params = {'augmented': u['gate'][0] < probability}
    if 'color' in names:
      params['brightness'] = u['brightness'][0] - 0.5   # torch.rand(...) - 0.5
      params['saturation'] = u['saturation'][0] * 2.0   # torch.rand(...) * 2
      params['contrast'] = u['contrast'][0] + 0.5       # torch.rand(...) + 0.5
    if 'translation' in names:
      params['translation'] = integers(u['translation'], 2 * shift + 1) - shift
    if 'cutout' in names:
      params['cutout'] = integers(u['cutout'], centres)
    return params

  return jax.vmap(one)(keys)


def _per_image(v: Array, dtype) -> Array:
  return v.astype(dtype)[:, None, None, None]


def color(images: Array, *, brightness: Array, saturation: Array, contrast: Array) -> Array:
  """Brightness, then saturation, then contrast with per-image factors of shape (B,)
  (Zhao et al. 2020's 'color': x + b; (x - mean_c x) s + mean_c x; (x - mean x) c + mean x)."""
  x = images + _per_image(brightness, images.dtype)
  mean = jnp.mean(x, axis=-1, keepdims=True)
  x = (x - mean) * _per_image(saturation, images.dtype) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * _per_image(contrast, images.dtype) + mean


def translate(images: Array, shifts: Array) -> Array:
  """out[b, i, j] = images[b, i + shifts[b, 0], j + shifts[b, 1]], zero outside the image
  (Zhao et al. 2020's 'translation'); a gather, so linear and differentiable in `images`."""
  _, h, w, _ = images.shape
  rows = jnp.arange(h)[None, :] + shifts[:, 0:1]   # (B, H)
  cols = jnp.arange(w)[None, :] + shifts[:, 1:2]   # (B, W)
  gathered = jax.vmap(lambda img, r, c: img[r][:, c])(
      images, jnp.clip(rows, 0, h - 1), jnp.clip(cols, 0, w - 1))
  inside = (((rows >= 0) & (rows < h))[:, :, None, None]
            & ((cols >= 0) & (cols < w))[:, None, :, None])
  return jnp.where(inside, gathered, jnp.zeros((), images.dtype))


def cutout(images: Array, centres: Array) -> Array:
  """Zeroes, in image b, the square of side cutout_size(size) per axis whose rows are
  [centres[b, 0] - n_h // 2, ... + n_h) and columns likewise, clipped to the image
  (Zhao et al. 2020's 'cutout'); a mask product, so differentiable in `images`."""
  _, h, w, _ = images.shape
  n_h, n_w = cutout_size(h), cutout_size(w)
  top = centres[:, 0:1] - n_h // 2
  left = centres[:, 1:2] - n_w // 2
  rows, cols = jnp.arange(h)[None, :], jnp.arange(w)[None, :]
  in_rows = (rows >= top) & (rows < top + n_h)     # (B, H)
  in_cols = (cols >= left) & (cols < left + n_w)   # (B, W)
  keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
  return images * keep[..., None].astype(images.dtype)


def apply(images: Array, params: dict[str, Array], policy: str) -> Array:
  """`policy`'s transformations of NHWC `images` with `params` from `draw_params`, in the
  policy's order; images whose params['augmented'] is False are returned unchanged."""
  names = parse_policy(policy)
  if images.ndim != 4:
    raise ValueError(f'images of shape {images.shape} are not NHWC.')
  out = images
  for name in names:
    if name == 'color':
      out = color(out, brightness=params['brightness'], saturation=params['saturation'],
                  contrast=params['contrast'])
    elif name == 'translation':
      out = translate(out, params['translation'])
    else:
      out = cutout(out, params['cutout'])
  if names and 'augmented' in params:
    out = jnp.where(params['augmented'][:, None, None, None], out, images)
  return out


def augment(images: Array, keys: Array, policy: str = 'color,translation,cutout', *,
            probability: Union[float, Array] = 1.0) -> Array:
  """DiffAugment (Zhao et al. 2020) of NHWC `images` in [-1, 1], image j drawn from keys[j];
  each image is augmented with `probability` (ADA-style, Karras et al. 2020), which may be a
  traced scalar. `policy` is static; '' returns `images`."""
  if images.ndim != 4:
    raise ValueError(f'images of shape {images.shape} are not NHWC.')
  if keys.shape[0] != images.shape[0]:
    raise ValueError(f'{keys.shape[0]} keys for {images.shape[0]} images; pass one per image.')
  if not parse_policy(policy):
    _check_probability(probability)
    return images
  params = draw_params(policy, keys, images.shape, probability=probability)
  return apply(images, params, policy)


# ---------------------------------------------------------------------------------------------
# Augmentation as a part of the experiment, and ADA's adaptive probability.
# ---------------------------------------------------------------------------------------------

class Augmentation:
  """What the train step needs of a differentiable augmentation; subclass it for your own.

  `__call__(images, keys, probability=p)` returns the images as D sees them: NHWC images
  augmented image by image, image j drawn from keys[j] alone (so 8 devices augment as 1),
  each with probability p, differentiable in `images` (G's gradient flows through it).
  `probability_of(state)` is p in the GAN state's `augment_state` (a constant, or ADA's
  adaptive p). `init_state()` is that state at step 0 (a dict of arrays; {} for none);
  `update_state(state, rt=, num_real=)` is its next value, called once per step outside the
  gradient with rt = E[sign(D(x_real))] over the step's critic updates and devices and the
  number of real images D saw in the step; it must be a deterministic function of these
  (identical on every device). `metrics(state)` are scalars logged as aug/<name>.
  `example_shape_error(shape)` is one sentence on why the augmentation cannot transform
  examples of that shape (the experiment refuses them with it), or None.
  """

  def __call__(self, images: Array, keys: Array, *, probability) -> Array:
    raise NotImplementedError

  def init_state(self) -> dict[str, Array]:
    return {}

  def probability_of(self, state: Mapping[str, Array]) -> Union[float, Array]:
    del state
    return 1.0

  def update_state(self, state: Mapping[str, Array], *, rt: Array,
                   num_real: Union[int, Array]) -> dict[str, Array]:
    del rt, num_real
    return dict(state)

  def metrics(self, state: Mapping[str, Array]) -> dict[str, Array]:
    del state
    return {}

  def example_shape_error(self, shape: Sequence[int]) -> Optional[str]:
    """Why this augmentation cannot transform examples of `shape` (one sentence saying what
    to do; the experiment raises it as a ConfigError before training), or None."""
    del shape
    return None


@dataclasses.dataclass(frozen=True)
class ADA:
  """ADA's adaptive augmentation probability (Karras et al. 2020, section 3).

  Every `interval` steps, p <- clip(p + sign(r_t - target) * n / (kimg * 1000), 0, max_p),
  r_t = E[sign(D(x_real))] over the interval's critic updates (the overfitting heuristic of
  eq. 1 of the paper, on the augmented reals D trains on) and n the real images D saw in it:
  p can move from 0 to 1 in `kimg` thousand images (ADA's defaults: target 0.6, 4
  minibatches, 500 kimg; ADA bounds p below only, at 0: `max_p` 1 bounds it where it stops
  mattering).
  """
  target: float = 0.6
  interval: int = 4
  kimg: float = 500.0
  max_p: float = 1.0


def ada_adjust(p, rt, num_images, *, target: float, kimg: float, max_p: float):
  """ADA's update of p after an interval with mean r_t `rt` over `num_images` real images."""
  return jnp.clip(p + jnp.sign(rt - target) * num_images / (kimg * 1000.0), 0.0, max_p)


@dataclasses.dataclass(frozen=True)
class ProbabilityRamp:
  """p along a ramp of training steps (jaxgan/schedules.py: 'cosine', 'linear' or 'step' from
  `init_value` at step 0 to `end_value` at `steps`), as R3GAN schedules its augmentation
  probability instead of adapting it (brownvc/R3GAN train.py, line 193: 0 -> 0.55 along the
  half-cosine over 20M images). A dataclass rather than the ramp's function so that its repr
  (the run's record) says what it is."""
  name: str = 'cosine'
  init_value: float = 0.0
  end_value: float = 0.0
  steps: float = 1.0

  def __post_init__(self):
    self._schedule()   # ConfigError on a bad field, when it is made

  def _schedule(self):
    return schedules.ramp('augment.probability_schedule', dataclasses.asdict(self), low=0,
                          high=1, hint=' (an augmentation probability)')

  def __call__(self, step):
    return self._schedule()(step)


class _Probability(Augmentation):
  """The probability p of an augmentation with fields `probability`, `ada` (an `ADA`, or None)
  and `schedule` (a `ProbabilityRamp`, or None): a constant `probability`; ADA's adaptive p
  starting at `probability`; or p = schedule(steps so far).

  State with ADA: {'p': the current p, 'rt_sum': the sum of the interval's per-step r_t,
  'steps': steps so far in the interval, 'images': real images so far in the interval}; with a
  schedule: {'step': the training steps so far}; otherwise {}.
  """

  def _check_probability_fields(self):
    _check_probability(self.probability)
    if self.ada is not None and self.schedule is not None:
      raise errors.ConfigError('an augmentation probability is either adapted (ADA) or '
                               'scheduled, not both; drop one of them.')
    if self.ada is not None and self.probability > self.ada.max_p:
      raise errors.ConfigError(f'the starting augmentation probability {self.probability} is '
                               f'above ADA\'s max_p {self.ada.max_p}; lower it.')

  def init_state(self):
    if self.schedule is not None:
      return {'step': jnp.zeros((), jnp.int32)}
    if self.ada is None:
      return {}
    return {'p': jnp.asarray(self.probability, jnp.float32),
            'rt_sum': jnp.zeros((), jnp.float32), 'steps': jnp.zeros((), jnp.int32),
            'images': jnp.zeros((), jnp.float32)}

  def probability_of(self, state):
    if self.schedule is not None:
      return self.schedule(state['step'])
    return self.probability if self.ada is None else state['p']

  def update_state(self, state, *, rt, num_real):
    if self.schedule is not None:
      return {'step': state['step'] + 1}
    if self.ada is None:
      return dict(state)
    rt_sum = state['rt_sum'] + rt
    steps = state['steps'] + 1
    images = state['images'] + num_real
    due = steps >= self.ada.interval
    adjusted = ada_adjust(state['p'], rt_sum / steps.astype(jnp.float32), images,
                          target=self.ada.target, kimg=self.ada.kimg, max_p=self.ada.max_p)
    zero = jnp.zeros_like
    return {'p': jnp.where(due, adjusted, state['p']),
            'rt_sum': jnp.where(due, zero(rt_sum), rt_sum),
            'steps': jnp.where(due, zero(steps), steps),
            'images': jnp.where(due, zero(images), images)}

  def metrics(self, state):
    if self.schedule is not None:
      return {'p': jnp.asarray(self.schedule(state['step']), jnp.float32)}
    return {} if self.ada is None else {'p': state['p']}


@dataclasses.dataclass(frozen=True)
class DiffAugment(_Probability):
  """DiffAugment (Zhao et al. 2020) with `policy` ('color,translation,cutout', ...), each
  image augmented with probability `probability`, or, with `ada`, with ADA's adaptive p
  starting at `probability` (ADA starts at 0), or with p along `schedule` (see `_Probability`
  for the state).
  """
  policy: str = 'color,translation,cutout'
  probability: float = 1.0
  ada: Optional[ADA] = None
  schedule: Optional[ProbabilityRamp] = None

  def __post_init__(self):
    if not parse_policy(self.policy):
      raise errors.ConfigError('DiffAugment needs a policy; pass a comma-separated subset of '
                               f'{", ".join(repr(p) for p in POLICIES)} (no augmentation: '
                               f'Experiment.augmentation=None).')
    self._check_probability_fields()

  def __call__(self, images, keys, *, probability):
    return augment(images, keys, self.policy, probability=probability)

  def example_shape_error(self, shape):
    shape = tuple(shape)
    if len(shape) == 3:
      return None
    return (f'the augmentation {self.policy!r} transforms images (H, W, C), but the data\'s '
            f'examples have shape {shape}; set config.augment.policy=\'\' (or pass '
            f'Experiment(augmentation=None), or an augmentation of your own for them).')


@dataclasses.dataclass(frozen=True)
class ADAPipeline(_Probability):
  """ADA's official augmentation pipeline (jaxgan/augment_pipe.py: `pipe`, an
  `augment_pipe.AugmentPipe`, e.g. `AugmentPipe.from_preset('bgc')`), each of its
  transformations applied to an image with probability p * its multiplier, p constant
  (`probability`), adapted (`ada`) or scheduled (`schedule`) as in `_Probability`.
  """
  pipe: augment_pipe.AugmentPipe = augment_pipe.AugmentPipe.from_preset('bgc')
  probability: float = 1.0
  ada: Optional[ADA] = None
  schedule: Optional[ProbabilityRamp] = None

  def example_shape_error(self, shape: Sequence[int]) -> Optional[str]:
    """Why the pipeline cannot transform examples of `shape` (one sentence), or None."""
    shape = tuple(shape)
    if len(shape) != 3 or shape[-1] not in (1, 3):
      return (f'the ADA pipeline transforms RGB or grey images (H, W, 3 or 1), but the data\'s '
              f'examples have shape {shape}; set config.augment.pipeline=\'diffaugment\' and '
              f'config.augment.policy=\'\' (or pass Experiment(augmentation=None)).')
    pad = augment_pipe.FILTER_PAD
    if self.pipe.imgfilter > 0 and min(shape[:2]) <= pad:
      return (f'the ADA pipeline\'s image-space filtering reflects {pad} pixels, so it needs '
              f'images of at least {pad + 1} pixels a side (as the official code), but the '
              f'data\'s are {shape[0]}x{shape[1]}; choose a preset without \'imgfilter\' (e.g. '
              f'\'bgc\').')
    return None

  def __post_init__(self):
    if not isinstance(self.pipe, augment_pipe.AugmentPipe):
      raise errors.ConfigError(f'ADAPipeline.pipe must be a jaxgan.augment_pipe.AugmentPipe, '
                               f'got {type(self.pipe).__name__}.')
    if not self.pipe.multipliers:
      raise errors.ConfigError('the ADA pipeline has every multiplier at 0, so it would '
                               'augment nothing; set a preset or a multiplier.')
    self._check_probability_fields()

  def __call__(self, images, keys, *, probability):
    return self.pipe(images, keys, probability=probability)


PIPELINES = ('diffaugment', 'ada')


def from_config(cfg) -> Optional[Augmentation]:
  """The augmentation `config.augment` describes: a `DiffAugment` (pipeline 'diffaugment'; None
  when its policy is '', off) or an `ADAPipeline` (pipeline 'ada').

  Checks each key of the section as it reads it (ConfigError naming the key); the policy is
  parsed once, by `DiffAugment`, the preset once, by `AugmentPipe.from_preset`. A key the
  chosen pipeline does not read is refused unless it is at its default.
  """
  pipeline = cfg.get('pipeline', 'diffaugment')
  errors.check_choice('augment.pipeline', pipeline, PIPELINES)
  policy = cfg.policy
  if pipeline == 'ada':
    if not (isinstance(policy, str) and not policy.strip()):
      raise errors.ConfigError(f'config.augment.policy={policy!r} picks DiffAugment\'s '
                               f'policies, but config.augment.pipeline is \'ada\' (its '
                               f'transformations come from config.augment.ada_preset); set '
                               f'policy to \'\'.')
    off = False
  else:
    off = isinstance(policy, str) and not policy.strip()
    for key, default in (('ada_preset', 'bgc'), ('ada_multipliers', {})):
      value = cfg.get(key, default)
      if (dict(value) if key == 'ada_multipliers' else value) != default:
        raise errors.ConfigError(f'config.augment.{key}={value!r} is read by the ADA pipeline '
                                 f'only; set config.augment.pipeline=\'ada\' or remove it.')
  p = checks.number('augment.probability', cfg.probability, low=0, high=1)
  if not isinstance(cfg.ada, bool):
    raise errors.ConfigError(f'config.augment.ada={cfg.ada!r} must be True or False.')
  schedule = _schedule_from_config(cfg.get('probability_schedule'))
  if schedule is not None:
    if cfg.ada:
      raise errors.ConfigError('config.augment.probability_schedule sets p, so ADA cannot adapt '
                               'it; set config.augment.ada=False or the schedule\'s name to '
                               '\'constant\'.')
    if p != 1.0:
      raise errors.ConfigError(f'config.augment.probability={p!r} is not read when '
                               f'config.augment.probability_schedule sets p; leave it at 1.0.')
    if off:
      raise errors.ConfigError('config.augment.probability_schedule schedules the probability '
                               'of an augmentation, but config.augment.policy is \'\'; set a '
                               'policy (or config.augment.pipeline=\'ada\').')
  ada = None
  if cfg.ada:
    if off:
      raise errors.ConfigError('config.augment.ada=True adapts the probability of an '
                               'augmentation, but config.augment.policy is \'\'; set a policy '
                               '(e.g. \'color,translation,cutout\').')
    ada = ADA(
        target=float(checks.number('augment.ada_target', cfg.ada_target, low=0, high=1,
                                   low_open=True, high_open=True, hint=' (ADA: 0.6)')),
        interval=checks.number('augment.ada_interval', cfg.ada_interval, integer=True, low=1,
                               hint=' (steps between adjustments; ADA: 4)'),
        kimg=float(checks.number('augment.ada_kimg', cfg.ada_kimg, low=0, low_open=True,
                                 hint=' (thousands of images for p to move by 1; ADA: 500)')),
        max_p=float(checks.number('augment.ada_max_p', cfg.ada_max_p, low=0, high=1,
                                  low_open=True)))
    if p > ada.max_p:
      raise errors.ConfigError(f'config.augment.probability={p!r} (ADA\'s starting p) is above '
                               f'config.augment.ada_max_p={cfg.ada_max_p!r}; lower it.')
  if off:
    return None
  if pipeline == 'ada':
    return ADAPipeline(pipe=_pipe_from_config(cfg), probability=float(p), ada=ada,
                       schedule=schedule)
  try:
    return DiffAugment(policy=policy, probability=float(p), ada=ada, schedule=schedule)
  except errors.ConfigError as e:   # the probabilities are checked above: the policy's error
    raise errors.ConfigError(f'config.augment.policy={policy!r}: {e}') from None


def _schedule_from_config(block) -> Optional[ProbabilityRamp]:
  """config.augment.probability_schedule as a `ProbabilityRamp`; None for 'constant'."""
  if block is None:
    return None
  errors.check_choice('augment.probability_schedule.name', block.get('name'),
                      ('constant',) + schedules.RAMPS)
  if block['name'] == 'constant':
    return None
  schedules.ramp('augment.probability_schedule', block, low=0, high=1,
                 hint=' (an augmentation probability)')   # every field checked, named
  return ProbabilityRamp(name=block['name'], init_value=float(block['init_value']),
                         end_value=float(block['end_value']), steps=float(block['steps']))


def _pipe_from_config(cfg) -> augment_pipe.AugmentPipe:
  """config.augment.ada_preset with config.augment.ada_multipliers' overrides."""
  overrides = dict(cfg.get('ada_multipliers', {}))
  for name, value in overrides.items():
    if name not in augment_pipe.TRANSFORMS:
      raise errors.ConfigError(
          f'config.augment.ada_multipliers names {name!r}, not a transformation of the ADA '
          f'pipeline; choose among {", ".join(repr(t) for t in augment_pipe.TRANSFORMS)}.')
    checks.number(f'augment.ada_multipliers.{name}', value, low=0,
                  hint=' (a probability multiplier; the official presets use 0.5 and 1)')
  return augment_pipe.AugmentPipe.from_preset(cfg.get('ada_preset', 'bgc'), **overrides)


def is_augmentation(obj: Any) -> bool:
  """Whether `obj` has what the step calls (an `Augmentation`, or an object like one)."""
  return all(callable(getattr(obj, name, None)) for name in
             ('__call__', 'init_state', 'probability_of', 'update_state', 'metrics'))
