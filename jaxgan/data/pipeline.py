"""How batches reach the devices: a step's `Layout`, the `Source` protocol, and `iterate`,
which builds host batches in a thread and stages them on the devices ahead of the step."""

import dataclasses
import queue
import threading
from typing import Iterator, Optional, Protocol

import jax
import numpy as np

from jaxgan import errors

# ---------------------------------------------------------------------------------------------
# How a step's examples are split.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Layout:
  """One step's examples: `d_steps` global batches of `batch_size` for the critic updates,
  and with `g_batch` one more for the generator update (the real images a relativistic
  generator loss reads, `Loop.g_real_batch='own'`; last on the batch axis), split over
  processes and their devices. `split` turns the global (num_batches, batch_size, ...)
  arrays into this process's (local_devices, num_batches, per_device, ...) slice."""
  batch_size: int
  d_steps: int = 1
  process_index: int = 0
  process_count: int = 1
  local_devices: int = 1
  g_batch: bool = False

  def __post_init__(self):
    devices = self.process_count * self.local_devices
    if self.batch_size % devices:
      raise errors.ConfigError(
          f'config.train.batch_size={self.batch_size} must be divisible by the number of '
          f'devices ({devices}); pick a multiple of it.')

  @classmethod
  def for_devices(cls, batch_size: int, d_steps: int, devices: Optional[list] = None, *,
                  g_batch: bool = False) -> 'Layout':
    """The layout of this process over `devices` (default: all devices of all processes)."""
    devices = devices or jax.devices()
    local = [d for d in devices if d.process_index == jax.process_index()]
    return cls(batch_size=batch_size, d_steps=d_steps, process_index=jax.process_index(),
               process_count=len({d.process_index for d in devices}),
               local_devices=len(local), g_batch=bool(g_batch))

  @property
  def per_device(self) -> int:
    return self.batch_size // (self.process_count * self.local_devices)

  @property
  def num_batches(self) -> int:
    """Global batches per step: the critic updates' and, with `g_batch`, the generator's."""
    return self.d_steps + int(self.g_batch)

  @property
  def examples_per_step(self) -> int:
    return self.num_batches * self.batch_size

  def split(self, x: np.ndarray) -> np.ndarray:
    """(num_batches, batch_size, ...) global -> this process's (local_devices, num_batches,
    b, ...)."""
    shape = (self.num_batches, self.process_count, self.local_devices, self.per_device)
    x = np.asarray(x).reshape(shape + x.shape[2:])[:, self.process_index]
    return np.ascontiguousarray(np.moveaxis(x, 1, 0))


class Source(Protocol):
  """What the training loop needs of a data source. Optional: `reference_images(num, *,
  seed, chunk)` and `identity()` (what FID compares with and caches under; see
  IndexedSource), `describe()` (what run_info.json records), `sample_view` (how its samples
  are shown and saved; see `views.sample_view`)."""
  example_shape: tuple[int, ...]   # one example: (H, W, C) images or (2,) points
  num_classes: int                 # label range (0: unlabelled; labels are then zeros)

  def prepare(self) -> None:
    """Loads or checks the data (a missing dataset fails here, before anything compiles)."""

  def batch(self, step: int, layout: Layout) -> dict[str, np.ndarray]:
    """This process's batch of `step` (shapes in the `jaxgan.data` docstring)."""


# ---------------------------------------------------------------------------------------------
# Batches on the devices.
# ---------------------------------------------------------------------------------------------

def _check_batches(item, layout: Layout) -> None:
  """DatasetError when a source's batch holds another number of global batches than the
  layout asks for (a source of your own that reads `d_steps` but not `num_batches`)."""
  images = item['image'] if isinstance(item, dict) else item
  shape = np.shape(images)
  if len(shape) < 2 or shape[1] != layout.num_batches:
    which = ("the critic updates' and the generator's" if layout.g_batch
             else "the critic updates'")
    raise errors.DatasetError(
        f'the data source returned a batch of shape {shape}; the step takes (local_devices, '
        f'{layout.num_batches}, ...), layout.num_batches global batches ({which}): build it '
        f'with layout.split.')


def iterate(source: Source, layout: Layout, start_step: int, sharding, *,
            prefetch: int = 2) -> Iterator:
  """Device-resident batches for steps start_step, start_step + 1, ...

  A background thread builds host batches; `prefetch` batches are staged on the devices
  ahead of the step (device_put is asynchronous). `sharding` shards the leading (device)
  axis; across processes the local arrays form one global array. An error in the thread is
  raised here, at the step that needed the batch.
  """
  host_q: queue.Queue = queue.Queue(maxsize=prefetch + 1)
  stop = threading.Event()

  def producer():
    step = start_step
    while not stop.is_set():
      try:
        item = source.batch(step, layout)
        _check_batches(item, layout)
      except Exception as e:  # pylint: disable=broad-except
        host_q.put(e)
        return
      while not stop.is_set():
        try:
          host_q.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  thread = threading.Thread(target=producer, daemon=True)
  thread.start()

  def to_device(item):
    if isinstance(item, Exception):
      raise item
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), item)

  staged = []
  try:
    while True:
      while len(staged) < max(prefetch, 1):
        staged.append(to_device(host_q.get()))
      yield staged.pop(0)
  finally:
    stop.set()
