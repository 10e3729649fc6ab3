"""A process that trains many runs keeps its memory flat: each experiment owns its compiled
steps, and they are freed with it (no module-global cache, no jax.clear_caches())."""

import gc

import pytest

import jaxgan
from tests.util import tiny_config


def _resident_mb() -> float:
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * 4096 / 2**20


def _memory_maps() -> int:
  with open('/proc/self/maps') as f:
    return sum(1 for _ in f)


@pytest.mark.slow
def test_ten_runs_in_one_process_keep_memory_flat(tmp_path):
  """Ten runs, each its own experiment (a new seed, so nothing is shared by accident).

  The first three runs warm up (allocator pools, imports, checkpointing's caches); the next
  seven may add at most 6 memory maps and 4 MB each on average. Measured (8 fake CPU devices,
  these tiny MLP runs): with `steps.TrainStep` owning its compiled step (a jit of a
  shard_map), runs 3 to 10 added -2 maps and 8 MB in all (6 December 2026, under load); with
  jax.pmap and an eviction of its cache through jax._src (before), 1 map and 6 MB the same
  hour, and 2 maps and 13 MB when first measured; with jax.pmap alone (every pmapped step's
  executables live as long as the process), 2,409 maps and 102 MB."""
  readings = []
  for i in range(10):
    config = tiny_config('ring', **{'train.num_steps': 2, 'train.checkpoint_every': 2,
                                    'log.samples_every': 0, 'train.seed': i})
    jaxgan.train(config, str(tmp_path / f'run{i}'))
    gc.collect()
    readings.append((_resident_mb(), _memory_maps()))
  (mb_3, maps_3), (mb_10, maps_10) = readings[2], readings[9]
  assert maps_10 - maps_3 <= 7 * 6, readings
  assert mb_10 - mb_3 <= 7 * 4.0, readings
