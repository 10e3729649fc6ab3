"""DCGAN on 10% of CIFAR-10 (32x32) with DiffAugment (Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training", NeurIPS): the low-data setting of the paper's
CIFAR-10 experiments on the seed's DCGAN.

  python launch.py --config=configs/dcgan_diffaug_lowdata.py --workdir=runs/dcgan_diffaug_10
  python launch.py --config=configs/dcgan_diffaug_lowdata.py --workdir=runs/dcgan_10 \
      --config.augment.policy=''          # the same run without augmentation

5,000 training images (`data.fraction` 0.1, a subset drawn from `train.seed`, as the
paper's `--num_samples 5000` draws one from its seed; FID compares with the whole training
split), DiffAugment 'color,translation,cutout' (the policy of the paper's StyleGAN2 runs on
partial CIFAR-10; its BigGAN runs use 'translation,cutout') on every real and generated
image D sees, in both players' updates. The DCGAN is the seed's (non-saturating loss, Adam
2e-4 / 0.5, batch 64) at 32x32.

Reported (not on a DCGAN: the authors' CIFAR-10 tables, FID of 10k samples,
mit-han-lab/data-efficient-gans): at 10% data, BigGAN 39.78 without DiffAugment and 22.40
with it, StyleGAN2 36.02 and 14.50 (20% data: 21.58 / 14.04 and 23.08 / 12.15). Expected
here: that augmentation lowers FID at 10% data; not yet measured by jaxgan.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'dcgan.py'))
  config.data.image_size = 32
  config.data.fraction = 0.1
  config.augment.policy = 'color,translation,cutout'
  config.augment.probability = 1.0
  return config
