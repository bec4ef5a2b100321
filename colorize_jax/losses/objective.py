"""A weighted sum of named pixel-loss terms, written as one string so the
command line can switch it: `--config.loss=l1` or `--config.loss=mse:1,ssim:0.2`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from colorize_jax import registry


def _check_name(name: str, kinds: tuple[str, ...]) -> None:
  """Fails early, listing the valid names (of every kind the spec may use)."""
  if len(kinds) == 1:
    registry.get(kinds[0], name)
  elif not any(name in registry.names(kind) for kind in kinds):
    valid = ", ".join(sorted(n for kind in kinds for n in registry.names(kind)))
    raise registry.UnknownNameError(f"unknown loss {name!r}; valid loss names: {valid}")


def parse_spec(spec: str, kinds: tuple[str, ...] = ("pixel_loss",)) -> dict[str, float]:
  """'mse:1,ssim:0.2' -> {'mse': 1.0, 'ssim': 0.2}; a bare name weighs 1.

  Names are those registered under `kinds` (the classification task also
  accepts its "ab_loss" terms, e.g. 'ab_ce:1,l1:10')."""
  terms: dict[str, float] = {}
  for part in (p.strip() for p in spec.split(",")):
    if not part:
      continue
    name, _, weight = part.partition(":")
    name = name.strip()
    _check_name(name, kinds)
    if name in terms:
      raise ValueError(
        f"loss spec {spec!r} names {name!r} twice; give each term once with its weight"
      )
    try:
      terms[name] = float(weight) if weight else 1.0
    except ValueError:
      raise ValueError(
        f"loss term {part!r} in {spec!r}: the weight after ':' must be a number"
      ) from None
  if not terms:
    raise ValueError(f"loss spec {spec!r} names no loss; e.g. 'mse' or 'mse:1,ssim:0.2'")
  return terms


class Objective:
  """`objective(pred, target) -> (total [B], {name: [B]})`."""

  def __init__(self, spec: str, *, value_range, options=None):
    self.weights = parse_spec(spec)
    options = options or {}
    self.fns: dict[str, Callable] = {}
    for name in self.weights:
      factory = registry.get("pixel_loss", name)
      kwargs = dict(options.get(name, {}) or {})
      accepted = set(inspect.signature(factory).parameters) - {"value_range"}
      if set(kwargs) - accepted:
        raise ValueError(
          f"loss {name!r} has no option(s) {sorted(set(kwargs) - accepted)}; "
          f"valid: {sorted(accepted)}"
        )
      self.fns[name] = factory(value_range=value_range, **kwargs)

  def __call__(self, pred, target):
    terms = {name: fn(pred, target) for name, fn in self.fns.items()}
    total = sum(self.weights[name] * value for name, value in terms.items())
    return total, terms
