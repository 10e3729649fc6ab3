"""How a source's generated samples are shown and saved: `sample_view(source)`.

A source may bring its own view as its attribute `sample_view` (the 2-D mixtures bring a
scatter plot over their mode centres with VEEGAN's mode statistics); a source without one
gets a grid for images (H, W, C), a scatter plot for 2-D points and no picture for other
vectors. The training loop's sample pictures and `jaxgan.tools.sample` ask the view, so
neither knows what toy data is.

Your own view: any object with `noun`, `num_samples`, `shows_images` and `picture(samples,
title)` (see `SampleView`), and optionally `write_samples(chunks, out)`.
"""

import dataclasses
import os
from typing import Any, Iterable, Optional, Protocol

import numpy as np

from jaxgan.metrics import mixtures
from jaxgan.viz import images as viz_images


@dataclasses.dataclass(frozen=True)
class Picture:
  """One picture of samples: what is saved as PNG and shown in TensorBoard, the scalars
  logged with it (e.g. 'modes/modes_covered') and a line for the console ('' for none)."""
  image: np.ndarray   # uint8 (H, W, C) or (H, W)
  scalars: dict[str, float] = dataclasses.field(default_factory=dict)
  note: str = ''


class SampleView(Protocol):
  """What the training loop and `jaxgan.tools.sample` need to show a source's samples."""
  noun: str                    # what a sample is called in messages: 'images', 'points'
  # Samples per picture, drawn from a z of their own; None: config.log.num_samples.
  num_samples: Optional[int]
  shows_images: bool           # samples are images (SAGAN's attention figures apply)

  def picture(self, samples: np.ndarray, title: str) -> Optional[Picture]:
    """The picture of generated `samples` (None: these samples are not drawn)."""

  # Optional: write_samples(chunks, out) saves an iterable of (samples, labels or None)
  # chunks to `out` (an .npz file or a folder) in the data's own format;
  # `jaxgan.tools.sample` writes images as PNGs or uint8 arrays for a view without it.


class Images:
  """Generated images, float in [-1, 1] (N, H, W, C): a grid of config.log.num_samples (one
  class after another for a conditional model)."""
  noun = 'images'
  num_samples = None
  shows_images = True

  def picture(self, samples: np.ndarray, title: str = '') -> Picture:
    del title   # the file name and the TensorBoard step say which step it is
    return Picture(viz_images.grid(np.asarray(samples)))


class Vectors:
  """Generated float vectors (N, D) (points, embeddings): no picture; `write_samples` saves
  them as they are (not quantised like images)."""
  noun = 'points'
  num_samples = None
  shows_images = False

  def picture(self, samples: np.ndarray, title: str = '') -> Optional[Picture]:
    del samples, title
    return None

  def write_samples(self, chunks: Iterable[tuple[Any, Any]], out: str) -> None:
    """float32 (N, D) `points` (and `labels`) in an .npz, or a folder with `points.npy`,
    each written atomically."""
    xs, ys = [], []
    for x, y in chunks:
      xs.append(np.asarray(x, np.float32))
      if y is not None:
        ys.append(np.asarray(y))
    points = np.concatenate(xs)
    if out.endswith('.npz'):
      arrays = {'points': points}
      if ys:
        arrays['labels'] = np.concatenate(ys)
      os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
      tmp = f'{out}.tmp-{os.getpid()}.npz'
      np.savez(tmp, **arrays)
      os.replace(tmp, out)
      return
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, f'points.tmp-{os.getpid()}.npy')
    np.save(tmp, points)
    os.replace(tmp, os.path.join(out, 'points.npy'))
    self._write_folder_extras(out, points)

  def _write_folder_extras(self, out: str, points: np.ndarray) -> None:
    del out, points


class Points(Vectors):
  """Generated 2-D points: a scatter plot of `num_samples` of them over the data's mode
  centres, with the VEEGAN / PacGAN mode statistics when the modes are known (Srivastava et
  al. 2017; `metrics.mixtures.mode_metrics`: modes covered, share of high-quality samples)."""
  num_samples = 2_500

  def __init__(self, centres: Optional[np.ndarray] = None, sigma: Optional[float] = None):
    if (centres is None) != (sigma is None):
      raise ValueError('pass both the mode centres and their sigma, or neither')
    self.centres = None if centres is None else np.asarray(centres)
    self.sigma = sigma

  def picture(self, samples: np.ndarray, title: str = '') -> Picture:
    points = np.asarray(samples)
    if self.centres is None:
      return Picture(viz_images.scatter(points, np.zeros((0, 2)), title))
    stats = mixtures.mode_metrics(points, self.centres, self.sigma)
    note = (f'{stats["modes_covered"]:.0f}/{len(self.centres)} modes covered, '
            f'{100 * stats["high_quality"]:.1f}% high-quality samples.')
    return Picture(viz_images.scatter(points, self.centres, title),
                   {f'modes/{k}': v for k, v in stats.items()}, note)

  def _write_folder_extras(self, out: str, points: np.ndarray) -> None:
    centres = np.zeros((0, 2)) if self.centres is None else self.centres
    viz_images.save_png(viz_images.scatter(points, centres, f'{len(points)} samples'),
                        os.path.join(out, 'scatter.png'))


def sample_view(source: Any) -> SampleView:
  """`source.sample_view` if the source brings one; else `Images` for images (H, W, C),
  `Points` (no modes) for 2-D points, `Vectors` for other float vectors."""
  own = getattr(source, 'sample_view', None)
  if own is not None:
    return own
  shape = tuple(source.example_shape)
  if len(shape) == 1:
    return Points() if shape == (2,) else Vectors()
  return Images()
