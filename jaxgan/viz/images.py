"""Sample grids (PNG and TensorBoard) and 2-D scatter plots."""

import io
import math
import os

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float [-1, 1] -> uint8 [0, 255] (round to nearest)."""
  return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, cols: int = 0, pad: int = 2) -> np.ndarray:
  """(N, H, W, C) float [-1, 1] -> one (rows*H, cols*W, C) uint8 image with `pad` px gaps."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  cols = cols or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = images[i]
  return out


def save_png(image: np.ndarray, path: str) -> None:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = path + '.tmp'
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]   # greyscale (data.channels=1)
  Image.fromarray(image).save(tmp, format='PNG')
  os.replace(tmp, path)


def scatter(points: np.ndarray, centres: np.ndarray, title: str = '') -> np.ndarray:
  """Samples (grey) over mixture mode centres (red; none for a source without modes): an RGB
  uint8 image, framed around the centres, or the finite samples when there are no centres."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
  ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, c='0.2')
  ax.scatter(centres[:, 0], centres[:, 1], s=25, c='red', marker='x')
  frame = centres if len(centres) else points[np.all(np.isfinite(points), axis=1)]
  lim = float(np.abs(frame).max()) * (1.5 if len(centres) else 1.05) + 0.5 if len(frame) else 1.0
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect('equal')
  if title:
    ax.set_title(title, fontsize=9)
  buf = io.BytesIO()
  fig.savefig(buf, format='png', bbox_inches='tight')
  plt.close(fig)
  buf.seek(0)
  return np.asarray(Image.open(buf).convert('RGB'))
