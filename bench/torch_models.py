"""PyTorch eager replicas of jaxgan's DCGAN and SAGAN train steps (benchmark references only).

jaxgan never imports this file (nor torch). Each `*_step(...)` returns a callable that runs one
train step as jaxgan's `steps.train_step` does with `d_steps=1`, plus the parameter counts:

  D update: fake = G(z) (training mode, no gradient), D(real), D(fake), the loss, backward,
            one optimiser step;
  G update: fake = G(z'), D(fake) with D's parameters frozen (so, as in XLA, no D weight
            gradient is computed), backward into G, one optimiser step.

Each builder takes `device` ('cuda' on a GPU: bench/gpu_bench.py), `autocast` (torch.bfloat16
runs the forward passes as jaxgan's model.dtype does, parameters and Adam in float32; losses in
float32 on both sides), the widths of jaxgan's config.model.g_width / d_width (the defaults are
the configs'; the GPU benchmark's dry run uses tiny ones) and `compile_models`
(torch.compile of both networks).

DCGAN (the seed's, jaxgan/models/dcgan.py): 5x5 stride-2 (transposed) convolutions, batch norm
(momentum 0.1 = flax's 0.9, eps 1e-5), ReLU / LeakyReLU 0.2, widths 512-256-128 at 32x32 or
1024-512-256-128 at 64x64; non-saturating loss; Adam 2e-4, betas (0.5, 0.999).

SAGAN 32x32 (jaxgan/models/sagan.py with width 64, as configs/sagan_hinge.py): the ResNet
layout of StudioGAN's CIFAR SAGAN with G 256 and D 128 channels, self-attention at 16x16 in
both networks (query/key C/8, value C/2, output 1x1 conv back to C, no biases, gamma from 0),
spectral norm on every weight with one power iteration per forward pass
(`torch.nn.utils.spectral_norm`, the same sigma as flax's, see jaxgan/models/layers_sn.py),
batch norm eps 1e-4 in G; hinge loss; TTUR Adam G 1e-4 / D 4e-4, betas (0, 0.9). Parameter
counts are asserted equal to jaxgan's (G 4,358,660 / D 1,074,306).
"""

import contextlib

import torch
from torch import nn
from torch.nn import functional as F

SAGAN32_PARAMS = (4_358_660, 1_074_306)


def param_count(module: nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# DCGAN
# ---------------------------------------------------------------------------------------------

class DCGANGenerator(nn.Module):

  def __init__(self, image_size: int, z_dim: int = 100, g_width: int = 1024):
    super().__init__()
    stages = {32: 3, 64: 4}[image_size]
    # jaxgan's models/dcgan.py g_widths: the 4x4 map has g_width * size / 64 channels.
    self.width = width = g_width * image_size // 64
    self.project = nn.Linear(z_dim, 4 * 4 * width)
    self.bn0 = nn.BatchNorm2d(width)
    layers, c = [], width
    for i in range(stages):
      last = i == stages - 1
      out = 3 if last else c // 2
      # k5 s2 'SAME': padding 2 + output_padding 1 doubles the size, as in jaxgan.
      layers.append(nn.ConvTranspose2d(c, out, 5, 2, padding=2, output_padding=1))
      layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
      c = out
    self.body = nn.Sequential(*layers)

  def forward(self, z):
    x = self.project(z).view(-1, self.width, 4, 4)
    return self.body(torch.relu(self.bn0(x)))


class DCGANDiscriminator(nn.Module):

  def __init__(self, image_size: int, d_width: int = 64):
    super().__init__()
    stages = {32: 3, 64: 4}[image_size]
    layers, c = [], 3
    for i in range(stages):
      out = d_width * 2 ** i
      layers.append(nn.Conv2d(c, out, 5, 2, padding=2))
      if i > 0:
        layers.append(nn.BatchNorm2d(out))
      layers.append(nn.LeakyReLU(0.2))
      c = out
    self.body = nn.Sequential(*layers)
    self.logit = nn.Linear(c * 4 * 4, 1)

  def forward(self, x):
    return self.logit(self.body(x).flatten(1))[:, 0]


# ---------------------------------------------------------------------------------------------
# SAGAN 32x32
# ---------------------------------------------------------------------------------------------

def _sn(module: nn.Module) -> nn.Module:
  return nn.utils.spectral_norm(module, n_power_iterations=1)


def _conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Module:
  return _sn(nn.Conv2d(cin, cout, k, 1, padding=k // 2, bias=bias))


class SelfAttention(nn.Module):
  """jaxgan/models/attention.py: softmax over keys of f(x)^T g(x), v(sum beta h(x)), gamma."""

  def __init__(self, c: int):
    super().__init__()
    self.query = _conv(c, c // 8, 1, bias=False)
    self.key = _conv(c, c // 8, 1, bias=False)
    self.value = _conv(c, c // 2, 1, bias=False)
    self.out = _conv(c // 2, c, 1, bias=False)
    self.gamma = nn.Parameter(torch.zeros(()))

  def forward(self, x):
    b, c, h, w = x.shape
    q = self.query(x).flatten(2)                        # (b, c/8, n)
    k = self.key(x).flatten(2)
    v = self.value(x).flatten(2)                        # (b, c/2, n)
    beta = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)   # (b, n_q, n_k)
    attended = torch.bmm(v, beta.transpose(1, 2)).view(b, c // 2, h, w)
    return x + self.gamma * self.out(attended)


class GBlock(nn.Module):

  def __init__(self, c: int):
    super().__init__()
    self.bn1 = nn.BatchNorm2d(c, eps=1e-4)
    self.conv1 = _conv(c, c)
    self.bn2 = nn.BatchNorm2d(c, eps=1e-4)
    self.conv2 = _conv(c, c)
    self.shortcut = _conv(c, c, 1)

  def forward(self, x):
    h = F.interpolate(torch.relu(self.bn1(x)), scale_factor=2, mode='nearest')
    h = self.conv2(torch.relu(self.bn2(self.conv1(h))))
    # jaxgan convolves before upsampling (a 1x1 conv commutes with nearest upsampling).
    return h + F.interpolate(self.shortcut(x), scale_factor=2, mode='nearest')


class SAGANGenerator(nn.Module):

  def __init__(self, z_dim: int = 128, c: int = 256):
    super().__init__()
    self.c = c
    self.linear = _sn(nn.Linear(z_dim, 4 * 4 * c))
    self.blocks = nn.ModuleList([GBlock(c) for _ in range(3)])
    self.attention = SelfAttention(c)
    self.bn_out = nn.BatchNorm2d(c, eps=1e-4)
    self.conv_out = _conv(c, 3)

  def forward(self, z):
    x = self.linear(z).view(-1, self.c, 4, 4)
    for block in self.blocks:
      x = block(x)
      if x.shape[-1] == 16:
        x = self.attention(x)
    return torch.tanh(self.conv_out(torch.relu(self.bn_out(x))))


class DBlock(nn.Module):

  def __init__(self, cin: int, cout: int, downsample: bool, optimized: bool):
    super().__init__()
    self.downsample, self.optimized = downsample, optimized
    self.conv1 = _conv(cin, cout)
    self.conv2 = _conv(cout, cout)
    self.shortcut = _conv(cin, cout, 1) if (downsample or cin != cout) else None

  def forward(self, x):
    if self.optimized:
      h = F.avg_pool2d(self.conv2(torch.relu(self.conv1(x))), 2)
      return h + self.shortcut(F.avg_pool2d(x, 2))
    h = self.conv2(torch.relu(self.conv1(torch.relu(x))))
    shortcut = x if self.shortcut is None else self.shortcut(x)
    if self.downsample:
      h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
    return h + shortcut


class SAGANDiscriminator(nn.Module):

  def __init__(self, c: int = 128):
    super().__init__()
    self.blocks = nn.ModuleList([
        DBlock(3, c, True, True), DBlock(c, c, True, False), DBlock(c, c, False, False),
        DBlock(c, c, False, False)])
    self.attention = SelfAttention(c)
    self.linear = _sn(nn.Linear(c, 1))

  def forward(self, x):
    h = x
    attended = False
    for block in self.blocks:
      h = block(h)
      if h.shape[-1] == 16 and not attended:
        attended = True
        h = self.attention(h)
    return self.linear(torch.relu(h).sum(dim=(2, 3)))[:, 0]


# ---------------------------------------------------------------------------------------------
# Train steps
# ---------------------------------------------------------------------------------------------

def _gan_step(g, d, opt_g, opt_d, d_loss, g_loss, real, z_dim, batch, autocast=None):
  """autocast: a torch dtype (torch.bfloat16) to run the forward passes in, as jaxgan's
  model.dtype does (parameters and optimiser in float32), or None for float32."""
  device = real.device

  def cast():
    if autocast is None:
      return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=autocast)

  def step():
    with torch.no_grad(), cast():
      fake = g(torch.randn(batch, z_dim, device=device))
    with cast():
      loss = d_loss(d(real).float(), d(fake).float())
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    d.requires_grad_(False)
    with cast():
      loss = g_loss(d(g(torch.randn(batch, z_dim, device=device))).float())
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    d.requires_grad_(True)
  return step


def _placed(g, d, device, real):
  g, d = g.to(device), d.to(device)
  return g, d, real.to(device)


def dcgan_step(image_size: int, batch: int, threads: int = 0, seed: int = 0, *,
               device: str = 'cpu', autocast=None, g_width: int = 1024, d_width: int = 64,
               z_dim: int = 100, compile_models: bool = False):
  """(step, (G params, D params)) of the DCGAN step at `image_size` (32 or 64).

  device: where it runs ('cuda' on a GPU); autocast: see `_gan_step`; g_width / d_width:
  jaxgan's config.model.g_width / d_width; compile_models: torch.compile both networks.
  """
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  g, d = DCGANGenerator(image_size, z_dim, g_width), DCGANDiscriminator(image_size, d_width)
  counts = (param_count(g), param_count(d))
  g, d, real = _placed(g, d, device, torch.rand(batch, 3, image_size, image_size) * 2 - 1)
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  if compile_models:
    g, d = torch.compile(g), torch.compile(d)
  ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
  bce = F.binary_cross_entropy_with_logits
  step = _gan_step(g, d, opt_g, opt_d,
                   lambda r, f: bce(r, ones) + bce(f, zeros), lambda f: bce(f, ones),
                   real, z_dim, batch, autocast)
  return step, counts


def sagan_step(batch: int, threads: int = 0, seed: int = 0, *, device: str = 'cpu',
               autocast=None, g_width: int = 64, d_width: int = 64, z_dim: int = 128,
               compile_models: bool = False):
  """(step, (G params, D params)) of the SAGAN 32x32 step (hinge, TTUR); widths as jaxgan's
  config.model.g_width / d_width (G has 4x, D 2x that many channels); see `dcgan_step`."""
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  g, d = SAGANGenerator(z_dim, 4 * g_width), SAGANDiscriminator(2 * d_width)
  counts = (param_count(g), param_count(d))
  if (g_width, d_width, z_dim) == (64, 64, 128):
    assert counts == SAGAN32_PARAMS, (
        f'SAGAN replica has {counts} params, jaxgan {SAGAN32_PARAMS}')
  g, d, real = _placed(g, d, device, torch.rand(batch, 3, 32, 32) * 2 - 1)
  opt_g = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.0, 0.9))
  opt_d = torch.optim.Adam(d.parameters(), 4e-4, betas=(0.0, 0.9))
  if compile_models:
    g, d = torch.compile(g), torch.compile(d)
  step = _gan_step(g, d, opt_g, opt_d,
                   lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
                   lambda f: -f.mean(), real, z_dim, batch, autocast)
  return step, counts
