"""The ab classification head: any registered generator, its output read as
logits over the ab bins (colorize_jax/color/ab_bins.py) and decoded by the
annealed mean.

`AbClassifier.__call__(inputs, *, train)` returns the decoded ab in the Lab
target space (ab / 110), so everything that calls a generator (metrics,
sample grids, colorize, export) works on it unchanged; training reads the
logits with `apply(..., method="logits")`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import ml_collections

from colorize_jax import color, models, registry
from colorize_jax.color import ab_bins


class AbClassifier(nn.Module):
  backbone: nn.Module  # Built with out_channels = Q and a linear output.
  temperature: float = 0.38

  def logits(self, inputs, *, train: bool):
    return self.backbone(inputs, train=train)

  def __call__(self, inputs, *, train: bool):
    return decode(self.logits(inputs, train=train), self.temperature)


def decode(logits, temperature: float):
  """Logits [..., Q] -> annealed-mean ab in the target space [..., 2]."""
  return ab_bins.annealed_mean(logits, temperature) / color.AB_SCALE


def check_backbone(model_name: str) -> None:
  """A clear error for a generator that cannot give per-pixel logits."""
  cls = registry.get("model", model_name)
  fields = {f.name for f in dataclasses.fields(cls)}
  missing = {"out_channels", "output_activation"} - fields
  if missing or not getattr(cls, "per_pixel_output", True):
    able = [
      n
      for n in registry.names("model")
      if getattr(registry.get("model", n), "per_pixel_output", True)
    ]
    why = (
      f"it has no {sorted(missing)} option(s)"
      if missing
      else "its output layer is dense over all pixels "
      "(Q logits per pixel would need H x W x Q output units)"
    )
    raise ValueError(
      f"model {model_name!r} cannot take the ab classification head: {why}; "
      f"generators that can: {', '.join(able)}"
    )


def build_classifier(model_cfg, *, temperature: float, dtype: str | None = None) -> AbClassifier:
  """`model_cfg`'s generator with Q = ab_bins.num_bins() logit channels, under the head.

  The generator's own output activation is replaced by a linear one (the head
  needs logits)."""
  check_backbone(model_cfg.name)
  if not temperature > 0:
    raise ValueError(f"classification.temperature must be > 0; got {temperature}")
  cfg = ml_collections.ConfigDict(model_cfg.to_dict())
  cfg.output_activation = "linear"
  backbone = models.build(cfg, out_channels=ab_bins.num_bins(), dtype=dtype)
  return AbClassifier(backbone=backbone, temperature=float(temperature))
