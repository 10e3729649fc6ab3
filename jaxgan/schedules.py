"""A value that moves from a start to an end along a ramp of generator steps, from a config.

  weight = schedules.ramp('loss.regularizers.r1', config.loss.regularizers.r1)
  weight(step)   # the value after `step` generator steps (an optax schedule)

A ramp's config block (`ramp_config`) has

  name        'cosine' (the half-cosine of R3GAN's `cosine_decay_with_warmup`), 'linear', or
              'step': init_value before step `steps`, end_value from it on (StudioGAN's LeCam,
              0 until generator step 1,000 and 0.3 after it, is a step at 1001)
  init_value  the value at step 0
  end_value   the value at `steps` and after
  steps       the ramp's length in generator steps, > 0; a float is allowed, so that a ramp
              over N images at batch B is steps=N / B exactly (R3GAN: 2e7 / 512 = 39062.5)

The value at step t is init + (end - init) * s(min(t, steps) / steps), s(u) = (1 - cos(pi u))
/ 2 for 'cosine' and u for 'linear' (R3GAN, training/training_loop.py, line 29: the value at
cur_nimg = t * batch, held at the end value past total_nimg). Config-written ramps are read by
`jaxgan.optim` (config.optim.b2_schedule) and `jaxgan.losses` (a regulariser's weight in
config.loss.regularizers). A leaf module (it imports only `checks` and `errors`).
"""

from typing import Callable

import jax.numpy as jnp
import ml_collections

from jaxgan import checks, errors

RAMPS = ('cosine', 'linear', 'step')


def ramp_config(name: str = 'cosine', init_value: float = 0.0, end_value: float = 0.0,
                steps: float = 1.0) -> ml_collections.ConfigDict:
  """A ramp's config block (see the module docstring)."""
  return ml_collections.ConfigDict({'name': name, 'init_value': init_value,
                                    'end_value': end_value, 'steps': steps})


def is_ramp(value) -> bool:
  """Whether `value` is a ramp's config block (a ConfigDict or dict with a 'name')."""
  return isinstance(value, (ml_collections.ConfigDict, dict)) and 'name' in value


def ramp(key: str, cfg, *, low=None, high=None, high_open: bool = False,
         hint: str = '') -> Callable:
  """The schedule (a function of the generator step) of the ramp block `cfg` at config key
  `key`; ConfigError naming the key for a bad block. `low` / `high` (`high_open`) bound both
  ends (every value on a ramp lies between them)."""
  fields = dict(cfg)
  unknown = sorted(set(fields) - {'name', 'init_value', 'end_value', 'steps'})
  if unknown:
    raise errors.ConfigError(f'config.{key} has the unknown field(s) {", ".join(unknown)}; a '
                             f'ramp has name, init_value, end_value and steps.')
  errors.check_choice(f'{key}.name', fields.get('name'), RAMPS)
  for field in ('init_value', 'end_value'):
    checks.number(f'{key}.{field}', fields.get(field), low=low, high=high, high_open=high_open,
                  hint=hint)
  checks.number(f'{key}.steps', fields.get('steps'), low=0, low_open=True,
                hint=' (the ramp\'s length in generator steps; images / batch size)')
  init, end, steps = (float(fields['init_value']), float(fields['end_value']),
                      float(fields['steps']))
  name = fields['name']

  # Hand-written: optax's cosine_decay_schedule writes the end as a fraction of the start, so
  # it cannot start at 0 (R3GAN's augmentation p) nor rise (its beta2).
  def schedule(step):
    t = jnp.asarray(step, jnp.float32)
    if name == 'step':
      return jnp.where(t >= steps, end, init)
    u = jnp.minimum(t, steps) / steps
    s = (1.0 - jnp.cos(jnp.pi * u)) / 2.0 if name == 'cosine' else u
    return init + (end - init) * s

  schedule.__name__ = f'{fields["name"]}_ramp({init:g}->{end:g} over {steps:g} steps)'
  return schedule
