"""BENCHMARKS.md's train-step table from bench/train_step.py result files (--out JSON).

  python bench/step_table.py bench/results/step_*.json

One row per result file and jaxgan side: median step times of jaxgan and PyTorch, jaxgan's
speed relative to PyTorch as the median of the per-repetition ratios (and the ratio of the
medians), XLA's FLOPs per step, the achieved FLOP/s of both sides against the best of the
matmul / convolution yardsticks timed in the same interleaving (bench/roofline.py), the
first-step latencies, the load average and the command.
"""

import json
import statistics
import sys


def rows(path: str) -> list:
  with open(path) as f:
    r = json.load(f)
  c = r['config']
  name = f'{c["model"].upper()} {c["image_size"]} px, batch {c["batch"]}'
  sides = {s['label']: s for s in r['sides']}
  torch = next(s for s in r['sides'] if s['builder'] == 'torch')
  kernels = [s for s in r['sides'] if s['builder'].endswith('_kernel')]
  rates = {s['label']: s['info']['flops'] / s['median_s'] for s in kernels}
  achievable = max(rates.values()) if rates else None
  # The architecture's count: the smallest over the jaxgan sides (the im2col weight gradient's
  # copies add a few elementwise FLOPs to XLA's count).
  flops = min((s['flops'] for s in r['sides'] if s['flops']), default=None)
  cpu = r.get('cpu')
  cpu_text = (f'{cpu["model_name"]} (family/model {cpu["family_model"]}; '
              f'{", ".join(cpu["flags"]) or "no AVX2"})' if cpu else 'not recorded')
  load = r['load']
  load_text = (f'{load["start"]:.1f} -> {load["end"]:.1f} (reps {load["reps_min"]:.1f}-'
               f'{load["reps_max"]:.1f})')
  out = []
  for s in r['sides']:
    if s['builder'] not in ('jaxgan', 'jaxgan_old'):
      continue
    ratio = statistics.median(t / j for j, t in zip(s['times'], torch['times']))
    share = lambda t: (f'{flops / t / 1e9:.0f} ({100 * flops / t / achievable:.0f}%)'
                       if flops and achievable else '-')
    out.append(
        f'| {name} | {s["label"]} | {s["median_s"]:.3f} | {torch["median_s"]:.3f} | '
        f'**{ratio:.2f}** ({torch["median_s"] / s["median_s"]:.2f}) | '
        f'{flops / 1e9 if flops else float("nan"):.0f} | {share(s["median_s"])} / '
        f'{share(torch["median_s"])} | '
        f'{achievable / 1e9 if achievable else float("nan"):.0f} | '
        f'{s["info"]["first_step_s"]:.1f} / {torch["info"]["first_step_s"]:.1f} | '
        f'{cpu_text} | {load_text} | `{r["command"]}` |')
  labels = [s['label'] for s in r['sides'] if s['builder'] in ('jaxgan', 'jaxgan_old')]
  if len(labels) == 2:
    a, b = (sides[labels[0]]['times'], sides[labels[1]]['times'])
    out.append(f'<!-- {labels[1]} speed / {labels[0]} speed, median of per-rep ratios: '
               f'{statistics.median(x / y for x, y in zip(a, b)):.2f} -->')
  del rates
  return out


def main():
  print('| step | side | jaxgan s | PyTorch s | speed ratio jaxgan / PyTorch: median of '
        'per-rep ratios (ratio of medians) | GFLOP/step (XLA) | achieved GFLOP/s (of '
        'achievable) jaxgan / PyTorch | achievable GFLOP/s (same run) | first step s jaxgan '
        '/ PyTorch | CPU | load (1-min) | command |')
  print('|---|---|---:|---:|---:|---:|---|---:|---|---|---|---|')
  for path in sys.argv[1:]:
    for line in rows(path):
      print(line)


if __name__ == '__main__':
  main()
