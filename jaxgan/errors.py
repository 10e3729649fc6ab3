"""Errors a user can cause, each explained in one sentence that says what to do."""


class JaxganError(Exception):
  """Base class of the errors jaxgan raises for user-fixable problems."""


class ConfigError(JaxganError, ValueError):
  """A config value is unknown, out of range or inconsistent with another."""


class DatasetError(JaxganError):
  """A dataset is missing or unreadable."""


class CheckpointError(JaxganError):
  """A checkpoint cannot be restored or written."""


class ConfigMismatch(CheckpointError, ConfigError):
  """A workdir's checkpoints were trained with another data, model or loss than the config's."""


class TrainingDiverged(JaxganError):
  """A loss or a parameter became NaN or infinite."""


class WorkdirBusy(JaxganError):
  """Another training process is using the workdir (or study directory)."""


class WorkdirError(JaxganError):
  """The workdir cannot be created or written (a file, read-only, full disk, ...)."""


class Preempted(JaxganError):
  """SIGTERM or Ctrl-C (SIGINT) arrived: a checkpoint was saved and the run stopped.

  Not a failure of the run: rerunning the same command resumes it. Command-line tools exit
  with `exit_code`, 128 + the signal: 143 after SIGTERM, so that schedulers see a preempted,
  unfinished job, and 130 after Ctrl-C.
  """
  exit_code = 143


def check_arg(name: str, value, allowed) -> None:
  """Raises ConfigError naming `name` and the allowed values if `value` is not one of them."""
  allowed = list(allowed)
  if value not in allowed:
    raise ConfigError(
        f'{name}={value!r} is not supported; choose one of '
        f'{", ".join(repr(a) for a in allowed)}.')


def check_choice(key: str, value, allowed) -> None:
  """check_arg for the config key `key` ('data.dataset' -> 'config.data.dataset=...')."""
  check_arg(f'config.{key}', value, allowed)


def os_error_message(e: OSError, what: str) -> str:
  """One sentence for an OSError while doing `what` (e.g. 'writing runs/x/checkpoints')."""
  import errno  # pylint: disable=g-import-not-at-top
  reason = e.strerror or str(e) or type(e).__name__
  where = f' ({e.filename})' if getattr(e, 'filename', None) else ''
  advice = {
      errno.ENOSPC: 'free disk space, then rerun (nothing already saved is lost)',
      errno.EACCES: 'make it writable or choose another path',
      errno.EROFS: 'choose a path on a writable file system',
      errno.ENOTDIR: 'a file stands where a folder is needed; choose another path',
      errno.EEXIST: 'a file stands where a folder is needed; choose another path',
      errno.EDQUOT: 'free space within your disk quota, then rerun',
  }.get(e.errno, 'fix the path or its permissions, then rerun')
  return f'{what} failed: {reason}{where}; {advice}.'
