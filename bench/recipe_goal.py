"""Issue 22's goal for a recipe, against the gray input of the same photos: PSNR at least
0.5 dB and AuC at least 0.01 above the gray input's, and per-image ΔCF at most 10.

One definition for every bench script that judges it: the temperature sweep, the budget
curve, the ablation section and the recommended recipe of RESULTS.md.
"""

from __future__ import annotations

import numpy as np

GOAL = {"psnr": 0.5, "ab_auc": 0.01, "delta_colorfulness": 10.0}
KEYS = tuple(GOAL)


def shortfall(model: dict, gray: dict) -> tuple[float, list[float]]:
  """How far scores fall short of the goal, each criterion in units of its own threshold (0
  where met): (their sum, [PSNR, AuC, ΔCF])."""
  parts = [
    max(0.0, GOAL["psnr"] - (model["psnr"] - gray["psnr"])) / GOAL["psnr"],
    max(0.0, GOAL["ab_auc"] - (model["ab_auc"] - gray["ab_auc"])) / GOAL["ab_auc"],
    max(0.0, model["delta_colorfulness"] - GOAL["delta_colorfulness"]) / GOAL["delta_colorfulness"],
  ]
  return sum(parts), parts


def meets_goal(model: dict, gray: dict) -> bool:
  return shortfall(model, gray)[0] == 0.0


def colourfulness_spread(predicted: list | None, true: list | None) -> dict[str, float]:
  """Per-image ΔCF is |CF(prediction) - CF(photo)| averaged over photos, so a model that colours
  every photo equally vividly cannot go below the photos' mean absolute deviation from their
  median colourfulness (the best constant). Returns that floor ('constant_dcf') and, given the
  predictions, their correlation with the photos' colourfulness ('colourfulness_r'): what a
  recipe must raise to go below the floor. {} without per-image colourfulness."""
  if not true or any(t is None for t in true):
    return {}
  t = np.asarray(true, np.float64)
  out = {"constant_dcf": float(np.mean(np.abs(t - np.median(t))))}
  if predicted and len(predicted) == len(t) and all(p is not None for p in predicted):
    p = np.asarray(predicted, np.float64)
    if len(t) > 1 and p.std() > 0 and t.std() > 0:
      out["colourfulness_r"] = float(np.corrcoef(p, t)[0, 1])
  return out
