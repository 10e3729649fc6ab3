"""Train-step throughput: jaxgan's DCGAN step vs a PyTorch eager DCGAN, side by side.

  python bench/train_step.py --image_size=32 --batch=64 --repeats=5
  python bench/train_step.py --model=sagan --image_size=32 --batch=64

Both sides run the identical architecture (the seed's DCGAN: 5x5 stride-2 (transposed)
convolutions, batch norm, ReLU / LeakyReLU 0.2, widths 512-256-128 at 32x32 or
1024-512-256-128 at 64x64), the non-saturating loss, Adam, one D and one G update per step,
on the same CPU threads. PyTorch is a benchmark dependency only (requirements-dev.txt).
Reports the median step time of `repeats` timed steps after warm-up, images/s (counting the
batch once per D and once per G update) and the jaxgan/PyTorch speed ratio.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _jaxgan_step_times(model, image_size, batch, repeats, warmup, conv_impl):
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from configs import dcgan, sagan_hinge  # pylint: disable=g-import-not-at-top
  from jaxgan import losses, models, state as state_lib, steps  # pylint: disable=g-import-not-at-top
  config = {'dcgan': dcgan, 'sagan': sagan_hinge}[model].get_config()
  config.data.dataset = 'digits'
  config.data.image_size = image_size
  if model == 'sagan' and image_size == 64:
    config.model.attention_resolution = 32
  config.model.conv_impl = conv_impl
  config.train.batch_size = batch
  generator, discriminator = models.build(config)
  tx_g, tx_d = state_lib.optimizers(config)
  state = state_lib.create(config, generator, discriminator, tx_g, tx_d)
  step = steps.make_train_step(config, generator, discriminator, losses.from_config(config.loss),
                               tx_g, tx_d, devices=jax.devices()[:1])
  rng = np.random.default_rng(0)
  batch_arrays = {
      'image': rng.uniform(-1, 1, (1, 1, batch, image_size, image_size, 3)).astype(np.float32),
      'label': np.zeros((1, 1, batch), np.int32)}
  memory = None
  try:
    analysis = step.lower(state, batch_arrays).compile().memory_analysis()
    memory = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
              + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes) / 2**20
  except Exception:  # pylint: disable=broad-except
    pass
  t0 = time.perf_counter()
  state, m = step(state, batch_arrays)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t0
  for _ in range(warmup):
    state, m = step(state, batch_arrays)
  jax.block_until_ready(m)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state, m = step(state, batch_arrays)
    jax.block_until_ready(m)
    times.append(time.perf_counter() - t0)
  params = (state_lib.param_count(state.g_params), state_lib.param_count(state.d_params))
  return times, compile_s, memory, params


def _torch_step_times(image_size, batch, repeats, warmup, threads):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  stages = {32: 3, 64: 4}[image_size]
  width = 1024 * image_size // 64
  z_dim = 100

  class G(nn.Module):

    def __init__(self):
      super().__init__()
      self.project = nn.Linear(z_dim, 4 * 4 * width)
      self.bn0 = nn.BatchNorm2d(width)
      layers = []
      c = width
      for i in range(stages):
        last = i == stages - 1
        out = 3 if last else c // 2
        # k5 s2 'SAME': padding 2 + output_padding 1 doubles the size, as in jaxgan.
        layers.append(nn.ConvTranspose2d(c, out, 5, 2, padding=2, output_padding=1))
        layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
        c = out
      self.body = nn.Sequential(*layers)

    def forward(self, z):
      x = self.project(z).view(-1, width, 4, 4)
      return self.body(torch.relu(self.bn0(x)))

  class D(nn.Module):

    def __init__(self):
      super().__init__()
      layers, c = [], 3
      for i in range(stages):
        out = 64 * 2 ** i
        layers.append(nn.Conv2d(c, out, 5, 2, padding=2))
        if i > 0:
          layers.append(nn.BatchNorm2d(out))
        layers.append(nn.LeakyReLU(0.2))
        c = out
      self.body = nn.Sequential(*layers)
      self.logit = nn.Linear(c * 4 * 4, 1)

    def forward(self, x):
      return self.logit(self.body(x).flatten(1))[:, 0]

  g, d = G(), D()
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch, 3, image_size, image_size) * 2 - 1
  ones, zeros = torch.ones(batch), torch.zeros(batch)

  def step():
    fake = g(torch.randn(batch, z_dim))
    loss_d = bce(d(real), ones) + bce(d(fake.detach()), zeros)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    fake = g(torch.randn(batch, z_dim))
    loss_g = bce(d(fake), ones)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()

  for _ in range(warmup):
    step()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  return times


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='dcgan', choices=('dcgan', 'sagan'))
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--conv_impl', default='auto', choices=('auto', 'rewritten', 'flax'))
  parser.add_argument('--skip_torch', action='store_true',
                      help='jaxgan only (always so for SAGAN: no PyTorch reference here)')
  args = parser.parse_args()

  jax_times, compile_s, memory, params = _jaxgan_step_times(
      args.model, args.image_size, args.batch, args.repeats, args.warmup, args.conv_impl)
  imgs = 2 * args.batch  # one D and one G update, each on `batch` images
  jax_med = statistics.median(jax_times)
  mem = f', XLA buffers {memory:.0f} MiB' if memory is not None else ''
  print(f'jaxgan  {args.model} {args.image_size}x{args.image_size} batch {args.batch} '
        f'(conv_impl={args.conv_impl}; G {params[0]:,} / D {params[1]:,} params): '
        f'median step {jax_med:.3f} s ({imgs / jax_med:.1f} images/s, '
        f'{1 / jax_med:.2f} G steps/s), compile {compile_s:.1f} s{mem}, '
        f'steps {[round(t, 3) for t in jax_times]}')
  if args.skip_torch or args.model != 'dcgan':
    return
  torch_times = _torch_step_times(args.image_size, args.batch, args.repeats, args.warmup,
                                  args.threads)
  torch_med = statistics.median(torch_times)
  print(f'PyTorch dcgan {args.image_size}x{args.image_size} batch {args.batch} (eager, '
        f'{args.threads} threads): median step {torch_med:.3f} s ({imgs / torch_med:.1f} images/s), '
        f'steps {[round(t, 3) for t in torch_times]}')
  print(f'ratio (jaxgan images/s / PyTorch images/s): {torch_med / jax_med:.2f}')


if __name__ == '__main__':
  main()
