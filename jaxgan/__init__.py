"""jaxgan: a JAX/Flax library for GAN research.

  import jaxgan
  config = jaxgan.config.default()            # every setting, with its default
  experiment = jaxgan.build(config)            # generator, discriminator, loss, optimisers, data
  experiment = experiment.replace(loss=jaxgan.losses.hinge + 10 * jaxgan.losses.r1_term,
                                  loop=experiment.loop.replace(num_steps=20_000))  # a jaxgan.Loop
  state = jaxgan.train(experiment, 'runs/mine')   # checkpoints, exact resume, logs, evaluation
  run = jaxgan.load_run('runs/mine')           # the run's experiment and state, for sampling

Modules: `losses` (objectives and regularisers as composable terms), `models` (DCGAN, SAGAN,
MLP), `optim` (optimisers and schedules), `data` (sources), `steps` (the pmapped train step),
`state` (the GANState pytree), `augment` (DiffAugment), `metrics` (FID, KID, IS, PRDC),
`evaluation`, `standing` (standing statistics for batch norm), `checkpoint`, `workdir`,
`errors`.
"""

from jaxgan.version import __version__  # pylint: disable=g-bad-import-order

# The jax releases jaxgan supports (pyproject.toml declares the same range; README's "Tested
# versions" says what ran on which): the lowest has the public jax.shard_map(check_vma=) that
# steps.TrainStep maps the step with, and flax 0.12.8 needs it; the newest minor is that of the
# GPU machines (0.11.x).
JAX_RANGE = ((0, 10, 0), (0, 12))


def _check_jax() -> None:
  """Raises ImportError (one sentence) for a jax outside JAX_RANGE or without the API used."""
  import inspect
  import re
  import warnings
  import jax
  found = tuple(int(v) for v in re.findall(r'\d+', jax.__version__)[:3])
  wanted = ('jax>=' + '.'.join(map(str, JAX_RANGE[0])) + ',<'
            + '.'.join(map(str, JAX_RANGE[1])))
  shard_map = getattr(jax, 'shard_map', None)
  if found < JAX_RANGE[0] or shard_map is None or (
      'check_vma' not in inspect.signature(shard_map).parameters):
    raise ImportError(f'jaxgan needs {wanted} but found jax {jax.__version__}; install a '
                      f'supported release, e.g. pip install "{wanted}".')
  if found >= JAX_RANGE[1]:
    warnings.warn(f'jaxgan is tested with {wanted}, not with jax {jax.__version__}; if '
                  'something fails, install a supported release first.', stacklevel=2)


_check_jax()

# pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import augment
from jaxgan import config
from jaxgan import data
from jaxgan import errors
from jaxgan import losses
from jaxgan import models
from jaxgan import optim
from jaxgan import standing
from jaxgan import state
from jaxgan import steps
from jaxgan import validation
from jaxgan.experiment import EMA, Experiment, LoadedRun, Loop, build, load_run
from jaxgan.state import GANState
from jaxgan.training import train, train_and_evaluate

__all__ = [
    'EMA', 'Experiment', 'GANState', 'LoadedRun', 'Loop', 'augment', 'build', 'config', 'data',
    'errors', 'load_run', 'losses', 'models', 'optim', 'standing', 'state', 'steps', 'train',
    'train_and_evaluate', 'validation',
]
