"""PyTorch-StudioGAN BigGAN checkpoints <-> jaxgan BigGAN variables.

StudioGAN saves each network as `torch.save({'state_dict': model.state_dict(), ...})`
(`model=G-...pth`, `model=G_ema-...pth`, `model=D-...pth`, src/utils/ckpt.py). With the
state dict read in PyTorch (`torch.load(path, map_location='cpu')['state_dict']`):

  generator = jaxgan.models.biggan.Generator(width=96, z_dim=80, num_classes=10)
  g_variables = biggan_studiogan.from_studiogan(state_dict, generator)
  images = generator.apply(g_variables, z, labels, train=False)

and `to_studiogan(variables, module)` is the inverse, a state dict that StudioGAN's
`big_resnet` modules (and tests/biggan_torch.py, this repository's PyTorch replica) load with
`load_state_dict(strict=True)`. The jaxgan module gives the layout (image size, attention side,
classes, spectral norm); its widths must be the checkpoint's. Values may be numpy arrays or
anything `numpy.asarray` reads (CPU torch tensors).

What is converted, StudioGAN's name -> jaxgan's:

  linear0 -> linear, shared -> shared, bn4 -> bn_out, conv2d5 -> conv_out,
  blocks.K.0 (a GenBlock / DiscOptBlock / DiscBlock) -> blockI, with bn1, bn2 (cBN: bn, gain,
      bias), conv2d0 -> shortcut, conv2d1 -> conv1, conv2d2 -> conv2,
  blocks.K.0 (self-attention) -> attention: conv1x1_theta -> query, conv1x1_phi -> key,
      conv1x1_g -> value, conv1x1_attn -> out, sigma -> gamma,
  linear1 -> linear, embedding -> projection (D).

(K counts the attention layer as a block of its own, I does not.) Convolution weights go
from OIHW to HWIO, linear weights are transposed, batch-norm `running_mean` / `running_var`
become `mean` / `var` (`num_batches_tracked` is not used: momentum is fixed).

Spectral norm. PyTorch keeps `weight_orig` and the power-iteration vectors `weight_u`,
`weight_v`; its evaluation mode divides by u^T W v with the stored vectors, its training mode
first runs one iteration from u. flax's SpectralNorm keeps one vector u (the output-side one
for kernels, the feature-side one for an embedding table, which flax treats as the
(classes, features) matrix where PyTorch's spectral norm iterates on the same matrix from the
other side) and runs one iteration from it in every call. `from_studiogan` takes u from
PyTorch's `weight_u` (`weight_v` for embeddings); `to_studiogan` writes the vectors of flax's
iteration, so PyTorch's evaluation mode divides by exactly the sigma jaxgan's `train=False`
call uses. Once the vectors have converged (as in a trained checkpoint) every mode of both
agrees; until then they differ by the last iteration's step.
"""

from typing import Any, Iterator, Mapping

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import errors
from jaxgan.models import biggan, sagan

Variables = dict[str, Any]

# jaxgan's spectral_stats keys inside an 'sn' module, by wrapped layer.
_SN_U = {'dense': 'dense/kernel/u', 'conv': 'conv/kernel/u', 'embed': 'embed/embedding/u'}


def _entries(module) -> Iterator[tuple[str, str, tuple[str, ...]]]:
  """(kind, StudioGAN prefix, jaxgan path) of every layer of `module`, in StudioGAN's order."""
  size = module.image_size
  attention_at = sagan.attention_side(size, module.attention_resolution)
  if isinstance(module, biggan.Generator):
    yield 'dense', 'linear0', ('linear', 'dense')
    if module.num_classes > 0:
      yield 'embed', 'shared', ('shared',)
    k = 0
    for i, side in enumerate(sagan.g_resolutions(size)):
      for bn in ('bn1', 'bn2'):
        yield 'bn', f'blocks.{k}.0.{bn}.bn', (f'block{i}', bn, 'bn')
        yield 'dense_nobias', f'blocks.{k}.0.{bn}.gain', (f'block{i}', bn, 'gain', 'dense')
        yield 'dense_nobias', f'blocks.{k}.0.{bn}.bias', (f'block{i}', bn, 'bias', 'dense')
      for torch_name, name in (('conv2d0', 'shortcut'), ('conv2d1', 'conv1'),
                               ('conv2d2', 'conv2')):
        yield 'conv', f'blocks.{k}.0.{torch_name}', (f'block{i}', name, 'conv')
      k += 1
      if side == attention_at:
        yield from _attention(f'blocks.{k}.0')
        k += 1
    yield 'bn_affine', 'bn4', ('bn_out', 'bn')
    yield 'conv', 'conv2d5', ('conv_out', 'conv')
  elif isinstance(module, biggan.Discriminator):
    k, attended = 0, False
    for i, ((_, down), side) in enumerate(zip(sagan.D_BLOCKS[size],
                                               sagan.d_resolutions(size))):
      shortcut = i == 0 or down or sagan.D_BLOCKS[size][i][0] != (
          sagan.D_BLOCKS[size][i - 1][0])
      names = (('conv2d0', 'shortcut'),) if shortcut else ()
      for torch_name, name in names + (('conv2d1', 'conv1'), ('conv2d2', 'conv2')):
        yield 'conv', f'blocks.{k}.0.{torch_name}', (f'block{i}', name, 'conv')
      k += 1
      if side == attention_at and not attended:
        attended = True
        yield from _attention(f'blocks.{k}.0')
        k += 1
    yield 'dense', 'linear1', ('linear', 'dense')
    if module.num_classes > 0:
      yield 'sn_embed', 'embedding', ('projection', 'embed')
  else:
    raise TypeError(f'expected a jaxgan BigGAN Generator or Discriminator, got '
                    f'{type(module).__name__}.')


def _attention(prefix: str):
  yield 'gamma', f'{prefix}.sigma', ('attention',)
  for torch_name, name in (('theta', 'query'), ('phi', 'key'), ('g', 'value'),
                           ('attn', 'out')):
    yield 'conv_nobias', f'{prefix}.conv1x1_{torch_name}', ('attention', name, 'conv')


def _spectral(module, kind: str) -> bool:
  if kind in ('embed', 'bn', 'bn_affine', 'gamma'):
    return False      # the shared embedding and batch norm are never normalised
  return bool(module.spectral_norm)


def _set(tree: dict, path: tuple[str, ...], name: str, value) -> None:
  for key in path:
    tree = tree.setdefault(key, {})
  tree[name] = value


def _get(tree: Mapping, path: tuple[str, ...], name: str):
  for key in path:
    tree = tree[key]
  return tree[name]


def _normalize(x: np.ndarray) -> np.ndarray:
  return x / max(float(np.linalg.norm(x)), 1e-12)


def _to_jax_weight(kind: str, weight: np.ndarray) -> np.ndarray:
  if kind.startswith('conv'):
    return weight.transpose(2, 3, 1, 0)          # OIHW -> HWIO
  if kind.startswith('dense'):
    return weight.T                              # (out, in) -> (in, out)
  return weight                                  # embedding tables: (classes, features)


def _to_torch_weight(kind: str, kernel: np.ndarray) -> np.ndarray:
  if kind.startswith('conv'):
    return kernel.transpose(3, 2, 0, 1)          # HWIO -> OIHW
  if kind.startswith('dense'):
    return kernel.T
  return kernel


def from_studiogan(state_dict: Mapping[str, Any], module) -> Variables:
  """jaxgan variables of `module` (a `biggan.Generator` / `Discriminator`) from a StudioGAN
  `big_resnet` state dict; CheckpointError naming the first key that is missing or of
  another shape."""
  def read(key: str, shape: tuple) -> np.ndarray:
    if key not in state_dict:
      raise errors.CheckpointError(
          f'the state dict has no {key!r}: it is not a StudioGAN big_resnet {_what(module)} '
          f'with spectral norm={module.spectral_norm} and this layout; build the jaxgan model '
          f'with the checkpoint\'s image size, classes and attention resolution.')
    value = np.asarray(state_dict[key], dtype=np.float32)
    if value.shape != tuple(shape):
      raise errors.CheckpointError(
          f'{key!r} has shape {value.shape} where this jaxgan {_what(module)} needs '
          f'{tuple(shape)}; build it with the checkpoint\'s widths (g_conv_dim / d_conv_dim), '
          f'z_dim, shared_dim and classes.')
    return value

  expected = _expected_shapes(module)
  variables: Variables = {}
  for kind, prefix, path in _entries(module):
    if kind in ('bn', 'bn_affine'):
      for torch_name, name in (('running_mean', 'mean'), ('running_var', 'var')):
        _set(variables, ('batch_stats',) + path, name,
             read(f'{prefix}.{torch_name}', _get(expected['batch_stats'], path, name).shape))
      if kind == 'bn_affine':
        for torch_name, name in (('weight', 'scale'), ('bias', 'bias')):
          _set(variables, ('params',) + path, name,
               read(f'{prefix}.{torch_name}', _get(expected['params'], path, name).shape))
      continue
    if kind == 'gamma':
      _set(variables, ('params',) + path, 'gamma', read(prefix, (1,)).reshape(()))
      continue
    param = 'embedding' if kind in ('embed', 'sn_embed') else 'kernel'
    target = _get(expected['params'], path, param).shape
    spectral = _spectral(module, kind)
    weight_key = f'{prefix}.weight_orig' if spectral else f'{prefix}.weight'
    torch_shape = _to_torch_weight(kind, np.zeros(target, np.float32)).shape
    weight = _to_jax_weight(kind, read(weight_key, torch_shape))
    _set(variables, ('params',) + path, param, weight)
    if not kind.endswith('nobias') and not kind.endswith('embed'):
      _set(variables, ('params',) + path, 'bias', read(f'{prefix}.bias', (target[-1],)))
    if spectral:
      matrix = weight.reshape(-1, weight.shape[-1])        # flax's (rows, features) matrix
      u = read(f'{prefix}.weight_u', (torch_shape[0],))
      v = read(f'{prefix}.weight_v', (int(np.prod(torch_shape[1:])),))
      if kind == 'sn_embed':
        u, v = v, u          # flax iterates from the feature side of the table
      else:
        v = _flax_order(kind, v, torch_shape)
      sn = ('spectral_stats',) + path[:-1] + ('sn',)
      layer = path[-1]
      _set(variables, sn, _SN_U[layer], u.reshape(1, -1))
      _set(variables, sn, _SN_U[layer].replace('/u', '/sigma'),
           np.float32(v @ matrix @ u))
  return _like(expected, variables)


def to_studiogan(variables: Mapping[str, Any], module) -> dict[str, np.ndarray]:
  """A StudioGAN `big_resnet` state dict (numpy arrays, StudioGAN's key order) of jaxgan
  `variables` of `module`; spectral-norm vectors as the module's next evaluation uses them."""
  variables = flax.core.unfreeze(variables)
  out: dict[str, np.ndarray] = {}
  for kind, prefix, path in _entries(module):
    if kind in ('bn', 'bn_affine'):
      stats = _get(variables['batch_stats'], path[:-1], path[-1])
      if kind == 'bn_affine':
        p = _get(variables['params'], path[:-1], path[-1])
        out[f'{prefix}.weight'] = np.asarray(p['scale'], np.float32)
        out[f'{prefix}.bias'] = np.asarray(p['bias'], np.float32)
      out[f'{prefix}.running_mean'] = np.asarray(stats['mean'], np.float32)
      out[f'{prefix}.running_var'] = np.asarray(stats['var'], np.float32)
      out[f'{prefix}.num_batches_tracked'] = np.zeros((), np.int64)
      continue
    if kind == 'gamma':
      out[prefix] = np.asarray(_get(variables['params'], path, 'gamma'),
                               np.float32).reshape(1)
      continue
    layer = _get(variables['params'], path[:-1], path[-1])
    param = 'embedding' if kind in ('embed', 'sn_embed') else 'kernel'
    weight = np.asarray(layer[param], np.float32)
    spectral = _spectral(module, kind)
    torch_weight = _to_torch_weight(kind, weight)
    bias = None if kind.endswith('nobias') or kind.endswith('embed') else np.asarray(
        layer['bias'], np.float32)
    if not spectral:
      out[f'{prefix}.weight'] = torch_weight
      if bias is not None:
        out[f'{prefix}.bias'] = bias
      continue
    if bias is not None:
      out[f'{prefix}.bias'] = bias
    out[f'{prefix}.weight_orig'] = torch_weight
    sn = _get(variables['spectral_stats'], path[:-1], 'sn')
    u0 = np.asarray(sn[_SN_U[path[-1]]], np.float64).reshape(-1)
    matrix = weight.reshape(-1, weight.shape[-1]).astype(np.float64)
    # flax's step from the stored u: v = normalize(W u), u' = normalize(W^T v) with W the
    # (rows, features) matrix; its sigma is v^T W u'.
    v = _normalize(matrix @ u0)
    u = _normalize(matrix.T @ v)
    if kind == 'sn_embed':
      # PyTorch iterates on the (classes, features) table from the class side: its u is
      # flax's v and its v flax's u.
      out[f'{prefix}.weight_u'] = v.astype(np.float32)
      out[f'{prefix}.weight_v'] = u.astype(np.float32)
    else:
      out[f'{prefix}.weight_u'] = u.astype(np.float32)
      out[f'{prefix}.weight_v'] = _torch_order(kind, v, torch_weight.shape).astype(np.float32)
  return out


def _flax_order(kind: str, v: np.ndarray, torch_shape: tuple) -> np.ndarray:
  """PyTorch's v (over the (I, H, W) flattening of an OIHW weight) in flax's (H, W, I) order."""
  if kind.startswith('conv'):
    _, i, h, w = torch_shape
    return v.reshape(i, h, w).transpose(1, 2, 0).reshape(-1)
  return v


def _torch_order(kind: str, v: np.ndarray, torch_shape: tuple) -> np.ndarray:
  if kind.startswith('conv'):
    _, i, h, w = torch_shape
    return v.reshape(h, w, i).transpose(2, 0, 1).reshape(-1)
  return v


def _what(module) -> str:
  return 'generator' if isinstance(module, biggan.Generator) else 'discriminator'


def _expected_shapes(module) -> dict:
  """The module's variable shapes (no computation: jax.eval_shape of its init)."""
  labels = jnp.zeros((1,), jnp.int32) if module.num_classes > 0 else None
  if isinstance(module, biggan.Generator):
    x = jnp.zeros((1, module.z_dim))
  else:
    x = jnp.zeros((1, module.image_size, module.image_size, 3))
  shapes = jax.eval_shape(lambda k: module.init(k, x, labels, train=False), jax.random.key(0))
  return flax.core.unfreeze(shapes)


def _like(expected: dict, variables: dict) -> Variables:
  """`variables` checked to hold exactly the module's tree (a bug here, not a user error)."""
  got = flax.traverse_util.flatten_dict(variables)
  want = flax.traverse_util.flatten_dict(expected)
  if set(got) != set(want):
    raise AssertionError(f'converter tree differs: missing {sorted(set(want) - set(got))[:3]},'
                         f' extra {sorted(set(got) - set(want))[:3]}')
  return flax.traverse_util.unflatten_dict(
      {k: np.asarray(v, want[k].dtype).reshape(want[k].shape) for k, v in got.items()})
