"""Orbax checkpoints of the GANState: save, keep the newest, restore the newest that restores.

A checkpoint that fails to restore while an older one restores is damaged (a crash or a full
disk mid-write, a bad copy): it is moved to `damaged_checkpoints/` beside the checkpoint
folder (never deleted) and the run resumes from the older one, saying so in one line. When no
checkpoint restores, the checkpoints were most likely written by a different config, and the
error says what to do.
"""

import logging as std_logging
import os
import time
from typing import Any, Callable, Optional

from absl import logging
import jax
import orbax.checkpoint as ocp

from jaxgan import errors


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0][:300] if text else type(e).__name__


class _Quiet:
  """Silences Python logging below CRITICAL while orbax reads files that may be damaged
  (orbax and asyncio log every failed read with its traceback; the error we raise says it)."""

  def __enter__(self):
    self._previous = std_logging.root.manager.disable
    std_logging.disable(std_logging.ERROR)

  def __exit__(self, *exc):
    std_logging.disable(self._previous)


class Checkpointer:
  """Saves on demand, keeps the newest `keep`, restores the newest restorable checkpoint."""

  def __init__(self, directory: str, keep: int = 3, *, damaged_dir: Optional[str] = None,
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    self.keep = keep
    self.damaged_dir = damaged_dir or os.path.join(os.path.dirname(self.directory),
                                                   'damaged_checkpoints')
    self._read_only = read_only
    self.manager = self._manager()

  def _manager(self) -> ocp.CheckpointManager:
    if self._read_only:
      options = ocp.CheckpointManagerOptions(read_only=True, create=False, max_to_keep=None,
                                             save_interval_steps=0)
    else:
      options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True)
    try:
      with _Quiet():   # read-only managers warn that they are read-only
        return ocp.CheckpointManager(self.directory, options=options)
    except OSError as e:
      raise errors.CheckpointError(
          errors.os_error_message(e, f'opening the checkpoints in {self.directory}')) from e

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def save(self, step: int, state) -> None:
    """Starts an asynchronous save of `state` at `step` (a no-op if that step exists)."""
    if step in self.manager.all_steps():
      return
    if jax.process_count() > 1:
      # pmap returns the unmapped state as per-process arrays; orbax writes global ones.
      state = jax.tree.map(ocp.utils.fully_replicated_host_local_array_to_global_array, state)
    self._guard(lambda: self.manager.save(step, args=ocp.args.StandardSave(state)),
                f'saving the checkpoint of step {step}')

  def wait(self) -> None:
    """Waits for the save in flight; a failed save raises CheckpointError (one sentence)."""
    self._guard(self.manager.wait_until_finished, 'writing a checkpoint')

  def _guard(self, fn: Callable[[], Any], what: str) -> Any:
    try:
      with _Quiet():
        return fn()
    except OSError as e:
      raise errors.CheckpointError(errors.os_error_message(e, f'{what} in {self.directory}')) from e
    except Exception as e:  # pylint: disable=broad-except
      # Orbax wraps I/O errors (e.g. tensorstore's RESOURCE_EXHAUSTED on a full disk).
      text = str(e)
      if 'RESOURCE_EXHAUSTED' in text or 'No space left' in text:
        raise errors.CheckpointError(
            f'{what} in {self.directory} failed: the disk is full; free space, then rerun '
            f'(the last complete checkpoint is kept).') from e
      raise errors.CheckpointError(f'{what} in {self.directory} failed ({_first_line(e)}); '
                                   f'check the disk and permissions, then rerun.') from e

  def restore(self, target, step: int):
    """The checkpoint at `step` restored onto `target`'s structure (CheckpointError if not)."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      with _Quiet():
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except
      raise errors.CheckpointError(
          f'the checkpoint {os.path.join(self.directory, str(step))} cannot be restored '
          f'({_first_line(e)})') from e

  GENERATOR_FIELDS = ('step', 'g_params', 'ema_params', 'g_state', 'rng')

  def restore_generator(self, target, step: int):
    """Only the fields a sampler needs (`GENERATOR_FIELDS`) of the checkpoint at `step`, onto
    `target`'s; the other fields of the result are None. For a run whose discriminator,
    optimisers or loss state differ from what `target` was built with."""
    try:
      values = self._restore_fields(target, step, self.GENERATOR_FIELDS)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.CheckpointError(
          f'the generator of checkpoint {os.path.join(self.directory, str(step))} cannot be '
          f'restored ({_first_line(e)}); it was written by another generator than the '
          f'config\'s: pass the experiment that trained it.') from e
    others = {k: None for k in target.__dataclass_fields__ if k not in values}
    return target.replace(**values, **others)

  def _restore_fields(self, target, step: int, fields) -> dict:
    """{field: value} of `fields` of the checkpoint at `step`, onto `target`'s (a partial
    restore: the checkpoint may hold other fields)."""
    part = {k: jax.tree.map(ocp.utils.to_shape_dtype_struct, getattr(target, k))
            for k in fields}
    args = ocp.args.PyTreeRestore(
        item=part, restore_args=ocp.checkpoint_utils.construct_restore_args(part),
        partial_restore=True)
    # A manager of its own: one that restored with StandardRestore keeps that handler.
    with _Quiet():
      manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
          read_only=True, create=False, max_to_keep=None, save_interval_steps=0))
    try:
      with _Quiet():
        return dict(manager.restore(step, args=args))
    finally:
      manager.close()

  def restore_latest(self, target) -> tuple[Any, Optional[int]]:
    """(state, step) of the newest checkpoint that restores onto `target`; (target, None)
    when there is none. Newer ones that fail while an older one restores are set aside."""
    steps = self.all_steps()
    if not steps:
      return target, None
    failures = []
    for step in reversed(steps):
      try:
        state = self.restore(target, step)
      except errors.CheckpointError as e:
        failures.append((step, e))
        continue
      if failures:
        self._set_aside([s for s, _ in failures])
        where = 'left in place' if self._read_only else f'moved to {self.damaged_dir}'
        logging.warning('Checkpoint(s) %s failed to restore (%s); %s. Using step %d.',
                        ', '.join(str(s) for s, _ in failures),
                        _first_line(failures[0][1].__cause__ or failures[0][1]), where, step)
      return state, step
    step, error = failures[0]
    raise errors.CheckpointError(
        f'{error}; none of the checkpoints {", ".join(map(str, steps))} restores, so they were '
        f'most likely written by a different config: rerun with the config saved in the '
        f'workdir (config.json) or pass a new --workdir; if they are damaged, move the '
        f'checkpoints folder away to start afresh.') from error.__cause__

  def _set_aside(self, steps: list[int]) -> None:
    if jax.process_index() != 0 or self._read_only:
      return
    os.makedirs(self.damaged_dir, exist_ok=True)
    stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime())
    for step in steps:
      src = os.path.join(self.directory, str(step))
      if os.path.exists(src):
        os.replace(src, os.path.join(self.damaged_dir, f'{step}-{stamp}'))
    self.manager.close()
    self.manager = self._manager()

  def close(self) -> None:
    self.manager.close()
