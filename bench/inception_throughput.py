"""Inception feature-extraction throughput: jaxgan (Flax, XLA) vs the TorchScript reference.

Both networks get the same preprocessed (N, 299, 299, 3) batch (NCHW for torch) on the same CPU;
each timing is one forward pass of one batch, after warm-up (JAX compilation, TorchScript
profiling runs), and the median over repetitions is reported as images/s with the ratio.

  python bench/inception_throughput.py --batch_size=16 --torch_threads=2 [--xla_defaults]

Needs torch (requirements-dev.txt) and default_1.pt (fetched into the jaxgan cache if absent).
Set XLA_FLAGS before starting to try XLA CPU options.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import jax
import numpy as np

from jaxgan.metrics import inception
from jaxgan.metrics import torch_weights

_BATCH = flags.DEFINE_integer('batch_size', 16, 'Images per forward pass.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed passes per network.')
_REPS = flags.DEFINE_integer('reps', 5, 'Timed passes per network (median reported).')
_THREADS = flags.DEFINE_integer('torch_threads', 2, 'torch.set_num_threads for the reference.')
_ONLY = flags.DEFINE_enum('only', 'both', ['both', 'jax', 'torch'], 'Which network to time.')
_XLA_DEFAULTS = flags.DEFINE_boolean(
    'xla_defaults', False, 'Also time jaxgan compiled with XLA\'s default options instead of '
    'inception.cpu_compiler_options().')


def main(argv):
  del argv
  n = _BATCH.value
  rng = np.random.default_rng(0)
  x = ((rng.integers(0, 256, (n, 299, 299, 3)).astype(np.float32) - 128) / 128)
  print(f'devices: {jax.devices()}; XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}; '
        f'batch {n}, warm-up {_WARMUP.value}, reps {_REPS.value} (interleaved)', flush=True)
  fns = {}
  if _ONLY.value in ('both', 'jax'):
    variables = torch_weights.load_variables()
    extractor = inception.FeatureExtractor(variables, batch_size=n)
    fns['jaxgan'] = lambda: extractor(x)['pool3']
    if _XLA_DEFAULTS.value:
      plain = inception.FeatureExtractor(variables, batch_size=n, compiler_options={})
      fns['jaxgan (XLA default options)'] = lambda: plain(x)['pool3']
  if _ONLY.value in ('both', 'torch'):
    import torch  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(_THREADS.value)
    net = torch.jit.load(torch_weights.default_1_path(), map_location='cpu').eval()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    def torch_fn():
      with torch.inference_mode():
        return net(xt).numpy()
    fns[f'torchscript ({_THREADS.value} threads)'] = torch_fn

  for fn in fns.values():
    for _ in range(_WARMUP.value):
      fn()
  # Interleaved repetitions, so that load from other processes hits both networks alike.
  times = {name: [] for name in fns}
  for _ in range(_REPS.value):
    for name, fn in fns.items():
      t = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - t)

  rates = {}
  for name, ts in times.items():
    med = statistics.median(ts)
    rates[name] = n / med
    print(f'{name:28s} median {med:7.3f} s/batch  {n / med:7.3f} images/s  '
          f'(times: {", ".join(f"{t:.2f}" for t in ts)})')
  torch_name = next((k for k in rates if k.startswith('torchscript')), None)
  for name in rates:
    if torch_name and name != torch_name:
      pair = statistics.median(t / j for j, t in zip(times[name], times[torch_name]))
      print(f'ratio {name} / torchscript: {rates[name] / rates[torch_name]:.2f}x '
            f'(median of per-repetition ratios {pair:.2f}x)')


if __name__ == '__main__':
  app.run(main)
