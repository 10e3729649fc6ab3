"""Orbax checkpoints of the GANState: save, keep the newest, restore the newest that restores.

A save is asynchronous (training goes on while it is written); the next save or `wait()`
first finishes it, so an error names the step whose save failed and whether an older complete
checkpoint is kept. A checkpoints path that is a file or not writable is refused before any
save starts: a save that fails inside orbax leaves its threads waiting minutes for a signal.

A checkpoint whose tree (names and shapes, read from its metadata) differs from the state being
restored is not read (the error names the first differing leaf and both shapes). A checkpoint
that fails to restore while an older one restores is damaged (a crash or a full
disk mid-write, a bad copy): it is moved to `damaged_checkpoints/` beside the checkpoint
folder (never deleted) and the run resumes from the older one, saying so in one line. When no
checkpoint restores, the checkpoints were most likely written by a different config, and the
error says what to do. An optimiser hyperparameter that became a schedule since the checkpoint
(a constant learning rate or Adam beta2 given a schedule, `config.optim.b2_schedule` turned on)
or stopped being one is not a different tree: the schedule's state (optax's count of the
optimiser's updates) is filled from the optimiser's own count, or dropped (`_across_schedules`).
"""

import logging as std_logging
import os
import re
import time
from typing import Any, Callable, NamedTuple, Optional

from absl import logging
import jax
import jax.numpy as jnp
import optax
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


# After a save fails, orbax's asyncio tasks are collected with their exceptions unread, each
# logging "Task exception was never retrieved" and a traceback: the error we raise says it.
def _not_orbax_task_noise(record: std_logging.LogRecord) -> bool:
  message = record.getMessage()
  return not ('never retrieved' in message and ('orbax' in message or 'OCDBT' in message or
                                                 'tensorstore' in message.lower()))


std_logging.getLogger('asyncio').addFilter(_not_orbax_task_noise)


# An asynchronous save that fails logs the error with a traceback from each of orbax's
# threads before `wait()` raises it as one sentence; the sentence is what the user sees.
def _not_orbax_thread_error(record: std_logging.LogRecord) -> bool:
  return not ('/orbax/' in record.pathname and 'raised an exception' in record.getMessage())


logging.get_absl_logger().addFilter(_not_orbax_thread_error)


# A hyperparameter schedule's state in an `optax.inject_hyperparams` optimiser's state.
_SCHEDULE_COUNT = re.compile(r'^(.*)\.hyperparams_states\.([^.]+)\.count$')


def _is_injected(node) -> bool:
  return isinstance(node, optax.InjectStatefulHyperparamsState)


def _is_count(state) -> bool:
  """A schedule state that is only a count of updates (optax's `WrappedScheduleState`, which
  optax does not export, of a plain schedule)."""
  return getattr(state, '_fields', None) == ('count',)


class _SavedCount(NamedTuple):
  """The layout of a schedule state the checkpoint holds and `target` lacks (read, dropped)."""
  count: Any


def _dotted(path) -> str:
  """A tree path as the checkpoint's metadata names it ('g_opt_state.inner_state.0')."""
  return '.'.join(str(getattr(k, 'name', getattr(k, 'key', getattr(k, 'idx', k))))
                  for k in path)


def _across_schedules(saved: Optional[dict], target):
  """(target in the checkpoint's layout, function from that layout's restored state to
  `target`'s) when the checkpoint's tree differs from `target`'s only in the schedule states
  of injected optimiser hyperparameters (optax's `hyperparams_states`: a hyperparameter that
  became a schedule, e.g. `config.optim.b2_schedule` or a learning-rate schedule turned on at
  a resume, or stopped being one); else None.

  Exact: optax's schedule state (`WrappedScheduleState`) counts the optimiser's updates from 0,
  as the optimiser's own `count` does, so a schedule turned on reads its value at the updates
  already made; a schedule turned off leaves a constant that needs no state. A schedule with
  state of its own (an `optax` stateful schedule) cannot be filled in: the tree differs."""
  if saved is None:
    return None
  wanted = ocp.tree.to_flat_dict(ocp.tree.serialize_tree(target, keep_empty_nodes=False),
                                 sep='.')
  differ = set(saved) ^ set(wanted)
  if not differ or not all(_SCHEDULE_COUNT.match(n) for n in differ):
    return None
  schedules: dict[str, set] = {}
  for name in saved:
    found = _SCHEDULE_COUNT.match(name)
    if found:
      schedules.setdefault(found.group(1), set()).add(found.group(2))

  unfillable = []

  def to_saved(path, node):
    if not _is_injected(node):
      return node
    held = schedules.get(_dotted(path), set())
    states = {k: v for k, v in node.hyperparams_states.items() if k in held}
    for name in held - set(states):
      states[name] = _SavedCount(count=jnp.zeros([], jnp.int32))
    unfillable.extend(k for k, v in node.hyperparams_states.items()
                      if k not in held and not _is_count(v))
    return node._replace(hyperparams_states=states)

  layout = jax.tree_util.tree_map_with_path(to_saved, target, is_leaf=_is_injected)
  if unfillable:
    return None

  def to_target(restored):
    def back(node, got):
      if not _is_injected(node):
        return got
      states = {k: (got.hyperparams_states[k] if k in got.hyperparams_states
                    else v._replace(count=got.count.copy()))
                for k, v in node.hyperparams_states.items()}
      return got._replace(hyperparams_states=states)
    logging.info('The optimiser hyperparameter schedules differ from the checkpoint\'s; each '
                 'new schedule starts at the updates already made.')
    return jax.tree.map(back, target, restored, is_leaf=_is_injected)

  return layout, to_target


def _shape(leaf) -> Optional[tuple[int, ...]]:
  shape = getattr(leaf, 'shape', None)
  return None if shape is None else tuple(shape)


class Checkpointer:
  """Saves on demand, keeps the newest `keep`, restores the newest restorable checkpoint."""

  def __init__(self, directory: str, keep: int = 3, *, damaged_dir: Optional[str] = None,
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    self.keep = keep
    self.damaged_dir = damaged_dir or os.path.join(os.path.dirname(self.directory),
                                                   'damaged_checkpoints')
    self._read_only = read_only
    self._pending: Optional[int] = None   # the step whose save is in flight
    self.manager = self._manager()
    # The newest checkpoint known to be complete (restore_latest and wait() update it).
    self.last_complete: Optional[int] = self.manager.latest_step()

  def _check_writable(self) -> None:
    """CheckpointError unless the checkpoints folder is (or can be made as) a writable folder."""
    folder = self.directory
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
      folder = os.path.dirname(folder)   # the nearest existing folder is where it is created
    if not os.path.isdir(folder):
      raise errors.CheckpointError(
          f'{folder} is a file where the checkpoints folder {self.directory} must be; move it '
          f'away or pass another --workdir.')
    if not os.access(folder, os.W_OK | os.X_OK):
      raise errors.CheckpointError(
          f'{folder} is not writable, so no checkpoint can be saved in {self.directory}; make '
          f'it writable or pass another --workdir.')

  def _manager(self) -> ocp.CheckpointManager:
    if not self._read_only:
      self._check_writable()
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
    """Starts an asynchronous save of `state` at `step` (a no-op if that step exists), after
    finishing the save in flight (whose failure raises here, naming its step)."""
    if self._pending is not None:
      self.wait()
    if step in self.manager.all_steps():
      return
    self._check_writable()   # orbax would wait minutes on a folder it cannot create
    if jax.process_count() > 1:
      # pmap returns the unmapped state as per-process arrays; orbax writes global ones.
      state = jax.tree.map(ocp.utils.fully_replicated_host_local_array_to_global_array, state)
    self._pending = step
    try:
      self._guard(lambda: self.manager.save(step, args=ocp.args.StandardSave(state)),
                  f'saving the checkpoint of step {step}')
    except errors.CheckpointError:
      self._pending = None
      raise

  def wait(self) -> None:
    """Waits for the save in flight; a failed save raises CheckpointError (one sentence)."""
    step, self._pending = self._pending, None
    what = 'writing a checkpoint' if step is None else f'saving the checkpoint of step {step}'
    self._guard(self.manager.wait_until_finished, what)
    if step is not None:
      self.last_complete = step

  def _kept(self) -> str:
    if self.last_complete is None:
      return 'no complete checkpoint was saved before it'
    return 'the last complete checkpoint is kept'

  def _guard(self, fn: Callable[[], Any], what: str) -> Any:
    try:
      with _Quiet():
        return fn()
    except OSError as e:
      raise errors.CheckpointError(errors.os_error_message(e, f'{what} in {self.directory}')) from e
    except Exception as e:  # pylint: disable=broad-except
      # Orbax wraps I/O errors (e.g. tensorstore's RESOURCE_EXHAUSTED on a full disk, or
      # OUT_OF_RANGE "File too large" past a file-size limit).
      text = str(e)
      if 'RESOURCE_EXHAUSTED' in text or 'No space left' in text:
        raise errors.CheckpointError(
            f'{what} in {self.directory} failed: the disk is full; free space, then rerun '
            f'({self._kept()}).') from e
      if 'File too large' in text:
        raise errors.CheckpointError(
            f'{what} in {self.directory} failed: a file exceeds the file-size limit (ulimit '
            f'-f) or the file system\'s; raise the limit, then rerun ({self._kept()}).') from e
      raise errors.CheckpointError(f'{what} in {self.directory} failed ({_first_line(e)}); '
                                   f'check the disk and permissions, then rerun '
                                   f'({self._kept()}).') from e

  def _saved(self, step: int) -> Optional[dict]:
    """{dotted leaf name: metadata} of the checkpoint at `step`; None when its metadata is
    unreadable (a damaged checkpoint, which `restore` reports)."""
    try:
      with _Quiet(), ocp.StandardCheckpointer() as reader:
        tree = reader.metadata(os.path.join(self.directory, str(step), 'default')).item_metadata
      return ocp.tree.to_flat_dict(getattr(tree, 'tree', tree), sep='.')
    except Exception:  # pylint: disable=broad-except
      return None

  def difference(self, target, step: int, fields=None) -> Optional[str]:
    """How the checkpoint at `step` differs from `target` (its `fields` only, if given): the
    first leaf (parameters first) missing on one side or of another shape, as a phrase; None
    when the trees agree or the checkpoint's metadata is unreadable (a damaged checkpoint,
    which `restore` reports)."""
    saved = self._saved(step)
    if saved is None:
      return None
    if fields is not None:
      target = {k: getattr(target, k) for k in fields}
    wanted = ocp.tree.to_flat_dict(ocp.tree.serialize_tree(target, keep_empty_nodes=False),
                                   sep='.')
    if fields is not None:
      saved = {k: v for k, v in saved.items() if k.split('.')[0] in fields}
    names = list(wanted) + [k for k in saved if k not in wanted]
    names.sort(key=lambda k: not k.startswith(('g_params.', 'd_params.')))   # stable
    for name in names:
      if name not in saved:
        return f'{name} {_shape(wanted[name])} is not in the checkpoint'
      if name not in wanted:
        return f'the checkpoint holds {name} {_shape(saved[name])}, which this state lacks'
      if _shape(saved[name]) != _shape(wanted[name]):
        return (f'{name} is {_shape(saved[name])} in the checkpoint and '
                f'{_shape(wanted[name])} here')
    return None

  # The EMA's fields, each with the field a missing one starts from.
  EMA_FIELDS = {'ema_params': 'g_params', 'ema_state': 'g_state'}

  def _ema_mismatch(self, target, step: int) -> Optional[dict]:
    """{EMA field: 'drop' or 'fill'} for each of `EMA_FIELDS` where the checkpoint at `step`
    and `target` disagree, or None where they agree. 'drop': the checkpoint holds a generator
    EMA (or an EMA of its state) that `target` does not keep (jaxgan <= 0.2.0 saved one in
    every run, a copy of the generator when EMA was off; or EMA was turned off on resume);
    'fill': `target` keeps one the checkpoint lacks (EMA, or its averaging of the state,
    turned on on resume; or a checkpoint from before `EMA(state='average')`): it starts from
    the restored generator (its params, its state), as the EMA does at step 0."""
    saved = self._saved(step)
    if not saved:
      return None
    found = {}
    for field in self.EMA_FIELDS:
      if not hasattr(target, field):
        continue
      has = any(k.split('.')[0] == field for k in saved)
      keeps = getattr(target, field) is not None
      if has and not keeps:
        found[field] = 'drop'
      elif keeps and not has:
        # An EMA of a state without leaves ({}) is not saved: nothing is missing.
        if jax.tree.leaves(getattr(target, field)):
          found[field] = 'fill'
    return found or None

  def _restore_without_ema(self, target, step: int, fields, mismatch: dict, what: str):
    """`fields` of the checkpoint at `step` but the mismatched EMA fields, onto `target`
    (`_ema_mismatch`)."""
    fields = tuple(k for k in fields if k not in mismatch)
    difference = self.difference(target, step, fields)
    if difference is not None:
      return None, difference
    try:
      values = self._restore_fields(target, step, fields)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.CheckpointError(
          f'{what} {os.path.join(self.directory, str(step))} cannot be restored '
          f'({_first_line(e)})') from e
    for field, what_to_do in mismatch.items():
      if what_to_do == 'fill':
        source = self.EMA_FIELDS[field]
        values[field] = jax.tree.map(lambda x: x.copy(), values[source])
        logging.info('The checkpoint of step %d holds no %s; the EMA starts from the '
                     'generator\'s %s.', step, field, source)
      else:
        values[field] = None
    return values, None

  def restore(self, target, step: int):
    """The checkpoint at `step` restored onto `target`'s structure (CheckpointError if not).

    A generator EMA (of params or state) the checkpoint holds but `target` does not keep is
    left out (checkpoints of jaxgan <= 0.2.0 hold one in every run); one `target` keeps but
    the checkpoint lacks starts as a copy of the restored generator's params or state. Optimiser hyperparameters that became or
    stopped being schedules are restored as `_across_schedules` says."""
    across = _across_schedules(self._saved(step), target)
    if across is not None:
      to_saved, to_target = across
      return to_target(self.restore(to_saved, step))
    mismatch = self._ema_mismatch(target, step)
    if mismatch is not None:
      values, difference = self._restore_without_ema(
          target, step, tuple(target.__dataclass_fields__), mismatch, 'the checkpoint')
      if values is not None:
        return target.replace(**values)
    else:
      difference = self.difference(target, step)
    if difference is not None:
      # Not handed to orbax: its failed reads end in pages of asyncio noise.
      raise errors.CheckpointError(
          f'the checkpoint {os.path.join(self.directory, str(step))} does not fit this state '
          f'({difference})')
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      with _Quiet():
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except
      raise errors.CheckpointError(
          f'the checkpoint {os.path.join(self.directory, str(step))} cannot be restored '
          f'({_first_line(e)})') from e

  GENERATOR_FIELDS = ('step', 'g_params', 'ema_params', 'g_state', 'ema_state', 'rng')

  def restore_generator(self, target, step: int):
    """Only the fields a sampler needs (`GENERATOR_FIELDS`) of the checkpoint at `step`, onto
    `target`'s; the other fields of the result are None. For a run whose discriminator,
    optimisers or loss state differ from what `target` was built with."""
    mismatch = self._ema_mismatch(target, step)
    difference = values = None
    if mismatch is not None:
      values, difference = self._restore_without_ema(
          target, step, self.GENERATOR_FIELDS, mismatch, 'the generator of checkpoint')
    else:
      difference = self.difference(target, step, self.GENERATOR_FIELDS)
    if difference is not None:
      raise errors.CheckpointError(
          f'the generator of checkpoint {os.path.join(self.directory, str(step))} is not the '
          f'config\'s ({difference}): pass the experiment that trained it (load_run\'s '
          f'experiment=).')
    if values is None:
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
      self.last_complete = None
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
      self.last_complete = step
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
    """Closes the manager. Call `wait()` first: a failed save it reports is the error to see,
    so the same failure raised again while closing (orbax waits once more) is dropped."""
    try:
      with _Quiet():
        self.manager.close()
    except Exception:  # pylint: disable=broad-except
      pass
