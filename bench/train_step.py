"""Train-step speed, jaxgan vs PyTorch eager, interleaved in one run (bench/interleave.py).

  python bench/train_step.py --model=dcgan --image_size=32 --batch=64 --reps=9
  python bench/train_step.py --model=sagan --batch=16 --reps=9
  # before/after the library redesign, and PyTorch, in one interleaving:
  git worktree add /tmp/jaxgan-127a801 127a801
  python bench/train_step.py --sides=jaxgan_old@/tmp/jaxgan-127a801,jaxgan,torch

Both sides run the identical architecture (bench/torch_models.py has the PyTorch replicas and
what they match), one D and one G update per step, on the same CPU threads. Each side is a
worker process that builds, compiles and warms its step once; the steps are then timed in turn
(A, B, A, B, ...) and the report gives per-side medians, each side's speed relative to the
reference side (PyTorch) as the median of the per-repetition ratios, first-step latency (build + compile + first
step) and the 1-minute load average. images/s counts the batch once per D and once per G
update. `--out` writes everything as JSON (bench/roofline.py reads it).

Side specs: NAME[:key=value,...][@ROOT], separated by ',' (or by ';' when a value holds a
comma). NAME is jaxgan (this tree, or ROOT's tree with the library API), jaxgan_old (the API
before the redesign, for ROOT at 127a801), torch, or xla_kernel / torch_kernel (a large matmul
or convolution, op=matmul|conv, size=N: bench/roofline.py's yardsticks, here in the same
interleaving). Keys are builder arguments of bench/sides.py: conv_impl=flax|rewritten|auto,
dtype=bfloat16, threads=N (PyTorch), xla_flags=... and env='K=V ...' (set in the worker
before jax is imported). --reference names the builder whose side the ratios compare with.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interleave  # pylint: disable=wrong-import-position


def _value(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def parse_side(spec: str, common: dict) -> interleave.Side:
  """NAME[:k=v,...][@ROOT] -> Side (label: the spec itself)."""
  rest, root = (spec.split('@', 1) + [interleave.REPO])[:2]
  name, _, args = rest.partition(':')
  kwargs = dict(common)
  for pair in filter(None, args.split(',')):
    key, _, value = pair.partition('=')
    kwargs[key] = _value(value)
  label = {'jaxgan': 'jaxgan', 'jaxgan_old': 'jaxgan (127a801)', 'torch': 'PyTorch',
           'xla_kernel': 'XLA', 'torch_kernel': 'PyTorch'}.get(name, name)
  if name.endswith('_kernel'):
    kwargs = {k: v for k, v in kwargs.items() if k not in common}
  if args:
    label += f' [{args}]'
  if name.startswith('jaxgan') and os.path.abspath(root) != interleave.REPO:
    label += f' @{os.path.basename(os.path.abspath(root))}'
  return interleave.Side(label, name, kwargs, root)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='dcgan', choices=('dcgan', 'sagan', 'wgan_gp', 'ring'),
                      help='configs/dcgan.py, sagan_hinge.py, wgan_gp.py (5 critic updates per '
                           'step) or toy_ring.py (the 2-D MLP GAN; no PyTorch replica)')
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--sides', default='jaxgan,torch',
                      help='side specs separated by "," (or by ";" when an argument holds a '
                           'comma); see the module docstring')
  parser.add_argument('--reference', default='torch',
                      help='builder name of the side the ratios compare with (its first '
                           'side; default torch, else the last side)')
  parser.add_argument('--reps', type=int, default=9)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--flops', action='store_true',
                      help='XLA cost analysis of each jaxgan step (one more compilation)')
  parser.add_argument('--out', default='', help='write the result as JSON here')
  args = parser.parse_args()
  common = {'model': args.model, 'image_size': args.image_size, 'batch': args.batch}
  specs = args.sides.split(';') if ';' in args.sides else _split_names(args.sides)
  sides = [parse_side(s, common) for s in specs]
  reference = next((i for i, s in enumerate(sides) if s.builder == args.reference),
                   len(sides) - 1)
  result = interleave.run_interleaved(sides, args.reps, args.warmup, reference=reference,
                                      flops=args.flops)
  result['command'] = 'python bench/train_step.py ' + ' '.join(sys.argv[1:])
  result['config'] = common
  d_steps = next((s['info']['d_steps'] for s in result['sides'] if 'd_steps' in s['info']), 1)
  images = (d_steps + 1) * args.batch
  print(f'{args.model} {args.image_size}x{args.image_size}, batch {args.batch}: '
        f'{result["command"]}')
  print(interleave.summary(result))
  for s in result['sides']:
    if s['builder'] in ('jaxgan', 'jaxgan_experiment', 'jaxgan_old', 'torch'):
      print(f'  {s["label"]:24s} {images / s["median_s"]:.1f} images/s')
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(result, f, indent=1)


def _split_names(text: str) -> list:
  """'a:x=1,y=2,b' -> ['a:x=1,y=2', 'b']: a comma followed by k=v belongs to the side."""
  out = []
  for part in text.split(','):
    if out and '=' in part and ':' in out[-1] and '@' not in out[-1]:
      out[-1] += ',' + part
    else:
      out.append(part)
  return out


if __name__ == '__main__':
  main()
