"""An independent PyTorch replica of the official ADA AugmentPipe's forward pass
(NVlabs/stylegan2-ada-pytorch, training/augment.py), for tests/test_augment_pipe.py.

Written from the official algorithm, with the official data-dependent padding margin (over
the batch), torch.nn.functional.pad / conv2d / affine_grid / grid_sample as the official code
and its upfirdn2d reference implementation use them. Instead of drawing with torch.rand /
torch.randn it reads the same per-image numbers jaxgan.augment_pipe.AugmentPipe.draw makes
(column 0 of each entry the gate's uniform, then the values), so both compute the same
augmentation. NCHW float64 or float32 tensors.
"""

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F

SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036,
        -0.007800708325034148]


def _mat(rows, b, dtype):
  out = torch.zeros([b, len(rows), len(rows[0])], dtype=dtype)
  for i, row in enumerate(rows):
    for j, x in enumerate(row):
      out[:, i, j] = x if isinstance(x, torch.Tensor) else float(x)
  return out


def translate2d(tx, ty, b, dt):
  return _mat([[1, 0, tx], [0, 1, ty], [0, 0, 1]], b, dt)


def scale2d(sx, sy, b, dt):
  return _mat([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], b, dt)


def rotate2d(t, b, dt):
  return _mat([[torch.cos(t), torch.sin(-t), 0], [torch.sin(t), torch.cos(t), 0], [0, 0, 1]],
              b, dt)


def _upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1):
  """The official _upfirdn2d_ref with a separable 1-D filter."""
  b, c, h, w = x.shape
  px0, px1, py0, py1 = padding
  x = x.reshape([b, c, h, 1, w, 1])
  x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
  x = x.reshape([b, c, h * up, w * up])
  x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
  x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
  f = f * (gain ** 0.5)
  if not flip_filter:
    f = f.flip([0])
  f = f[None, None].repeat([c, 1, 1])
  x = F.conv2d(x, f.unsqueeze(2), groups=c)
  x = F.conv2d(x, f.unsqueeze(3), groups=c)
  return x[:, :, ::down, ::down]


def augment(images, params, p, mult, std=None):
  """The official forward on NCHW `images` with the draws `params` (numpy arrays from
  AugmentPipe.draw; 'noise_field' NHWC) at probability p; `mult` the nonzero multipliers."""
  s = dict(xint_max=0.125, scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125,
           brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1, noise_std=0.1,
           cutout_size=0.5, imgfilter_std=1)
  s.update(std or {})
  dt = images.dtype
  P = {k: torch.as_tensor(np.asarray(v), dtype=dt) for k, v in params.items()}
  m = lambda name: float(mult.get(name, 0))
  b, nc, height, width = images.shape
  i3 = torch.eye(3, dtype=dt)
  g = i3

  if m('xflip') > 0:
    i = torch.floor(P['xflip'][:, 1] * 2)
    i = torch.where(P['xflip'][:, 0] < m('xflip') * p, i, torch.zeros_like(i))
    g = g @ scale2d(1 / (1 - 2 * i), 1, b, dt)
  if m('rotate90') > 0:
    i = torch.floor(P['rotate90'][:, 1] * 4)
    i = torch.where(P['rotate90'][:, 0] < m('rotate90') * p, i, torch.zeros_like(i))
    g = g @ rotate2d(np.pi / 2 * i, b, dt)
  if m('xint') > 0:
    t = (P['xint'][:, 1:3] * 2 - 1) * s['xint_max']
    t = torch.where(P['xint'][:, :1] < m('xint') * p, t, torch.zeros_like(t))
    g = g @ translate2d(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height), b, dt)
  if m('scale') > 0:
    sc = torch.exp2(P['scale'][:, 1] * s['scale_std'])
    sc = torch.where(P['scale'][:, 0] < m('scale') * p, sc, torch.ones_like(sc))
    g = g @ scale2d(1 / sc, 1 / sc, b, dt)
  p_rot = 1 - np.sqrt(np.clip(1 - m('rotate') * p, 0, 1))
  if m('rotate') > 0:
    th = (P['rotate_pre'][:, 1] * 2 - 1) * np.pi * s['rotate_max']
    th = torch.where(P['rotate_pre'][:, 0] < p_rot, th, torch.zeros_like(th))
    g = g @ rotate2d(th, b, dt)
  if m('aniso') > 0:
    sc = torch.exp2(P['aniso'][:, 1] * s['aniso_std'])
    sc = torch.where(P['aniso'][:, 0] < m('aniso') * p, sc, torch.ones_like(sc))
    g = g @ scale2d(1 / sc, 1 / (1 / sc), b, dt)
  if m('rotate') > 0:
    th = (P['rotate_post'][:, 1] * 2 - 1) * np.pi * s['rotate_max']
    th = torch.where(P['rotate_post'][:, 0] < p_rot, th, torch.zeros_like(th))
    g = g @ rotate2d(th, b, dt)
  if m('xfrac') > 0:
    t = P['xfrac'][:, 1:3] * s['xfrac_std']
    t = torch.where(P['xfrac'][:, :1] < m('xfrac') * p, t, torch.zeros_like(t))
    g = g @ translate2d(-t[:, 0] * width, -t[:, 1] * height, b, dt)

  if g is not i3:
    f = torch.as_tensor(SYM6, dtype=torch.float64)
    f = (f / f.sum()).to(dt)
    hz_pad = len(SYM6) // 4
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cp = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dtype=dt)
    cp = g @ cp.t()
    margin = cp[:, :2, :].permute(1, 0, 2).flatten(1)
    margin = torch.cat([-margin, margin]).max(dim=1).values
    margin = margin + torch.tensor([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2, dtype=dt)
    margin = margin.max(torch.zeros(4, dtype=dt))
    margin = margin.min(torch.tensor([width - 1, height - 1] * 2, dtype=dt))
    mx0, my0, mx1, my1 = [int(v) for v in margin.ceil()]
    images = F.pad(images, [mx0, mx1, my0, my1], mode='reflect')
    g = translate2d((mx0 - mx1) / 2, (my0 - my1) / 2, b, dt) @ g
    fw = len(SYM6)
    images = _upfirdn2d(images, f, up=2, padding=[(fw + 1) // 2, (fw - 2) // 2] * 2, gain=4)
    g = scale2d(2, 2, b, dt) @ g @ scale2d(0.5, 0.5, b, dt)
    g = translate2d(-0.5, -0.5, b, dt) @ g @ translate2d(0.5, 0.5, b, dt)
    shape = [b, nc, (height + hz_pad * 2) * 2, (width + hz_pad * 2) * 2]
    g = (scale2d(2 / images.shape[3], 2 / images.shape[2], b, dt) @ g
         @ scale2d(shape[3] / 2, shape[2] / 2, b, dt))
    grid = F.affine_grid(g[:, :2, :], shape, align_corners=False)
    images = F.grid_sample(images, grid, mode='bilinear', padding_mode='zeros',
                           align_corners=False)
    pad = -hz_pad * 2
    images = _upfirdn2d(images, f, down=2,
                        padding=[pad + (fw - 1) // 2, pad + (fw - 2) // 2] * 2, flip_filter=True)

  i4 = torch.eye(4, dtype=dt)
  c = i4
  if m('brightness') > 0:
    br = P['brightness'][:, 1] * s['brightness_std']
    br = torch.where(P['brightness'][:, 0] < m('brightness') * p, br, torch.zeros_like(br))
    c = _mat([[1, 0, 0, br], [0, 1, 0, br], [0, 0, 1, br], [0, 0, 0, 1]], b, dt) @ c
  if m('contrast') > 0:
    k = torch.exp2(P['contrast'][:, 1] * s['contrast_std'])
    k = torch.where(P['contrast'][:, 0] < m('contrast') * p, k, torch.ones_like(k))
    c = _mat([[k, 0, 0, 0], [0, k, 0, 0], [0, 0, k, 0], [0, 0, 0, 1]], b, dt) @ c
  v = torch.as_tensor(np.asarray([1, 1, 1, 0]) / np.sqrt(3), dtype=dt)
  if m('lumaflip') > 0:
    i = torch.floor(P['lumaflip'][:, 1] * 2)[:, None, None]
    i = torch.where(P['lumaflip'][:, 0, None, None] < m('lumaflip') * p, i, torch.zeros_like(i))
    c = (i4 - 2 * v.ger(v) * i) @ c
  if m('hue') > 0 and nc > 1:
    th = (P['hue'][:, 1] * 2 - 1) * np.pi * s['hue_max']
    th = torch.where(P['hue'][:, 0] < m('hue') * p, th, torch.zeros_like(th))
    vx, vy, vz = v[0], v[1], v[2]
    sn, cs = torch.sin(th), torch.cos(th)
    cc = 1 - cs
    c = _mat([[vx * vx * cc + cs, vx * vy * cc - vz * sn, vx * vz * cc + vy * sn, 0],
              [vy * vx * cc + vz * sn, vy * vy * cc + cs, vy * vz * cc - vx * sn, 0],
              [vz * vx * cc - vy * sn, vz * vy * cc + vx * sn, vz * vz * cc + cs, 0],
              [0, 0, 0, 1]], b, dt) @ c
  if m('saturation') > 0 and nc > 1:
    sa = torch.exp2(P['saturation'][:, 1] * s['saturation_std'])[:, None, None]
    sa = torch.where(P['saturation'][:, 0, None, None] < m('saturation') * p, sa,
                     torch.ones_like(sa))
    c = (v.ger(v) + (i4 - v.ger(v)) * sa) @ c
  if c is not i4:
    images = images.reshape([b, nc, height * width])
    if nc == 3:
      images = c[:, :3, :3] @ images + c[:, :3, 3:]
    else:
      c = c[:, :3, :].mean(dim=1, keepdims=True)
      images = images * c[:, :, :3].sum(dim=2, keepdims=True) + c[:, :, 3:]
    images = images.reshape([b, nc, height, width])

  if m('imgfilter') > 0:
    hz_lo = np.asarray(SYM2)
    hz_hi = hz_lo * ((-1) ** np.arange(hz_lo.size))
    hz_lo2 = np.convolve(hz_lo, hz_lo[::-1]) / 2
    hz_hi2 = np.convolve(hz_hi, hz_hi[::-1]) / 2
    fbank = np.eye(4, 1)
    for i in range(1, fbank.shape[0]):
      fbank = np.dstack([fbank, np.zeros_like(fbank)]).reshape(fbank.shape[0], -1)[:, :-1]
      fbank = scipy.signal.convolve(fbank, [hz_lo2])
      fbank[i, (fbank.shape[1] - hz_hi2.size) // 2:(fbank.shape[1] + hz_hi2.size) // 2] += hz_hi2
    fbank = torch.as_tensor(fbank, dtype=dt)
    expected_power = torch.as_tensor(np.array([10, 1, 1, 1]) / 13, dtype=dt)
    gain = torch.ones([b, 4], dtype=dt)
    for i in range(4):
      t_i = torch.exp2(P['imgfilter'][:, 4 + i] * s['imgfilter_std'])
      t_i = torch.where(P['imgfilter'][:, i] < m('imgfilter') * p, t_i, torch.ones_like(t_i))
      t = torch.ones([b, 4], dtype=dt)
      t[:, i] = t_i
      t = t / (expected_power * t.square()).sum(dim=-1, keepdims=True).sqrt()
      gain = gain * t
    hz = (gain @ fbank).unsqueeze(1).repeat([1, nc, 1]).reshape([b * nc, 1, -1])
    pad = fbank.shape[1] // 2
    images = images.reshape([1, b * nc, height, width])
    images = F.pad(images, [pad, pad, pad, pad], mode='reflect')
    images = F.conv2d(images, hz.unsqueeze(2), groups=b * nc)
    images = F.conv2d(images, hz.unsqueeze(3), groups=b * nc)
    images = images.reshape([b, nc, height, width])
  if m('noise') > 0:
    sigma = P['noise'][:, 1].abs()[:, None, None, None] * s['noise_std']
    sigma = torch.where(P['noise'][:, 0, None, None, None] < m('noise') * p, sigma,
                        torch.zeros_like(sigma))
    images = images + P['noise_field'].permute(0, 3, 1, 2) * sigma
  if m('cutout') > 0:
    size = torch.full([b, 2, 1, 1, 1], s['cutout_size'], dtype=dt)
    size = torch.where(P['cutout'][:, 0, None, None, None, None] < m('cutout') * p, size,
                       torch.zeros_like(size))
    center = P['cutout'][:, 1:3, None, None, None]
    coord_x = torch.arange(width, dtype=dt).reshape([1, 1, 1, -1])
    coord_y = torch.arange(height, dtype=dt).reshape([1, 1, -1, 1])
    mask_x = (((coord_x + 0.5) / width - center[:, 0]).abs() >= size[:, 0] / 2)
    mask_y = (((coord_y + 0.5) / height - center[:, 1]).abs() >= size[:, 1] / 2)
    images = images * torch.logical_or(mask_x, mask_y).to(dt)
  return images
