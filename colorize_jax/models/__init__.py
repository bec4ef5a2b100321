"""Model families; each module registers its networks under kind "model"
(generators, and regression models) or "discriminator". The registry imports every
module in this folder, so a new family is one new file.

Signatures: a generator is `__call__(inputs, *, train)`, where `inputs` [B, H, W, C]
are what its task's `model_inputs` builds (C and the channels' meaning: the task's
`input_layout`; the gray image alone for the built-in tasks); a discriminator is
`__call__(inputs, color, *, train)`."""

from __future__ import annotations

import dataclasses

from colorize_jax import registry


def build(model_cfg, *, out_channels: int, kind: str = "model", dtype: str | None = None):
  """The network a config names, with the config's options as its fields.

  `dtype` (the run's `config.dtype`) is the compute dtype of every network
  that has one; parameters, optimizer state and losses stay float32.
  """
  cls = registry.get(kind, model_cfg.name)
  options = {k: v for k, v in model_cfg.items() if k != "name"}
  fields = {f.name for f in dataclasses.fields(cls)}
  if "out_channels" in fields:
    options["out_channels"] = out_channels
  if dtype is not None and "dtype" in fields:
    if "dtype" in options and options["dtype"] != dtype:
      raise ValueError(
        f"{kind} {model_cfg.name!r}: set the compute dtype once, with config.dtype "
        f"(got config.dtype={dtype!r} and {kind}.dtype={options['dtype']!r})"
      )
    options["dtype"] = dtype
  valid = sorted(f.name for f in dataclasses.fields(cls) if f.name not in ("parent", "name"))
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise ValueError(
      f"{kind} {model_cfg.name!r} has no option(s) {unknown}; valid options: {valid}"
    )
  return cls(**options)
