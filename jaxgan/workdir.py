"""What a training run's workdir holds, by name: the one place that knows the layout.

  workdir/
    checkpoints/<step>/        orbax checkpoints of the whole GANState
    best_fid/<step>/           the state with the best evaluation metric
    damaged_checkpoints/       checkpoints that failed to restore, set aside (never deleted)
    samples/step_XXXXXXX.png   sample grids; samples/best_fid.png
    attention/step_XXXXXXX.png SAGAN attention figures
    events.out.tfevents.*      TensorBoard scalars and images
    metrics.jsonl              the same scalars, one JSON object per line
    config.json, run_info.json the resolved config; versions, devices, parameter counts, parts
    best_fid.json              metric, step, value and protocol of the best evaluation
    .lock                      held by the process training in this workdir
"""

import dataclasses
import json
import os
from typing import Any

from jaxgan import errors


@dataclasses.dataclass(frozen=True)
class Paths:
  """Absolute paths of everything inside one workdir."""
  root: str

  @classmethod
  def of(cls, workdir: str) -> 'Paths':
    return cls(os.path.abspath(workdir))

  def _join(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def checkpoints(self) -> str:
    return self._join('checkpoints')

  @property
  def best_checkpoints(self) -> str:
    return self._join('best_fid')

  @property
  def damaged_checkpoints(self) -> str:
    return self._join('damaged_checkpoints')

  @property
  def samples(self) -> str:
    return self._join('samples')

  def sample_grid(self, step: int) -> str:
    return self._join('samples', f'step_{step:07d}.png')

  @property
  def best_samples(self) -> str:
    return self._join('samples', 'best_fid.png')

  def attention(self, step: int) -> str:
    return self._join('attention', f'step_{step:07d}.png')

  @property
  def attention_dir(self) -> str:
    return self._join('attention')

  @property
  def metrics(self) -> str:
    return self._join('metrics.jsonl')

  @property
  def config(self) -> str:
    return self._join('config.json')

  @property
  def run_info(self) -> str:
    return self._join('run_info.json')

  @property
  def best_json(self) -> str:
    return self._join('best_fid.json')

  @property
  def lock(self) -> str:
    return self._join('.lock')


def write_text(path: str, text: str) -> None:
  """Writes `text` atomically (a temporary file renamed over `path`): a reader or a crash
  never sees half a file, and a failed write leaves the old file as it was."""
  tmp = f'{path}.tmp-{os.getpid()}'
  try:
    with open(tmp, 'w') as f:
      f.write(text)
    os.replace(tmp, path)
  except OSError:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, value: Any) -> None:
  write_text(path, json.dumps(value, indent=2, default=str) + '\n')


def make(root: str, flag: str = '--workdir') -> None:
  """Creates the folder `root` (given as `flag`), or says in one sentence why it cannot."""
  if os.path.exists(root) and not os.path.isdir(root):
    raise errors.WorkdirError(f'{flag}={root} is a file; pass a folder (it is created if '
                              f'missing).')
  try:
    os.makedirs(root, exist_ok=True)
  except OSError as e:
    raise errors.WorkdirError(errors.os_error_message(e, f'creating {flag}={root}')) from e
  if not os.access(root, os.W_OK | os.X_OK):
    raise errors.WorkdirError(f'{flag}={root} is not writable; make it writable or pass '
                              f'another {flag}.')


class Lock:
  """An exclusive lock on a folder's .lock file: two runs writing one folder corrupt each
  other, so the second one stops with a one-line error instead."""

  def __init__(self, path: str, what: str):
    import fcntl  # pylint: disable=g-import-not-at-top
    self.path = path
    try:
      self._file = open(path, 'w')
    except OSError as e:
      raise errors.WorkdirError(errors.os_error_message(e, f'creating the lock {path}')) from e
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self._file.close()
      raise errors.WorkdirBusy(
          f'another jaxgan process is {what} in {os.path.dirname(path)} (it holds {path}); '
          f'wait for it to finish or stop it, or use another folder.') from None

  def release(self) -> None:
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()
