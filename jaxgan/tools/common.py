"""What every jaxgan command-line tool shares: quiet library logs, one-line errors, and the
flags of standing statistics (`jaxgan.tools.evaluate` and `jaxgan.tools.sample`).

A problem the user can fix (`errors.JaxganError`, an OSError such as a read-only or full
disk) ends the tool with one line, `error: ...`, and exit status 1 (143 after a SIGTERM
save, 130 after Ctrl-C). Set JAXGAN_TRACEBACK=1 to see the traceback as well.
"""

import contextlib
import os
import sys
import warnings
from typing import Callable, Optional

from absl import app
from absl import flags
from absl import logging

from jaxgan import config as config_lib
from jaxgan import console, errors

TRACEBACK_ENV = 'JAXGAN_TRACEBACK'
# TensorFlow (TFDS, the TensorBoard writer) prints C++ start-up notices unless told not to.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def quiet_library_logs() -> None:
  """Drops orbax's INFO records from absl's logs (idempotent; jaxgan.console)."""
  console.quiet_library_logs()


def use_compilation_cache(path: str) -> None:
  """JAX's persistent compilation cache in `path` (`config.train.compilation_cache`); '' leaves
  JAX's own setting (off unless JAX_COMPILATION_CACHE_DIR is set). Call before anything
  compiles: executables compiled earlier in the process are neither saved nor looked up.
  A folder the user chose must be usable (one error line otherwise); when the default folder
  cannot be made (a read-only home), the run goes on without a cache after one warning line."""
  if not path:
    return
  import jax  # pylint: disable=g-import-not-at-top
  folder = os.path.abspath(os.path.expanduser(os.path.expandvars(path)))
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    if path == config_lib.default().train.compilation_cache:
      print(f'warning: no persistent compilation cache ({folder}: {e.strerror or e}), so every '
            f'start compiles its steps again; set config.train.compilation_cache to a writable '
            f'folder, or \'\' to turn the cache off.', file=sys.stderr)
      return
    raise errors.ConfigError(
        f'config.train.compilation_cache={path!r} cannot be used ({e.strerror or e}); pass a '
        f'writable folder, or \'\' to compile without a persistent cache.') from None
  jax.config.update('jax_compilation_cache_dir', folder)


def use_default_compilation_cache() -> None:
  """The cache `launch` uses by default, for the tools that train many runs in one process
  (the studies), unless JAX already has one (JAX_COMPILATION_CACHE_DIR)."""
  import jax  # pylint: disable=g-import-not-at-top
  if jax.config.jax_compilation_cache_dir is None:
    use_compilation_cache(config_lib.default().train.compilation_cache)


def show_tracebacks() -> bool:
  return os.environ.get(TRACEBACK_ENV, '') not in ('', '0')


@contextlib.contextmanager
def user_errors():
  """Turns the errors a user can fix into one `error:` line and an exit status."""
  try:
    yield
  except errors.Preempted as e:
    if show_tracebacks():
      raise
    logging.warning('%s', e)
    sys.stderr.write(f'preempted: {e}\n')
    sys.exit(e.exit_code)
  except KeyboardInterrupt:   # Ctrl-C before a run could save (or a second Ctrl-C)
    if show_tracebacks():
      raise
    sys.stderr.write('interrupted: Ctrl-C; nothing more was saved.\n')
    sys.exit(130)
  except errors.JaxganError as e:
    if show_tracebacks():
      raise
    raise SystemExit(f'error: {e}') from None
  except OSError as e:
    if show_tracebacks():
      raise
    raise SystemExit('error: ' + errors.os_error_message(e, 'reading or writing a file') +
                     f' (set {TRACEBACK_ENV}=1 for the traceback)') from None


def define_standing_flags() -> None:
  """--standing_step and --standing_max_batch (PyTorch-StudioGAN's -std_step and -std_max)."""
  flags.DEFINE_integer('standing_step', 0, 'Standing statistics first (StudioGAN\'s -std_stat '
                       '-std_step): batch norm\'s running statistics recomputed over this many '
                       'training-mode passes (0: off).')
  flags.DEFINE_integer('standing_max_batch', None, 'Their largest batch; each pass draws 1..this '
                       'many latents (StudioGAN\'s -std_max; default: the run\'s batch size).')


def check_standing(standing_step, standing_max_batch) -> None:
  """ConfigError (one sentence) for flags of standing statistics that cannot be used; checked
  before anything is loaded."""
  if isinstance(standing_step, bool) or not isinstance(standing_step, int) or standing_step < 0:
    raise errors.ConfigError(f'--standing_step={standing_step!r} must be an integer >= 0 (0: '
                             'no standing statistics).')
  if standing_max_batch is not None and not standing_step:
    raise errors.ConfigError('--standing_max_batch sets the batch of standing statistics; '
                             'pass --standing_step=N (N > 0) with it.')


def sampling_state(run, *, ema: bool, seed: int, standing_step: int = 0,
                   standing_max_batch: Optional[int] = None):
  """(the state to sample `run` with, the protocol's record of standing statistics or None):
  the run's state, with standing statistics (`Experiment.standing_statistics`, seeded by
  `seed`) when `standing_step` > 0, of at most `standing_max_batch` latents (default: the
  run's batch size)."""
  check_standing(standing_step, standing_max_batch)
  if not standing_step:
    return run.state, None
  max_batch = (run.experiment.loop.batch_size if standing_max_batch is None
               else standing_max_batch)
  state = run.experiment.standing_statistics(run.state, steps=standing_step,
                                             max_batch=max_batch, ema=ema, seed=seed)
  return state, {'steps': int(standing_step), 'max_batch': int(max_batch), 'seed': int(seed)}


def _quiet_unraisable(unraisable) -> None:
  # After a checkpoint read fails, orbax's asyncio tasks are collected after their event loop
  # closed, each printing "Exception ignored ... Event loop is closed": noise after the error
  # line that says what to do.
  if isinstance(unraisable.exc_value, RuntimeError) and 'Event loop is closed' in str(
      unraisable.exc_value):
    return
  # Likewise orbax's coroutines that a failed read or save left unfinished.
  code = getattr(unraisable.object, 'cr_code', None)
  if code is not None and '/orbax/' in code.co_filename:
    return
  sys.__unraisablehook__(unraisable)


def _help_of(module_name: str) -> None:
  """Makes `--help` print the tool's docstring and flags when it runs as an installed script.

  absl's `--help` shows `__main__`'s docstring and the flags defined by `sys.argv[0]`; for
  `jaxgan-train` and the other console scripts, `__main__` is the script wrapper and the flags
  belong to `jaxgan.tools.launch` etc., so absl would print only "USAGE ... Try --helpfull".
  """
  if module_name == '__main__' or module_name not in sys.modules:
    return   # `python -m jaxgan.tools.x`: absl already finds both
  main_module = sys.modules['__main__']
  if not main_module.__doc__:
    main_module.__doc__ = sys.modules[module_name].__doc__
  for flag in flags.FLAGS.get_flags_for_module(module_name):
    flags.FLAGS.register_flag_by_module(sys.argv[0], flag)


def run(main: Callable, flags_parser: Optional[Callable] = None) -> None:
  """absl's app.run with quiet library logs; `--help` lists the flags of `main`'s module."""
  _help_of(main.__module__)
  quiet_library_logs()
  if not show_tracebacks():
    sys.unraisablehook = _quiet_unraisable
    # Likewise the write coroutines of orbax's that a failed save leaves un-awaited: collected
    # at exit, each prints "RuntimeWarning: coroutine ... was never awaited" (and a tracemalloc
    # hint) after the error line, when the exit outruns them (seen in CI, not every run).
    warnings.filterwarnings('ignore', message=r"coroutine '.*' was never awaited",
                            category=RuntimeWarning)
  kwargs = {'flags_parser': flags_parser} if flags_parser else {}
  app.run(main, **kwargs)
