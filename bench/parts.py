"""Where a GAN step's time goes, network by network: forward, weight gradient, input gradient.

  python bench/parts.py --model=dcgan [--image_size=32] [--batch=64]
  python bench/parts.py --model=sagan [--batch=64]

Each network alone (no pmap; batch norm in training mode over the local batch), built from
keyword arguments as `jaxgan.models` defines them, timed as jitted functions of a scalar
output: forward, the gradient with respect to the parameters (the forward included) and with
respect to the input (the forward included). Medians of `--repeats` runs after a warm-up, the
variants of one network interleaved run by run. For SAGAN the same network is also timed
without spectral norm and without attention, so the differences are those parts' cost, and
the generator's widest residual block (16 -> 32 pixels, 256 channels) is timed alone.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position

from jaxgan import models  # pylint: disable=wrong-import-position
from jaxgan.models import sagan  # pylint: disable=wrong-import-position


def _functions(module, inputs):
  """(forward, weight grad, input grad) jitted over (params, x), and the params."""
  extra = (None,) if isinstance(module, sagan.GeneratorBlock) else ()   # its labels argument
  variables = module.init(jax.random.key(0), inputs, *extra, train=False)
  params = variables['params']
  state = {k: v for k, v in variables.items() if k != 'params'}

  def out(params, x):
    y, _ = module.apply({'params': params, **state}, x, *extra, train=True,
                        mutable=list(state))
    return jnp.sum(y)

  return {'forward': jax.jit(out), 'weight grad': jax.jit(jax.grad(out, argnums=0)),
          'input grad': jax.jit(jax.grad(out, argnums=1))}, params


def _time(cases: dict, repeats: int) -> dict:
  """{name: median seconds}, each case warmed once, the cases interleaved run by run."""
  for fn, args in cases.values():
    jax.block_until_ready(fn(*args))
  times = {name: [] for name in cases}
  for _ in range(repeats):
    for name, (fn, args) in cases.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  return {name: statistics.median(t) for name, t in times.items()}


def _report(title: str, variants: dict, inputs, repeats: int) -> None:
  cases = {}
  for variant, module in variants.items():
    fns, params = _functions(module, inputs)
    for part, fn in fns.items():
      cases[(variant, part)] = (fn, (params, inputs))
  medians = _time(cases, repeats)
  for variant in variants:
    print(f'{title}{" " + variant if variant else ""}: ' + ', '.join(
        f'{part} {medians[(variant, part)]:.3f} s'
        for part in ('forward', 'weight grad', 'input grad')), flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='dcgan', choices=('dcgan', 'sagan'))
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--conv_impl', default='auto')
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  size, b = args.image_size, args.batch
  load = os.getloadavg()[0]
  print(f'{args.model} {size}x{size} batch {b}, {jax.devices()[0].device_kind}; '
        f'load {load:.2f}; python bench/parts.py ' + ' '.join(sys.argv[1:]), flush=True)
  z = jnp.ones((b, 100 if args.model == 'dcgan' else 128))
  x = jnp.ones((b, size, size, 3))
  if args.model == 'dcgan':
    g = models.DCGANGenerator(image_size=size, width=1024, conv_impl=args.conv_impl,
                              axis_name=None)
    d = models.DCGANDiscriminator(image_size=size, width=64, conv_impl=args.conv_impl,
                                  axis_name=None)
    _report('G', {'': g}, z, args.repeats)
    _report('D', {'': d}, x, args.repeats)
  else:
    kw = dict(image_size=size, width=64)
    _report('G', {
        'as configured': models.SAGANGenerator(**kw, bn_axis_name=None),
        'no spectral norm': models.SAGANGenerator(**kw, spectral_norm=False, bn_axis_name=None),
        'no attention': models.SAGANGenerator(**kw, attention_resolution=0, bn_axis_name=None),
    }, z, args.repeats)
    _report('D', {
        'as configured': models.SAGANDiscriminator(**kw),
        'no spectral norm': models.SAGANDiscriminator(**kw, spectral_norm=False),
        'no attention': models.SAGANDiscriminator(**kw, attention_resolution=0),
    }, x, args.repeats)
    block_in = jnp.ones((b, size // 2, size // 2, 256))
    _report('G last residual block (16 -> 32, 256 ch)',
            {'': sagan.GeneratorBlock(256, spectral_norm=True)}, block_in, args.repeats)
  print(f'load at end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
