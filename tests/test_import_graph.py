"""jaxgan's import graph: no cycles, and no function-level imports of jaxgan's own modules.

Function-level imports hide cycles (and make the cost of importing a module depend on which
function ran first); a module that needs another imports it at its top. The graph is read from
the source (ast), so the test needs no imports and names the offending lines.
"""

import ast
import os

import jaxgan

PACKAGE = os.path.dirname(os.path.abspath(jaxgan.__file__))


def _modules() -> dict[str, str]:
  """{dotted module name: path} of every module in the package."""
  found = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith('.py'):
        rel = os.path.relpath(os.path.join(folder, name), os.path.dirname(PACKAGE))
        dotted = rel[:-3].replace(os.sep, '.')
        found[dotted.removesuffix('.__init__')] = os.path.join(folder, name)
  return found


def _targets(node: ast.AST, module: str, is_package: bool, known: set) -> list[str]:
  """The jaxgan modules an import statement loads (`from jaxgan import a, b` names modules a, b
  where they are modules, else the package)."""
  out = []
  if isinstance(node, ast.Import):
    out = [a.name for a in node.names if a.name.split('.')[0] == 'jaxgan']
  elif isinstance(node, ast.ImportFrom):
    if node.level:
      base = module.split('.') if is_package else module.split('.')[:-1]
      base = base[:len(base) - node.level + 1]
      prefix = '.'.join(base + ([node.module] if node.module else []))
    else:
      prefix = node.module or ''
    if prefix.split('.')[0] != 'jaxgan':
      return []
    for alias in node.names:
      name = f'{prefix}.{alias.name}'
      out.append(name if name in known else prefix)
  # Importing a.b.c imports a and a.b first; only the named module counts as an edge here
  # (packages' __init__ re-exports are their own edges).
  return [t for t in out if t in known]


def _graph():
  modules = _modules()
  known = set(modules)
  edges, inner = {}, []
  for module, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    is_package = path.endswith('__init__.py')
    top = set()
    for node in tree.body:
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        top.update(_targets(node, module, is_package, known))
    for node in ast.walk(tree):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for sub in ast.walk(node):
          if (isinstance(sub, (ast.Import, ast.ImportFrom)) and
              _targets(sub, module, is_package, known)):
            inner.append(f'{os.path.relpath(path, os.path.dirname(PACKAGE))}:{sub.lineno}')
    edges[module] = sorted(top - {module})
  return edges, sorted(set(inner))


def _cycles(edges: dict) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan's algorithm)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []
  counter = [0]

  def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges.get(v, ()):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out



def test_no_import_cycles_through_the_package_root_either():
  """test_imports walks the modules without the package root; here `import jaxgan` counts."""
  edges, _ = _graph()
  assert 'jaxgan.training' in edges and edges['jaxgan.training'], edges.get('jaxgan.training')
  assert _cycles(edges) == []


def test_no_function_level_imports_of_jaxgan():
  _, inner = _graph()
  assert inner == [], 'import these at the top of the module: ' + ', '.join(inner)


def test_the_checker_sees_a_cycle():
  assert _cycles({'a': ['b'], 'b': ['c'], 'c': ['a'], 'd': ['a']}) == [['a', 'b', 'c']]
