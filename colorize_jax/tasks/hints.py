"""User-guided colorization (Zhang et al., SIGGRAPH 2017): L, a few colour hints and their mask
in, ab out.

The network reads (("L", 1), ("hint_ab", 2), ("hint_mask", 1)). Where the hints come from is
the only thing this task adds, all in `model_inputs`:
  * a train step (rng given) samples them on the device from the augmented photo's own ab
    (colorize_jax/data/hints.py: geometric count with P(0) = config.hints.geometric_p, square
    patches, centres around the image centre), so the same network also colorizes without any;
  * evaluation and inference (rng None) read them from the batch, `hint_ab` [B, H, W, 2] in
    Lab ab units (about -110..110, zero where there is none) and `hint_mask` [B, H, W, 1],
    or use none (automatic colorization) when the batch has no such keys.
The loss, state and prediction are the parent task's: "hints" regresses ab (config.loss,
e.g. 'l1' or 'huber'); "hints_classification" is the ab classification task (config.loss
'ab_ce:1,l1:10' is the reference's classification plus 10 x L1).
"""

from __future__ import annotations

import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.color import spaces
from colorize_jax.data import hints
from colorize_jax.tasks import classification, regression

# Batch keys of given hints: Colorizer.predict_rgb(photos, hint_ab=..., hint_mask=...).
HINT_AB, HINT_MASK = hints.HINT_AB, hints.HINT_MASK
LAYOUT = (("L", 1), (HINT_AB, 2), (HINT_MASK, 1))


class HintInputs:
  """The hint inputs of a Lab task; mixed in before the task that supplies loss and state."""

  input_layout = LAYOUT
  hint_scheme: hints.HintScheme

  def _init_hints(self, config) -> None:
    if config.data.color_space != "lab":
      raise ValueError(
        f"task {config.task!r} hints Lab ab, so it needs data.color_space='lab'; "
        f"got {config.data.color_space!r}"
      )
    self.hint_scheme = hints.HintScheme.from_config(config.get("hints") or {})

  def model_inputs(self, batch: dict, rng=None):
    lightness, ab = self.color_space.split(batch["image"])  # L/50 - 1 and ab/110.
    if rng is not None:
      hint_ab, mask = hints.sample(ab, rng, self.hint_scheme)
    elif HINT_AB in batch:
      mask = batch[HINT_MASK].astype(jnp.float32)
      hint_ab = batch[HINT_AB].astype(jnp.float32) / spaces.AB_SCALE * mask
    else:  # No hints: automatic colorization.
      hint_ab = jnp.zeros_like(ab)
      mask = jnp.zeros(ab.shape[:-1] + (1,), ab.dtype)
    return jnp.concatenate([lightness, hint_ab.astype(ab.dtype), mask.astype(ab.dtype)], -1), ab


@registry.register("task", "hints")
class HintsTask(HintInputs, regression.RegressionTask):
  """Regression on ab (config.loss) from L and hints."""

  def __init__(self, config):
    self._init_hints(config)
    super().__init__(config)


@registry.register("task", "hints_classification")
class HintsClassificationTask(HintInputs, classification.ClassificationTask):
  """ab classification (config.classification, config.loss 'ab_ce[:w],l1:w') from L and hints."""

  def __init__(self, config):
    self._init_hints(config)
    super().__init__(config)
