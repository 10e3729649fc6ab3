"""The limit: achievable float32 FLOP/s of these cores, and each train step's share of it.

  python bench/train_step.py --model=dcgan --flops --out=/tmp/dcgan32.json   # (and others)
  python bench/roofline.py --reps=9 --results=/tmp/dcgan32.json,/tmp/sagan32_b64.json

1. Achievable FLOP/s: a 4096^3 float32 matmul and the SAGAN generator's widest convolution
   (batch 64, 32x32, 3x3, 256 -> 256 channels, 77 GFLOP), each in XLA (jax.jit, XLA:CPU's
   default options) and in PyTorch eager (NCHW, all cores), interleaved in worker processes
   (bench/interleave.py) so that load from other jobs hits all four alike. "Achievable" is
   the best of the four medians.
2. Each step's FLOPs: XLA's cost analysis of the compiled jaxgan step
   (`lowered.compile().cost_analysis()['flops']`, written by train_step.py --flops). PyTorch's
   step runs the identical architecture, so its achieved FLOP/s uses the same (XLA) count.
   For DCGAN that count is of the rewritten convolutions (exact taps: the true multiply-adds
   of the transposed convolutions, as PyTorch's col2im GEMMs compute them; XLA's count for
   flax's lhs-dilated ConvTranspose also counts the dilation's zeros).
3. Per step and side: the median step time from the results file, achieved = FLOPs / median,
   and achieved / achievable.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interleave  # pylint: disable=wrong-import-position


def measure_peaks(reps: int, warmup: int) -> dict:
  sides = [interleave.Side('XLA matmul 4096', 'xla_kernel', {'op': 'matmul', 'size': 4096}),
           interleave.Side('PyTorch matmul 4096', 'torch_kernel', {'op': 'matmul', 'size': 4096}),
           interleave.Side('XLA conv 3x3 256ch b64', 'xla_kernel', {'op': 'conv', 'size': 64}),
           interleave.Side('PyTorch conv 3x3 256ch b64', 'torch_kernel',
                           {'op': 'conv', 'size': 64})]
  result = interleave.run_interleaved(sides, reps, warmup)
  for s in result['sides']:
    s['flops_per_s'] = s['info']['flops'] / s['median_s']
  return result


def _kernel_rate(side: dict) -> float:
  return side['info']['flops'] / side['median_s']


def load_results(paths: list) -> list:
  """train_step.py results; each with its steps and the kernels timed in the same run."""
  out = []
  for path in paths:
    with open(path) as f:
      result = json.load(f)
    c = result['config']
    name = f'{c["model"].upper()} {c["image_size"]} px, batch {c["batch"]}'
    flops = next((s['flops'] for s in result['sides'] if s['flops']), None)
    kernels = [s for s in result['sides'] if s['builder'].endswith('_kernel')]
    steps = [s for s in result['sides'] if not s['builder'].endswith('_kernel')]
    out.append({'name': name, 'flops': flops, 'kernels': kernels, 'steps': steps,
                'load': f'{result["load"]["start"]:.2f} -> {result["load"]["end"]:.2f}',
                'command': result['command']})
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--reps', type=int, default=9)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--results', default='', help='train_step.py --out files, comma-separated')
  parser.add_argument('--no_peaks', action='store_true',
                      help='use only the kernels timed in each results file\'s own run')
  parser.add_argument('--out', default='', help='write the tables (markdown) here')
  args = parser.parse_args()
  lines = [f'Written by `python bench/roofline.py {" ".join(sys.argv[1:])}`.', '']
  achievable = None
  if not args.no_peaks:
    peaks = measure_peaks(args.reps, args.warmup)
    lines += [interleave.summary(peaks).splitlines()[0], '',
              '| kernel | median s | GFLOP | GFLOP/s |', '|---|---:|---:|---:|']
    for s in peaks['sides']:
      lines.append(f'| {s["label"]} | {s["median_s"]:.3f} | {s["info"]["flops"] / 1e9:.1f} | '
                   f'{s["flops_per_s"] / 1e9:.0f} |')
    best = max(peaks['sides'], key=lambda s: s['flops_per_s'])
    achievable = best['flops_per_s']
    lines += ['', f'Achievable: {achievable / 1e9:.0f} GFLOP/s ({best["label"]}).']
  if args.results:
    lines += ['', '| step | side | median s | GFLOP/step (XLA) | achieved GFLOP/s | '
              'achievable GFLOP/s (same run: XLA matmul, PyTorch matmul, XLA conv, PyTorch '
              'conv) | achieved / achievable | load |', '|---|---|---:|---:|---:|---|---:|---|']
    for r in load_results(args.results.split(',')):
      rates = [_kernel_rate(k) for k in r['kernels']]
      here = max(rates) if rates else achievable
      rates_text = ', '.join(f'{x / 1e9:.0f}' for x in rates) if rates else 'separate run'
      for s in r['steps']:
        achieved = r['flops'] / s['median_s'] if r['flops'] else None
        share = f'{100 * achieved / here:.0f}%' if achieved and here else '-'
        lines.append(
            f'| {r["name"]} | {s["label"]} | {s["median_s"]:.3f} | '
            f'{r["flops"] / 1e9 if r["flops"] else float("nan"):.1f} | '
            f'{achieved / 1e9 if achieved else float("nan"):.0f} | {rates_text} | {share} | '
            f'{r["load"]} |')
  text = '\n'.join(lines) + '\n'
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
