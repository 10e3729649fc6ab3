"""The report's matplotlib figures: each written as a PNG to the figures folder, path returned.

matplotlib is imported on first use (with the Agg backend), so reading runs needs none.
"""

import io
import os
from typing import Any, Optional, Sequence

import numpy as np

from jaxgan.report.runs import ReportError, Run, read_bytes


def ema(values: np.ndarray, weight: float) -> np.ndarray:
  """TensorBoard's smoothing: a debiased exponential moving average over logged points."""
  out, last = np.empty(len(values)), 0.0
  for i, v in enumerate(values):
    last = weight * last + (1 - weight) * float(v)
    out[i] = last / (1 - weight ** (i + 1)) if weight > 0 else float(v)
  return out


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def run_colors(runs: Sequence[Run]) -> dict[str, Any]:
  """Each run's line color, the same in every figure."""
  plt = _pyplot()
  cmap = plt.get_cmap('tab10' if len(runs) <= 10 else 'tab20')
  return {r.name: cmap(i % cmap.N) for i, r in enumerate(runs)}


def _save(fig, path: str) -> str:
  plt = _pyplot()
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches='tight')
  except OSError as e:
    raise ReportError(f'cannot write {path} ({e.strerror or e}); pass --out=DIR naming a '
                      f'folder you can write to.') from None
  finally:
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


def run_panels(run: Run) -> list[tuple[str, list[str]]]:
  """(title, metric keys) of each panel of a run's loss figure, those with keys only: D's
  terms, G's terms, D's mean logits, and the learning rates (g/lr, d/lr) on their own panel,
  only when the run logged them (a run whose optimiser holds no rate has no such rows)."""
  is_lr = lambda k: k.endswith('/lr')
  panels = [
      ('discriminator / critic', [k for k in run.metrics if k.startswith('d/')
                                  and not k.endswith('_logit') and not is_lr(k)]),
      ('generator', [k for k in run.metrics if k.startswith('g/') and not is_lr(k)]),
      ('D mean logits', [k for k in run.metrics if k.startswith('d/') and k.endswith('_logit')]),
      ('learning rate', [k for k in run.metrics if k.startswith(('d/', 'g/')) and is_lr(k)
                         and len(run.metrics[k])]),
  ]
  return [(t, keys) for t, keys in panels if keys]


def plot_run_losses(run: Run, path: str, *, smoothing: float) -> Optional[str]:
  """One run's loss terms (`run_panels`): D's terms, G's terms, D's mean logits and, when
  logged, the learning rates (raw, not smoothed: a schedule is exact)."""
  groups = run_panels(run)
  if not groups:
    return None
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.0), squeeze=False)
  for ax, (title, keys) in zip(axes[0], groups):
    for key in keys:
      s = run.metrics[key]
      if title == 'learning rate':
        ax.plot(s.steps, s.values, linewidth=1.4, label=key)
        continue
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


def _decode(png: str) -> np.ndarray:
  """The RGB pixels of a PNG; ReportError if it cannot be read, ValueError if not decoded."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  data = read_bytes(png)
  try:
    with Image.open(io.BytesIO(data)) as im:
      return np.asarray(im.convert('RGB'))
  # PIL reports damaged data as OSError, SyntaxError, zlib.error, DecompressionBombError...
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(str(e) or type(e).__name__) from None


def plot_sample_montage(items: Sequence[tuple[str, str]], path: str, *, title: str,
                        skipped: Optional[list[tuple[str, str]]] = None) -> Optional[str]:
  """(caption, png path) images side by side in one figure (the seed's Figures 8-9).

  Images that do not decode are left out, and their (caption, reason) added to `skipped`.
  """
  images = []
  for caption, png in items:
    try:
      images.append((caption, _decode(png)))
    except ValueError as e:
      if skipped is not None:
        skipped.append((caption, str(e)))
  if not images:
    return None
  plt = _pyplot()
  cols = min(4, len(images))
  rows = -(-len(images) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis('off')
  for ax, (caption, pixels) in zip(axes.flat, images):
    ax.imshow(pixels)
    ax.set_title(caption, fontsize=8)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  return _save(fig, path)
