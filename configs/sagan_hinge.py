"""SAGAN on CIFAR-10 32x32 with the hinge loss (the seed's section 4; Zhang et al. 2019).

  python launch.py --config=configs/sagan_hinge.py --workdir=runs/sagan_hinge \
      [--config.data.data_dir=DIR_WITH_PREPARED_CIFAR10]

Spectral norm in G and D, self-attention at the 16x16 feature maps of both networks, the
CIFAR ResNet layout of StudioGAN's SAGAN (G 256 channels, D 128; z 128), TTUR (Adam,
G 1e-4, D 4e-4, beta1 0, beta2 0.9), one D update per G update, batch 64, hinge loss.
Attention maps of a fixed z are written every `log.attention_every` steps (PNG in
workdir/attention/ and TensorBoard).

Expected: not yet measured by jaxgan (no GPU or CIFAR-10 on the development machines); the
SAGAN paper reports its ImageNet results, StudioGAN's logs show ~3 generator steps/s on one
GPU for this model, and jaxgan's throughput is in BENCHMARKS.md.
"""

from jaxgan import config as config_lib


def get_config():
  config = config_lib.default()
  config.data.dataset = 'cifar10'
  config.data.image_size = 32
  config.model.name = 'sagan'
  config.model.z_dim = 128
  config.model.g_width = 64            # base channels: 4x64 = 256 in every G stage
  config.model.d_width = 64            # 2x64 = 128 in every D stage
  config.model.attention_resolution = 16
  config.model.attention_pool = False  # True: BigGAN's 2x2 max-pooled keys/values
  config.model.g_spectral_norm = True
  config.model.d_spectral_norm = True
  config.model.num_classes = 0
  config.loss.name = 'hinge'
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.train.d_steps = 1
  config.train.batch_size = 64
  config.log.attention_every = 1_000
  # FID (and KID) of 10k samples every 5k steps: the FID curve of the seed's Figures 10-11.
  config.eval.every_steps = 5_000
  return config
