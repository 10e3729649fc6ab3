"""MLP GAN on the 'ring' mixture: 8 Gaussians on a circle of radius 1, sigma 0.01.

  python launch.py --config=configs/toy_ring.py --workdir=runs/ring
  python launch.py --config=configs/toy_ring.py:hinge --workdir=runs/ring_hinge   # a family

The standard mode-collapse benchmark (VEEGAN, PacGAN). Logs modes covered and the share of
high-quality samples (within 3 sigma of a mode) with each scatter plot of 2,500 samples.

The settings are those of the benchmark's loss family (`jaxgan.study.mixtures.FAMILIES`,
BENCHMARKS.md): by default non_saturating (MLPs of 3 x 128 ReLU units, z in R^2, batch 256,
Adam 1e-3 / (0.5, 0.999), 4,000 steps, the last 1,000 at a tenth of the rate), so this run is
the benchmark's seed-0 run. `:FAMILY` picks another family (`python -m jaxgan.study.mixtures
--help` lists them: rpgan, hinge, wasserstein_gp, ...).
"""

from jaxgan.study import mixtures


def get_config(family: str = 'non_saturating'):
  return mixtures.toy_config('ring', family or 'non_saturating')
