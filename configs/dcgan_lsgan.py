"""LSGAN (Mao et al. 2017): DCGAN with the least-squares objective (a=0, b=c=1).

  python launch.py --config=configs/dcgan_lsgan.py --workdir=runs/dcgan_lsgan

Expected: trains like the non-saturating DCGAN, with gradients that do not vanish for fakes
far on the real side of the decision boundary.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.loss.name = 'least_squares'
  return config
