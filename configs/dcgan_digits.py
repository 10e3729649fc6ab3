"""Offline demo: the DCGAN at 32x32 on scikit-learn's bundled handwritten digits.

  python launch.py --config=configs/dcgan_digits.py --workdir=runs/digits

Runs anywhere with no dataset download (1,797 real 8x8 digit images, upsampled to 32x32).
Narrow widths so a CPU trains it in minutes: on 2 CPU cores, 600 steps take about 3 minutes,
and the sample grid shows digit-like strokes by then.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.data.dataset = 'digits'
  config.data.image_size = 32
  config.model.g_width = 256
  config.model.d_width = 32
  config.train.num_steps = 600
  config.train.checkpoint_every = 200
  config.log.every_steps = 50
  config.log.samples_every = 200
  # No FID in the CPU demo (299x299 Inception passes run ~12 images/s on 2 cores); turn it on
  # with --config.eval.every_steps=200 --config.eval.num_samples=1797.
  config.eval.every_steps = 0
  return config
