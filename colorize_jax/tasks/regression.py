"""Regression colorizers: one network, a weighted sum of pixel losses."""

from __future__ import annotations

from colorize_jax import color, losses, models, registry
from colorize_jax.evaluators import metrics
from colorize_jax.tasks import base


@registry.register("task", "regression")
class RegressionTask(base.BaseTask):
  console_keys = ("loss", "l1")
  plot_panels = {"loss": ["train/loss", "val/loss"], "L1": ["train/l1", "val/l1"]}

  def __init__(self, config):
    self.color_space = color.get_color_space(config.data)
    self.generator = models.build(
      config.model, out_channels=self.color_space.target_channels, dtype=config.get("dtype")
    )
    self.objective = losses.Objective(
      config.loss, value_range=self.color_space.target_range, options=config.get("loss_options")
    )
    self.ema_decay = base.ema_decay_of(config)

  def init_state(self, rng, image_size: int, optimizers) -> base.TrainState:
    return base.new_state(
      self.generator, optimizers["model"], rng, self.example_inputs(image_size), self.ema_decay
    )

  def loss_terms(self, pred, target, aux=None):
    del aux  # The objective reads the prediction only.
    total, terms = self.objective(pred, target)
    return {"loss": total, **base.with_prefix("loss", terms)}

  def train_step(self, state: base.TrainState, batch, rng):
    inputs, targets = self.model_inputs(batch, base.inputs_key(rng))

    def objective(params):
      pred, mutated = base.apply_training(state, params, inputs, rng)
      # The birds study's training metrics (MSE, L1) beside the objective's terms.
      return self.loss_terms(pred, targets) | metrics.space_metrics(pred, targets), mutated

    return base.gradient_step(state, objective, ema_decay=self.ema_decay)
