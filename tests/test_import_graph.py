"""The package's import graph: no circle, and no arrow from a subpackage back up to the user-facing
commands on top (docs/DESIGN.md, "Layout"). Read from the source with `ast`, so lazy imports inside
functions count too."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "colorize_jax"
# The foundation every layer may use: the name registry and the package marker.
FOUNDATION = {"colorize_jax", "colorize_jax.registry"}
MAX_FLAT_MODULES = 8


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, pathlib.Path]:
  return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: pathlib.Path, modules: dict) -> set[str]:
  """The package's modules that `path` imports (`from a import b` counts b when b is a module)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith("colorize_jax")}
    elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("colorize_jax"):
      for alias in node.names:
        child = f"{node.module}.{alias.name}"
        found.add(child if child in modules else node.module)
  return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
  modules = _modules()
  return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected components of more than one module (Tarjan), i.e. import circles."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges[v]):
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
        found.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return found


def test_the_import_graph_has_no_circle():
  assert cycles(graph()) == []


def test_no_subpackage_imports_a_command_on_top():
  top = {f"colorize_jax.{p.stem}" for p in PACKAGE.glob("*.py")} - FOUNDATION
  upward = [
    f"{m} -> {t}"
    for m, targets in graph().items()
    if m.count(".") >= 2  # A module inside a subpackage.
    for t in sorted(targets & top)
  ]
  assert upward == []


def test_the_top_level_reads_as_a_map():
  flat = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
  assert len(flat) <= MAX_FLAT_MODULES, flat


@pytest.mark.parametrize(
  "edges, expected",
  [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
  ],
)
def test_the_circle_finder_finds_circles(edges, expected):
  assert cycles(edges) == expected
