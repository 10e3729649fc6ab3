"""One process of a two-process jax.distributed training run on 127.0.0.1 (tests only).

  python tests/multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT WORKDIR OUT.npz STEPS [EVAL]

Each process has 2 CPU devices (gloo collectives); it trains the tiny DCGAN with
jaxgan.train into the shared WORKDIR and writes its final params to OUT.npz. EVAL > 0
turns on FID every EVAL steps (4 samples: process 0 evaluates, both keep the best checkpoint).
"""

import os
import sys

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'
os.environ['JAX_PLATFORMS'] = 'cpu'
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position


def main():
  process_id, num_processes, port, workdir, out, num_steps = sys.argv[1:7]
  eval_every = int(sys.argv[7]) if len(sys.argv) > 7 else 0
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=f'127.0.0.1:{port}',
                             num_processes=int(num_processes), process_id=int(process_id),
                             local_device_ids=[0, 1])
  import jaxgan  # pylint: disable=g-import-not-at-top
  from tests.util import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config('digits', **{'train.num_steps': int(num_steps), 'train.checkpoint_every': 2,
                                    'optim.g_optimizer': 'sgd', 'optim.d_optimizer': 'sgd',
                                    'optim.g_lr': 0.1, 'optim.d_lr': 0.1, 'optim.b1': 0.0,
                                    'eval.every_steps': eval_every, 'eval.num_samples': 4,
                                    'eval.inception.batch_size': 2, 'eval.kid.subsets': 2,
                                    'eval.cache_dir': os.path.join(workdir, 'fid_cache')})
  state = jaxgan.train(config, workdir)
  leaves = jax.tree.leaves(jax.device_get((state.g_params, state.d_params, state.g_state)))
  np.savez(out, *leaves, step=np.asarray(jax.device_get(state.step)))
  jax.distributed.shutdown()


if __name__ == '__main__':
  main()
