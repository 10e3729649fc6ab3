"""Where a jaxgan train step's time goes on XLA:CPU: per-operation times from a profiler trace.

  python bench/profile_step.py --model=dcgan --image_size=32 --batch=64
  python bench/profile_step.py --model=sagan --batch=64 --top=30

Builds the step as bench/sides.py does, warms it, traces `--steps` steps with XLA:CPU's
per-thunk trace events (--xla_cpu_enable_xprof_traceme) and matches each event to its
instruction in the compiled HLO. Reports time per step by category, then the top
instructions with what they compute:

  conv weight grad   a convolution whose output is a kernel (its window spans the activation)
  conv               other convolutions (forward passes and input gradients)
  dot                matrix products (dense layers, attention einsums, 1x1 convs XLA made dots)
  copy/transpose     layout changes XLA inserted (e.g. around weight-gradient convolutions)
  elementwise        loop/input fusions: batch norm, activations, optimiser updates, ...

The label of each instruction is the jax op_name recorded in its metadata (which module,
and `transpose(jvp(...))` for a backward pass), when XLA kept one.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if __name__ == '__main__':
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_cpu_enable_xprof_traceme=true').strip()

_INSTR = re.compile(r'^\s*(?:ROOT )?%([\w.\-]+) = (\S+(?: \S+)?) ([\w\-]+)\((.*)$')
_COMP = re.compile(r'^(?:ENTRY )?%([\w.\-]+) ')


def parse_hlo(text: str) -> tuple[dict, dict]:
  """(instructions: name -> dict(shape, opcode, line, comp), computations: name -> [names])."""
  instrs, comps, current = {}, collections.defaultdict(list), None
  for line in text.splitlines():
    m = _COMP.match(line)
    if m and line.rstrip().endswith('{'):
      current = m.group(1)
      continue
    m = _INSTR.match(line)
    if m:
      name, shape, opcode = m.group(1), m.group(2), m.group(3)
      instrs[name] = {'shape': shape, 'opcode': opcode, 'line': line.strip(), 'comp': current}
      comps[current].append(name)
  return instrs, comps


def _field(line: str, key: str) -> str:
  m = re.search(key + r'=(\{[^}]*\}|[^,\s}]+)', line)
  return m.group(1) if m else ''


def describe(name: str, instrs: dict, comps: dict) -> tuple[str, str]:
  """(category, description) of the instruction `name`."""
  ins = instrs.get(name)
  if ins is None:
    return 'other', name
  body = [ins]
  called = _field(ins['line'], 'calls').lstrip('%')
  if called:
    body = [instrs[n] for n in comps.get(called, [])] or body
  ops = [b['opcode'] for b in body]
  op_name = ''
  for b in body[::-1] + [ins]:
    m = re.search(r'op_name="([^"]+)"', b['line'])
    if m:
      op_name = m.group(1).replace('jit(_fun)/', '')
      break
  conv = next((b for b in body if b['opcode'] == 'convolution'), None)
  if conv is not None:
    window = _field(conv['line'], 'window')
    out = re.findall(r'\d+', conv['shape'].split('[', 1)[-1].split(']')[0])
    size = re.search(r'size=(\d+)x(\d+)', window)
    weight_grad = size and len(out) == 4 and int(size.group(1)) > int(out[1])
    category = 'conv weight grad' if weight_grad else 'conv'
    return category, f'{conv["shape"].split("{")[0]} window {window} {op_name}'.strip()
  if 'dot' in ops:
    dot = next(b for b in body if b['opcode'] == 'dot')
    return 'dot', f'{dot["shape"].split("{")[0]} {op_name}'.strip()
  if set(ops) <= {'copy', 'transpose', 'bitcast', 'parameter', 'constant', 'broadcast'}:
    return 'copy/transpose', f'{ins["shape"].split("{")[0]} {op_name}'.strip()
  if ins['opcode'] in ('fusion',) or set(ops) - {'parameter'}:
    return 'elementwise', f'{ins["shape"].split("{")[0]} {op_name}'.strip()
  return 'other', name


def profile(built, steps: int, trace_dir: str) -> tuple[dict, float]:
  """{instruction name: seconds per step} from a trace of `steps` steps, and the step time."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
  t0 = time.perf_counter()
  for _ in range(steps):
    built.step()
  step_s = (time.perf_counter() - t0) / steps
  jax.profiler.stop_trace()
  path = sorted(glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True))[-1]
  with gzip.open(path) as f:
    events = json.load(f)['traceEvents']
  per_op = collections.Counter()
  for e in events:
    if e.get('ph') == 'X':
      per_op[e['name']] += e['dur'] / 1e6 / steps
  return per_op, step_s


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='dcgan', choices=('dcgan', 'sagan'))
  parser.add_argument('--image_size', type=int, default=32, choices=(32, 64))
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--conv_impl', default='auto')
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--top', type=int, default=25)
  args = parser.parse_args()
  import sides  # pylint: disable=g-import-not-at-top
  built = sides.jaxgan(model=args.model, image_size=args.image_size, batch=args.batch,
                       conv_impl=args.conv_impl)
  built.step()
  instrs, comps = parse_hlo(built.lower().compile().as_text())
  load = os.getloadavg()[0]
  per_op, step_s = profile(built, args.steps, tempfile.mkdtemp(prefix='jaxgan-profile-'))
  rows = [(t, name) + describe(name, instrs, comps) for name, t in per_op.items()
          if name in instrs]
  by_cat = collections.Counter()
  for t, _, cat, _ in rows:
    by_cat[cat] += t
  traced = sum(by_cat.values())
  print(f'{args.model} {args.image_size}x{args.image_size} batch {args.batch} '
        f'(conv_impl={built.info["conv_impl"]}): step {step_s:.3f} s (traced), XLA '
        f'instructions {traced:.3f} s of thread time per step; load {load:.2f} -> '
        f'{os.getloadavg()[0]:.2f}')
  for cat, t in by_cat.most_common():
    print(f'  {cat:18s} {t:7.3f} s  {100 * t / traced:5.1f}%')
  print(f'top {args.top} instructions (s per step):')
  for t, name, cat, desc in sorted(rows, reverse=True)[:args.top]:
    print(f'  {t:7.4f}  {cat:16s} {name:28s} {desc[:150]}')


if __name__ == '__main__':
  main()
