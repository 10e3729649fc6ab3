"""The report's HTML: small helpers, then one function per section of the page, in page order.

Each section function takes what it shows (runs, the figures folder, smoothing, colors), makes
its figures, and returns a Section (or None when it has nothing to show: no image runs, no
2-D runs, no attention maps). `header` makes the page's head, title, provenance and the
navigation to the sections; `document` puts it all together.
"""

import base64
import html
import json
import os
import re
import time
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from jaxgan.metrics import protocol as protocol_lib
from jaxgan.report import figures
from jaxgan.report.runs import (EVALUATIONS_FILE, Run, best_eval, best_metric, ema_text, fmt,
                                fmt_count, loss_name, metric_label, protocols, read_bytes,
                                summary)

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


class Section(NamedTuple):
  """One section of the page: its anchor (what the navigation links to), heading and HTML."""
  anchor: str
  title: str
  body: str


# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------

def _e(value: Any) -> str:
  return html.escape(str(value), quote=True)


def _anchor(name: str) -> str:
  return 'run-' + re.sub(r'[^A-Za-z0-9_-]', '-', name)


def _img(path: str, alt: str, cls: str = '') -> str:
  data = base64.b64encode(read_bytes(path)).decode('ascii')
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


def _note(text: str) -> str:
  return f'<p class="note">{_e(text)}</p>'


def _snapshots(samples: Sequence[tuple[int, str]], n: int) -> list[tuple[int, str]]:
  """Up to `n` evenly spaced entries, always the last."""
  if len(samples) <= n:
    return list(samples)
  idx = sorted({round(i * (len(samples) - 1) / (n - 1)) for i in range(n)})
  return [samples[i] for i in idx]


def _dicts(value: Any) -> list[dict]:
  """The dicts of a study.json list (anything else in it is ignored)."""
  return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---------------------------------------------------------------------------------------------
# The page, section by section.
# ---------------------------------------------------------------------------------------------

def header(study: Optional[dict], runs: Sequence[Run], paths: Sequence[str],
           sections: Sequence[Section]) -> str:
  """The head, the title, what the report is of (the study's commands) and the navigation."""
  title = f'jaxgan study: {study["study"]}' if study else 'jaxgan runs: ' + ', '.join(
      r.name for r in runs)
  parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<title>{_e(title)}</title><style>{_CSS}</style></head><body>',
           f'<h1>{_e(title)}</h1>']
  if study:
    parts.append(f'<p>{_e(study.get("description", ""))}</p>')
    history = _dicts(study.get('history'))
    if history:
      parts.append('<p class="muted">Commands that ran this study (oldest first):</p><pre>' +
                   _e('\n'.join(f'{h.get("time", "")}  {h.get("command", "")}'
                                for h in history)) + '</pre>')
    overrides = study.get('overrides') or []
    parts.append(f'<p class="muted">Overrides of the latest command: '
                 f'{_e(" ".join(map(str, overrides)) or "none")}</p>')
  parts.append(f'<p class="muted">Report of {_e(len(runs))} run(s) in '
               f'{_e(", ".join(os.path.abspath(p) for p in paths))}, written '
               f'{_e(time.strftime("%Y-%m-%d %H:%M:%S %Z"))} by python -m jaxgan.report.</p>')
  parts.append('<nav>' + ''.join(f'<a href="#{s.anchor}">{_e(s.title)}</a>'
                                 for s in sections) + '</nav>')
  return '\n'.join(parts)


def _best_column(summaries: Sequence[dict[str, str]]) -> Optional[str]:
  """The metric the best-value column is of, or None when runs keep their best by different ones."""
  labels = {s['best_metric'] for s in summaries if s['best_metric']}
  if not labels:
    return 'FID'
  return labels.pop() if len(labels) == 1 else None


class _Footnotes:
  """Numbers the protocols of the results table's cells: equal records share a number."""

  def __init__(self):
    self.records: list[dict] = []
    self.unmarked = False   # some number has no recorded protocol

  def mark(self, cell: str, record: Optional[dict]) -> str:
    """The cell (escaped) with its protocol's footnote mark, [n]."""
    if cell in ('–', '') or cell.startswith(('n/a', 'no ')):
      return _e(cell)
    if not isinstance(record, dict):
      self.unmarked = True
      return _e(cell)
    if record not in self.records:
      self.records.append(record)
    n = self.records.index(record) + 1
    return f'{_e(cell)}<sup><a href="#protocol-{n}">[{n}]</a></sup>'

  def html(self) -> str:
    if not self.records and not self.unmarked:
      return ''
    items = ''.join(f'<li id="protocol-{i}"><code>{_e(protocol_lib.summary(r))}</code></li>'
                    for i, r in enumerate(self.records, 1))
    parts = ['<p class="muted">Protocol of each number (jaxgan.metrics.protocol: generated vs '
             'real images, the reference and its split, the resize, the Inception weights\' '
             'sha256, PRDC\'s k, KID\'s subsets, the jaxgan version); numbers are comparable '
             'only under one protocol.</p>']
    if items:
      parts.append(f'<ol class="muted">{items}</ol>')
    if self.unmarked:
      parts.append('<p class="muted">Numbers without a mark: the run recorded no protocol '
                   '(evaluated before jaxgan kept protocol records).</p>')
    return '\n'.join(parts)


def _results_table(runs: Sequence[Run]) -> tuple[str, str]:
  """(the table, its protocol footnotes): one row per run; the FID / KID columns only when
  some run makes images, each number marked with its protocol's footnote."""
  fid_columns = any(not r.is_2d for r in runs)
  summaries = [summary(r) for r in runs]
  best_of = _best_column([s for r, s in zip(runs, summaries) if not r.is_2d])
  columns = ['run', 'status', 'model', 'loss']
  columns += [f'best {best_of or "metric"} (step)', 'final FID', 'final KID'] if fid_columns else []
  evaluated_column = any(r.evaluations for r in runs if not r.is_2d)
  columns += ['evaluated FID (step)'] if evaluated_column else []
  columns += ['images/s (median)', 'wall time', 'G params', 'D params', 'samples from',
              'config & code']
  notes = _Footnotes()
  rows = []
  for r, s in zip(runs, summaries):
    row = [f'<a href="#{_anchor(r.name)}-samples">{_e(r.name)}</a>', _e(s['status']),
           _e(s['model']), _e(s['loss'])]
    if fid_columns:
      # When runs keep their best by different metrics, each cell names its own.
      best = s['best'] if best_of or not s['best_metric'] else f'{s["best_metric"]} {s["best"]}'
      recorded = protocols(r) if not r.is_2d else {}
      row += [notes.mark(best, recorded.get('best')),
              notes.mark(s['final_fid'], recorded.get('final_fid')),
              notes.mark(s['final_kid'], recorded.get('final_kid'))]
    if evaluated_column:
      row.append(notes.mark(s['evaluated'], recorded.get('evaluated')))
    row += [_e(s['images_per_sec']), _e(s['wall_time']), _e(s['g_params']), _e(s['d_params']),
            _e(s['samples_from']),
            f'<a href="#{_anchor(r.name)}-repro">config, {_e(s["code"])}</a>']
    rows.append(row)
  numeric = set(range(4, len(columns) - 2))
  return _table(columns, rows, numeric=numeric), notes.html()


def results(runs: Sequence[Run]) -> Section:
  """The results table, its protocols, what its columns mean, and every run's notes and
  failure."""
  image_runs = any(not r.is_2d for r in runs)
  table, footnotes = _results_table(runs)
  parts = [table]
  if footnotes:
    parts.append(footnotes)
  parts.append('<p class="muted">' + (
      'Best: the step and value in the run\'s best_fid.json, which training writes for its '
      '<code>config.eval.best_metric</code> (FID unless the column or cell names another), '
      'else the lowest logged value of that metric. Final FID / KID: the last evaluation. '
      + ('Evaluated FID: the newest score <code>python -m jaxgan.tools.evaluate</code> '
         f'recorded in the run\'s {EVALUATIONS_FILE} (section FID and KID lists them all). '
         if any(r.evaluations for r in runs) else '')
      if image_runs else '') + 'images/s: the median over logging intervals of generator '
      'steps/s x batch x (D steps + 1). Wall time: training + evaluation, without pauses '
      'between resumed sessions. Samples from: the generator weights the sample grids and '
      'evaluations use.</p>')
  for r in runs:
    for note in r.notes:
      parts.append(_note(f'{r.name}: {note}'))
    if r.status and r.status.get('error'):
      parts.append(_note(f'{r.name} {r.status.get("state", "failed")}: {r.status["error"]}'))
  return Section('results', 'Results', '\n'.join(parts))


def losses(compared: Sequence[Run], figures_dir: str, *, smoothing: float, colors,
           named: bool) -> Section:
  """The seed's Figure 3: generator and critic losses of the compared runs on one axis each.

  `named`: whether --compare chose the runs (the caption then names them).
  """
  g = figures.plot_comparison(compared, 'g/total', os.path.join(figures_dir, 'generator_loss.png'),
                              title='Generator loss', ylabel='generator loss',
                              smoothing=smoothing, colors=colors)
  d = figures.plot_comparison(compared, 'd/total', os.path.join(figures_dir, 'critic_loss.png'),
                              title='Discriminator / critic loss', ylabel='D loss',
                              smoothing=smoothing, colors=colors)
  if not (g or d):
    return Section('losses', 'Losses',
                   '<p class="note">No losses logged (no metrics.jsonl rows with g/total).</p>')
  which = ', '.join(r.name for r in compared) if named else 'every run'
  return Section('losses', 'Losses', '\n'.join([
      _figure(g, f'Generator loss against step, {which} on one axis (the seed\'s Figure 3 '
              'compares W-DCGAN with vanilla DCGAN this way). The losses differ in scale '
              'between objectives: compare the shapes.'),
      _figure(d, 'Discriminator / critic loss against step.')]))


def fid_and_kid(image_runs: Sequence[Run], figures_dir: str, *, colors) -> Optional[Section]:
  """FID and KID against step and wall-clock time (image runs only: 2-D runs log modes)."""
  if not image_runs:
    return None
  fid = figures.plot_metric(image_runs, 'eval/fid', os.path.join(figures_dir, 'fid.png'),
                            label='FID', colors=colors)
  kid = figures.plot_metric(image_runs, 'eval/kid', os.path.join(figures_dir, 'kid.png'),
                            label='KID', colors=colors)
  evaluated = [r for r in image_runs if r.evaluations]
  parts = [_figure(fid, 'FID against step and against wall-clock time (the seed\'s Figures '
                   '10-11), lower is better.') if fid else
           '<p class="note">No FID logged: no run wrote <code>eval/fid</code> to metrics.jsonl '
           '(set config.eval.every_steps and config.eval.evaluators to evaluate during '
           'training)' + ('; the scores <code>python -m jaxgan.tools.evaluate</code> recorded '
                          'are below' if evaluated else '') + '.</p>']
  missing = [r.name for r in image_runs if 'eval/fid' not in r.metrics]
  if fid and missing:
    parts.append(_note(f'No FID logged by {", ".join(missing)}.'))
  parts.append(_figure(kid, 'KID against step and against wall-clock time.') if kid else
               '<p class="note">No KID logged.</p>')
  if evaluated:
    parts.append(_evaluations_table(evaluated))
  return Section('fid', 'FID and KID', '\n'.join(parts))


def _evaluations_table(runs: Sequence[Run]) -> str:
  """Every score `python -m jaxgan.tools.evaluate` recorded (evaluations.jsonl), per run."""
  metrics = ('fid', 'kid_mean', 'is_mean', 'precision', 'recall', 'density', 'coverage')
  shown = [m for m in metrics if any(e.get(m) is not None for r in runs for e in r.evaluations)]
  labels = {'fid': 'FID', 'kid_mean': 'KID', 'is_mean': 'IS'}
  rows = []
  for r in runs:
    for e in r.evaluations:
      kid = fmt(e.get('kid_mean'))
      if e.get('kid_std') is not None:
        kid += f' ± {fmt(e["kid_std"], 2)}'
      cells = {m: fmt(e.get(m)) for m in shown}
      if 'kid_mean' in cells:
        cells['kid_mean'] = kid
      rows.append([_e(r.name), _e(e['step']), _e(e['checkpoint']),
                   'EMA' if e['ema'] else 'live', _e(fmt_count(e.get('num')))]
                  + [_e(cells[m]) for m in shown]
                  + [f'<code>{_e(protocol_lib.summary(e.get("protocol")))}</code>'])
  header = (['run', 'step', 'checkpoint', 'weights', 'images']
            + [labels.get(m, m) for m in shown] + ['protocol'])
  return ('<p class="muted">Scores of <code>python -m jaxgan.tools.evaluate</code>, as each '
          f'run\'s {EVALUATIONS_FILE} recorded them (oldest first).</p>'
          + _table(header, rows, numeric=set(range(4, 5 + len(shown)))))


def _best_caption(r: Run) -> str:
  """'NAME: best FID 42.5 at step 40', with the run's own best metric."""
  best = best_eval(r)
  if best is None:
    return f'{r.name}: best {metric_label(best_metric(r))}'
  return f'{r.name}: best {best.label} {best.value:.4g} at step {best.step}'


def samples(runs: Sequence[Run], figures_dir: str) -> Section:
  """Each run's final sample grid and best grid side by side; all final grids in one figure."""
  parts = ['<p class="muted">The final sample grid of each run (the same fixed z at every '
           'step) and, where the run kept one, the grid of its best step (the lowest '
           '<code>config.eval.best_metric</code>, FID by default).</p>']
  cards, montage, without = [], [], []
  for r in runs:
    block = []
    if r.samples:
      step, png = r.samples[-1]
      block.append(_figure(png, f'{r.name}: final samples, step {step} ({ema_text(r)})',
                           'card', 'pixel'))
      montage.append((f'{r.name}, step {step}', png))
    if r.best_fid_png:
      block.append(_figure(r.best_fid_png, _best_caption(r), 'card', 'pixel'))
    if block:
      cards.append(f'<div id="{_anchor(r.name)}-samples" class="run"><h4>{_e(r.name)}</h4>'
                   f'<div class="cards">{"".join(block)}</div></div>')
    else:
      without.append(r)
  parts.append('<div class="runs">' + ''.join(cards) + '</div>')
  if without:
    parts.append(''.join(f'<span id="{_anchor(r.name)}-samples"></span>' for r in without) +
                 _note(f'No sample grid from {", ".join(r.name for r in without)}.'))
  skipped: list[tuple[str, str]] = []
  if montage and figures.plot_sample_montage(
      montage, os.path.join(figures_dir, 'samples_final.png'),
      title='Final samples of each run (a fixed z)', skipped=skipped):
    parts.append('<p class="muted">Also written as figures/samples_final.png.</p>')
  for caption, reason in skipped:
    parts.append(_note(f'{caption}: left out of figures/samples_final.png, its PNG does not '
                       f'decode ({reason}).'))
  return Section('samples', 'Samples', '\n'.join(parts))


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


def mixtures(mixture_runs: Sequence[Run], figures_dir: str, *, colors) -> Optional[Section]:
  """The 2-D runs: modes-covered table and curves, and scatter plots over training."""
  if not mixture_runs:
    return None
  parts = [_mixtures_table(mixture_runs)]
  parts.append('<p class="muted">From the logged <code>modes/modes_covered</code> and '
               '<code>modes/high_quality</code> (2,500 samples of a fixed z at each scatter '
               'plot): a sample is high quality within 3 sigma of its nearest mode; a mode is '
               'covered when at least one high-quality sample is nearest to it.</p>')
  parts.append(_figure(figures.plot_modes(mixture_runs, os.path.join(figures_dir, 'modes.png'),
                                          colors),
                       'Modes covered and high-quality samples against step.'))
  for r in mixture_runs:
    snaps = _snapshots(r.samples, 5)
    if snaps:
      parts.append(f'<h3>{_e(r.name)}</h3><div class="cards">' + ''.join(
          _figure(p, f'{r.name}, step {s}', 'card') for s, p in snaps) + '</div>')
  return Section('mixtures', '2-D mixtures', '\n'.join(parts))


def attention(runs: Sequence[Run]) -> Optional[Section]:
  """The latest attention figure of each self-attention run."""
  if not any(r.attention for r in runs):
    return None
  return Section('attention', 'Attention maps', '\n'.join([
      '<p class="muted">Latest attention figure of each self-attention run: samples with query '
      'points and where each query attends.</p>',
      '<div class="cards">' + ''.join(
          _figure(r.attention[-1][1], f'{r.name}, step {r.attention[-1][0]}', 'wide')
          for r in runs if r.attention) + '</div>']))


def loss_terms(runs: Sequence[Run], figures_dir: str, *, smoothing: float) -> Section:
  """Every logged loss term of each run, one figure per run."""
  parts, silent = [], []
  for i, r in enumerate(runs):
    name = f'losses_{i:02d}_{re.sub(r"[^A-Za-z0-9_-]", "_", r.name)}.png'
    path = figures.plot_run_losses(r, os.path.join(figures_dir, name), smoothing=smoothing)
    if path:
      lr = ('; the learning rates on their own panel'
            if 'learning rate' in dict(figures.run_panels(r)) else '')
      parts.append(_figure(path, f'{r.name}: every logged loss term (smoothed; faint: raw){lr}.'))
    else:
      silent.append(r.name)
  if silent:
    parts.append(_note(f'No losses logged by {", ".join(silent)}.'))
  return Section('per-run', 'Loss terms per run', '\n'.join(parts))


def _repro_block(r: Run, study: Optional[dict]) -> str:
  info = r.run_info
  versions = info.get('versions') or {}
  versions = versions if isinstance(versions, dict) else {}
  devices = info.get('devices') or []
  devices = [str(d) for d in devices] if isinstance(devices, list) else []
  rows = [
      ('workdir', r.workdir),
      ('git revision', info.get('git_revision') or 'unknown (not a git checkout)'),
      ('started (UTC, latest session)', info.get('started', '–')),
      ('jax', info.get('jax', '–')),
      ('libraries', ', '.join(f'{k} {v}' for k, v in versions.items()) or '–'),
      ('devices', f'{len(devices)} x {info.get("device_kind", "?")} '
                  f'({info.get("process_count", "?")} process(es)): {", ".join(devices[:8])}'
                  + (' ...' if len(devices) > 8 else '')),
      ('parameters', f'G {fmt_count(info.get("g_params"))}, '
                     f'D {fmt_count(info.get("d_params"))}'),
      ('loss', loss_name(r)),
      ('samples and evaluation from', ema_text(r)),
      ('evaluation protocol', protocol_lib.summary(info['evaluation'])
       if isinstance(info.get('evaluation'), dict) else 'not recorded'),
  ]
  if study:
    for entry in _dicts(study.get('runs')):
      if entry.get('name') == r.name:
        rows.append(('study config', entry.get('config', '?')))
        own = entry.get('overrides') or {}
        if isinstance(own, dict) and own:
          rows.append(('study overrides', ', '.join(f'{k}={v}' for k, v in own.items())))
        rows.append(('--set applied', ', '.join(map(str, entry.get('set') or [])) or 'none'))
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


def reproducibility(runs: Sequence[Run], study: Optional[dict]) -> Section:
  """Each started run's exact config and reproducibility record; the runs not started."""
  parts = [_repro_block(r, study) for r in runs if r.started]
  missing = [r.name for r in runs if not r.started]
  if missing:
    parts.append(_note(f'Not started (no workdir yet): {", ".join(missing)}.'))
  return Section('repro', 'Configs and reproducibility', '\n'.join(parts))


def document(head: str, sections: Sequence[Section]) -> str:
  """The whole page: `head` (from `header`), then each section under its heading."""
  parts = [head]
  for s in sections:
    parts += [f'<h2 id="{s.anchor}">{_e(s.title)}</h2>', s.body]
  parts.append('</body></html>')
  return '\n'.join(parts)
