"""Streaming evaluation: resident memory as N grows, images/s, and the generator's share.

Generates --num images from a run's latest checkpoint and streams them through the Inception
network into FID statistics (mu and Sigma only: what `python -m jaxgan.tools.evaluate --nokid
--noprdc` keeps), printing the resident set size every 500 images. Both networks are compiled
first; the generator's share is the time of a generation-only pass over the same N images
(the host copies included) divided by the end-to-end time (JAX runs the two networks
asynchronously on the same cores, so timing the generator's calls inside the stream would
count waits on Inception work in flight); the rest is quantisation, Inception and statistics.

  python bench/evaluate_stream.py --workdir=RUN --num=2500
"""

import os
import resource
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # pylint: disable=g-import-not-at-top

import jaxgan
from jaxgan.metrics import fid
from jaxgan.tools import common

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training run\'s workdir.')
_NUM = flags.DEFINE_integer('num', 2500, 'Generated images.')
_BATCH = flags.DEFINE_integer('batch_size', 250, 'Images generated per call.')
_INCEPTION_BATCH = flags.DEFINE_integer('inception_batch_size', 50, 'Images per Inception pass.')


def _rss_mb() -> int:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmRSS'):
        return int(line.split()[1]) // 1024
  return -1


def main(argv):
  del argv
  warnings.simplefilter('ignore')   # < 2048 samples
  run = jaxgan.load_run(_WORKDIR.value)
  extractor = fid.get_extractor(batch_size=_INCEPTION_BATCH.value)
  num = _NUM.value
  # Compile both networks (and time nothing of it).
  warm = next(run.generate(_BATCH.value, batch_size=_BATCH.value))[0]
  extractor(fid.to_uint8(warm[:_INCEPTION_BATCH.value]))
  start = time.perf_counter()
  for _ in run.generate(num, batch_size=_BATCH.value):
    pass
  generation = time.perf_counter() - start

  def chunks():
    done = 0
    for x, _ in run.generate(num, batch_size=_BATCH.value):
      done += len(x)
      if done % 500 == 0 or done == num:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f'{done} images: RSS {_rss_mb()} MiB, peak {peak} MiB, '
              f'{time.perf_counter() - start:.0f} s', flush=True)
      yield x

  start = time.perf_counter()
  fid.compute_statistics(chunks(), extractor=extractor)
  total = time.perf_counter() - start
  share = 100 * generation / total
  print(f'N={num}: {total:.1f} s, {num / total:.2f} images/s end to end; generation alone '
        f'{generation:.1f} s ({share:.0f}%), the rest (Inception, quantisation, statistics) '
        f'{100 - share:.0f}%')


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  common.run(main)
