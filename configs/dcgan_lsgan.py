"""LSGAN (Mao et al. 2017): DCGAN with the least-squares objective (a=0, b=c=1).

  python launch.py --config=configs/dcgan_lsgan.py --workdir=runs/dcgan_lsgan

Expected: trains like the non-saturating DCGAN, with gradients that do not vanish for fakes
far on the real side of the decision boundary.
"""

from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.loss.name = 'least_squares'
  return config
