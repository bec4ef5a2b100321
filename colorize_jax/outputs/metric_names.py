"""The metric vocabulary's names: which way is better, and the names older files used.

Pure Python (no JAX), so readers of metrics.jsonl and eval reports stay light.
The metrics themselves: colorize_jax/evaluators/metrics.py.
"""

from __future__ import annotations

import math

# Which way is better, per metric name (without its train/, val/ or gray/ prefix).
_DIRECTIONS = {
  "loss": "min",
  "l1": "min",
  "mse": "min",
  "psnr": "max",
  "ssim": "max",
  "delta_colorfulness": "min",  # Mean of the per-image |ΔCF| (ours).
  "delta_colorfulness_set": "min",  # |ΔCF| of the set's mean colourfulness (the literature's).
  "ab_auc": "max",
  "fid": "min",  # Fréchet Inception Distance of the set (evaluators/fid.py).
}


def direction(name: str) -> str | None:
  """'min' or 'max' for a metric ('val/psnr', 'loss/l1', 'l1'); None when neither is better
  (colorfulness itself, counts)."""
  base = name.split("/", 1)[1] if name.startswith(("train/", "val/")) else name
  if base.startswith("loss/"):
    return "min"
  return _DIRECTIONS.get(base)


def signed(name: str, value: float) -> float:
  """The value with lower = better, for minimising trackers (Orbax's best checkpoint)."""
  return -value if direction(name) == "max" else value


def improved(name: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
  if best is None or not math.isfinite(best):
    return math.isfinite(value)
  return signed(name, value) < signed(name, best) - min_delta


# The numbers a summary shows first (evaluate's log line, compare's tables), gray baselines beside.
HEADLINE = (
  "psnr",
  "ssim",
  "ab_auc",
  "colorfulness",
  "delta_colorfulness",
  "delta_colorfulness_set",
  "fid",
  "mse",
  "l1",
)

# Names written before the one vocabulary (metrics.jsonl, eval/*.json, final_metrics.json).
OLD_NAMES = {"mae": "l1", "auc": "ab_auc", "colorfulness_diff": "delta_colorfulness"}


def rename_old(key: str) -> str:
  """An old metric key in the current vocabulary: 'val/mae' -> 'val/l1',
  'gray/auc' -> 'gray/ab_auc', 'task/loss' -> 'loss' (eval's task terms)."""
  if key.startswith("task/"):
    key = key[len("task/") :]
  head, _, last = key.rpartition("/")
  new = OLD_NAMES.get(last)
  return key if new is None else (f"{head}/{new}" if head else new)


def rename_old_values(values: dict) -> dict:
  """A dict of metrics with old keys renamed. An old colorfulness_diff was signed
  (predicted minus true); its new name holds the absolute difference. Where a
  new key already exists (eval's task/mae beside mae) the new one wins."""
  out = {}
  for key, value in values.items():
    new = rename_old(key)
    if key.endswith("colorfulness_diff") and isinstance(value, (int, float)):
      value = abs(value)
    if new != key and new in values:
      continue
    out[new] = value
  return out


def read_report(report: dict) -> dict:
  """An eval report (eval/<name>.json) in the current vocabulary, older reports' names mapped.

  Old reports carry a signed colorfulness_diff; the mean of its absolute values
  comes from the per-image rows, since |mean| is not mean |ΔCF|.
  """
  report = dict(report)
  old_rows = report.get("per_image") or []
  per_image = [rename_old_values(row) for row in old_rows]
  report["metrics"] = rename_old_values(report.get("metrics", {}))
  report["gray_baseline"] = rename_old_values(report.get("gray_baseline", {}))
  for target, key in (
    ("metrics", "delta_colorfulness"),
    ("gray_baseline", "gray/delta_colorfulness"),
  ):
    values = [row[key] for row in per_image if key in row]
    if values and any(k.endswith("colorfulness_diff") for k in old_rows[0]):
      report[target]["delta_colorfulness"] = float(sum(values) / len(values))
  report["per_image"] = per_image
  return report
