"""One-shot GPU benchmark: what bench/gpu.sh runs once jax with CUDA is installed.

  python bench/gpu_bench.py [--budget_s=420] [--out=bench/results/gpu-<device>.md]
  python bench/gpu_bench.py --dry-run --out=/tmp/gpu-dry.md   # tiny sizes, same code, CPU

Records, within `--budget_s` seconds (measurements that no longer fit are listed as skipped),
on the first device:

* the DCGAN 64 px step (configs/dcgan.py) and the SAGAN 32 px step (configs/sagan_hinge.py)
  in float32 and bfloat16 (`model.dtype`) at batch 64 and 256: compile time, median step
  time of `--steps` timed steps (each waits for its result), steps/s and images/s (the batch
  counted once per D and once per G update), XLA's memory analysis of the compiled step and
  the device's peak memory so far in this process (measurements run in order of size, so it
  is close to the step's own peak), XLA's FLOPs per step and the achieved FLOP/s against the
  device's peak (dense datasheet figures below: the float32 rows against the TF32 tensor
  peak, since XLA runs float32 matmuls and convolutions in TF32 on NVIDIA GPUs by default;
  the plain FP32 peak is given as well);
* the FID of 50,000 generated images end to end: the DCGAN 64 px generator (untrained: the
  time, not the value, is the point) sampled in chunks, the Inception network, the
  statistics and the distance, as the training loop's evaluation runs them
  (`jaxgan.evaluation.TrainingEvaluator`), after one warm-up evaluation that compiles and
  caches the real images' statistics (the offline digits, 1,797 images).

Data: the offline digits at the model's size, so nothing needs downloading but jax itself.
The markdown is rewritten after every measurement, so a run cut short keeps what it measured.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Dense datasheet peaks in TFLOP/s: (FP32, TF32 tensor, BF16 tensor), matched on device_kind.
PEAKS = (
    ('H100 PCIe', (51.0, 378.0, 756.0)),
    ('H100', (67.0, 494.7, 989.4)),
    ('H200', (67.0, 494.7, 989.4)),
    ('A100', (19.5, 156.0, 312.0)),
    ('L4', (30.3, 60.0, 121.0)),
)

STEPS = [  # (model, image size, dtype, batch), in order of size
    ('dcgan', 64, 'float32', 64), ('sagan', 32, 'float32', 64),
    ('dcgan', 64, 'bfloat16', 64), ('sagan', 32, 'bfloat16', 64),
    ('dcgan', 64, 'bfloat16', 256), ('sagan', 32, 'bfloat16', 256),
    ('dcgan', 64, 'float32', 256), ('sagan', 32, 'float32', 256),
]


def peak_flops(device_kind: str, dtype: str):
  """(peak used for the ratio, plain FP32 peak), FLOP/s, or (None, None) if unknown."""
  for name, (fp32, tf32, bf16) in PEAKS:
    if name.lower() in device_kind.lower():
      return (bf16 if dtype == 'bfloat16' else tf32) * 1e12, fp32 * 1e12
  return None, None


def _config(model: str, image_size: int, dtype: str, batch: int, dry: bool):
  import jaxgan  # pylint: disable=g-import-not-at-top
  path = os.path.join(ROOT, 'configs', {'dcgan': 'dcgan.py', 'sagan': 'sagan_hinge.py'}[model])
  config = jaxgan.config.from_file(path)
  config.data.dataset = 'digits'
  config.data.image_size = image_size
  config.model.dtype = dtype
  config.train.batch_size = batch
  config.eval.every_steps = 0
  if dry:   # tiny networks: the same code path in seconds on a CPU
    config.model.g_width, config.model.d_width = (32, 4) if model == 'dcgan' else (4, 4)
  return config


def measure_step(model, image_size, dtype, batch, *, steps: int, dry: bool) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  config = _config(model, image_size, dtype, batch, dry)
  experiment = jaxgan.build(config)
  step = experiment.train_step
  experiment.data.prepare()
  state, batch_arrays = step.place(experiment.init_state(),
                                   experiment.data.batch(0, experiment.layout()))
  t0 = time.perf_counter()
  compiled = step.lower(state, batch_arrays).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost['flops']) if cost and 'flops' in cost else None
  memory = None
  try:
    m = compiled.memory_analysis()
    memory = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
              - m.alias_size_in_bytes)
  except Exception:  # pylint: disable=broad-except
    pass
  holder = {'state': state}

  def run():
    holder['state'], metrics = compiled(holder['state'], batch_arrays)
    jax.block_until_ready(metrics)

  t0 = time.perf_counter()
  run()
  first_s = time.perf_counter() - t0
  run()
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
  stats = jax.devices()[0].memory_stats() or {}
  median = statistics.median(times)
  images = batch * (config.train.d_steps + 1)
  return {'compile_s': compile_s, 'first_run_s': first_s, 'median_s': median,
          'steps_per_s': 1 / median, 'images_per_s': images / median, 'flops': flops,
          'xla_memory': memory, 'peak_memory': stats.get('peak_bytes_in_use')}


def measure_fid(num: int, *, dry: bool) -> dict:
  """Seconds of one FID evaluation of `num` generated images (after a warm-up one)."""
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import evaluation, workdir  # pylint: disable=g-import-not-at-top
  config = _config('dcgan', 64, 'float32', 64, dry)
  config.eval.every_steps = 1
  config.eval.evaluators = ('fid',)
  config.eval.kid = False
  config.eval.best_metric = ''
  config.eval.batch_size = 8 if dry else 500
  config.eval.chunk_size = 8 if dry else 1000
  config.eval.cache_dir = tempfile.mkdtemp(prefix='jaxgan-gpu-fid-')
  warm = config.copy_and_resolve_references()
  warm.eval.num_samples = num if dry else 2_000    # >= the 1,797 digits: their statistics
  config.eval.num_samples = num
  experiment = jaxgan.build(warm)
  experiment.data.prepare()
  state = experiment.init_state()
  paths = workdir.Paths.of(tempfile.mkdtemp(prefix='jaxgan-gpu-fid-run-'))
  t0 = time.perf_counter()
  evaluation.TrainingEvaluator(experiment, paths, is_chief=True)(1, state)
  warm_s = time.perf_counter() - t0
  timed = experiment.replace(config=config)
  t0 = time.perf_counter()
  values = evaluation.TrainingEvaluator(timed, paths, is_chief=True)(1, state)
  seconds = time.perf_counter() - t0
  return {'num': num, 'seconds': seconds, 'warm_s': warm_s, 'fid': values.get('eval/fid'),
          'images_per_s': num / seconds}


def _mib(x):
  return '-' if x is None else f'{x / 2**20:,.0f} MiB'


def write(out: str, header: list, rows: list, fid, skipped: list, device_kind: str) -> None:
  lines = list(header) + [
      '', '| step | dtype | batch | compile s | median step s | steps/s | images/s | '
      'XLA memory (step) | device peak so far | GFLOP/step | achieved TFLOP/s | of peak '
      '(TF32/BF16 tensor) | of FP32 peak |', '|---|---|---:|---:|---:|---:|---:|---:|---:|'
      '---:|---:|---:|---:|']
  for (model, size, dtype, batch), r in rows:
    peak, fp32 = peak_flops(device_kind, dtype)
    rate = r['flops'] / r['median_s'] if r['flops'] else None
    share = f'{100 * rate / peak:.1f}%' if rate and peak else '-'
    share32 = f'{100 * rate / fp32:.1f}%' if rate and fp32 else '-'
    lines.append(
        f'| {model.upper()} {size} px | {dtype} | {batch} | {r["compile_s"]:.1f} | '
        f'{r["median_s"]:.4f} | {r["steps_per_s"]:.2f} | {r["images_per_s"]:.0f} | '
        f'{_mib(r["xla_memory"])} | {_mib(r["peak_memory"])} | '
        f'{r["flops"] / 1e9 if r["flops"] else float("nan"):.1f} | '
        f'{rate / 1e12 if rate else float("nan"):.2f} | {share} | {share32} |')
  if fid:
    lines += ['', f'FID of {fid["num"]:,} generated images end to end (DCGAN 64 px generator, '
              f'generation + Inception + statistics + distance): {fid["seconds"]:.1f} s '
              f'({fid["images_per_s"]:.0f} images/s; warm-up evaluation {fid["warm_s"]:.1f} s; '
              f'FID {fid["fid"]:.1f} of an untrained generator against the digits).']
  if skipped:
    lines += ['', 'Skipped (the time budget ran out): ' + '; '.join(skipped) + '.']
  if peak_flops(device_kind, 'float32')[0] is None:
    lines += ['', f'No datasheet peak is recorded for {device_kind!r} (bench/gpu_bench.py '
              'PEAKS): the "of peak" columns are empty.']
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dry-run', dest='dry', action='store_true',
                      help='tiny networks and counts on whatever device jax has (CPU)')
  parser.add_argument('--budget_s', type=float, default=420.0)
  parser.add_argument('--steps', type=int, default=20, help='timed steps per measurement')
  parser.add_argument('--fid_images', type=int, default=50_000)
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  start = time.perf_counter()
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  kind = device.device_kind
  steps = 2 if args.dry else args.steps
  fid_images = 16 if args.dry else args.fid_images
  step_list = STEPS
  if args.dry:   # both models and both dtypes in two compilations (they dominate on a CPU)
    step_list = [('dcgan', 64, 'float32', 4), ('sagan', 32, 'bfloat16', 8)]
  slug = ''.join(c if c.isalnum() else '-' for c in kind.lower()).strip('-')
  out = args.out or os.path.join(ROOT, 'bench', 'results', f'gpu-{slug}.md')
  header = [f'# One-shot GPU benchmark: {kind}', '',
            f'Written by `python bench/gpu_bench.py {" ".join(sys.argv[1:])}` (bench/gpu.sh) on '
            f'{time.strftime("%Y-%m-%d %H:%M")}: {device.platform}, {jax.device_count()} '
            f'device(s), jax {jax.__version__}; {steps} timed steps per row after one '
            f'untimed run; time budget {args.budget_s:.0f} s.'
            + (' DRY RUN: tiny networks and counts, not a measurement.' if args.dry else '')]
  rows, skipped, fid = [], [], None
  reserve = 5.0 if args.dry else 90.0       # kept for the FID measurement
  longest = 0.0
  for spec in step_list:
    left = args.budget_s - (time.perf_counter() - start)
    if left - reserve < max(longest, 5.0 if args.dry else 30.0):
      skipped.append(f'{spec[0]} {spec[1]} px {spec[2]} batch {spec[3]}')
      continue
    t0 = time.perf_counter()
    result = measure_step(*spec, steps=steps, dry=args.dry)
    longest = max(longest, time.perf_counter() - t0)
    rows.append((spec, result))
    print(f'{spec}: {result}', flush=True)
    write(out, header, rows, fid, skipped, kind)
  if args.budget_s - (time.perf_counter() - start) > (1.0 if args.dry else 30.0):
    fid = measure_fid(fid_images, dry=args.dry)
    print(f'FID: {fid}', flush=True)
  else:
    skipped.append(f'FID of {fid_images:,} images')
  write(out, header, rows, fid, skipped, kind)
  print(f'wrote {out} ({time.perf_counter() - start:.0f} s)')


if __name__ == '__main__':
  main()
