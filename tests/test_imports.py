"""Every jaxgan module imports into one process (catches clashing absl flags and import
cycles), the package exports its public API, and the library never imports `configs/`."""

import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

import jaxgan


def test_every_module_imports_together():
  names = [m.name for m in pkgutil.walk_packages(jaxgan.__path__, prefix='jaxgan.')]
  assert 'jaxgan.tools.sample' in names and 'jaxgan.training' in names
  for name in names:
    importlib.import_module(name)


def test_public_api():
  for name in jaxgan.__all__:
    assert hasattr(jaxgan, name), name
  assert jaxgan.train is jaxgan.train_and_evaluate


@pytest.mark.slow
def test_the_library_never_imports_the_repositorys_configs(tmp_path):
  """From a folder without configs/, every module imports and `configs` stays unimported."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  code = ('import sys, importlib, pkgutil, jaxgan\n'
          'for m in pkgutil.walk_packages(jaxgan.__path__, prefix="jaxgan."):\n'
          '  importlib.import_module(m.name)\n'
          'assert not any(n == "configs" or n.startswith("configs.") for n in sys.modules)\n')
  env = {**os.environ, 'PYTHONPATH': root}
  subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, check=True)
