"""Issue 22's goal for a recipe, against the gray input of the same photos: PSNR at least
0.5 dB and AuC at least 0.01 above the gray input's, and per-image ΔCF at most 10.

One definition for every bench script that judges it: the temperature sweep, the budget
curve, the ablation section and the recommended recipe of RESULTS.md.
"""

from __future__ import annotations

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
