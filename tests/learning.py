"""Learning statistics for the families' tests: a fixed digit classifier's feature space.

A generator that has learned the digits makes images a digit classifier recognises, of every
class, with the real digits' spread; one that has only moved to the digits' mean image (or has
collapsed to a few images) does not. `DigitFeatures` is such a classifier, fitted once, in
closed form and in float64 numpy (so it does not depend on the CPU type beyond float64
rounding), on the train split of scikit-learn's bundled digits (`digit_split`: the examples
the generators train on; the others are held out as a baseline):

* Images (any size, [-1, 1], NHWC) are clipped, averaged over channels and average-pooled to
  the digits' own 8x8 grid (64 values).
* Fisher's linear discriminant analysis (Fisher 1936; Hastie, Tibshirani & Friedman, The
  Elements of Statistical Learning, sec. 4.3.3): the 9 directions that maximise the between-
  class variance against the pooled within-class covariance (shrunk towards its mean
  eigenvalue, Ledoit & Wolf 2004 style, since 64 pixels include near-constant border pixels),
  scaled so that the within-class covariance is the identity. Its class decisions are the
  nearest class mean in that space (LDA with equal priors): 94% right on the held-out digits.

Statistics of a set of images (`statistics`):
* `fd`: the Frechet distance (FID's formula, Heusel et al. 2017, eq. 6) between the images'
  features and the train split's, in the 9-D discriminant space instead of Inception's 2048-D
  one. A constant image scores at least trace(Sigma_real) (no spread), whatever it is.
* `classes`: how many of the 10 digit classes the classifier assigns at least 2% of the
  images to (a fifth of the 10% each class would get): 1 for a constant image.
* `accuracy`: the share of images classified as the label they were generated for (chance:
  10%), the test of class conditioning.
"""

from __future__ import annotations

import numpy as np

from jaxgan.data import sources
from jaxgan.metrics import fid

NUM_CLASSES = 10
MIN_CLASS_SHARE = 0.02


def pooled(images) -> np.ndarray:
  """(n, 64) float64: images in [-1, 1] (n, H, W, C) clipped, channel-averaged, pooled to 8x8."""
  images = np.clip(np.asarray(images, np.float64), -1.0, 1.0).mean(axis=-1)
  n, h, w = images.shape
  return images.reshape(n, 8, h // 8, 8, w // 8).mean(axis=(2, 4)).reshape(n, 64)


def digit_split(source):
  """A prepared digits source's (train, held_out) parts, each (images in [-1, 1] NHWC, labels):
  the examples it trains on (its `data.fraction` subset) and the others."""
  source.prepare()
  train = source.training_indices()
  held = np.setdiff1d(np.arange(source.num_examples), train)
  return tuple((sources.to_float(images), labels)
               for images, labels in (source.read(train), source.read(held)))


class DigitFeatures:
  """Fisher's discriminant space of the 8x8 digits, fitted on `images`, `labels` (module doc)."""

  def __init__(self, images, labels, *, shrinkage: float = 0.1):
    x, labels = pooled(images), np.asarray(labels)
    self.mean = x.mean(axis=0)
    means = np.stack([x[labels == c].mean(axis=0) for c in range(NUM_CLASSES)])
    within = sum(np.cov(x[labels == c], rowvar=False) * (np.sum(labels == c) - 1)
                 for c in range(NUM_CLASSES)) / (len(x) - NUM_CLASSES)
    within = ((1 - shrinkage) * within
              + shrinkage * np.trace(within) / len(within) * np.eye(len(within)))
    # Whiten the within-class covariance, then the principal axes of the class means.
    values, vectors = np.linalg.eigh(within)
    whiten = vectors / np.sqrt(values)
    centred = (means - self.mean) @ whiten
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    self.projection = whiten @ vt[:NUM_CLASSES - 1].T     # (64, 9), within-class cov = I
    self.class_means = self.features_of_pooled(means)
    self.real_features = self.features_of_pooled(x)
    self.real_stats = (self.real_features.mean(axis=0),
                       np.cov(self.real_features, rowvar=False))

  def features_of_pooled(self, x: np.ndarray) -> np.ndarray:
    return (x - self.mean) @ self.projection

  def features(self, images) -> np.ndarray:
    """(n, 9) discriminant features of images in [-1, 1] (n, H, W, C)."""
    return self.features_of_pooled(pooled(images))

  def classify(self, images) -> np.ndarray:
    f = self.features(images)
    return np.argmin(((f[:, None] - self.class_means[None]) ** 2).sum(-1), axis=1)

  def frechet_distance(self, images) -> float:
    f = self.features(images)
    return fid.frechet_distance(f.mean(axis=0), np.cov(f, rowvar=False), *self.real_stats)

  def statistics(self, images, labels=None) -> dict[str, float]:
    """{'fd', 'classes', 'accuracy'} of `images` (module doc); accuracy needs `labels`."""
    predicted = self.classify(images)
    counts = np.bincount(predicted, minlength=NUM_CLASSES)
    out = {'fd': self.frechet_distance(images),
           'classes': int(np.sum(counts >= MIN_CLASS_SHARE * len(predicted)))}
    if labels is not None:
      out['accuracy'] = float(np.mean(predicted == np.asarray(labels)))
    return out

  def mean_image_fd(self) -> float:
    """The Frechet distance of the real mean image repeated (the best constant image):
    trace(Sigma_real), as its features have the real mean and no spread."""
    return float(np.trace(self.real_stats[1]))
