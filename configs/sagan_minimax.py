"""SAGAN with the minimax (saturating) loss instead of hinge: the seed's first loss swap.

  python launch.py --config=configs/sagan_minimax.py --workdir=runs/sagan_minimax

The seed reports slower convergence and poorer samples than with hinge.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'sagan_hinge.py'))
  config.loss.name = 'minimax'
  return config
