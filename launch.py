"""Trains a GAN: python launch.py --config=configs/sagan_hinge.py --workdir=DIR [--config.a.b=v].

The launcher itself is `jaxgan.tools.launch` (also installed as `jaxgan-train`).
"""

from jaxgan.tools import launch

if __name__ == '__main__':
  launch.cli()
