"""Class-conditional SAGAN on CIFAR-10: conditional batch norm in G, projection D.

  python launch.py --config=configs/sagan_hinge_cond.py --workdir=runs/sagan_cond

As sagan_hinge.py, with CIFAR-10's 10 labels from the data pipeline (real batches) and
uniformly drawn labels for generated ones; the sample grid shows the classes in order.
"""

import os

from jaxgan import config as config_lib


def get_config():
  # The base recipe by path, so the file loads from any folder (no `configs` package).
  config = config_lib.from_file(os.path.join(os.path.dirname(__file__), 'sagan_hinge.py'))
  config.model.num_classes = 10
  return config
