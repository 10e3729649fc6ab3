"""Orbax checkpoints of the GANState in `workdir/checkpoints` (and the best-FID one)."""

import os
from typing import Optional

import jax
import orbax.checkpoint as ocp

from jaxgan import errors

SUBDIR = 'checkpoints'
BEST_SUBDIR = 'best_fid'   # the lowest-FID state, kept by the evaluation during training


class Checkpointer:
  """Saves every `every` steps and on demand, keeps the newest `keep`, restores the latest."""

  def __init__(self, workdir: str, keep: int = 3, subdir: str = SUBDIR):
    self.directory = os.path.abspath(os.path.join(workdir, subdir))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def save(self, step: int, state) -> None:
    if step in self.manager.all_steps():
      return
    if jax.process_count() > 1:
      # pmap returns the unmapped state as per-process arrays; orbax writes global ones.
      state = jax.tree.map(ocp.utils.fully_replicated_host_local_array_to_global_array, state)
    self.manager.save(step, args=ocp.args.StandardSave(state))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def restore(self, target, step: Optional[int] = None):
    """The checkpoint at `step` (default: the latest) restored onto `target`'s structure."""
    step = self.manager.latest_step() if step is None else step
    if step is None:
      raise errors.CheckpointError(f'no checkpoint in {self.directory}; train first.')
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except
      msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
      raise errors.CheckpointError(
          f'the checkpoint {os.path.join(self.directory, str(step))} cannot be restored '
          f'({msg}); if it was written by a different config, rerun with the config saved in '
          f'the workdir (config.json) or a new --workdir, and if it is damaged, move that step '
          f'folder away to resume from the previous checkpoint.') from e

  def close(self) -> None:
    self.manager.close()
