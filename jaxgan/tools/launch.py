"""Trains a GAN: python launch.py --config=configs/sagan_hinge.py --workdir=DIR [--config.a.b=v]
(or `jaxgan-train ...` once jaxgan is installed).

Exit status: 0 when the run reached train.num_steps, 143 after a SIGTERM checkpoint and 130
after a Ctrl-C one (rerun to resume), 1 with one `error:` line for anything to fix
(JAXGAN_TRACEBACK=1 shows tracebacks).
"""


import os
import re

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections import config_flags

from jaxgan import config as config_lib
from jaxgan import training
from jaxgan.metrics import evaluators as evaluators_lib
from jaxgan.tools import common

def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  config_flags.DEFINE_config_file(
      'config', None, 'Path to a config file with a get_config().', lock_config=True)
  flags.DEFINE_string('workdir', None, 'Where checkpoints, samples and logs go.')
  flags.DEFINE_bool(
      'allow_changes', False, 'Resume a workdir whose checkpoints were trained with another '
      'data, model or loss than the config\'s (recorded in run_info.json); without it such a '
      'resume is refused. Learning rates and schedules may change without it.')
  flags.DEFINE_bool(
      'distributed', False, 'Initialise jax.distributed (several processes/hosts). Without the '
      'three flags below, JAX reads them from the cluster environment (SLURM, Open MPI, ...).')
  flags.DEFINE_string('coordinator', None, 'host:port of process 0.')
  flags.DEFINE_integer('num_processes', None, 'Number of processes.')
  flags.DEFINE_integer('process_id', None, 'This process\'s index.')
  flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  if f.distributed:
    # Cross-process collectives for CPU devices (no effect on GPUs); set before any backend.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=f.coordinator,
                               num_processes=f.num_processes, process_id=f.process_id)
  logging.info('JAX process %d/%d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  config = f.config
  if not isinstance(config, ml_collections.ConfigDict):
    try:   # config_flags defers a file it could not read: touching it raises that error
      config.lock()
    except OSError as e:
      if common.show_tracebacks():
        raise
      detail = ' '.join(str(e.__cause__ or e).split())
      raise SystemExit(f'error: cannot read the config file ({detail}); pass --config=PATH '
                       f'of a config file such as configs/dcgan.py.') from None
  with common.user_errors():
    common.use_compilation_cache(config.train.compilation_cache)   # before anything compiles
    training.train(config, f.workdir, allow_changes=f.allow_changes)


def _refuse_moved_eval_keys(argv) -> None:
  """SystemExit naming the new place of a flat eval key (jaxgan 0.2.0's) given as an override."""
  for arg in argv:
    key = arg.split('=', 1)[0][len('--config.eval.'):]
    if not arg.startswith('--config.eval.') or key not in evaluators_lib.MOVED:
      continue
    if key == 'kid':   # now a section: a plain value is a type mistake
      value = arg.split('=', 1)[-1]
      raise SystemExit(f'error: {config_lib.type_mistake("eval.kid", value, command_line=True)}')
    raise SystemExit(f'error: config.eval.{key} moved to config.eval.'
                     f'{evaluators_lib.MOVED[key]} (each evaluator has its own settings); pass '
                     f'--config.eval.{evaluators_lib.MOVED[key]}=... instead.')


# A frame of the traceback text config_flags puts in its error: file, line, source line.
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*\n[ \t]+([^\n]*)')


def _refuse_type_mistakes(argv, message: str) -> None:
  """SystemExit with `config.type_mistake`'s sentence when a config file (ml_collections'
  TypeError, read from the traceback text config_flags gives) or an override
  `--config.<key>=<value>` of a known key sets a value of the wrong type, e.g. a section such
  as config.eval.kid to False."""
  if 'Error whilst parsing config file' in message:
    frames = [f for f in _FRAME.findall(message)
              if f'{os.sep}ml_collections{os.sep}' not in f[0]]
    lines = message.strip().splitlines()
    mistake = (config_lib.config_file_type_mistake(lines[-1], frames[-1][2])
               if frames and lines else None)
    if mistake is not None:
      raise SystemExit(f'error: {frames[-1][0]}, line {frames[-1][1]}: {mistake}')
    return
  override = re.match(r'flag --config\.([\w.]+)=', message)
  if override is None:
    return
  key = override.group(1)
  try:
    config_lib.get(config_lib.default(), key)
  except (KeyError, AttributeError):
    return   # an unknown key: the caller's message says so
  value = next((a.split('=', 1)[1] for a in argv if a.startswith(f'--config.{key}=')), '?')
  raise SystemExit(f'error: {config_lib.type_mistake(key, value, command_line=True)}')


def _parse_flags(argv):
  """absl's parser, with flag, config-file and config-override mistakes in one line."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    if common.show_tracebacks():
      raise
    _refuse_moved_eval_keys(argv)
    _refuse_type_mistakes(argv, str(e))
    detail = str(e)
    if 'Error whilst parsing config file' in detail:   # config_flags appends a traceback
      detail = detail.strip().splitlines()[-1]
      prefix = 'jaxgan.errors.'
      if detail.startswith(prefix) and ': ' in detail:   # get_config raised one of ours
        raise SystemExit(f'error: {detail.split(": ", 1)[1]}') from None
    detail = detail.encode('utf-8', 'replace').decode('unicode_escape', 'replace')
    detail = ' '.join(detail.replace("'", ' ').split())
    if isinstance(e, (AttributeError, KeyError)):
      raise SystemExit(f'error: unknown config key ({detail}); use a field that the config '
                       f'file defines.') from None
    if isinstance(e, SyntaxError):
      raise SystemExit(f'error: the config file has a syntax error ({e.msg}, line '
                       f'{e.lineno} of {e.filename}); fix it.') from None
    if isinstance(e, (FileNotFoundError, IOError)) or 'No such file' in detail:
      raise SystemExit(f'error: cannot read the config file ({detail}); pass '
                       f'--config=PATH of a config file such as configs/dcgan.py.') from None
    if isinstance(e, flags.Error):
      raise SystemExit(f'error: {detail}') from None
    raise SystemExit(f'error: the config file failed ({type(e).__name__}: {detail}); fix it '
                     f'(JAXGAN_TRACEBACK=1 shows where).') from None


def cli() -> None:
  _define_flags()
  common.run(main, flags_parser=_parse_flags)


if __name__ == '__main__':
  cli()
