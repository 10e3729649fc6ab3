"""R3GAN on CIFAR-10 (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS): R3GAN's own network (jaxgan/models/r3gan.py, the official `CIFAR10`
preset) and loss, class-conditional, 32x32, with the official command's settings as far as
jaxgan's loop expresses them today.

  python launch.py --config=configs/r3gan_cifar10.py --workdir=runs/r3gan_cifar10 \
      [--config.data.data_dir=DIR_WITH_PREPARED_CIFAR10]

The official command (brownvc/R3GAN README): `python train.py --outdir=./training-runs
--data=./datasets/cifar10.zip --gpus=8 --batch=512 --mirror=1 --aug=1 --cond=1
--preset=CIFAR10 --tick=1 --snap=200`. Reproduced here:

- Network: the CIFAR10 preset (G and D 768 channels at 4, 8, 16 and 32 px, 2 residual blocks
  per stage, cardinality 96, expansion 2; 20,781,952 and 21,280,512 parameters, as the
  official networks), z 64, class embeddings of 64 (G) and 768 (D) dimensions, the official
  per-stage precision (G's last three stages and D's first three in bfloat16).
- Loss (R3GAN/Trainer.py): RpGAN (`rpgan`, eq. 2) + gamma/2 (R1 + R2), R1/R2 the per-sample
  squared input-gradient norms; gamma falls from 0.05 to 0.005 along the official
  half-cosine over 20M images (brownvc/R3GAN train.py, line 195), so each weight is a ramp
  (jaxgan/schedules.py) of gamma/2 from 0.025 to 0.0025 over 2e7 / 512 = 39062.5 steps.
- Optimiser: Adam (beta1 0, eps 1e-8) for both players (train.py, lines 159-160); learning rate
  2e-4 decayed by the half-cosine to 5e-5 over 20M images (line 194: optax's cosine with
  end_factor 0.25 and steps 39062.5 is the same curve), beta2 rising from 0.9 to 0.99 along it
  (line 196: config.optim.b2_schedule); batch 512; one D update per G update. Every schedule
  is read at the images seen before the step, t * 512, and holds its end value past 20M images,
  as the official `cosine_decay_with_warmup` (training/training_loop.py, line 29).
- EMA: G_ema's half-life rises from 0 to 5M images along the same half-cosine (train.py
  lines 189 and 192; beta = 0.5^(512 / half-life) per step, training_loop.py line 351):
  config.train.ema_half_life_schedule, in thousands of images.
- Augmentation (train.py line 300, --aug=1): the official ADA pipeline
  (jaxgan/augment_pipe.py, preset 'r3gan': x-flip, 90-degree rotations, integer translation,
  isotropic and anisotropic scaling, rotation and fractional translation at multiplier 1;
  brightness, contrast, luma flip, hue and saturation at 0.5; cutout at 1) on every image D
  sees, with p not adapted but scheduled from 0 to 0.55 along the same half-cosine over 20M
  images (line 193: config.augment.probability_schedule).
- Evaluation: FID of 50,000 samples (the official `fid50k_full`; jaxgan's FID compares with
  the training split) every 400 steps, with a checkpoint: the official snapshot every 200
  ticks of 1 kimg, i.e. every 204,800 images at batch 512.
- Data: the training set doubled with its mirror images (`--mirror=1`; config.data.mirror,
  each epoch every image once as stored and once x-flipped, as the official dataset's
  xflip; FID reads the images as stored, as the official `fid50k_full`, which sets
  xflip=False), and two real batches a step, one for D's update and one for G's (training_loop.py
  lines 287-290 and 325: RpGAN's generator loss reads D, after its update, on the G phase's
  own real batch; config.train.g_real_batch='own').
- Conditioning: each phase's fakes take the labels of that phase's real batch (R3GAN/Trainer.py:
  G(z, c), D(fake, c) and D(real, c) with c the reals' labels, so RpGAN pairs a real and a
  fake of one class; config.train.fake_labels='real').
- Length: 39,063 steps (the 20M images of the decay; the official `--kimg` default, 10M kimg,
  runs on at the end values, as a larger train.num_steps does here).

Gaps: none of the official command's settings is left out (its augmentation, x-flips, each
phase's own real batch and labels are above).

Reported: FID 1.96 on CIFAR-10 (class-conditional; 50k samples against the training set).
Expected here: not measured by jaxgan (no GPU or CIFAR-10 on the development machines); the
gaps above change the training, so a run need not reach the published number.
"""

from jaxgan import config as config_lib
from jaxgan import schedules


def get_config():
  config = config_lib.default()
  config.data.dataset = 'cifar10'
  config.data.image_size = 32
  config.model.name = 'r3gan'
  config.model.r3gan_preset = 'cifar10'
  config.model.z_dim = 64
  config.model.num_classes = 10
  config.model.dtype = 'bfloat16'         # the preset's FP16Stages (bfloat16 in R3GAN's code)
  config.loss.name = 'rpgan'
  # R3GAN train.py lines 190 and 195 (CIFAR10 preset): gamma 0.05 -> 0.005 over 2e7 images; the
  # loss weighs R1 and R2 by gamma / 2 (R3GAN/Trainer.py).
  # 39062.5 generator steps at batch 512: with another train.batch_size, set 2e7 / batch.
  decay_steps = 2e7 / 512
  gamma = schedules.ramp_config('cosine', 0.05 / 2, 0.005 / 2, decay_steps)
  config.loss.regularizers = {'r1': gamma.to_dict(), 'r2': gamma.to_dict()}
  config.optim.g_lr = 2e-4                # train.py line 194: 2e-4 -> 5e-5 over 2e7 images
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0                   # train.py lines 159-160: betas (0, *), eps 1e-8
  config.optim.b2 = 0.9                   # the ramp's start; b2_schedule sets every step
  config.optim.b2_schedule = schedules.ramp_config('cosine', 0.9, 0.99, decay_steps)  # line 196
  for schedule in (config.optim.g_schedule, config.optim.d_schedule):
    schedule.name = 'cosine'
    schedule.end_factor = 0.25            # 2e-4 -> 5e-5
    schedule.steps = decay_steps
  # Line 300 (--aug=1): the official ADA pipeline with geometric multipliers 1, colour 0.5 and
  # cutout 1 (jaxgan/augment_pipe.py's 'r3gan' preset); line 193: p is not adapted but
  # scheduled, 0 -> 0.55 along the half-cosine over 2e7 images.
  config.augment.pipeline = 'ada'
  config.augment.ada_preset = 'r3gan'
  config.augment.probability_schedule = schedules.ramp_config('cosine', 0.0, 0.55, decay_steps)
  config.train.batch_size = 512
  config.train.d_steps = 1
  config.train.g_real_batch = 'own'       # training_loop.py: a real batch for each phase
  config.train.fake_labels = 'real'       # Trainer.py: the fakes take the phase's real labels
  config.data.mirror = True               # --mirror=1: the dataset doubled with x-flips
  config.train.num_steps = 39_063         # 20M images: the decays' length
  # Lines 189 and 192: G_ema's half-life rises from 0 to 5M images along the half-cosine of
  # the decay (beta = 0.5^(512 / half-life) per step: 0 at step 0, a copy of G).
  config.train.ema_decay = 0.0
  config.train.ema_half_life_schedule = schedules.ramp_config('cosine', 0.0, 5_000.0,
                                                              decay_steps)
  config.train.checkpoint_every = 400
  config.eval.every_steps = 400
  config.eval.num_samples = 50_000
  return config
