"""The 2-D mode-collapse benchmark (VEEGAN / PacGAN protocol): mixtures x losses x seeds.

  python -m jaxgan.study.mixtures --mixtures=ring,grid \
      --losses=non_saturating,minimax,wasserstein_gp,hinge,hinge_gp,least_squares,wgan_clip \
      --seeds=5 --out=/tmp/jaxgan-mixtures

Every run is one `jaxgan.train` of the MLP GAN on the mixture (`base_config`) with the loss
family's overrides (`FAMILIES`) and `train.seed = s` for s in 0..seeds-1, in its own workdir
`--out/<mixture>/<loss>/steps<N>_seed<s>` (rerunning with the same --out reuses finished
runs: their final checkpoint is restored). Afterwards 2,500 samples of one fixed z
are scored with `metrics.mixtures.mode_metrics`, the definitions of VEEGAN (Srivastava et al.
2017) and PacGAN (Lin et al. 2018): a sample is high quality when
it lies within 3 sigma of its nearest mode; a mode is covered when at least one high-quality
sample is nearest to it. The markdown table (mean ± std over seeds, per-seed values, the
settings, the sweep's wall time and its command) is printed and written to --table
(default `--out/mixtures.md`).

Hyperparameters: one set per loss family (`FAMILIES`), the same for every seed and for both
mixtures (only the number of steps differs between ring and grid), chosen on seed 0 and never
per seed; each family's `note` says why. Shared by all families: the MLPs of models/mlp.py
with 3 ReLU layers of 128 units in G and D, z ~ N(0, I_2), batch 256. On CPU the step itself
(the MLPs' matmuls) dominates a run; sampling the mixture in numpy takes ~0.2 ms a step, and
compiling ~7 s per training phase, which the persistent compilation cache set in `main` saves
after the first seed. The recorded result, with its command and wall time, is
bench/results/mixtures.md.
"""

import dataclasses
import os
import tempfile
import time
from typing import Any, Mapping, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import config as config_lib
from jaxgan import data, errors, optim
from jaxgan.experiment import build
from jaxgan.metrics import mixtures as mixture_metrics
from jaxgan.tools import common
from jaxgan.training import train

NUM_EVAL_SAMPLES = 2_500
EVAL_Z_SEED = 2_500           # the fixed z every run is scored on (independent of train.seed)
MIXTURES = data.MIXTURES


def base_config(mixture: str) -> ml_collections.ConfigDict:
  """The MLP GAN on `mixture` before a family's settings (as configs/toy_ring.py)."""
  errors.check_choice('data.dataset', mixture, MIXTURES)
  config = config_lib.default()
  config.data.dataset = mixture
  config.model.name = 'mlp'
  config.log.every_steps = 100
  config.log.samples_every = 500
  return config

# Settings every family shares (dotted config keys).
SHARED = {
    'model.name': 'mlp',
    'model.hidden': 128,
    'model.depth': 3,
    'model.z_dim': 2,
    'train.batch_size': 256,
}


@dataclasses.dataclass(frozen=True)
class Family:
  """One loss family's settings, identical for every seed and both mixtures.

  The run trains `steps[mixture]` generator updates; the last `decay_steps[mixture]` of them
  run with both learning rates times `decay_factor` (a 'step' schedule of config.optim).
  """
  overrides: Mapping[str, Any]
  steps: Mapping[str, int]
  decay_steps: Mapping[str, int] = dataclasses.field(default_factory=dict)
  decay_factor: float = 0.1
  note: str = ''


# Families with one critic update per generator update: the toy configs' Adam, one schedule
# for all of them so that their rows compare like with like.
_ADAM = {'optim.g_optimizer': 'adam', 'optim.d_optimizer': 'adam', 'optim.g_lr': 1e-3,
         'optim.d_lr': 1e-3, 'optim.b1': 0.5, 'optim.b2': 0.999, 'train.d_steps': 1}
_ADAM_SCHEDULE = dict(steps={'ring': 4_000, 'grid': 12_000},
                      decay_steps={'ring': 1_000, 'grid': 2_000})
# Gradient-penalty families: WGAN-GP's Adam betas and 5 critic updates per generator update.
_GP = {'optim.g_optimizer': 'adam', 'optim.d_optimizer': 'adam', 'optim.g_lr': 3e-4,
       'optim.d_lr': 3e-4, 'optim.b1': 0.5, 'optim.b2': 0.9, 'train.d_steps': 5}
_GP_SCHEDULE = dict(steps={'ring': 2_000, 'grid': 5_000},
                    decay_steps={'ring': 500, 'grid': 1_000})

FAMILIES: dict[str, Family] = {
    'non_saturating': Family(
        {**_ADAM, 'loss.name': 'non_saturating'}, **_ADAM_SCHEDULE,
        note='the toy configs\' Adam 1e-3; the 10x lower rate at the end pulls samples onto '
             'the modes (grid seed 0, hinge: 81% -> 89% high quality in 2,000 steps)'),
    'minimax': Family({**_ADAM, 'loss.name': 'minimax'}, **_ADAM_SCHEDULE,
                      note='as non_saturating'),
    'least_squares': Family({**_ADAM, 'loss.name': 'least_squares'}, **_ADAM_SCHEDULE,
                            note='as non_saturating'),
    'hinge': Family({**_ADAM, 'loss.name': 'hinge'}, **_ADAM_SCHEDULE,
                    note='as non_saturating; lr 2e-3 dropped modes on grid seed 0'),
    'wasserstein_gp': Family(
        {**_GP, 'loss.name': 'wasserstein', 'loss.regularizers': {'gradient_penalty': 1.0}},
        **_GP_SCHEDULE,
        note='lambda 1 and lr 3e-4, not the paper\'s 10 and 1e-4: those left a diffuse cloud '
             '(1.5% high quality) after 3,000 steps on grid seed 0; the decay phase sharpens '
             '(ring seed 0: 19% -> 76%)'),
    'hinge_gp': Family(
        {**_GP, 'loss.name': 'hinge', 'loss.regularizers': {'gradient_penalty': 1.0}},
        **_GP_SCHEDULE, note='as wasserstein_gp (not tuned on its own)'),
    'wgan_clip': Family(
        {'optim.g_optimizer': 'rmsprop', 'optim.d_optimizer': 'rmsprop', 'optim.g_lr': 5e-5,
         'optim.d_lr': 5e-5, 'optim.d_clip': 0.01, 'train.d_steps': 5,
         'loss.name': 'wasserstein'},
        steps=_GP_SCHEDULE['steps'],
        note='WGAN Algorithm 1 as published (RMSprop 5e-5, c = 0.01, 5 critic updates), the '
             'GP families\' step counts'),
    'rpgan': Family(
        {**_ADAM, 'loss.name': 'rpgan', 'loss.regularizers': {'r1': 0.05, 'r2': 0.05}},
        **_ADAM_SCHEDULE,
        note='as non_saturating, with R1 and R2 both on as in R3GAN, 0.05 each (gamma 0.1 in '
             'R3GAN\'s gamma/2 convention, twice its CIFAR-10 preset\'s starting gamma); '
             'none of it tuned on its own'),
    'ragan': Family({**_ADAM, 'loss.name': 'ragan'}, **_ADAM_SCHEDULE,
                    note='as non_saturating (not tuned on its own)'),
    'rahinge': Family({**_ADAM, 'loss.name': 'rahinge'}, **_ADAM_SCHEDULE,
                      note='as hinge (not tuned on its own)'),
    'hinge_lecam': Family(
        {**_ADAM, 'loss.name': 'hinge', 'loss.regularizers': {'lecam': 0.3}},
        **_ADAM_SCHEDULE,
        note='hinge\'s settings plus LeCam at 0.3, Tseng et al.\'s CIFAR-10 weight (EMA decay '
             '0.99), not tuned for the 2-D mixtures'),
}

LOSSES = ('non_saturating', 'minimax', 'wasserstein_gp', 'hinge', 'hinge_gp', 'least_squares',
          'wgan_clip')


# ---------------------------------------------------------------------------------------------
# One run.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunResult:
  mixture: str
  loss: str
  seed: int
  steps: int
  modes_covered: float
  num_modes: int
  high_quality: float       # fraction in [0, 1]
  seconds: float


def _set(config: ml_collections.ConfigDict, key: str, value) -> None:
  section, name = key.split('.')
  config[section][name] = value


def make_config(mixture: str, loss: str, seed: int,
                steps: Optional[int] = None) -> ml_collections.ConfigDict:
  """The config of one run: the mixture's toy config, SHARED, the family's overrides, seed.

  `steps` replaces the family's number of generator updates (the decay phase keeps its share).
  """
  if loss not in FAMILIES:
    raise errors.ConfigError(
        f'unknown loss family {loss!r}; choose from {", ".join(FAMILIES)}.')
  family = FAMILIES[loss]
  config = base_config(mixture)
  for key, value in {**SHARED, **family.overrides}.items():
    _set(config, key, value)
  num_steps = family.steps[mixture] if steps is None else steps
  config.train.num_steps = num_steps
  config.train.seed = seed
  config.train.checkpoint_every = num_steps     # one checkpoint, at the end
  config.log.every_steps = max(1, min(500, num_steps))
  config.log.samples_every = 0                  # no scatter plots during the sweep
  decay = family.decay_steps.get(mixture, 0)
  if decay:
    # The last decay_steps of the family's own length at decay_factor x the rates: a step
    # schedule whose milestone is a fraction of num_steps, so --steps keeps its share.
    for key in ('g_schedule', 'd_schedule'):
      config.optim[key] = optim.schedule_config(
          'step', milestones=(1.0 - decay / family.steps[mixture],),
          factor=family.decay_factor)
  return config


def toy_config(mixture: str, loss: str = 'non_saturating') -> ml_collections.ConfigDict:
  """configs/toy_ring.py and toy_grid.py: one run of the benchmark's `loss` family on
  `mixture` (seed 0, the same training as `make_config`), with a checkpoint every 1,000 steps
  and a scatter plot with its mode statistics every 500."""
  config = make_config(mixture, loss, seed=0)
  config.train.checkpoint_every = 1_000
  config.log.every_steps = 100
  config.log.samples_every = 500
  return config


def evaluation_z(z_dim: int) -> jax.Array:
  return jax.random.normal(jax.random.key(EVAL_Z_SEED), (NUM_EVAL_SAMPLES, z_dim))


def score(experiment, state) -> dict[str, float]:
  """mode_metrics of 2,500 samples of the fixed z (the sampling weights: EMA when on)."""
  points = np.asarray(experiment.sample_fn(
      state.sampling_params(), state.sampling_state(), evaluation_z(experiment.z_dim), None))
  centres, sigma = experiment.data.modes
  return mixture_metrics.mode_metrics(points, centres, sigma)


def run_one(mixture: str, loss: str, seed: int, out: str,
            steps: Optional[int] = None) -> RunResult:
  """Trains one (mixture, loss, seed) in its own workdir under `out` and scores it."""
  experiment = build(make_config(mixture, loss, seed, steps))
  num_steps = experiment.loop.num_steps
  workdir = os.path.join(out, mixture, loss, f'steps{num_steps}_seed{seed}')
  start = time.perf_counter()
  state = train(experiment, workdir)
  stats = score(experiment, state)
  return RunResult(mixture=mixture, loss=loss, seed=seed, steps=num_steps,
                   modes_covered=stats['modes_covered'],
                   num_modes=len(data.mixture_modes(mixture)[0]),
                   high_quality=stats['high_quality'], seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------------

ANCHORS = """\
Published anchors (other architectures, optimisers and budgets; for orientation, not
reproduced here):

| mixture | method | modes covered | high-quality % | source |
|---|---|---:|---:|---|
| grid (25) | vanilla GAN | 17.3 | 94.8 | PacGAN (Lin et al. 2018) |
| grid (25) | vanilla GAN | 3.3 | 0.5 | VEEGAN (Srivastava et al. 2017) |
| grid (25) | VEEGAN | 24.6 | 40 | VEEGAN (Srivastava et al. 2017) |
| grid (25) | PacGAN4 | 24.8 | 93.6 | PacGAN (Lin et al. 2018) |
| ring (8) | PacGAN4 | 7.8 | 95.9 | PacGAN (Lin et al. 2018) |
"""


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
  values = np.asarray(values, np.float64)
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _describe_family(loss: str) -> str:
  """One table row of a family's settings."""
  family = FAMILIES[loss]
  config = make_config('grid', loss, seed=0)
  o = config.optim
  regs = dict(config.loss.regularizers.to_dict()) if config.loss.regularizers else {}
  objective = config.loss.name + ''.join(f' + {w:g} {n}' for n, w in regs.items())
  optimiser = (o.d_optimizer if o.g_optimizer == o.d_optimizer
               else f'{o.g_optimizer} / {o.d_optimizer}')
  if 'adam' in (o.g_optimizer, o.d_optimizer):
    optimiser += f' (b1={o.b1:g}, b2={o.b2:g})'
  clip = f'{o.d_clip:g}' if o.d_clip > 0 else '-'
  decay = (' / '.join(str(family.decay_steps[m]) for m in ('ring', 'grid')) +
           f' at {family.decay_factor:g} x lr' if family.decay_steps else '-')
  steps_ = ' / '.join(str(family.steps[m]) for m in ('ring', 'grid'))
  return (f'| {loss} | {objective} | {optimiser} | {o.g_lr:g} / {o.d_lr:g} | {decay} | '
          f'{config.train.d_steps} | {clip} | {steps_} | {family.note} |')


def format_table(results: Sequence[RunResult], *, command: str, wall_seconds: float,
                 environment: str, families: Optional[Sequence[str]] = None) -> str:
  """The markdown report: one row per (mixture, loss), then settings, anchors, provenance."""
  rows = {}
  for r in results:
    rows.setdefault((r.mixture, r.loss), []).append(r)
  lines = [
      '## 2-D mixtures: modes covered and high-quality samples per loss',
      '',
      f'Command: `{command}`',
      '',
      f'Sweep wall time: {wall_seconds / 60:.1f} min for {len(results)} runs; {environment}.',
      '',
      '| mixture | loss | steps | modes covered | high-quality % | modes per seed | '
      'high-quality % per seed | s / run |',
      '|---|---|---:|---:|---:|---|---|---:|',
  ]
  for (mixture, loss), runs in rows.items():
    runs = sorted(runs, key=lambda r: r.seed)
    modes_mean, modes_std = _mean_std([r.modes_covered for r in runs])
    hq_mean, hq_std = _mean_std([100 * r.high_quality for r in runs])
    steps_ = ', '.join(sorted({str(r.steps) for r in runs}))
    lines.append(
        f'| {mixture} ({runs[0].num_modes}) | {loss} | {steps_} | '
        f'{modes_mean:.1f} ± {modes_std:.1f} | {hq_mean:.1f} ± {hq_std:.1f} | '
        f'{", ".join(f"{r.modes_covered:.0f}" for r in runs)} | '
        f'{", ".join(f"{100 * r.high_quality:.1f}" for r in runs)} | '
        f'{np.mean([r.seconds for r in runs]):.0f} |')
  seeds = sorted({r.seed for r in results})
  lines += [
      '',
      f'Mean ± sample standard deviation over seeds {", ".join(map(str, seeds))} (per-seed '
      f'values in seed order). Each run is scored on {NUM_EVAL_SAMPLES:,} samples of one fixed '
      f'z; a sample is high quality within 3 sigma of its nearest mode (ring: sigma 0.01, '
      f'grid: sigma 0.05), and a mode is covered when at least one high-quality sample is '
      f'nearest to it. Seconds per run include compilation and checkpointing.',
      '',
      f'Shared settings: MLP generator and discriminator (models/mlp.py), '
      f'{SHARED["model.depth"]} hidden ReLU layers of {SHARED["model.hidden"]} units each, no '
      f'normalisation; z ~ N(0, I_{SHARED["model.z_dim"]}); batch {SHARED["train.batch_size"]}; '
      f'one set of hyperparameters per loss family, the same for all seeds and both mixtures.',
      '',
      '| loss | objective | optimiser | lr G / D | last steps ring / grid at lower lr | '
      'D steps per G step | weight clip | steps ring / grid | why these settings |',
      '|---|---|---|---|---|---:|---:|---|---|',
  ]
  for loss in families or list(dict.fromkeys(r.loss for r in results)):
    lines.append(_describe_family(loss))
  lines += ['', ANCHORS]
  return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------
# The sweep.
# ---------------------------------------------------------------------------------------------

def _environment() -> str:
  load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
  return (f'{os.cpu_count()} CPU cores shared with other jobs (1-min load average at start '
          f'{load:.1f}), jax {jax.__version__} on {len(jax.devices())} '
          f'{jax.devices()[0].platform.upper()} device(s)')


def sweep(mixtures: Sequence[str], losses: Sequence[str], seeds: int, out: str, *,
          steps: Optional[int] = None, table_path: Optional[str] = None,
          command: str = '') -> tuple[list[RunResult], str]:
  """Runs every (mixture, loss, seed), prints progress, writes and returns the table."""
  for flag, names, known in (('mixtures', mixtures, MIXTURES),
                             ('losses', losses, FAMILIES)):
    unknown = [n for n in names if n not in known]
    if unknown or not names:
      raise errors.ConfigError(
          f'--{flag}={",".join(names)} names {", ".join(unknown) or "nothing"}; choose from '
          f'{", ".join(known)}.')
  if seeds < 1:
    raise errors.ConfigError(f'--seeds={seeds} must be >= 1.')
  if steps is not None and steps < 1:
    raise errors.ConfigError(f'--steps={steps} must be >= 1 (or unset for each family\'s own).')
  environment = _environment()
  start = time.perf_counter()
  results = []
  for mixture in mixtures:
    for loss in losses:
      for seed in range(seeds):
        r = run_one(mixture, loss, seed, out, steps)   # its experiment's executables die with it
        results.append(r)
        print(f'{mixture} {loss} seed {seed}: {r.modes_covered:.0f}/{r.num_modes} modes, '
              f'{100 * r.high_quality:.1f}% high quality ({r.steps} steps, {r.seconds:.0f} s)',
              flush=True)
  table = format_table(results, command=command, wall_seconds=time.perf_counter() - start,
                       environment=environment, families=losses)
  table_path = table_path or os.path.join(out, 'mixtures.md')
  os.makedirs(os.path.dirname(os.path.abspath(table_path)), exist_ok=True)
  with open(table_path, 'w') as f:
    f.write(table + '\n')
  print(table, flush=True)
  print(f'Table written to {table_path}.', flush=True)
  return results, table


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_list('mixtures', ['ring', 'grid'], 'Mixtures: ring, grid.')
  flags.DEFINE_list('losses', list(LOSSES),
                    f'Loss families: {", ".join(FAMILIES)} (default: {", ".join(LOSSES)}).')
  flags.DEFINE_integer('seeds', 5, 'Seeds 0..seeds-1 per (mixture, loss).')
  flags.DEFINE_integer('steps', None, 'Generator updates per run (default: per family).')
  flags.DEFINE_string('out', None, 'Folder for the runs (default: a new temp folder).')
  flags.DEFINE_string('table', None, 'Markdown table path (default: OUT/mixtures.md).')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  logging.set_verbosity(logging.WARNING)   # the training loop's per-step INFO lines
  # Every run compiles the same few steps again: reuse them from disk.
  common.use_default_compilation_cache()
  out = f.out or tempfile.mkdtemp(prefix='jaxgan-mixtures-')
  command = (f'python -m jaxgan.study.mixtures --mixtures={",".join(f.mixtures)} '
             f'--losses={",".join(f.losses)} --seeds={f.seeds}'
             + (f' --steps={f.steps}' if f.steps else '') + f' --out={out}'
             + (f' --table={f.table}' if f.table else ''))
  with common.user_errors():
    sweep(f.mixtures, f.losses, f.seeds, out, steps=f.steps,
          table_path=f.table, command=command)


def cli() -> None:
  _define_flags()
  common.run(main)


if __name__ == '__main__':
  cli()
