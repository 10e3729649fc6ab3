"""Data-parallel scaling of the train step: images/s at 1, 2, 4 and 8 devices, and whether the
input pipeline keeps up.

  # CPU, 8 fake devices (this only shows the overhead of splitting: they share the cores)
  python bench/scaling.py --models=dcgan,sagan --devices=1,2,4,8 --sagan_ch=16 \
      --out=bench/results/scaling.md
  # one GPU, float32 and bfloat16, batch 64 and a larger batch
  python bench/scaling.py --devices=1 --dtype=bfloat16 --batch=256

For each model and device count: the experiment's parts (`jaxgan.build`) are mapped over the
devices (`steps.make_train_step(..., devices=)`, which places its inputs: one compilation, as
in training), then `--warmup` steps run untimed and `--repeats` steps are timed one by
one (each waits for its result). Reported, all medians over the timed steps:

* step: the compiled step on one batch already on the devices (compute only);
* end to end: `data.iterate` (host batch + transfer, prefetch 2) feeding the step, as in
  `jaxgan.train`;
* input only: `data.iterate` alone, batches per second with nothing else running.

images/s counts the global batch once per D update and once per G update (as `jaxgan.train`
logs it): batch * (d_steps + 1) / step time. GFLOP per step is XLA's cost analysis of the
compiled step (per device), from which the achieved FLOP/s follows.

Models are the 32x32 configs `configs/dcgan.py` (at image_size 32: G 512-256-128, D 64-128-256)
and `configs/sagan_hinge.py` (ch 64: G 256 channels, D 128); `--dcgan_g_width` and `--sagan_ch`
shrink them (say so when reporting). Data: `--dataset` (default 'digits', offline).
"""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _config(model: str, args):
  import jaxgan  # pylint: disable=g-import-not-at-top
  path = os.path.join(ROOT, 'configs', {'dcgan': 'dcgan.py', 'sagan': 'sagan_hinge.py'}[model])
  config = jaxgan.config.from_file(path)
  config.data.dataset = args['dataset']
  config.data.image_size = 32
  config.model.dtype = args['dtype']
  config.train.batch_size = args['batch']
  config.eval.every_steps = 0
  if model == 'dcgan' and args['dcgan_g_width']:
    config.model.g_width = args['dcgan_g_width']
  if model == 'sagan' and args['sagan_ch']:
    config.model.g_width = config.model.d_width = args['sagan_ch']
  return config


def _median_times(fn, n: int) -> list:
  times = []
  for _ in range(n):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return times


def measure(model: str, num_devices: int, args) -> dict:
  """One row: compile time, step / end-to-end / input-only medians for `model` on n devices."""
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import data, steps  # pylint: disable=g-import-not-at-top
  config = _config(model, args)
  devices = jax.devices()[:num_devices]
  experiment = jaxgan.build(config)
  t = config.train
  step = steps.make_train_step(
      experiment.generator, experiment.discriminator, experiment.loss,
      experiment.g_optimizer, experiment.d_optimizer, z_dim=experiment.z_dim,
      num_classes=experiment.num_classes, d_clip=config.optim.d_clip,
      ema_decay=t.ema_decay, ema_start=t.ema_start, devices=devices)
  state, _ = step.place(experiment.init_state())
  experiment.data.prepare()
  layout = experiment.layout(devices)
  batches = data.iterate(experiment.data, layout, 0, step.batch_sharding,
                         prefetch=config.data.prefetch)
  try:
    # Input only (before any compute competes with the producer thread).
    for _ in range(2):
      jax.block_until_ready(next(batches))
    t0 = time.perf_counter()
    for _ in range(args['input_steps']):
      jax.block_until_ready(next(batches))
    input_steps_per_s = args['input_steps'] / (time.perf_counter() - t0)

    fixed = next(batches)
    t0 = time.perf_counter()
    compiled = step.lower(state, fixed).compile()
    compile_s = time.perf_counter() - t0
    flops = None
    try:
      cost = compiled.cost_analysis()
      cost = cost[0] if isinstance(cost, (list, tuple)) else cost
      flops = float(cost['flops'])
    except Exception:  # pylint: disable=broad-except
      pass

    holder = {'state': state}

    def run_step(batch):
      holder['state'], metrics = compiled(holder['state'], batch)
      jax.block_until_ready(metrics)

    for _ in range(args['warmup']):
      run_step(fixed)
    step_times = _median_times(lambda: run_step(fixed), args['repeats'])
    e2e_times = _median_times(lambda: run_step(next(batches)), args['repeats'])
  finally:
    batches.close()
  per_step_images = config.train.batch_size * (config.train.d_steps + 1)
  step_s, e2e_s = statistics.median(step_times), statistics.median(e2e_times)
  return {
      'model': model, 'devices': num_devices, 'dtype': config.model.dtype,
      'batch': config.train.batch_size, 'width': f'{config.model.g_width}/{config.model.d_width}',
      'compile_s': compile_s, 'step_s': step_s, 'step_ips': per_step_images / step_s,
      'e2e_s': e2e_s, 'e2e_ips': per_step_images / e2e_s,
      'input_steps_per_s': input_steps_per_s, 'step_steps_per_s': 1.0 / step_s,
      'gflop_per_device': None if flops is None else flops / 1e9,
      'gflops_per_s_per_device': None if flops is None else flops / step_s / 1e9,
      'step_times': step_times, 'e2e_times': e2e_times,
  }


def format_table(rows: list) -> str:
  head = ('| model | G/D width | dtype | devices | global batch | compile s | step median s | '
          'step images/s | vs 1 device | end-to-end median s | end-to-end images/s | '
          'input-only batches/s | step batches/s | GFLOP/step/device | GFLOP/s/device |\n'
          '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n')
  base = {}
  lines = []
  for r in rows:
    base.setdefault((r['model'], r['dtype'], r['batch']), r['step_ips'])
    speedup = r['step_ips'] / base[(r['model'], r['dtype'], r['batch'])]
    gflop = '-' if r['gflop_per_device'] is None else f'{r["gflop_per_device"]:.1f}'
    rate = '-' if r['gflops_per_s_per_device'] is None else f'{r["gflops_per_s_per_device"]:.1f}'
    lines.append(
        f'| {r["model"]} | {r["width"]} | {r["dtype"]} | {r["devices"]} | {r["batch"]} | '
        f'{r["compile_s"]:.1f} | {r["step_s"]:.3f} | {r["step_ips"]:.1f} | {speedup:.2f}x | '
        f'{r["e2e_s"]:.3f} | {r["e2e_ips"]:.1f} | {r["input_steps_per_s"]:.1f} | '
        f'{r["step_steps_per_s"]:.2f} | {gflop} | {rate} |')
  return head + '\n'.join(lines) + '\n'


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  args = {name: f[name].value for name in (
      'dataset', 'dtype', 'batch', 'dcgan_g_width', 'sagan_ch', 'warmup', 'repeats',
      'input_steps')}
  import jax  # pylint: disable=g-import-not-at-top
  available = jax.device_count()
  counts = [int(n) for n in f.devices]
  skipped = [n for n in counts if n > available]
  counts = [n for n in counts if n <= available]
  load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
  header = (f'{jax.devices()[0].device_kind} ({jax.default_backend()}), {available} device(s), '
            f'{os.cpu_count()} CPU cores, jax {jax.__version__}; load average at start '
            f'{load:.1f}')
  print(header, flush=True)
  rows = []
  t_start = time.perf_counter()
  for model in f.models:
    for n in counts:
      row = measure(model, n, args)
      rows.append(row)
      print(f'{model} x{n}: compile {row["compile_s"]:.1f} s, step {row["step_s"]:.3f} s '
            f'({row["step_ips"]:.1f} images/s), end to end {row["e2e_s"]:.3f} s, input only '
            f'{row["input_steps_per_s"]:.1f} batches/s; step times '
            f'{[round(t, 3) for t in row["step_times"]]}', flush=True)
  table = format_table(rows)
  print(table)
  wall = time.perf_counter() - t_start
  load_end = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
  if f.out:
    command = 'python bench/scaling.py ' + ' '.join(sys.argv[1:])
    with open(f.out, 'w') as fh:
      fh.write(f'# Train-step scaling\n\nWritten by `{command}`\n\n{header}, at end '
               f'{load_end:.1f}; wall time {wall / 60:.1f} min.')
      if skipped:
        fh.write(f' Skipped device counts (not available): {skipped}.')
      fh.write(f' Median of {args["repeats"]} timed steps after {args["warmup"]} warm-up steps; '
               f'input only: {args["input_steps"]} batches.\n\n{table}')


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list('models', ['dcgan', 'sagan'], 'Models: dcgan, sagan.')
  flags.DEFINE_list('devices', ['1', '2', '4', '8'], 'Device counts (those available run).')
  flags.DEFINE_integer('batch', 64, 'Global batch size.')
  flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype.')
  flags.DEFINE_string('dataset', 'digits', 'Dataset for the input pipeline (digits: offline).')
  flags.DEFINE_integer('dcgan_g_width', 0, 'DCGAN g_width (0: the config\'s 1024, 512 at 32x32).')
  flags.DEFINE_integer('sagan_ch', 0, 'SAGAN base channels for G and D (0: the config\'s 64).')
  flags.DEFINE_integer('warmup', 2, 'Untimed steps after compiling.')
  flags.DEFINE_integer('repeats', 5, 'Timed steps (each measurement).')
  flags.DEFINE_integer('input_steps', 20, 'Batches timed for the input-only throughput.')
  flags.DEFINE_integer('host_devices', 8, 'Fake CPU devices (XLA_FLAGS; no effect on GPUs).')
  flags.DEFINE_string('out', '', 'Write the results as markdown to this file.')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  # Must be set before jax is imported (main imports it); parse our flag by hand for that.
  host = next((a.split('=', 1)[1] for a in sys.argv if a.startswith('--host_devices=')), '8')
  if 'xla_force_host_platform_device_count' not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                               f' --xla_force_host_platform_device_count={host}').strip()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  app.run(main)
