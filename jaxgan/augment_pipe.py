"""ADA's augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data", NeurIPS, appendix B) as pure, jittable JAX functions.

A port of the official `AugmentPipe` (NVlabs/stylegan2-ada-pytorch, training/augment.py; R3GAN's
training/augment.py is the same code), transformation by transformation, in the official order
and with the official distributions. Each transformation is applied to an image with
probability p * multiplier, an independent Bernoulli draw per image and transformation:

* Pixel blitting: 'xflip' (x -> -x with probability 1/2), 'rotate90' (k * 90 degrees, k
  uniform in {0, 1, 2, 3}), 'xint' (integer translation, uniform in
  [-xint_max, xint_max] of the image size, rounded to pixels).
* General geometric: 'scale' (isotropic, 2^N(0, scale_std^2)), 'rotate' (uniform angle in
  [-rotate_max pi, rotate_max pi], applied before and after the anisotropic scaling, each
  with probability 1 - sqrt(1 - rotate p), so that one of them is with probability rotate p),
  'aniso' (x by s, y by 1/s, s = 2^N(0, aniso_std^2)), 'xfrac' (translation
  N(0, xfrac_std^2) of the image size).
* Colour, as a 4x4 homogeneous matrix on RGB: 'brightness' (add N(0, brightness_std^2)),
  'contrast' (scale by 2^N(0, contrast_std^2)), 'lumaflip' (Householder reflection about the
  luma axis v = (1, 1, 1) / sqrt 3 with probability 1/2), 'hue' (rotation about v by a
  uniform angle in [-hue_max pi, hue_max pi]), 'saturation' (scale the part orthogonal to v
  by 2^N(0, saturation_std^2)). Hue and saturation skip one-channel images; a one-channel
  image takes the mean of the matrix's RGB rows.
* Image-space filtering: 'imgfilter' (each of 4 frequency bands, a filter bank built from the
  sym2 wavelet, amplified with probability p * imgfilter by 2^N(0, imgfilter_std^2), the
  gains normalised to the expected power spectrum (10, 1, 1, 1) / 13; every band at
  multiplier 1, the official imgfilter_bands default; images of at least 22 pixels a side,
  as the official reflect padding of 21 needs).
* Corruptions: 'noise' (add N(0, sigma^2) per pixel, sigma = |N(0, noise_std^2)|) and 'cutout'
  (zero a rectangle of cutout_size of the image size centred uniformly in the image).

The geometric transformations compose one inverse 3x3 matrix G_inv (output pixel -> input
pixel, about the image centre) and execute it as the official code does: reflect-pad the
image, upsample 2x with the sym6 wavelet low-pass filter, sample the transformed grid
bilinearly (zero outside the padded image), low-pass with the same filter and downsample 2x.
The official code pads by a margin computed from the whole batch's corners (clamped to the
image size less one) and skips the geometric stage when no geometric multiplier is set; XLA
needs static shapes, so here the margin is always that clamp, size - 1 on every side. The
official margin is made to cover the sampled points and the filters' support, where both
paddings hold the same reflected pixels, and where it is clamped both end at the same place,
so the results agree to float32 rounding (`tests/test_augment_pipe.py` checks them against a
PyTorch replica with the data-dependent margin, also with zooms and shifts that clamp it), and
image j's result depends on image j's draws alone (in the official code, on the batch's
margin too).

Conventions (as jaxgan/augment.py's DiffAugment): NHWC images (any range; jaxgan's are in
[-1, 1], as the official code's), one PRNG key per image; `draw` turns each image's key into
its random numbers (a dict of per-image arrays, independent of p and of the multipliers),
`apply` is a deterministic function of the images, those numbers and p, differentiable in the
images (a gather with bilinear weights and linear filters), and p may be a traced scalar.
"""

import dataclasses
from typing import Mapping, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import errors

Array = jax.Array

# The sym6 wavelet's low-pass decomposition filter (the official `wavelets['sym6']`): the
# geometric stage's up- and downsampling filter.
# The sym2 wavelet's low-pass filter (`wavelets['sym2']`): the image-space filter bank's base.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036,
        -0.007800708325034148)

GEOMETRIC = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac')
COLOR = ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')
CORRUPTIONS = ('noise', 'cutout')
TRANSFORMS = GEOMETRIC + COLOR + ('imgfilter',) + CORRUPTIONS
EXPECTED_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)   # the bands' expected power spectrum (1/f)

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
# The official train.py's augpipe_specs (those without image filtering), and R3GAN's own set
# (brownvc/R3GAN train.py, line 300: geometric 1, colour 0.5, cutout 1).
PRESETS = {
    'blit': _BLIT,
    'geom': _GEOM,
    'color': _COLOR,
    'noise': dict(noise=1),
    'cutout': dict(cutout=1),
    'bg': {**_BLIT, **_GEOM},
    'bgc': {**_BLIT, **_GEOM, **_COLOR},
    'filter': dict(imgfilter=1),
    'bgcf': {**_BLIT, **_GEOM, **_COLOR, 'imgfilter': 1},
    'bgcfn': {**_BLIT, **_GEOM, **_COLOR, 'imgfilter': 1, 'noise': 1},
    'bgcfnc': {**_BLIT, **_GEOM, **_COLOR, 'imgfilter': 1, 'noise': 1, 'cutout': 1},
    'r3gan': {**_BLIT, **_GEOM, **{k: 0.5 for k in _COLOR}, 'cutout': 1},
}

# Each image's random numbers: name -> (uniforms, normals) it takes. Column 0 of every entry
# is the uniform Bernoulli gate (u < p * multiplier); the rest are the values ('imgfilter':
# the 4 bands' gates, then their 4 normals).
_DRAWS = {
    'xflip': (2, 0), 'rotate90': (2, 0), 'xint': (3, 0), 'scale': (1, 1),
    'rotate_pre': (2, 0), 'aniso': (1, 1), 'rotate_post': (2, 0), 'xfrac': (1, 2),
    'brightness': (1, 1), 'contrast': (1, 1), 'lumaflip': (2, 0), 'hue': (2, 0),
    'saturation': (1, 1), 'imgfilter': (4, 4), 'noise': (1, 1), 'cutout': (3, 0),
}
_NUM_UNIFORM = sum(u for u, _ in _DRAWS.values())
_NUM_NORMAL = sum(n for _, n in _DRAWS.values())


@dataclasses.dataclass(frozen=True)
class AugmentPipe:
  """The official AugmentPipe's multipliers and ranges (all multipliers 0 by default: build
  one from a preset with `from_preset`). Frozen and hashable (static under jit)."""
  xflip: float = 0.0
  rotate90: float = 0.0
  xint: float = 0.0
  scale: float = 0.0
  rotate: float = 0.0
  aniso: float = 0.0
  xfrac: float = 0.0
  brightness: float = 0.0
  contrast: float = 0.0
  lumaflip: float = 0.0
  hue: float = 0.0
  saturation: float = 0.0
  imgfilter: float = 0.0
  noise: float = 0.0
  cutout: float = 0.0
  xint_max: float = 0.125         # integer translation's range, a fraction of the image size
  scale_std: float = 0.2          # log2 standard deviation of isotropic scaling
  rotate_max: float = 1.0         # rotation's range, 1 = the full circle
  aniso_std: float = 0.2          # log2 standard deviation of anisotropic scaling
  xfrac_std: float = 0.125        # fractional translation's std, a fraction of the image size
  brightness_std: float = 0.2
  contrast_std: float = 0.5       # log2
  hue_max: float = 1.0            # 1 = the full circle
  saturation_std: float = 1.0     # log2
  imgfilter_std: float = 1.0      # log2 standard deviation of a band's amplification
  noise_std: float = 0.1
  cutout_size: float = 0.5        # a fraction of the image size

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise errors.ConfigError(f'AugmentPipe {field.name}={value!r} must be a number >= 0.')
      object.__setattr__(self, field.name, float(value))

  @classmethod
  def from_preset(cls, preset: str, **overrides) -> 'AugmentPipe':
    """The pipeline of a named preset (`PRESETS`), with `overrides` of its fields."""
    errors.check_choice('augment.ada_preset', preset, tuple(PRESETS))
    return cls(**{**PRESETS[preset], **overrides})

  @property
  def multipliers(self) -> dict[str, float]:
    """The transformations' probability multipliers, nonzero ones only."""
    return {name: getattr(self, name) for name in TRANSFORMS if getattr(self, name) > 0}

  def draw(self, keys: Array, image_shape) -> dict[str, Array]:
    """Each image's random numbers from its own key in `keys` (shape (B,)): name -> (B, k)
    float32 arrays for the names of `_DRAWS` (column 0 a U[0, 1) gate, then the values:
    U[0, 1) or N(0, 1) as the official code draws them), and with noise on, 'noise_field',
    N(0, 1) of the images' shape (B, H, W, C). Independent of p and of the multipliers."""
    shape = tuple(int(d) for d in image_shape[-3:])

    def one(key):
      k_u, k_n, k_f = jax.random.split(key, 3)
      u = jax.random.uniform(k_u, (_NUM_UNIFORM,), jnp.float32)
      n = jax.random.normal(k_n, (_NUM_NORMAL,), jnp.float32)
      out, iu, jn = {}, 0, 0
      for name, (nu, nn) in _DRAWS.items():
        out[name] = jnp.concatenate([u[iu:iu + nu], n[jn:jn + nn]])
        iu, jn = iu + nu, jn + nn
      if self.noise > 0:
        out['noise_field'] = jax.random.normal(k_f, shape, jnp.float32)
      return out

    return jax.vmap(one)(keys)

  def apply(self, images: Array, params: Mapping[str, Array], *,
            probability: Union[float, Array]) -> Array:
    """The pipeline on NHWC `images` with the draws `params` of `draw` at probability p."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f'images of shape {images.shape} are not NHWC with 1 or 3 channels '
                       f'(the ADA pipeline transforms RGB or grey images).')
    p = jnp.asarray(probability, jnp.float32)
    x = images
    if any(getattr(self, name) > 0 for name in GEOMETRIC):
      x = _geometric(x, self.geometric_matrix(params, p, x.shape[1:3]))
    if any(getattr(self, name) > 0 for name in COLOR):
      x = _color(x, self.color_matrix(params, p, x.shape[-1]))
    if self.imgfilter > 0:
      x = _filter(x, self.filter_taps(params, p))
    if self.noise > 0:
      gate, n = params['noise'][:, 0], params['noise'][:, 1]
      sigma = jnp.where(gate < self.noise * p, jnp.abs(n) * self.noise_std, 0.0)
      x = x + params['noise_field'].astype(x.dtype) * sigma[:, None, None, None].astype(x.dtype)
    if self.cutout > 0:
      x = _cutout(x, params['cutout'], self.cutout * p, self.cutout_size)
    return x

  def __call__(self, images: Array, keys: Array, *, probability) -> Array:
    """`apply(images, draw(keys, images.shape), probability=probability)`."""
    if keys.shape[0] != images.shape[0]:
      raise ValueError(f'{keys.shape[0]} keys for {images.shape[0]} images; pass one per image.')
    return self.apply(images, self.draw(keys, images.shape), probability=probability)

  def geometric_matrix(self, params, p, size) -> Array:
    """G_inv (B, 3, 3): output pixel -> input pixel, centred coordinates (x, y, 1), composed in
    the official order (each factor right-multiplied)."""
    h, w = size
    b = params['xflip'].shape[0]
    g = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (b, 3, 3))

    def gated(name, mult, value, identity, prob=None):
      prob = mult * p if prob is None else prob
      return jnp.where(params[name][:, 0] < prob, value, identity)

    if self.xflip > 0:
      i = gated('xflip', self.xflip, jnp.floor(params['xflip'][:, 1] * 2), 0.0)
      g = g @ _scale2d(1 / (1 - 2 * i), jnp.ones_like(i))
    if self.rotate90 > 0:
      i = gated('rotate90', self.rotate90, jnp.floor(params['rotate90'][:, 1] * 4), 0.0)
      g = g @ _rotate2d(np.pi / 2 * i)          # rotate2d_inv(-pi/2 i)
    if self.xint > 0:
      t = (params['xint'][:, 1:3] * 2 - 1) * self.xint_max
      t = jnp.where((params['xint'][:, 0] < self.xint * p)[:, None], t, 0.0)
      g = g @ _translate2d(-jnp.round(t[:, 0] * w), -jnp.round(t[:, 1] * h))
    if self.scale > 0:
      s = gated('scale', self.scale, jnp.exp2(params['scale'][:, 1] * self.scale_std), 1.0)
      g = g @ _scale2d(1 / s, 1 / s)
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - self.rotate * p, 0, 1))   # P(pre or post) = rotate p
    if self.rotate > 0:
      theta = (params['rotate_pre'][:, 1] * 2 - 1) * np.pi * self.rotate_max
      g = g @ _rotate2d(gated('rotate_pre', 0, theta, 0.0, p_rot))   # rotate2d_inv(-theta)
    if self.aniso > 0:
      s = gated('aniso', self.aniso, jnp.exp2(params['aniso'][:, 1] * self.aniso_std), 1.0)
      g = g @ _scale2d(1 / s, 1 / (1 / s))      # scale2d_inv(s, 1 / s), as written officially
    if self.rotate > 0:
      theta = (params['rotate_post'][:, 1] * 2 - 1) * np.pi * self.rotate_max
      g = g @ _rotate2d(gated('rotate_post', 0, theta, 0.0, p_rot))
    if self.xfrac > 0:
      t = params['xfrac'][:, 1:3] * self.xfrac_std
      t = jnp.where((params['xfrac'][:, 0] < self.xfrac * p)[:, None], t, 0.0)
      g = g @ _translate2d(-t[:, 0] * w, -t[:, 1] * h)
    return g

  def filter_taps(self, params, p) -> Array:
    """Each image's separable filter (B, 43): the bands' gains g (the official loop's
    power-normalised products) times the filter bank."""
    draws = params['imgfilter']
    b = draws.shape[0]
    power = jnp.asarray(EXPECTED_POWER, jnp.float32)
    g = jnp.ones((b, 4), jnp.float32)
    for i in range(4):
      t_i = jnp.where(draws[:, i] < self.imgfilter * p,
                      jnp.exp2(draws[:, 4 + i] * self.imgfilter_std), 1.0)
      t = jnp.ones((b, 4), jnp.float32).at[:, i].set(t_i)
      t = t / jnp.sqrt(jnp.sum(power * t ** 2, axis=-1, keepdims=True))
      g = g * t
    return g @ jnp.asarray(filter_bank(), jnp.float32)

  def color_matrix(self, params, p, channels: int) -> Array:
    """C (B, 4, 4): colour_out = C colour_in in homogeneous RGB, composed in the official order
    (each factor left-multiplied)."""
    b = params['brightness'].shape[0]
    eye = jnp.eye(4, dtype=jnp.float32)
    c = jnp.broadcast_to(eye, (b, 4, 4))
    v = jnp.array([1, 1, 1, 0], jnp.float32) / np.sqrt(3)   # the luma axis
    vv = jnp.outer(v, v)

    def gated(name, mult, value, identity):
      return jnp.where(params[name][:, 0] < mult * p, value, identity)

    if self.brightness > 0:
      bright = gated('brightness', self.brightness,
                     params['brightness'][:, 1] * self.brightness_std, 0.0)
      c = _translate3d(bright) @ c
    if self.contrast > 0:
      k = gated('contrast', self.contrast,
                jnp.exp2(params['contrast'][:, 1] * self.contrast_std), 1.0)
      c = _scale3d(k) @ c
    if self.lumaflip > 0:
      i = gated('lumaflip', self.lumaflip, jnp.floor(params['lumaflip'][:, 1] * 2), 0.0)
      c = (eye - 2 * vv * i[:, None, None]) @ c   # Householder reflection
    if self.hue > 0 and channels > 1:
      theta = (params['hue'][:, 1] * 2 - 1) * np.pi * self.hue_max
      c = _rotate3d(v, gated('hue', self.hue, theta, 0.0)) @ c
    if self.saturation > 0 and channels > 1:
      s = gated('saturation', self.saturation,
                jnp.exp2(params['saturation'][:, 1] * self.saturation_std), 1.0)
      c = (vv + (eye - vv) * s[:, None, None]) @ c
    return c


# ---------------------------------------------------------------------------------------------
# Homogeneous matrices (the official translate2d, scale2d, rotate2d, ...), batched over (B,).
# ---------------------------------------------------------------------------------------------

def _matrix(rows) -> Array:
  b = next(jnp.shape(x)[0] for row in rows for x in row if jnp.ndim(x) > 0)
  return jnp.stack([jnp.stack([jnp.broadcast_to(jnp.asarray(x, jnp.float32), (b,)) for x in row],
                              -1) for row in rows], -2)


def _translate2d(tx, ty):
  return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale2d(sx, sy):
  return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate2d(theta):
  return _matrix([[jnp.cos(theta), jnp.sin(-theta), 0], [jnp.sin(theta), jnp.cos(theta), 0],
                  [0, 0, 1]])


def _translate3d(t):
  return _matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]])


def _scale3d(s):
  return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]])


def _rotate3d(v, theta):
  vx, vy, vz = v[0], v[1], v[2]
  s, c = jnp.sin(theta), jnp.cos(theta)
  cc = 1 - c
  return _matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                  [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                  [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                  [0, 0, 0, 1]])


# ---------------------------------------------------------------------------------------------
# Executing the transformations.
# ---------------------------------------------------------------------------------------------

def _fir(x: Array, taps: np.ndarray, axis: int) -> Array:
  """Valid correlation of x with the 1-D `taps` along `axis`: out[k] = sum_t taps[t] x[k + t]
  (a sum of shifted slices: 12 taps, so cheaper to trace than a depthwise convolution)."""
  n = x.shape[axis] - len(taps) + 1
  out = 0.0
  for t, tap in enumerate(taps):
    out = out + jax.lax.slice_in_dim(x, t, t + n, axis=axis) * jnp.asarray(tap, x.dtype)
  return out


def _upsample2x(x: Array, f: np.ndarray) -> Array:
  """upfirdn2d.upsample2d(x, f, up=2) on NHWC x: zero-insertion, padding (6, 5) for 12 taps,
  convolution with 2f per axis (gain 4); output 2H x 2W."""
  taps = 2 * f[::-1]
  for axis in (1, 2):
    n = x.shape[axis]
    up = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
    up = up.reshape(x.shape[:axis] + (2 * n,) + x.shape[axis + 1:])
    pad = [(0, 0)] * x.ndim
    pad[axis] = ((len(f) + 1) // 2, (len(f) - 2) // 2)
    x = _fir(jnp.pad(up, pad), taps, axis)
  return x


def _downsample2x(x: Array, f: np.ndarray, crop: int) -> Array:
  """upfirdn2d.downsample2d(x, f, down=2, padding=-crop, flip_filter=True) on NHWC x."""
  for axis in (1, 2):
    lo = crop - (len(f) - 1) // 2      # the padding (fw - 1) // 2 less the crop
    hi = crop - (len(f) - 2) // 2
    x = jax.lax.slice_in_dim(x, lo, x.shape[axis] - hi, axis=axis)
    x = _fir(x, f, axis)
    x = jax.lax.slice_in_dim(x, 0, None, stride=2, axis=axis)
  return x


def _geometric(images: Array, g_inv: Array) -> Array:
  """The official execution of G_inv: reflect padding, 2x upsampling, bilinear sampling (zero
  outside), 2x downsampling; the margin is the official clamp, size - 1 on every side."""
  _, h, w, _ = images.shape
  f = np.asarray(SYM6, np.float64)
  f = (f / f.sum()).astype(np.float32)
  hz_pad = len(SYM6) // 4
  my, mx = h - 1, w - 1
  x = jnp.pad(images, ((0, 0), (my, my), (mx, mx), (0, 0)), mode='reflect')
  x = _upsample2x(x, f)
  up_h, up_w = x.shape[1], x.shape[2]
  # To the upsampled image's centred coordinates (the official G_inv updates), symmetric
  # padding moving no origin.
  g = (_const2d([[1, 0, -0.5], [0, 1, -0.5]]) @ _const2d([[2, 0, 0], [0, 2, 0]]) @ g_inv
       @ _const2d([[0.5, 0, 0], [0, 0.5, 0]]) @ _const2d([[1, 0, 0.5], [0, 1, 0.5]]))
  out_h, out_w = (h + hz_pad * 2) * 2, (w + hz_pad * 2) * 2
  # Output pixel centres in centred coordinates, as affine_grid(align_corners=False) has them,
  # and their input pixel indices as grid_sample(align_corners=False) reads them.
  xo = jnp.arange(out_w, dtype=jnp.float32) + 0.5 - out_w / 2
  yo = jnp.arange(out_h, dtype=jnp.float32) + 0.5 - out_h / 2
  xi = (g[:, 0, 0, None, None] * xo[None, None, :] + g[:, 0, 1, None, None] * yo[None, :, None]
        + g[:, 0, 2, None, None]) + up_w / 2 - 0.5
  yi = (g[:, 1, 0, None, None] * xo[None, None, :] + g[:, 1, 1, None, None] * yo[None, :, None]
        + g[:, 1, 2, None, None]) + up_h / 2 - 0.5
  # jax.scipy's map_coordinates, order 1, mode 'constant': grid_sample's bilinear weights with
  # zeros outside, one channel at a time.
  sample = jax.vmap(  # over images
      jax.vmap(lambda img, yy, xx: jax.scipy.ndimage.map_coordinates(
          img, [yy, xx], order=1, mode='constant', cval=0.0),
               in_axes=(2, None, None), out_axes=2))
  x = sample(x, yi, xi)
  return _downsample2x(x, f, crop=hz_pad * 2)


def filter_bank() -> np.ndarray:
  """The official 4-band filter bank (4, 43) from sym2: band 0 the low-pass H(z) H(z^-1) / 2
  iterated, bands 1-3 the high-pass H(-z) H(-z^-1) / 2 at successive octaves."""
  lo = np.asarray(SYM2)
  hi = lo * (-1.0) ** np.arange(lo.size)
  lo2 = np.convolve(lo, lo[::-1]) / 2
  hi2 = np.convolve(hi, hi[::-1]) / 2
  bank = np.eye(4, 1)
  for i in range(1, 4):
    up = np.zeros((4, 2 * bank.shape[1] - 1))
    up[:, ::2] = bank                                   # insert zeros between the taps
    bank = np.stack([np.convolve(row, lo2) for row in up])
    lo_end = (bank.shape[1] - hi2.size) // 2
    bank[i, lo_end:lo_end + hi2.size] += hi2
  return bank


# The reflect padding of image-space filtering (21: the bank has 43 taps); images need more
# pixels a side than this.
FILTER_PAD = filter_bank().shape[1] // 2


def _filter(images: Array, taps: Array) -> Array:
  """Each image's separable filter `taps` (B, T): reflect padding of T // 2, correlation along
  the width, then along the height (the official grouped conv2d pair)."""
  _, h, w, _ = images.shape
  pad = taps.shape[1] // 2
  if min(h, w) <= pad:
    raise ValueError(f'image-space filtering pads by {pad} pixels, reflecting; images of '
                     f'{h}x{w} are too small (at least {pad + 1} pixels a side, as officially).')
  x = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')
  taps = taps.astype(x.dtype)
  for axis in (2, 1):
    n = x.shape[axis] - taps.shape[1] + 1
    out = 0.0
    for t in range(taps.shape[1]):
      out = out + jax.lax.slice_in_dim(x, t, t + n, axis=axis) * taps[:, t, None, None, None]
    x = out
  return x


def _const2d(rows) -> Array:
  return jnp.asarray(list(rows) + [[0, 0, 1]], jnp.float32)


def _color(images: Array, c: Array) -> Array:
  """colour_out = C colour_in (RGB), or for one channel x * sum(mean row) + mean offset."""
  c = c.astype(images.dtype)
  if images.shape[-1] == 3:
    return (jnp.einsum('bij,bhwj->bhwi', c[:, :3, :3], images)
            + c[:, None, None, :3, 3])
  row = jnp.mean(c[:, :3, :], axis=1)                     # (B, 4)
  return (images * jnp.sum(row[:, :3], axis=1)[:, None, None, None]
          + row[:, 3][:, None, None, None])


def _cutout(images: Array, draws: Array, prob, size: float) -> Array:
  """Zero the pixels with |(x + 0.5) / W - cx| < size / 2 and |(y + 0.5) / H - cy| < size / 2
  (size 0 when the gate is closed: nothing zeroed)."""
  _, h, w, _ = images.shape
  size = jnp.where(draws[:, 0] < prob, size, 0.0)[:, None]        # (B, 1)
  cx, cy = draws[:, 1:2], draws[:, 2:3]
  keep_x = jnp.abs((jnp.arange(w) + 0.5) / w - cx) >= size / 2    # (B, W)
  keep_y = jnp.abs((jnp.arange(h) + 0.5) / h - cy) >= size / 2    # (B, H)
  keep = keep_x[:, None, :] | keep_y[:, :, None]
  return images * keep[..., None].astype(images.dtype)


def presets() -> tuple[str, ...]:
  """The names of `PRESETS`."""
  return tuple(PRESETS)

