"""BigGAN + LeCam + DiffAugment on CIFAR-10 as PyTorch-StudioGAN's
`src/configs/CIFAR10/BigGAN-DiffAug-LeCam.yaml` (Tseng et al. 2021, "Regularizing Generative
Adversarial Networks under Limited Data").

  python launch.py --config=configs/biggan_lecam_diffaug_cifar10.py \
      --workdir=runs/biggan_lecam_diffaug_cifar10

As biggan_diffaug_cifar10.py (DiffAugment 'color,translation,cutout', 200,000 steps), plus
LeCam with weight 0.3 (lecam_lambda) and moving averages of D's mean real and fake logits with
decay 0.99 (lecam_ema_decay).

Gaps: those of biggan_cifar10.py, and in LeCam:
* StudioGAN squares only the side that crosses the anchor (`losses.lecam_reg`: E[relu(D(x) -
  alpha_F)^2] + E[relu(alpha_R - D(G(z)))^2]); jaxgan's 'lecam' regulariser is the paper's
  eq. 4 (`jaxgan.losses.LeCam(hinged=True)` has StudioGAN's form, but config.loss.regularizers
  cannot select it yet).
* StudioGAN applies the penalty only after generator step 1,000 (lecam_ema_start_iter;
  src/worker.py line 403: `current_step > 1000`, steps counted from 0), as here (the weight
  is a step ramp, jaxgan/schedules.py: 0 before step 1001, 0.3 from it on), but until then it
  keeps the averages at the last batch's values (src/utils/ema.py: decay 0 before the start);
  jaxgan's averages are zero-debiased from step 0, updated after each critic update.

Expected: not measured by jaxgan; issue 21 quotes StudioGAN's benchmark table at FID 3.23 for
this row (the table is an image in StudioGAN's README, not re-checked here).
"""

import os

from jaxgan import config as config_lib
from jaxgan import schedules


def get_config():
  base = os.path.join(os.path.dirname(__file__), 'biggan_diffaug_cifar10.py')
  config = config_lib.from_file(base)
  # StudioGAN BigGAN-DiffAug-LeCam.yaml lines 24-25: lecam_lambda 0.3 from lecam_ema_start_iter
  # 1000 on (applied while current_step > 1000, src/worker.py line 403).
  config.loss.regularizers = {
      'lecam': schedules.ramp_config('step', 0.0, 0.3, 1001.0).to_dict()}
  return config
