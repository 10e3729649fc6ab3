"""PyTorch train steps of R3GAN, BigGAN and StyleGAN2 built from the tests' replicas
(benchmark references only; jaxgan never imports this file nor torch).

The networks are the independent replicas the port tests compare jaxgan with
(tests/r3gan_torch.py, tests/biggan_torch.py, tests/stylegan2_replica.py), built with the
settings of the jaxgan networks they are timed against (read from those flax modules, so a
dry run's tiny widths carry over). Weights are not carried over (random, for timing only).
One step is one D and one G update, as bench/torch_models.py's `_gan_step`, class-conditional
(random labels), with the family's loss and regularisers as jaxgan's config has them:

  R3GAN:     RpGAN (R3GAN eq. 2) + w1 R1 + w2 R2 (per-sample squared input-gradient norms of
             D on the reals and on the detached fakes, double backward); G's loss reads D on
             the real batch too (jaxgan's `g_needs_real`), without a gradient to D.
  BigGAN:    hinge (D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z))).
  StyleGAN2: non-saturating logistic (softplus) + w1 R1 on the reals, at every step (the
             jaxgan side's too: bench/gpu_bench.py turns the config's lazy R1 off).

Adam with the config's learning rates and betas (eps 1e-8, jaxgan's and optax's default).
Not replicated, each a small share of a step: jaxgan's generator EMA (none here, as in
`_gan_step`), StyleGAN2's random noise inputs (the replica adds its constant noise buffer) and
w_avg tracking, and R3GAN's per-stage precision (autocast makes every stage bfloat16).
"""

import contextlib
import os
import sys

import torch
from torch.nn import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from jaxgan import schedules  # pylint: disable=wrong-import-position


def param_count(module: torch.nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())


def _sq_grad_norm(logits, x):
  """Per-sample ||d sum(D) / dx||^2, kept in the graph (R1/R2 are differentiated again)."""
  (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
  return grad.float().pow(2).flatten(1).sum(1).mean()


def conditional_step(g, d, opt_g, opt_d, *, d_loss, g_loss, real, num_classes, z_dim,
                     batch, autocast=None, r1=0.0, r2=0.0, g_needs_real=False):
  """One D update (with R1 / R2 of weights r1 / r2 where > 0) and one G update of a
  class-conditional pair g(z, labels), d(x, labels); see `_gan_step` in torch_models.py."""
  device = real.device
  real_labels = torch.randint(num_classes, (batch,), device=device)

  def cast():
    if autocast is None:
      return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=autocast)

  def labels():
    return torch.randint(num_classes, (batch,), device=device)

  def step():
    y = labels()
    with torch.no_grad(), cast():
      fake = g(torch.randn(batch, z_dim, device=device), y).float()
    x_real = real.detach().requires_grad_(r1 > 0)
    x_fake = fake.detach().requires_grad_(r2 > 0)
    with cast():
      real_logits = d(x_real, real_labels).float()
      fake_logits = d(x_fake, y).float()
    loss = d_loss(real_logits, fake_logits)
    if r1 > 0:
      loss = loss + r1 * _sq_grad_norm(real_logits, x_real)
    if r2 > 0:
      loss = loss + r2 * _sq_grad_norm(fake_logits, x_fake)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    d.requires_grad_(False)
    y = labels()
    with cast():
      fake_logits = d(g(torch.randn(batch, z_dim, device=device), y), y).float()
      real_logits = None
      if g_needs_real:
        with torch.no_grad():
          real_logits = d(real, real_labels).float()
    loss = g_loss(real_logits, fake_logits)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    d.requires_grad_(True)
  return step


def _setup(g, d, config, batch, image_size, device, threads, compile_models):
  counts = (param_count(g), param_count(d))
  g, d = g.to(device), d.to(device)
  real = (torch.rand(batch, 3, image_size, image_size) * 2 - 1).to(device)
  o = config.optim
  opt_g = torch.optim.Adam(g.parameters(), o.g_lr, betas=(o.b1, o.b2), eps=1e-8)
  opt_d = torch.optim.Adam(d.parameters(), o.d_lr, betas=(o.b1, o.b2), eps=1e-8)
  if compile_models:
    g, d = torch.compile(g), torch.compile(d)
  return g, d, opt_g, opt_d, real, counts


def _weights(config) -> dict:
  """{regulariser: weight}; a ramp's weight (jaxgan/schedules.py, R3GAN's gamma) at step 0,
  which is all a timing needs (the work per step does not depend on the value)."""
  return {name: float(w['init_value']) if schedules.is_ramp(w) else float(w)
          for name, w in dict(config.loss.regularizers or {}).items()}


def r3gan_step(batch, *, config, networks, device='cpu', autocast=None, compile_models=False,
               threads=0, seed=0, **_):
  """(step, (G params, D params)) of R3GAN (tests/r3gan_torch.py) with jaxgan's `networks`'
  architecture: RpGAN + R1 + R2."""
  from tests import r3gan_torch  # pylint: disable=g-import-not-at-top
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  jg, jd = networks
  arch = jg.architecture()
  kwargs = dict(widths=arch.widths, cardinalities=arch.cardinalities, blocks=arch.blocks,
                expansion=arch.expansion, num_classes=jg.num_classes,
                resampling_filter=jg.resampling_filter)
  g = r3gan_torch.Generator(config.model.z_dim, embedding_dim=jg.embedding_dim, **kwargs)
  d = r3gan_torch.Discriminator(embedding_dim=jd.embedding_dim, **kwargs)
  for p in list(g.parameters()) + list(d.parameters()):   # the replica leaves init to the tests
    if p.dim() > 1:
      torch.nn.init.kaiming_normal_(p, a=0.2)
  g, d, opt_g, opt_d, real, counts = _setup(g, d, config, batch, jg.image_size, device,
                                            threads, compile_models)
  w = _weights(config)
  step = conditional_step(
      g, d, opt_g, opt_d,
      d_loss=lambda r, f: F.softplus(-(r - f)).mean(),
      g_loss=lambda r, f: F.softplus(-(f - r)).mean(),
      real=real, num_classes=jg.num_classes, z_dim=config.model.z_dim, batch=batch,
      autocast=autocast, r1=w.get('r1', 0.0), r2=w.get('r2', 0.0), g_needs_real=True)
  return step, counts


def biggan_step(batch, *, config, networks, device='cpu', autocast=None, compile_models=False,
                threads=0, seed=0, **_):
  """(step, (G params, D params)) of StudioGAN's BigGAN (tests/biggan_torch.py) with jaxgan's
  `networks`' settings: hinge loss."""
  from tests import biggan_torch  # pylint: disable=g-import-not-at-top
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  jg, jd = networks
  attention = jg.attention_resolution or min(jg.image_size // 2, 64)
  g = biggan_torch.Generator(image_size=jg.image_size, width=jg.width, z_dim=jg.z_dim,
                             shared_dim=jg.shared_dim, num_classes=jg.num_classes,
                             attention_resolution=attention, sn=jg.spectral_norm)
  d = biggan_torch.Discriminator(image_size=jd.image_size, width=jd.width,
                                 num_classes=jd.num_classes,
                                 attention_resolution=jd.attention_resolution or attention,
                                 sn=jd.spectral_norm)
  g, d, opt_g, opt_d, real, counts = _setup(g, d, config, batch, jg.image_size, device,
                                            threads, compile_models)
  step = conditional_step(
      g, d, opt_g, opt_d,
      d_loss=lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
      g_loss=lambda r, f: -f.mean(),
      real=real, num_classes=jg.num_classes, z_dim=jg.z_dim, batch=batch, autocast=autocast)
  return step, counts


class _OneHot(torch.nn.Module):
  """The replica's (x, c) networks called with integer labels, c their one-hot vectors."""

  def __init__(self, net, num_classes):
    super().__init__()
    self.net, self.num_classes = net, num_classes

  def forward(self, x, labels):
    return self.net(x, F.one_hot(labels, self.num_classes).to(x.dtype))


def stylegan2_step(batch, *, config, networks, device='cpu', autocast=None,
                   compile_models=False, threads=0, seed=0, **_):
  """(step, (G params, D params)) of StyleGAN2 (tests/stylegan2_replica.py) with jaxgan's
  `networks`' settings: non-saturating loss + R1."""
  from jaxgan.models import stylegan2 as sg  # pylint: disable=g-import-not-at-top
  from tests import stylegan2_replica as replica  # pylint: disable=g-import-not-at-top
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  jg, jd = networks
  spec = sg.cfg_spec(jg.cfg, jg.image_size)
  classes = jg.num_classes
  g = replica.Generator(config.model.z_dim, classes, jg.w_dim, jg.image_size,
                        map_layers=jg.mapping_layers or spec.map,
                        base=jg.channel_base or spec.channel_base, arch=jg.architecture,
                        clamp=jg.conv_clamp)
  dspec = sg.cfg_spec(jd.cfg, jd.image_size)
  d = replica.Discriminator(classes, jd.image_size,
                            base=jd.channel_base or dspec.channel_base,
                            arch=jd.architecture or dspec.d_architecture,
                            mbstd=jd.mbstd_group_size or dspec.mbstd, clamp=jd.conv_clamp,
                            map_layers=jd.mapping_layers)
  for p in list(g.parameters()) + list(d.parameters()):
    if p.dim() > 1:     # equalised learning rate: N(0, 1) weights (the replica's are zeros)
      torch.nn.init.normal_(p)
  g, d = _OneHot(g, classes), _OneHot(d, classes)
  g, d, opt_g, opt_d, real, counts = _setup(g, d, config, batch, jg.image_size, device,
                                            threads, compile_models)
  step = conditional_step(
      g, d, opt_g, opt_d,
      d_loss=lambda r, f: F.softplus(f).mean() + F.softplus(-r).mean(),
      g_loss=lambda r, f: F.softplus(-f).mean(),
      real=real, num_classes=classes, z_dim=config.model.z_dim, batch=batch,
      autocast=autocast, r1=_weights(config).get('r1', 0.0))
  return step, counts
