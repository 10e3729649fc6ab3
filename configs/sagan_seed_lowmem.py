"""The seed's constrained SAGAN run, for reproduction (section 5): latent 10, batch 4,
Adam with lr 0.01 for both networks (no TTUR), at the seed's 64x64 resolution.

  python launch.py --config=configs/sagan_seed_lowmem.py --workdir=runs/sagan_seed

The seed chose these values to fit its GPU memory and reports slow training; with lr 0.01
and batch 4, expect unstable training. Kept as a record of the seed's setting, not a
recommendation: use sagan_hinge.py.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'sagan_hinge.py'))
  config.data.image_size = 64
  config.model.attention_resolution = 32
  config.model.z_dim = 10
  config.train.batch_size = 4
  config.optim.g_lr = 0.01
  config.optim.d_lr = 0.01
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  return config
