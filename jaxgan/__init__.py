"""jaxgan: a JAX/Flax library for GAN research.

  import jaxgan
  config = jaxgan.config.default()            # every setting, with its default
  experiment = jaxgan.build(config)            # generator, discriminator, loss, optimisers, data
  experiment = experiment.replace(loss=jaxgan.losses.hinge + 10 * jaxgan.losses.r1_term)
  state = jaxgan.train(experiment, 'runs/mine')   # checkpoints, exact resume, logs, evaluation
  run = jaxgan.load_run('runs/mine')           # the run's experiment and state, for sampling

Modules: `losses` (objectives and regularisers as composable terms), `models` (DCGAN, SAGAN,
MLP), `optim` (optimisers and schedules), `data` (sources), `steps` (the pmapped train step),
`state` (the GANState pytree), `augment` (DiffAugment), `metrics` (FID, KID, IS, PRDC),
`evaluation`, `checkpoint`, `workdir`, `errors`.
"""

__version__ = '0.2.0'

# pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import augment
from jaxgan import config
from jaxgan import data
from jaxgan import errors
from jaxgan import losses
from jaxgan import models
from jaxgan import optim
from jaxgan import state
from jaxgan import steps
from jaxgan.experiment import Experiment, LoadedRun, build, load_run
from jaxgan.state import GANState
from jaxgan.training import train, train_and_evaluate

__all__ = [
    'Experiment', 'GANState', 'LoadedRun', 'augment', 'build', 'config', 'data', 'errors',
    'load_run', 'losses', 'models', 'optim', 'state', 'steps', 'train', 'train_and_evaluate',
]
