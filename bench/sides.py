"""The train steps that bench/interleave.py workers time: each builder returns a `Built`.

  jaxgan(model, image_size, batch, ...)      this tree's jaxgan (the library API)
  jaxgan_old(model, image_size, batch, ...)  jaxgan before the library redesign (git 127a801,
                                             models.build(config) + state.create(config, ...))
  torch(model, image_size, batch, ...)       PyTorch eager replicas (bench/torch_models.py)

A builder imports what it times itself, so a worker started with another tree's root first on
sys.path (interleave.py --root) times that tree's code. Every step blocks until its result is
ready. `first_step_s` is what a user waits for: building the parts and the state, compiling
(for jaxgan) and running the first step; `import_s` the imports before it.

Models: DCGAN is configs/dcgan.py at 32x32 or 64x64 (G 512/1024 wide, D 64); SAGAN is
configs/sagan_hinge.py (32x32, G 256 / D 128 channels). jaxgan's batch is the offline digits'
batch of step 0, placed on the device once (the step itself is timed, not the input pipeline).
"""

import dataclasses
import os
import sys
import time
from typing import Any, Callable, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))


@dataclasses.dataclass
class Built:
  step: Callable[[], None]        # one train step, blocking until done
  info: dict                      # params, first_step_s, import_s, module paths, ...
  lower: Optional[Callable[[], Any]] = None   # jaxgan: () -> jax Lowered of the step


def _xla_flags(flags: str, env: str = '') -> None:
  """Appends `flags` to XLA_FLAGS and sets `env` ('K=V K2=V2'), before jax is imported
  (the backend reads XLA_FLAGS once)."""
  if flags:
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + flags).strip()
  for pair in env.split():
    key, _, value = pair.partition('=')
    os.environ[key] = value


# Models by config file: the DCGAN, the SAGAN, WGAN-GP (the DCGAN with a layer-norm critic,
# 5 critic updates per step) and the 2-D ring's MLP GAN.
CONFIG_FILES = {'dcgan': 'dcgan.py', 'sagan': 'sagan_hinge.py', 'wgan_gp': 'wgan_gp.py',
                'ring': 'toy_ring.py'}


def _config_file(model: str) -> str:
  return CONFIG_FILES[model]


def _configure(config, model: str, image_size: int, batch: int, conv_impl: str,
               dtype: str = 'float32'):
  config.train.batch_size = batch
  config.eval.every_steps = 0
  if model == 'ring':
    return config
  config.data.dataset = 'digits'
  config.data.image_size = image_size
  config.model.dtype = dtype
  config.model.conv_impl = conv_impl
  if model == 'sagan' and image_size == 64:
    config.model.attention_resolution = 32
  return config


def jaxgan(model: str = 'dcgan', image_size: int = 32, batch: int = 64,
           conv_impl: str = 'auto', dtype: str = 'float32', cache_dir: str = '',
           xla_flags: str = '', env: str = '', d_norm: str = '',
           **unused) -> Built:
  """This tree's jaxgan: jaxgan.build(config), experiment.init_state(), the experiment's
  parts through steps.make_train_step on one device, data.Layout and data.batch.
  d_norm: the DCGAN critic's normalisation ('layer', 'none'; '' keeps the config's)."""
  del unused
  _xla_flags(xla_flags, env)
  t0 = time.perf_counter()
  import jax  # pylint: disable=g-import-not-at-top
  if cache_dir:
    jax.config.update('jax_compilation_cache_dir', cache_dir)
  import jaxgan as jaxgan_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import data, state as state_lib, steps  # pylint: disable=g-import-not-at-top
  from jaxgan.models import layers  # pylint: disable=g-import-not-at-top
  t1 = time.perf_counter()
  root = os.path.dirname(os.path.dirname(os.path.abspath(jaxgan_lib.__file__)))
  config = jaxgan_lib.config.from_file(os.path.join(root, 'configs', _config_file(model)))
  config = _configure(config, model, image_size, batch, conv_impl, dtype)
  if d_norm:
    config.model.d_norm = d_norm
  experiment = jaxgan_lib.build(config)
  devices = jax.devices()[:1]
  t = config.train
  step_fn = steps.make_train_step(
      experiment.generator, experiment.discriminator, experiment.loss,
      experiment.g_optimizer, experiment.d_optimizer, z_dim=experiment.z_dim,
      num_classes=experiment.num_classes, d_clip=config.optim.d_clip,
      ema_decay=t.ema_decay, ema_start=t.ema_start, devices=devices)
  experiment.data.prepare()
  layout = data.Layout(batch_size=t.batch_size, d_steps=t.d_steps, local_devices=1)
  state, batch_arrays = step_fn.place(experiment.init_state(), experiment.data.batch(0, layout))
  holder = {'state': state}

  def step():
    holder['state'], metrics = step_fn(holder['state'], batch_arrays)
    jax.block_until_ready(metrics)

  step()
  t2 = time.perf_counter()
  info = {
      'side': 'jaxgan', 'jaxgan': jaxgan_lib.__file__, 'jax': jax.__version__,
      'd_steps': int(t.d_steps),
      'backend': jax.default_backend(), 'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'conv_impl': f'{conv_impl} ({layers.resolve_conv_impl(conv_impl)})',
      'params': [state_lib.param_count(holder['state'].g_params),
                 state_lib.param_count(holder['state'].d_params)],
      'import_s': t1 - t0, 'first_step_s': t2 - t1}
  return Built(step, info, lower=lambda: step_fn.lower(holder['state'], batch_arrays))


def jaxgan_experiment(model: str = 'dcgan', image_size: int = 32, batch: int = 64,
                      conv_impl: str = 'auto', dtype: str = 'float32', xla_flags: str = '',
                      env: str = '', **unused) -> Built:
  """ROOT's jaxgan through its public experiment API only: `jaxgan.build(config)`,
  `experiment.init_state()` and the experiment's own train step on one device, as a user's
  loop gets it. Works for the trees before (a `train_step` property over all devices) and
  after (`train_step(devices=...)`) the typed experiment, so both time in one interleaving."""
  del unused
  _xla_flags(xla_flags, env)
  t0 = time.perf_counter()
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan as jaxgan_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  t1 = time.perf_counter()
  root = os.path.dirname(os.path.dirname(os.path.abspath(jaxgan_lib.__file__)))
  config = jaxgan_lib.config.from_file(os.path.join(root, 'configs', _config_file(model)))
  config = _configure(config, model, image_size, batch, conv_impl, dtype)
  experiment = jaxgan_lib.build(config)
  devices = jax.devices()[:1]
  step_fn = experiment.train_step
  if not hasattr(step_fn, 'place'):          # the typed experiment: a method
    step_fn = step_fn(devices=devices)
  elif len(jax.devices()) != 1:
    raise RuntimeError('jaxgan_experiment times one device; run without fake host devices.')
  experiment.data.prepare()
  layout = data.Layout(batch_size=batch, d_steps=int(config.train.d_steps), local_devices=1)
  state, batch_arrays = step_fn.place(experiment.init_state(), experiment.data.batch(0, layout))
  holder = {'state': state}

  def step():
    holder['state'], metrics = step_fn(holder['state'], batch_arrays)
    jax.block_until_ready(metrics)

  step()
  t2 = time.perf_counter()
  count = lambda tree: sum(int(x.size) for x in jax.tree.leaves(tree))
  info = {'side': 'jaxgan (experiment API)', 'jaxgan': jaxgan_lib.__file__,
          'jax': jax.__version__, 'd_steps': int(config.train.d_steps),
          'backend': jax.default_backend(), 'import_s': t1 - t0, 'first_step_s': t2 - t1,
          'params': [count(holder['state'].g_params), count(holder['state'].d_params)]}
  return Built(step, info, lower=lambda: step_fn.lower(holder['state'], batch_arrays))


def jaxgan_old(model: str = 'dcgan', image_size: int = 32, batch: int = 64,
               conv_impl: str = 'auto', dtype: str = 'float32', cache_dir: str = '',
               xla_flags: str = '', env: str = '', **unused) -> Built:
  """jaxgan before the redesign (git 127a801): the API that bench/ used then, with inputs
  placed by steps.input_shardings as its training loop did (one compilation)."""
  del unused
  _xla_flags(xla_flags, env)
  t0 = time.perf_counter()
  import jax  # pylint: disable=g-import-not-at-top
  if cache_dir:
    jax.config.update('jax_compilation_cache_dir', cache_dir)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jaxgan as jaxgan_pkg  # pylint: disable=g-import-not-at-top
  from jaxgan import data, losses, models, state as state_lib, steps  # pylint: disable=g-import-not-at-top
  t1 = time.perf_counter()
  root = os.path.dirname(os.path.abspath(jaxgan_pkg.__path__[0]))
  if root not in sys.path:
    sys.path.insert(0, root)
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{_config_file(model)[:-3]}').get_config()
  config = _configure(config, model, image_size, batch, conv_impl, dtype)
  devices = jax.devices()[:1]
  generator, discriminator = models.build(config)
  tx_g, tx_d = state_lib.optimizers(config)
  state_sharding, batch_sharding = steps.input_shardings(devices)
  state = jax.device_put(state_lib.create(config, generator, discriminator, tx_g, tx_d),
                         state_sharding)
  step_fn = steps.make_train_step(config, generator, discriminator,
                                  losses.from_config(config.loss), tx_g, tx_d, devices=devices)
  source = data.Source(config, local_devices=1)
  host = source.batch(0)
  batch_arrays = jax.device_put({k: np.asarray(v) for k, v in host.items()}, batch_sharding)
  holder = {'state': state}

  def step():
    holder['state'], metrics = step_fn(holder['state'], batch_arrays)
    jax.block_until_ready(metrics)

  step()
  t2 = time.perf_counter()
  info = {
      'side': 'jaxgan (127a801)', 'jaxgan': jaxgan_pkg.__path__[0], 'jax': jax.__version__,
      'backend': jax.default_backend(), 'conv_impl': conv_impl,
      'params': [state_lib.param_count(holder['state'].g_params),
                 state_lib.param_count(holder['state'].d_params)],
      'import_s': t1 - t0, 'first_step_s': t2 - t1}
  return Built(step, info, lower=lambda: step_fn.lower(holder['state'], batch_arrays))


def torch(model: str = 'dcgan', image_size: int = 32, batch: int = 64, threads: int = 0,
          **unused) -> Built:
  """PyTorch eager (bench/torch_models.py); threads: torch.set_num_threads (0: all cores)."""
  del unused
  t0 = time.perf_counter()
  import torch as torch_lib  # pylint: disable=g-import-not-at-top
  if BENCH not in sys.path:
    sys.path.append(BENCH)
  import torch_models  # pylint: disable=g-import-not-at-top
  t1 = time.perf_counter()
  threads = threads or os.cpu_count()
  if model == 'dcgan':
    step, params = torch_models.dcgan_step(image_size, batch, threads=threads)
  elif model == 'sagan' and image_size == 32:
    step, params = torch_models.sagan_step(batch, threads=threads)
  else:
    raise ValueError(f'no PyTorch replica of {model} at {image_size}x{image_size}')
  step()
  t2 = time.perf_counter()
  info = {'side': 'PyTorch eager', 'torch': torch_lib.__version__, 'threads': threads,
          'params': list(params), 'import_s': t1 - t0, 'first_step_s': t2 - t1}
  return Built(step, info)


BUILDERS = {'jaxgan': jaxgan, 'jaxgan_experiment': jaxgan_experiment, 'jaxgan_old': jaxgan_old, 'torch': torch}


# ---------------------------------------------------------------------------------------------
# What the cores can do: one large float32 matmul or convolution per "step" (bench/roofline.py).
# ---------------------------------------------------------------------------------------------

def kernel_flops(op: str, size: int) -> float:
  """FLOPs of `op`: 'matmul' (size^3 products), 'conv' (3x3, 256 -> 256 channels, 32x32,
  batch `size`: the SAGAN generator's widest convolution)."""
  if op == 'matmul':
    return 2.0 * size ** 3
  return 2.0 * size * 32 * 32 * 256 * 256 * 9


def xla_kernel(op: str = 'matmul', size: int = 4096, **unused) -> Built:
  """A jitted float32 matmul or convolution (XLA:CPU's default options)."""
  del unused
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  key = jax.random.key(0)
  if op == 'matmul':
    a = jax.random.normal(key, (size, size), jnp.float32)
    b = jax.random.normal(jax.random.fold_in(key, 1), (size, size), jnp.float32)
    fn = jax.jit(jnp.matmul)
  else:
    a = jax.random.normal(key, (size, 32, 32, 256), jnp.float32)
    b = jax.random.normal(jax.random.fold_in(key, 1), (3, 3, 256, 256), jnp.float32)
    fn = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))

  def step():
    jax.block_until_ready(fn(a, b))

  t0 = time.perf_counter()
  step()
  info = {'side': f'XLA {op}', 'params': [0, 0], 'import_s': 0.0,
          'first_step_s': time.perf_counter() - t0, 'flops': kernel_flops(op, size)}
  return Built(step, info)


def torch_kernel(op: str = 'matmul', size: int = 4096, threads: int = 0, **unused) -> Built:
  """The same matmul or convolution in PyTorch eager (NCHW, its default layout)."""
  del unused
  import torch as torch_lib  # pylint: disable=g-import-not-at-top
  threads = threads or os.cpu_count()
  torch_lib.set_num_threads(threads)
  torch_lib.manual_seed(0)
  if op == 'matmul':
    a, b = torch_lib.randn(size, size), torch_lib.randn(size, size)
    fn = torch_lib.matmul
  else:
    a, b = torch_lib.randn(size, 256, 32, 32), torch_lib.randn(256, 256, 3, 3)
    fn = lambda x, w: torch_lib.nn.functional.conv2d(x, w, padding=1)

  def step():
    with torch_lib.no_grad():
      fn(a, b)

  t0 = time.perf_counter()
  step()
  info = {'side': f'PyTorch {op}', 'threads': threads, 'params': [0, 0], 'import_s': 0.0,
          'first_step_s': time.perf_counter() - t0, 'flops': kernel_flops(op, size)}
  return Built(step, info)


BUILDERS.update(xla_kernel=xla_kernel, torch_kernel=torch_kernel)
