"""XLA:CPU's convolution weight gradient against the im2col one (jaxgan.models.layers.Conv).

  python bench/conv_wgrad.py                       # the shapes behind IM2COL_WGRAD_MIN
  python bench/conv_wgrad.py --shapes=64x32x256,16x32x256 --reps=5

For each (batch, side, channels): a 3x3 'SAME' convolution with as many output channels as
input channels, the gradient of sum(conv(x, w) * g) with respect to x and w, jitted two ways
in one process and timed in turn (medians of --reps): XLA's own gradient, and
`layers.conv_im2col_wgrad` (XLA's forward and input gradient, the weight gradient as one
matmul per kernel row over shifted copies of x). The speed-up and the input's size in MiB
are printed; `layers.IM2COL_WGRAD_MIN` is set from such a run.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position

from jaxgan.models import layers  # pylint: disable=wrong-import-position

SHAPES = '64x32x256,64x32x192,48x32x256,32x32x256,64x32x128,16x64x128,64x16x256,128x16x128'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--shapes', default=SHAPES, help='BATCHxSIDExCHANNELS, comma-separated')
  parser.add_argument('--reps', type=int, default=5)
  args = parser.parse_args()
  print(f'{jax.devices()[0].device_kind}; load {os.getloadavg()[0]:.2f}; python '
        f'bench/conv_wgrad.py ' + ' '.join(sys.argv[1:]), flush=True)
  for shape in args.shapes.split(','):
    b, side, c = (int(v) for v in shape.split('x'))
    key = jax.random.key(0)
    x = jax.random.normal(key, (b, side, side, c))
    w = 0.05 * jax.random.normal(jax.random.fold_in(key, 1), (3, 3, c, c))
    g = jax.random.normal(jax.random.fold_in(key, 2), (b, side, side, c))
    conv = lambda xx, ww: jax.lax.conv_general_dilated(
        xx, ww, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    fns = {name: jax.jit(jax.grad(lambda xx, ww, f=f: jnp.sum(f(xx, ww) * g), argnums=(0, 1)))
           for name, f in (('xla', conv), ('im2col', layers.conv_im2col_wgrad))}
    for fn in fns.values():
      jax.block_until_ready(fn(x, w))
    times = {name: [] for name in fns}
    for _ in range(args.reps):
      for name, fn in fns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x, w))
        times[name].append(time.perf_counter() - t0)
    m = {name: statistics.median(t) for name, t in times.items()}
    print(f'{shape} ({x.size * 4 / 2**20:.0f} MiB input): XLA {m["xla"]:.3f} s, im2col weight '
          f'gradient {m["im2col"]:.3f} s, speed-up {m["xla"] / m["im2col"]:.2f}x', flush=True)
  print(f'load at end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
