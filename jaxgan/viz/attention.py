"""Pictures of SAGAN attention maps, like the seed paper's attention figures (Sec. 4).

For each sample, one row: the sample with every query point marked, then, per query point,
the sample overlaid with that query's attention map (its row of beta, reshaped to the key
feature map and upsampled bilinearly to the image) with the query point marked.

Pure numpy and PIL (plus a matplotlib colormap lookup table, no figure): nothing to configure
for a headless trainer.
"""

from typing import Sequence

import jax
import matplotlib
import numpy as np
from PIL import Image, ImageDraw

MARKER_FILL = (0, 255, 0)
_MARKER_OUTLINE = (0, 0, 0)
_GAP = 2  # pixels between tiles


def to_uint8_rgb(images) -> np.ndarray:
  """(B, H, W, C) in [-1, 1] (float) or uint8 -> (B, H, W, 3) uint8."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = np.clip((images.astype(np.float32) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  return images


def _key_grid(num_keys: int, grid: tuple[int, int]) -> tuple[int, int]:
  gh, gw = grid
  if num_keys == gh * gw:
    return gh, gw
  if num_keys == (gh // 2) * (gw // 2):  # keys max-pooled 2x2 (`attention_pool`)
    return gh // 2, gw // 2
  raise ValueError(
      f'Attention maps have {num_keys} keys, which fits neither the {gh}x{gw} query grid nor '
      'its 2x2-pooled version; pass the feature-map size the attention ran at as `grid`.')


def _mark(tile: Image.Image, point, scale: int) -> None:
  r, c = point
  cy, cx = (r + 0.5) * scale, (c + 0.5) * scale
  radius = max(2.0, 0.06 * tile.size[0])
  ImageDraw.Draw(tile).ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                               fill=MARKER_FILL, outline=_MARKER_OUTLINE,
                               width=max(1, int(radius) // 3))


def render_attention(images, attention, query_points: Sequence[tuple[int, int]], *,
                     grid: tuple[int, int] | None = None, scale: int | None = None,
                     alpha: float = 0.6, colormap: str = 'jet') -> np.ndarray:
  """Draws samples, query points and their attention maps into one HWC uint8 image.

  Args:
    images: (B, H, W, C) samples, floats in [-1, 1] or uint8; C is 1 or 3.
    attention: (B, N_query, N_key) attention maps (`attention_for` or the sown
      'intermediates' of `SelfAttention`), query and key positions row-major.
    query_points: (row, col) positions in image pixel coordinates, the same for every sample.
    grid: (height, width) of the feature map the attention ran at (its query grid); default:
      the square grid of N_query positions. Keys live on the same grid or, with
      `attention_pool`, on its 2x2-pooled version (told apart by N_key).
    scale: integer upscaling of every tile; default: tiles at least 128 pixels high.
    alpha: opacity of the attention heat map.
    colormap: a matplotlib colormap name.

  Returns:
    (rows, cols, 3) uint8: one row per sample; column 0 the sample with all query points,
    column 1 + i the attention map of query point i.
  """
  images = to_uint8_rgb(images)
  attention = np.asarray(jax.device_get(attention), dtype=np.float32)
  b, h, w, _ = images.shape
  if attention.ndim != 3 or attention.shape[0] != b:
    raise ValueError(f'Expected attention of shape ({b}, N_query, N_key), got {attention.shape}.')
  num_queries, num_keys = attention.shape[1:]
  if grid is None:
    side = int(round(num_queries ** 0.5))
    grid = (side, side)
  if grid[0] * grid[1] != num_queries:
    raise ValueError(f'grid={grid} does not hold the {num_queries} query positions.')
  key_grid = _key_grid(num_keys, grid)
  for r, c in query_points:
    if not (0 <= r < h and 0 <= c < w):
      raise ValueError(f'Query point {(r, c)} lies outside the {h}x{w} image.')
  scale = scale or max(1, -(-128 // h))
  th, tw = h * scale, w * scale
  cmap = matplotlib.colormaps[colormap]

  cols = 1 + len(query_points)
  canvas = np.full((b * th + (b - 1) * _GAP, cols * tw + (cols - 1) * _GAP, 3), 255, np.uint8)
  for i in range(b):
    sample = Image.fromarray(images[i]).resize((tw, th), Image.NEAREST)
    tiles = [sample.copy()]
    for r, c in query_points:
      _mark(tiles[0], (r, c), scale)
      query = (r * grid[0] // h) * grid[1] + (c * grid[1] // w)
      heat = attention[i, query].reshape(key_grid)
      heat = Image.fromarray(np.ascontiguousarray(heat, np.float32))  # mode 'F'
      heat = np.asarray(heat.resize((tw, th), Image.BILINEAR))
      heat = heat / max(float(heat.max()), 1e-12)
      colour = cmap(heat)[..., :3] * 255.0
      blended = (1 - alpha) * np.asarray(sample, np.float32) + alpha * colour
      tile = Image.fromarray(blended.round().astype(np.uint8))
      _mark(tile, (r, c), scale)
      tiles.append(tile)
    for j, tile in enumerate(tiles):
      y0, x0 = i * (th + _GAP), j * (tw + _GAP)
      canvas[y0:y0 + th, x0:x0 + tw] = np.asarray(tile)
  return canvas


def attention_for(generator, variables, z, labels=None) -> jax.Array:
  """Runs `generator` in evaluation mode and returns its last sown attention map.

  Returns (B, N_query, N_key) float32; raises ValueError if the generator has no attention
  block (e.g. `attention_resolution=0`).
  """
  variables = {k: v for k, v in variables.items() if k != 'intermediates'}
  _, state = generator.apply(variables, z, labels, train=False, mutable=['intermediates'])
  # Sown values sit at (..., <module>, 'attention', <call index>).
  leaves = jax.tree_util.tree_flatten_with_path(state.get('intermediates', {}))[0]
  maps = [leaf for path, leaf in leaves
          if len(path) >= 2 and getattr(path[-2], 'key', None) == 'attention']
  if not maps:
    raise ValueError('The generator sowed no attention map; does it have an attention block '
                     '(config.model.attention_resolution > 0)?')
  return maps[-1]
