"""MLP GAN on the 'grid' mixture: 25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05.

  python launch.py --config=configs/toy_grid.py --workdir=runs/grid
  python launch.py --config=configs/toy_grid.py:rpgan --workdir=runs/grid_rpgan   # a family

As configs/toy_ring.py: the benchmark's settings of a loss family (default non_saturating:
12,000 steps, the last 2,000 at a tenth of the rate), its seed-0 run. On the grid, rpgan
(RpGAN + R1 + R2) covers all 25 modes on every benchmark seed (BENCHMARKS.md).
"""

from jaxgan.study import mixtures


def get_config(family: str = 'non_saturating'):
  return mixtures.toy_config('grid', family or 'non_saturating')
