"""SAGAN with the Wasserstein loss (critic E[f(G(z))] - E[f(x)]): the seed's second loss swap.

  python launch.py --config=configs/sagan_wasserstein.py --workdir=runs/sagan_wasserstein

Spectral norm bounds the critic's Lipschitz constant in place of clipping or a gradient
penalty. The seed reports a marginal improvement in convergence over hinge.
"""

from configs import sagan_hinge


def get_config():
  config = sagan_hinge.get_config()
  config.loss.name = 'wasserstein'
  return config
