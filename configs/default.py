"""Defaults shared by every jaxgan config: `jaxgan.config.default()`, which the library owns
(every key, its one default and what it means are listed there, in jaxgan/config.py).

Not a run of its own: see `dcgan.py`, `dcgan_digits.py`, `toy_ring.py`, ...
"""

from jaxgan import config


def get_config():
  return config.default()
