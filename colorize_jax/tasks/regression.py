"""Regression colorizers: one network, a weighted sum of pixel losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from colorize_jax import color, losses, models, registry
from colorize_jax.models import layers
from colorize_jax.tasks import base


@registry.register("task", "regression")
class RegressionTask:
  optimizers = {"model": "optimizer"}
  monitor = "val/loss"
  console_keys = ("loss", "l1")
  plot_panels = {"loss": ["train/loss", "val/loss"], "L1": ["train/l1", "val/l1"]}

  def __init__(self, config):
    self.color_space = color.get_color_space(config.data)
    self.model = models.build(
      config.model, out_channels=self.color_space.target_channels, dtype=config.get("dtype")
    )
    self.objective = losses.Objective(
      config.loss, value_range=self.color_space.target_range, options=config.get("loss_options")
    )

  @property
  def generator(self):
    return self.model

  def prepare(self, data, workdir: str) -> None:
    del data, workdir  # Nothing learned from the data before training.

  def init_state(self, rng, image_size: int, optimizers) -> base.TrainState:
    return base.new_state(self.model, optimizers["model"], rng, image_size)

  def loss_terms(self, pred, target, aux=None):
    del aux  # The objective reads the prediction only.
    total, terms = self.objective(pred, target)
    return {"loss": total, **base.with_prefix("loss", terms)}

  def train_step(self, state: base.TrainState, batch, rng):
    inputs, targets = self.color_space.split(batch["image"])

    def loss_fn(params):
      pred, mutated = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats},
        inputs,
        train=True,
        rngs={"dropout": rng},
        mutable=["batch_stats"],
      )
      err = (pred - targets).reshape(pred.shape[0], -1)
      # The birds study's training metrics (MSE, L1) beside the objective's terms.
      per_example = self.loss_terms(pred, targets) | {
        "mse": jnp.mean(jnp.square(err), axis=1),
        "l1": jnp.mean(jnp.abs(err), axis=1),
      }
      return per_example["loss"].mean(), (per_example, mutated)

    grads, (per_example, mutated) = jax.grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(
      grads=grads, batch_stats=mutated.get("batch_stats", state.batch_stats)
    )
    return state, {k: v.mean() for k, v in per_example.items()}

  def inference_variables(self, state: base.TrainState) -> dict:
    return base.variables_of(state)

  def predict(self, state: base.TrainState, inputs):
    return self.model.apply(self.inference_variables(state), inputs, train=False)

  def eval_outputs(self, state: base.TrainState, inputs):
    return self.predict(state, inputs), None

  def param_counts(self, state: base.TrainState) -> dict[str, int]:
    return {"model": layers.count_params(state.params)}
