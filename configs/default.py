"""Defaults shared by every jaxgan config; each config file overrides a few fields.

Not a run of its own: see `dcgan.py`, `dcgan_digits.py`, `toy_ring.py`, ...
"""

import ml_collections

from jaxgan import optim


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()

  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'cifar10'     # 'cifar10' (TFDS), 'digits' (offline), 'ring', 'grid'
  config.data.image_size = 64         # 32 or 64 for image datasets
  config.data.data_dir = ''           # TFDS data_dir; '' means TFDS' default (~/tensorflow_datasets)
  config.data.split = 'train'
  config.data.shuffle_buffer = 10_000
  config.data.prefetch = 2            # batches staged on the devices ahead of the step

  config.model = ml_collections.ConfigDict()
  config.model.name = 'dcgan'
  config.model.z_dim = 100
  config.model.num_classes = 0        # > 0: class-conditional (models that support it)
  config.model.g_width = 1024         # DCGAN: channels after "project and reshape" (seed: 1024)
  config.model.d_width = 64           # DCGAN: channels of the discriminator's first layer
  config.model.conv_impl = 'auto'     # DCGAN: 'auto', 'rewritten' (stride-1 forms) or 'flax'
  config.model.d_norm = 'batch'       # DCGAN critic normalisation: 'batch', 'layer' or 'none'
  # Compute dtype: 'float32' or 'bfloat16' (mixed precision: params, optimiser state, batch-norm
  # statistics, spectral norm, attention softmax, tanh output and losses stay float32).
  config.model.dtype = 'float32'
  config.model.hidden = 128           # MLP models for 2-D data
  config.model.depth = 3

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'non_saturating'
  # Extra terms added to the objective, name -> weight, e.g. {'gradient_penalty': 10.0}.
  config.loss.regularizers = ml_collections.ConfigDict()

  config.optim = ml_collections.ConfigDict()
  config.optim.g_optimizer = 'adam'   # 'adam' or 'rmsprop'
  config.optim.d_optimizer = 'adam'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.d_clip = 0.0           # > 0: clip critic params to [-c, c] after each update
  # Learning-rate schedules in generator steps (jaxgan/optim.py): name 'constant', 'linear',
  # 'cosine' or 'step'; warmup_steps; end_factor (linear/cosine); milestones, factor (step).
  config.optim.g_schedule = optim.schedule_config()
  config.optim.d_schedule = optim.schedule_config()

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 100_000    # generator updates
  config.train.batch_size = 64        # global, across all devices and hosts
  config.train.d_steps = 1            # discriminator updates per generator update
  config.train.seed = 0
  config.train.checkpoint_every = 5_000
  config.train.keep_checkpoints = 3
  config.train.ema_decay = 0.0        # generator EMA decay (0: off; e.g. 0.9999)
  config.train.ema_start = 0          # step from which the EMA averages (before: a copy)

  config.log = ml_collections.ConfigDict()
  config.log.every_steps = 100        # scalars to TensorBoard and the console
  config.log.samples_every = 1_000    # sample grid of a fixed z (PNG + TensorBoard)
  config.log.num_samples = 64         # images in the sample grid
  config.log.attention_every = 0      # SAGAN attention-map figures (0: never)

  # Evaluator plug-ins (jaxgan.metrics.evaluators.EVALUATORS), run on process 0; see
  # jaxgan/evaluation.py. FID uses the TF-FID Inception network (fetched from PyPI once).
  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 0         # 0: no evaluation during training
  config.eval.evaluators = ('fid',)   # 'fid' (with KID), 'kid', 'inception_score'
  config.eval.num_samples = 10_000    # generated images per evaluation (real: min(this, N))
  config.eval.best_metric = 'fid'     # lowest value -> workdir/best_fid checkpoint ('' : none)
  config.eval.batch_size = 50         # images per Inception pass
  config.eval.chunk_size = 500        # images generated per call
  config.eval.kid = True              # 'fid' also reports KID
  config.eval.seed = 0                # latent draws (the same at every evaluation)
  config.eval.weights = ''            # Inception weights ('': default_1.pt; IS: pytorch-fid .pth)
  config.eval.cache_dir = ''          # weights and real statistics ('': $JAXGAN_CACHE or ~/.cache/jaxgan)

  return config
