"""Name -> object registries for models, losses, sources, tasks, ...

A lookup first imports every module of the package that holds the kind
(`_HOME_OF_KIND`), so a name never depends on which module happened to be
imported earlier, and a new model, loss, task or data source is one new file in
that package: no list to edit (docs/DESIGN.md, "Plug-ins").
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, Any]] = {}

# Where each kind is registered: a package (every module in it is imported) or one module.
_HOME_OF_KIND = {
  "ab_loss": "colorize_jax.losses",
  "activation": "colorize_jax.models",
  "color_space": "colorize_jax.color.spaces",
  "discriminator": "colorize_jax.models",
  "gan_loss": "colorize_jax.losses",
  "model": "colorize_jax.models",
  "pixel_loss": "colorize_jax.losses",
  "schedule": "colorize_jax.train.optim",
  "source": "colorize_jax.data.sources",
  "task": "colorize_jax.tasks",
}


class UnknownNameError(KeyError):
  """A config named something that is not registered."""

  def __str__(self) -> str:  # KeyError would print the message in quotes.
    return str(self.args[0])


def register(kind: str, name: str) -> Callable[[T], T]:
  """Decorator: `@register("model", "unet")` makes the object findable by name."""

  def decorator(obj: T) -> T:
    table = _REGISTRY.setdefault(kind, {})
    if name in table and table[name] is not obj:
      raise ValueError(f"{kind} {name!r} is registered twice")
    table[name] = obj
    return obj

  return decorator


def import_all(package_name: str) -> None:
  """Imports `package_name` and, when it is a package, every module directly in it."""
  package = importlib.import_module(package_name)
  for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
    if not info.name.startswith("_"):
      importlib.import_module(f"{package_name}.{info.name}")


def load(kind: str) -> None:
  if kind not in _HOME_OF_KIND:
    raise UnknownNameError(
      f"unknown registry kind {kind!r}; valid kinds: {', '.join(sorted(_HOME_OF_KIND))}"
    )
  import_all(_HOME_OF_KIND[kind])


def kinds() -> list[str]:
  return sorted(_HOME_OF_KIND)


def get(kind: str, name: str) -> Any:
  load(kind)
  table = _REGISTRY.get(kind, {})
  if name not in table:
    valid = ", ".join(sorted(table)) or "(none)"
    raise UnknownNameError(f"unknown {kind} {name!r}; valid {kind} names: {valid}")
  return table[name]


def names(kind: str) -> list[str]:
  load(kind)
  return sorted(_REGISTRY.get(kind, {}))
