"""An independent PyTorch replica of R3GAN's networks (Huang et al. 2024), for the tests.

Written from the paper (config E: ConvNeXt-like inverted-bottleneck residual blocks with
grouped 3x3 convolutions, leaky-ReLU with a learned bias, no normalisation; a 4x4 generative
basis and its discriminative mirror; a projection discriminator) and the structure of the
official R3GAN/Networks.py, in NCHW, float32. It names its modules as the official code does,
so its `state_dict()` has the official checkpoints' keys and shapes (without the 'Model.'
prefix of the official training/networks.py wrapper).

Its resampling is written differently from jaxgan's on purpose: upsampling as one depthwise
transposed convolution with the 2-D kernel 4 * outer(f, f) (stride 2), downsampling as one
depthwise strided convolution with outer(f, f), f = [1, 3, 3, 1] / 8, where jaxgan applies
1-D FIR filters axis by axis on zero-inserted maps. Initialisation is not replicated (tests
load weights); only the function is.
"""

import torch
from torch import nn
from torch.nn import functional as F


def _binomial(resampling_filter=(1, 2, 1)) -> torch.Tensor:
  taps = torch.tensor(resampling_filter, dtype=torch.float64)
  zero = torch.zeros(1, dtype=torch.float64)
  taps = torch.cat([taps, zero]) + torch.cat([zero, taps])    # convolved with [1, 1]
  kernel = torch.outer(taps, taps)
  return (kernel / kernel.sum()).float()


class Conv(nn.Module):
  def __init__(self, cin, cout, k=1, groups=1):
    super().__init__()
    self.Layer = nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False)

  def forward(self, x):
    return self.Layer(x)


class Bias(nn.Module):
  """leaky_relu(x + b, 0.2)."""

  def __init__(self, channels):
    super().__init__()
    self.Bias = nn.Parameter(torch.zeros(channels))

  def forward(self, x):
    return F.leaky_relu(x + self.Bias[None, :, None, None], 0.2)


class Block(nn.Module):
  def __init__(self, channels, cardinality, expansion, k=3):
    super().__init__()
    wide = channels * expansion
    self.LinearLayer1 = Conv(channels, wide)
    self.LinearLayer2 = Conv(wide, wide, k, cardinality)
    self.LinearLayer3 = Conv(wide, channels)
    self.NonLinearity1 = Bias(wide)
    self.NonLinearity2 = Bias(wide)

  def forward(self, x):
    h = self.NonLinearity1(self.LinearLayer1(x))
    h = self.NonLinearity2(self.LinearLayer2(h))
    return x + self.LinearLayer3(h)


class Filter(nn.Module):
  def __init__(self, resampling_filter):
    super().__init__()
    self.register_buffer('Kernel', _binomial(resampling_filter))

  def up(self, x):
    c = x.shape[1]
    weight = (4 * self.Kernel)[None, None].repeat(c, 1, 1, 1)
    pad = self.Kernel.shape[0] // 2 - 1
    return F.conv_transpose2d(x, weight, stride=2, padding=pad, groups=c)

  def down(self, x):
    c = x.shape[1]
    weight = self.Kernel[None, None].repeat(c, 1, 1, 1)
    pad = self.Kernel.shape[0] // 2 - 1
    return F.conv2d(x, weight, stride=2, padding=pad, groups=c)


class Up(nn.Module):
  def __init__(self, cin, cout, resampling_filter):
    super().__init__()
    self.Resampler = Filter(resampling_filter)
    if cin != cout:
      self.LinearLayer = Conv(cin, cout)

  def forward(self, x):
    if hasattr(self, 'LinearLayer'):
      x = self.LinearLayer(x)
    return self.Resampler.up(x)


class Down(nn.Module):
  def __init__(self, cin, cout, resampling_filter):
    super().__init__()
    self.Resampler = Filter(resampling_filter)
    if cin != cout:
      self.LinearLayer = Conv(cin, cout)

  def forward(self, x):
    x = self.Resampler.down(x)
    return self.LinearLayer(x) if hasattr(self, 'LinearLayer') else x


class GBasis(nn.Module):
  def __init__(self, inputs, channels):
    super().__init__()
    self.Basis = nn.Parameter(torch.randn(channels, 4, 4))
    self.LinearLayer = nn.Linear(inputs, channels, bias=False)

  def forward(self, v):
    return self.LinearLayer(v)[:, :, None, None] * self.Basis[None]


class DBasis(nn.Module):
  def __init__(self, channels, outputs):
    super().__init__()
    self.Basis = nn.Conv2d(channels, channels, 4, groups=channels, bias=False)
    self.LinearLayer = nn.Linear(channels, outputs, bias=False)

  def forward(self, x):
    return self.LinearLayer(self.Basis(x).flatten(1))


class Stage(nn.Module):
  def __init__(self, layers):
    super().__init__()
    self.Layers = nn.ModuleList(layers)

  def forward(self, x):
    for layer in self.Layers:
      x = layer(x)
    return x


class Generator(nn.Module):
  """widths, cardinalities, blocks per stage from 4x4 up; num_classes 0: unconditional."""

  def __init__(self, z_dim, widths, cardinalities, blocks, expansion=2, num_classes=0,
               embedding_dim=None, resampling_filter=(1, 2, 1)):
    super().__init__()
    embedding_dim = embedding_dim or z_dim
    inputs = z_dim + (embedding_dim if num_classes else 0)
    stages = [Stage([GBasis(inputs, widths[0])] +
                    [Block(widths[0], cardinalities[0], expansion) for _ in range(blocks[0])])]
    for s in range(1, len(widths)):
      stages.append(Stage([Up(widths[s - 1], widths[s], resampling_filter)] +
                          [Block(widths[s], cardinalities[s], expansion)
                           for _ in range(blocks[s])]))
    self.MainLayers = nn.ModuleList(stages)
    self.AggregationLayer = Conv(widths[-1], 3)
    self.num_classes = num_classes
    if num_classes:
      self.EmbeddingLayer = nn.Linear(num_classes, embedding_dim, bias=False)

  def forward(self, z, labels=None):
    if self.num_classes:
      z = torch.cat([z, self.EmbeddingLayer(F.one_hot(labels, self.num_classes).float())], 1)
    for stage in self.MainLayers:
      z = stage(z)
    return self.AggregationLayer(z)


class Discriminator(nn.Module):
  """Takes the generator's per-stage lists (4x4 first) and reverses them, as train.py does."""

  def __init__(self, widths, cardinalities, blocks, expansion=2, num_classes=0,
               embedding_dim=None, resampling_filter=(1, 2, 1)):
    super().__init__()
    widths, cardinalities, blocks = widths[::-1], cardinalities[::-1], blocks[::-1]
    outputs = (embedding_dim or widths[-1]) if num_classes else 1
    self.ExtractionLayer = Conv(3, widths[0])
    stages = []
    for s in range(len(widths)):
      layers = [Block(widths[s], cardinalities[s], expansion) for _ in range(blocks[s])]
      if s + 1 < len(widths):
        layers.append(Down(widths[s], widths[s + 1], resampling_filter))
      else:
        layers.append(DBasis(widths[s], outputs))
      stages.append(Stage(layers))
    self.MainLayers = nn.ModuleList(stages)
    self.num_classes = num_classes
    if num_classes:
      self.EmbeddingLayer = nn.Linear(num_classes, outputs, bias=False)

  def forward(self, x, labels=None):
    h = self.ExtractionLayer(x)
    for stage in self.MainLayers:
      h = stage(h)
    if self.num_classes:
      return (h * self.EmbeddingLayer(F.one_hot(labels, self.num_classes).float())).sum(1)
    return h[:, 0]
