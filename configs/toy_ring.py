"""MLP GAN on the 'ring' mixture: 8 Gaussians on a circle of radius 1, sigma 0.01.

  python launch.py --config=configs/toy_ring.py --workdir=runs/ring

The standard mode-collapse benchmark (VEEGAN, PacGAN). Logs modes covered and the share of
high-quality samples (within 3 sigma of a mode) with each scatter plot of 2,500 samples.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.dataset = 'ring'
  config.model.name = 'mlp'
  config.model.z_dim = 2
  config.model.hidden = 128
  config.model.depth = 3
  config.loss.name = 'non_saturating'
  config.optim.g_lr = 1e-3
  config.optim.d_lr = 1e-3
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.train.batch_size = 256
  config.train.num_steps = 3_000
  config.train.checkpoint_every = 1_000
  config.log.every_steps = 100
  config.log.samples_every = 500
  return config
