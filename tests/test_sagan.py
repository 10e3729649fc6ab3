"""Tests of the SAGAN family: spectral norm, self-attention, the models and attention pictures."""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import errors
from jaxgan import models
from jaxgan.models import attention
from jaxgan.models import layers_sn
from jaxgan.viz import attention as attention_viz

Z_DIM = 16
CH = 8

# XLA's CPU backend spends most of these tests compiling; its optimisation level 0 compiles
# several times faster and is plenty for tiny shapes.
_jit = functools.partial(jax.jit, compiler_options={'xla_backend_optimization_level': 0})


def _config(image_size=32, num_classes=0, **model):
  config = jaxgan.config.default()
  config.data.image_size = image_size
  config.model.name = 'sagan'
  config.model.z_dim = Z_DIM
  config.model.g_width = CH
  config.model.d_width = CH
  config.model.num_classes = num_classes
  for key, value in model.items():
    config.model[key] = value
  return config


def _replace(tree, name, fn):
  """Applies `fn` to every leaf of `tree` whose path contains the key `name`."""
  def visit(path, leaf):
    return fn(leaf) if any(getattr(k, 'key', None) == name for k in path) else leaf
  return jax.tree_util.tree_map_with_path(visit, tree)


def _run_power_iterations(module, variables, x, steps):
  @_jit
  def run(variables):
    def body(_, variables):
      _, updates = module.apply(variables, x, update_stats=True, mutable=['spectral_stats'])
      return {**variables, **updates}
    return jax.lax.fori_loop(0, steps, body, variables)
  return run(variables)


# ----------------------------------------------------------------------------- spectral norm


def test_spectral_norm_dense_reaches_unit_sigma():
  module = layers_sn.SNDense(24)
  x = jax.random.normal(jax.random.key(1), (5, 40))
  variables = _jit(functools.partial(module.init, update_stats=False))(jax.random.key(0), x)
  variables = _run_power_iterations(module, variables, x, steps=300)

  kernel = np.asarray(variables['params']['dense']['kernel'], np.float64)   # (in, out)
  sigma_svd = np.linalg.svd(kernel, compute_uv=False)[0]
  sigma_stored = float(variables['spectral_stats']['sn']['dense/kernel/sigma'])
  assert abs(sigma_stored / sigma_svd - 1) < 1e-3
  assert abs(np.linalg.svd(kernel / sigma_stored, compute_uv=False)[0] - 1) < 1e-3
  # The forward pass uses W / sigma(W).
  bias = np.asarray(variables['params']['dense']['bias'])
  expected = np.asarray(x) @ (kernel / sigma_svd) + bias
  got = _jit(functools.partial(module.apply, update_stats=False))(variables, x)
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


@pytest.mark.slow
def test_spectral_norm_conv_normalises_the_flattened_kernel():
  # flax normalises the HWIO kernel flattened to (H*W*I, O); PyTorch flattens OIHW to
  # (O, I*H*W). Both matrices have the same singular values (transpose and permutation).
  module = layers_sn.SNConv(16, kernel_size=(3, 3))
  x = jax.random.normal(jax.random.key(1), (2, 7, 7, 6))
  variables = _jit(functools.partial(module.init, update_stats=False))(jax.random.key(0), x)
  variables = _run_power_iterations(module, variables, x, steps=300)

  kernel = np.asarray(variables['params']['conv']['kernel'], np.float64)   # (3, 3, 6, 16)
  flax_matrix = kernel.reshape(-1, kernel.shape[-1])                        # (54, 16)
  torch_matrix = kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[-1], -1)  # (16, 54)
  sigma_flax = np.linalg.svd(flax_matrix, compute_uv=False)[0]
  sigma_torch = np.linalg.svd(torch_matrix, compute_uv=False)[0]
  assert abs(sigma_flax - sigma_torch) < 1e-9 * sigma_flax
  sigma_stored = float(variables['spectral_stats']['sn']['conv/kernel/sigma'])
  assert abs(sigma_stored / sigma_torch - 1) < 1e-3
  assert abs(np.linalg.svd(torch_matrix / sigma_stored, compute_uv=False)[0] - 1) < 1e-3
  # The forward pass convolves with W / sigma(W).
  expected = jax.lax.conv_general_dilated(
      x, jnp.asarray(kernel / sigma_torch, jnp.float32), (1, 1), 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + variables['params']['conv']['bias']
  got = _jit(functools.partial(module.apply, update_stats=False))(variables, x)
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


def test_spectral_norm_vectors_update_only_in_training():
  module = layers_sn.SNConv(8)
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 3))
  variables = _jit(functools.partial(module.init, update_stats=False))(jax.random.key(0), x)
  before = variables['spectral_stats']['sn']['conv/kernel/u']

  apply = _jit(functools.partial(module.apply, mutable=['spectral_stats']),
               static_argnames='update_stats')
  _, updates = apply(variables, x, update_stats=True)
  assert not np.allclose(updates['spectral_stats']['sn']['conv/kernel/u'], before)

  _, updates = apply(variables, x, update_stats=False)
  np.testing.assert_array_equal(updates['spectral_stats']['sn']['conv/kernel/u'], before)


# ----------------------------------------------------------------------------- self-attention


def _attention_loop(x, params, pool):
  """Per-position numpy implementation of SAGAN attention (paper eqs. 1-3, reference h/v)."""
  wq = params['query']['conv']['kernel'][0, 0]
  wk = params['key']['conv']['kernel'][0, 0]
  wv = params['value']['conv']['kernel'][0, 0]
  wo = params['out']['conv']['kernel'][0, 0]
  gamma = float(params['gamma'])
  b, h, w, _ = x.shape
  out = np.zeros_like(x)
  betas = []
  for n in range(b):
    keys, values = [], []
    if pool:
      for r in range(0, h, 2):
        for c in range(0, w, 2):
          window = [x[n, r + dr, c + dc] for dr in (0, 1) for dc in (0, 1)]
          keys.append(np.max([p @ wk for p in window], axis=0))
          values.append(np.max([p @ wv for p in window], axis=0))
    else:
      for r in range(h):
        for c in range(w):
          keys.append(x[n, r, c] @ wk)
          values.append(x[n, r, c] @ wv)
    beta_n = []
    for r in range(h):
      for c in range(w):
        query = x[n, r, c] @ wq
        scores = np.array([query @ k for k in keys])
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        beta_n.append(weights)
        attended = sum(wt * v for wt, v in zip(weights, values))
        out[n, r, c] = gamma * (attended @ wo) + x[n, r, c]
    betas.append(beta_n)
  return out, np.array(betas)


@pytest.mark.slow
@pytest.mark.parametrize('pool', [False, True])
def test_attention_matches_loop_implementation(pool):
  module = attention.SelfAttention(spectral_norm=False, pool=pool)
  x = jax.random.normal(jax.random.key(1), (2, 4, 6, 16))
  variables = _jit(functools.partial(module.init, train=False))(jax.random.key(0), x)
  params = flax.core.unfreeze(variables['params'])
  params['gamma'] = jnp.float32(0.7)
  got, state = _jit(functools.partial(module.apply, train=False, mutable=['intermediates']))(
      {'params': params}, x)
  beta = state['intermediates']['attention'][0]
  expected, expected_beta = _attention_loop(
      np.asarray(x, np.float64), jax.tree_util.tree_map(np.asarray, params), pool)
  num_keys = 4 * 6 // (4 if pool else 1)
  assert beta.shape == (2, 4 * 6, num_keys) and beta.dtype == jnp.float32
  np.testing.assert_allclose(beta, expected_beta, atol=1e-5)
  np.testing.assert_allclose(got, expected, atol=1e-4)
  np.testing.assert_allclose(np.sum(beta, axis=-1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_attention_starts_as_identity_and_trains_gamma():
  module = attention.SelfAttention()  # spectrally normalised
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 16))
  variables = _jit(functools.partial(module.init, train=False))(jax.random.key(0), x)
  assert float(variables['params']['gamma']) == 0.0
  np.testing.assert_array_equal(_jit(functools.partial(module.apply, train=False))(variables, x), x)

  weights = jax.random.normal(jax.random.key(2), x.shape)

  def loss(params):
    y, _ = module.apply({**variables, 'params': params}, x, train=True,
                        mutable=['spectral_stats'])
    return jnp.sum(y * weights)

  grads = _jit(jax.grad(loss))(variables['params'])
  assert abs(float(grads['gamma'])) > 1e-3


# ----------------------------------------------------------------------------- models

@functools.lru_cache(maxsize=None)
def _models(image_size, num_classes, dtype='float32'):
  return models.build(_config(image_size, num_classes, dtype=dtype))


@functools.lru_cache(maxsize=None)
def _initialised(image_size, num_classes):
  generator, discriminator = _models(image_size, num_classes)
  z = jax.random.normal(jax.random.key(1), (4, Z_DIM))
  labels = jnp.arange(4) % max(num_classes, 1)
  images = jax.random.uniform(jax.random.key(2), (4, image_size, image_size, 3), minval=-1)

  @_jit
  def init(key):
    g_key, d_key = jax.random.split(key)
    return (generator.init(g_key, z, labels, train=False),
            discriminator.init(d_key, images, labels, train=False))

  g_vars, d_vars = init(jax.random.key(3))
  return g_vars, d_vars, z, labels, images


@functools.lru_cache(maxsize=None)
def _forward(image_size, num_classes, dtype='float32'):
  """One compiled function running both networks in training and in evaluation mode."""
  generator, discriminator = _models(image_size, num_classes, dtype)

  def train(g_vars, d_vars, z, labels):
    fake, g_state = generator.apply(g_vars, z, labels, train=True,
                                    mutable=['batch_stats', 'spectral_stats'])
    logits, d_state = discriminator.apply(d_vars, fake, labels, train=True,
                                          mutable=['spectral_stats'])
    return fake, logits, g_state, d_state

  # Training-mode batch norm averages over the step's device axis: map over one "device".
  train = jax.vmap(train, in_axes=(None, None, 0, 0), axis_name='batch')

  @_jit
  def forward(g_vars, d_vars, z, labels, images):
    expand = lambda x: None if x is None else x[None]
    outs = train(g_vars, d_vars, expand(z), expand(labels))
    fake, logits, g_state, d_state = jax.tree_util.tree_map(lambda x: x[0], outs)
    eval_fake, g_inter = generator.apply(g_vars, z, labels, train=False,
                                         mutable=['intermediates'])
    eval_logits, d_inter = discriminator.apply(d_vars, images, labels, train=False,
                                               mutable=['intermediates'])
    return dict(fake=fake, logits=logits, g_state=g_state, d_state=d_state,
                eval_fake=eval_fake, eval_logits=eval_logits,
                g_attention=g_inter['intermediates']['attention']['attention'][0],
                d_attention=d_inter['intermediates']['attention']['attention'][0])

  return forward


def _check_outputs(out, image_size):
  for fake in (out['fake'], out['eval_fake']):
    assert fake.shape == (4, image_size, image_size, 3) and fake.dtype == jnp.float32
  for logits in (out['logits'], out['eval_logits']):
    assert logits.shape == (4,) and logits.dtype == jnp.float32
  assert set(out['g_state']) == {'batch_stats', 'spectral_stats'}
  assert set(out['d_state']) == {'spectral_stats'}
  # Attention sits at 16 (32 px) or 32 (64 px) in both networks.
  side = 16 if image_size == 32 else 32
  assert out['g_attention'].shape == (4, side ** 2, side ** 2)
  assert out['d_attention'].shape == (4, side ** 2, side ** 2)


# Compiling a 64-px pair takes a while on two shared cores, so the unconditional 64-px pair is
# only traced (shapes, dtypes, collections); the conditional one runs and covers its layers.
@pytest.mark.slow
@pytest.mark.parametrize('image_size,num_classes', [(32, 0), (32, 10), (64, 10)])
def test_model_runs_with_expected_shapes_and_range(image_size, num_classes):
  g_vars, d_vars, z, labels, images = _initialised(image_size, num_classes)
  assert set(g_vars) == {'params', 'batch_stats', 'spectral_stats'}
  assert set(d_vars) == {'params', 'spectral_stats'}
  out = _forward(image_size, num_classes)(g_vars, d_vars, z, labels, images)
  _check_outputs(out, image_size)
  for fake in (out['fake'], out['eval_fake']):
    assert float(jnp.min(fake)) >= -1.0 and float(jnp.max(fake)) <= 1.0
  for logits in (out['logits'], out['eval_logits']):
    assert np.all(np.isfinite(logits))
  # A training pass moves the power-iteration vectors and the batch-norm statistics.
  for collection, old in (('spectral_stats', g_vars), ('batch_stats', g_vars),
                          ('spectral_stats', d_vars)):
    new = out['g_state' if old is g_vars else 'd_state'][collection]
    assert not all(np.array_equal(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(old[collection]), jax.tree_util.tree_leaves(new), strict=True))


@pytest.mark.slow
def test_unconditional_64px_shapes():
  generator, discriminator = _models(64, 0)
  z = jax.ShapeDtypeStruct((4, Z_DIM), jnp.float32)
  images = jax.ShapeDtypeStruct((4, 64, 64, 3), jnp.float32)
  labels = jax.ShapeDtypeStruct((4,), jnp.int32)
  g_vars, d_vars = jax.eval_shape(
      lambda key, z, images: (generator.init(key, z, train=False),
                              discriminator.init(key, images, train=False)),
      jax.random.key(0), z, images)
  assert set(g_vars) == {'params', 'batch_stats', 'spectral_stats'}
  assert set(d_vars) == {'params', 'spectral_stats'}
  _check_outputs(jax.eval_shape(_forward(64, 0), g_vars, d_vars, z, labels, images), 64)


@pytest.mark.slow
@pytest.mark.parametrize('image_size', [32, 64])
def test_labels_change_generator_and_discriminator(image_size):
  g_vars, d_vars, z, _, images = _initialised(image_size, 10)
  # Conditional BN starts with gain 1 and bias 0 for every class; make the classes differ.
  noise = iter(jax.random.split(jax.random.key(7), 1000))
  perturb = lambda t: t + 0.3 * jax.random.normal(next(noise), t.shape)
  g_vars = _replace(_replace(g_vars, 'class_gain', perturb), 'class_bias', perturb)
  forward = _forward(image_size, 10)
  zeros = forward(g_vars, d_vars, z, jnp.zeros(4, jnp.int32), images)
  ones = forward(g_vars, d_vars, z, jnp.ones(4, jnp.int32), images)
  assert float(jnp.max(jnp.abs(zeros['eval_fake'] - ones['eval_fake']))) > 1e-3
  assert float(jnp.max(jnp.abs(zeros['eval_logits'] - ones['eval_logits']))) > 1e-4

  generator, discriminator = _models(image_size, 10)
  with pytest.raises(ValueError, match='num_classes'):
    jax.eval_shape(functools.partial(generator.apply, train=False), g_vars, z)
  with pytest.raises(ValueError, match='num_classes'):
    jax.eval_shape(functools.partial(discriminator.apply, train=False), d_vars, images)


def test_unsupported_sizes_raise_config_error():
  with pytest.raises(errors.ConfigError, match='image_size'):
    models.build(_config(image_size=48))
  with pytest.raises(errors.ConfigError, match='attention_resolution'):
    models.build(_config(image_size=32, attention_resolution=32))
  with pytest.raises(errors.ConfigError, match='dtype'):
    models.build(_config(dtype='float16'))


def test_models_construct_from_keyword_arguments_with_one_default_each():
  generator = models.SAGANGenerator(image_size=32, width=CH, attention_resolution=16)
  built, _ = models.build(_config(image_size=32))
  assert generator == built.clone(attention_resolution=16)
  # None (the config's "model default") means 16 at 32x32 and 32 at 64x64.
  assert models.sagan.attention_side(32, None) == 16 and models.sagan.attention_side(64, None) == 32
  with pytest.raises(errors.ConfigError, match=r'^attention_resolution=4 is not a feature-map'):
    models.SAGANDiscriminator(image_size=32, attention_resolution=4)
  with pytest.raises(errors.ConfigError, match=r'^config.model.attention_resolution=4 is not'):
    models.build(_config(image_size=32, attention_resolution=4))


@pytest.mark.parametrize('size,g_multipliers,d_blocks', [
    (128, (16, 16, 8, 4, 2, 1), ((1, 64), (2, 32), (4, 16), (8, 8), (16, 4), (16, 4))),
    (256, (16, 16, 8, 8, 4, 2, 1),
     ((1, 128), (2, 64), (4, 32), (8, 16), (8, 8), (16, 4), (16, 4))),
])
@pytest.mark.slow
def test_biggan_layouts_at_128_and_256(size, g_multipliers, d_blocks):
  """BigGAN's 128 and 256 px architectures (shapes only): G's widths per block, D's widths
  and sides per block, attention at 64x64 in both, one output channel for grey data."""
  generator = models.SAGANGenerator(image_size=size, width=CH, num_classes=10, out_channels=1)
  discriminator = models.SAGANDiscriminator(image_size=size, width=CH, num_classes=10)
  z = jax.ShapeDtypeStruct((2, Z_DIM), jnp.float32)
  labels = jax.ShapeDtypeStruct((2,), jnp.int32)
  images = jax.ShapeDtypeStruct((2, size, size, 1), jnp.float32)

  def run(key, z, labels, images):
    g_vars = generator.init(key, z, labels, train=False)
    d_vars = discriminator.init(key, images, labels, train=False)
    fake, g_inter = generator.apply(g_vars, z, labels, train=False, mutable=['intermediates'])
    logits, d_inter = discriminator.apply(d_vars, fake, labels, train=False,
                                          mutable=['intermediates'])
    return g_vars, d_vars, fake, logits, g_inter, d_inter

  g_vars, d_vars, fake, logits, g_inter, d_inter = jax.eval_shape(
      run, jax.random.key(0), z, labels, images)
  assert fake.shape == (2, size, size, 1) and logits.shape == (2,)
  g = g_vars['params']
  assert g['linear']['dense']['kernel'].shape[-1] == 16 * g_multipliers[0] * CH
  assert [g[f'block{i}']['conv2']['conv']['kernel'].shape[-1]
          for i in range(len(g_multipliers) - 1)] == [m * CH for m in g_multipliers[1:]]
  d = d_vars['params']
  assert [d[f'block{i}']['conv2']['conv']['kernel'].shape[-1]
          for i in range(len(d_blocks))] == [m * CH for m, _ in d_blocks]
  assert models.sagan.d_resolutions(size) == [side for _, side in d_blocks]
  for inter in (g_inter, d_inter):
    assert inter['intermediates']['attention']['attention'][0].shape == (2, 64 ** 2, 64 ** 2)
  assert models.sagan.attention_side(size, None) == 64


@pytest.mark.parametrize('size,g_count,d_count', [
    (32, 4_358_660, 1_074_306), (64, 12_241_156, 19_547_842)])
def test_default_parameter_counts_at_32_and_64_are_unchanged(size, g_count, d_count):
  """The counts of the default-width (64) models, measured before 128 and 256 px existed."""
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))
  g = jax.eval_shape(lambda: models.SAGANGenerator(image_size=size).init(
      jax.random.key(0), jnp.zeros((2, 128)), train=False))
  d = jax.eval_shape(lambda: models.SAGANDiscriminator(image_size=size).init(
      jax.random.key(0), jnp.zeros((2, size, size, 3)), train=False))
  assert (count(g['params']), count(d['params'])) == (g_count, d_count)


def test_spectral_norm_switches_per_network():
  generator, discriminator = models.build(
      _config(g_spectral_norm=False, d_spectral_norm=True, attention_resolution=0))
  g_vars = jax.eval_shape(functools.partial(generator.init, train=False),
                          jax.random.key(0), jnp.zeros((2, Z_DIM)))
  d_vars = jax.eval_shape(functools.partial(discriminator.init, train=False),
                          jax.random.key(0), jnp.zeros((2, 32, 32, 3)))
  assert 'spectral_stats' not in g_vars and 'spectral_stats' in d_vars
  assert 'attention' not in g_vars['params'] and 'attention' not in d_vars['params']


@pytest.mark.slow
def test_bfloat16_compute_is_close_to_float32():
  # Same float32 parameters; attention switched on (gamma = 1) so that its path counts.
  g_vars, d_vars, z, labels, images = _initialised(32, 10)
  g_vars = _replace(g_vars, 'gamma', jnp.ones_like)
  d_vars = _replace(d_vars, 'gamma', jnp.ones_like)
  out32 = _forward(32, 10)(g_vars, d_vars, z, labels, images)
  out16 = _forward(32, 10, 'bfloat16')(g_vars, d_vars, z, labels, images)
  for key in ('eval_fake', 'eval_logits', 'fake', 'logits', 'g_attention'):
    assert out16[key].dtype == jnp.float32, key
  # Tolerance: bfloat16 keeps 8 significant bits (relative error up to 2**-9 per rounding),
  # compounded over ~15 layers: images within 0.02, logits within 1% of their largest value
  # (observed: 0.0064 and 0.2%).
  assert float(jnp.max(jnp.abs(out16['eval_fake'] - out32['eval_fake']))) < 0.02
  scale = float(jnp.max(jnp.abs(out32['eval_logits'])))
  assert float(jnp.max(jnp.abs(out16['eval_logits'] - out32['eval_logits']))) < 0.01 * scale
  # The spectral-norm state that a training step produces stays float32.
  for leaf in jax.tree_util.tree_leaves((out16['g_state'], out16['d_state'])):
    assert leaf.dtype == jnp.float32


# ----------------------------------------------------------------------------- pictures


@pytest.mark.slow
def test_render_attention_marks_query_points():
  g_vars, d_vars, z, labels, images = _initialised(32, 0)
  out = _forward(32, 0)(g_vars, d_vars, z, labels, images)
  generator, _ = _models(32, 0)
  beta = _jit(functools.partial(attention_viz.attention_for, generator))(g_vars, z)
  np.testing.assert_allclose(beta, out['g_attention'], atol=1e-6)
  images = out['eval_fake'][:2]
  points = [(4, 5), (20, 27)]
  picture = attention_viz.render_attention(images, beta[:2], points, grid=(16, 16), scale=4)
  assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[-1] == 3
  assert picture.shape[0] >= 2 * 32 * 4 and picture.shape[1] >= 3 * 32 * 4
  plain = np.repeat(np.repeat(attention_viz.to_uint8_rgb(images)[0], 4, 0), 4, 1)
  for r, c in points:
    y, x = r * 4 + 2, c * 4 + 2
    assert not np.array_equal(picture[y, x], plain[y, x])
    np.testing.assert_array_equal(picture[y, x], attention_viz.MARKER_FILL)
  # Far from the markers the first tile is the plain sample.
  np.testing.assert_array_equal(picture[50:70, 50:70], plain[50:70, 50:70])
