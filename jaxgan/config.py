"""The run config: every key and its one default, reading config files and saved configs.

  config = jaxgan.config.default()                  # every key, with its default
  config = jaxgan.config.from_file('configs/dcgan.py')   # a config file's get_config()
  config = jaxgan.config.from_json('runs/dcgan/config.json')  # a run's saved config
  jaxgan.validation.validate(config)                # ConfigError on any bad value

This module is a leaf of the package (it imports only `errors` and `checks`): every part may
read it, and it reads no part. Here are the checks of the loop's values (`validate_loop`); a
part's keys are checked where they are read (the optimisers' by `optim.from_config`, ...), and
`jaxgan.validation` runs every check, with those across parts, before any data loads.

The config files under the repository's `configs/` start from `default()` and override a
few fields; a variant loads its base recipe by path (`from_file` of a file beside it), so
every file loads from any folder with only jaxgan installed. `launch.py` reads them; the
library never imports `configs/`.

Model keys that are arguments of a model's constructor (`g_width`, `d_width`, `d_norm`,
`hidden`, `depth`, `attention_resolution`, `attention_pool`, `g_spectral_norm`,
`d_spectral_norm`, `shared_dim`, `r3gan_preset`, `r3gan_widths`, `r3gan_cardinalities`,
`r3gan_blocks`) default to None: "the model's own default", which each model class in
`jaxgan.models` defines once (a DCGAN's width is 1024 channels, a SAGAN's 64; a SAGAN's
attention sits at 16x16 for 32x32 images). `run_info.json` records the values each run used.
"""

import copy as copy_lib
import importlib.util
import json
import os
import re
import traceback
from typing import Any

import ml_collections
from ml_collections import config_dict

from jaxgan import checks, errors, schedules
from jaxgan.metrics import evaluators as evaluators_lib

# The sections of a config (`default()`).
SECTIONS = ('data', 'model', 'loss', 'augment', 'optim', 'train', 'log', 'eval')


def default() -> ml_collections.ConfigDict:
  """Every config key with its default."""
  config = ml_collections.ConfigDict()

  # Data (jaxgan/data.py): a TFDS name ('cifar10', 'mnist', 'celeb_a', 'lsun/bedroom', ...),
  # 'folder' or 'npz' (data.path), 'digits' (offline, bundled), or the 2-D 'ring' / 'grid'.
  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'cifar10'
  config.data.image_size = 64         # image side: a power of two from 32 to 256
  config.data.channels = 3            # 3: RGB (grey images repeated); 1: greyscale (models too)
  config.data.path = ''               # 'folder': the image folder; 'npz': the .npz file
  config.data.labels = 'none'         # 'folder': 'folders' (class = first-level subfolder) or 'none'
  config.data.data_dir = ''           # TFDS data_dir; '' means TFDS' default (~/tensorflow_datasets)
  config.data.split = 'train'         # TFDS split (any TFDS split spec, e.g. 'train[:90%]')
  # Image datasets: train on this fraction of the split, a subset drawn from train.seed (FID
  # still compares with the whole split), e.g. 0.1 for DiffAugment's 10%-data experiments.
  config.data.fraction = 1.0
  # Image datasets: train on the images and their horizontal mirror images (the official
  # StyleGAN2-ADA / R3GAN `--mirror=1`: the index space doubled, the second copy flipped).
  config.data.mirror = False
  config.data.image_key = ''          # TFDS image feature ('': the builder's image feature)
  config.data.label_key = ''          # TFDS class-label feature ('': 'label' or the only one)
  config.data.cache = 'auto'          # 'memory', 'none' (stream by index) or 'auto' (by size)
  config.data.cache_max_gb = 4.0      # 'auto': hold the decoded images in memory up to this
  config.data.workers = 0             # threads decoding a streamed batch (0: CPUs, at most 16)
  config.data.prefetch = 2            # batches staged on the devices ahead of the step

  config.model = ml_collections.ConfigDict()
  # 'dcgan', 'sagan', 'biggan', 'r3gan', 'stylegan2' or 'mlp' (jaxgan.models.MODELS)
  config.model.name = 'dcgan'
  config.model.z_dim = 100
  # > 0: class-conditional (models that support it); -1: as many as the data's labels have
  # (resolved by jaxgan.build; config.json records the number). Not the default: a labelled
  # dataset does not make every model conditional, and DCGAN takes no labels.
  config.model.num_classes = 0
  # Compute dtype: 'float32' or 'bfloat16' (mixed precision: params, optimiser state, batch-norm
  # statistics, spectral norm, attention softmax, tanh output and losses stay float32), or for
  # 'stylegan2' its official 'float16' (no loss scaling; see optim.nan_to_num).
  config.model.dtype = 'float32'
  # DCGAN and SAGAN convolutions: 'auto' (the CPU rewrites on a CPU, flax's elsewhere),
  # 'rewritten' (DCGAN: stride-1 forms; SAGAN: im2col weight gradients) or 'flax'.
  config.model.conv_impl = 'auto'
  # Constructor arguments; None: the model's own default (see the module docstring).
  config.model.g_width = config_dict.placeholder(int)   # DCGAN/SAGAN/BigGAN generator width
  config.model.d_width = config_dict.placeholder(int)   # DCGAN/SAGAN/BigGAN discriminator width
  config.model.d_norm = config_dict.placeholder(str)    # DCGAN critic: 'batch', 'layer', 'none'
  config.model.hidden = config_dict.placeholder(int)    # MLP units per layer
  config.model.depth = config_dict.placeholder(int)     # MLP hidden layers
  config.model.attention_resolution = config_dict.placeholder(int)   # SAGAN, BigGAN (0: none)
  config.model.attention_pool = config_dict.placeholder(bool)        # SAGAN (BigGAN's pooling)
  config.model.g_spectral_norm = config_dict.placeholder(bool)       # SAGAN, BigGAN
  config.model.d_spectral_norm = config_dict.placeholder(bool)       # SAGAN, BigGAN
  config.model.shared_dim = config_dict.placeholder(int)             # BigGAN class embedding
  # R3GAN (jaxgan/models/r3gan.py): the official preset ('cifar10', 'ffhq64', 'ffhq256',
  # 'imagenet32', 'imagenet64'; None: the one for data.image_size) and per-stage overrides of
  # its widths, cardinalities (groups) and residual blocks, in the generator's order (4x4 first).
  config.model.r3gan_preset = config_dict.placeholder(str)
  config.model.r3gan_widths = config_dict.placeholder(tuple)
  config.model.r3gan_cardinalities = config_dict.placeholder(tuple)
  config.model.r3gan_blocks = config_dict.placeholder(tuple)
  # StyleGAN2 (jaxgan/models/stylegan2.py): the official train.py --cfg ('cifar', 'paper256',
  # 'stylegan2', ...; None: 'cifar') and style mixing's probability in training (None: 0).
  config.model.stylegan2_cfg = config_dict.placeholder(str)
  config.model.style_mixing_prob = config_dict.placeholder(float)

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'non_saturating'
  # Extra terms added to the objective, name -> weight, e.g. {'gradient_penalty': 10.0}; a
  # weight may be a ramp block (jaxgan/schedules.py), e.g. R3GAN's falling gamma.
  config.loss.regularizers = ml_collections.ConfigDict()
  # LeCam's form and moving averages (jaxgan.losses.LeCam): the authors' / StudioGAN's hinged
  # penalty (False: the paper's eq. 4), the averages' decay, and the GAN step from which they
  # decay (None: jaxgan's zero-debiased averages of the earlier updates; an integer: the
  # authors' averages, decay 0 before that step, each update's own logits folded in first).
  config.loss.lecam_hinged = False
  config.loss.lecam_decay = 0.99
  config.loss.lecam_ema_start = config_dict.placeholder(int)
  # Lazy regularisation (StyleGAN2): the regularizers every this many steps, weight x it (1: off).
  config.loss.regularizer_interval = 1
  # Path length regularisation (StyleGAN2, losses.PathLength): its weight (0: off; official
  # pl_weight 2), the running mean's decay, the batch divisor, and its own lazy interval (the
  # official G_reg_interval 4; 1: every step).
  config.loss.path_length = 0.0
  config.loss.pl_decay = 0.01
  config.loss.pl_batch_shrink = 2
  config.loss.g_regularizer_interval = 1
  # Lazy regularisers' optimiser steps: 'joined' (added to the main update) or 'separate' (an
  # optimiser step of their own after it, the official Dreg / Greg phases).
  config.loss.reg_phases = 'joined'

  # Differentiable augmentation of every image D sees (jaxgan/augment.py): real and fake, in
  # both players' updates and inside regularisers; also the T of the consistency regulariser.
  config.augment = ml_collections.ConfigDict()
  config.augment.policy = ''          # DiffAugment policies, e.g. 'color,translation,cutout' ('': off)
  config.augment.probability = 1.0    # each image augmented with probability p (with ADA: p at step 0)
  config.augment.ada = False          # adapt p (ADA, Karras et al. 2020) from r_t = E[sign(D(x_real))]
  config.augment.ada_target = 0.6     # ADA: the r_t that p is steered towards
  config.augment.ada_interval = 4     # ADA: steps between adjustments of p
  config.augment.ada_kimg = 500.0     # ADA: speed, thousands of real images for p to move by 1
  config.augment.ada_max_p = 1.0      # ADA: upper bound of p
  # 'diffaugment' (DiffAugment's `policy`) or 'ada': ADA's official pipeline
  # (jaxgan/augment_pipe.py), its transformations the preset `ada_preset` ('bgc', StyleGAN2-ADA's
  # default; 'r3gan'; 'blit', 'geom', 'color', 'filter', 'noise', 'cutout', 'bg', 'bgcf',
  # 'bgcfn', 'bgcfnc') with the probability
  # multipliers in `ada_multipliers` (name -> multiplier, e.g. {'cutout': 1.0}) overriding it.
  config.augment.pipeline = 'diffaugment'
  config.augment.ada_preset = 'bgc'
  config.augment.ada_multipliers = ml_collections.ConfigDict()
  # p along a ramp of training steps instead of `probability` (R3GAN: 0 -> 0.55, 'cosine'):
  # jaxgan/schedules.py's name 'cosine', 'linear' or 'step', init_value, end_value, steps;
  # name 'constant' (the default): p is `probability` (or ADA's).
  config.augment.probability_schedule = ml_collections.ConfigDict(
      {'name': 'constant', 'init_value': 0.0, 'end_value': 0.0, 'steps': 1.0})

  config.optim = ml_collections.ConfigDict()
  config.optim.g_optimizer = 'adam'   # 'adam', 'rmsprop' (PyTorch's) or 'sgd'
  config.optim.d_optimizer = 'adam'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  # Lazy regularisation's optimiser compensation (StyleGAN2's G_reg_interval / D_reg_interval):
  # k > 1 scales that player's lr by k / (k + 1) and its betas to the power k / (k + 1) (1: off).
  config.optim.g_reg_interval = 1
  config.optim.d_reg_interval = 1
  config.optim.eps = 1e-8             # Adam's and RMSprop's epsilon (StudioGAN's Adam: 1e-6)
  # BigGAN's orthogonal regularisation (BigGAN-PyTorch's G_ortho / D_ortho): beta (0: off; the
  # paper's ImageNet runs 1e-4 for G), leaving out the parameters of the modules named in
  # ortho_exclude (BigGAN-PyTorch leaves out the shared class embedding).
  config.optim.g_ortho = 0.0
  config.optim.d_ortho = 0.0
  config.optim.ortho_exclude = ('shared',)
  # Replace NaN gradients by 0 and infinite ones by +-1e5 before each update (StyleGAN2-ADA's
  # training loop does so for every gradient).
  config.optim.nan_to_num = False
  config.optim.d_clip = 0.0           # > 0: clip critic params to [-c, c] after each update
  # Learning-rate schedules in generator steps (jaxgan/optim.py): name 'constant', 'linear',
  # 'cosine' or 'step'; warmup_steps; end_factor, steps (linear/cosine); milestones, factor
  # (step).
  config.optim.g_schedule = schedule_config()
  config.optim.d_schedule = schedule_config()
  # Adam's beta2 along a ramp (jaxgan/schedules.py: name 'cosine', 'linear' or 'step',
  # init_value, end_value, steps) for both players; name 'constant' (the default): optim.b2
  # throughout.
  config.optim.b2_schedule = ml_collections.ConfigDict(
      {'name': 'constant', 'init_value': 0.0, 'end_value': 0.0, 'steps': 1.0})

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 100_000    # generator updates
  config.train.batch_size = 64        # global, across all devices and hosts
  config.train.d_steps = 1            # discriminator updates per generator update
  # The real images a relativistic generator loss (rpgan, ragan, ...) reads: 'shared', the last
  # critic update's batch (the first under phase_order='g_first'); 'own', one more real batch
  # per step for the generator's update (R3GAN's official loop draws one for each phase).
  config.train.g_real_batch = 'shared'
  # The labels of a conditional run's fakes: 'uniform' draws; 'real', those of each update's
  # real batch (R3GAN's official loop: a real and a fake of one class in each pair).
  config.train.fake_labels = 'uniform'
  # The players' order in a step: 'd_first', the critic updates then the generator's;
  # 'g_first', the generator's update (and its lazy phase) then the critic updates against the
  # updated generator (StyleGAN2's official loop: Gmain, Greg, Dmain, Dreg).
  config.train.phase_order = 'd_first'
  config.train.seed = 0
  config.train.checkpoint_every = 5_000
  config.train.keep_checkpoints = 3
  config.train.ema_decay = 0.0        # generator EMA decay (0: off; e.g. 0.9999)
  config.train.ema_start = 0          # step from which the EMA averages (before: a copy)
  # Or StyleGAN2's EMA (instead of ema_decay): the half-life in thousands of images (the
  # official ema_kimg; 0: off) and its ramp-up (ema_rampup, e.g. 0.05; 0: none).
  config.train.ema_half_life_kimg = 0.0
  config.train.ema_rampup = 0.0
  # Or R3GAN's EMA: the half-life (thousands of images) along a ramp of generator steps
  # (jaxgan/schedules.py: name 'cosine', 'linear' or 'step', init_value, end_value, steps);
  # name 'constant' (the default): ema_half_life_kimg or ema_decay as above.
  config.train.ema_half_life_schedule = ml_collections.ConfigDict(
      {'name': 'constant', 'init_value': 0.0, 'end_value': 0.0, 'steps': 1.0})
  # What the EMA generator samples with besides its averaged weights: 'live', the live
  # generator's state (batch-norm statistics, spectral-norm vectors; StyleGAN2's official
  # G_ema), or 'average', an EMA of that state too (PyTorch-StudioGAN's Ema; jaxgan.EMA).
  config.train.ema_state = 'live'
  # Persistent XLA compilation cache of `launch` (a folder, ~ and $VARS expanded; '': off): a
  # restart or resume loads the compiled step instead of compiling it (BENCHMARKS.md).
  config.train.compilation_cache = '~/.cache/jaxgan/xla'

  config.log = ml_collections.ConfigDict()
  config.log.every_steps = 100        # scalars to TensorBoard, metrics.jsonl and the console
  config.log.samples_every = 1_000    # sample grid of a fixed z (PNG + TensorBoard; 0: never)
  config.log.num_samples = 64         # images in the sample grid
  config.log.attention_every = 0      # SAGAN attention-map figures (0: never)

  # Evaluator plug-ins (jaxgan.metrics.evaluators.register), run on process 0 on one pool of
  # generated images; see jaxgan/evaluation.py. FID uses the TF-FID Inception network.
  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 0           # 0: no evaluation during training
  config.eval.evaluators = ('fid', 'kid')   # also 'inception_score', 'prdc', or your own
  config.eval.num_samples = 10_000      # generated images per evaluation (real: min(this, N))
  # The metric whose best value keeps workdir/best_fid (its evaluator declares whether lower
  # or higher is better; '': no best checkpoint).
  config.eval.best_metric = 'fid'
  config.eval.chunk_size = 500          # images generated per call
  config.eval.seed = 0                  # latent draws (the same at every evaluation), KID subsets
  config.eval.cache_dir = ''            # weights and real statistics ('': $JAXGAN_CACHE or ~/.cache/jaxgan)
  config.eval.reference_split = ''      # TFDS split of the real images ('': data.split)
  # The Inception network that 'fid', 'kid', 'inception_score' and 'prdc' share (one pass).
  config.eval.inception = ml_collections.ConfigDict()
  config.eval.inception.weights = ''    # '': default_1.pt; the Inception Score: pytorch-fid's .pth
  config.eval.inception.batch_size = 50   # images per Inception pass
  # Each evaluator's own settings, config.eval.<name>.<key>, with the defaults it registered
  # (jaxgan/metrics/evaluators.py): kid.subsets (100), kid.subset_size (1000),
  # inception_score.splits (10), prdc.k_pr (3, Kynkaanniemi et al. 2019), prdc.k_dc (5,
  # Naeem et al. 2020); 'fid' has none.
  for name, registration in evaluators_lib.registered().items():
    config.eval[name] = ml_collections.ConfigDict(dict(registration.settings))

  return config


def schedule_config(name: str = 'constant', **fields) -> ml_collections.ConfigDict:
  """A schedule's config block with every field (the defaults of `config.optim.*_schedule`;
  jaxgan.optim reads it)."""
  cfg = ml_collections.ConfigDict()
  cfg.name = name
  cfg.warmup_steps = 0
  cfg.end_factor = 0.0
  cfg.steps = 0.0    # linear/cosine: their length in generator steps after warm-up (0: to the end)
  cfg.milestones = ()
  cfg.factor = 0.1
  for k, v in fields.items():
    cfg[k] = v
  return cfg


def _move_flat_eval_keys(values: dict, origin: str) -> dict:
  """A saved config's values with jaxgan 0.2.0's flat eval keys (`evaluators.MOVED`) at their
  new places ('kid': True adds the evaluator 'kid' after 'fid');
  ConfigError for the settings of an evaluator this process has not registered."""
  flat = values.get('eval')
  if not isinstance(flat, dict):
    return values
  for key, value in flat.items():
    if (isinstance(value, dict) and key not in evaluators_lib.RESERVED
        and key not in evaluators_lib.registered()):
      raise errors.ConfigError(
          f'{origin} holds the settings of the evaluator {key!r}, which is not registered; '
          f'register it (jaxgan.metrics.evaluators.register) before loading the run.')
  # 'kid' is also the new section's name: only a bool is the old flag.
  old_keys = [k for k in evaluators_lib.MOVED if k in flat and not isinstance(flat[k], dict)]
  if not old_keys:
    return values
  section = {k: v for k, v in flat.items() if k not in old_keys}
  for old in old_keys:
    if old != 'kid':
      name, key = evaluators_lib.MOVED[old].split('.')
      section.setdefault(name, {})[key] = flat[old]
  names = list(flat.get('evaluators') or ())
  if flat.get('kid') is True and 'fid' in names and 'kid' not in names:
    names.insert(names.index('fid') + 1, 'kid')
  section['evaluators'] = names
  return {**values, 'eval': section}


# ---------------------------------------------------------------------------------------------
# Reading configs.
# ---------------------------------------------------------------------------------------------

# ml_collections' TypeError when a config file sets a key to a value of another type.
_TYPE_ERROR = re.compile(r"Could not override field '(\w+)' \(reference\)\. (.*) is of "
                         r"original type <class '([\w.]+)'> and cannot be casted to type "
                         r"<class '([\w.]+)'>", re.S)
# The key an assignment line of a config file sets: `c.eval.kid = ...`, `c['eval']['kid'] = ...`.
_ASSIGNED = re.compile(r"^\s*\w+((?:\.\w+|\[\s*['\"]\w+['\"]\s*\])+)\s*=[^=]")


def type_mistake(key: str, value: Any, *, command_line: bool) -> str:
  """The one sentence for setting config key `key` ('eval.kid') to a value of the wrong type:
  a section (a ConfigDict: an evaluator's settings, config.eval.inception, ...) given a plain
  value, or a plain key given a value its type does not take. `command_line`: the mistake is
  an override `--config.<key>=<value>` (the sentence says what to pass), else a config file."""
  try:
    current = get(default(), key)
  except (KeyError, AttributeError):
    current = None
  where = '--config.' if command_line else 'config.'
  if key == 'eval.kid':   # jaxgan 0.2.0's switch, now the evaluator 'kid'
    only_fid = ('--config.eval.evaluators=fid' if command_line
                else "config.eval.evaluators = ('fid',)")
    return (f"config.eval.kid is now the evaluator 'kid' (a section of its settings), not a "
            f"switch; leave 'kid' out of config.eval.evaluators (e.g. {only_fid}) to skip KID.")
  if isinstance(current, ml_collections.ConfigDict):
    keys = ', '.join(sorted(current)) or 'none by default'
    name = key.split('.')[-1]
    if key.startswith('eval.') and name in evaluators_lib.registered():
      names = ('fid',) if name == 'fid' else ('fid', name)
      evaluators = (f'--config.eval.evaluators={",".join(names)}' if command_line
                    else f'config.eval.evaluators = {names!r}')
      return (f"config.eval.{name} holds the settings of the evaluator {name!r} ({keys}), not "
              f"a value like {value}; name it in config.eval.evaluators to run it (e.g. "
              f"{evaluators}) and leave it out to skip it.")
    return (f'config.{key} is a section (its keys: {keys}), not a value like {value}; set '
            f'one of its keys instead ({where}{key}.<key>=...).')
  if current is not None:
    fix = (f'pass --config.{key}=<{type(current).__name__}>' if command_line
           else 'fix the config file')
    return (f'config.{key}={value} does not fit the key\'s type ({type(current).__name__}, '
            f'default {current!r}); {fix}.')
  return (f'config.{key}={value} does not fit the key\'s type; '
          f'{"pass another value" if command_line else "fix the config file"}.')


def config_file_type_mistake(message: str, line: str) -> str | None:
  """`type_mistake`'s sentence for ml_collections' TypeError `message` raised by the config
  file's assignment `line`, None when `message` is another error. The key is read from the
  line (`config.eval.kid = False` sets 'eval.kid'); where the line does not name it, from the
  default config where one key has the field's name."""
  found = _TYPE_ERROR.search(message)
  if found is None:
    return None
  field, value = found.group(1), found.group(2)
  key = None
  assigned = _ASSIGNED.match(line or '')
  if assigned is not None:
    parts = re.findall(r"\w+", assigned.group(1))
    if parts and parts[-1] == field:
      key = '.'.join(parts)
  if key is None or not _has(key):
    paths = [p for p in _keys(default()) if p.split('.')[-1] == field]
    key = paths[0] if len(paths) == 1 else (key or field)
  return type_mistake(key, value, command_line=False)


def _has(key: str) -> bool:
  try:
    get(default(), key)
    return True
  except (KeyError, AttributeError):
    return False


def _keys(node: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  out = []
  for name, value in node.items():
    out.append(prefix + name)
    if isinstance(value, ml_collections.ConfigDict):
      out += _keys(value, f'{prefix}{name}.')
  return out


def from_file(path: str) -> ml_collections.ConfigDict:
  """The ConfigDict that the config file at `path` returns from `get_config()`.

  `path:ARG` calls `get_config('ARG')`, as `launch.py --config=path:ARG` does (ml_collections'
  config_flags), e.g. `configs/toy_grid.py:rpgan`.
  """
  arg = None
  if not os.path.isfile(path) and ':' in path:
    path, arg = path.rsplit(':', 1)
  if not os.path.isfile(path):
    raise errors.ConfigError(f'config file {path} does not exist; pass the path of a config '
                             f'file with a get_config() (e.g. configs/dcgan.py).')
  path = os.path.abspath(path)
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f'jaxgan_config_{name}', path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    config = module.get_config() if arg is None else module.get_config(arg)
  except SyntaxError as e:
    raise errors.ConfigError(f'config file {path} has a syntax error at line {e.lineno} '
                             f'({e.msg}); fix it.') from e
  except Exception as e:  # pylint: disable=broad-except
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
    mistake = (config_file_type_mistake(str(e), frames[-1].line)
               if isinstance(e, TypeError) and frames else None)
    if mistake is not None:
      raise errors.ConfigError(f'{path}: {mistake}') from e
    raise errors.ConfigError(f'config file {path} failed to load ({type(e).__name__}: {e}); '
                             f'fix it, or start from configs/default.py.') from e
  if not isinstance(config, ml_collections.ConfigDict):
    raise errors.ConfigError(f'get_config() of {path} returned a {type(config).__name__}, not '
                             f'an ml_collections.ConfigDict.')
  return config


def merge(base: ml_collections.ConfigDict, values: dict, *, origin: str) -> None:
  """Sets `values` (nested dicts, e.g. a saved config.json) on `base`, key by key.

  None keeps the base's value (a saved "model's own default"); a key the base lacks is an
  error naming `origin`.
  """
  for key, value in values.items():
    if key not in base:
      raise errors.ConfigError(f'{origin} has the key {key!r}, which this version of jaxgan '
                               f'does not know; use the jaxgan version that wrote it.')
    current = base[key]
    if isinstance(current, ml_collections.ConfigDict) and key != 'regularizers':
      if not isinstance(value, dict):
        raise errors.ConfigError(f'{origin}: {key} must be a section, got {value!r}.')
      merge(current, value, origin=origin)
    elif value is not None:
      if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
      if isinstance(current, float) and isinstance(value, int):
        value = float(value)
      try:
        base[key] = value
      except (TypeError, ValueError) as e:
        raise errors.ConfigError(f'{origin}: {key}={value!r} does not fit the field\'s type '
                                 f'({type(current).__name__}).') from e


def from_json(path: str) -> ml_collections.ConfigDict:
  """A run's saved config.json on top of `default()` (keys added since keep their defaults)."""
  try:
    with open(path) as f:
      values = json.load(f)
  except FileNotFoundError as e:
    raise errors.CheckpointError(f'{path} does not exist; pass the workdir of a jaxgan '
                                 f'training run.') from e
  except (OSError, ValueError) as e:
    raise errors.CheckpointError(f'{path} cannot be read ({e}); restore it from a backup or '
                                 f'retrain.') from e
  config = default()
  merge(config, _move_flat_eval_keys(values, path), origin=path)
  return config


def copy(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A deep copy of `config` (field types and lock kept)."""
  return copy_lib.deepcopy(config)


def to_json(config: ml_collections.ConfigDict) -> str:
  return config.to_json_best_effort(indent=2, sort_keys=False)


def get(config: ml_collections.ConfigDict, key: str) -> Any:
  """config[a][b] for the dotted key 'a.b'."""
  node = config
  for part in key.split('.'):
    node = node[part]
  return node


# ---------------------------------------------------------------------------------------------
# The loop's values (the parts' own keys are checked by the parts; see jaxgan.validation).
# ---------------------------------------------------------------------------------------------

def ema_half_life_ramp(config: ml_collections.ConfigDict):
  """The EMA half-life's ramp of `config.train.ema_half_life_schedule` in thousands of images
  (a function of the generator step), or None for 'constant' (or an older config without it);
  ConfigError naming the key for a bad block."""
  block = config.train.get('ema_half_life_schedule')
  if block is None:
    return None
  errors.check_choice('train.ema_half_life_schedule.name', block.get('name'),
                      ('constant',) + schedules.RAMPS)
  if block.name == 'constant':
    return None
  return schedules.ramp('train.ema_half_life_schedule', block, low=0,
                        hint=' (the EMA\'s half-life in thousands of images)')


# The training loop's values (`jaxgan.Loop`'s fields): {field: (config key, low, high)}, the
# one statement of their ranges (`check_loop_value`), for a config and for a Loop in code.
LOOP = {
    'num_steps': ('train.num_steps', 1, None),
    'batch_size': ('train.batch_size', 1, None),
    'd_steps': ('train.d_steps', 1, None),
    'seed': ('train.seed', 0, 2**32 - 1),
    'checkpoint_every': ('train.checkpoint_every', 1, None),
    'keep_checkpoints': ('train.keep_checkpoints', 1, None),
    'log_every': ('log.every_steps', 1, None),
    'samples_every': ('log.samples_every', 0, None),
    'num_samples': ('log.num_samples', 1, None),
    'attention_every': ('log.attention_every', 0, None),
    'eval_every': ('eval.every_steps', 0, None),
    'prefetch': ('data.prefetch', 1, None),
}


def check_loop_value(field: str, value: Any, *, config: bool) -> None:
  """ConfigError unless `value` is in the range of the loop value `field` (`LOOP`), naming
  what the user wrote: the config key (`config`: config.train.num_steps) or the Loop field
  (Loop.num_steps)."""
  key, low, high = LOOP[field]
  checks.number(key if config else f'Loop.{field}', value, integer=True, low=low, high=high,
                prefix='config.' if config else '')


def validate_loop(config: ml_collections.ConfigDict) -> None:
  """ConfigError on a bad value of what the training loop and step read (the `train` and
  `log` sections, `eval.every_steps` and `eval.seed`, `model.z_dim`, `model.num_classes`,
  `optim.d_clip`, `data.prefetch`): what an experiment with parts of its own still takes from
  its config. (The evaluators check their own settings, `jaxgan.metrics.evaluators`.)"""
  missing = [section for section in SECTIONS if section not in config]
  if missing:
    raise errors.ConfigError(f'the config lacks the sections {", ".join(missing)}; start from '
                             f'jaxgan.config.default().')
  for field, (key, _, _) in LOOP.items():
    check_loop_value(field, get(config, key), config=True)
  for key in ('model.z_dim', 'eval.chunk_size'):
    checks.number(key, get(config, key), integer=True, low=1)
  checks.number('train.ema_start', config.train.ema_start, integer=True, low=0)
  checks.number('model.num_classes', config.model.num_classes, integer=True, low=-1)
  errors.check_choice('train.g_real_batch', config.train.g_real_batch, ('shared', 'own'))
  errors.check_choice('train.fake_labels', config.train.fake_labels, ('uniform', 'real'))
  errors.check_choice('train.phase_order', config.train.phase_order, ('d_first', 'g_first'))
  errors.check_choice('train.ema_state', config.train.ema_state, ('live', 'average'))
  checks.number('eval.seed', config.eval.seed, integer=True, low=0, high=2**32 - 1)
  checks.number('train.ema_decay', config.train.ema_decay, low=0, high=1, high_open=True)
  checks.number('train.ema_half_life_kimg', config.train.ema_half_life_kimg, low=0,
                hint=' (thousands of images; 0: off)')
  checks.number('train.ema_rampup', config.train.ema_rampup, low=0, hint=' (0: no ramp-up)')
  ramped = ema_half_life_ramp(config)
  if ramped is not None and (config.train.ema_decay > 0 or config.train.ema_half_life_kimg > 0):
    raise errors.ConfigError(
        'config.train.ema_half_life_schedule sets the EMA\'s half-life; set '
        'config.train.ema_decay and config.train.ema_half_life_kimg to 0.')
  if config.train.ema_decay > 0 and config.train.ema_half_life_kimg > 0:
    raise errors.ConfigError(
        f'config.train.ema_decay={config.train.ema_decay!r} and config.train.ema_half_life_kimg'
        f'={config.train.ema_half_life_kimg!r} both set the EMA; set one of them to 0.')
  if (config.train.ema_rampup > 0 and not config.train.ema_half_life_kimg > 0
      and ramped is None):
    raise errors.ConfigError(
        f'config.train.ema_rampup={config.train.ema_rampup!r} ramps up StyleGAN2\'s EMA; set '
        f'config.train.ema_half_life_kimg too (e.g. 500), or ema_rampup to 0.')
  if not isinstance(config.train.compilation_cache, str):
    raise errors.ConfigError(
        f'config.train.compilation_cache={config.train.compilation_cache!r} must be a folder '
        f'path, or \'\' to compile without a persistent cache.')
  checks.number('optim.d_clip', config.optim.d_clip, low=0,
                hint=' (0 turns weight clipping off)')
