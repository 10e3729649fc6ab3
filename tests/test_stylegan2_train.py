"""StyleGAN2 inside jaxgan's loop: the noise inputs' RNG stream, R1 through the minibatch
standard deviation as the official loss computes it, and configs/stylegan2_ada_cifar10.py (a
tiny network training and resuming bit for bit through `jaxgan.train`, with its lazy
regularisers, is in tests/test_stylegan2_reg.py)."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxgan
from jaxgan import errors, losses, steps
from jaxgan.models import stylegan2 as sg
from tests import stylegan2_replica as replica
from tests.util import CONFIGS, tiny_config

RES, BASE, Z, W = 16, 256, 16, 32


def _d_and_replica(group: int, classes: int = 3):
  disc = sg.Discriminator(image_size=RES, num_classes=classes, channel_base=BASE,
                          mbstd_group_size=group, mapping_layers=2)
  x = jax.random.normal(jax.random.key(4), (8, RES, RES, 3))
  labels = jnp.arange(8) % classes
  variables = disc.init(jax.random.key(5), x, labels, train=False)
  # Random values everywhere (biases start at 0).
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(6), len(leaves))
  variables = jax.tree.unflatten(tree, [v + 0.3 * jax.random.normal(k, v.shape)
                                        for v, k in zip(leaves, keys)])
  torch_d = replica.Discriminator(classes, RES, base=BASE, arch='orig', mbstd=group,
                                  map_layers=2)
  torch_d.load_state_dict({k: torch.as_tensor(a) for k, a in
                           sg.to_official_state_dict(variables).items()}, strict=True)
  onehot = torch.nn.functional.one_hot(torch.tensor(np.asarray(labels, np.int64)), classes)
  return disc, variables, x, labels, torch_d.double(), onehot.double()


def _torch_gradients(torch_d, x, onehot):
  """Float64 (official, per-sample) input gradients: grad(sum_j D(x_j), x) as the official
  loss.py takes it, and d D(x_i) / d x_i alone (a row of the Jacobian per sample)."""
  x = torch.tensor(np.transpose(np.asarray(x, np.float64), (0, 3, 1, 2)), requires_grad=True)
  logits = torch_d(x, onehot)
  official = torch.autograd.grad(logits.sum(), x, retain_graph=True)[0]
  own = torch.stack([torch.autograd.grad(logits[i], x, retain_graph=True)[0][i]
                     for i in range(x.shape[0])])
  return official.numpy(), own.numpy()


@pytest.mark.slow
@pytest.mark.parametrize('group', [1, 4])
def test_r1_through_the_minibatch_std_is_the_official_penalty(group):
  disc, variables, x, labels, torch_d, onehot = _d_and_replica(group)
  official, own = _torch_gradients(torch_d, x, onehot)
  # The official StyleGAN2Loss: r1_penalty = r1_grads.square().sum([1,2,3]), averaged over
  # the batch in the backward of the mean loss.
  official_r1 = np.mean(np.sum(official ** 2, axis=(1, 2, 3)))
  with jax.default_matmul_precision('highest'):
    ours = losses.r1_penalty(critic=lambda v: disc.apply(variables, v, labels, train=False),
                             real=x)
  # float32 against float64: each input-gradient entry is a chain of ~6 layers of sums of at
  # most 3*3*64 products (~600 * 6e-8 relative each); the square doubles it: 1e-4 is ample.
  np.testing.assert_allclose(float(ours), official_r1, rtol=1e-4)
  per_sample_r1 = np.mean(np.sum(own ** 2, axis=(1, 2, 3)))
  if group == 1:
    # No mixing (a group of one): the official gradient is each sample's own.
    np.testing.assert_allclose(official, own, rtol=1e-9, atol=1e-12)
  else:
    # Through groups of 4, the summed-logit gradient holds the other samples' terms
    # d D(x_j) / d x_i: not the per-sample R1 of Mescheder et al. (2018).
    assert abs(official_r1 - per_sample_r1) > 1e-3 * per_sample_r1


def tiny_stylegan2_config(**overrides):
  config = tiny_config('digits', **{'train.batch_size': 8, 'model.num_classes': 10,
                                    'log.samples_every': 2, **overrides})
  config.model.name = 'stylegan2'
  config.model.g_width = config.model.d_width = None
  config.model.z_dim = Z
  config.loss.name = 'non_saturating'      # StyleGAN2Loss: softplus, the non-saturating loss
  config.loss.regularizers = {'r1': 0.5}   # gamma / 2, gamma = 1
  config.optim.b1, config.optim.b2 = 0.0, 0.99
  return config


def tiny_stylegan2(config):
  """The config's experiment with --cfg=cifar's architectures at tiny widths (the config keys
  of the 'stylegan2' family set the image size, classes and dtype, not the widths; the dtype
  config.model.dtype chose is kept)."""
  experiment = jaxgan.build(config)
  dtype = experiment.generator.dtype
  return experiment.replace(
      generator=sg.Generator(image_size=32, num_classes=10, w_dim=W, mapping_layers=2,
                             channel_base=BASE // 2, dtype=dtype),
      discriminator=sg.Discriminator(image_size=32, num_classes=10, channel_base=BASE // 2,
                                     mbstd_group_size=4, mapping_layers=2, dtype=dtype))


def test_r1_is_allowed_for_the_minibatch_std_and_refused_for_batch_norm():
  experiment = jaxgan.build(tiny_stylegan2_config())
  assert repr(experiment.loss) == 'non_saturating + 0.5 * r1'
  assert experiment.discriminator.mixes_samples
  config = tiny_config('digits')
  config.loss.regularizers = {'r1': 1.0}
  with pytest.raises(errors.ConfigError, match='mixes samples through batch norm'):
    jaxgan.build(config)


@pytest.mark.slow
def test_the_generator_names_its_noise_stream_and_sampling_keys_it_by_z():
  gen = sg.Generator(image_size=8, w_dim=W, channel_base=BASE, mapping_layers=2)
  assert steps.rng_streams(gen) == ('noise',)
  assert steps.rng_streams(gen.clone(noise_mode='const')) == ()
  assert steps.rng_streams(sg.Discriminator(image_size=8)) == ()
  z = jax.random.normal(jax.random.key(0), (4, Z))
  variables = gen.init(jax.random.key(1), z, train=False)
  # Noise strengths start at 0: give them a value so that the noise shows in the images.
  variables = jax.tree_util.tree_map_with_path(
      lambda p, v: v + 1.0 if 'noise_strength' in jax.tree_util.keystr(p) else v, variables)
  params, state = variables['params'], {k: v for k, v in variables.items() if k != 'params'}
  sample = steps.make_sample_fn(gen)
  a, b = sample(params, state, z), sample(params, state, z)
  chex.assert_trees_all_equal(a, b)              # a function of z ...
  c = sample(params, state, z.at[0].add(1e-3))
  # ... whose noise changes with z: the other samples' images change too (their z did not).
  assert np.max(np.abs(np.asarray(c[1:]) - np.asarray(a[1:]))) > 1e-3
  const = steps.make_sample_fn(gen.clone(noise_mode='const'))(params, state, z)
  assert np.max(np.abs(np.asarray(const) - np.asarray(a))) > 1e-3


def test_cifar_config_is_the_official_cfg():
  config = jaxgan.config.from_file(os.path.join(CONFIGS, 'stylegan2_ada_cifar10.py'))
  spec = sg.CFG_SPECS['cifar']
  assert (config.model.name, config.data.image_size, config.model.num_classes) == (
      'stylegan2', 32, 10)
  assert config.model.z_dim == sg.Z_DIM
  assert config.train.batch_size == spec.mb == 64
  assert config.optim.g_lr == config.optim.d_lr == spec.lrate == 0.0025
  assert (config.optim.b1, config.optim.b2) == (0.0, 0.99)
  assert dict(config.loss.regularizers) == {'r1': spec.gamma / 2}
  assert config.loss.name == 'non_saturating'
  assert config.train.num_steps == spec.kimg * 1000 // spec.mb
  assert config.train.phase_order == 'g_first'      # Gmain, Greg, then Dmain, Dreg
  # The official EMA: half-life `ema` kimg, ramp-up 0.05; lazy R1 every 16 minibatches with
  # the optimisers scaled for D's interval 16 and G's default 4 (training_loop.py).
  assert (config.train.ema_decay, config.train.ema_half_life_kimg, config.train.ema_rampup) == (
      0.0, spec.ema, 0.05)
  assert (config.loss.regularizer_interval, config.optim.d_reg_interval,
          config.optim.g_reg_interval) == (16, 16, 4)
  experiment = jaxgan.build(config)
  assert experiment.ema == jaxgan.EMA(half_life_images=spec.ema * 1000, rampup=0.05)
  assert 'lazy' in repr(experiment.loss) and 'every=16' in repr(experiment.loss)
  assert isinstance(experiment.generator, sg.Generator) and experiment.generator.cfg == 'cifar'
  assert experiment.discriminator.cfg == 'cifar'
  assert experiment.loop.phase_order == 'g_first'
