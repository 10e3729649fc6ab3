"""MLP GAN on the 'grid' mixture: 25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05.

  python launch.py --config=configs/toy_grid.py --workdir=runs/grid
"""

from configs import toy_ring


def get_config():
  config = toy_ring.get_config()
  config.data.dataset = 'grid'
  config.train.num_steps = 4_000
  return config
