"""One image at the training size: `convert_image`, the conversion every folder, .npz and
TFDS example goes through, and `read_image_file`."""

import numpy as np

from jaxgan import errors

IMAGE_SIZES = (32, 64, 128, 256)
CHANNELS = (1, 3)
# Images whose shorter side is below this are skipped (a 1-pixel-tall strip is no image).
MIN_SIDE = 8
# How every image is brought to the training size (part of the data's identity).
RESIZE = 'center-crop, PIL Lanczos'


class BadImage(errors.DatasetError):
  """One example cannot be used (unreadable, truncated, too small): it is skipped."""


def _eight_bit(values: np.ndarray, top: float) -> np.ndarray:
  """Values in [0, top] -> uint8, rounded."""
  scaled = np.round(np.clip(values.astype(np.float64), 0, top) * (255.0 / top))
  return scaled.astype(np.uint8)


def _to_pil(image):
  """A PIL image of 8-bit mode ('L', 'LA', 'RGB', 'RGBA', ...) from a PIL image or array."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if isinstance(image, Image.Image):
    if image.mode.startswith('I') or image.mode == 'F':
      # 16/32-bit integer (16-bit PNG, TIFF) and float grey: 16-bit range; float as 8-bit.
      top = 255.0 if image.mode == 'F' else 65535.0
      return Image.fromarray(_eight_bit(np.asarray(image), top))
    return image
  array = np.asarray(image)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.dtype == np.uint16:
    array = _eight_bit(array, 65535.0)
  if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
      array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
    raise BadImage(f'an image array must be uint8 or uint16 (H, W) or (H, W, 1/3/4), got '
                   f'{array.dtype} {array.shape}')
  return Image.fromarray(array)


def convert_image(image, *, size: int, channels: int = 3) -> np.ndarray:
  """One image (a PIL image, or an array (H, W[, C]) uint8/uint16) -> uint8 (size, size,
  channels): the one conversion every folder, npz and TFDS example goes through.

  16-bit values are scaled to 8 bits (x * 255 / 65535); palettes expanded; alpha composited
  over black (what a transparent pixel shows on a black canvas); grey repeated to RGB, or
  colour turned grey with ITU-R 601-2 luma (PIL's 'L') when `channels` is 1; then the
  centre square (the shorter side) is resized to size x size with PIL's Lanczos filter,
  which is antialiased when shrinking (its kernel widens with the scale factor; bilinear
  resizes without antialiasing alias and move FID, Parmar et al. 2022) and is what
  StyleGAN2-ADA's dataset tool uses. Raises BadImage for an image with a side below MIN_SIDE.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if (isinstance(image, np.ndarray) and image.dtype == np.uint8
      and image.shape == (size, size, channels)):
    return image   # already at the training size: nothing to do
  img = _to_pil(image)
  width, height = img.size
  if min(width, height) < MIN_SIDE:
    raise BadImage(f'the image is {width}x{height} pixels, below the {MIN_SIDE}-pixel minimum')
  if img.mode == 'P':
    img = img.convert('RGBA')
  if 'A' in img.mode or 'a' in img.mode:
    rgba = img.convert('RGBA')
    img = Image.alpha_composite(Image.new('RGBA', img.size, (0, 0, 0, 255)), rgba)
  img = img.convert('RGB' if channels == 3 else 'L')
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  box = (left, top, left + side, top + side)
  if side != size:
    img = img.resize((size, size), Image.Resampling.LANCZOS, box=box)
  elif (width, height) != (side, side):
    img = img.crop(box)
  array = np.asarray(img, np.uint8)
  return array[..., None] if channels == 1 else array


def read_image_file(path: str):
  """The PIL image in the file at `path`, fully decoded (BadImage if it cannot be)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as img:
      img.load()   # decodes now, so a truncated file fails here; usable once closed
      return img
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    raise BadImage(f'{path} is not a readable image ({type(e).__name__}: {e})') from e
