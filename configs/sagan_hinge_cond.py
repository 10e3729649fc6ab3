"""Class-conditional SAGAN on CIFAR-10: conditional batch norm in G, projection D.

  python launch.py --config=configs/sagan_hinge_cond.py --workdir=runs/sagan_cond

As sagan_hinge.py, with CIFAR-10's 10 labels from the data pipeline (real batches) and
uniformly drawn labels for generated ones; the sample grid shows the classes in order.
"""

from configs import sagan_hinge


def get_config():
  config = sagan_hinge.get_config()
  config.model.num_classes = 10
  return config
