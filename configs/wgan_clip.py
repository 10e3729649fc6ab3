"""WGAN with weight clipping exactly as Algorithm 1 of Arjovsky et al. (quoted in the seed,
section 4.1): RMSProp with lr 5e-5, critic weights clipped to [-c, c] with c = 0.01 after
every critic update, n_critic = 5, batch m = 64; on the seed's DCGAN at 64x64 on CIFAR-10.

  python launch.py --config=configs/wgan_clip.py --workdir=runs/wgan_clip

The critic has no batch norm here (layer norm; set --config.model.d_norm=batch for the
original DCGAN critic, which WGAN's code used). Expected: slow but stable training, the
critic loss (an estimate of -W) shrinking in magnitude as samples improve.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.loss.name = 'wasserstein'
  config.model.d_norm = 'layer'
  config.optim.g_optimizer = 'rmsprop'
  config.optim.d_optimizer = 'rmsprop'
  config.optim.g_lr = 5e-5
  config.optim.d_lr = 5e-5
  config.optim.d_clip = 0.01
  config.train.d_steps = 5
  config.train.batch_size = 64
  return config
