"""Trains a GAN: python launch.py --config=configs/sagan_hinge.py --workdir=DIR [--config.a.b=v]."""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from jaxgan import errors
from jaxgan import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file with a get_config().', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, samples and logs go.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Initialise jax.distributed (several processes/hosts). Without the '
    'three flags below, JAX reads them from the cluster environment (SLURM, Open MPI, ...).')
_COORDINATOR = flags.DEFINE_string('coordinator', None, 'host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process\'s index.')
flags.mark_flags_as_required(['config', 'workdir'])


def _quiet_orbax(record) -> bool:
  # Orbax logs every save step at INFO; keep its warnings and errors only.
  return record.levelno >= logging.WARNING or '/orbax/' not in record.pathname


def main(argv):
  logging.get_absl_handler().addFilter(_quiet_orbax)
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if _DISTRIBUTED.value:
    # Cross-process collectives for CPU devices (no effect on GPUs); set before any backend.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)
  logging.info('JAX process %d/%d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except errors.JaxganError as e:
    logging.error('%s', e)
    raise SystemExit(f'error: {e}') from None


def _parse_flags(argv):
  """absl's parser, with flag and config-override mistakes reported in one line."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    detail = str(e).encode('utf-8', 'replace').decode('unicode_escape', 'replace')
    detail = ' '.join(detail.replace("'", ' ').split())
    if isinstance(e, (AttributeError, KeyError)):
      raise SystemExit(f'error: unknown config key ({detail}); use a field that the config '
                       f'file defines.') from None
    raise SystemExit(f'error: {detail}') from None


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
