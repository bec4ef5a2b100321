"""Name -> object registries for models, losses, sources, tasks, ...

Lookups import the modules that register the kind first (`_MODULES_BY_KIND`),
so a name never depends on which module happened to be imported earlier.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, Any]] = {}

# The modules that register each kind; `get` imports them before looking.
_MODULES_BY_KIND = {
  "ab_loss": ("colorize_jax.losses",),
  "activation": ("colorize_jax.models.layers",),
  "color_space": ("colorize_jax.color",),
  "discriminator": ("colorize_jax.models",),
  "gan_loss": ("colorize_jax.losses",),
  "model": ("colorize_jax.models",),
  "pixel_loss": ("colorize_jax.losses",),
  "schedule": ("colorize_jax.optim",),
  "source": ("colorize_jax.data.sources",),
  "task": ("colorize_jax.tasks",),
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


def load(kind: str) -> None:
  if kind not in _MODULES_BY_KIND:
    raise UnknownNameError(
      f"unknown registry kind {kind!r}; valid kinds: {', '.join(sorted(_MODULES_BY_KIND))}"
    )
  for module in _MODULES_BY_KIND[kind]:
    importlib.import_module(module)


def kinds() -> list[str]:
  return sorted(_MODULES_BY_KIND)


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
