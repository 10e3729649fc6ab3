"""Interleaved timing: persistent worker processes, one per side, stepped in turn A, B, A, B...

  from interleave import Side, run_interleaved
  result = run_interleaved([Side('jaxgan', 'jaxgan', {'model': 'dcgan'}),
                            Side('PyTorch', 'torch', {'model': 'dcgan'})], reps=9)

Why: on a machine shared with other jobs, timing one side after the other lets a burst of
load hit one side only (bench/train_step.py once printed 1.49x and 2.10x for the same step).
Here each side lives in its own process, which builds, compiles and warms its step once; the
workers are started one at a time (so each first-step latency is measured without the others
competing), then driven in turn for `reps` repetitions, each repetition timing one step of
every side (the step blocks until its result is ready; the idle workers wait on a pipe).
Reported: per-side medians, for each side the median over repetitions of the per-repetition
ratio t(reference) / t(side) (its speed relative to the reference; adjacent measurements, so
slow drifts in load cancel), and the 1-minute load average at the start, the end and its
range over the repetitions.

Each side names a builder of bench/sides.py, its keyword arguments and the tree (`root`)
whose `jaxgan` the worker imports: the worker runs with cwd and PYTHONPATH set to that root,
so two versions of jaxgan can be timed in one interleaving.

Worker protocol (internal): `python interleave.py --worker`; the first stdin line is the JSON
spec; replies are JSON lines on the original stdout (anything else the worker prints goes to
its stderr, which is kept in a log file).
"""

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)


@dataclasses.dataclass
class Side:
  label: str
  builder: str                      # a key of sides.BUILDERS
  kwargs: dict = dataclasses.field(default_factory=dict)
  root: str = REPO                  # the tree whose jaxgan the worker imports
  env: dict = dataclasses.field(default_factory=dict)   # extra environment variables


SIMD_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'avx_vnni', 'amx_bf16',
              'amx_tile')


def cpu_info() -> dict:
  """The processor as /proc/cpuinfo names it: model name, family / model numbers, cache, and
  which of SIMD_FLAGS it has (a ratio on a CPU is only a result next to its CPU)."""
  info = {}
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if not line.strip():
          break   # the first processor is enough
        key, _, value = line.partition(':')
        info[key.strip()] = value.strip()
  except OSError:
    return {'model_name': 'unknown (no /proc/cpuinfo)'}
  flags = set(info.get('flags', '').split())
  return {'model_name': info.get('model name', 'unknown'),
          'family_model': f'{info.get("cpu family", "?")}/{info.get("model", "?")}',
          'cache': info.get('cache size', '?'),
          'flags': [f for f in SIMD_FLAGS if f in flags]}


def cpu_line() -> str:
  c = cpu_info()
  return (f'{c["model_name"]} (family/model {c.get("family_model", "?")}, cache '
          f'{c.get("cache", "?")}, {", ".join(c.get("flags", [])) or "no AVX2/AVX-512"})')


def load_average() -> float:
  return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')


class Worker:
  """One side's process: builds and warms its step on start, then times steps on request."""

  def __init__(self, side: Side, warmup: int, log_dir: str):
    self.side = side
    env = dict(os.environ)
    root = os.path.abspath(side.root)
    env['PYTHONPATH'] = os.pathsep.join([root] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    env.update(side.env)
    self.log_path = os.path.join(log_dir, f'{len(os.listdir(log_dir))}-{side.builder}.log')
    self._log = open(self.log_path, 'w')
    t0 = time.perf_counter()
    self._proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), '--worker'], cwd=root, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)
    self._send({'builder': side.builder, 'kwargs': side.kwargs, 'root': root,
                'warmup': warmup})
    started = self._recv()                       # after the first step
    self.process_first_step_s = time.perf_counter() - t0
    self.info = {**started['info'], 'process_first_step_s': self.process_first_step_s}
    self._recv()                                 # after the warm-up steps

  def _send(self, message: dict) -> None:
    self._proc.stdin.write(json.dumps(message) + '\n')
    self._proc.stdin.flush()

  def _recv(self) -> dict:
    line = self._proc.stdout.readline()
    if not line:
      self._proc.wait()
      self._log.flush()
      with open(self.log_path) as f:
        tail = ''.join(f.readlines()[-30:])
      raise RuntimeError(f'worker {self.side.label!r} exited ({self._proc.returncode}); '
                         f'the end of {self.log_path}:\n{tail}')
    message = json.loads(line)
    if 'error' in message:
      raise RuntimeError(f'worker {self.side.label!r}: {message["error"]}')
    return message

  def step(self) -> float:
    self._send({'cmd': 'step'})
    return self._recv()['time']

  def flops(self) -> Optional[float]:
    """XLA's cost analysis of the compiled step (jaxgan sides; None for others)."""
    self._send({'cmd': 'flops'})
    return self._recv()['flops']

  def close(self) -> None:
    if self._proc.poll() is None:
      try:
        self._send({'cmd': 'quit'})
        self._proc.wait(timeout=60)
      except (OSError, subprocess.TimeoutExpired):
        self._proc.kill()
    self._log.close()


def median_ratio(reference: list, times: list) -> float:
  """Median over repetitions of t_reference / t_side: the side's speed relative to the
  reference, each repetition's two measurements taken one right after the other."""
  return statistics.median(r / t for r, t in zip(reference, times))


def run_interleaved(sides: list, reps: int, warmup: int = 2, reference: Optional[int] = None,
                    flops: bool = False, log_dir: Optional[str] = None,
                    progress: bool = True) -> dict:
  """Times `sides` interleaved; returns a dict (see the module docstring).

  reference: index of the side the ratios compare with (default: the last one).
  flops: also ask each worker for XLA's FLOP count of its step (after the timing).
  """
  reference = len(sides) - 1 if reference is None else reference
  log_dir = log_dir or tempfile.mkdtemp(prefix='jaxgan-interleave-')
  workers = []
  load = {'start': load_average()}
  wall = time.perf_counter()
  try:
    for side in sides:          # one at a time: first-step latencies without competition
      load_before = load_average()
      workers.append(Worker(side, warmup, log_dir))
      workers[-1].info['load_at_start'] = load_before
      if progress:
        info = workers[-1].info
        print(f'  started {side.label}: first step {info["first_step_s"]:.1f} s '
              f'(process {info["process_first_step_s"]:.1f} s), load {load_before:.1f}',
              file=sys.stderr, flush=True)
    load['after_start'] = load_average()
    times = [[] for _ in sides]
    per_rep_load = []
    for rep in range(reps):
      per_rep_load.append(load_average())
      for i, worker in enumerate(workers):
        times[i].append(worker.step())
      if progress:
        print(f'  rep {rep + 1}/{reps}: ' + ', '.join(
            f'{s.label} {t[-1]:.3f} s' for s, t in zip(sides, times)) +
              f' (load {per_rep_load[-1]:.1f})', file=sys.stderr, flush=True)
    load['end'] = load_average()
    load['reps_min'], load['reps_max'] = min(per_rep_load), max(per_rep_load)
    step_flops = [w.flops() if flops else None for w in workers]
  finally:
    for worker in workers:
      worker.close()
  results = []
  for i, side in enumerate(sides):
    results.append({
        'label': side.label, 'builder': side.builder, 'kwargs': side.kwargs,
        'root': os.path.abspath(side.root), 'info': workers[i].info, 'times': times[i],
        'median_s': statistics.median(times[i]),
        'ratio_vs_reference': median_ratio(times[reference], times[i]),
        'ratio_of_medians': statistics.median(times[reference]) / statistics.median(times[i]),
        'flops': step_flops[i]})
  return {'sides': results, 'reference': sides[reference].label, 'reps': reps,
          'warmup': warmup, 'load': load, 'per_rep_load': per_rep_load,
          'wall_s': time.perf_counter() - wall, 'cpu_count': os.cpu_count(),
          'cpu': cpu_info(),
          'time': time.strftime('%Y-%m-%d %H:%M:%S')}


def pair_ratio(result: dict, numerator: str, denominator: str) -> float:
  """Median over repetitions of t(denominator) / t(numerator): numerator's speed relative
  to denominator's, from one interleaved run."""
  by_label = {s['label']: s['times'] for s in result['sides']}
  return median_ratio(by_label[denominator], by_label[numerator])


def summary(result: dict) -> str:
  load = result['load']
  cpu = result.get('cpu', {})
  lines = [f'{result["time"]}: {result["reps"]} interleaved repetitions after '
           f'{result["warmup"]} warm-up steps, {result["cpu_count"]} CPU cores '
           f'({cpu.get("model_name", "model not recorded")}, family/model '
           f'{cpu.get("family_model", "?")}, {", ".join(cpu.get("flags", [])) or "-"}); '
           f'1-min load '
           f'average {load["start"]:.2f} at start, {load["end"]:.2f} at end '
           f'(range over repetitions {load["reps_min"]:.2f}-{load["reps_max"]:.2f})']
  for s in result['sides']:
    info = s['info']
    extra = f', conv_impl={info["conv_impl"]}' if 'conv_impl' in info else ''
    flops = f', {s["flops"] / 1e9:.1f} GFLOP/step (XLA)' if s['flops'] else ''
    lines.append(
        f'  {s["label"]:24s} median {s["median_s"]:.3f} s; speed vs {result["reference"]}: '
        f'{s["ratio_vs_reference"]:.2f} (median of per-rep ratios; ratio of medians '
        f'{s["ratio_of_medians"]:.2f}); first step {info["first_step_s"]:.1f} s (process '
        f'{info["process_first_step_s"]:.1f} s); params {info["params"]}{extra}{flops}; '
        f'steps {[round(t, 3) for t in s["times"]]}')
  return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------
# Worker side.
# ---------------------------------------------------------------------------------------------

def _worker() -> None:
  reply = os.fdopen(os.dup(1), 'w', buffering=1)
  os.dup2(2, 1)          # library output goes to the log, the protocol keeps its own pipe
  sys.stdout = sys.stderr

  def send(message: Any) -> None:
    reply.write(json.dumps(message) + '\n')
    reply.flush()

  spec = json.loads(sys.stdin.readline())
  sys.path.insert(0, spec['root'])
  try:
    import sides  # pylint: disable=g-import-not-at-top
    built = sides.BUILDERS[spec['builder']](**spec['kwargs'])
  except Exception as e:  # pylint: disable=broad-except
    import traceback  # pylint: disable=g-import-not-at-top
    traceback.print_exc()
    send({'error': f'{type(e).__name__}: {e}'})
    return
  send({'info': built.info})
  for _ in range(spec['warmup']):
    built.step()
  send({'ready': True})
  for line in sys.stdin:
    cmd = json.loads(line)['cmd']
    if cmd == 'step':
      t0 = time.perf_counter()
      built.step()
      send({'time': time.perf_counter() - t0})
    elif cmd == 'flops':
      flops = None
      if built.lower is not None:
        cost = built.lower().compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        flops = float(cost['flops'])
      send({'flops': flops})
    elif cmd == 'quit':
      break


if __name__ == '__main__':
  if sys.argv[1:] == ['--worker']:
    _worker()
  else:
    sys.exit('bench/interleave.py is a library and worker; run bench/train_step.py.')
