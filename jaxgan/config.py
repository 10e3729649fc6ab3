"""The run config: every key and its one default, reading config files and saved configs.

  config = jaxgan.config.default()                  # every key, with its default
  config = jaxgan.config.from_file('configs/dcgan.py')   # a config file's get_config()
  config = jaxgan.config.from_json('runs/dcgan/config.json')  # a run's saved config
  jaxgan.config.validate(config)                    # ConfigError on any bad value

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
from typing import Any, Optional

import ml_collections
from ml_collections import config_dict

from jaxgan import errors, optim
from jaxgan.metrics import evaluators as evaluators_lib


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
  # statistics, spectral norm, attention softmax, tanh output and losses stay float32).
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

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'non_saturating'
  # Extra terms added to the objective, name -> weight, e.g. {'gradient_penalty': 10.0}.
  config.loss.regularizers = ml_collections.ConfigDict()

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

  config.optim = ml_collections.ConfigDict()
  config.optim.g_optimizer = 'adam'   # 'adam', 'rmsprop' (PyTorch's) or 'sgd'
  config.optim.d_optimizer = 'adam'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.d_clip = 0.0           # > 0: clip critic params to [-c, c] after each update
  # Learning-rate schedules in generator steps (jaxgan/optim.py): name 'constant', 'linear',
  # 'cosine' or 'step'; warmup_steps; end_factor (linear/cosine); milestones, factor (step).
  config.optim.g_schedule = optim.schedule_config()
  config.optim.d_schedule = optim.schedule_config()

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 100_000    # generator updates
  config.train.batch_size = 64        # global, across all devices and hosts
  config.train.d_steps = 1            # discriminator updates per generator update
  config.train.seed = 0
  config.train.checkpoint_every = 5_000
  config.train.keep_checkpoints = 3
  config.train.ema_decay = 0.0        # generator EMA decay (0: off; e.g. 0.9999)
  config.train.ema_start = 0          # step from which the EMA averages (before: a copy)
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
# Validation: every value a user can get wrong, before any data loads or anything compiles.
# ---------------------------------------------------------------------------------------------

def _integer(config, key: str, minimum: int = 1, maximum: Optional[int] = None) -> None:
  value = get(config, key)
  if (not isinstance(value, int) or isinstance(value, bool) or value < minimum
      or (maximum is not None and value > maximum)):
    bound = f'>= {minimum}' if maximum is None else f'in [{minimum}, {maximum}]'
    raise errors.ConfigError(f'config.{key}={value!r} must be an integer {bound}.')


def validate_loop(config: ml_collections.ConfigDict) -> None:
  """ConfigError on a bad value of what the training loop and step read (the `train`, `log`
  and `eval` sections, `model.z_dim`, `model.num_classes`, `optim.d_clip`, `data.prefetch`):
  what an experiment with parts of its own still takes from its config."""
  missing = [section for section in ('data', 'model', 'loss', 'optim', 'train', 'log', 'eval')
             if section not in config]
  if missing:
    raise errors.ConfigError(f'the config lacks the sections {", ".join(missing)}; start from '
                             f'jaxgan.config.default().')
  for key in ('train.num_steps', 'train.batch_size', 'train.d_steps', 'train.checkpoint_every',
              'train.keep_checkpoints', 'log.every_steps', 'log.num_samples', 'model.z_dim',
              'data.prefetch', 'eval.chunk_size'):
    _integer(config, key)
  for key in ('log.samples_every', 'log.attention_every', 'eval.every_steps',
              'train.ema_start'):
    _integer(config, key, minimum=0)
  _integer(config, 'model.num_classes', minimum=-1)
  _integer(config, 'train.seed', minimum=0, maximum=2**32 - 1)
  _integer(config, 'eval.seed', minimum=0, maximum=2**32 - 1)
  if not 0.0 <= config.train.ema_decay < 1.0:
    raise errors.ConfigError(f'config.train.ema_decay={config.train.ema_decay!r} must be in '
                             f'[0, 1).')
  if not isinstance(config.train.compilation_cache, str):
    raise errors.ConfigError(
        f'config.train.compilation_cache={config.train.compilation_cache!r} must be a folder '
        f'path, or \'\' to compile without a persistent cache.')
  if not isinstance(config.optim.d_clip, (int, float)) or config.optim.d_clip < 0:
    raise errors.ConfigError('config.optim.d_clip must be >= 0 (0 turns weight clipping off).')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (one sentence naming the key and what to do) on a bad config.

  Checks the loop's settings (`validate_loop`) and the names of every part; building the
  parts (`jaxgan.build`) then checks each part's own arguments.
  """
  from jaxgan import augment, data, evaluation, losses, models  # pylint: disable=g-import-not-at-top
  validate_loop(config)
  if 'augment' not in config:
    raise errors.ConfigError('the config lacks the section augment; start from '
                             'jaxgan.config.default().')
  validate_data(config)
  errors.check_choice('model.name', config.model.name, models.MODELS)
  errors.check_choice('model.dtype', config.model.dtype, models.DTYPES)
  is_2d = config.data.dataset in data.MIXTURES
  if is_2d != (config.model.name == 'mlp'):
    raise errors.ConfigError(
        f'config.model.name={config.model.name!r} does not fit '
        f'config.data.dataset={config.data.dataset!r}; use model \'mlp\' for the 2-D mixtures '
        f'{data.MIXTURES} and an image model for image datasets.')
  fraction = config.data.fraction
  if (not isinstance(fraction, (int, float)) or isinstance(fraction, bool)
      or not 0.0 < fraction <= 1.0):
    raise errors.ConfigError(f'config.data.fraction={fraction!r} must be in (0, 1] (the share '
                             f'of the training split to train on).')
  if is_2d and fraction != 1.0:
    raise errors.ConfigError(f'config.data.fraction={fraction!r} applies to image datasets; the '
                             f'mixture {config.data.dataset!r} draws fresh points every step, '
                             f'so leave it at 1.')
  loss = losses.from_config(config.loss)   # unknown objective / regulariser names
  augment.validate_config(config.augment)
  if loss.needs_augment and not augment.parse_policy(config.augment.policy):
    raise errors.ConfigError(
        f'the loss {loss!r} needs an augmentation T (consistency regularisation); set '
        f'config.augment.policy (e.g. \'translation\'; config.augment.probability=0 keeps it '
        f'out of the images D trains on, for bCR alone).')
  for key in ('g_optimizer', 'd_optimizer'):
    errors.check_choice(f'optim.{key}', config.optim[key], optim.OPTIMIZERS)
  for key in ('g_schedule', 'd_schedule'):
    optim.validate_schedule(config.optim[key], key)
  for key in ('g_lr', 'd_lr'):
    value = config.optim[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
      raise errors.ConfigError(f'config.optim.{key}={value!r} must be > 0.')
  for key in ('b1', 'b2'):
    value = config.optim[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
      raise errors.ConfigError(
          f'config.optim.{key}={value!r} must be in [0, 1) (a moment\'s decay rate: Adam\'s '
          f'beta{key[1]}, SGD\'s momentum for b1), e.g. 0.5 and 0.999.')
  for key in _SET_KEYS:
    section, name = key.split('.')
    why = unread(config, key)
    if why and config[section][name] != _DEFAULT[section][name]:
      raise errors.ConfigError(
          f'config.{key}={config[section][name]!r} is not read by {why}, so it would change '
          f'nothing; remove it (default {_DEFAULT[section][name]!r}).')
  if config.model.num_classes == -1 and is_2d:
    raise errors.ConfigError(f'config.model.num_classes=-1 takes the classes of the data, but '
                             f'{config.data.dataset!r} has none; set it to 0.')
  if config.eval.reference_split and not data.is_tfds(config.data.dataset):
    raise errors.ConfigError(
        f'config.eval.reference_split={config.eval.reference_split!r} picks a TFDS split, but '
        f'{config.data.dataset!r} has no splits; set it to \'\'.')
  evaluation.validate(config)


# Model and data keys that only some models or datasets read: a value set on one that ignores
# it cannot be meant (validate refuses it; `unread` says why).
_MODEL_LOOP_KEYS = ('model.name', 'model.z_dim', 'model.num_classes', 'model.dtype')
_DEFAULT = default()
_SET_KEYS = tuple(f'{section}.{name}' for section in ('model', 'data')
                  for name in _DEFAULT[section])
# What each kind of dataset never reads (the mixtures draw 2-D points: no image key at all).
_DATA_UNREAD = {
    'mixture': ('image_size', 'channels', 'path', 'labels', 'data_dir', 'split', 'image_key',
                'label_key', 'cache', 'cache_max_gb', 'workers'),
    'digits': ('data_dir', 'split', 'cache', 'cache_max_gb', 'workers'),
    'file': ('data_dir', 'split'),
}


def unread(config: ml_collections.ConfigDict, key: str) -> Optional[str]:
  """Who ignores `key` ('model.NAME' or 'data.NAME') in `config`, e.g. "the model 'dcgan'",
  or None when the chosen model and dataset read it (or the key is not theirs)."""
  from jaxgan import data, models  # pylint: disable=g-import-not-at-top
  section, _, name = key.partition('.')
  if section == 'model' and key not in _MODEL_LOOP_KEYS:
    family = models.MODELS.get(config.model.name)
    if family is not None and key not in {**family.generator_args,
                                          **family.discriminator_args}:
      return f'the model {config.model.name!r}'
  elif section == 'data':
    dataset = config.data.dataset
    kind = ('mixture' if dataset in data.MIXTURES else 'digits' if dataset == 'digits'
            else 'file' if dataset in data.FILE_DATASETS else 'tfds')
    if name in _DATA_UNREAD.get(kind, ()):
      what = {'mixture': 'the 2-D mixture', 'digits': 'the bundled dataset',
              'file': 'the file dataset'}[kind]
      return f'{what} {dataset!r}'
  return None


def validate_data(config: ml_collections.ConfigDict) -> None:
  """ConfigError on a bad `data` value (the dataset's name, size, channels, storage), before
  any data is read (a TFDS name is checked against TFDS' registry, offline)."""
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  d = config.data
  if not isinstance(d.dataset, str) or not d.dataset.strip():
    raise errors.ConfigError('config.data.dataset is empty; name a TFDS dataset, \'folder\', '
                             '\'npz\', \'digits\', \'ring\' or \'grid\'.')
  _integer(config, 'data.workers', minimum=0)
  if d.dataset in data.MIXTURES:
    return
  if d.image_size not in data.IMAGE_SIZES:
    raise errors.ConfigError(
        f'config.data.image_size={d.image_size!r} is not supported; choose a power of two from '
        f'32 to 256 ({", ".join(map(str, data.IMAGE_SIZES))}).')
  errors.check_choice('data.channels', d.channels, data.CHANNELS)
  errors.check_choice('data.cache', d.cache, data.CACHES)
  errors.check_choice('data.labels', d.labels, data.LABELS)
  if (not isinstance(d.cache_max_gb, (int, float)) or isinstance(d.cache_max_gb, bool)
      or not d.cache_max_gb > 0):
    raise errors.ConfigError(f'config.data.cache_max_gb={d.cache_max_gb!r} must be > 0 (GB).')
  if d.dataset in data.FILE_DATASETS:
    if not d.path:
      what = 'folder of images' if d.dataset == 'folder' else '.npz file'
      raise errors.ConfigError(f'config.data.dataset={d.dataset!r} reads a {what}: pass it '
                               f'with --config.data.path=...')
  elif d.path:
    raise errors.ConfigError(f'config.data.path is read by the \'folder\' and \'npz\' datasets '
                             f'only, not {d.dataset!r}; set --config.data.dataset=folder (or npz), '
                             f'or clear data.path.')
  if d.labels == 'folders' and d.dataset != 'folder':
    raise errors.ConfigError(f'config.data.labels=\'folders\' is for --config.data.dataset=folder; '
                             f'set it to \'none\'.')
  if data.is_tfds(d.dataset):
    data.check_tfds_name(d.dataset, d.data_dir)
  else:
    for key in ('image_key', 'label_key'):
      if d[key]:
        raise errors.ConfigError(f'config.data.{key} picks a TFDS feature, but '
                                 f'{d.dataset!r} is not a TFDS dataset; clear it.')
