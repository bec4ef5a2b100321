"""Regression colorizers: one network, a weighted sum of pixel losses, Adam."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from colorize_jax import color, losses, models, optim, registry
from colorize_jax.models import layers
from colorize_jax.tasks import base


@registry.register("task", "regression")
class RegressionTask:
  monitor = "loss"

  def __init__(self, config, total_steps: int):
    self.color_space = color.get_color_space(config.data)
    self.model = models.build(
        config.model, out_channels=self.color_space.target_channels, dtype=config.get("dtype"))
    self.objective = losses.Objective(
        config.loss, value_range=self.color_space.target_range, options=config.get("loss_options"))
    self.tx = optim.build(config.optimizer, total_steps)

  def init_state(self, rng, image_size: int) -> base.TrainState:
    return base.new_state(self.model, self.tx, rng, image_size)

  def _metrics(self, pred, target):
    """Per-example loss terms plus the studies' metrics (MSE, MAE), each [B]."""
    total, terms = self.objective(pred, target)
    err = (pred - target).reshape(pred.shape[0], -1)
    return {"loss": total, **{f"loss/{k}": v for k, v in terms.items()},
            "mse": jnp.mean(err ** 2, axis=1), "mae": jnp.mean(jnp.abs(err), axis=1)}

  def train_step(self, state: base.TrainState, batch, rng):
    inputs, targets = self.color_space.split(batch["image"])

    def loss_fn(params):
      pred, mutated = state.apply_fn(
          {"params": params, "batch_stats": state.batch_stats}, inputs, train=True,
          rngs={"dropout": rng}, mutable=["batch_stats"])
      per_example = self._metrics(pred, targets)
      return per_example["loss"].mean(), (per_example, mutated)

    grads, (per_example, mutated) = jax.grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads, batch_stats=mutated.get("batch_stats", state.batch_stats))
    return state, {k: v.mean() for k, v in per_example.items()}

  @property
  def generator(self):
    return self.model

  def inference_variables(self, state: base.TrainState) -> dict:
    return base.variables_of(state)

  def predict(self, state: base.TrainState, inputs):
    return self.model.apply(self.inference_variables(state), inputs, train=False)

  def eval_step(self, state: base.TrainState, batch):
    inputs, targets = self.color_space.split(batch["image"])
    return self._metrics(self.predict(state, inputs), targets)

  def param_counts(self, state: base.TrainState) -> dict[str, int]:
    return {"model": layers.count_params(state.params)}
