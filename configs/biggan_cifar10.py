"""BigGAN on CIFAR-10 32x32 as PyTorch-StudioGAN's `src/configs/CIFAR10/BigGAN.yaml`
(Brock et al. 2019; StudioGAN's big_resnet backbone, `jaxgan.models.biggan`).

  python launch.py --config=configs/biggan_cifar10.py --workdir=runs/biggan_cifar10 \
      [--config.data.data_dir=DIR_WITH_PREPARED_CIFAR10]

The yaml over StudioGAN's defaults (src/config.py): class-conditional (10 classes; cBN in G
fed by the shared embedding and z chunks, projection D), spectral norm in G and D, attention
at 16x16 in both (attn_g_loc [2], attn_d_loc [1]), z_dim 80 (four chunks of 20),
g_shared_dim 128, g_conv_dim = d_conv_dim = 96 (9,416,196 G and 2,415,170 D parameters, as
StudioGAN's log prints them), orthogonal init, hinge loss, Adam lr 2e-4 for both, betas
(0.5, 0.999), epsilon 1e-6 (StudioGAN src/config.py, line 552, for non-StyleGAN models), 5 D
updates per G update, batch 64, 100,000 generator steps, generator EMA 0.9999 from step
1,000 of the parameters and of G's buffers (StudioGAN's Ema lerps batch norm's running
statistics and spectral norm's vectors with the same decay: `train.ema_state='average'`, so
the EMA generator samples with averaged statistics). Evaluation as StudioGAN's defaults: FID of 50,000 samples against the 50,000
training images (`-ref train`) every 2,000 steps (`--save_freq`).

Random horizontal flips of the real images (StudioGAN's PRE.apply_rflip, on by default: each
read flipped with probability 1/2) as `data.mirror=True`: the images and their mirror images
in the epoch-wise order, so each image is seen flipped half the time, as in StudioGAN, exactly
per two epochs rather than in expectation (jaxgan/data/sources.py); FID's reference images
are not flipped.

Gaps (StudioGAN settings jaxgan's loop cannot express yet; each changes the run slightly):
* Spectral norm's vectors are averaged as StudioGAN's are, but evaluation uses them as
  flax's SpectralNorm does (one power-iteration step from the averaged u), where PyTorch's
  evaluation mode divides by u^T W v of the averaged u and v; the two agree once the vectors
  have converged (jaxgan/models/biggan_studiogan.py).
* StudioGAN's benchmark command for CIFAR-10 (its README, "Training GANs") trains with mixed
  precision (`-mpc`: float16 autocast and a gradient scaler); jaxgan has bfloat16
  (`--config.model.dtype=bfloat16`), not float16 with loss scaling, for BigGAN. (The training
  log of this yaml in StudioGAN's repository, logs/CIFAR10/BigGAN-train-2021_01_15_14_48_48.log,
  ran without either: mixed_precision False, standing_statistics False.)

Standing statistics: the same command scores the best checkpoint after training with
`-std_stat -std_max M -std_step S` (M and S are not published); evaluation during training
uses running statistics, as here (StudioGAN's loader turns them on for the final evaluation
only). The same evaluation in jaxgan (jaxgan/standing.py):

  python -m jaxgan.tools.evaluate --workdir=runs/biggan_cifar10 --best \
      --standing_step=S --standing_max_batch=M

Expected: not measured by jaxgan (no GPU or CIFAR-10 on the development machines). StudioGAN's
benchmark table (an image in its README) lists this row's FID; issue 21 quotes StudioGAN's
BigGAN + LeCam + DiffAugment row at 3.23 (configs/biggan_lecam_diffaug_cifar10.py).
"""

from jaxgan import config as config_lib


def get_config():
  config = config_lib.default()
  config.data.dataset = 'cifar10'
  config.data.image_size = 32
  config.data.mirror = True               # StudioGAN's PRE.apply_rflip (see above)
  config.model.name = 'biggan'
  config.model.num_classes = 10
  config.model.z_dim = 80
  config.model.shared_dim = 128
  config.model.g_width = 96
  config.model.d_width = 96
  config.model.attention_resolution = 16
  config.model.g_spectral_norm = True
  config.model.d_spectral_norm = True
  config.loss.name = 'hinge'
  config.optim.g_optimizer = 'adam'
  config.optim.d_optimizer = 'adam'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.eps = 1e-6                 # StudioGAN src/config.py line 552 (not StyleGAN)
  # No orthogonal regularisation: StudioGAN defines orthogonalize_model (src/utils/misc.py)
  # but never calls it.
  config.optim.g_ortho = 0.0
  config.train.batch_size = 64
  config.train.d_steps = 5
  config.train.num_steps = 100_000
  config.train.ema_decay = 0.9999
  config.train.ema_start = 1_000
  config.train.ema_state = 'average'      # StudioGAN's Ema averages G's buffers too
  config.eval.every_steps = 2_000
  config.eval.num_samples = 50_000
  return config
