"""An independent PyTorch replica of StudioGAN's BigGAN (`big_resnet`), for tests.

Written from BigGAN's description (Brock et al. 2019) and the structure of StudioGAN's
src/models/big_resnet.py: the same module and attribute names, so its `state_dict()` has
StudioGAN's key names and shapes (tests/data/studiogan_biggan_cifar10_keys.json holds those of
the official build), with PyTorch's own `spectral_norm` (eps 1e-6, as StudioGAN) and batch norm
(eps 1e-4, momentum 0.1). Layouts as jaxgan.models.sagan's tables; attention after the block
whose output side is `attention_resolution` (the first such block in D).
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from jaxgan.models import sagan


def _sn(layer: nn.Module, apply: bool) -> nn.Module:
  return spectral_norm(layer, eps=1e-6) if apply else layer


def _conv(cin, cout, k, sn, bias=True):
  return _sn(nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias), sn)


class CondBN(nn.Module):
  """BN without affine; out * (1 + gain(a)) + bias(a)."""

  def __init__(self, affine_dim, channels, sn):
    super().__init__()
    self.bn = nn.BatchNorm2d(channels, eps=1e-4, momentum=0.1, affine=False)
    self.gain = _sn(nn.Linear(affine_dim, channels, bias=False), sn)
    self.bias = _sn(nn.Linear(affine_dim, channels, bias=False), sn)

  def forward(self, x, a):
    return self.bn(x) * (1 + self.gain(a))[:, :, None, None] + self.bias(a)[:, :, None, None]


class GenBlock(nn.Module):

  def __init__(self, cin, cout, affine_dim, sn):
    super().__init__()
    self.bn1 = CondBN(affine_dim, cin, sn)
    self.bn2 = CondBN(affine_dim, cout, sn)
    self.conv2d0 = _conv(cin, cout, 1, sn)
    self.conv2d1 = _conv(cin, cout, 3, sn)
    self.conv2d2 = _conv(cout, cout, 3, sn)

  def forward(self, x, a):
    up = lambda t: F.interpolate(t, scale_factor=2, mode='nearest')
    h = self.conv2d1(up(F.relu(self.bn1(x, a))))
    h = self.conv2d2(F.relu(self.bn2(h, a)))
    return h + self.conv2d0(up(x))


class Attention(nn.Module):
  """Self-attention with 2x2 max-pooled keys (phi) and values (g)."""

  def __init__(self, c, sn):
    super().__init__()
    self.conv1x1_theta = _conv(c, c // 8, 1, sn, bias=False)
    self.conv1x1_phi = _conv(c, c // 8, 1, sn, bias=False)
    self.conv1x1_g = _conv(c, c // 2, 1, sn, bias=False)
    self.conv1x1_attn = _conv(c // 2, c, 1, sn, bias=False)
    self.sigma = nn.Parameter(torch.zeros(1))

  def forward(self, x):
    b, c, h, w = x.shape
    query = self.conv1x1_theta(x).flatten(2)                        # (b, c/8, hw)
    key = F.max_pool2d(self.conv1x1_phi(x), 2).flatten(2)           # (b, c/8, hw/4)
    value = F.max_pool2d(self.conv1x1_g(x), 2).flatten(2)           # (b, c/2, hw/4)
    beta = torch.softmax(torch.einsum('bcq,bck->bqk', query, key), dim=-1)
    out = torch.einsum('bqk,bck->bcq', beta, value).reshape(b, c // 2, h, w)
    return x + self.sigma * self.conv1x1_attn(out)


class Generator(nn.Module):

  def __init__(self, image_size=32, width=96, z_dim=80, shared_dim=128, num_classes=10,
               attention_resolution=16, sn=True):
    super().__init__()
    widths = [m * width for m in sagan.G_MULTIPLIERS[image_size]]
    self.num_chunks = len(widths)
    self.chunk = z_dim // self.num_chunks
    self.c0 = widths[0]
    self.conditional = num_classes > 0
    affine_dim = self.chunk + (shared_dim if self.conditional else 0)
    self.linear0 = _sn(nn.Linear(self.chunk, 16 * widths[0]), sn)
    if self.conditional:
      self.shared = nn.Embedding(num_classes, shared_dim)
    blocks, side = [], 4
    for cin, cout in zip(widths[:-1], widths[1:]):
      blocks.append(nn.ModuleList([GenBlock(cin, cout, affine_dim, sn)]))
      side *= 2
      if side == attention_resolution:
        blocks.append(nn.ModuleList([Attention(cout, sn)]))
    self.blocks = nn.ModuleList(blocks)
    self.bn4 = nn.BatchNorm2d(widths[-1], eps=1e-4, momentum=0.1)
    self.conv2d5 = _conv(widths[-1], 3, 3, sn)

  def forward(self, z, y=None):
    chunks = torch.split(z, self.chunk, dim=1)
    if self.conditional:
      e = self.shared(y)
      affines = [torch.cat([e, c], dim=1) for c in chunks[1:]]
    else:
      affines = list(chunks[1:])
    h = self.linear0(chunks[0]).view(z.shape[0], self.c0, 4, 4)
    for (block,) in self.blocks:
      h = block(h) if isinstance(block, Attention) else block(h, affines.pop(0))
    return torch.tanh(self.conv2d5(F.relu(self.bn4(h))))


class DiscOptBlock(nn.Module):

  def __init__(self, cin, cout, sn):
    super().__init__()
    self.conv2d0 = _conv(cin, cout, 1, sn)
    self.conv2d1 = _conv(cin, cout, 3, sn)
    self.conv2d2 = _conv(cout, cout, 3, sn)

  def forward(self, x):
    h = F.avg_pool2d(self.conv2d2(F.relu(self.conv2d1(x))), 2)
    return h + self.conv2d0(F.avg_pool2d(x, 2))


class DiscBlock(nn.Module):

  def __init__(self, cin, cout, down, sn):
    super().__init__()
    self.down = down
    self.has_shortcut = down or cin != cout
    if self.has_shortcut:
      self.conv2d0 = _conv(cin, cout, 1, sn)
    self.conv2d1 = _conv(cin, cout, 3, sn)
    self.conv2d2 = _conv(cout, cout, 3, sn)

  def forward(self, x):
    h = self.conv2d2(F.relu(self.conv2d1(F.relu(x))))
    s = self.conv2d0(x) if self.has_shortcut else x
    if self.down:
      h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
    return h + s


class Discriminator(nn.Module):

  def __init__(self, image_size=32, width=96, num_classes=10, attention_resolution=16, sn=True):
    super().__init__()
    blocks, cin, side, attended = [], 3, image_size, False
    for index, (m, down) in enumerate(sagan.D_BLOCKS[image_size]):
      cout = m * width
      block = DiscOptBlock(cin, cout, sn) if index == 0 else DiscBlock(cin, cout, down, sn)
      blocks.append(nn.ModuleList([block]))
      side //= 2 if down else 1
      if side == attention_resolution and not attended:
        attended = True
        blocks.append(nn.ModuleList([Attention(cout, sn)]))
      cin = cout
    self.blocks = nn.ModuleList(blocks)
    self.linear1 = _sn(nn.Linear(cin, 1), sn)
    self.conditional = num_classes > 0
    if self.conditional:
      self.embedding = _sn(nn.Embedding(num_classes, cin), sn)

  def forward(self, x, y=None):
    h = x
    for (block,) in self.blocks:
      h = block(h)
    h = torch.sum(F.relu(h), dim=(2, 3))
    out = self.linear1(h)[:, 0]
    if self.conditional:
      out = out + torch.sum(self.embedding(y) * h, dim=1)
    return out
