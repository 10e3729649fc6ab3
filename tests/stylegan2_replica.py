"""A PyTorch replica of StyleGAN2-ADA's networks, for tests of jaxgan.models.stylegan2.

Written for the tests from the paper (Karras et al. 2020a) and the official modules' layout
(their module and parameter names, so official state dicts load into it), but computed
another way than both the official code and the JAX port: every FIR resampling is folded
into the convolution kernel (the 4x4 filter convolved with the 3x3 or 1x1 weight, one strided
or transposed convolution instead of a convolution and a separate filter pass), and the
modulated convolutions are the per-sample ("fused") grouped form.

Float32 throughout; `noise_mode` 'const' or 'none' (the tests compare deterministic outputs).
"""

import math

import numpy as np
import torch
from torch.nn import functional as F

_FIR = torch.tensor([1., 3., 3., 1.])
_FIR = torch.outer(_FIR, _FIR) / torch.outer(_FIR, _FIR).sum()   # symmetric, sums to 1


def _lrelu(x, gain):
  return F.leaky_relu(x, 0.2) * gain


def _with_fir(weight):
  """(O, I, k, k) -> (O, I, k+3, k+3): the full 2-D convolution of each tap map with the
  filter (the filter is symmetric, so correlation with it is the same)."""
  o, i, k, _ = weight.shape
  full = F.conv2d(weight.reshape(o * i, 1, k, k), _FIR[None, None].to(weight), padding=3)
  return full.reshape(o, i, k + 3, k + 3)


def conv_down(x, weight, groups=1):
  """Filter then keep every other pixel, then a 'same' conv: one stride-2 conv with the
  folded kernel over the input padded by k//2 + 1."""
  k = weight.shape[-1]
  return F.conv2d(F.pad(x, [k // 2 + 1] * 4), _with_fir(weight), stride=2, groups=groups)


def conv_up(x, weight, groups=1):
  """Zero-insert, a true convolution with the weight, the filter with gain 4: one transposed
  convolution with 4 x the folded kernel (weight given as (O, I/groups, k, k))."""
  k = weight.shape[-1]
  kernel = 4 * _with_fir(weight)                          # (O, I/g, k+3, k+3)
  o, i_g = kernel.shape[:2]
  kernel = kernel.reshape(groups, o // groups, i_g, k + 3, k + 3).transpose(1, 2)
  kernel = kernel.reshape(groups * i_g, o // groups, k + 3, k + 3)
  return F.conv_transpose2d(x, kernel, stride=2, padding=k // 2 + 1,
                            groups=groups)


def image_up(img):
  c = img.shape[1]
  return F.conv_transpose2d(img, (4 * _FIR).expand(c, 1, 4, 4), stride=2, padding=1, groups=c)


def image_down(img):
  c = img.shape[1]
  return F.conv2d(F.pad(img, [1] * 4), _FIR.expand(c, 1, 4, 4), stride=2, groups=c)


class Linear(torch.nn.Module):
  def __init__(self, n_in, n_out, act=False, lr=1.0, bias_init=0.0, bias=True):
    super().__init__()
    self.weight = torch.nn.Parameter(torch.zeros(n_out, n_in))
    self.bias = torch.nn.Parameter(torch.full([n_out], float(bias_init))) if bias else None
    self.scale, self.lr, self.act = lr / math.sqrt(n_in), lr, act

  def forward(self, x):
    x = x @ (self.weight * self.scale).t()
    if self.bias is not None:
      x = x + self.bias * self.lr
    return _lrelu(x, math.sqrt(2)) if self.act else x


class Conv(torch.nn.Module):
  def __init__(self, n_in, n_out, k, act=True, down=False, up=False, bias=True, clamp=None):
    super().__init__()
    self.weight = torch.nn.Parameter(torch.zeros(n_out, n_in, k, k))
    self.bias = torch.nn.Parameter(torch.zeros(n_out)) if bias else None
    self.scale = 1 / math.sqrt(n_in * k * k)
    self.act, self.down, self.up, self.clamp = act, down, up, clamp

  def forward(self, x, gain=1.0):
    w = self.weight * self.scale
    if self.down:
      x = conv_down(x, w)
    elif self.up:
      x = conv_up(x, w)
    else:
      x = F.conv2d(x, w, padding=w.shape[-1] // 2)
    if self.bias is not None:
      x = x + self.bias[None, :, None, None]
    x = _lrelu(x, math.sqrt(2) * gain) if self.act else x * gain
    if self.clamp is not None:
      x = x.clamp(-self.clamp * gain, self.clamp * gain)
    return x


def _normalize(x):
  return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class Mapping(torch.nn.Module):
  def __init__(self, z_dim, c_dim, w_dim, layers, num_ws=None, track=True):
    super().__init__()
    self.z_dim, self.c_dim, self.num_ws, self.layers = z_dim, c_dim, num_ws, layers
    if c_dim:
      self.embed = Linear(c_dim, w_dim)
    width = z_dim + (w_dim if c_dim else 0)
    for i in range(layers):
      setattr(self, f'fc{i}', Linear(width, w_dim, act=True, lr=0.01))
      width = w_dim
    self.track = track and num_ws is not None
    if self.track:
      self.register_buffer('w_avg', torch.zeros(w_dim))

  def forward(self, z, c, psi=1.0, cutoff=None, update=False):
    parts = []
    if self.z_dim:
      parts.append(_normalize(z))
    if self.c_dim:
      parts.append(_normalize(self.embed(c)))
    x = torch.cat(parts, dim=1)
    for i in range(self.layers):
      x = getattr(self, f'fc{i}')(x)
    if update:
      self.w_avg.copy_(self.w_avg * 0.995 + x.detach().mean(0) * 0.005)
    if self.num_ws is None:
      return x
    ws = x[:, None].repeat(1, self.num_ws, 1)
    if psi != 1:
      cut = self.num_ws if cutoff is None else cutoff
      ws = torch.cat([self.w_avg + psi * (ws[:, :cut] - self.w_avg), ws[:, cut:]], dim=1)
    return ws


def modulated(x, weight, styles, demodulate, up=False):
  """Per-sample weights w'_bo = s_b * w (* demodulation), as B groups of one convolution."""
  b, c_in, h, w_ = x.shape
  wt = weight[None] * styles[:, None, :, None, None]                # (B, O, I, k, k)
  if demodulate:
    wt = wt / torch.sqrt(wt.pow(2).sum(dim=[2, 3, 4], keepdim=True) + 1e-8)
  o, k = wt.shape[1], wt.shape[-1]
  x = x.reshape(1, b * c_in, h, w_)
  wt = wt.reshape(b * o, c_in, k, k)
  x = conv_up(x, wt, groups=b) if up else F.conv2d(x, wt, padding=k // 2, groups=b)
  return x.reshape(b, o, *x.shape[2:])


class SynthLayer(torch.nn.Module):
  def __init__(self, n_in, n_out, w_dim, res, up=False, clamp=None):
    super().__init__()
    self.affine = Linear(w_dim, n_in, bias_init=1.0)
    self.weight = torch.nn.Parameter(torch.zeros(n_out, n_in, 3, 3))
    self.register_buffer('noise_const', torch.zeros(res, res))
    self.noise_strength = torch.nn.Parameter(torch.zeros([]))
    self.bias = torch.nn.Parameter(torch.zeros(n_out))
    self.up, self.clamp = up, clamp

  def forward(self, x, w, noise_mode, gain=1.0):
    x = modulated(x, self.weight, self.affine(w), True, self.up)
    if noise_mode == 'const':
      x = x + self.noise_const * self.noise_strength
    x = _lrelu(x + self.bias[None, :, None, None], math.sqrt(2) * gain)
    return x if self.clamp is None else x.clamp(-self.clamp * gain, self.clamp * gain)


class ToRGB(torch.nn.Module):
  def __init__(self, n_in, n_out, w_dim, clamp=None):
    super().__init__()
    self.affine = Linear(w_dim, n_in, bias_init=1.0)
    self.weight = torch.nn.Parameter(torch.zeros(n_out, n_in, 1, 1))
    self.bias = torch.nn.Parameter(torch.zeros(n_out))
    self.clamp, self.gain = clamp, 1 / math.sqrt(n_in)

  def forward(self, x, w):
    x = modulated(x, self.weight, self.affine(w) * self.gain, False)
    x = x + self.bias[None, :, None, None]
    return x if self.clamp is None else x.clamp(-self.clamp, self.clamp)


def _channels(res, base, cmax=512):
  return min(base // res, cmax)


class Generator(torch.nn.Module):
  """Official names: mapping.*, synthesis.b{res}.{const,conv0,conv1,torgb,skip}.*"""

  def __init__(self, z_dim, c_dim, w_dim, res, img_channels=3, map_layers=2, base=32768,
               arch='skip', clamp=256.0):
    super().__init__()
    self.arch, self.resolutions = arch, [2 ** i for i in range(2, int(np.log2(res)) + 1)]
    self.synthesis = torch.nn.Module()
    num_ws = 0
    for r in self.resolutions:
      blk = torch.nn.Module()
      c_out = _channels(r, base)
      if r == 4:
        blk.const = torch.nn.Parameter(torch.zeros(c_out, 4, 4))
      else:
        c_in = _channels(r // 2, base)
        blk.conv0 = SynthLayer(c_in, c_out, w_dim, r, up=True, clamp=clamp)
        if arch == 'resnet':
          blk.skip = Conv(c_in, c_out, 1, act=False, up=True, bias=False)
      blk.conv1 = SynthLayer(c_out, c_out, w_dim, r, clamp=clamp)
      if arch == 'skip' or r == res:
        blk.torgb = ToRGB(c_out, img_channels, w_dim, clamp=clamp)
      setattr(self.synthesis, f'b{r}', blk)
      num_ws += 1 if r == 4 else 2
    self.num_ws = num_ws + 1
    self.mapping = Mapping(z_dim, c_dim, w_dim, map_layers, num_ws=self.num_ws)

  def forward(self, z, c, psi=1.0, cutoff=None, noise_mode='const', update_w_avg=False):
    ws = self.mapping(z, c, psi, cutoff, update=update_w_avg)
    x = img = None
    i = 0
    for r in self.resolutions:
      blk = getattr(self.synthesis, f'b{r}')
      if r == 4:
        x = blk.conv1(blk.const[None].repeat(z.shape[0], 1, 1, 1), ws[:, i], noise_mode)
        i += 1
      else:
        y = blk.skip(x, gain=math.sqrt(0.5)) if self.arch == 'resnet' else None
        x = blk.conv0(x, ws[:, i], noise_mode)
        gain = math.sqrt(0.5) if y is not None else 1.0
        x = blk.conv1(x, ws[:, i + 1], noise_mode, gain=gain)
        x = x if y is None else x + y
        i += 2
        img = None if img is None else image_up(img)
      if hasattr(blk, 'torgb'):
        rgb = blk.torgb(x, ws[:, i])
        img = rgb if img is None else img + rgb
    return img


class Discriminator(torch.nn.Module):
  """Official names: b{res}.{fromrgb,conv0,conv1,skip}.*, b4.{fromrgb,conv,fc,out}.*,
  mapping.*"""

  def __init__(self, c_dim, res, img_channels=3, base=32768, arch='resnet', mbstd=4,
               clamp=256.0, map_layers=8):
    super().__init__()
    self.arch, self.res, self.mbstd = arch, res, mbstd
    self.resolutions = [2 ** i for i in range(int(np.log2(res)), 2, -1)]
    for r in self.resolutions:
      blk = torch.nn.Module()
      tmp, out = _channels(r, base), _channels(r // 2, base)
      if r == res or arch == 'skip':
        blk.fromrgb = Conv(img_channels, tmp, 1, clamp=clamp)
      blk.conv0 = Conv(tmp, tmp, 3, clamp=clamp)
      blk.conv1 = Conv(tmp, out, 3, down=True, clamp=clamp)
      if arch == 'resnet':
        blk.skip = Conv(tmp, out, 1, act=False, down=True, bias=False)
      setattr(self, f'b{r}', blk)
    c4 = _channels(4, base)
    self.cmap_dim = c4 if c_dim else 0
    if c_dim:
      self.mapping = Mapping(0, c_dim, c4, map_layers, num_ws=None, track=False)
    self.b4 = torch.nn.Module()
    if arch == 'skip':
      self.b4.fromrgb = Conv(img_channels, c4, 1)
    self.b4.conv = Conv(c4 + 1, c4, 3, clamp=clamp)
    self.b4.fc = Linear(c4 * 16, c4, act=True)
    self.b4.out = Linear(c4, self.cmap_dim or 1)

  def forward(self, img, c):
    x = None
    for r in self.resolutions:
      blk = getattr(self, f'b{r}')
      if hasattr(blk, 'fromrgb'):
        y = blk.fromrgb(img)
        x = y if x is None else x + y
        if self.arch == 'skip':
          img = image_down(img)
      if self.arch == 'resnet':
        x = blk.skip(x, gain=math.sqrt(0.5)) + blk.conv1(blk.conv0(x), gain=math.sqrt(0.5))
      else:
        x = blk.conv1(blk.conv0(x))
    if self.arch == 'skip':
      x = x + self.b4.fromrgb(img)
    # Minibatch standard deviation: sample n is in group n mod (N / G).
    n, ch, h, w = x.shape
    g = min(self.mbstd, n)
    groups = torch.stack([x[j::n // g] for j in range(n // g)])      # (N/G, G, C, H, W)
    std = torch.sqrt(groups.var(dim=1, unbiased=False) + 1e-8).mean(dim=[1, 2, 3])
    x = torch.cat([x, std.repeat(g)[:, None, None, None].expand(n, 1, h, w)], dim=1)
    x = self.b4.out(self.b4.fc(self.b4.conv(x).flatten(1)))
    if self.cmap_dim:
      return (x * self.mapping(None, c)).sum(dim=1) / math.sqrt(self.cmap_dim)
    return x[:, 0]
