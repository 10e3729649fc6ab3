"""Toy data: the offline handwritten digits and the 2-D Gaussian mixtures, whose samples are
shown as scatter plots over the mode centres with VEEGAN's mode statistics."""

import jax
import numpy as np

from jaxgan import errors
from jaxgan.data import pipeline
from jaxgan.data import views

MIXTURES = ('ring', 'grid')
BUILTIN_DATASETS = ('digits',)


# ---------------------------------------------------------------------------------------------
# The offline digits.
# ---------------------------------------------------------------------------------------------

def _resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize (antialiased when shrinking) of uint8 NHWC images, in chunks.

  jax.image.resize's antialiased 'linear' is scale_and_translate, the algorithm of
  tf.image.resize(method='bilinear', antialias=True) that this used before: at the
  power-of-two sizes the digits come in every weight is dyadic, so both give the same uint8
  images (tests/test_gpu_bench.py), and the GPU path needs no TensorFlow. It runs on the host
  CPU where jax has one (this process's), so the images do not depend on the accelerator.
  """
  if images.shape[1] == size and images.shape[2] == size:
    return images
  try:   # this process's own CPU (jax.devices() lists every process's devices)
    device = jax.local_devices(backend='cpu')[0]
  except RuntimeError:   # jax restricted to its accelerator (JAX_PLATFORMS)
    device = jax.local_devices()[0]
  out = []
  with jax.default_device(device):
    for start in range(0, len(images), 2048):
      chunk = images[start:start + 2048]
      shape = (len(chunk), size, size) + chunk.shape[3:]
      chunk = jax.image.resize(chunk.astype(np.float32), shape, method='linear', antialias=True)
      out.append(np.clip(np.round(np.asarray(chunk)), 0, 255).astype(np.uint8))
  return np.concatenate(out)


def load_digits(size: int, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images, 17 levels,
  upscaled bilinearly (as they always were: Lanczos would ring around the strokes)."""
  from sklearn import datasets as skdatasets  # pylint: disable=g-import-not-at-top
  digits = skdatasets.load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  images = np.repeat(images, 3, axis=-1)
  images = _resize_uint8(images, size)
  return (images if channels == 3 else images[..., :1]), digits.target.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# 2-D Gaussian mixtures (the VEEGAN / PacGAN protocol).
# ---------------------------------------------------------------------------------------------

def mixture_modes(name: str) -> tuple[np.ndarray, float]:
  """Mode centres and per-mode standard deviation of a named mixture.

  'ring': 8 modes evenly on a circle of radius 1, sigma 0.01.
  'grid': 25 modes at {-4, -2, 0, 2, 4}^2, sigma 0.05.
  """
  if name == 'ring':
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], -1), 0.01
  if name == 'grid':
    g = np.arange(-4, 5, 2, dtype=np.float64)
    return np.stack(np.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2), 0.05
  raise errors.ConfigError(f'unknown mixture {name!r}; choose one of {", ".join(MIXTURES)}.')


def sample_mixture(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
  centres, sigma = mixture_modes(name)
  idx = rng.integers(0, len(centres), n)
  return (centres[idx] + sigma * rng.standard_normal((n, 2))).astype(np.float32)


class MixtureSource:
  """Fresh points of a 2-D mixture every step: the global batch of step s is drawn from
  (seed, s), and each process keeps its slice. Its samples are shown as scatter plots over
  the mode centres, with the mode statistics (`sample_view`)."""
  example_shape = (2,)
  num_classes = 0

  def __init__(self, name: str, *, seed: int = 0):
    self.modes = mixture_modes(name)   # (centres, sigma); unknown names fail here
    self.name = name
    self.seed = int(seed)
    self.sample_view = views.Points(*self.modes)

  def prepare(self) -> None:
    pass

  def batch(self, step: int, layout: pipeline.Layout) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step, 0x6d6978])
    points = sample_mixture(self.name, layout.examples_per_step, rng)
    points = layout.split(points.reshape(layout.num_batches, layout.batch_size, 2))
    return {'image': points, 'label': np.zeros(points.shape[:3], np.int32)}
