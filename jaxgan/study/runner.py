"""Named studies: a list of runs trained in sequence, each into its own workdir.

  python -m jaxgan.study --study=seed --out=runs/seed \\
      --set data.dataset=digits --set train.num_steps=2000 [--runs=dcgan,wgan_gp]

A study is a named list of `Run`s: a run name (its workdir under the study directory), a
config (a config file's name in the configs folder, `--configs`, by default ./configs; or a
family of the 2-D mixtures benchmark, which the library owns) and the run's own overrides. `--set [RUNS:]key=value` overrides a config field of every run (or of the runs
named or matched by the comma-separated fnmatch patterns RUNS, e.g. `sagan_*:model.g_width=16`)
after the run's own overrides; a key that no selected run's config has is an error, and a
key for every run applies to the runs whose model and data read it (SAGAN's attention fields:
the SAGAN runs; `jaxgan.validation.unread`).

Runs train one after another in this process with `jaxgan.train`. A run whose checkpoints
already reach its `train.num_steps` is skipped; an interrupted one resumes from its latest
checkpoint (what `train` does with an existing workdir), so rerunning the same command
finishes an interrupted study without redoing finished runs. A run that diverges is recorded
as such and the study goes on with the next; SIGTERM saves the running run's checkpoint,
records it as preempted and stops the study (rerun to resume). `STUDY_DIR/study.json` holds
the definition, the overrides, each run's resolved overrides and status, and every command
that ran the study there; `python -m jaxgan.report STUDY_DIR` reads it. An unreadable
study.json stops the study before anything trains, and is kept. One study process at
a time owns a study directory (`STUDY_DIR/.lock`).
"""

import ast
import dataclasses
import fnmatch
import functools
import json
import os
import time
from typing import Any, Callable, Mapping, Optional, Sequence

import ml_collections

from jaxgan import checkpoint
from jaxgan import config as config_lib
from jaxgan import errors
from jaxgan import experiment
from jaxgan import training
from jaxgan import validation
from jaxgan import workdir as workdir_lib
from jaxgan.study import mixtures


class StudyError(errors.JaxganError):
  """A study name, run name or study directory is wrong."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One run of a study.

  `config` is a config file in the configs folder ('dcgan.py') or one family of the 2-D
  mixtures benchmark ('mixtures:ring/hinge': `mixtures.make_config('ring', 'hinge', seed=0)`,
  with the family's learning-rate schedule as the benchmark has it).
  """
  name: str
  config: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Study:
  name: str
  description: str
  runs: tuple[Run, ...]


def _seed_study() -> Study:
  names = ('dcgan', 'dcgan_wasserstein', 'wgan_clip', 'wgan_gp', 'sagan_hinge', 'sagan_minimax',
           'sagan_wasserstein')
  return Study(
      name='seed',
      description=('The comparison of "A comparative study of Generative Adversarial '
                   'Networks": DCGAN, W-DCGAN, WGAN with weight clipping, WGAN-GP and SAGAN '
                   'with the hinge, minimax and Wasserstein losses, each with its config\'s '
                   'settings.'),
      runs=tuple(Run(name, f'{name}.py') for name in names))


def _mixtures_study() -> Study:
  runs = []
  for mixture in mixtures.MIXTURES:
    for loss in mixtures.LOSSES:
      # Scatter plots (and the modes-covered / high-quality scalars logged with them) every
      # 500 steps; the benchmark sweep turns them off, a study's report shows them.
      runs.append(Run(f'{mixture}_{loss}', f'mixtures:{mixture}/{loss}',
                      {'log.samples_every': 500, 'log.every_steps': 100}))
  return Study(
      name='mixtures',
      description=('The 2-D mode-collapse benchmark (8-mode ring, 25-mode grid) with every '
                   'loss family of jaxgan.study.mixtures, seed 0: scatter plots over the mode '
                   'centres, modes covered and high-quality samples.'),
      runs=tuple(runs))


STUDIES: dict[str, Callable[[], Study]] = {'seed': _seed_study, 'mixtures': _mixtures_study}


def get_study(name: str) -> Study:
  if name not in STUDIES:
    raise StudyError(f'unknown study {name!r}; choose one of {", ".join(STUDIES)}.')
  return STUDIES[name]()


def select_runs(study: Study, names: Optional[Sequence[str]]) -> Study:
  """The study restricted to the runs `names` (all of them when None or empty)."""
  if not names:
    return study
  known = [r.name for r in study.runs]
  unknown = [n for n in names if n not in known]
  if unknown:
    raise StudyError(f'--runs names {", ".join(unknown)}, not in study {study.name!r}; '
                     f'choose from {", ".join(known)}.')
  return dataclasses.replace(study, runs=tuple(r for r in study.runs if r.name in names))


# ---------------------------------------------------------------------------------------------
# Configs and overrides.
# ---------------------------------------------------------------------------------------------

DEFAULT_CONFIGS = 'configs'


def base_config(run: Run, configs_dir: str = DEFAULT_CONFIGS) -> ml_collections.ConfigDict:
  """The run's config before any override (config files are read from `configs_dir`)."""
  if run.config.startswith('mixtures:'):
    mixture, _, loss = run.config[len('mixtures:'):].partition('/')
    return mixtures.make_config(mixture, loss, seed=0)
  if not run.config.endswith('.py'):
    raise StudyError(f'run {run.name!r} names config {run.config!r}; use a config file name '
                     f'(e.g. dcgan.py) or mixtures:<ring|grid>/<loss family>.')
  path = os.path.join(configs_dir, run.config)
  if not os.path.isfile(path):
    raise StudyError(f'run {run.name!r}: {path} does not exist; run from the repository root '
                     f'(where configs/ is) or pass --configs=DIR, the folder of the config '
                     f'files.')
  return config_lib.from_file(path)


@dataclasses.dataclass(frozen=True)
class Override:
  """`--set [RUNS:]key=value`: `runs` are fnmatch patterns of run names (None: every run)."""
  text: str
  key: str
  value: str
  runs: Optional[tuple[str, ...]] = None

  def selects(self, run_name: str) -> bool:
    return self.runs is None or any(fnmatch.fnmatchcase(run_name, p) for p in self.runs)


def parse_overrides(texts: Sequence[str]) -> list[Override]:
  result = []
  for text in texts:
    target, eq, value = text.partition('=')
    selector, colon, key = target.rpartition(':')
    key = key.strip()
    if not eq or not key or (colon and not selector.strip()):
      raise errors.ConfigError(
          f'--set {text!r} is not [RUNS:]key=value; write e.g. --set train.num_steps=200.')
    runs = tuple(p.strip() for p in selector.split(',') if p.strip()) if colon else None
    result.append(Override(text=text, key=key, value=value, runs=runs))
  return result


def _lookup(config: ml_collections.ConfigDict, key: str):
  """(parent ConfigDict, field name) of a dotted key, or None when the config lacks it."""
  *path, name = key.split('.')
  node = config
  for part in path:
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return None
    node = node[part]
  if not isinstance(node, ml_collections.ConfigDict) or name not in node:
    return None
  return node, name


def _field_type(parent: ml_collections.ConfigDict, name: str) -> Optional[type]:
  """The type a field holds (also for an unset, None-valued field that names its type)."""
  try:
    return parent.get_ref(name).get_type()
  except (AttributeError, KeyError, TypeError):
    value = parent[name]
    return None if value is None else type(value)


def _parse_value(text: str, kind: Optional[type]) -> Any:
  """`text` as a value of type `kind`: Python literals, bare strings, 'a,b' tuples."""
  if kind is str:
    return text
  if kind is bool and text.strip().lower() in ('true', 'false'):
    return text.strip().lower() == 'true'
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if kind is tuple and isinstance(value, (str, list)):
    value = tuple(value) if isinstance(value, list) else tuple(
        v.strip() for v in value.split(',') if v.strip())
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    value = float(value)
  return value


def _set(config: ml_collections.ConfigDict, key: str, text_or_value: Any, *, run: str,
         origin: str, parse: bool) -> Any:
  parent, name = _lookup(config, key)
  current, kind = parent[name], _field_type(parent, name)
  value = _parse_value(text_or_value, kind) if parse else text_or_value
  try:
    parent[name] = value
  except (TypeError, ValueError) as e:
    raise errors.ConfigError(
        f'{origin}: config.{key} of run {run!r} holds a value of type '
        f'{getattr(kind, "__name__", kind)} ({current!r}), which {value!r} cannot '
        f'replace.') from e
  return parent[name]


def resolve(study: Study, overrides: Sequence[Override], configs_dir: str = DEFAULT_CONFIGS
            ) -> dict[str, ml_collections.ConfigDict]:
  """Every run's config, with its own overrides then the matching `overrides`, validated.

  Raises ConfigError on an override that no selected run's config has (or whose RUNS select
  nothing) and on a config that `jaxgan.build` rejects, before anything trains.
  """
  configs, _ = _apply(study, overrides, configs_dir)
  for name, config in configs.items():
    try:
      experiment.build(config)   # every value and every part's arguments; nothing loads
    except errors.ConfigError as e:
      raise errors.ConfigError(f'run {name!r}: {e}') from e
  return configs


def applied_overrides(study: Study, overrides: Sequence[Override],
                      configs_dir: str = DEFAULT_CONFIGS) -> dict[str, list[str]]:
  """{run: the --set texts that apply to it} (an override skips runs without its key, and
  one for every run skips the runs whose model or data never reads it)."""
  return _apply(study, overrides, configs_dir)[1]


def _apply(study: Study, overrides: Sequence[Override], configs_dir: str
           ) -> tuple[dict[str, ml_collections.ConfigDict], dict[str, list[str]]]:
  """({run: config with its overrides}, {run: the --set texts applied to it})."""
  configs, applied = {}, {}
  for run in study.runs:
    config = base_config(run, configs_dir)
    for key, value in run.overrides.items():
      if _lookup(config, key) is None:
        raise StudyError(f'study {study.name!r}: run {run.name!r} overrides {key!r}, which its '
                         f'config {run.config} does not have.')
      _set(config, key, value, run=run.name, origin=f'study {study.name!r}', parse=False)
    configs[run.name], applied[run.name] = config, []
  for o in overrides:
    selected = [name for name in configs if o.selects(name)]
    if not selected:
      raise errors.ConfigError(
          f'--set {o.text!r} selects none of the runs {", ".join(configs)}; fix the names '
          f'before the colon.')
    having = [name for name in selected if _lookup(configs[name], o.key) is not None]
    if not having:
      raise errors.ConfigError(
          f'--set {o.text!r}: no run\'s config has the key {o.key!r}; use a field that the '
          f'configs define (see configs/default.py, e.g. train.num_steps).')
    if o.runs is None:
      # A --set for every run skips the runs whose model or data never reads the key (a
      # SAGAN-only key is not refused on the study's DCGAN runs); named runs get it anyway.
      reading = [name for name in having if not validation.unread(configs[name], o.key)]
      if not reading:
        who = validation.unread(configs[having[0]], o.key)
        raise errors.ConfigError(f'--set {o.text!r}: no run reads {o.key!r} ({who} does not, '
                                 f'nor do the others); remove it.')
      having = reading
    for name in having:
      _set(configs[name], o.key, o.value, run=name, origin=f'--set {o.text!r}', parse=True)
      applied[name].append(o.text)
  return configs, applied


# ---------------------------------------------------------------------------------------------
# The study directory.
# ---------------------------------------------------------------------------------------------

def latest_step(workdir: str) -> Optional[int]:
  """The newest checkpoint's step in `workdir`, or None (no checkpoints yet)."""
  folder = workdir_lib.Paths.of(workdir).checkpoints
  if not os.path.isdir(folder):
    return None
  ckpt = checkpoint.Checkpointer(folder, read_only=True)
  try:
    return ckpt.latest_step()
  finally:
    ckpt.close()


class _Record:
  """STUDY_DIR/study.json: the definition, the overrides, every run's status, the history."""

  def __init__(self, out: str, study: Study, overrides: Sequence[Override],
               applied: Mapping[str, list[str]], command: str):
    self.path = os.path.join(out, 'study.json')
    previous = {}
    if os.path.exists(self.path):
      try:
        with open(self.path) as f:
          previous = json.load(f)
        if not isinstance(previous, dict):
          raise ValueError(f'a JSON {type(previous).__name__}, not an object')
      except (OSError, ValueError) as e:
        # It holds the study's history and statuses: never replaced without the user's word.
        raise StudyError(
            f'{self.path} cannot be read ({e}), so it is left as it is; restore it (from a '
            f'backup), or move it aside to start a new record (the runs resume from their '
            f'checkpoints; the old history and statuses stay in the moved file).') from None
    if previous.get('study') not in (None, study.name):
      raise StudyError(f'{out} holds study {previous["study"]!r}, not {study.name!r}; use '
                       f'another --out.')
    status = previous.get('status', {})
    history = previous.get('history', [])
    history.append({'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                    'command': command, 'runs': [r.name for r in study.runs],
                    'overrides': [o.text for o in overrides]})
    # Runs of earlier invocations that this one does not train (--runs) stay listed.
    runs = {r['name']: r for r in previous.get('runs', [])}
    for r in study.runs:
      runs[r.name] = {'name': r.name, 'config': r.config, 'overrides': dict(r.overrides),
                      'set': applied[r.name], 'workdir': r.name}
    self.data = {'study': study.name, 'description': study.description,
                 'overrides': [o.text for o in overrides], 'command': command,
                 'runs': list(runs.values()), 'status': status, 'history': history}
    self.write()

  def update(self, run: str, **fields) -> None:
    self.data['status'][run] = {**fields,
                                'updated': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    self.write()

  def write(self) -> None:
    workdir_lib.write_json(self.path, self.data)


def run_study(study: Study, out: str, overrides: Sequence[Override] = (), *,
              command: str = '', train_fn: Optional[Callable] = None,
              configs_dir: str = DEFAULT_CONFIGS,
              log: Callable[[str], None] = functools.partial(print, flush=True),
              ) -> dict[str, dict]:
  """Trains every run of `study` in turn into `out/<run name>`; returns {run: status}.

  `train_fn(config, workdir)` defaults to `jaxgan.train` (tests pass a wrapper). A run whose
  latest checkpoint reaches its num_steps is skipped; one that stopped earlier resumes.
  TrainingDiverged is recorded and the next run starts; Preempted (SIGTERM) is recorded and
  re-raised, stopping the study; other errors stop the study.
  """
  if train_fn is None:
    train_fn = training.train
  configs = resolve(study, overrides, configs_dir)   # every config checked before training
  workdir_lib.make(out, flag='--out')
  with workdir_lib.Lock(os.path.join(out, '.lock'), 'running a study'):
    record = _Record(out, study, overrides, applied_overrides(study, overrides, configs_dir),
                     command)
    statuses = {}
    for i, run in enumerate(study.runs, 1):
      statuses[run.name] = _run_one(run, configs[run.name], os.path.join(out, run.name),
                                    train_fn, record, log, prefix=f'[{i}/{len(study.runs)}] '
                                    f'{run.name}')
  return statuses


def _run_one(run: Run, config, workdir: str, train_fn: Callable, record: '_Record',
             log: Callable[[str], None], prefix: str) -> dict:
  """Trains (or skips) one run and records its status."""
  num_steps = config.train.num_steps
  step = latest_step(workdir)
  if step is not None and step >= num_steps:
    log(f'{prefix}: finished earlier (checkpoint at step {step}); skipped.')
    status = {'state': 'finished', 'step': step}
    if record.data['status'].get(run.name, {}).get('state') != 'finished':
      record.update(run.name, **status)
    return status
  log(f'{prefix}: {"resuming at step %d" % step if step else "training"} to step '
      f'{num_steps} in {workdir}.')
  record.update(run.name, state='running', step=step or 0)
  start = time.perf_counter()
  try:
    train_fn(config, workdir)
  except errors.TrainingDiverged as e:
    status = {'state': 'diverged', 'step': latest_step(workdir), 'error': str(e)}
    record.update(run.name, **status)
    log(f'{prefix}: diverged: {e}')
    return status
  except errors.Preempted as e:
    record.update(run.name, state='preempted', step=latest_step(workdir), error=str(e))
    log(f'{prefix}: preempted; rerun the same command to resume the study.')
    raise
  seconds = time.perf_counter() - start
  status = {'state': 'finished', 'step': latest_step(workdir), 'seconds': round(seconds, 1)}
  record.update(run.name, **status)
  log(f'{prefix}: finished in {seconds:.0f} s.')
  return status
