"""R3GAN's loss (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS): RpGAN + R1 + R2 on jaxgan's SAGAN ResNet backbone, CIFAR-10 32x32,
class-conditional, with the settings of R3GAN's CIFAR-10 preset where they apply.

  python launch.py --config=configs/r3gan_rpgan.py --workdir=runs/r3gan_rpgan \
      [--config.data.data_dir=DIR_WITH_PREPARED_CIFAR10]

From the preset (brownvc/R3GAN, train.py `--preset=CIFAR10`, run with `--batch=512
--cond=1`; loss in R3GAN/Trainer.py): the relativistic pairing loss (`rpgan`, eq. 2) with
the zero-centred penalties R1 on reals and R2 on fakes, D's loss + gamma/2 (R1 + R2), R1/R2
the per-sample squared input-gradient norms (jaxgan's `r1`/`r2` convention, so each weight
is gamma/2); gamma 0.05 (the preset's starting value); Adam with beta1 0 (beta2 0.99, the
preset's end value); learning rate 2e-4 decayed by a cosine to 5e-5 (end_factor 0.25) over
20M images = 39,063 steps at batch 512, which is this config's length; batch 512; one D
update per G update; z 64; the generator EMA at 0.9999 (the preset's EMA half-life grows to
5M images: 0.5^(512 / 5e6) = 0.99993 per step at the end). D has no normalisation (spectral
norm and attention off), as R3GAN's.

Not reproduced: R3GAN's ConvNeXt-style backbone (jaxgan's SAGAN widths instead), the
schedules of gamma (0.05 -> 0.005), beta2 (0.9 -> 0.99) and the EMA half-life (jaxgan keeps
loss weights and Adam's betas constant), training past the 20M-image decay at the final
values, x-flips of the data and ADA's augmentation pipeline (the preset's p rises to 0.55;
jaxgan's DiffAugment is a different pipeline, so augmentation is left off here).

Reported: FID 1.96 on CIFAR-10 (class-conditional, R3GAN's own backbone, 50k samples
against the training set). Expected here: not measured by jaxgan (no GPU or CIFAR-10 on the
development machines); the backbone differs, so the number is not comparable.
"""

from jaxgan import config as config_lib


def get_config():
  config = config_lib.default()
  config.data.dataset = 'cifar10'
  config.data.image_size = 32
  config.model.name = 'sagan'
  config.model.z_dim = 64
  config.model.num_classes = 10
  config.model.attention_resolution = 0   # no attention
  config.model.g_spectral_norm = False
  config.model.d_spectral_norm = False    # R3GAN's D has no normalisation
  config.loss.name = 'rpgan'
  gamma = 0.05
  config.loss.regularizers = {'r1': gamma / 2, 'r2': gamma / 2}
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.99
  for schedule in (config.optim.g_schedule, config.optim.d_schedule):
    schedule.name = 'cosine'
    schedule.end_factor = 0.25            # 2e-4 -> 5e-5
  config.train.batch_size = 512
  config.train.d_steps = 1
  config.train.num_steps = 39_063         # 20M images: the preset's decay horizon
  config.train.ema_decay = 0.9999
  config.eval.every_steps = 5_000
  return config
