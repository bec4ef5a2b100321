"""Curves over epochs, as in both studies' figures: plots/loss.png, plots/quality.png, compare's.

Figures are drawn with matplotlib's object API (`Figure`, no pyplot), so
nothing selects a backend or keeps global state at import or after a plot.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _epoch_points(records: list[dict], name: str) -> list[tuple[int, float]]:
  return [
    (r["epoch"], r[name])
    for r in records
    if r.get("kind") == "epoch" and "epoch" in r and isinstance(r.get(name), (int, float))
  ]


def save_figure(fig: Figure, path: str) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path + ".tmp.png", dpi=100)
  os.replace(path + ".tmp.png", path)  # A reader never sees half a file.


def plot_curves(history: list[dict], path: str, panels: dict[str, list[str]]) -> bool:
  """One panel per entry of `panels` (title -> metric names), x = epoch.

  `history` holds metrics.jsonl records; only epoch records with the metric
  are plotted. A gray baseline ('.../gray/...', recorded once per run) is a
  dashed horizontal line. Returns False when there is nothing to plot yet.
  """
  epochs = [r for r in history if "epoch" in r and r.get("kind") == "epoch"]
  if not epochs:
    return False
  fig = Figure(figsize=(5 * len(panels), 3.6))
  axes = fig.subplots(1, len(panels), squeeze=False)
  for ax, (title, names) in zip(axes[0], panels.items()):
    for name in names:
      points = _epoch_points(epochs, name)
      if points and "gray/" in name:
        ax.axhline(points[-1][1], linestyle="--", color="gray", label=name)
      elif points:
        ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=name)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend()
  fig.tight_layout()
  save_figure(fig, path)
  return True


def plot_runs(histories: dict[str, list[dict]], path: str, metric: str) -> bool:
  """One curve per run (label -> records), epochs on x, shared axes. False when none has
  `metric`."""
  fig = Figure(figsize=(7, 4.2))
  ax = fig.subplots()
  plotted = 0
  for label, records in histories.items():
    points = _epoch_points(records, metric)
    if points:
      ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=label)
      plotted += 1
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.set_xlabel("epoch")
  ax.set_ylabel(metric)
  ax.set_title(f"{metric} (each run's own loss)" if metric.endswith("loss") else metric)
  ax.grid(alpha=0.3)
  if plotted:
    ax.legend()
  fig.tight_layout()
  save_figure(fig, path)
  return plotted > 0
