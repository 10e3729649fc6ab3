"""Errors a user can cause, each explained in one sentence that says what to do."""


class JaxganError(Exception):
  """Base class of the errors jaxgan raises for user-fixable problems."""


class ConfigError(JaxganError, ValueError):
  """A config value is unknown, out of range or inconsistent with another."""


class DatasetError(JaxganError):
  """A dataset is missing or unreadable."""


class CheckpointError(JaxganError):
  """A checkpoint cannot be restored."""


class TrainingDiverged(JaxganError):
  """A loss became NaN or infinite."""


class WorkdirBusy(JaxganError):
  """Another training process is using the workdir."""


def check_choice(key: str, value, allowed) -> None:
  """Raises ConfigError naming `key` and the allowed values if `value` is not one of them."""
  allowed = list(allowed)
  if value not in allowed:
    raise ConfigError(
        f'config.{key}={value!r} is not supported; choose one of '
        f'{", ".join(repr(a) for a in allowed)}.')
