"""WGAN-GP (Gulrajani et al. 2017): Wasserstein loss + 10 * gradient penalty, Adam 1e-4 with
betas (0.5, 0.9), n_critic 5, as in the WGAN-GP paper; the seed's DCGAN at 64x64, CIFAR-10.

  python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp

The gradient penalty is per sample, so the critic uses layer norm instead of batch norm (the
paper's advice). Expected: stable training without weight clipping's capacity loss.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.loss.name = 'wasserstein'
  config.loss.regularizers = {'gradient_penalty': 10.0}
  config.model.d_norm = 'layer'
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 1e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.9
  config.train.d_steps = 5
  return config
