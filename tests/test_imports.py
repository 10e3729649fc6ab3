"""Every jaxgan module imports into one process (catches clashing absl flags and import cycles)."""

import importlib
import pkgutil

import jaxgan


def test_every_module_imports_together():
  names = [m.name for m in pkgutil.walk_packages(jaxgan.__path__, prefix='jaxgan.')]
  assert 'jaxgan.sample' in names and 'jaxgan.train' in names
  for name in names:
    importlib.import_module(name)
