"""The report of a study: one self-contained HTML page and its PNG figures.

  python -m jaxgan.report STUDY_DIR                  # writes STUDY_DIR/report/index.html
  python -m jaxgan.report RUN_A RUN_B --out=DIR      # any training workdirs, side by side

Reads only what the runs wrote (config.json, run_info.json, metrics.jsonl, samples/,
attention/, best_fid.json, and study.json of a study made by `python -m jaxgan.study`); needs
no checkpoint and no accelerator. The page holds, for every run: loss curves, the seed's
Figure 3 comparison (generator loss against step, all runs on one axis, EMA-smoothed), FID and
KID against step and against wall-clock time, the final and best-FID sample grids side by side,
SAGAN attention maps, the 2-D mixtures' scatter plots and modes-covered table, a results table
and each run's exact config and reproducibility record. Images are embedded as base64 PNGs, so
the page can be mailed or archived on its own; the figures are also written to OUT/figures/.

Wall-clock time is the run's training time plus its evaluations: the sum over logging intervals
of steps / logged steps-per-second, plus the logged `eval/seconds`; pauses between an
interrupted run and its resumption are not counted.
"""

import base64
import dataclasses
import html
import json
import os
import re
import time
from typing import Any, Optional, Sequence

import numpy as np

from jaxgan import errors

DEFAULT_SMOOTHING = 0.8         # TensorBoard-style EMA weight of the smoothed curves
_STEP_PNG = re.compile(r'^step_(\d+)\.png$')
_WORKDIR_FILES = ('config.json', 'metrics.jsonl', 'run_info.json')


class ReportError(errors.JaxganError):
  """A report's inputs are missing or not training runs."""


# ---------------------------------------------------------------------------------------------
# Reading the runs.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Series:
  steps: np.ndarray
  values: np.ndarray

  def __len__(self) -> int:
    return len(self.steps)

  def last(self) -> tuple[int, float]:
    return int(self.steps[-1]), float(self.values[-1])


@dataclasses.dataclass
class Run:
  """What one workdir logged."""
  name: str
  workdir: str
  config: dict
  run_info: dict
  metrics: dict[str, Series]
  elapsed: Optional[Series]              # wall-clock seconds at each logged step
  samples: list[tuple[int, str]]         # (step, path) of samples/step_*.png, by step
  attention: list[tuple[int, str]]
  best_fid: Optional[dict]               # {'step', 'fid'}
  best_fid_png: Optional[str]
  status: Optional[dict] = None          # from study.json
  notes: list[str] = dataclasses.field(default_factory=list)

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
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    notes.append(f'{os.path.basename(path)} could not be read ({e}).')
    return None


def read_metrics(path: str, notes: Optional[list[str]] = None) -> dict[int, dict[str, float]]:
  """metrics.jsonl as {step: {name: value}}; a resumed run's later lines win."""
  rows: dict[int, dict[str, float]] = {}
  if not os.path.exists(path):
    return rows
  bad = 0
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      try:
        record = json.loads(line)
        step = int(record['step'])
      except (ValueError, KeyError, TypeError):
        bad += 1                          # e.g. a line cut short when a run was killed
        continue
      row = rows.setdefault(step, {})
      for key, value in record.items():
        if key != 'step' and isinstance(value, (int, float)) and not isinstance(value, bool):
          row[key] = float(value)
  if bad and notes is not None:
    notes.append(f'metrics.jsonl: {bad} unreadable line(s) skipped.')
  return rows


def series(rows: dict[int, dict[str, float]]) -> dict[str, Series]:
  keys = sorted({k for row in rows.values() for k in row if k != 'time'})
  out = {}
  for key in keys:
    steps = sorted(s for s, row in rows.items() if key in row and np.isfinite(row[key]))
    if steps:
      out[key] = Series(np.asarray(steps), np.asarray([rows[s][key] for s in steps]))
  return out


def wall_clock(rows: dict[int, dict[str, float]]) -> Optional[Series]:
  """Seconds of training and evaluation at each logged step (see the module docstring)."""
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


def _pngs(folder: str) -> list[tuple[int, str]]:
  if not os.path.isdir(folder):
    return []
  found = []
  for name in os.listdir(folder):
    m = _STEP_PNG.match(name)
    if m:
      found.append((int(m.group(1)), os.path.join(folder, name)))
  return sorted(found)


def load_run(workdir: str, name: Optional[str] = None, status: Optional[dict] = None) -> Run:
  notes: list[str] = []
  rows = read_metrics(os.path.join(workdir, 'metrics.jsonl'), notes)
  best = _read_json(os.path.join(workdir, 'best_fid.json'), notes)
  best_png = os.path.join(workdir, 'samples', 'best_fid.png')
  return Run(
      name=name or os.path.basename(os.path.normpath(workdir)),
      workdir=workdir,
      config=_read_json(os.path.join(workdir, 'config.json'), notes) or {},
      run_info=_read_json(os.path.join(workdir, 'run_info.json'), notes) or {},
      metrics=series(rows),
      elapsed=wall_clock(rows),
      samples=_pngs(os.path.join(workdir, 'samples')),
      attention=_pngs(os.path.join(workdir, 'attention')),
      best_fid=best if isinstance(best, dict) and 'fid' in best else None,
      best_fid_png=best_png if os.path.exists(best_png) else None,
      status=status, notes=notes)


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
    names += sorted(n for n in os.listdir(root)
                    if n not in names and _is_workdir(os.path.join(root, n)))
    if not names:
      raise ReportError(f'{root} holds no training runs (no subfolder with config.json or '
                        f'metrics.jsonl); pass a study directory or training workdirs.')
    statuses = (study or {}).get('status', {})
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
# Summaries.
# ---------------------------------------------------------------------------------------------

def ema(values: np.ndarray, weight: float) -> np.ndarray:
  """TensorBoard's smoothing: a debiased exponential moving average over logged points."""
  out, last = np.empty(len(values)), 0.0
  for i, v in enumerate(values):
    last = weight * last + (1 - weight) * float(v)
    out[i] = last / (1 - weight ** (i + 1)) if weight > 0 else float(v)
  return out


def loss_name(run: Run) -> str:
  if run.run_info.get('loss'):
    return str(run.run_info['loss'])
  if not run.config:
    return '–'
  name = run.cfg('loss', 'name', '?')
  regs = run.cfg('loss', 'regularizers', {}) or {}
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


def best_fid(run: Run) -> Optional[tuple[int, float]]:
  if run.best_fid is not None:
    try:
      return int(run.best_fid['step']), float(run.best_fid['fid'])
    except (KeyError, TypeError, ValueError):
      pass
  fid = run.metrics.get('eval/fid')
  if fid is None:
    return None
  i = int(np.argmin(fid.values))
  return int(fid.steps[i]), float(fid.values[i])


def status_text(run: Run) -> str:
  num_steps = run.cfg('train', 'num_steps')
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


def _fmt(value: Optional[float], digits: int = 4) -> str:
  if value is None or not np.isfinite(value):
    return '–'
  return f'{value:.{digits}g}'


def _fmt_rate(value: float) -> str:
  return f'{value:,.0f}' if value >= 100 else f'{value:.3g}'


def _fmt_count(n: Any) -> str:
  if not isinstance(n, (int, float)):
    return '–'
  return f'{n / 1e6:.2f} M' if n >= 1e5 else f'{int(n):,}'


def _fmt_seconds(s: Optional[float]) -> str:
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
  """The results table's cells of one run (display strings)."""
  best = best_fid(run)
  fid = run.metrics.get('eval/fid')
  kid = run.metrics.get('eval/kid')
  ips = run.metrics.get('images_per_sec')
  if best is None:
    best_text = 'n/a (2-D data)' if run.is_2d else 'no FID logged'
  else:
    best_text = f'{_fmt(best[1])} (step {best[0]})'
  return {
      'status': status_text(run),
      'model': model_name(run),
      'loss': loss_name(run),
      'best_fid': best_text,
      'final_fid': f'{_fmt(fid.last()[1])} (step {fid.last()[0]})' if fid else '–',
      'final_kid': f'{_fmt(kid.last()[1])} (step {kid.last()[0]})' if kid else '–',
      'images_per_sec': _fmt_rate(float(np.median(ips.values))) if ips else '–',
      'wall_time': _fmt_seconds(float(run.elapsed.values[-1])) if run.elapsed else '–',
      'g_params': _fmt_count(run.run_info.get('g_params')),
      'd_params': _fmt_count(run.run_info.get('d_params')),
      'samples_from': ema_text(run),
      'code': (str(run.run_info.get('git_revision') or 'unknown'))[:10] if run.started
              else '–',
  }


# ---------------------------------------------------------------------------------------------
# Figures.
# ---------------------------------------------------------------------------------------------

def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _colors(runs: Sequence[Run]) -> dict[str, Any]:
  plt = _pyplot()
  cmap = plt.get_cmap('tab10' if len(runs) <= 10 else 'tab20')
  return {r.name: cmap(i % cmap.N) for i, r in enumerate(runs)}


def _save(fig, path: str) -> str:
  plt = _pyplot()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100, bbox_inches='tight')
  plt.close(fig)
  return path


def _legend(ax, n: int) -> None:
  if n > 6:
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0), frameon=False)
  else:
    ax.legend(fontsize=8)


def plot_comparison(runs: Sequence[Run], key: str, path: str, *, title: str, ylabel: str,
                    smoothing: float, colors) -> Optional[str]:
  """`key` against step for every run that logged it, on one axis (raw faint, smoothed bold)."""
  have = [r for r in runs if key in r.metrics]
  if not have:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(9, 4.5))
  for r in have:
    s = r.metrics[key]
    ax.plot(s.steps, s.values, color=colors[r.name], alpha=0.2, linewidth=0.8)
    ax.plot(s.steps, ema(s.values, smoothing), color=colors[r.name], linewidth=1.8,
            label=r.name)
  ax.set_xlabel('generator step')
  ax.set_ylabel(ylabel)
  # Objectives differ in scale (a Wasserstein critic's loss can be 1000x a cross-entropy's):
  # then a symmetric log axis keeps every run's curve readable.
  scales = [float(np.median(np.abs(r.metrics[key].values))) for r in have]
  scales = [v for v in scales if v > 0]
  log_scale = bool(scales) and max(scales) > 30 * max(min(scales), 1e-3)
  if log_scale:
    ax.set_yscale('symlog', linthresh=max(min(scales), 1e-3), linscale=2)
  ax.set_title(f'{title} (EMA-smoothed, weight {smoothing:g}; faint: raw'
               + ('; symmetric log scale' if log_scale else '') + ')', fontsize=10)
  ax.grid(alpha=0.3)
  _legend(ax, len(have))
  return _save(fig, path)


def plot_run_losses(run: Run, path: str, *, smoothing: float) -> Optional[str]:
  """One run's loss terms: D's terms, G's terms, D's mean logits."""
  groups = [
      ('discriminator / critic', [k for k in run.metrics if k.startswith('d/')
                                  and not k.endswith('_logit')]),
      ('generator', [k for k in run.metrics if k.startswith('g/')]),
      ('D mean logits', [k for k in run.metrics if k.startswith('d/') and k.endswith('_logit')]),
  ]
  groups = [(t, keys) for t, keys in groups if keys]
  if not groups:
    return None
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.0), squeeze=False)
  for ax, (title, keys) in zip(axes[0], groups):
    for key in keys:
      s = run.metrics[key]
      line, = ax.plot(s.steps, ema(s.values, smoothing), linewidth=1.4, label=key)
      ax.plot(s.steps, s.values, color=line.get_color(), alpha=0.2, linewidth=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel('generator step', fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  fig.suptitle(run.name, fontsize=10)
  fig.tight_layout()
  return _save(fig, path)


def plot_metric(runs: Sequence[Run], key: str, path: str, *, label: str,
                colors) -> Optional[str]:
  """`key` against step and against wall-clock minutes, all runs on one axis each."""
  have = [r for r in runs if key in r.metrics]
  if not have:
    return None
  plt = _pyplot()
  fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
  for r in have:
    s = r.metrics[key]
    a.plot(s.steps, s.values, 'o-', markersize=3, color=colors[r.name], label=r.name)
    if r.elapsed is not None:
      minutes = np.interp(s.steps, r.elapsed.steps, r.elapsed.values) / 60
      b.plot(minutes, s.values, 'o-', markersize=3, color=colors[r.name], label=r.name)
  a.set_xlabel('generator step')
  b.set_xlabel('wall-clock minutes (training + evaluation)')
  for ax in (a, b):
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
  a.set_title(f'{label} vs step', fontsize=10)
  b.set_title(f'{label} vs wall-clock time', fontsize=10)
  _legend(b, len(have))
  fig.tight_layout()
  return _save(fig, path)


def plot_modes(runs: Sequence[Run], path: str, colors) -> Optional[str]:
  have = [r for r in runs if 'modes/modes_covered' in r.metrics]
  if not have:
    return None
  plt = _pyplot()
  fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
  for r in have:
    m = r.metrics['modes/modes_covered']
    a.plot(m.steps, m.values, 'o-', markersize=3, color=colors[r.name], label=r.name)
    hq = r.metrics.get('modes/high_quality')
    if hq is not None:
      b.plot(hq.steps, 100 * hq.values, 'o-', markersize=3, color=colors[r.name], label=r.name)
  a.set_ylabel('modes covered')
  b.set_ylabel('high-quality samples (%)')
  for ax in (a, b):
    ax.set_xlabel('generator step')
    ax.grid(alpha=0.3)
  _legend(b, len(have))
  fig.tight_layout()
  return _save(fig, path)


def plot_sample_montage(items: Sequence[tuple[str, str]], path: str, *,
                        title: str) -> Optional[str]:
  """(caption, png path) images side by side in one figure (the seed's Figures 8-9)."""
  if not items:
    return None
  from PIL import Image  # pylint: disable=g-import-not-at-top
  plt = _pyplot()
  cols = min(4, len(items))
  rows = -(-len(items) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis('off')
  for ax, (caption, png) in zip(axes.flat, items):
    with Image.open(png) as im:
      ax.imshow(np.asarray(im.convert('RGB')))
    ax.set_title(caption, fontsize=8)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# The page.
# ---------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1400px; padding: 0 16px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
img.pixel { image-rendering: pixelated; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 8px 0; } figcaption { font-size: 12px; color: #444; max-width: 900px; }
.card figcaption { max-width: 300px; }
.card img { width: 300px; }
.runs { display: flex; flex-wrap: wrap; gap: 10px 24px; }
.run { border: 1px solid #e3e3e3; border-radius: 4px; padding: 4px 10px; }
.run h4 { margin: 4px 0; }
.wide img { max-width: 100%; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; max-height: 480px; }
.note { color: #8a4b00; } .muted { color: #666; font-size: 13px; }
details { margin: 6px 0; } summary { cursor: pointer; }
nav a { margin-right: 12px; }
"""


def _e(value: Any) -> str:
  return html.escape(str(value), quote=True)


def _anchor(name: str) -> str:
  return 'run-' + re.sub(r'[^A-Za-z0-9_-]', '-', name)


def _img(path: str, alt: str, cls: str = '') -> str:
  with open(path, 'rb') as f:
    data = base64.b64encode(f.read()).decode('ascii')
  cls_attr = f' class="{_e(cls)}"' if cls else ''
  return f'<img{cls_attr} alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(path: Optional[str], caption: str, cls: str = 'wide', img_cls: str = '') -> str:
  if not path:
    return ''
  return (f'<figure class="{cls}">{_img(path, caption, img_cls)}'
          f'<figcaption>{_e(caption)}</figcaption></figure>')


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric=()) -> str:
  """`rows` cells are HTML already (escaped by the caller)."""
  out = ['<table>']
  if any(header):
    out.append('<thead><tr>' + ''.join(f'<th>{_e(h)}</th>' for h in header) + '</tr></thead>')
  out.append('<tbody>')
  for row in rows:
    out.append('<tr>' + ''.join(
        f'<td class="num">{c}</td>' if i in numeric else f'<td>{c}</td>'
        for i, c in enumerate(row)) + '</tr>')
  out.append('</tbody></table>')
  return '\n'.join(out)


def _results_table(runs: Sequence[Run]) -> str:
  """One row per run; the FID / KID columns only when some run makes images."""
  fid_columns = any(not r.is_2d for r in runs)
  header = ['run', 'status', 'model', 'loss']
  header += ['best FID (step)', 'final FID', 'final KID'] if fid_columns else []
  header += ['images/s (median)', 'wall time', 'G params', 'D params', 'samples from',
             'config & code']
  rows = []
  for r in runs:
    s = summary(r)
    row = [f'<a href="#{_anchor(r.name)}-samples">{_e(r.name)}</a>', _e(s['status']),
           _e(s['model']), _e(s['loss'])]
    if fid_columns:
      row += [_e(s['best_fid']), _e(s['final_fid']), _e(s['final_kid'])]
    row += [_e(s['images_per_sec']), _e(s['wall_time']), _e(s['g_params']), _e(s['d_params']),
            _e(s['samples_from']),
            f'<a href="#{_anchor(r.name)}-repro">config, {_e(s["code"])}</a>']
    rows.append(row)
  numeric = set(range(4, len(header) - 2))
  return _table(header, rows, numeric=numeric)


def _mixtures_table(runs: Sequence[Run]) -> str:
  num_modes = {'ring': 8, 'grid': 25}     # jaxgan.data.mixture_modes (not imported: no jax)
  rows = []
  for r in runs:
    covered = r.metrics.get('modes/modes_covered')
    hq = r.metrics.get('modes/high_quality')
    dataset = r.cfg('data', 'dataset', '?')
    modes = num_modes.get(dataset)
    if covered is None:
      rows.append([_e(r.name), _e(dataset), _e(loss_name(r)), '–', 'not logged', '–', '–'])
      continue
    step, final = covered.last()
    i = int(np.argmax(covered.values))
    rows.append([
        _e(r.name), _e(f'{dataset} ({modes} modes)' if modes else dataset), _e(loss_name(r)),
        _e(step), _e(f'{final:.0f}' + (f' / {modes}' if modes else '')),
        _e(f'{100 * hq.last()[1]:.1f}' if hq is not None else '–'),
        _e(f'{covered.values[i]:.0f} (step {int(covered.steps[i])})')])
  return _table(['run', 'mixture', 'loss', 'step', 'modes covered (final)',
                 'high-quality % (final)', 'most modes covered (step)'], rows,
                numeric={3, 4, 5})


def _repro_block(r: Run, study: Optional[dict]) -> str:
  info = r.run_info
  versions = info.get('versions') or {}
  devices = info.get('devices') or []
  rows = [
      ('workdir', r.workdir),
      ('git revision', info.get('git_revision') or 'unknown (not a git checkout)'),
      ('started (UTC, latest session)', info.get('started', '–')),
      ('jax', info.get('jax', '–')),
      ('libraries', ', '.join(f'{k} {v}' for k, v in versions.items()) or '–'),
      ('devices', f'{len(devices)} x {info.get("device_kind", "?")} '
                  f'({info.get("process_count", "?")} process(es)): {", ".join(devices[:8])}'
                  + (' ...' if len(devices) > 8 else '')),
      ('parameters', f'G {_fmt_count(info.get("g_params"))}, '
                     f'D {_fmt_count(info.get("d_params"))}'),
      ('loss', loss_name(r)),
      ('samples and evaluation from', ema_text(r)),
  ]
  if study:
    for entry in study.get('runs', []):
      if entry.get('name') == r.name:
        rows.append(('study config', entry.get('config', '?')))
        own = entry.get('overrides') or {}
        if own:
          rows.append(('study overrides', ', '.join(f'{k}={v}' for k, v in own.items())))
        rows.append(('--set applied', ', '.join(entry.get('set') or []) or 'none'))
  if r.status and r.status.get('error'):
    rows.append(('error', r.status['error']))
  table = _table(['', ''], [(_e(k), _e(v)) for k, v in rows])
  config = json.dumps(r.config, indent=2, sort_keys=True) if r.config else '(no config.json)'
  record = json.dumps(info, indent=2) if info else '(no run_info.json)'
  return (f'<details id="{_anchor(r.name)}-repro"><summary><b>{_e(r.name)}</b> — '
          f'{_e(str(info.get("git_revision") or "unknown")[:10])}, jax {_e(info.get("jax", "?"))}'
          f', {_e(len(devices))} x {_e(info.get("device_kind", "?"))}</summary>{table}'
          f'<p>config.json (the exact resolved config):</p><pre>{_e(config)}</pre>'
          f'<p>run_info.json:</p><pre>{_e(record)}</pre></details>')


def _snapshots(samples: Sequence[tuple[int, str]], n: int) -> list[tuple[int, str]]:
  """Up to `n` evenly spaced entries, always the last."""
  if len(samples) <= n:
    return list(samples)
  idx = sorted({round(i * (len(samples) - 1) / (n - 1)) for i in range(n)})
  return [samples[i] for i in idx]


def build(paths: Sequence[str], out: Optional[str] = None, *,
          smoothing: float = DEFAULT_SMOOTHING, compare: Sequence[str] = ()) -> str:
  """Writes OUT/index.html and OUT/figures/*.png; returns the page's path.

  OUT defaults to STUDY_DIR/report for a study directory (or a single workdir); it is
  required for several workdirs. `compare` names the runs of the generator-loss comparison
  (default: all; e.g. dcgan,dcgan_wasserstein for the seed's Figure 3 itself).
  """
  if not 0 <= smoothing < 1:
    raise ReportError(f'--smoothing={smoothing} must be in [0, 1) (0: no smoothing).')
  study, runs = discover(paths)
  unknown = [n for n in compare if n not in {r.name for r in runs}]
  if unknown:
    raise ReportError(f'--compare names {", ".join(unknown)}, not among the runs '
                      f'{", ".join(r.name for r in runs)}.')
  compared = [r for r in runs if r.name in compare] if compare else runs
  if out is None:
    if len(paths) > 1:
      raise ReportError('pass --out=DIR when reporting several workdirs.')
    out = os.path.join(paths[0], 'report')
  figures = os.path.join(out, 'figures')
  os.makedirs(figures, exist_ok=True)
  colors = _colors(runs)

  def fig(name: str) -> str:
    return os.path.join(figures, name)

  image_runs = [r for r in runs if not r.is_2d]
  mixture_runs = [r for r in runs if r.is_2d]

  title = f'jaxgan study: {study["study"]}' if study else 'jaxgan runs: ' + ', '.join(
      r.name for r in runs)
  parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<title>{_e(title)}</title><style>{_CSS}</style></head><body>',
           f'<h1>{_e(title)}</h1>']
  meta = []
  if study:
    meta.append(f'<p>{_e(study.get("description", ""))}</p>')
    history = study.get('history') or []
    if history:
      meta.append('<p class="muted">Commands that ran this study (oldest first):</p><pre>' +
                  _e('\n'.join(f'{h.get("time", "")}  {h.get("command", "")}'
                               for h in history)) + '</pre>')
    overrides = study.get('overrides') or []
    meta.append(f'<p class="muted">Overrides of the latest command: '
                f'{_e(" ".join(overrides) or "none")}</p>')
  meta.append(f'<p class="muted">Report of {_e(len(runs))} run(s) in '
              f'{_e(", ".join(os.path.abspath(p) for p in paths))}, written '
              f'{_e(time.strftime("%Y-%m-%d %H:%M:%S %Z"))} by python -m jaxgan.report.</p>')
  parts += meta
  sections = [('results', 'Results'), ('losses', 'Losses')]
  if image_runs:
    sections.append(('fid', 'FID and KID'))
  sections.append(('samples', 'Samples'))
  if mixture_runs:
    sections.append(('mixtures', '2-D mixtures'))
  if any(r.attention for r in runs):
    sections.append(('attention', 'Attention maps'))
  sections += [('per-run', 'Loss terms per run'), ('repro', 'Configs and reproducibility')]
  parts.append('<nav>' + ''.join(f'<a href="#{k}">{_e(v)}</a>' for k, v in sections) + '</nav>')

  # --- results table ---
  parts.append('<h2 id="results">Results</h2>')
  parts.append(_results_table(runs))
  parts.append('<p class="muted">' + ('Best FID: the lowest logged <code>eval/fid</code> '
               '(best_fid.json when the run kept one). Final FID / KID: the last evaluation. '
               if image_runs else '') + 'images/s: the median over logging intervals of generator steps/s x batch x '
               '(D steps + 1). Wall time: training + evaluation, without pauses between '
               'resumed sessions. Samples from: the generator weights the sample grids and '
               'evaluations use.</p>')
  for r in runs:
    for note in r.notes:
      parts.append(f'<p class="note">{_e(r.name)}: {_e(note)}</p>')
    if r.status and r.status.get('error'):
      parts.append(f'<p class="note">{_e(r.name)} {_e(r.status.get("state", "failed"))}: '
                   f'{_e(r.status["error"])}</p>')

  # --- losses: the seed's Figure 3 ---
  parts.append('<h2 id="losses">Losses</h2>')
  g = plot_comparison(compared, 'g/total', fig('generator_loss.png'),
                      title='Generator loss', ylabel='generator loss', smoothing=smoothing,
                      colors=colors)
  d = plot_comparison(compared, 'd/total', fig('critic_loss.png'),
                      title='Discriminator / critic loss', ylabel='D loss',
                      smoothing=smoothing, colors=colors)
  if g or d:
    which = ', '.join(r.name for r in compared) if compare else 'every run'
    parts.append(_figure(g, f'Generator loss against step, {which} on one axis (the seed\'s '
                         'Figure 3 compares W-DCGAN with vanilla DCGAN this way). The losses '
                         'differ in scale between objectives: compare the shapes.'))
    parts.append(_figure(d, 'Discriminator / critic loss against step.'))
  else:
    parts.append('<p class="note">No losses logged (no metrics.jsonl rows with g/total).</p>')

  # --- FID and KID (image runs only: the 2-D runs log modes covered instead) ---
  if image_runs:
    parts.append('<h2 id="fid">FID and KID</h2>')
    fid = plot_metric(image_runs, 'eval/fid', fig('fid.png'), label='FID', colors=colors)
    kid = plot_metric(image_runs, 'eval/kid', fig('kid.png'), label='KID', colors=colors)
    parts.append(_figure(fid, 'FID against step and against wall-clock time (the seed\'s '
                         'Figures 10-11), lower is better.') if fid else
                 '<p class="note">No FID logged: no run wrote <code>eval/fid</code> to '
                 'metrics.jsonl (set config.eval.every_steps and config.eval.evaluators to '
                 'evaluate during training).</p>')
    missing = [r.name for r in image_runs if 'eval/fid' not in r.metrics]
    if fid and missing:
      parts.append(f'<p class="note">No FID logged by {_e(", ".join(missing))}.</p>')
    parts.append(_figure(kid, 'KID against step and against wall-clock time.') if kid else
                 '<p class="note">No KID logged.</p>')

  # --- samples ---
  parts.append('<h2 id="samples">Samples</h2>')
  parts.append('<p class="muted">The final sample grid of each run (the same fixed z at every '
               'step) and, where the run kept one, the grid of its best-FID step.</p>')
  cards, montage, without = [], [], []
  for r in runs:
    block = []
    if r.samples:
      step, png = r.samples[-1]
      block.append(_figure(png, f'{r.name}: final samples, step {step} ({ema_text(r)})',
                           'card', 'pixel'))
      montage.append((f'{r.name}, step {step}', png))
    if r.best_fid_png:
      best = best_fid(r)
      caption = f'{r.name}: best FID' + (f' {best[1]:.4g} at step {best[0]}' if best else '')
      block.append(_figure(r.best_fid_png, caption, 'card', 'pixel'))
    if block:
      cards.append(f'<div id="{_anchor(r.name)}-samples" class="run"><h4>{_e(r.name)}</h4>'
                   f'<div class="cards">{"".join(block)}</div></div>')
    else:
      without.append(r)
  parts.append('<div class="runs">' + ''.join(cards) + '</div>')
  if without:
    parts.append(''.join(f'<span id="{_anchor(r.name)}-samples"></span>' for r in without) +
                 f'<p class="note">No sample grid from {_e(", ".join(r.name for r in without))}.'
                 '</p>')
  if montage:
    plot_sample_montage(montage, fig('samples_final.png'),
                        title='Final samples of each run (a fixed z)')
    parts.append('<p class="muted">Also written as figures/samples_final.png.</p>')

  # --- 2-D mixtures ---
  if mixture_runs:
    parts.append('<h2 id="mixtures">2-D mixtures</h2>')
    parts.append(_mixtures_table(mixture_runs))
    parts.append('<p class="muted">From the logged <code>modes/modes_covered</code> and '
                 '<code>modes/high_quality</code> (2,500 samples of a fixed z at each scatter '
                 'plot): a sample is high quality within 3 sigma of its nearest mode; a mode is '
                 'covered when at least one high-quality sample is nearest to it.</p>')
    parts.append(_figure(plot_modes(mixture_runs, fig('modes.png'), colors),
                         'Modes covered and high-quality samples against step.'))
    for r in mixture_runs:
      snaps = _snapshots(r.samples, 5)
      if snaps:
        parts.append(f'<h3>{_e(r.name)}</h3><div class="cards">' + ''.join(
            _figure(p, f'{r.name}, step {s}', 'card') for s, p in snaps) + '</div>')

  # --- attention ---
  if any(r.attention for r in runs):
    parts.append('<h2 id="attention">Attention maps</h2>')
    parts.append('<p class="muted">Latest attention figure of each self-attention run: '
                 'samples with query points and where each query attends.</p>')
    parts.append('<div class="cards">' + ''.join(
        _figure(r.attention[-1][1], f'{r.name}, step {r.attention[-1][0]}', 'wide')
        for r in runs if r.attention) + '</div>')

  # --- per-run loss terms ---
  parts.append('<h2 id="per-run">Loss terms per run</h2>')
  silent = []
  for i, r in enumerate(runs):
    path = plot_run_losses(r, fig(f'losses_{i:02d}_{re.sub(r"[^A-Za-z0-9_-]", "_", r.name)}.png'),
                           smoothing=smoothing)
    if path:
      parts.append(_figure(path, f'{r.name}: every logged loss term (smoothed; faint: raw).'))
    else:
      silent.append(r.name)
  if silent:
    parts.append(f'<p class="note">No losses logged by {_e(", ".join(silent))}.</p>')

  # --- reproducibility ---
  parts.append('<h2 id="repro">Configs and reproducibility</h2>')
  parts += [_repro_block(r, study) for r in runs if r.started]
  missing = [r.name for r in runs if not r.started]
  if missing:
    parts.append(f'<p class="note">Not started (no workdir yet): {_e(", ".join(missing))}.</p>')
  parts.append('</body></html>')

  page = os.path.join(out, 'index.html')
  with open(page, 'w', encoding='utf-8') as f:
    f.write('\n'.join(parts))
  return page


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------

def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('out', None, 'Folder for index.html and figures/ (default: '
                      'STUDY_DIR/report; required for several workdirs).')
  flags.DEFINE_float('smoothing', DEFAULT_SMOOTHING,
                     'EMA weight of the smoothed loss curves, in [0, 1).')
  flags.DEFINE_list('compare', [], 'Runs of the generator / critic loss comparison (the '
                    'seed\'s Figure 3; default: all runs).')


def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  try:
    page = build(argv[1:], f.out, smoothing=f.smoothing, compare=f.compare)
  except errors.JaxganError as e:
    raise SystemExit(f'error: {e}') from None
  print(f'Report: {page} (figures in {os.path.join(os.path.dirname(page), "figures")})')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
