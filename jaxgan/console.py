"""What a run prints: its progress by default, without orbax's INFO records.

`jaxgan.train` logs through absl: the first step (with the compilation time), every
`log.every_steps` steps with the rate and the ETA, each evaluation with its progress. The
command-line tools turn absl's INFO on; a library call from a script or a notebook, where
nobody set up logging (absl's flags unparsed, its verbosity the default WARNING), gets INFO on
for the duration of the call (`progress()`). To silence it, set absl's verbosity yourself
(`absl.logging.set_verbosity(absl.logging.ERROR)`); any setting but the default is left alone.
"""

import contextlib
import logging as std_logging

from absl import flags
from absl import logging


def _not_orbax_info(record: std_logging.LogRecord) -> bool:
  # Orbax logs every checkpoint step at INFO (130 of 160 lines of a demo run); keep its
  # warnings and errors. (Python's levels: absl's logging.WARNING is -1, not 30.)
  return record.levelno >= std_logging.WARNING or '/orbax/' not in record.pathname


def quiet_library_logs() -> None:
  """Drops orbax's INFO records, from absl's logger and its handler (idempotent)."""
  for target in (logging.get_absl_logger(), logging.get_absl_handler()):
    if _not_orbax_info not in target.filters:
      target.addFilter(_not_orbax_info)


@contextlib.contextmanager
def progress():
  """absl INFO on for the duration where nobody set logging up (see the module docstring)."""
  quiet_library_logs()
  turned_on = not flags.FLAGS.is_parsed() and logging.get_verbosity() == logging.WARNING
  if turned_on:
    logging.set_verbosity(logging.INFO)
  try:
    yield
  finally:
    if turned_on and logging.get_verbosity() == logging.INFO:
      logging.set_verbosity(logging.WARNING)
