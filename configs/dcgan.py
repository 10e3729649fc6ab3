"""The seed's DCGAN on CIFAR-10 at 64x64 (sections 2 and 5): z 100, batch 64, 4x4x1024 start.

  python launch.py --config=configs/dcgan.py --workdir=runs/dcgan \
      [--config.data.data_dir=DIR_WITH_PREPARED_CIFAR10]

Loss: the non-saturating GAN loss. Optimiser: Adam 2e-4, beta1 0.5 (Radford et al.), the
setting known to train DCGAN; the seed reports Adam with lr 0.01 for both networks, which is
recorded here but not the default (--config.optim.g_lr=0.01 --config.optim.d_lr=0.01 to try it).

Expected: recognisable CIFAR-like samples after ~10k steps; no FID measured yet in jaxgan
(the seed's FID figures use a Keras Inception, not comparable with TF-FID numbers).
"""

from jaxgan import config as config_lib


def get_config():
  config = config_lib.default()
  config.data.dataset = 'cifar10'
  config.data.image_size = 64
  config.model.name = 'dcgan'
  config.model.z_dim = 100
  config.model.g_width = 1024
  config.model.d_width = 64
  config.model.d_norm = 'batch'
  config.loss.name = 'non_saturating'
  config.train.batch_size = 64
  # FID (and KID) of 10k samples every 5k steps: the FID curve of the seed's Figures 10-11.
  config.eval.every_steps = 5_000
  return config
