"""StyleGAN2-ADA's official float16 (config.model.dtype='float16', StyleGAN2 only): the modulated
convolution's float16 rescaling keeps values that overflow float16 finite and computes the
float32 function to float16's rounding; the official gradient cleaning
(`optim.nan_to_num_gradients`, training_loop.py's misc.nan_to_num) against numpy's; the
config wiring and refusals. The networks in float16 (the float32 function at init, training
and resuming bit for bit) are in tests/test_families_train.py."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import errors, models, optim
from jaxgan.models import stylegan2 as sg
from tests.util import CONFIGS, tiny_config

FLOAT16_MAX = float(jnp.finfo(jnp.float16).max)   # 65504


def _conv_inputs(scale):
  kx, kk, ks = jax.random.split(jax.random.key(0), 3)
  x = 4.0 * jax.random.normal(kx, (2, 8, 8, 16))
  kernel = jax.random.normal(kk, (3, 3, 16, 8))
  styles = scale * (1.0 + jax.random.uniform(ks, (2, 16)))
  return x, kernel, styles


@pytest.mark.parametrize('scale', [1.0, 2000.0])
def test_float16_modulated_convolution_computes_the_float32_function(scale):
  x, kernel, styles = _conv_inputs(scale)
  f = sg.fir_filter()
  noise = jax.random.normal(jax.random.key(3), (2, 8, 8, 1))
  reference = sg.modulated_conv2d(x, kernel, styles, f, noise=noise)
  out = sg.modulated_conv2d(x.astype(jnp.float16), kernel, styles, f, noise=noise)
  assert out.dtype == jnp.float16 and bool(jnp.all(jnp.isfinite(out)))
  # Demodulated outputs are O(|x|): the input, the scaled weights and styles, the products'
  # sums (144 terms) and the coefficient are each rounded to 11 bits; a few roundings of the
  # output's magnitude, with room for the sums' accumulated error.
  bound = 16 * 2.0 ** -11 * float(jnp.max(jnp.abs(reference)))
  np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(reference), atol=bound)
  if scale > 1:
    # Without the rescaling the modulated input's convolution leaves float16's range.
    raw = sg.conv2d_resample((x * styles[:, None, None, :]).astype(jnp.float16),
                             kernel.astype(jnp.float16), f)
    assert float(jnp.max(jnp.abs(raw.astype(jnp.float32)))) > FLOAT16_MAX or not bool(
        jnp.all(jnp.isfinite(raw)))


def test_nan_to_num_gradients_is_the_official_cleaning():
  grads = {'a': jnp.array([1.0, jnp.nan, jnp.inf, -jnp.inf, -2.5e5]),
           'b': jnp.array([[jnp.nan, 3.0]])}
  tx = optim.nan_to_num_gradients(optax.sgd(1.0))
  params = jax.tree.map(jnp.zeros_like, grads)
  state = tx.init(params)
  assert jax.tree.structure(state) == jax.tree.structure(optax.sgd(1.0).init(params))
  updates, _ = tx.update(grads, state, params)
  for name, g in grads.items():   # misc.nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5)
    expected = -np.nan_to_num(np.asarray(g), nan=0.0, posinf=1e5, neginf=-1e5)
    np.testing.assert_array_equal(np.asarray(updates[name]), expected)


def test_the_config_keys_and_refusals():
  config = tiny_config('ring')
  assert config.optim.nan_to_num is False and config.model.dtype == 'float32'
  config.optim.nan_to_num = True
  for tx in optim.from_config(config):
    params = {'w': jnp.zeros(2)}
    updates, _ = tx.update({'w': jnp.array([jnp.nan, jnp.inf])}, tx.init(params), params)
    assert bool(jnp.all(jnp.isfinite(updates['w'])))
  # (the config types the key; a section built by hand may hold anything)
  config.optim = ml_collections.ConfigDict({**config.optim.to_dict(), 'nan_to_num': 1})
  with pytest.raises(errors.ConfigError,
                     match=r'^config.optim.nan_to_num=1 must be True or False.$'):
    optim.from_config(config)
  with pytest.raises(errors.ConfigError, match=r"^config.model.dtype='float16' is offered for "
                     r"stylegan2 only \(its official precision\); use 'bfloat16' for 'dcgan'"):
    jaxgan.build(tiny_config('digits', **{'model.dtype': 'float16'}))
  config = tiny_config('digits', **{'model.dtype': 'float16'})
  config.model.name = 'stylegan2'
  config.model.g_width = config.model.d_width = None
  generator, discriminator = models.build(config)
  assert generator.dtype == discriminator.dtype == jnp.float16
  with pytest.raises(errors.ConfigError, match='choose float32, float16 or bfloat16'):
    sg.Generator(image_size=32, dtype=jnp.float64).init(
        jax.random.key(0), jnp.zeros((1, 512)), train=False)


@pytest.mark.parametrize('name', ['stylegan2_ada_cifar10', 'stylegan2_paper256'])
def test_the_stylegan2_configs_take_the_official_precision(name):
  config = jaxgan.config.from_file(os.path.join(CONFIGS, f'{name}.py'))
  assert config.model.dtype == 'float16' and config.optim.nan_to_num is True
