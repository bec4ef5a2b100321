"""The recipes in configs/: their names, variants and docstrings (`launch.py --list`),
and the default workdir of a `--config` argument."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import types

# The checkout's configs/, beside the colorize_jax package (this file is colorize_jax/config/).
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(os.path.dirname(_PACKAGE), "configs")


@dataclasses.dataclass
class Recipe:
  name: str
  path: str
  variants: dict[str, str]  # variant -> one-line description ('' is the default).
  doc: str

  @property
  def summary(self) -> str:
    return self.doc.strip().splitlines()[0] if self.doc.strip() else ""


def variants(module: types.ModuleType) -> dict[str, str]:
  """A config module's variants, name -> description.

  The one place that knows how configs declare them: VARIANTS maps a name to
  its description, or to (description, function).
  """
  declared = getattr(module, "VARIANTS", None) or {"": ""}
  return {
    name: value[0] if isinstance(value, tuple) else str(value) for name, value in declared.items()
  }


def load_module(path: str) -> types.ModuleType:
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def recipe(path: str) -> Recipe:
  module = load_module(path)
  return Recipe(
    name=os.path.splitext(os.path.basename(path))[0],
    path=path,
    variants=variants(module),
    doc=module.__doc__ or "",
  )


def all_recipes(directory: str = CONFIG_DIR) -> list[Recipe]:
  names = sorted(n for n in os.listdir(directory) if n.endswith(".py") and not n.startswith("_"))
  return [recipe(os.path.join(directory, n)) for n in names]


def listing(recipes: list[Recipe]) -> str:
  """One line a recipe: name, variants, the first line of its docstring."""
  width = max(len(r.name) for r in recipes)
  shown = {r.name: " ".join(f":{v}" for v in r.variants if v) or "-" for r in recipes}
  vwidth = max(len(v) for v in shown.values())
  return "\n".join(f"{r.name:<{width}}  {shown[r.name]:<{vwidth}}  {r.summary}" for r in recipes)


def split_arg(config_arg: str) -> tuple[str, str]:
  """'configs/pix2pix.py:256' -> ('configs/pix2pix.py', '256')."""
  path, _, variant = config_arg.partition(":")
  return path, variant


def default_workdir(config_arg: str) -> str:
  """runs/<config name>[-<variant>], relative to the current directory.

  `--config=configs/pix2pix.py:256` -> runs/pix2pix-256.
  """
  path, variant = split_arg(config_arg)
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("runs", f"{name}-{variant}" if variant else name)
