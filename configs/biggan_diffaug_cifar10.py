"""BigGAN + DiffAugment on CIFAR-10 as PyTorch-StudioGAN's
`src/configs/CIFAR10/BigGAN-DiffAug.yaml` (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training").

  python launch.py --config=configs/biggan_diffaug_cifar10.py \
      --workdir=runs/biggan_diffaug_cifar10 [--config.data.fraction=0.1]

As biggan_cifar10.py, plus DiffAugment 'color,translation,cutout' (StudioGAN's diffaug_type
"diffaug", apply_diffaug's default policy) on every image D sees, real and fake, in both
players' updates, and 200,000 generator steps (the yaml's total_steps).

Gaps: those of biggan_cifar10.py.

Expected: not measured by jaxgan; StudioGAN's benchmark table (an image in its README) lists
this row's FID.
"""

import os

from jaxgan import config as config_lib


def get_config():
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'biggan_cifar10.py'))
  config.augment.policy = 'color,translation,cutout'
  config.augment.probability = 1.0
  config.train.num_steps = 200_000
  return config
