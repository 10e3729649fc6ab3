"""Where the DCGAN step's time goes: forward, weight gradient and input gradient of each network.

  python bench/dcgan_parts.py [--image_size=32] [--batch=64]

Each network alone (no pmap, batch norm in training mode), median of 5 runs after a warm-up.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position

from jaxgan.models import dcgan  # pylint: disable=wrong-import-position


def _median_time(fn, *args, repeats=5):
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  args = parser.parse_args()
  size, b = args.image_size, args.batch
  nets = [('G', dcgan.Generator(size, 1024, axis_name=None), jnp.ones((b, 100))),
          ('D', dcgan.Discriminator(size, 64, axis_name=None), jnp.ones((b, size, size, 3)))]
  for name, module, inputs in nets:
    variables = module.init(jax.random.key(0), inputs, train=False)
    stats = variables['batch_stats']

    def out(params, x, module=module, stats=stats):
      y, _ = module.apply({'params': params, 'batch_stats': stats}, x, train=True,
                          mutable=['batch_stats'])
      return jnp.sum(y)

    fwd = jax.jit(out)
    grad_w = jax.jit(jax.grad(out, argnums=0))
    grad_x = jax.jit(jax.grad(out, argnums=1))
    p = variables['params']
    print(f'{name} {size}x{size} batch {b}: forward {_median_time(fwd, p, inputs):.3f} s, '
          f'weight gradient {_median_time(grad_w, p, inputs):.3f} s, '
          f'input gradient {_median_time(grad_x, p, inputs):.3f} s', flush=True)


if __name__ == '__main__':
  main()
