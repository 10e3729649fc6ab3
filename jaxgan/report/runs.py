"""Reading the runs: what each workdir wrote, and the small facts the page states about a run.

Everything here reads; nothing writes. A file that exists but cannot be opened (permissions, a
folder where a file should be) raises ReportError naming it; content that is damaged (a line
of metrics.jsonl cut short or not UTF-8, a JSON file that does not parse, a PNG that is cut
short or not a PNG) is skipped with a note on the run, which the page shows under the results.
"""

import dataclasses
import json
import os
import re
from typing import Any, Optional, Sequence

import numpy as np

from jaxgan import errors
from jaxgan.metrics import evaluators as evaluators_lib

_STEP_PNG = re.compile(r'^step_(\d+)\.png$')
_WORKDIR_FILES = ('config.json', 'metrics.jsonl', 'run_info.json')
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'IEND\xaeB`\x82'        # the IEND chunk's type and CRC, the last 8 bytes of a PNG
_METRIC_LABELS = {'fid': 'FID', 'kid': 'KID', 'inception_score': 'Inception Score'}
EVALUATIONS_FILE = 'evaluations.jsonl'   # what `python -m jaxgan.tools.evaluate` appends


class ReportError(errors.JaxganError):
  """A report's inputs are missing or unreadable, or its output folder cannot be written."""


def unreadable(path: str, e: OSError) -> ReportError:
  """The one-sentence error of an input file or folder that exists but cannot be read."""
  return ReportError(f'cannot read {path} ({e.strerror or e}); make it readable, or move it '
                     f'out of the way, and run the report again.')


def read_bytes(path: str) -> bytes:
  """The content of an input file; ReportError naming it if it cannot be read."""
  try:
    with open(path, 'rb') as f:
      return f.read()
  except OSError as e:
    raise unreadable(path, e) from None


# ---------------------------------------------------------------------------------------------
# What one workdir logged.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Series:
  """One logged metric: its values at the logged steps, by step."""
  steps: np.ndarray
  values: np.ndarray

  def __len__(self) -> int:
    return len(self.steps)

  def last(self) -> tuple[int, float]:
    return int(self.steps[-1]), float(self.values[-1])


@dataclasses.dataclass(frozen=True)
class Best:
  """A run's best evaluation: the metric (a config.eval.best_metric name), its step and value,
  and its protocol record (jaxgan.metrics.protocol; None when the run did not record it)."""
  metric: str
  step: int
  value: float
  protocol: Optional[dict] = dataclasses.field(default=None, compare=False)

  @property
  def label(self) -> str:
    return metric_label(self.metric)


@dataclasses.dataclass
class Run:
  """What one workdir logged."""
  name: str
  workdir: str
  config: dict
  run_info: dict
  metrics: dict[str, Series]
  elapsed: Optional[Series]              # wall-clock seconds at each logged step
  samples: list[tuple[int, str]]         # (step, path) of readable samples/step_*.png, by step
  attention: list[tuple[int, str]]
  best_saved: Optional[Best]             # from best_fid.json
  best_fid_png: Optional[str]            # samples/best_fid.png, if readable
  status: Optional[dict] = None          # from study.json
  notes: list[str] = dataclasses.field(default_factory=list)
  # The protocol record of each evaluation row of metrics.jsonl (`eval/protocol`), by step.
  eval_protocols: dict[int, dict] = dataclasses.field(default_factory=dict)
  # The rows of evaluations.jsonl (jaxgan.tools.evaluate's scores), in the order written.
  evaluations: list[dict] = dataclasses.field(default_factory=list)

  def cfg(self, section: str, key: str, default: Any = None) -> Any:
    value = self.config.get(section, {})
    return value.get(key, default) if isinstance(value, dict) else default

  @property
  def is_2d(self) -> bool:
    return self.cfg('data', 'dataset') in ('ring', 'grid') or 'modes/modes_covered' in self.metrics

  @property
  def started(self) -> bool:
    return bool(self.config or self.metrics)

  @property
  def last_step(self) -> Optional[int]:
    steps = [int(s.steps[-1]) for s in self.metrics.values() if len(s)]
    return max(steps) if steps else None


def _read_json(path: str, notes: list[str]) -> Optional[Any]:
  if not os.path.exists(path):
    return None
  data = read_bytes(path)
  try:
    return json.loads(data)        # bytes: json detects UTF-8/16/32 whatever the locale
  except (ValueError, RecursionError) as e:
    notes.append(f'{os.path.basename(path)} could not be read ({e}).')
    return None


def _read_json_object(path: str, notes: list[str]) -> dict:
  """A JSON file that should hold an object, as a dict ({} if missing or not an object)."""
  value = _read_json(path, notes)
  if value is not None and not isinstance(value, dict):
    notes.append(f'{os.path.basename(path)} holds no JSON object; ignored.')
    return {}
  return value or {}


def read_metrics(path: str, notes: Optional[list[str]] = None,
                 protocols: Optional[dict[int, dict]] = None) -> dict[int, dict[str, float]]:
  """metrics.jsonl as {step: {name: value}}; a resumed run's later lines win.

  Lines that are cut short, not UTF-8 or not a JSON object with a step are skipped and counted
  in `notes`. The evaluation rows' protocol records (`eval/protocol` objects) go to
  `protocols` ({step: record}) when it is given.
  """
  rows: dict[int, dict[str, float]] = {}
  if not os.path.exists(path):
    return rows
  bad = 0
  try:
    with open(path, 'rb') as f:     # bytes, decoded line by line: junk spoils one line only
      for line in f:
        line = line.strip()
        if not line:
          continue
        try:
          record = json.loads(line.decode('utf-8'))
          step = int(record['step'])
          values = {k: float(v) for k, v in record.items()
                    if k != 'step' and isinstance(v, (int, float)) and not isinstance(v, bool)}
          protocol = record.get('eval/protocol')
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
          bad += 1                          # e.g. a line cut short when a run was killed
          continue
        rows.setdefault(step, {}).update(values)
        if protocols is not None and isinstance(protocol, dict):
          protocols[step] = protocol
  except OSError as e:
    raise unreadable(path, e) from None
  if bad and notes is not None:
    notes.append(f'metrics.jsonl: {bad} unreadable line(s) skipped (cut short, not UTF-8 or '
                 f'not JSON).')
  return rows


def read_evaluations(path: str, notes: Optional[list[str]] = None) -> list[dict]:
  """evaluations.jsonl (`python -m jaxgan.tools.evaluate`'s scores), one dict a line, in the
  order written: {'step', 'checkpoint', 'ema', 'num', metrics (floats or None), 'protocol'}.

  Lines that are cut short, not UTF-8 or without a step are skipped and counted in `notes`.
  """
  out: list[dict] = []
  if not os.path.exists(path):
    return out
  bad = 0
  for line in read_bytes(path).split(b'\n'):
    line = line.strip()
    if not line:
      continue
    try:
      record = json.loads(line.decode('utf-8'))
      row = {'step': int(record['step']), 'checkpoint': str(record.get('checkpoint', '?')),
             'ema': bool(record.get('ema')), 'num': record.get('num'),
             'protocol': (record.get('protocol') if isinstance(record.get('protocol'), dict)
                          else None)}
      for key in ('fid', 'kid_mean', 'kid_std', 'is_mean', 'is_std', 'precision', 'recall',
                  'density', 'coverage'):
        value = record.get(key)
        row[key] = (float(value) if isinstance(value, (int, float))
                    and not isinstance(value, bool) else None)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
      bad += 1
      continue
    out.append(row)
  if bad and notes is not None:
    notes.append(f'{EVALUATIONS_FILE}: {bad} unreadable line(s) skipped (cut short, not UTF-8 '
                 f'or not JSON).')
  return out


def series(rows: dict[int, dict[str, float]]) -> dict[str, Series]:
  keys = sorted({k for row in rows.values() for k in row if k != 'time'})
  out = {}
  for key in keys:
    steps = sorted(s for s, row in rows.items() if key in row and np.isfinite(row[key]))
    if steps:
      out[key] = Series(np.asarray(steps), np.asarray([rows[s][key] for s in steps]))
  return out


def wall_clock(rows: dict[int, dict[str, float]]) -> Optional[Series]:
  """Seconds of training and evaluation at each logged step (see the package docstring)."""
  if not rows:
    return None
  steps = sorted(rows)
  if not any('steps_per_sec' in rows[s] for s in steps):
    times = [(s, rows[s]['time']) for s in steps if 'time' in rows[s]]
    if not times:
      return None
    t0 = times[0][1]
    return Series(np.asarray([s for s, _ in times]), np.asarray([t - t0 for _, t in times]))
  elapsed, previous, out = 0.0, 0, []
  for s in steps:
    row = rows[s]
    rate = row.get('steps_per_sec', 0.0)
    if rate > 0:
      elapsed += (s - previous) / rate
      previous = s
    elapsed += max(row.get('eval/seconds', 0.0), 0.0)
    out.append(elapsed)
  return Series(np.asarray(steps), np.asarray(out))


def png_problem(path: str) -> Optional[str]:
  """Why `path` is no usable PNG ('is empty', 'is not a PNG', 'is cut short'), or None.

  Reads its first and last bytes only, so checking every grid of a long run stays cheap.
  """
  try:
    with open(path, 'rb') as f:
      head = f.read(len(_PNG_SIGNATURE))
      size = f.seek(0, os.SEEK_END)
      f.seek(max(size - 64, 0))
      tail = f.read()
  except OSError as e:
    raise unreadable(path, e) from None
  if not size:
    return 'is empty'
  if head != _PNG_SIGNATURE:
    return 'is not a PNG'
  if _PNG_END not in tail:
    return 'is cut short (no end chunk)'
  return None


def _usable_png(workdir: str, path: str, notes: list[str]) -> bool:
  problem = png_problem(path)
  if problem:
    notes.append(f'{os.path.relpath(path, workdir)} {problem}; skipped.')
  return problem is None


def _pngs(workdir: str, subdir: str, notes: list[str]) -> list[tuple[int, str]]:
  """(step, path) of the usable step_*.png in workdir/subdir, by step."""
  folder = os.path.join(workdir, subdir)
  if not os.path.isdir(folder):
    return []
  try:
    names = os.listdir(folder)
  except OSError as e:
    raise unreadable(folder, e) from None
  found = []
  for name in names:
    m = _STEP_PNG.match(name)
    if m:
      found.append((int(m.group(1)), os.path.join(folder, name)))
  return [(step, p) for step, p in sorted(found) if _usable_png(workdir, p, notes)]


def _best_saved(record: Optional[Any], notes: list[str]) -> Optional[Best]:
  """best_fid.json: {step, metric, value, <metric>: value, protocol}; before best_metric,
  {step, fid}."""
  if record is None:
    return None
  try:
    if not isinstance(record, dict):
      raise TypeError(record)
    if 'metric' in record:
      metric = str(record['metric'])
      value = record['value'] if 'value' in record else record[metric]
    else:
      metric, value = 'fid', record['fid']
    protocol = record.get('protocol')
    best = Best(metric, int(record['step']), float(value),
                protocol if isinstance(protocol, dict) else None)
  except (KeyError, TypeError, ValueError, OverflowError):
    notes.append('best_fid.json holds no step and value; ignored.')
    return None
  return best if np.isfinite(best.value) else None


def load_run(workdir: str, name: Optional[str] = None, status: Optional[dict] = None) -> Run:
  notes: list[str] = []
  eval_protocols: dict[int, dict] = {}
  rows = read_metrics(os.path.join(workdir, 'metrics.jsonl'), notes, eval_protocols)
  config = _read_json_object(os.path.join(workdir, 'config.json'), notes)
  run_info = _read_json_object(os.path.join(workdir, 'run_info.json'), notes)
  best = _best_saved(_read_json(os.path.join(workdir, 'best_fid.json'), notes), notes)
  best_png = os.path.join(workdir, 'samples', 'best_fid.png')
  return Run(
      name=name or os.path.basename(os.path.normpath(workdir)),
      workdir=workdir,
      config=config,
      run_info=run_info,
      metrics=series(rows),
      elapsed=wall_clock(rows),
      samples=_pngs(workdir, 'samples', notes),
      attention=_pngs(workdir, 'attention', notes),
      best_saved=best,
      best_fid_png=(best_png if os.path.exists(best_png) and _usable_png(workdir, best_png, notes)
                    else None),
      status=status if isinstance(status, dict) else None, notes=notes,
      eval_protocols=eval_protocols,
      evaluations=read_evaluations(os.path.join(workdir, EVALUATIONS_FILE), notes))


def _is_workdir(path: str) -> bool:
  return any(os.path.exists(os.path.join(path, f)) for f in _WORKDIR_FILES)


def discover(paths: Sequence[str]) -> tuple[Optional[dict], list[Run]]:
  """(study.json or None, runs) of one study directory or of one or more workdirs."""
  if not paths:
    raise ReportError('pass a study directory (made by python -m jaxgan.study) or one or more '
                      'training workdirs.')
  for p in paths:
    if not os.path.isdir(p):
      raise ReportError(f'{p} is not a directory; pass a study directory (made by python -m '
                        f'jaxgan.study) or training workdirs.')
  if len(paths) == 1 and not _is_workdir(paths[0]):
    root = paths[0]
    study = _read_json(os.path.join(root, 'study.json'), [])
    study = study if isinstance(study, dict) else None
    names: list[str] = []
    if study:
      names = [r['name'] for r in study.get('runs', []) if isinstance(r, dict) and 'name' in r]
    try:
      listed = os.listdir(root)
    except OSError as e:
      raise unreadable(root, e) from None
    names += sorted(n for n in listed if n not in names and _is_workdir(os.path.join(root, n)))
    if not names:
      raise ReportError(f'{root} holds no training runs (no subfolder with config.json or '
                        f'metrics.jsonl); pass a study directory or training workdirs.')
    statuses = (study or {}).get('status') or {}
    statuses = statuses if isinstance(statuses, dict) else {}
    return study, [load_run(os.path.join(root, n), n, statuses.get(n)) for n in names]
  for p in paths:
    if not _is_workdir(p):
      raise ReportError(f'{p} is not a training workdir (it has no config.json or '
                        f'metrics.jsonl); pass workdirs of jaxgan runs or one study directory.')
  names = [os.path.basename(os.path.normpath(p)) for p in paths]
  if len(set(names)) < len(names):   # same folder names in different places
    names = [os.path.join(*os.path.normpath(os.path.abspath(p)).split(os.sep)[-2:])
             for p in paths]
  return None, [load_run(p, n) for p, n in zip(paths, names)]


# ---------------------------------------------------------------------------------------------
# Facts about a run, as the page states them.
# ---------------------------------------------------------------------------------------------

def metric_label(name: str) -> str:
  """How the page names an evaluation metric: 'FID' for 'fid', 'KID' for 'kid'."""
  return _METRIC_LABELS.get(name, name)


def loss_name(run: Run) -> str:
  if run.run_info.get('loss'):
    return str(run.run_info['loss'])
  if not run.config:
    return '–'
  name = run.cfg('loss', 'name', '?')
  regs = run.cfg('loss', 'regularizers', {}) or {}
  regs = regs if isinstance(regs, dict) else {}
  return name + ''.join(f' + {w:g} * {n}' for n, w in regs.items()
                        if isinstance(w, (int, float)))


def model_name(run: Run) -> str:
  if not run.config:
    return '–'
  model = run.cfg('model', 'name', '?')
  dataset = run.cfg('data', 'dataset', '?')
  if run.is_2d:
    return f'{model}, {dataset}'
  size = run.cfg('data', 'image_size')
  return f'{model}, {dataset} {size}x{size}' if size else f'{model}, {dataset}'


def best_metric(run: Run) -> str:
  """The metric the run keeps its best state by: best_fid.json's, else its config's, else fid."""
  if run.best_saved is not None:
    return run.best_saved.metric
  return str(run.cfg('eval', 'best_metric') or 'fid')


def best_eval(run: Run) -> Optional[Best]:
  """best_fid.json's step and value, else the best logged value of the run's best metric in
  the direction its evaluator declares (`metrics = {name: 'lower' | 'higher'}`), as training
  keeps its best; None when nothing is logged or no registered evaluator gives the metric a
  direction (a best cannot be picked then)."""
  if run.best_saved is not None:
    return run.best_saved
  metric = best_metric(run)
  logged = run.metrics.get(f'eval/{metric}')
  if logged is None:
    return None
  direction = evaluators_lib.declared_direction(metric)
  if direction is None:
    return None
  # As training keeps its best: the first of equal values (`series` holds finite ones only).
  pick = np.argmax if direction == evaluators_lib.HIGHER else np.argmin
  i = int(pick(logged.values))
  step = int(logged.steps[i])
  return Best(metric, step, float(logged.values[i]), run.eval_protocols.get(step))


def last_evaluated(run: Run) -> Optional[dict]:
  """The newest evaluations.jsonl row with an FID (jaxgan.tools.evaluate's), or None."""
  rows = [r for r in run.evaluations if r.get('fid') is not None]
  return rows[-1] if rows else None


def protocols(run: Run) -> dict[str, Optional[dict]]:
  """The protocol record of each number the results table shows ('best', 'final_fid',
  'final_kid', 'evaluated'); None where the run recorded none."""
  best = best_eval(run)
  evaluated = last_evaluated(run)
  out = {'best': best.protocol if best else None,
         'evaluated': evaluated['protocol'] if evaluated else None}
  for key, name in (('final_fid', 'eval/fid'), ('final_kid', 'eval/kid')):
    logged = run.metrics.get(name)
    out[key] = run.eval_protocols.get(logged.last()[0]) if logged else None
  return out


def status_text(run: Run) -> str:
  num_steps = run.cfg('train', 'num_steps')
  num_steps = num_steps if isinstance(num_steps, (int, float)) else None
  last = run.last_step
  done = f'{last if last is not None else 0}/{num_steps if num_steps else "?"} steps'
  state = (run.status or {}).get('state')
  if not run.started:
    return 'not started'
  if state == 'running':     # study.json says so until the run returns
    state = 'running or interrupted'
  if state is None:
    if last is None:
      state = 'no metrics'
    else:
      state = 'finished' if num_steps and last >= num_steps else 'stopped early'
  return f'{state} ({done})'


def fmt(value: Optional[float], digits: int = 4) -> str:
  if value is None or not np.isfinite(value):
    return '–'
  return f'{value:.{digits}g}'


def fmt_rate(value: float) -> str:
  return f'{value:,.0f}' if value >= 100 else f'{value:.3g}'


def fmt_count(n: Any) -> str:
  if not isinstance(n, (int, float)):
    return '–'
  return f'{n / 1e6:.2f} M' if n >= 1e5 else f'{int(n):,}'


def fmt_seconds(s: Optional[float]) -> str:
  if s is None or not np.isfinite(s):
    return '–'
  s = int(round(s))
  if s < 60:
    return f'{s} s'
  if s < 3600:
    return f'{s // 60} min {s % 60:02d} s'
  return f'{s // 3600} h {s % 3600 // 60:02d} min'


def ema_text(run: Run) -> str:
  if not run.config:
    return '–'
  decay = run.cfg('train', 'ema_decay', 0.0) or 0.0
  if decay > 0:
    return f'EMA (decay {decay:g}, from step {run.cfg("train", "ema_start", 0)})'
  return 'live weights'


def summary(run: Run) -> dict[str, str]:
  """The results table's cells of one run (display strings).

  'best' is the best evaluation's value and step, 'best_metric' its metric's label ('FID',
  'KID', ...; '' when there is no value and 'best' says why), 'evaluated' the newest FID
  jaxgan.tools.evaluate recorded.
  """
  evaluated = last_evaluated(run)
  best = best_eval(run)
  fid = run.metrics.get('eval/fid')
  kid = run.metrics.get('eval/kid')
  ips = run.metrics.get('images_per_sec')
  if best is None:
    metric = best_metric(run)
    if run.is_2d:
      best_text = 'n/a (2-D data)'
    elif f'eval/{metric}' in run.metrics:   # logged, but no evaluator gives it a direction
      best_text = (f'no best: no evaluator says whether higher or lower '
                   f'{metric_label(metric)} is better')
    else:
      best_text = f'no {metric_label(metric)} logged'
  else:
    best_text = f'{fmt(best.value)} (step {best.step})'
  return {
      'status': status_text(run),
      'model': model_name(run),
      'loss': loss_name(run),
      'best': best_text,
      'best_metric': best.label if best else '',
      'final_fid': f'{fmt(fid.last()[1])} (step {fid.last()[0]})' if fid else '–',
      'final_kid': f'{fmt(kid.last()[1])} (step {kid.last()[0]})' if kid else '–',
      'evaluated': (f'{fmt(evaluated["fid"])} (step {evaluated["step"]}, '
                    f'{"EMA" if evaluated["ema"] else "live"})' if evaluated else '–'),
      'images_per_sec': fmt_rate(float(np.median(ips.values))) if ips else '–',
      'wall_time': fmt_seconds(float(run.elapsed.values[-1])) if run.elapsed else '–',
      'g_params': fmt_count(run.run_info.get('g_params')),
      'd_params': fmt_count(run.run_info.get('d_params')),
      'samples_from': ema_text(run),
      'code': (str(run.run_info.get('git_revision') or 'unknown'))[:10] if run.started
              else '–',
  }
