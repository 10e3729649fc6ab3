"""Model shapes, output ranges, and the rewritten convolutions against flax's layers."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import errors, models
from jaxgan.models import dcgan, layers
from tests.util import tiny_config


@pytest.mark.slow
@pytest.mark.parametrize('kernel,stride', [(5, 2), (4, 2), (3, 2), (5, 1)])
@pytest.mark.parametrize('per_phase', [True, False])
def test_subpixel_equals_conv_transpose(kernel, stride, per_phase):
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 7))
  ref = nn.ConvTranspose(3, (kernel, kernel), strides=(stride, stride), padding='SAME')
  variables = ref.init(jax.random.key(1), x)
  variables = jax.tree.map(lambda a: a + 0.1 if a.ndim == 1 else a, variables)  # nonzero bias
  mine = layers.SubpixelConvTranspose(3, kernel, stride, per_phase=per_phase)
  assert jax.tree.map(jnp.shape, mine.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, variables)
  np.testing.assert_allclose(mine.apply(variables, x), ref.apply(variables, x), atol=1e-5)
  # The same gradients with respect to the kernel and the input.
  loss = lambda m: lambda v, xx: jnp.sum(jnp.sin(m.apply(v, xx)))
  g_ref = jax.grad(loss(ref), argnums=(0, 1))(variables, x)
  g_mine = jax.grad(loss(mine), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(g_mine, g_ref, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize('kernel,stride,size', [(5, 2, 8), (4, 2, 8), (3, 2, 6), (5, 2, 4)])
def test_space_to_depth_equals_strided_conv(kernel, stride, size):
  x = jax.random.normal(jax.random.key(0), (2, size, size, 5))
  ref = nn.Conv(4, (kernel, kernel), strides=(stride, stride), padding='SAME')
  variables = ref.init(jax.random.key(1), x)
  variables = jax.tree.map(lambda a: a + 0.1 if a.ndim == 1 else a, variables)
  mine = layers.SpaceToDepthConv(4, kernel, stride)
  np.testing.assert_allclose(mine.apply(variables, x), ref.apply(variables, x), atol=1e-5)
  loss = lambda m: lambda v, xx: jnp.sum(jnp.sin(m.apply(v, xx)))
  g_ref = jax.grad(loss(ref), argnums=(0, 1))(variables, x)
  g_mine = jax.grad(loss(mine), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(g_mine, g_ref, atol=1e-4, rtol=1e-4)


def test_space_to_depth_rejects_odd_sizes():
  with pytest.raises(ValueError, match='divisible'):
    layers.SpaceToDepthConv(4).init(jax.random.key(0), jnp.zeros((1, 5, 5, 3)))


@pytest.mark.slow
@pytest.mark.parametrize('size', [32, 64])
def test_dcgan_shapes_and_range(size):
  gen = dcgan.Generator(image_size=size, width=32, axis_name=None)
  disc = dcgan.Discriminator(image_size=size, width=4, axis_name=None)
  z = jax.random.normal(jax.random.key(0), (3, 8))
  gv = gen.init(jax.random.key(1), z, train=False)
  x, _ = gen.apply(gv, 10 * z, train=True, mutable=['batch_stats'])
  assert x.shape == (3, size, size, 3)
  assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
  dv = disc.init(jax.random.key(2), x, train=False)
  logits = disc.apply(dv, x, train=False)
  assert logits.shape == (3,)
  # Stage widths as the seed describes (scaled by width/1024): 4x4 'project' then halving.
  kernels = {k: v['kernel'].shape for k, v in gv['params'].items() if 'kernel' in v}
  n_up = {32: 3, 64: 4}[size]
  assert kernels['project'] == (8, 4 * 4 * 32 * size // 64)
  assert kernels[f'up{n_up - 1}'][-1] == 3
  assert all(kernels[f'up{i}'][:2] == (5, 5) for i in range(n_up))


def test_seed_dcgan_widths():
  """The full-size 64x64 generator: 100 -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3."""
  gen = dcgan.Generator(image_size=64, width=1024, axis_name=None)
  shapes = jax.eval_shape(lambda: gen.init(jax.random.key(0), jnp.zeros((1, 100)), train=False))
  p = shapes['params']
  assert p['project']['kernel'].shape == (100, 4 * 4 * 1024)
  assert [p[f'up{i}']['kernel'].shape for i in range(4)] == [
      (5, 5, 1024, 512), (5, 5, 512, 256), (5, 5, 256, 128), (5, 5, 128, 3)]


@pytest.mark.slow
def test_conv_impls_compute_the_same_model():
  config = tiny_config('digits')
  config.model.conv_impl = 'rewritten'
  g1, d1 = models.build(config)
  config.model.conv_impl = 'flax'
  g2, d2 = models.build(config)
  z = jax.random.normal(jax.random.key(0), (2, 8))
  v = g1.init(jax.random.key(1), z, train=False)
  np.testing.assert_allclose(g1.apply(v, z, train=False), g2.apply(v, z, train=False), atol=1e-5)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  v = d1.init(jax.random.key(1), x, train=False)
  np.testing.assert_allclose(d1.apply(v, x, train=False), d2.apply(v, x, train=False), atol=1e-5)


def test_mlp_shapes():
  config = tiny_config('ring')
  gen, disc = models.build(config)
  z = jnp.zeros((5, 2))
  x = gen.apply(gen.init(jax.random.key(0), z, train=False), z, train=True)
  assert x.shape == (5, 2)
  assert disc.apply(disc.init(jax.random.key(0), x, train=False), x, train=True).shape == (5,)


def test_unknown_model_and_bad_size():
  config = tiny_config('digits')
  config.model.name = 'stylegan9'
  with pytest.raises(errors.ConfigError, match=r"config.model.name='stylegan9'.*'dcgan'"):
    models.build(config)
  config = tiny_config('digits', **{'data.image_size': 48})
  with pytest.raises(errors.ConfigError, match=r'config.data.image_size=48.*32, 64, 128, 256'):
    models.build(config)


def test_unset_config_keys_take_each_models_own_default():
  config = jaxgan.config.default()          # g_width, d_width, d_norm: None
  generator, discriminator = models.build(config)
  assert (generator.width, discriminator.width, discriminator.norm) == (1024, 64, 'batch')
  assert generator == models.DCGANGenerator()
  config.model.name, config.data.dataset = 'mlp', 'ring'
  assert models.build(config) == (models.MLPGenerator(), models.MLPDiscriminator())


def _param_count(module, *inputs) -> int:
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes['params']))


def _dcgan_counts(size, width_g=1024, width_d=64, z=100, channels=3):
  """Parameter counts of the seed's layouts, layer by layer (independent of dcgan.py)."""
  stages = {32: 3, 64: 4}[size]
  top = width_g * size // 64
  g = z * 16 * top + 16 * top + 2 * top                    # project + its batch norm
  widths = [top // 2 ** i for i in range(stages)] + [channels]
  for i in range(stages):
    g += 25 * widths[i] * widths[i + 1] + widths[i + 1]    # 5x5 transposed conv + bias
    g += 2 * widths[i + 1] if i < stages - 1 else 0        # batch norm
  d, previous = 0, channels
  for i in range(stages):
    features = width_d * 2 ** i
    d += 25 * previous * features + features + (2 * features if i else 0)
    previous = features
  side = size // 2 ** stages
  d += side * side * previous + 1                          # the logit
  return g, d


@pytest.mark.parametrize('size', [32, 64])
def test_dcgan_parameter_counts_at_the_seed_sizes(size):
  g_expected, d_expected = _dcgan_counts(size)
  z, x = jnp.zeros((2, 100)), jnp.zeros((2, size, size, 3))
  assert _param_count(dcgan.Generator(image_size=size), z) == g_expected
  assert _param_count(dcgan.Discriminator(image_size=size), x) == d_expected
  # The counts before larger sizes were added (measured then).
  assert (g_expected, d_expected) == {32: (4_935_171, 1_034_113),
                                      64: (18_872_323, 4_316_545)}[size]


@pytest.mark.parametrize('size,g_widths,d_widths', [
    (128, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024]),
    (256, [1024, 512, 256, 128, 64, 32], [64, 128, 256, 512, 1024, 1024]),
])
def test_dcgan_layouts_at_128_and_256(size, g_widths, d_widths):
  """Full-width layouts (shapes only): G's 4x4 map stays at `width` and halves per stage; D
  doubles per stage up to 16 x width; one output channel for greyscale data."""
  gen = dcgan.Generator(image_size=size, channels=1, axis_name=None)
  disc = dcgan.Discriminator(image_size=size, axis_name=None)
  z = jnp.zeros((2, 100))
  g = jax.eval_shape(lambda: gen.init(jax.random.key(0), z, train=False))['params']
  assert g['project']['kernel'].shape == (100, 16 * g_widths[0])
  assert [g[f'up{i}']['kernel'].shape[-1] for i in range(len(g_widths))] == g_widths[1:] + [1]
  x = jax.ShapeDtypeStruct((2, size, size, 1), jnp.float32)
  out = jax.eval_shape(lambda: gen.apply(gen.init(jax.random.key(0), z, train=False), z,
                                         train=False))
  assert out.shape == (2, size, size, 1)
  d = jax.eval_shape(lambda x: disc.init(jax.random.key(0), x, train=False), x)['params']
  assert [d[f'down{i}']['kernel'].shape[-1] for i in range(len(d_widths))] == d_widths
  assert d['logit']['kernel'].shape == (4 * 4 * d_widths[-1], 1)
  with pytest.raises(errors.ConfigError, match='width=8 must be an integer >= 32 at 256x256'):
    dcgan.Generator(image_size=256, width=8)


@pytest.mark.parametrize('kernel', [(3, 3), (1, 1), (4, 4), (3, 2)])
def test_conv_with_im2col_weight_gradient_equals_flax_conv(kernel):
  x = jax.random.normal(jax.random.key(0), (2, 6, 7, 5))
  ref = nn.Conv(40, kernel, padding='SAME')
  variables = ref.init(jax.random.key(1), x)
  variables = jax.tree.map(lambda a: a + 0.1 if a.ndim == 1 else a, variables)
  mine = layers.Conv(40, kernel, im2col_min_size=0)   # every size takes the im2col gradient
  assert (jax.tree.map(jnp.shape, mine.init(jax.random.key(1), x))
          == jax.tree.map(jnp.shape, variables))
  np.testing.assert_allclose(mine.apply(variables, x), ref.apply(variables, x), atol=1e-5)
  loss = lambda m: lambda v, xx: jnp.sum(jnp.sin(m.apply(v, xx)))
  grad = jax.jit(jax.grad(loss(mine), argnums=(0, 1)))
  g_ref = jax.grad(loss(ref), argnums=(0, 1))(variables, x)
  chex.assert_trees_all_close(grad(variables, x), g_ref, atol=1e-4, rtol=1e-4)
  # The weight gradient is a matmul here, and a convolution below the size threshold.
  assert 'dot_general' in grad.lower(variables, x).as_text()
  stock = jax.jit(jax.grad(loss(layers.Conv(40, kernel)), argnums=(0, 1)))
  assert 'dot_general' not in stock.lower(variables, x).as_text()


@pytest.mark.slow
@pytest.mark.parametrize('network', ['generator', 'discriminator'])
def test_sagan_conv_impls_compute_the_same_model(network, monkeypatch):
  monkeypatch.setattr(layers, 'IM2COL_WGRAD_MIN', 0)   # the im2col gradient at tiny sizes
  if network == 'generator':
    make = lambda impl: models.SAGANGenerator(image_size=32, width=8, conv_impl=impl,
                                              bn_axis_name=None)
    inputs = jax.random.normal(jax.random.key(0), (3, 128))
  else:
    make = lambda impl: models.SAGANDiscriminator(image_size=32, width=16, conv_impl=impl)
    inputs = jax.random.normal(jax.random.key(0), (3, 32, 32, 3))
  variables = make('flax').init(jax.random.key(1), inputs, train=False)
  assert (jax.tree.map(jnp.shape, make('rewritten').init(jax.random.key(1), inputs, train=False))
          == jax.tree.map(jnp.shape, variables))
  params, state = variables['params'], {k: v for k, v in variables.items() if k != 'params'}

  def loss(impl):
    def f(p):
      y, _ = make(impl).apply({'params': p, **state}, inputs, train=True, mutable=list(state))
      return jnp.sum(jnp.sin(y))
    return jax.jit(jax.value_and_grad(f))

  (value, grads), (ref_value, ref_grads) = loss('rewritten')(params), loss('flax')(params)
  # The rewritten model took its weight gradients as matmuls (the attention adds some of its
  # own to both).
  dots = [loss(impl).lower(params).as_text().count('dot_general') for impl in ('rewritten',
                                                                                 'flax')]
  assert dots[0] > dots[1]
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(grads),
                          jax.tree.leaves(ref_grads), strict=True):
    # float32 summation order: tolerance relative to each gradient's own scale.
    np.testing.assert_allclose(a, b, atol=1e-5 * np.abs(b).max(), rtol=1e-4,
                               err_msg=jax.tree_util.keystr(path))
