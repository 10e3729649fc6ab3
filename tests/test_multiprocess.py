"""Two processes (jax.distributed on 127.0.0.1, 2 CPU devices each, gloo collectives) train
the same model as one process with 4 devices on the same global batch, and both restore the
same checkpoint when the run resumes."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxgan
from tests.util import host_batch, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _run_two_processes(workdir, out_prefix, num_steps, eval_every=0):
  port = _free_port()
  env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
  env.pop('XLA_FLAGS', None)
  procs = [subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'tests', 'multiprocess_worker.py'), str(i), '2',
       str(port), str(workdir), f'{out_prefix}{i}.npz', str(num_steps), str(eval_every)],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]
  outputs = [p.communicate(timeout=600)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  return [np.load(f'{out_prefix}{i}.npz') for i in range(2)]


def _reference(num_steps):
  config = tiny_config('digits', **{'optim.g_optimizer': 'sgd', 'optim.d_optimizer': 'sgd',
                                    'optim.g_lr': 0.1, 'optim.d_lr': 0.1, 'optim.b1': 0.0})
  experiment = jaxgan.build(config)
  state = experiment.init_state()
  step = experiment.train_step(jax.devices()[:4])
  for s in range(num_steps):
    state, _ = step(state, host_batch(experiment, s, 4))
  return jax.tree.leaves(jax.device_get((state.g_params, state.d_params, state.g_state)))


@pytest.mark.slow
def test_two_processes_match_one_process_and_resume_together(tmp_path):
  workdir = tmp_path / 'run'
  first = _run_two_processes(workdir, str(tmp_path / 'a'), 2)     # steps 0-1, checkpoint at 2
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2']
  # Both restore step 2 and go to 4; process 0 computes FID at step 4 (the others wait at the
  # broadcast of its value) and both write the best-FID checkpoint.
  resumed = _run_two_processes(workdir, str(tmp_path / 'b'), 4, eval_every=2)
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']
  records = [json.loads(line) for line in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records if 'eval/fid' in r] == [4]
  assert os.listdir(workdir / 'best_fid') == ['4']
  assert json.loads((workdir / 'best_fid.json').read_text())['step'] == 4
  reference = _reference(4)
  for out in first + resumed:
    assert len(out.files) == len(reference) + 1
  for proc in resumed:
    assert int(proc['step']) == 4
    for i, ref in enumerate(reference):
      np.testing.assert_allclose(proc[f'arr_{i}'], ref, rtol=1e-4, atol=1e-5)
  # Both processes hold identical state.
  for i in range(len(reference)):
    np.testing.assert_array_equal(resumed[0][f'arr_{i}'], resumed[1][f'arr_{i}'])
