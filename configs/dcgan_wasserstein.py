"""The seed's W-DCGAN (section 3, Figure 3): DCGAN with the Wasserstein critic loss.

  python launch.py --config=configs/dcgan_wasserstein.py --workdir=runs/dcgan_wasserstein

The seed swaps DCGAN's binary cross-entropy for the critic loss E[f(G(z))] - E[f(x)] and keeps
the rest; it does not say how the critic is kept Lipschitz. A Wasserstein critic without a
constraint diverges, so this config clips the critic's weights to [-0.01, 0.01] as WGAN does,
keeps DCGAN's Adam (2e-4, beta1 0.5) and one critic update per generator update, and uses
no batch norm in the critic (layer norm), as WGAN-GP advises. Expected: the generator loss
curve of the seed's Figure 3 (blue) converging faster than minimax DCGAN's.
See wgan_clip.py for WGAN's own Algorithm 1 and wgan_gp.py for the gradient penalty.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.loss.name = 'wasserstein'
  config.model.d_norm = 'layer'
  config.optim.d_clip = 0.01
  return config
