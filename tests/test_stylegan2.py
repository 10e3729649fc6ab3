"""Tests of the StyleGAN2-ADA port (jaxgan/models/stylegan2.py).

Parameter counts and state-dict layouts are those of the official networks (NVlabs/
stylegan2-ada-pytorch), recorded in tests/data/stylegan2_ada_official.json (its 'source' says
how they were obtained); functions are compared with the independent PyTorch replica in
tests/stylegan2_replica.py, weights carried over from jaxgan.
"""

import functools
import json
import os
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import errors
from jaxgan import models
from jaxgan.models import stylegan2 as sg
from tests import stylegan2_replica as replica

OFFICIAL = json.loads(
    (pathlib.Path(__file__).parent / 'data' / 'stylegan2_ada_official.json').read_text())

# The small setting of the function tests: 16x16, widths 64/32/16 (channel_base 256).
RES, BASE, Z, W = 16, 256, 16, 32


# XLA's CPU backend spends most of these tests compiling; level 0 compiles several times
# faster and is plenty for tiny shapes.
_jit = functools.partial(jax.jit, compiler_options={'xla_backend_optimization_level': 0})


def _apply(module, **kwargs):
  """module.apply(variables, *inputs, **kwargs), compiled."""
  return _jit(functools.partial(module.apply, **kwargs))


def _init(module, key, *inputs):
  return _jit(functools.partial(module.init, train=False))(key, *inputs)


def _variables(module, *inputs):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))


def _count(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def _networks(key):
  cfg, res, classes = key.split('/')
  res, classes = int(res), int(classes[1:])
  g = sg.Generator(image_size=res, num_classes=classes, cfg=cfg)
  d = sg.Discriminator(image_size=res, num_classes=classes, cfg=cfg)
  labels = jnp.zeros((2,), jnp.int32) if classes else None
  return (_variables(g, jnp.zeros((2, sg.Z_DIM)), labels),
          _variables(d, jnp.zeros((2, res, res, 3)), labels))


@pytest.mark.parametrize('key', sorted(OFFICIAL['counts']))
def test_parameter_counts_equal_the_official_networks(key):
  g, d = _networks(key)
  assert (_count(g['params']), _count(d['params'])) == (
      OFFICIAL['counts'][key]['G'], OFFICIAL['counts'][key]['D'])


def test_cifar_counts_as_recorded():
  """The recorded --cfg=cifar counts themselves (10 classes and unconditional)."""
  assert OFFICIAL['counts']['cifar/32/c10'] == {'G': 20_215_315, 'D': 23_089_664}
  assert OFFICIAL['counts']['cifar/32/c0'] == {'G': 19_947_539, 'D': 20_720_641}


def _official_state_dict(shapes, seed):
  """Random values under the official keys and shapes; the filter buffers as they are."""
  rng = np.random.default_rng(seed)
  fir = sg.fir_filter()
  return {k: fir if k.endswith('resample_filter') else
          rng.standard_normal(shape).astype(np.float32) for k, shape in shapes.items()}


@pytest.mark.slow
@pytest.mark.parametrize('key', sorted(OFFICIAL['state_dict_shapes']))
@pytest.mark.parametrize('net', ['G', 'D'])
def test_official_state_dict_converts_to_the_jaxgan_variables(key, net):
  shapes = OFFICIAL['state_dict_shapes'][key][net]
  template = _networks(key)[net == 'D']
  state_dict = _official_state_dict(shapes, seed=0)
  variables = sg.convert_official_state_dict(state_dict, template=template)
  chex.assert_trees_all_equal_shapes_and_dtypes(variables, template)
  # Back to the official layout: every parameter and buffer but the fixed filters, unchanged.
  back = sg.to_official_state_dict(variables)
  chex.assert_trees_all_equal(
      back, {k: v for k, v in state_dict.items() if not k.endswith('resample_filter')})


def test_converter_says_what_does_not_fit():
  shapes = OFFICIAL['state_dict_shapes']['cifar/32/c10']['G']
  template = _networks('cifar/32/c0')[0]
  with pytest.raises(ValueError, match=r"does not fit this network at \['params'\]\['mapping'\]"
                                        r"\['embed'\]"):
    sg.convert_official_state_dict(_official_state_dict(shapes, 0), template=template)
  bad = _official_state_dict({'b8.conv1.resample_filter': [4, 4]}, 0)
  bad['b8.conv1.resample_filter'] = np.ones((4, 4), np.float32) / 16
  with pytest.raises(ValueError, match=r'not the \[1,3,3,1\] filter'):
    sg.convert_official_state_dict(bad)


def _perturbed(variables, seed):
  """Random values everywhere (noise strengths and biases are 0 at initialisation)."""
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape)
                                   for x, k in zip(leaves, keys)])


def _close(a, b):
  """Equal to 1e-4 of the largest magnitude (float32 sums of at most ~600 products per layer:
  ~600 * 6e-8 = 4e-5 relative at worst, per layer, before the demodulation renormalises)."""
  a, b = np.asarray(a), np.asarray(b)
  assert a.shape == b.shape
  assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b)), np.max(np.abs(a - b))


@pytest.mark.parametrize('classes,g_arch,d_arch,clamp', [
    (3, 'skip', 'orig', 256.0),     # --cfg=cifar's architectures, conditional
    (0, 'orig', 'resnet', 256.0),   # the other cfgs' D, unconditional
    (3, 'resnet', 'skip', 0.3),     # the rest, with a clamp that bites
])
@pytest.mark.slow
def test_same_function_as_the_pytorch_replica(classes, g_arch, d_arch, clamp):
  batch = 4
  gen = sg.Generator(image_size=RES, num_classes=classes, w_dim=W, mapping_layers=2,
                     channel_base=BASE, architecture=g_arch, conv_clamp=clamp)
  disc = sg.Discriminator(image_size=RES, num_classes=classes, channel_base=BASE,
                          architecture=d_arch, mbstd_group_size=2, conv_clamp=clamp)
  z = jax.random.normal(jax.random.key(1), (batch, Z))
  labels = jnp.array([0, 2, 1, 2]) if classes else None
  g_vars = _perturbed(gen.init(jax.random.key(2), z, labels, train=False), 3)
  x = jax.random.normal(jax.random.key(4), (batch, RES, RES, 3))
  d_vars = _perturbed(disc.init(jax.random.key(5), x, labels, train=False), 6)

  torch_g = replica.Generator(Z, classes, W, RES, map_layers=2, base=BASE, arch=g_arch,
                              clamp=clamp)
  torch_d = replica.Discriminator(classes, RES, base=BASE, arch=d_arch, mbstd=2, clamp=clamp)
  load = lambda m, v: m.load_state_dict(
      {k: torch.as_tensor(a) for k, a in sg.to_official_state_dict(v).items()}, strict=True)
  load(torch_g, g_vars)
  load(torch_d, d_vars)
  onehot = None
  if classes:
    onehot = torch.nn.functional.one_hot(torch.tensor(np.asarray(labels, np.int64)), classes)
    onehot = onehot.float()
  tz = torch.tensor(np.array(z))
  with torch.no_grad(), jax.default_matmul_precision('highest'):
    for psi, cutoff in [(1.0, None), (0.7, 3)]:
      images = gen.apply(g_vars, z, labels, train=False, noise_mode='const',
                         truncation_psi=psi, truncation_cutoff=cutoff)
      expected = torch_g(tz, onehot, psi, cutoff, noise_mode='const').numpy()
      _close(np.transpose(images, (0, 3, 1, 2)), expected)
    for images in [x, images]:
      expected = torch_d(torch.tensor(np.transpose(np.asarray(images), (0, 3, 1, 2))),
                         onehot).numpy()
      _close(disc.apply(d_vars, images, labels, train=False), expected)
    # Training mode moves w_avg towards this batch's mean w, as the official mapping does.
    _, new_state = gen.apply(g_vars, z, labels, train=True, noise_mode='none',
                             mutable=['w_avg', 'noise_const'])
    torch_g(tz, onehot, noise_mode='none', update_w_avg=True)
    _close(new_state['w_avg']['mapping']['w_avg'], torch_g.mapping.w_avg.numpy())
    chex.assert_trees_all_equal(new_state['noise_const'], g_vars['noise_const'])


@pytest.mark.slow
def test_noise_modes():
  gen = sg.Generator(image_size=8, w_dim=W, channel_base=BASE)
  z = jax.random.normal(jax.random.key(0), (2, Z))
  variables = _perturbed(_init(gen, jax.random.key(1), z), 2)
  noisy = {mode: _jit(lambda v, z, key, mode=mode: gen.apply(
      v, z, train=False, noise_mode=mode, rngs={'noise': key})) for mode in sg.NOISE_MODES}
  run = lambda key, noise_mode='random': noisy[noise_mode](variables, z, key)
  a, b = run(jax.random.key(3)), run(jax.random.key(4))
  chex.assert_trees_all_equal(a, run(jax.random.key(3)))
  assert np.max(np.abs(a - b)) > 1e-3           # fresh noise per key
  const = run(jax.random.key(3), noise_mode='const')
  chex.assert_trees_all_equal(const, run(jax.random.key(4), noise_mode='const'))
  no_strength = jax.tree_util.tree_map_with_path(
      lambda p, v: jnp.zeros_like(v) if 'noise_strength' in jax.tree_util.keystr(p) else v,
      variables)
  chex.assert_trees_all_equal(noisy['const'](no_strength, z, jax.random.key(3)),
                              run(jax.random.key(3), noise_mode='none'))
  # The generator is its mapping then its synthesis network (for style mixing).
  ws = gen.apply(variables, z, train=False, truncation_psi=0.5, method='map')
  assert ws.shape == (2, gen.apply(variables, method=lambda g: g.synthesis.num_ws), W)
  chex.assert_trees_all_close(
      gen.apply(variables, ws, noise_mode='const', method='synthesize'),
      gen.apply(variables, z, train=False, truncation_psi=0.5, noise_mode='const'),
      rtol=0, atol=0)
  with pytest.raises(ValueError, match="pass rngs=\\{'noise': key\\}"):
    gen.apply(variables, z, train=False)


@pytest.mark.slow
def test_bfloat16_top_resolutions_and_clamp():
  z = jax.random.normal(jax.random.key(0), (2, Z))
  x = jax.random.normal(jax.random.key(1), (2, RES, RES, 3))
  kw = dict(image_size=RES, w_dim=W, channel_base=BASE, noise_mode='const')
  g32, d32 = sg.Generator(**kw), sg.Discriminator(image_size=RES, channel_base=BASE)
  g_vars = _perturbed(_init(g32, jax.random.key(2), z), 3)
  d_vars = _perturbed(_init(d32, jax.random.key(4), x), 5)
  ref_g, ref_d = _apply(g32, train=False)(g_vars, z), _apply(d32, train=False)(d_vars, x)
  # No reduced-precision resolutions: bfloat16 networks compute exactly the float32 function.
  chex.assert_trees_all_equal(
      _apply(sg.Generator(**kw, dtype=jnp.bfloat16, num_fp16_res=0), train=False)(g_vars, z),
      ref_g)
  # The official 4 (here 8 and 16 px): bfloat16 there (unit roundoff 2^-8, a few dozen
  # roundings in all: within 10% of the output's scale), float32 out.
  for module, variables, inp, ref in [
      (sg.Generator(**kw, dtype=jnp.bfloat16), g_vars, z, ref_g),
      (sg.Discriminator(image_size=RES, channel_base=BASE, dtype=jnp.bfloat16), d_vars, x,
       ref_d)]:
    out = _apply(module, train=False)(variables, inp)
    assert out.dtype == jnp.float32
    error = np.max(np.abs(out - ref))
    assert 0 < error <= 0.1 * np.max(np.abs(ref))
  # Every ToRGB output is clamped to +-conv_clamp, and the FIR upsampling keeps the maximum
  # magnitude, so the skip generator's image is within (number of blocks) * clamp.
  clamped = _apply(sg.Generator(**{**kw, 'conv_clamp': 0.01}), train=False)(g_vars, z)
  assert np.max(np.abs(clamped)) <= 3 * 0.01 + 1e-7


def test_minibatch_stddev_groups_and_message():
  x = jax.random.normal(jax.random.key(0), (6, 2, 2, 4))
  y = sg.minibatch_stddev(x, 3, 2)
  xs = np.asarray(x, np.float64)
  for n in range(6):
    group = xs[n % 2::2]                                      # group n mod (N/G)
    std = np.sqrt(group.var(axis=0) + 1e-8)                   # (H, W, C)
    for f in range(2):
      np.testing.assert_allclose(y[n, :, :, 4 + f], std[..., 2 * f:2 * f + 2].mean(), rtol=1e-6)
  with pytest.raises(ValueError, match='batch divisible by its group size 4'):
    sg.minibatch_stddev(x, 4)


def test_cfg_table_and_registry():
  assert sg.cfg_spec('cifar') == sg.Spec(
      ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01, ema=500,
      ramp=0.05, map=2, d_architecture='orig', pl_weight=0.0, style_mixing_prob=0.0)
  auto = sg.cfg_spec('auto', resolution=256, gpus=8)    # train.py's formulas
  assert (auto.mb, auto.mbstd, auto.fmaps, auto.gamma, auto.ema) == (64, 4, 0.5, 0.2048, 20.0)
  config = jaxgan.config.default()
  config.model.name, config.model.num_classes, config.data.image_size = 'stylegan2', 10, 32
  assert models.build(config) == (sg.Generator(image_size=32, channels=3, num_classes=10),
                                  sg.Discriminator(image_size=32, num_classes=10))
  with pytest.raises(errors.ConfigError, match="cfg='cifar10' is not supported"):
    sg.Generator(cfg='cifar10')
  with pytest.raises(errors.ConfigError, match='image_size=24 must be a power of two'):
    sg.Discriminator(image_size=24)


@pytest.mark.slow
def test_gradients_in_bfloat16_are_float32():
  """A generator-and-discriminator gradient through every op (the dilated and strided
  convolutions, FIR filters, random noise, mbstd) with the top resolutions in bfloat16."""
  gen = sg.Generator(image_size=8, num_classes=2, w_dim=W, channel_base=BASE,
                     dtype=jnp.bfloat16)
  disc = sg.Discriminator(image_size=8, num_classes=2, channel_base=BASE, dtype=jnp.bfloat16)
  z, labels = jax.random.normal(jax.random.key(0), (2, Z)), jnp.array([0, 1])
  g_vars = _init(gen, jax.random.key(1), z, labels)
  d_vars = _init(disc, jax.random.key(2), jnp.zeros((2, 8, 8, 3)), labels)

  def loss(g_params, d_params):
    images = gen.apply({**g_vars, 'params': g_params}, z, labels, train=False,
                       rngs={'noise': jax.random.key(3)})
    return jnp.sum(disc.apply({'params': d_params}, images, labels, train=False))

  grads = _jit(jax.grad(loss, argnums=(0, 1)))(g_vars['params'], d_vars['params'])
  chex.assert_trees_all_equal_shapes_and_dtypes(grads, (g_vars['params'], d_vars['params']))
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  assert float(jnp.max(jnp.abs(grads[0]['synthesis']['b8']['conv0']['kernel']))) > 0


_OFFICIAL_CODE = os.environ.get('STYLEGAN2_ADA_PYTORCH', '')


@pytest.mark.skipif(not os.path.isfile(os.path.join(_OFFICIAL_CODE, 'training', 'networks.py')),
                    reason='set STYLEGAN2_ADA_PYTORCH to a checkout of NVlabs/stylegan2-ada-pytorch')
@pytest.mark.slow
@pytest.mark.parametrize('setting', ['cifar', 'small'])
def test_same_function_as_the_official_networks(setting, monkeypatch):
  """The official modules (their CPU reference ops; training mode, so the generator takes
  the non-fused modulated convolutions and updates w_avg), their state dicts converted."""
  monkeypatch.syspath_prepend(_OFFICIAL_CODE)
  from training import networks  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  res, base, w_dim, z_dim, map_layers, d_arch, group = (
      (32, 32768, 512, 512, 2, 'orig', 32) if setting == 'cifar' else
      (16, 256, W, Z, 2, 'resnet', 2))
  for classes in [10, 0]:
    official_g = networks.Generator(
        z_dim=z_dim, c_dim=classes, w_dim=w_dim, img_resolution=res, img_channels=3,
        mapping_kwargs=dict(num_layers=map_layers),
        synthesis_kwargs=dict(channel_base=base, channel_max=512, num_fp16_res=4,
                              conv_clamp=256)).train()
    official_d = networks.Discriminator(
        c_dim=classes, img_resolution=res, img_channels=3, architecture=d_arch,
        channel_base=base, channel_max=512, num_fp16_res=4, conv_clamp=256,
        epilogue_kwargs=dict(mbstd_group_size=group)).train()
    with torch.no_grad():
      for p in list(official_g.parameters()) + list(official_d.parameters()):
        p.add_(0.1 * torch.randn_like(p))    # noise strengths and biases away from 0
    g_vars = sg.convert_official_state_dict(official_g.state_dict())
    d_vars = sg.convert_official_state_dict(official_d.state_dict())
    labels = np.array([3, 7, 0, 9])
    c = (torch.nn.functional.one_hot(torch.tensor(labels), classes).float() if classes
         else torch.zeros(4, 0))
    z = torch.randn(4, z_dim)
    with torch.no_grad():
      images = official_g(z, c, noise_mode='const', truncation_psi=0.6, truncation_cutoff=2,
                          force_fp32=True)
      logits = official_d(images, c, force_fp32=True)[:, 0].numpy()
    gen = sg.Generator(image_size=res, num_classes=classes, w_dim=w_dim,
                       mapping_layers=map_layers, channel_base=base)
    disc = sg.Discriminator(image_size=res, num_classes=classes, channel_base=base,
                            architecture=d_arch, mbstd_group_size=group)
    jax_labels = jnp.asarray(labels) if classes else None
    with jax.default_matmul_precision('highest'):
      ours, new_state = gen.apply(g_vars, jnp.asarray(z.numpy()), jax_labels, train=True,
                                  noise_mode='const', truncation_psi=0.6, truncation_cutoff=2,
                                  mutable=['w_avg', 'noise_const'])
      _close(np.transpose(ours, (0, 3, 1, 2)), images.numpy())
      _close(new_state['w_avg']['mapping']['w_avg'], official_g.mapping.w_avg.numpy())
      _close(disc.apply(d_vars, jnp.transpose(jnp.asarray(images.numpy()), (0, 2, 3, 1)),
                        jax_labels, train=False), logits)
