"""Research example: a new loss in a few lines, trained through jaxgan's own loop.

  python examples/relativistic_hinge.py --workdir=runs/rahinge_digits

What a researcher would copy: it defines the relativistic average hinge loss
(Jolicoeur-Martineau 2018, eqs. 13-14; what ESRGAN and StudioGAN call "RaHinge") as a
`jaxgan.losses.term` from two plain functions, adds an R1 penalty written as a second term,
builds the experiment from a config file, swaps in that loss and a warm-up + cosine learning
rate for both players (optax schedules, logged as g/lr and d/lr), and trains on the offline
digits with jaxgan's loop: checkpoints, exact resume (rerun the command), NaN stop, FID/KID
evaluation with a best-FID checkpoint, TensorBoard and metrics.jsonl, sample grids; then
`python -m jaxgan.report runs/rahinge_digits` draws its report.

On 2 CPU cores the default settings take about 5 minutes; tests/test_examples.py runs it with
--steps=4 --fid_samples=16 from outside the repository.
"""

import os

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax

import jaxgan
from jaxgan import losses

_WORKDIR = flags.DEFINE_string('workdir', 'runs/rahinge_digits', 'Where the run goes.')
_CONFIG = flags.DEFINE_string(
    'config', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'configs',
                           'dcgan_digits.py'), 'The config file the experiment starts from.')
_STEPS = flags.DEFINE_integer('steps', 600, 'Generator steps.')
_FID_SAMPLES = flags.DEFINE_integer('fid_samples', 500, 'Generated images per FID evaluation.')
_R1 = flags.DEFINE_float('r1', 0.1, 'Weight of the R1 penalty (0: none).')


# --- the new loss: two plain functions of D's logits --------------------------------------------
def rahinge_d(inputs: losses.LossInputs) -> jax.Array:
  """L_D = E_x[relu(1 - (D(x) - E D(G(z))))] + E_z[relu(1 + (D(G(z)) - E D(x)))]."""
  real, fake = inputs.real_logits, inputs.fake_logits
  return (jax.nn.relu(1.0 - (real - fake.mean())).mean()
          + jax.nn.relu(1.0 + (fake - real.mean())).mean())


def rahinge_g(inputs: losses.LossInputs) -> jax.Array:
  """L_G: the same with real and fake swapped (G also sees D(x): `g_needs_real`)."""
  real, fake = inputs.real_logits, inputs.fake_logits
  return (jax.nn.relu(1.0 + (real - fake.mean())).mean()
          + jax.nn.relu(1.0 - (fake - real.mean())).mean())


rahinge = losses.term('rahinge', d=rahinge_d, g=rahinge_g, g_needs_real=True)


def r1(inputs: losses.LossInputs) -> jax.Array:
  """R1 (Mescheder et al. 2018): E_x ||grad_x D(x)||^2 on real data, per sample."""
  grads = jax.grad(lambda x: jnp.sum(inputs.critic(x)))(inputs.real)
  return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1))


def main(argv):
  del argv
  # --- the experiment: from a config file, then research parts swapped in --------------------
  config = jaxgan.config.from_file(_CONFIG.value)
  config.model.d_norm = 'layer'          # R1 is per sample: no batch norm in the critic
  config.train.num_steps = _STEPS.value
  config.train.checkpoint_every = max(1, _STEPS.value // 3)
  config.log.every_steps = max(1, _STEPS.value // 20)
  config.log.samples_every = max(1, _STEPS.value // 3)
  config.eval.every_steps = max(1, _STEPS.value // 2)
  config.eval.num_samples = _FID_SAMPLES.value
  config.eval.inception.batch_size = 16
  experiment = jaxgan.build(config)

  loss = rahinge
  if _R1.value:
    loss = loss + _R1.value * losses.term('r1', d=r1, needs_critic=True,
                                          per_sample_gradients=True)

  def optimizer(peak: float) -> optax.GradientTransformation:
    # inject_hyperparams keeps the rate in the optimiser state, where the loop logs it.
    schedule = optax.warmup_cosine_decay_schedule(0.0, peak, max(1, _STEPS.value // 10),
                                                  _STEPS.value)
    return optax.inject_hyperparams(optax.adam)(learning_rate=schedule, b1=0.5, b2=0.999)

  experiment = experiment.replace(loss=loss, g_optimizer=optimizer(2e-4),
                                  d_optimizer=optimizer(2e-4))

  # --- training through jaxgan's loop -----------------------------------------------------------
  state = jaxgan.train(experiment, _WORKDIR.value)
  print(f'Trained {int(state.step)} steps of {experiment.loss!r} into {_WORKDIR.value}; '
        f'report: python -m jaxgan.report {_WORKDIR.value}')


if __name__ == '__main__':
  app.run(main)
