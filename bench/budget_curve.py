"""What a run reaches by training budget: issue 22's goal, epoch by epoch, on held-out photos.

A run at a constant learning rate (warm-up allowed) without early stopping passes through
every shorter budget of its recipe: its weights after epoch k are those a k-epoch run of the
same seed would end with, since neither the data order nor the update depends on the run's
length. So one long run's per-epoch scores on its held-out `val` split (logged with that split's
gray baseline in metrics.jsonl) answer "at what budget does it get there" without a run per
budget. A decaying schedule (cosine, linear decay) depends on the run's length: its epochs
are not shorter budgets, and `passes_through_shorter_budgets` says so.

Used by bench/results_table.py (the "By training budget" section).
"""

from __future__ import annotations

import dataclasses
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
if BENCH not in sys.path:  # Loaded by a test from its file.
  sys.path.insert(0, BENCH)
from recipe_goal import KEYS, shortfall  # noqa: E402


def _schedules(tree) -> list[str]:
  if not isinstance(tree, dict):
    return []
  found = [tree["schedule"]] if isinstance(tree.get("schedule"), str) else []
  return found + [s for value in tree.values() for s in _schedules(value)]


def passes_through_shorter_budgets(config: dict) -> bool:
  """Whether a run's epoch k stands for a k-epoch run: every optimizer at a constant learning
  rate and no early stopping."""
  stopping = (config.get("early_stopping") or {}).get("enabled", False)
  return not stopping and all(s == "constant" for s in _schedules(config))


@dataclasses.dataclass(frozen=True)
class Point:
  epoch: int
  step: int
  model: dict
  gray: dict

  @property
  def shortfall(self) -> float:
    return shortfall(self.model, self.gray)[0]

  @property
  def meets_goal(self) -> bool:
    return self.shortfall == 0.0


def curve(history: list[dict], set_name: str = "val") -> list[Point]:
  """The per-epoch scores of one set with its gray baseline, in epoch order. The loop logs the
  gray baseline once per run (it does not change), so the latest one logged applies; the last
  row of an epoch wins (a resumed run may log an epoch twice, with the same values)."""
  points, gray = {}, None
  for row in history:
    if row.get("kind") != "epoch":
      continue
    logged = {k: row.get(f"{set_name}/gray/{k}") for k in KEYS[:2]}
    gray = logged if None not in logged.values() else gray
    model = {k: row.get(f"{set_name}/{k}") for k in KEYS}
    if gray is not None and None not in model.values():
      points[int(row["epoch"])] = Point(int(row["epoch"]), int(row["step"]), model, gray)
  return [points[e] for e in sorted(points)]


def shown_epochs(points: list[Point]) -> list[Point]:
  """A readable subset: epochs 1, 2, 4, 8, ..., the last, and the first that meets the goal."""
  if not points:
    return []
  first_met = next((p for p in points if p.meets_goal), None)
  epochs = {p.epoch for p in points if p.epoch & (p.epoch - 1) == 0}
  epochs |= {points[-1].epoch} | ({first_met.epoch} if first_met else set())
  return [p for p in points if p.epoch in epochs]


TABLE_HEADER = [
  "| epochs | images | PSNR dB vs gray | AuC vs gray | ΔCF | shortfall | goal |",
  "|---|---|---|---|---|---|---|",
]


def table_rows(points: list[Point], batch_size: int) -> list[str]:
  rows = []
  for p in points:
    psnr = p.model["psnr"] - p.gray["psnr"]
    auc = p.model["ab_auc"] - p.gray["ab_auc"]
    rows.append(
      f"| {p.epoch} | {p.step * batch_size:,} | {psnr:+.2f} | {auc:+.3f} | "
      f"{p.model['delta_colorfulness']:.1f} | {p.shortfall:.2f} | "
      f"{'yes' if p.meets_goal else 'no'} |"
    )
  return rows


def summary(points: list[Point], batch_size: int) -> str:
  """One sentence: the budget at which the goal is first met, or what the longest budget
  reaches and where ΔCF (the criterion every recipe misses) is heading."""
  if not points:
    return "no per-epoch scores on the held-out split"
  images = lambda p: f"{p.step * batch_size:,} images"  # noqa: E731
  first_met = next((p for p in points if p.meets_goal), None)
  if first_met:
    return f"meets the goal from epoch {first_met.epoch} ({images(first_met)}) on"
  last, nearest = points[-1], min(points, key=lambda p: p.shortfall)
  text = (
    f"does not meet the goal in {last.epoch} epochs ({images(last)}); nearest at epoch "
    f"{nearest.epoch} (shortfall {nearest.shortfall:.2f})"
  )
  half = points[len(points) // 2]
  if last.epoch > half.epoch:
    change = last.model["delta_colorfulness"] - half.model["delta_colorfulness"]
    per_epoch = change / (last.epoch - half.epoch)
    text += (
      f"; ΔCF moved {change:+.1f} from epoch {half.epoch} to {last.epoch} "
      f"({per_epoch:+.2f} per epoch)"
    )
  return text


def reproduction(longer: list[Point], shorter: list[Point]) -> str | None:
  """Checks this module's premise on two runs of one recipe and seed: the longer run's epochs
  that the shorter one also ran should score the same. One sentence, or None without shared
  epochs. Bit-identical on one machine; another machine's kernels may differ in the last bits."""
  by_epoch = {p.epoch: p for p in shorter}
  shared = [(p, by_epoch[p.epoch]) for p in longer if p.epoch in by_epoch]
  if not shared:
    return None
  diffs = {k: max(abs(a.model[k] - b.model[k]) for a, b in shared) for k in KEYS}
  epochs = f"epochs 1-{shared[-1][0].epoch}" if len(shared) > 1 else f"epoch {shared[0][0].epoch}"
  if not any(diffs.values()):
    return f"its {epochs} reproduce the shorter run's held-out scores exactly"
  return (
    f"its {epochs} differ from the shorter run's held-out scores by at most "
    f"{diffs['psnr']:.3g} dB PSNR, {diffs['ab_auc']:.3g} AuC and "
    f"{diffs['delta_colorfulness']:.3g} ΔCF"
  )
