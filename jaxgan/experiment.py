"""The experiment: every part of a GAN run as one value, built once.

  experiment = jaxgan.build(config)                   # parts from a config, all checked
  experiment = experiment.replace(loss=my_loss, g_optimizer=optax.adam(schedule, b1=0.5))
  state = jaxgan.train(experiment, workdir)           # checkpoints, resume, logs, evaluation

An `Experiment` holds the generator and discriminator (flax modules), the loss `Term`, both
optax transformations, the data source, the evaluators, the differentiable augmentation of
D's inputs (an `augment.Augmentation`, or None; see jaxgan/augment.py for why it is a part
here) and the config, whose `train`, `log` and `eval` sections drive the loop (`model.z_dim` and `model.num_classes` give the latent
size and the label range). Nothing after `build` reads the config to rebuild a part, so any
part can be replaced by research code. The experiment owns its compiled functions (the
pmapped train step, the sampler): they are built on first use, shared by every run of this
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

from jaxgan import config as config_lib
from jaxgan import data as data_lib
from jaxgan import augment, errors, losses, models, optim, state as state_lib, steps

PARTS = ('generator', 'discriminator', 'loss', 'g_optimizer', 'd_optimizer', 'data',
         'evaluators', 'augmentation')


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
  """The parts of a GAN run; `build(config)` makes one, `replace(...)` swaps parts.

  evaluators: {name: evaluator} run during training (see jaxgan.metrics.evaluators); each
  has `evaluate(generate=..., real=..., num_samples=..., dataset_key=..., num_real=...)`.
  augmentation: an `augment.Augmentation` (e.g. `augment.DiffAugment`) applied to every image
  D sees, or None (off); its state lives in `GANState.augment_state`.
  from_config: the parts `build` made from the config (the others were replaced), recorded in
  run_info.json.
  """
  generator: nn.Module
  discriminator: nn.Module
  loss: losses.Term
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  data: Any
  config: ml_collections.ConfigDict
  evaluators: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  augmentation: Optional[Any] = None
  from_config: frozenset = frozenset()

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
    if self.augmentation is not None and not augment.is_augmentation(self.augmentation):
      raise errors.ConfigError(
          f'Experiment.augmentation must be a jaxgan.augment.Augmentation (e.g. '
          f'augment.DiffAugment(\'color,translation,cutout\')) or None, got '
          f'{type(self.augmentation).__name__}.')
    if isinstance(self.augmentation, augment.DiffAugment):
      try:
        shape = tuple(self.data.example_shape)
      except errors.DatasetError:   # data not here (loading a run to sample): checked on use
        shape = None
      if shape is not None and len(shape) != 3:
        raise errors.ConfigError(
            f'the augmentation {self.augmentation.policy!r} transforms images (H, W, C), but '
            f'the data\'s examples have shape {shape}; set config.augment.policy=\'\' (or '
            f'pass Experiment(augmentation=None), or an augmentation of your own for them).')
    if self.loss.needs_augment and self.augmentation is None:
      raise errors.ConfigError(
          f'the loss {self.loss!r} needs an augmentation T (consistency regularisation) but '
          f'the experiment has none; set config.augment.policy (probability 0 keeps it out of '
          f'the images D trains on) or pass Experiment(augmentation=...).')
    config_lib.validate_loop(self.config)
    if self.config.model.num_classes < 0:
      raise errors.ConfigError(
          'config.model.num_classes=-1 (the data\'s number of classes) is resolved by '
          'jaxgan.build; building an Experiment yourself, set it to data.num_classes.')
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
            f'config.model.num_classes={self.num_classes} but the data has {data_classes} '
            f'classes; set it to that, to -1 (the data\'s) or to 0 (unconditional).')

  # --- what the loop reads -------------------------------------------------------------------
  @property
  def z_dim(self) -> int:
    return int(self.config.model.z_dim)

  @property
  def num_classes(self) -> int:
    return int(self.config.model.num_classes)

  @property
  def uses_ema(self) -> bool:
    """Whether the run keeps a generator EMA (samples and evaluations then use it)."""
    return self.config.train.ema_decay > 0

  @property
  def is_2d(self) -> bool:
    return tuple(self.data.example_shape) == (2,)

  def replace(self, **parts) -> 'Experiment':
    """A new experiment with `parts` replaced (its compiled functions are built anew).

    Replacing `config` keeps the other parts as they are (it does not rebuild them).
    """
    unknown = sorted(set(parts) - set(PARTS) - {'config'})
    if unknown:
      raise TypeError(f'unknown experiment parts {unknown}; parts: {", ".join(PARTS)}, config')
    return dataclasses.replace(self, from_config=self.from_config - set(parts), **parts)

  # --- compiled functions, owned by the experiment ---------------------------------------------
  @functools.cached_property
  def train_step(self) -> steps.TrainStep:
    """The pmapped train step over all devices (compiled on first call)."""
    t = self.config.train
    return steps.make_train_step(
        self.generator, self.discriminator, self.loss, self.g_optimizer, self.d_optimizer,
        z_dim=self.z_dim, num_classes=self.num_classes, d_clip=self.config.optim.d_clip,
        ema_decay=t.ema_decay, ema_start=t.ema_start, augmentation=self.augmentation)

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
    """A fresh GANState (seed: config.train.seed)."""
    return state_lib.create(
        self.generator, self.discriminator, self.g_optimizer, self.d_optimizer,
        z_dim=self.z_dim, example_shape=tuple(self.data.example_shape),
        num_classes=self.num_classes,
        seed=self.config.train.seed if seed is None else seed,
        loss_state=self.loss.init_state(),
        augment_state=self.augmentation.init_state() if self.augmentation is not None else {})

  def layout(self, devices: Optional[list] = None) -> data_lib.Layout:
    """How each step's examples are split over this process's devices."""
    t = self.config.train
    return data_lib.Layout.for_devices(t.batch_size, t.d_steps, devices)

  def generate(self, state: state_lib.GANState, num: int, *, ema: bool = True, seed: int = 0,
               batch_size: int = 250) -> Iterator[tuple[np.ndarray, Optional[np.ndarray]]]:
    """Yields (float images in [-1, 1], labels or None) in chunks, `num` images in all.

    The generator runs in evaluation mode on `state.sampling_params(ema)`; latents come from
    `seed` (the same images every call); labels are uniform for conditional models.
    """
    if not isinstance(num, int) or num < 1:
      raise errors.ConfigError(f'the number of images to generate ({num!r}) must be >= 1.')
    if not isinstance(batch_size, int) or batch_size < 1:
      raise errors.ConfigError(f'the generation batch size ({batch_size!r}) must be >= 1.')
    params = state.sampling_params(ema)
    key = jax.random.key(seed)
    done = 0
    while done < num:
      n = min(batch_size, num - done)
      kz, ky = jax.random.split(jax.random.fold_in(key, done))
      # Always a full batch (one compiled shape); the tail of the last one is dropped.
      z = jax.random.normal(kz, (batch_size, self.z_dim))
      labels = (jax.random.randint(ky, (batch_size,), 0, self.num_classes)
                if self.num_classes else None)
      x = np.asarray(self.sample_fn(params, state.g_state, z, labels))[:n]
      yield x, (None if labels is None else np.asarray(labels)[:n])
      done += n

  def record(self) -> dict[str, Any]:
    """What run_info.json says of the parts: each one's repr, and which came from the config."""
    return {
        'generator': repr(self.generator), 'discriminator': repr(self.discriminator),
        'loss': repr(self.loss), 'g_optimizer': _optimizer_name(self.g_optimizer),
        'd_optimizer': _optimizer_name(self.d_optimizer),
        'data': getattr(self.data, 'name', type(self.data).__name__),
        'evaluators': sorted(self.evaluators),
        'augmentation': None if self.augmentation is None else repr(self.augmentation),
        'from_config': sorted(self.from_config),
        'replaced': sorted(set(PARTS) - set(self.from_config)),
    }


def data_record(source) -> dict[str, Any]:
  """What run_info.json says of the data: the source's `describe()` (name, identity, size,
  classes and their names, streamed or in memory, skipped images), or its name."""
  if hasattr(source, 'describe'):
    return source.describe()
  return {'name': getattr(source, 'name', type(source).__name__),
          'example_shape': list(source.example_shape), 'num_classes': int(source.num_classes)}


def _optimizer_name(tx) -> str:
  return getattr(tx, 'name', None) or type(tx).__name__


def build(config: ml_collections.ConfigDict) -> Experiment:
  """The experiment `config` describes, every value checked before any data loads.

  Nothing is loaded or compiled here: the data source loads on `prepare()` (the training loop
  calls it first), evaluators load their networks when training starts.
  """
  from jaxgan import evaluation  # pylint: disable=g-import-not-at-top
  config_lib.validate(config)
  data = data_lib.from_config(config)
  if config.model.num_classes == -1:
    # The data's classes (metadata only: a folder listing, a TFDS feature spec); the
    # experiment's config, and so config.json, hold the number.
    num_classes = int(data.num_classes)
    if num_classes < 1:
      where = ' '.join(filter(None, (config.data.dataset, config.data.path)))
      raise errors.ConfigError(
          f'config.model.num_classes=-1 takes the classes of the data, but the data ({where}) '
          f'has no labels; set it to 0 (unconditional), or give the data labels (an npz\'s '
          f'\'labels\', a folder\'s data.labels=folders).')
    config = config_lib.copy(config)
    config.model.num_classes = num_classes
  generator, discriminator = models.build(config)
  g_optimizer, d_optimizer = optim.from_config(config)
  return Experiment(
      generator=generator, discriminator=discriminator, loss=losses.from_config(config.loss),
      g_optimizer=g_optimizer, d_optimizer=d_optimizer, data=data,
      evaluators=evaluation.evaluators_from_config(config), config=config,
      augmentation=augment.from_config(config.augment), from_config=frozenset(PARTS))


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
  def config(self) -> ml_collections.ConfigDict:
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
  from jaxgan import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  paths = workdir_lib.Paths.of(workdir)
  if not os.path.isdir(paths.root):
    raise errors.CheckpointError(f'{paths.root} is not a folder; pass the --workdir of a '
                                 f'jaxgan training run.')
  if experiment is None:
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
