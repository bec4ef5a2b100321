"""Checks a training config before anything is written, so a bad value fails in one line.

Each check names the field, the bad value and what would work. Names
(models, losses, sources) are checked where they are looked up; this module
checks values: sizes, counts, the image size against the model's and the
discriminator's downsamplings (by tracing them abstractly on what the task's
`model_inputs` builds from a photo: no memory, no compilation), and switches
that cannot work together, which the task's constructor rejects (e.g. the ab
classification head on a dense model, R1 with wgan_gp).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

from colorize_jax import models, registry, tasks
from colorize_jax.config import base as config_base
from colorize_jax.data import icc, splits

# The values each output activation can give (closed bounds; None: unbounded).
_ACTIVATION_RANGES = {
  "sigmoid": (0.0, 1.0),
  "tanh": (-1.0, 1.0),
  "relu": (0.0, None),
  "elu": (-1.0, None),
  "gelu": (-0.17, None),
  "silu": (-0.28, None),
  "leaky_relu": (None, None),
  "linear": (None, None),
}

# Sources that split by data.split_fractions; `sample` has a fixed split by photo.
_SPLIT_SOURCES = ("folder", "tfds")


class ConfigError(ValueError):
  """A config value that cannot train; the message lists every problem found."""


def _at_least(config, field: str, minimum: int) -> str | None:
  value = config
  for part in field.split("."):
    value = value.get(part) if hasattr(value, "get") else None
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    return f"{field}={value!r} must be an integer >= {minimum}"
  return None


def _batch_size(config, num_devices: int) -> str | None:
  size = config.batch_size
  if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
    return None  # Divisibility by the devices is checked by parallel.check_batch_size.
  return (
    f"batch_size={size!r} must be a positive multiple of the {num_devices} device(s), "
    f"e.g. {num_devices} or {2 * num_devices}"
  )


def _split_fractions(config) -> str | None:
  fractions = tuple(config.data.split_fractions)
  if config.data.source not in _SPLIT_SOURCES:
    # The sample source splits by photo: say so when fractions were set, instead of ignoring them.
    if fractions != tuple(config_base.base_config().data.split_fractions):
      logging.warning(
        "data.split_fractions=%s does not apply to data.source=%r (its split is fixed); "
        "it applies to %s",
        fractions,
        config.data.source,
        " and ".join(_SPLIT_SOURCES),
      )
    return None
  if (
    len(fractions) != 3
    or any(not isinstance(f, (int, float)) or f < 0 for f in fractions)
    or not fractions[0] > 0
  ):
    return (
      f"data.split_fractions={fractions} must be 3 non-negative numbers (train, val, test) "
      "with train > 0, e.g. (0.7, 0.1, 0.2)"
    )
  method = config.data.get("split_method", "path")
  if method not in splits.SPLIT_METHODS:
    return f"data.split_method={method!r} must be one of {', '.join(splits.SPLIT_METHODS)}"
  return None


def _color_management(config) -> str | None:
  try:
    icc.enabled(config.data)
  except ValueError as e:
    return str(e)
  return None


def _abstract_inputs(task, image_size: int) -> tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]:
  """Shapes of (inputs, targets) the task builds from one photo of `image_size` (traced)."""
  photo = {"image": jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.uint8)}
  return jax.eval_shape(task.model_inputs, photo)


def output_size(config, image_size: int, task=None) -> tuple[int, ...] | None:
  """The generator's output shape [H, W, C] for a square photo, or None when it cannot run on it.

  `task`: the run's task (built from `config` when not given); the generator is traced on
  what its `model_inputs` builds."""
  task = task if task is not None else tasks.build(config)
  inputs, _ = _abstract_inputs(task, image_size)
  try:
    out, _ = jax.eval_shape(
      lambda x: task.generator.init_with_output(jax.random.key(0), x, train=False), inputs
    )
  except (ValueError, TypeError, IndexError, ZeroDivisionError):  # Shapes that do not fit.
    return None
  return tuple(out.shape[1:])


def _fits(config, size: int, task=None) -> bool:
  out = output_size(config, size, task)
  return out is not None and out[:2] == (size, size)


def _image_size(config, fits: Callable[[Any, int], bool]) -> str | None:
  size = config.data.image_size
  if isinstance(size, bool) or not isinstance(size, int) or size < 1:
    return f"data.image_size={size!r} must be a positive integer, e.g. 64, 128 or 256"
  if fits(config, size):
    return None
  for k in range(1, 10):  # The smallest power of two whose multiples fit (the downsamplings).
    step = 2**k
    near = sorted({max(step, size // step * step), max(step, -(-size // step) * step)})
    if all(fits(config, s) for s in near):
      return (
        f"data.image_size={size} does not fit model {config.model.name!r} (its output would "
        f"not be {size}x{size}); use a multiple of {step}, e.g. {', '.join(map(str, near))}"
      )
  return (
    f"data.image_size={size} does not fit model {config.model.name!r}, nor does any size near it"
  )


def _covers(bounds: tuple[float | None, float | None], low: float, high: float) -> bool:
  lo, hi = bounds
  return (lo is None or lo <= low) and (hi is None or hi >= high)


def _output_range(config, task) -> str | None:
  """The generator's output activation must reach the whole target range: a sigmoid head on
  Lab targets (ab/110 in [-1, 1]) or value_range=(-1, 1) can never predict a value below 0,
  and trains without error. Generators without an `output_activation` (the classification
  head's decoder) or with an activation not listed here are not checked."""
  name = getattr(task.generator, "output_activation", None)
  bounds = _ACTIVATION_RANGES.get(name) if isinstance(name, str) else None
  if bounds is None:
    return None
  low, high = (float(v) for v in task.color_space.target_range)
  if _covers(bounds, low, high):
    return None
  fit = next(n for n in ("sigmoid", "tanh", "linear") if _covers(_ACTIVATION_RANGES[n], low, high))
  shown = ", ".join("inf" if b is None else f"{b:g}" for b in bounds)
  space = config.data.color_space
  targets = f"data.color_space={space!r}" + (
    f" with data.value_range={tuple(config.data.value_range)}" if space == "rgb" else ""
  )
  return (
    f"model.output_activation={name!r} gives values in [{shown}] but the targets of {targets} "
    f"lie in [{low:g}, {high:g}]; use --config.model.output_activation={fit}"
  )


def _task(config) -> tuple[Any, str | None]:
  """(the task, None), or (None, the problem): building it (no arrays, no tracing) is the
  task's own check, rejecting conflicting switches."""
  try:
    return tasks.build(config), None
  except (ValueError, registry.UnknownNameError) as e:
    return None, str(e)


def _discriminator(config, task) -> str | None:
  """Every scale of the discriminator must give logits at the image size (a multi-scale
  PatchGAN pools its input once per scale)."""
  d_cfg = config.discriminator
  d = models.build(d_cfg, out_channels=1, kind="discriminator")
  size = config.data.image_size
  inputs, target = _abstract_inputs(task, size)
  try:
    logits, _ = jax.eval_shape(
      lambda x, t: d.init_with_output(jax.random.key(0), x, t, train=False), inputs, target
    )
  except (ValueError, TypeError) as e:  # Shapes that do not fit.
    return f"discriminator {d_cfg.name!r} does not fit data.image_size={size}: {e}"
  if any(leaf.size == 0 for leaf in jax.tree.leaves(logits)):
    return (
      f"discriminator {d_cfg.name!r} (n_layers={d_cfg.get('n_layers')}, num_scales="
      f"{d_cfg.get('num_scales', 1)}) gives no logits at data.image_size={size}; use fewer "
      "layers or scales, or larger images"
    )
  return None


def check(
  config,
  num_devices: int | None = None,
  fits: Callable[[Any, int], bool] | None = None,
  task=None,
) -> None:
  """Raises ConfigError listing every bad value; logs values that are ignored.

  `task`: the run's task when the caller has built it (built here otherwise); the networks'
  shapes are traced on what its `model_inputs` builds. `fits(config, size)`: whether the
  model gives a size x size output (default: traced)."""
  num_devices = num_devices or jax.device_count()
  problems = [
    _at_least(config, "num_epochs", 1),
    _at_least(config, "max_train_steps", 0),
    _at_least(config, "log_every_steps", 1),
    _at_least(config, "num_sample_images", 1),
    _at_least(config, "checkpoint.every_steps", 0),
    _at_least(config, "checkpoint.keep", 1),
    _at_least(config, "data.min_image_size", 1),
    _at_least(config, "eval.every_epochs", 1),
    _at_least(config, "eval.max_examples", 0),
    _batch_size(config, num_devices),
    _split_fractions(config),
    _color_management(config),
  ]
  # A task that cannot be built (conflicting switches, a model's unknown option) is the one
  # problem with its networks: tracing them would trip on the same thing.
  network_problem = None
  if task is None:
    task, network_problem = _task(config)
  if network_problem is None and config.get("model") is not None:
    network_problem = _output_range(config, task) or _image_size(
      config, fits or functools.partial(_fits, task=task)
    )
  if network_problem is None and config.get("discriminator") is not None:
    network_problem = _discriminator(config, task)
  problems = [p for p in problems + [network_problem] if p]
  if problems:
    raise ConfigError("; ".join(problems))
