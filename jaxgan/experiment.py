"""The experiment: every part of a GAN run as one typed value, built once.

  experiment = jaxgan.build(config)                   # parts from a config, all checked
  experiment = experiment.replace(loss=my_loss, g_optimizer=optax.adam(schedule, b1=0.5))
  experiment = experiment.replace(loop=experiment.loop.replace(num_steps=20_000))
  state = jaxgan.train(experiment, workdir)           # checkpoints, resume, logs, evaluation

An `Experiment` holds the generator and discriminator (flax modules), the loss `Term`, both
optax transformations, the data source, the evaluators, the differentiable augmentation of
D's inputs (an `augment.Augmentation`, or None; see jaxgan/augment.py for why it is a part
here) and the typed values the training loop and step read: `z_dim`, `num_classes`, `loop`
(a `Loop`: steps, batch, critic updates, seed, checkpoint / log / sample / evaluation
cadence), `ema` (an `EMA`, or None: the one place the generator EMA is decided) and `d_clip`.
`build` fills every one of them from a config; after that nothing reads the config, which is
kept only as the provenance written to config.json (None for an experiment made in code,
which then writes no config.json). The experiment owns its compiled functions (the train step
per device set, the sampler): they are built on first use, shared by every run of this
experiment in the process, and freed with it.
"""

import dataclasses
import functools
import json
import os
from typing import Any, Iterator, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config as config_lib
from jaxgan import data as data_lib
from jaxgan import augment, errors, losses, models, state as state_lib, steps, validation
from jaxgan import evaluation as evaluation_lib
from jaxgan import schedules
from jaxgan import standing as standing_lib
from jaxgan import workdir as workdir_lib

PARTS = ('generator', 'discriminator', 'loss', 'g_optimizer', 'd_optimizer', 'data',
         'evaluators', 'augmentation')
# The typed values the loop and the step read: `build` fills them, `replace` may swap them.
VALUES = ('z_dim', 'num_classes', 'loop', 'ema', 'd_clip', 'evaluation')

_DEFAULT = config_lib.default()   # each default once: Loop's defaults are the config's


def _check_int(owner: str, name: str, value, minimum: int, maximum: Optional[int] = None):
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
      or (maximum is not None and value > maximum)):
    bound = f'in [{minimum}, {maximum}]' if maximum is not None else f'>= {minimum}'
    raise errors.ConfigError(f'{owner}.{name}={value!r} must be an integer {bound}.')


@dataclasses.dataclass(frozen=True)
class Loop:
  """What the training loop reads: how long, how big, how often (the config's `train`, `log`,
  `eval.every_steps` and `data.prefetch`; `build` fills it, research code may make one).

  num_steps: generator updates. batch_size: global, over all devices and hosts. d_steps:
  critic updates per generator update. seed: the run's keys (init, z, the sample grid's z).
  checkpoint_every / keep_checkpoints: save cadence and how many to keep. log_every: scalars
  to TensorBoard, metrics.jsonl and the console. samples_every / num_samples: the sample
  grid of a fixed z (0: never). attention_every: SAGAN attention figures (0: never).
  eval_every: the evaluators' cadence (0: no evaluation). prefetch: batches staged on the
  devices ahead of the step. g_real_batch: the real images a relativistic generator loss
  (one that `g_needs_real`) reads: 'shared', the last critic update's batch (scored by the
  updated critic, as that update augmented it; under phase_order='g_first' the first
  critic update's, scored by the critic G's update plays against); 'own', one more real
  batch per step for the generator's update, scored by the updated critic and augmented
  with a fresh draw, as R3GAN's official loop does (training_loop.py draws a real batch for
  the D phase and another for the G phase). 'own' reads d_steps + 1 batches per step, and is refused for a
  loss that reads no real images in the generator's update. fake_labels: the labels a
  conditional experiment's fakes are made and scored with: 'uniform', drawn uniformly per
  example; 'real', those of the update's real batch (each critic update its own batch's,
  the generator update the batch `g_real_batch` gives it), so a relativistic loss pairs a
  real and a fake of one class, as R3GAN's official loop does (R3GAN/Trainer.py conditions
  G(z, c) and D on the phase's real labels c). 'real' is refused for unconditional ones.
  phase_order: the players' order in a step: 'd_first', the critic updates, then the
  generator's update against the updated critic (R3GAN's official loop, StudioGAN's);
  'g_first', the generator's update (and its lazy regularisation phase) against the critic
  as the step found it, then the critic updates against the updated generator, as
  StyleGAN2-ADA's official loop runs Gmain, Greg, Dmain, Dreg. With 'g_first' and
  g_real_batch='shared' a relativistic generator loss reads the first critic update's real
  batch (the official phases of an iteration share its reals).
  """
  num_steps: int = _DEFAULT.train.num_steps
  batch_size: int = _DEFAULT.train.batch_size
  d_steps: int = _DEFAULT.train.d_steps
  seed: int = _DEFAULT.train.seed
  checkpoint_every: int = _DEFAULT.train.checkpoint_every
  keep_checkpoints: int = _DEFAULT.train.keep_checkpoints
  log_every: int = _DEFAULT.log.every_steps
  samples_every: int = _DEFAULT.log.samples_every
  num_samples: int = _DEFAULT.log.num_samples
  attention_every: int = _DEFAULT.log.attention_every
  eval_every: int = _DEFAULT.eval.every_steps
  prefetch: int = _DEFAULT.data.prefetch
  g_real_batch: str = _DEFAULT.train.g_real_batch
  fake_labels: str = _DEFAULT.train.fake_labels
  phase_order: str = _DEFAULT.train.phase_order

  def __post_init__(self):
    # The ranges are config.LOOP's (validate_loop checks a config's keys by the same table);
    # numpy integers from research code count as integers.
    for name in config_lib.LOOP:
      value = getattr(self, name)
      if isinstance(value, np.integer):
        object.__setattr__(self, name, int(value))
      config_lib.check_loop_value(name, getattr(self, name), config=False)
    errors.check_arg('Loop.g_real_batch', self.g_real_batch, steps.G_REAL_BATCHES)
    errors.check_arg('Loop.fake_labels', self.fake_labels, steps.FAKE_LABELS)
    errors.check_arg('Loop.phase_order', self.phase_order, steps.PHASE_ORDERS)

  def replace(self, **values) -> 'Loop':
    """A copy with `values` changed (checked as a new Loop is)."""
    return dataclasses.replace(self, **values)

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Loop':
    t, log = config.train, config.log
    return cls(num_steps=t.num_steps, batch_size=t.batch_size, d_steps=t.d_steps, seed=t.seed,
               checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints,
               log_every=log.every_steps, samples_every=log.samples_every,
               num_samples=log.num_samples, attention_every=log.attention_every,
               eval_every=config.eval.every_steps, prefetch=config.data.prefetch,
               g_real_batch=t.g_real_batch, fake_labels=t.fake_labels,
               phase_order=t.phase_order)

  def write_to(self, config: ml_collections.ConfigDict) -> None:
    """Sets the config keys this Loop comes from to its values (config.json's record)."""
    t, log = config.train, config.log
    (t.num_steps, t.batch_size, t.d_steps, t.seed, t.checkpoint_every, t.keep_checkpoints) = (
        self.num_steps, self.batch_size, self.d_steps, self.seed, self.checkpoint_every,
        self.keep_checkpoints)
    (log.every_steps, log.samples_every, log.num_samples, log.attention_every) = (
        self.log_every, self.samples_every, self.num_samples, self.attention_every)
    config.eval.every_steps, config.data.prefetch = self.eval_every, self.prefetch
    t.g_real_batch, t.fake_labels, t.phase_order = (self.g_real_batch, self.fake_labels,
                                                    self.phase_order)


@dataclasses.dataclass(frozen=True)
class EMA:
  """An exponential moving average of the generator's weights, which samples and evaluations
  then use (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training";
  StudioGAN / compare_gan): ema <- beta * ema + (1 - beta) * params after every generator
  update from step `start` on, a copy of the live weights before it. An experiment without
  one (`ema=None`) keeps no second copy of the generator in its state or checkpoints.

  beta is given one of two ways:

  * `decay`: a constant beta (StudioGAN, compare_gan), e.g. `EMA(decay=0.9999)`.
  * `half_life_images`: StyleGAN2's half-life in images (Karras et al. 2020; the official
    training_loop's `ema_kimg * 1000`): beta = 0.5 ** (batch / h) for the global batch, so
    the weight of an update halves every h images whatever the batch. With `rampup` (r,
    StyleGAN2-ADA's `ema_rampup`, 0.05 for `--cfg=cifar`) the half-life is min(h, r * n),
    n = step * batch the images seen before the update, so the EMA follows the weights
    closely early on (beta = 0 at step 0: a copy). The step computes beta from its step
    count as the official loop does: `EMA(half_life_images=500_000, rampup=0.05)`.
    `half_life_images` may also be a function of the generator step (R3GAN: a half-cosine
    from 0 to 5M images, `jaxgan.schedules.ramp`), evaluated by the step.

  `state`: what the EMA generator samples with besides its averaged weights.
  * 'live' (the default): the live generator's state (`GANState.g_state`: batch norm's running
    statistics, spectral norm's vectors, StyleGAN2's w_avg), as StyleGAN2-ADA's official loop
    (`b_ema.copy_(b)` each step) and compare_gan do.
  * 'average': an EMA of that state with the same beta (`GANState.ema_state`; its floating
    leaves averaged, integer leaves copied), as PyTorch-StudioGAN's `Ema` lerps G's buffers:
    its BigGAN's G_ema samples with averaged batch-norm statistics. Before `start` a copy.
  """
  decay: Optional[float] = None
  start: int = 0
  half_life_images: Optional[float] = None
  rampup: Optional[float] = None
  state: str = 'live'

  def __post_init__(self):
    def number(value):
      return not isinstance(value, bool) and isinstance(value, (int, float))
    if (self.decay is None) == (self.half_life_images is None):
      raise errors.ConfigError(
          'EMA takes one of decay= (e.g. 0.9999) and half_life_images= (StyleGAN2\'s ema_kimg '
          '* 1000, e.g. 10_000); pass ema=None for no EMA.')
    if self.decay is not None and (not number(self.decay) or not 0.0 < self.decay < 1.0):
      raise errors.ConfigError(f'EMA.decay={self.decay!r} must be in (0, 1), e.g. 0.9999; '
                               f'pass ema=None for no EMA.')
    if self.half_life_images is not None and not callable(self.half_life_images) and (
        not number(self.half_life_images) or not self.half_life_images > 0):
      raise errors.ConfigError(f'EMA.half_life_images={self.half_life_images!r} must be a '
                               f'number > 0 (images), e.g. 10_000.')
    if self.rampup is not None and (self.half_life_images is None or not number(self.rampup)
                                    or not self.rampup > 0):
      raise errors.ConfigError(f'EMA.rampup={self.rampup!r} must be a number > 0 (e.g. 0.05) '
                               f'with half_life_images=, or None (no ramp-up).')
    _check_int('EMA', 'start', self.start, 0)
    if self.state not in steps.EMA_STATES:
      raise errors.ConfigError(
          f'EMA.state={self.state!r} must be \'live\' (sample with the live generator\'s '
          f'state) or \'average\' (an EMA of it too, as StudioGAN\'s).')


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
  """The parts of a GAN run and the values its loop reads; `build(config)` makes one,
  `replace(...)` swaps parts and values.

  z_dim: the latent size. num_classes: labels 0..num_classes-1 (0: unconditional; the data
  must have as many classes). loop: a `Loop` (steps, batch, cadence, seed). ema: an `EMA` or
  None (off: the state holds no EMA copy). d_clip: WGAN's critic weight clipping bound c, or
  None (off). evaluation: an `evaluation.Settings` (what the evaluators share: images per
  evaluation, their seed, the metric that keeps the best checkpoint; its cadence is
  `loop.eval_every`).
  evaluators: {name: evaluator} run during training (see jaxgan.metrics.evaluators); each
  has `evaluate(generate=..., real=..., num_samples=..., dataset_key=..., num_real=...)`.
  augmentation: an `augment.Augmentation` (e.g. `augment.DiffAugment`) applied to every image
  D sees, or None (off); its state lives in `GANState.augment_state`.
  config: the config `build` read (provenance for config.json; None when made in code).
  from_config: the parts and values `build` made from the config (the others were replaced),
  recorded in run_info.json.
  """
  generator: nn.Module
  discriminator: nn.Module
  loss: losses.Term
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  data: Any
  _: dataclasses.KW_ONLY
  z_dim: int
  num_classes: int = 0
  loop: Loop = Loop()
  ema: Optional[EMA] = None
  d_clip: Optional[float] = None
  evaluation: evaluation_lib.Settings = evaluation_lib.Settings()
  evaluators: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  augmentation: Optional[Any] = None
  config: Optional[ml_collections.ConfigDict] = None
  from_config: frozenset = frozenset()

  def _where(self, value: str) -> str:
    """How an error names a typed value: its config key when built from one."""
    keys = {'z_dim': 'config.model.z_dim', 'num_classes': 'config.model.num_classes'}
    return keys[value] if value in self.from_config else f'Experiment.{value}'

  def __post_init__(self):
    for name, kind in (('generator', nn.Module), ('discriminator', nn.Module),
                       ('loss', losses.Term)):
      if not isinstance(getattr(self, name), kind):
        hint = (' (wrap plain functions with jaxgan.losses.term)' if name == 'loss' else '')
        raise errors.ConfigError(f'Experiment.{name} must be a {kind.__module__}.'
                                 f'{kind.__name__}, got {type(getattr(self, name)).__name__}'
                                 f'{hint}.')
    for name in ('g_optimizer', 'd_optimizer'):
      if not (hasattr(getattr(self, name), 'init') and hasattr(getattr(self, name), 'update')):
        raise errors.ConfigError(f'Experiment.{name} must be an optax.GradientTransformation.')
    for name in ('batch', 'prepare', 'example_shape', 'num_classes'):
      if not hasattr(self.data, name):
        raise errors.ConfigError(
            f'Experiment.data lacks {name!r}; pass a jaxgan.data source (ArraySource, '
            f'IterableSource, ...) or an object with example_shape, num_classes, prepare() '
            f'and batch(step, layout).')
    _check_int('Experiment', 'z_dim', self.z_dim, 1)
    if not isinstance(self.loop, Loop):
      raise errors.ConfigError(f'Experiment.loop must be a jaxgan.Loop, got '
                               f'{type(self.loop).__name__}.')
    if self.ema is not None and not isinstance(self.ema, EMA):
      raise errors.ConfigError(f'Experiment.ema must be a jaxgan.EMA (e.g. '
                               f'jaxgan.EMA(decay=0.999)) or None, got {type(self.ema).__name__}.')
    if self.d_clip is not None and (isinstance(self.d_clip, bool) or
                                    not isinstance(self.d_clip, (int, float)) or
                                    not self.d_clip > 0):
      raise errors.ConfigError(f'Experiment.d_clip={self.d_clip!r} must be a number > 0 (the '
                               f'critic weights\' bound c), or None for no clipping.')
    if self.augmentation is not None and not augment.is_augmentation(self.augmentation):
      raise errors.ConfigError(
          f'Experiment.augmentation must be a jaxgan.augment.Augmentation (e.g. '
          f'augment.DiffAugment(\'color,translation,cutout\')) or None, got '
          f'{type(self.augmentation).__name__}.')
    if self.augmentation is not None:
      try:
        shape = tuple(self.data.example_shape)
      except errors.DatasetError:   # data not here (loading a run to sample): checked on use
        shape = None
      # An augmentation may say why it cannot transform the data's examples (one sentence).
      shape_error = getattr(self.augmentation, 'example_shape_error', None)
      problem = None if shape is None or shape_error is None else shape_error(shape)
      if problem:
        raise errors.ConfigError(problem)
    steps.check_g_real_batch(self.loop.g_real_batch, self.loss,
                             'config.train.g_real_batch' if 'loop' in self.from_config
                             else 'Experiment.loop.g_real_batch')
    if self.loss.needs_augment and self.augmentation is None:
      raise errors.ConfigError(
          f'the loss {self.loss!r} needs an augmentation T (consistency regularisation) but '
          f'the experiment has none; set config.augment.policy (probability 0 keeps it out of '
          f'the images D trains on) or pass Experiment(augmentation=...).')
    if isinstance(self.num_classes, (int, np.integer)) and self.num_classes == -1:
      raise errors.ConfigError(
          f'{self._where("num_classes")}=-1 (the data\'s number of classes) is resolved by '
          f'jaxgan.build; building an Experiment yourself, set it to data.num_classes.')
    _check_int('Experiment', 'num_classes', self.num_classes, 0)
    steps.check_fake_labels(self.loop.fake_labels, self.num_classes,
                            'config.train.fake_labels' if 'loop' in self.from_config
                            else 'Experiment.loop.fake_labels')
    if (self.loss.per_sample_gradients and models.mixes_samples(self.discriminator)
        and not models.summed_logit_penalty(self.discriminator)):
      raise errors.ConfigError(
          f'the loss {self.loss!r} penalises per-sample input gradients, but the '
          f'discriminator mixes samples through batch norm, so the penalty would be wrong; '
          f'use --config.model.d_norm=layer (or none).')
    if self.num_classes:
      try:
        data_classes = self.data.num_classes
      except errors.DatasetError:   # data not here (loading a run to sample): checked on use
        data_classes = self.num_classes
      if data_classes != self.num_classes:
        raise errors.ConfigError(
            f'{self._where("num_classes")}={self.num_classes} but the data has {data_classes} '
            f'classes; set it to that, to -1 (the data\'s) or to 0 (unconditional).')


  def replace(self, **parts) -> 'Experiment':
    """A new experiment with `parts` (parts and typed values) replaced; its compiled
    functions are built anew. The config cannot be replaced: it is only the record of what
    `build` read (build the new config's experiment with `jaxgan.build(config)`)."""
    if 'config' in parts:
      raise errors.ConfigError(
          'Experiment.replace(config=...) would keep the parts and values built from the old '
          'config; build the new one with jaxgan.build(config), or replace loop=, ema=, '
          'z_dim= and the parts themselves.')
    unknown = sorted(set(parts) - set(PARTS) - set(VALUES))
    if unknown:
      raise TypeError(f'unknown experiment parts {unknown}; parts: {", ".join(PARTS)}; '
                      f'values: {", ".join(VALUES)}')
    return dataclasses.replace(self, from_config=self.from_config - set(parts), **parts)

  # --- compiled functions, owned by the experiment ---------------------------------------------
  @functools.cached_property
  def _train_steps(self) -> dict:
    return {}

  def train_step(self, devices: Optional[list] = None) -> steps.TrainStep:
    """The train step mapped over `devices` (default: all), `step(state, batch) -> (state,
    metrics)`; one per device set, compiled on first call, freed with the experiment."""
    if isinstance(devices, state_lib.GANState):
      raise TypeError('Experiment.train_step(devices=None) returns the step; call '
                      'experiment.train_step()(state, batch).')
    key = tuple(jax.devices() if devices is None else devices)
    step = self._train_steps.get(key)
    if step is None:
      step = self._train_steps[key] = steps.make_train_step(
          self.generator, self.discriminator, self.loss, self.g_optimizer, self.d_optimizer,
          z_dim=self.z_dim, num_classes=self.num_classes, d_clip=self.d_clip,
          ema_decay=None if self.ema is None else self.ema.decay,
          ema_start=0 if self.ema is None else self.ema.start,
          ema_half_life=None if self.ema is None else self.ema.half_life_images,
          ema_rampup=None if self.ema is None else self.ema.rampup,
          augmentation=self.augmentation, g_real_batch=self.loop.g_real_batch,
          fake_labels=self.loop.fake_labels, phase_order=self.loop.phase_order,
          ema_state='live' if self.ema is None else self.ema.state, devices=list(key))
    return step

  @functools.cached_property
  def sample_fn(self):
    """jit(params, g_state, z, labels) -> samples, generator in evaluation mode."""
    return steps.make_sample_fn(self.generator)

  @functools.cached_property
  def _finite(self):
    def finite(trees):
      return jnp.stack([
          jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
                             if jnp.issubdtype(x.dtype, jnp.floating)] or [jnp.bool_(True)]))
          for tree in trees])
    return jax.jit(finite)

  def finite(self, *trees) -> list[bool]:
    """For each tree, whether all its floating leaves are finite (one compiled reduction)."""
    return [bool(b) for b in jax.device_get(self._finite(trees))]

  # --- state and sampling ----------------------------------------------------------------------
  def init_state(self, seed: Optional[int] = None) -> state_lib.GANState:
    """A fresh GANState (seed: loop.seed), with an EMA copy of the generator iff `ema` (and
    of its state iff `ema.state == 'average'`)."""
    return state_lib.create(
        self.generator, self.discriminator, self.g_optimizer, self.d_optimizer,
        z_dim=self.z_dim, example_shape=tuple(self.data.example_shape),
        num_classes=self.num_classes, seed=self.loop.seed if seed is None else seed,
        ema=self.ema is not None,
        ema_state=self.ema is not None and self.ema.state == 'average',
        loss_state=self.loss.init_state(),
        augment_state=self.augmentation.init_state() if self.augmentation is not None else {})

  def layout(self, devices: Optional[list] = None) -> data_lib.Layout:
    """How each step's examples are split over this process's devices."""
    return data_lib.Layout.for_devices(self.loop.batch_size, self.loop.d_steps, devices,
                                       g_batch=self.loop.g_real_batch == 'own')

  def generate(self, state: state_lib.GANState, num: int, *, ema: bool = True, seed: int = 0,
               batch_size: int = 250) -> Iterator[tuple[np.ndarray, Optional[np.ndarray]]]:
    """Yields (float images in [-1, 1], labels or None) in chunks, `num` images in all.

    The generator runs in evaluation mode on `state.sampling_params(ema)` with
    `state.sampling_state(ema)`; latents come from
    `seed` (the same images every call); labels are uniform for conditional models. Images
    are clipped to [-1, 1]: R3GAN's and StyleGAN2's generators end without a tanh (their
    outputs only learn to lie in [-1, 1]) and the official code clamps when it converts to
    uint8, which this clip followed by FID's quantisation reproduces level for level. Samples
    that are not images (2-D points, vectors: `data.sample_view`) are yielded as they are.
    """
    if not isinstance(num, int) or num < 1:
      raise errors.ConfigError(f'the number of images to generate ({num!r}) must be >= 1.')
    if not isinstance(batch_size, int) or batch_size < 1:
      raise errors.ConfigError(f'the generation batch size ({batch_size!r}) must be >= 1.')
    params, g_state = state.sampling_params(ema), state.sampling_state(ema)
    images = data_lib.sample_view(self.data).shows_images
    key = jax.random.key(seed)
    done = 0
    while done < num:
      n = min(batch_size, num - done)
      kz, ky = jax.random.split(jax.random.fold_in(key, done))
      # Always a full batch (one compiled shape); the tail of the last one is dropped.
      z = jax.random.normal(kz, (batch_size, self.z_dim))
      labels = (jax.random.randint(ky, (batch_size,), 0, self.num_classes)
                if self.num_classes else None)
      x = np.asarray(self.sample_fn(params, g_state, z, labels))[:n]
      if images:
        x = np.clip(x, -1.0, 1.0)
      yield x, (None if labels is None else np.asarray(labels)[:n])
      done += n

  def standing_statistics(self, state: state_lib.GANState, *, steps: int, max_batch: int,
                          ema: bool = True, seed: int = 0) -> state_lib.GANState:
    """`state` with standing statistics (`jaxgan.standing`) in the state that sampling with
    `ema` uses: batch norm's running statistics recomputed for `state.sampling_params(ema)`
    over `steps` training-mode passes of 1..`max_batch` latents (PyTorch-StudioGAN's -std_stat
    -std_step -std_max), so that `generate(result, ..., ema=ema)` samples with them."""
    new = standing_lib.standing_statistics(
        self.generator, state.sampling_params(ema), state.sampling_state(ema),
        z_dim=self.z_dim, num_classes=self.num_classes, steps=steps, max_batch=max_batch,
        seed=seed)
    return state.with_sampling_state(new, ema)

  def record(self) -> dict[str, Any]:
    """What run_info.json says of the parts and values: each part's repr, the typed values,
    which came from the config (`from_config`) and which were made or replaced in code
    (`replaced`), and whether there is a config at all (`config`)."""
    return {
        'generator': repr(self.generator), 'discriminator': repr(self.discriminator),
        'loss': repr(self.loss), 'g_optimizer': _optimizer_name(self.g_optimizer),
        'd_optimizer': _optimizer_name(self.d_optimizer),
        'data': getattr(self.data, 'name', type(self.data).__name__),
        'evaluators': sorted(self.evaluators),
        'augmentation': None if self.augmentation is None else repr(self.augmentation),
        'z_dim': int(self.z_dim), 'num_classes': int(self.num_classes),
        'loop': dataclasses.asdict(self.loop),
        # Only the EMA's fields that are set (and its state when averaged): a decay EMA's
        # record is as before half-lives and averaged states.
        'ema': None if self.ema is None else {
            k: (getattr(v, '__name__', repr(v)) if callable(v) else v)
            for k, v in dataclasses.asdict(self.ema).items()
            if v is not None and (k != 'state' or v != 'live')},
        'd_clip': self.d_clip,
        'evaluation': dataclasses.asdict(self.evaluation),
        'config': self.config is not None,
        'from_config': sorted(self.from_config),
        'replaced': sorted(set(PARTS + VALUES) - set(self.from_config)),
    }

  def config_record(self) -> Optional[ml_collections.ConfigDict]:
    """The config as config.json records it: the config `build` read with the typed values
    this experiment holds (a loop, EMA, clipping or latent size replaced in code included),
    so that config.json describes the run; None for an experiment made in code (no
    config.json is written; run_info.json's `parts` describe it)."""
    if self.config is None:
      return None
    config = config_lib.copy(self.config)
    self.loop.write_to(config)
    config.model.z_dim, config.model.num_classes = int(self.z_dim), int(self.num_classes)
    ema = self.ema
    config.train.ema_decay = float(ema.decay) if ema and ema.decay is not None else 0.0
    config.train.ema_start = 0 if ema is None else int(ema.start)
    if ema and callable(ema.half_life_images):
      # A ramped half-life: the config's ramp block, unless replaced in code (then none).
      config.train.ema_half_life_kimg = 0.0
      if 'ema' not in self.from_config:
        config.train.ema_half_life_schedule = schedules.ramp_config('constant')
    else:
      config.train.ema_half_life_kimg = (float(ema.half_life_images) / 1000
                                         if ema and ema.half_life_images is not None else 0.0)
      config.train.ema_half_life_schedule = schedules.ramp_config('constant')
    config.train.ema_rampup = float(ema.rampup) if ema and ema.rampup is not None else 0.0
    config.train.ema_state = 'live' if ema is None else ema.state
    config.optim.d_clip = 0.0 if self.d_clip is None else float(self.d_clip)
    e = self.evaluation
    (config.eval.num_samples, config.eval.chunk_size, config.eval.seed, config.eval.best_metric,
     config.eval.reference_split) = (e.num_samples, e.chunk_size, e.seed, e.best_metric,
                                     e.reference_split)
    return config


def data_record(source) -> dict[str, Any]:
  """What run_info.json says of the data: the source's `describe()` (name, identity, size,
  classes and their names, streamed or in memory, skipped images), or its name."""
  if hasattr(source, 'describe'):
    return source.describe()
  return {'name': getattr(source, 'name', type(source).__name__),
          'example_shape': list(source.example_shape), 'num_classes': int(source.num_classes)}


def _optimizer_name(tx) -> str:
  return getattr(tx, 'name', None) or type(tx).__name__


class _Kimg:
  """A ramp of thousands of images as a function of the step giving images (a named,
  picklable callable: its name is what run_info.json records)."""

  def __init__(self, ramp):
    self.ramp = ramp
    self.__name__ = f'1000 x {ramp.__name__}'

  def __call__(self, step):
    return 1000.0 * self.ramp(step)


def _ema_from_config(config: ml_collections.ConfigDict) -> Optional[EMA]:
  """The EMA of `config.train` (ema_decay, or ema_half_life_kimg with ema_rampup, or the
  half-life's ramp ema_half_life_schedule; None: off)."""
  t = config.train
  ramped = config_lib.ema_half_life_ramp(config)
  if ramped is not None:
    return EMA(half_life_images=_Kimg(ramped), start=int(t.ema_start),
               rampup=float(t.ema_rampup) if t.ema_rampup > 0 else None, state=t.ema_state)
  if t.ema_half_life_kimg > 0:
    return EMA(half_life_images=float(t.ema_half_life_kimg) * 1000, start=int(t.ema_start),
               rampup=float(t.ema_rampup) if t.ema_rampup > 0 else None, state=t.ema_state)
  if t.ema_decay > 0:
    return EMA(decay=float(t.ema_decay), start=int(t.ema_start), state=t.ema_state)
  return None


def build(config: ml_collections.ConfigDict) -> Experiment:
  """The experiment `config` describes, every value checked before any data loads.

  Nothing is loaded or compiled here: the data source loads on `prepare()` (the training loop
  calls it first), evaluators load their networks when training starts.
  """
  checked = validation.validate(config)
  config = config_lib.copy(config)   # the record of this build: the caller's is left alone
  data = data_lib.from_config(config)
  if config.model.num_classes == -1:
    # The data's classes (metadata only: a folder listing, a TFDS feature spec); the
    # experiment, and so config.json, hold the number.
    num_classes = int(data.num_classes)
    if num_classes < 1:
      where = ' '.join(filter(None, (config.data.dataset, config.data.path)))
      raise errors.ConfigError(
          f'config.model.num_classes=-1 takes the classes of the data, but the data ({where}) '
          f'has no labels; set it to 0 (unconditional), or give the data labels (an npz\'s '
          f'\'labels\', a folder\'s data.labels=folders).')
    config.model.num_classes = num_classes
  generator, discriminator = models.build(config)
  return Experiment(
      generator=generator, discriminator=discriminator, loss=checked.loss,
      g_optimizer=checked.g_optimizer, d_optimizer=checked.d_optimizer, data=data,
      z_dim=int(config.model.z_dim), num_classes=int(config.model.num_classes),
      loop=Loop.from_config(config),
      ema=_ema_from_config(config),
      d_clip=float(config.optim.d_clip) if config.optim.d_clip > 0 else None,
      evaluation=evaluation_lib.settings_from_config(config), evaluators=checked.evaluators, config=config,
      augmentation=checked.augmentation, from_config=frozenset(PARTS + VALUES))


# ---------------------------------------------------------------------------------------------
# A finished (or running) run, loaded back.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LoadedRun:
  """A run's experiment and its state at `step`: `load_run(workdir)` returns one.

  `generator_only`: the checkpoint's discriminator, optimisers, loss or augmentation state
  did not fit the experiment rebuilt from config.json (the run replaced them in code), so only
  what sampling needs was restored; the other fields of `state` are None.
  """
  experiment: Experiment
  state: state_lib.GANState
  step: int
  workdir: str
  generator_only: bool = False

  @property
  def config(self) -> Optional[ml_collections.ConfigDict]:
    """The run's config (provenance; None when it trained an Experiment made in code)."""
    return self.experiment.config

  def generate(self, num: int, **kwargs) -> Iterator[tuple[np.ndarray, Optional[np.ndarray]]]:
    """`Experiment.generate` with this run's state (EMA weights when the run keeps them)."""
    return self.experiment.generate(self.state, num, **kwargs)


def _refuse_own_generator(paths) -> None:
  """CheckpointError when run_info.json says the run trained a generator or discriminator of
  its own: config.json cannot rebuild it, the caller must pass the experiment."""
  try:
    with open(paths.run_info) as f:
      replaced = json.load(f)['parts']['replaced']
  except (OSError, ValueError, KeyError, TypeError):
    return   # no record (an older run): the checkpoint's shapes are checked on restore
  own = [p for p in ('generator', 'discriminator') if p in replaced]
  if 'generator' in own:
    raise errors.CheckpointError(
        f'the run in {paths.root} trained its own {" and ".join(own)} (run_info.json), which '
        f'its config.json cannot rebuild; pass experiment= (the jaxgan.Experiment that trained '
        f'it) to load_run.')


def load_run(workdir: str, *, step: Optional[int] = None, best: bool = False,
             experiment: Optional[Experiment] = None) -> LoadedRun:
  """The run in `workdir` at `step` (default: the newest checkpoint that restores).

  `best`: the best-evaluation checkpoint (`workdir/best_fid`). The experiment is rebuilt from
  the run's config.json; pass `experiment` when the run trained parts of your own (the
  checkpoint must fit its generator and discriminator). Nothing in the workdir is changed.
  """
  paths = workdir_lib.Paths.of(workdir)
  if not os.path.isdir(paths.root):
    raise errors.CheckpointError(f'{paths.root} is not a folder; pass the --workdir of a '
                                 f'jaxgan training run.')
  if experiment is None:
    if not os.path.exists(paths.config) and os.path.isdir(paths.checkpoints):
      raise errors.CheckpointError(
          f'the run in {paths.root} has no config.json (it trained an Experiment made in '
          f'code, or was copied without it); pass experiment= (the jaxgan.Experiment that '
          f'trained it) to load_run.')
    _refuse_own_generator(paths)
    experiment = build(config_lib.from_json(paths.config))
  folder = paths.best_checkpoints if best else paths.checkpoints
  if not os.path.isdir(folder):
    what = 'best-FID checkpoint (train with evaluators)' if best else 'checkpoint'
    raise errors.CheckpointError(f'{paths.root} holds no {what}; train first.')
  ckpt = checkpoint_lib.Checkpointer(folder, read_only=True)
  generator_only = False
  try:
    template = experiment.init_state()
    if step is None:
      step = ckpt.latest_step()
      if step is None:
        raise errors.CheckpointError(f'{folder} holds no checkpoint; train first.')
    elif step not in ckpt.all_steps():
      raise errors.CheckpointError(
          f'{folder} has no checkpoint at step {step}; it has '
          f'{", ".join(map(str, ckpt.all_steps())) or "none"}.')
    try:
      state = ckpt.restore(template, step)
    except errors.CheckpointError:
      # Parts replaced in code (an optimiser, the loss's state) change the state's structure;
      # the generator's part still restores for sampling.
      state = ckpt.restore_generator(template, step)
      generator_only = True
  finally:
    ckpt.close()
  return LoadedRun(experiment=experiment, state=state, step=int(step), workdir=paths.root,
                   generator_only=generator_only)
