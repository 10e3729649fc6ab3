"""Mode-collapse metrics for 2-D Gaussian mixtures (VEEGAN, Srivastava et al. 2017; PacGAN,
Lin et al. 2018): a sample is high quality when it lies within 3 sigma of its nearest mode;
a mode is covered when at least one high-quality sample is nearest to it."""

import numpy as np


def mode_metrics(samples: np.ndarray, centres: np.ndarray, sigma: float) -> dict[str, float]:
  samples = np.asarray(samples, np.float64)
  dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
  nearest = dist.argmin(axis=1)
  high_quality = dist[np.arange(len(samples)), nearest] <= 3.0 * sigma
  covered = np.unique(nearest[high_quality])
  return {'modes_covered': float(len(covered)),
          'high_quality': float(high_quality.mean()) if len(samples) else 0.0}
