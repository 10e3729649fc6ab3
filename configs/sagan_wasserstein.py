"""SAGAN with the Wasserstein loss (critic E[f(G(z))] - E[f(x)]): the seed's second loss swap.

  python launch.py --config=configs/sagan_wasserstein.py --workdir=runs/sagan_wasserstein

Spectral norm bounds the critic's Lipschitz constant in place of clipping or a gradient
penalty. The seed reports a marginal improvement in convergence over hinge.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'sagan_hinge.py'))
  config.loss.name = 'wasserstein'
  return config
