"""ab classification colorizers (Zhang, Isola & Efros 2016): any registered
generator under the ab classification head (models/heads.py), trained on
soft-encoded, class-rebalanced targets (losses/classification.py).

The rebalancing weights are estimated from the training split once
(`prepare`, colorize_jax/color/ab_prior.py) and live in the train state, so
checkpoints carry them: a resumed run and an evaluation use exactly the
weights training used. `predict` returns the annealed-mean ab in the Lab
target space (ab / 110), like any Lab regression model; `eval_outputs` also
returns the per-bin logits and the weights (`aux`), from which `loss_terms`
computes the evaluation's cross-entropy without a second forward pass.

Config (configs/classification.py):
  config.task = "classification"
  config.loss = "ab_ce"                 # or "ab_ce:1,l1:10" (classification + regression)
  config.classification = {"temperature": 0.38, "prior_mix": 0.5, "prior_sigma": 5.0,
                           "prior_images": 2000}
  config.loss_options.ab_ce = {"neighbours": 5, "sigma": 5.0}
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from colorize_jax import color, registry
from colorize_jax.color import ab_bins, ab_prior
from colorize_jax.evaluators import metrics
from colorize_jax.losses import classification as losses
from colorize_jax.models import heads
from colorize_jax.tasks import base, regression


class ClassifierState(base.TrainState):
  """The head's TrainState plus the class rebalancing weights [Q] (not trained)."""

  class_weights: Any = None


class EmaClassifierState(ClassifierState):
  """ClassifierState with the EMA of the variables (config.ema_decay > 0; base.EmaTrainState)."""

  ema: Any = None


def check_config(config) -> None:
  """Switches that cannot work together, named before anything compiles."""
  if config.data.color_space != "lab":
    raise ValueError(
      f"task 'classification' classifies ab, so it needs data.color_space='lab'; "
      f"got {config.data.color_space!r}"
    )
  heads.check_backbone(config.model.name)


@registry.register("task", "classification")
class ClassificationTask(regression.RegressionTask):
  """A regression task whose network ends in the classification head: its state,
  inference and parameter counts are the regression task's."""

  plot_panels = {"loss": ["train/loss", "val/loss"], "L1 (ab/110)": ["train/l1", "val/l1"]}

  def __init__(self, config):
    check_config(config)
    cfg = config.classification
    self.color_space = color.get_color_space(config.data)
    self.generator = heads.build_classifier(
      config.model, temperature=cfg.temperature, dtype=config.get("dtype")
    )
    self.objective = losses.ClassificationObjective(
      config.loss, value_range=self.color_space.target_range, options=config.get("loss_options")
    )
    self.prior_mix, self.prior_sigma = float(cfg.prior_mix), float(cfg.prior_sigma)
    self.prior_images = int(cfg.prior_images)
    self.ema_decay = base.ema_decay_of(config)
    # Uniform until `prepare` counts the training data: inference needs no
    # weights, and evaluation restores the trained ones from the checkpoint.
    self.class_weights = np.ones(ab_bins.num_bins(), np.float32)
    if not 0.0 < self.prior_mix <= 1.0:
      raise ValueError(
        f"classification.prior_mix must be in (0, 1] (1 = no rebalancing); got {self.prior_mix}"
      )

  def prepare(self, data, workdir: str) -> None:
    """Called by the training loop before init_state: the rebalancing weights
    from the train split's bin counts (the workdir's file when there is one)."""
    if self.prior_mix >= 1.0:  # Uniform weights: nothing to count.
      return
    counts = ab_prior.for_training(data, workdir, self.prior_images)
    prior = ab_bins.smoothed_prior(counts, sigma=self.prior_sigma)
    self.class_weights = ab_bins.rebalancing_weights(prior, mix=self.prior_mix)

  def init_state(self, rng, image_size: int, optimizers) -> ClassifierState:
    state = base.new_state(
      self.generator, optimizers["model"], rng, self.example_inputs(image_size), self.ema_decay
    )
    fields = {name: getattr(state, name) for name in state.__dataclass_fields__}
    cls = EmaClassifierState if self.ema_decay else ClassifierState
    return cls(**fields, class_weights=jnp.asarray(self.class_weights))

  def loss_terms(self, pred, target, aux=None):
    """The objective of a decoded prediction, with eval_outputs' (or train_step's) `aux`:
    the logits it was decoded from and the rebalancing weights."""
    if aux is None:
      raise ValueError("the classification loss needs the per-bin logits: pass eval_outputs' aux")
    total, terms = self.objective(aux["logits"], pred, target, aux["class_weights"])
    return {"loss": total, **base.with_prefix("loss", terms)}

  def _scored(self, state, logits):
    """(decoded prediction, aux) of logits."""
    return heads.decode(logits, self.generator.temperature), {
      "logits": logits,
      "class_weights": state.class_weights,
    }

  def train_step(self, state: ClassifierState, batch, rng):
    inputs, targets = self.model_inputs(batch, base.inputs_key(rng))

    def objective(params):
      logits, mutated = base.apply_training(state, params, inputs, rng, method="logits")
      pred, aux = self._scored(state, logits)
      # The birds study's training metrics (MSE, L1) beside the objective's terms.
      return self.loss_terms(pred, targets, aux) | metrics.space_metrics(pred, targets), mutated

    return base.gradient_step(state, objective, ema_decay=self.ema_decay)

  def eval_outputs(self, state: ClassifierState, inputs):
    variables = self.inference_variables(state)
    logits = self.generator.apply(variables, inputs, train=False, method="logits")
    return self._scored(state, logits)
