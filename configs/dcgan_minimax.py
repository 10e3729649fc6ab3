"""The seed's "vanilla" DCGAN: its minimax objective J_G = E log(1 - D(G(z))) minimised as
written (section 1), on CIFAR-10 64x64.

  python launch.py --config=configs/dcgan_minimax.py --workdir=runs/dcgan_minimax

Expected: the saturating generator loss gives G vanishing gradients while D wins early, so
it learns more slowly than dcgan.py (non-saturating); the orange curve of the seed's Figure 3.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.loss.name = 'minimax'
  return config
