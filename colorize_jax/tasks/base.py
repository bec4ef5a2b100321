"""What the training loop needs from a task (regression, adversarial, ...).

A task is a bundle of pure functions; the loop jits them, shards them and
owns all I/O. `state.step` is the only field the loop reads.
"""

from __future__ import annotations

from typing import Any, Protocol

import flax.struct
import jax
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """Flax's TrainState plus BatchNorm statistics ({} for models without BN)."""

  batch_stats: Any = flax.struct.field(default_factory=dict)


class Task(Protocol):
  # Name of the per-example eval metric that early stopping and "best"
  # checkpoints minimise.
  monitor: str

  def init_state(self, rng: jax.Array, image_size: int) -> Any: ...

  def train_step(self, state: Any, batch: dict, rng: jax.Array) -> tuple[Any, dict]: ...

  def eval_step(self, state: Any, batch: dict) -> dict:
    """Per-example metrics, each [B], for a batch of uint8 images."""

  # How uint8 photos become model inputs and targets (colorize_jax.color).
  color_space: Any
  # The network that colorizes: `generator.apply(variables, gray, train=False)`.
  generator: Any

  def inference_variables(self, state: Any) -> dict:
    """The generator's variables for inference and export (EMA weights when a task keeps them)."""

  def predict(self, state: Any, inputs: jax.Array) -> jax.Array:
    """Model outputs (target space) for model inputs, in inference mode."""

  def param_counts(self, state: Any) -> dict[str, int]: ...


def new_state(model, tx: optax.GradientTransformation, rng: jax.Array, image_size: int) -> TrainState:
  """Initialise a single-input network (a generator or regression model)."""
  import jax.numpy as jnp  # Local: keeps module import light for the registry.

  variables = model.init({"params": rng, "dropout": rng}, jnp.zeros((1, image_size, image_size, 1)), train=False)
  return TrainState.create(
      apply_fn=model.apply, params=variables["params"], tx=tx,
      batch_stats=variables.get("batch_stats", {}))


def predicted_rgb(task, state, rgb_uint8):
  """RGB in [0, 1] of a task's inference-mode colorization of uint8 photos (jit-able)."""
  inputs, _ = task.color_space.split(rgb_uint8)
  return task.color_space.merge(inputs, task.predict(state, inputs))


def variables_of(state: TrainState) -> dict:
  variables = {"params": state.params}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  return variables
