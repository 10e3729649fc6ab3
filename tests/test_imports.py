"""Every jaxgan module imports into one process (catches clashing absl flags and import
cycles), the package exports its public API, and the library never imports `configs/`."""

import ast
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


def _import_graph() -> dict[str, set[str]]:
  """{module: the jaxgan modules it imports}, from the source (function-level imports too)."""
  package = os.path.dirname(os.path.abspath(jaxgan.__file__))
  modules = {}
  for folder, _, files in os.walk(package):
    for file in files:
      if file.endswith('.py'):
        path = os.path.join(folder, file)
        name = 'jaxgan.' + os.path.relpath(path[:-3], package).replace(os.sep, '.')
        modules[name.removesuffix('.__init__')] = path
  graph = {}
  for name, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        imported |= {a.name for a in node.names}
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        for a in node.names:   # `from jaxgan import data` imports jaxgan.data
          child = f'{node.module}.{a.name}'
          imported.add(child if child in modules else node.module)
    graph[name] = {m for m in imported if m in modules and m != name}
  return graph


def test_no_import_cycles():
  """No cycle among jaxgan's modules, function-level imports included (config ->
  evaluation -> metrics.evaluators -> config was one). The package's root is left out: it
  imports the public API, and a module asking it for `__version__` is not a dependency."""
  graph = {m: deps - {'jaxgan'} for m, deps in _import_graph().items() if m != 'jaxgan'}
  # config imports no part: only the leaves checks and schedules, and the evaluator registry
  # whose defaults config.eval holds.
  assert 'jaxgan.metrics.evaluators' in graph and graph['jaxgan.config'] <= {
      'jaxgan.errors', 'jaxgan.checks', 'jaxgan.schedules', 'jaxgan.metrics.evaluators'}
  done, on_path = set(), []

  def visit(module):
    if module in on_path:
      cycle = on_path[on_path.index(module):] + [module]
      raise AssertionError(f'import cycle: {" -> ".join(cycle)}')
    if module in done:
      return
    on_path.append(module)
    for dep in sorted(graph[module]):
      visit(dep)
    on_path.pop()
    done.add(module)

  for module in sorted(graph):
    visit(module)
