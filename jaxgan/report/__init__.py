"""The report of a study: one self-contained HTML page and its PNG figures.

  python -m jaxgan.report STUDY_DIR                  # writes STUDY_DIR/report/index.html
  python -m jaxgan.report RUN_A RUN_B --out=DIR      # any training workdirs, side by side

Reads only what the runs wrote (config.json, run_info.json, metrics.jsonl, samples/,
attention/, best_fid.json, evaluations.jsonl of `python -m jaxgan.tools.evaluate`, and
study.json of a study made by `python -m jaxgan.study`); needs no checkpoint and no
accelerator. The page holds, for every run: loss curves (the learning rates on a panel of their
own when logged), the seed's Figure 3 comparison (generator loss against step, all runs on one
axis, EMA-smoothed), FID and KID against step and against wall-clock time, the scores
`jaxgan.tools.evaluate` recorded, the final and best sample grids side by side
(best by the run's `config.eval.best_metric`, as best_fid.json names it; without that file,
the best logged value in the direction the metric's evaluator declares), SAGAN attention maps,
the 2-D mixtures' scatter plots and modes-covered table, a results table and each run's exact
config and reproducibility record. Images are embedded as base64 PNGs, so the page can be
mailed or archived on its own; the figures are also written to OUT/figures/.

Wall-clock time is the run's training time plus its evaluations: the sum over logging intervals
of steps / logged steps-per-second, plus the logged `eval/seconds`; pauses between an
interrupted run and its resumption are not counted.

Damaged inputs do not stop the report: lines of metrics.jsonl that are cut short or not UTF-8
and PNGs that are cut short or not PNGs are skipped with a note on their run. What the report
cannot work around (a missing folder, an unreadable file, an --out folder it cannot write)
raises ReportError, which the command line prints as one `error: ...` line.

  runs.py      reading the runs, and the facts the page states about each (status, best, ...)
  figures.py   the matplotlib figures
  page.py      the HTML: one function per section of the page
  __main__.py  the command line
"""

import os
import tempfile
from typing import Optional, Sequence

from jaxgan.report import figures, page
from jaxgan.report.figures import (ema, plot_comparison, plot_metric, plot_modes,
                                   plot_run_losses, plot_sample_montage)
from jaxgan.report.runs import (Best, ReportError, Run, Series, best_eval, discover,
                                load_run, read_metrics, series, summary, wall_clock)

DEFAULT_SMOOTHING = 0.8         # TensorBoard-style EMA weight of the smoothed curves

__all__ = ['DEFAULT_SMOOTHING', 'Best', 'ReportError', 'Run', 'Series', 'best_eval', 'build',
           'discover', 'ema', 'load_run', 'plot_comparison', 'plot_metric', 'plot_modes',
           'plot_run_losses', 'plot_sample_montage', 'read_metrics', 'series', 'summary',
           'wall_clock']


def build(paths: Sequence[str], out: Optional[str] = None, *,
          smoothing: float = DEFAULT_SMOOTHING, compare: Sequence[str] = ()) -> str:
  """Writes OUT/index.html and OUT/figures/*.png; returns the page's path.

  OUT defaults to STUDY_DIR/report for a study directory (or a single workdir); it is
  required for several workdirs. `compare` names the runs of the generator-loss comparison
  (default: all; e.g. dcgan,dcgan_wasserstein for the seed's Figure 3 itself).
  """
  study, runs = discover(paths)
  compared, out = _check_arguments(paths, out, runs, smoothing=smoothing, compare=compare)
  figures_dir = _make_figures_folder(out)
  colors = figures.run_colors(runs)
  sections = [section for section in (
      page.results(runs),
      page.losses(compared, figures_dir, smoothing=smoothing, colors=colors,
                  named=bool(compare)),
      page.fid_and_kid([r for r in runs if not r.is_2d], figures_dir, colors=colors),
      page.samples(runs, figures_dir),
      page.mixtures([r for r in runs if r.is_2d], figures_dir, colors=colors),
      page.attention(runs),
      page.loss_terms(runs, figures_dir, smoothing=smoothing),
      page.reproducibility(runs, study),
  ) if section is not None]
  html = page.document(page.header(study, runs, paths, sections), sections)
  return _write_page(out, html)


def _check_arguments(paths: Sequence[str], out: Optional[str], runs: Sequence[Run], *,
                     smoothing: float, compare: Sequence[str]) -> tuple[list[Run], str]:
  """(the runs of the loss comparison, the output folder), or ReportError saying what to pass."""
  if not 0 <= smoothing < 1:
    raise ReportError(f'--smoothing={smoothing} must be in [0, 1) (0: no smoothing).')
  unknown = [n for n in compare if n not in {r.name for r in runs}]
  if unknown:
    raise ReportError(f'--compare names {", ".join(unknown)}, not among the runs '
                      f'{", ".join(r.name for r in runs)}.')
  compared = [r for r in runs if r.name in compare] if compare else list(runs)
  if out is None:
    if len(paths) > 1:
      raise ReportError('pass --out=DIR when reporting several workdirs.')
    out = os.path.join(paths[0], 'report')
  return compared, out


def _file_in_the_way(path: str) -> Optional[str]:
  """The file that stands where a folder of `path` should be, if any."""
  path = os.path.abspath(path)
  while not os.path.lexists(path):
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent
  return None if os.path.isdir(path) else path


def _unwritable(out: str, path: str, e: OSError) -> ReportError:
  """The one-sentence error of an output folder or file (`path`, inside `out`) not written."""
  blocker = _file_in_the_way(path)
  if blocker:
    return ReportError(f'cannot write the report to {out}: {blocker} is a file, not a folder; '
                       f'move it away or pass --out=DIR naming another folder.')
  return ReportError(f'cannot write {path} ({e.strerror or e}); pass --out=DIR naming a '
                     f'folder you can write to.')


def _make_figures_folder(out: str) -> str:
  """OUT/figures, made and known to be writable; ReportError saying what to do if not."""
  figures_dir = os.path.join(out, 'figures')
  try:
    os.makedirs(figures_dir, exist_ok=True)
    # makedirs accepts an existing read-only folder: find out now, before drawing any figure.
    with tempfile.TemporaryFile(dir=figures_dir):
      pass
  except OSError as e:
    raise _unwritable(out, figures_dir, e) from None
  return figures_dir


def _write_page(out: str, html: str) -> str:
  path = os.path.join(out, 'index.html')
  try:
    with open(path, 'w', encoding='utf-8') as f:
      f.write(html)
  except OSError as e:
    raise _unwritable(out, path, e) from None
  return path
