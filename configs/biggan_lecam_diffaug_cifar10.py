"""BigGAN + LeCam + DiffAugment on CIFAR-10 as PyTorch-StudioGAN's
`src/configs/CIFAR10/BigGAN-DiffAug-LeCam.yaml` (Tseng et al. 2021, "Regularizing Generative
Adversarial Networks under Limited Data").

  python launch.py --config=configs/biggan_lecam_diffaug_cifar10.py \
      --workdir=runs/biggan_lecam_diffaug_cifar10

As biggan_diffaug_cifar10.py (DiffAugment 'color,translation,cutout', 200,000 steps), plus
LeCam as StudioGAN computes it (commit 947b35e9):
* the hinged penalty, `src/utils/losses.py` line 262 `lecam_reg`: E[relu(D(x) - alpha_F)^2] +
  E[relu(alpha_R - D(G(z)))^2] (config.loss.lecam_hinged);
* weight 0.3 (BigGAN-DiffAug-LeCam.yaml line 24, lecam_lambda), applied while current_step >
  1000 (`src/worker.py` line 403; current_step counts generator steps from 0): a step ramp,
  0 before GAN step 1001 and 0.3 from it on;
* the moving averages of D's mean real and fake logits of `src/utils/ops.py` lines 106-132
  (`LeCamEMA`, start value 7777): updated at every critic update with that update's mean
  logits before the penalty reads them (`src/worker.py` lines 401-404), decay 0.99
  (lecam_ema_decay, yaml line 26) from generator step 1,000 on (lecam_ema_start_iter, yaml
  line 25) and 0 before it, not debiased (config.loss.lecam_decay, config.loss.lecam_ema_start).

Gaps: those of biggan_cifar10.py.

Expected: not measured by jaxgan; issue 21 quotes StudioGAN's benchmark table at FID 3.23 for
this row (the table is an image in StudioGAN's README, not re-checked here).
"""

import os

from jaxgan import config as config_lib
from jaxgan import schedules


def get_config():
  base = os.path.join(os.path.dirname(__file__), 'biggan_diffaug_cifar10.py')
  config = config_lib.from_file(base)
  # StudioGAN BigGAN-DiffAug-LeCam.yaml lines 24-26 and src/worker.py lines 401-404 (see the
  # docstring): 0.3 x the hinged penalty while current_step > 1000, averages decaying 0.99
  # from step 1000 on.
  config.loss.regularizers = {
      'lecam': schedules.ramp_config('step', 0.0, 0.3, 1001.0).to_dict()}
  config.loss.lecam_hinged = True
  config.loss.lecam_decay = 0.99
  config.loss.lecam_ema_start = 1000
  return config
