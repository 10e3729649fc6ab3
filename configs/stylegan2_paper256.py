"""StyleGAN2-ADA at 256x256 (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"): the official `--cfg=paper256` setting, the one of the paper's FFHQ and LSUN
256x256 runs, on a folder of images (e.g. FFHQ downsampled to 256x256).

  python launch.py --config=configs/stylegan2_paper256.py --workdir=runs/stylegan2_ffhq256 \
      --config.data.path=DIR_OF_256PX_IMAGES

The official command: `python train.py --outdir=~/training-runs
--data=~/datasets/ffhq256x256.zip --gpus=8 --cfg=paper256` (NVlabs/stylegan2-ada-pytorch; its
README: paper256 "reproduce[s] results for FFHQ and LSUN Cat at 256x256"). Its train.py's cfg_specs row
'paper256': ref_gpus 8, kimg 25000, mb 64, mbstd 8, fmaps 0.5, lrate 0.0025, gamma 1, ema 20
kimg, no ramp, map 8; and the defaults every cfg but cifar keeps: path length weight 2 every
4 G minibatches, style mixing 0.9, R1 every 16 D minibatches, the 'resnet' discriminator.
Reproduced here:

- Networks: z = w = 512, channel_base 16384, channel_max 512, an 8-layer mapping network,
  the skip generator and the residual discriminator with minibatch-std groups of 8,
  unconditional (`model.stylegan2_cfg='paper256'`).
- Loss (training/loss.py's StyleGAN2Loss): the non-saturating loss with R1 of weight gamma/2
  = 0.5 (lazy, every 16 D minibatches, gain 16), path length regularisation of weight 2
  (pl_decay 0.01, pl_batch_shrink 2; lazy, every 4 G minibatches, gain 4), each in an Adam
  step of its own after the main one, as the official Dreg / Greg phases
  (`loss.reg_phases='separate'`); style mixing with probability 0.9 in training.
- Optimiser: Adam (betas 0, 0.99, eps 1e-8), learning rate 0.0025 for G and D scaled for the
  lazy intervals (lr x k/(k+1), betas^(k/(k+1)), k = 16 for D and 4 for G); batch 64;
  25,000 kimg = 390,625 steps.
- The order of the phases: Gmain and Greg, then Dmain and Dreg against the updated G, in
  each step, as the official loop (`train.phase_order='g_first'`).
- EMA: half-life 20 kimg, no ramp-up.
- Augmentation: the official ADA pipeline 'bgc' (the default --aug=ada --augpipe=bgc;
  jaxgan/augment_pipe.py) with ADA's adaptive p (target 0.6, every 4 steps, 500 kimg for p
  to move by 1, from 0).
- Evaluation: FID of 50,000 samples against the training images, every 200 kimg.
- Precision: the 4 highest resolutions in float16, activations clamped to +-256, no loss
  scaling, NaN and infinite gradients replaced (`model.dtype='float16'`,
  `optim.nan_to_num`), as the official code.

Gaps: path length's running mean is averaged over devices after each update (the official
code keeps one per GPU); the optional --mirror x-flips are not set
(`--config.data.mirror=True`).

Reported: the paper's FFHQ and LSUN Cat 256x256 results (Karras et al. 2020b; not copied
here, no number of theirs was checked for this config). Expected here: not measured by jaxgan
(no GPU or FFHQ on the development machines).
"""

from jaxgan import config as config_lib

KIMG, BATCH, GAMMA, EMA_KIMG, LR = 25_000, 64, 1.0, 20, 0.0025


def get_config():
  config = config_lib.default()
  config.data.dataset = 'folder'
  config.data.path = ''                    # set --config.data.path to the images' folder
  config.data.image_size = 256
  config.model.name = 'stylegan2'
  config.model.stylegan2_cfg = 'paper256'
  config.model.z_dim = 512
  config.model.num_classes = 0
  config.model.dtype = 'float16'           # the 4 highest resolutions (num_fp16_res 4)
  config.model.style_mixing_prob = 0.9
  config.loss.name = 'non_saturating'
  config.loss.regularizers = {'r1': GAMMA / 2}
  config.loss.regularizer_interval = 16   # lazy R1: every 16 minibatches, gain 16
  config.loss.path_length = 2.0
  config.loss.g_regularizer_interval = 4  # lazy path length: every 4 minibatches, gain 4
  config.loss.reg_phases = 'separate'     # the official Dreg / Greg optimiser steps
  config.optim.g_lr = LR
  config.optim.d_lr = LR
  config.optim.b1 = 0.0
  config.optim.b2 = 0.99
  config.optim.nan_to_num = True           # training_loop.py: misc.nan_to_num on every gradient
  config.optim.d_reg_interval = 16
  config.optim.g_reg_interval = 4
  config.augment.pipeline = 'ada'           # the official AugmentPipe, --augpipe=bgc
  config.augment.ada_preset = 'bgc'
  config.augment.probability = 0.0
  config.augment.ada = True
  config.augment.ada_target = 0.6
  config.augment.ada_interval = 4
  config.augment.ada_kimg = 500.0
  config.train.batch_size = BATCH
  config.train.d_steps = 1
  config.train.phase_order = 'g_first'    # Gmain, Greg, then Dmain, Dreg (training_loop.py)
  config.train.num_steps = KIMG * 1000 // BATCH
  config.train.ema_decay = 0.0            # the EMA is given by its half-life instead
  config.train.ema_half_life_kimg = float(EMA_KIMG)
  config.train.checkpoint_every = 3_125
  config.eval.every_steps = 3_125
  config.eval.num_samples = 50_000
  return config
