"""SAGAN with the minimax (saturating) loss instead of hinge: the seed's first loss swap.

  python launch.py --config=configs/sagan_minimax.py --workdir=runs/sagan_minimax

The seed reports slower convergence and poorer samples than with hinge.
"""

from configs import sagan_hinge


def get_config():
  config = sagan_hinge.get_config()
  config.loss.name = 'minimax'
  return config
