"""Curves over epochs, as in both studies' figures: plots/loss.png, plots/quality.png, compare's.

Figures are drawn with matplotlib's object API (`Figure`, no pyplot), so
nothing selects a backend or keeps global state at import or after a plot.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from colorize_jax.outputs import atomic


def _epoch_points(records: list[dict], name: str) -> list[tuple[int, float]]:
  return [
    (r["epoch"], r[name])
    for r in records
    if r.get("kind") == "epoch" and "epoch" in r and isinstance(r.get(name), (int, float))
  ]


def save_figure(fig: Figure, path: str, dpi: int = 100) -> None:
  with atomic.replacing(path, ".tmp.png") as tmp:
    fig.savefig(tmp, dpi=dpi)


def plot_curves(
  history: list[dict],
  path: str,
  panels: dict[str, list[str]],
  *,
  panel_size: tuple[float, float] = (5.0, 3.6),
  dpi: int = 100,
) -> bool:
  """One panel per entry of `panels` (title -> metric names) that has a point, x = epoch.

  `history` holds metrics.jsonl records; only epoch records with the metric
  are plotted. A gray baseline ('.../gray/...', recorded once per run) is a
  dashed horizontal line. Returns False when there is nothing to plot yet.
  """
  epochs = [r for r in history if "epoch" in r and r.get("kind") == "epoch"]
  series = {
    title: [(name, points) for name in names if (points := _epoch_points(epochs, name))]
    for title, names in panels.items()
  }
  series = {title: lines for title, lines in series.items() if lines}
  if not series:
    return False
  fig = Figure(figsize=(panel_size[0] * len(series), panel_size[1]))
  axes = fig.subplots(1, len(series), squeeze=False)
  for ax, (title, lines) in zip(axes[0], series.items()):
    for name, points in lines:
      if "gray/" in name:
        ax.axhline(points[-1][1], linestyle="--", color="gray", label=name)
      else:
        ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=name)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  save_figure(fig, path, dpi)
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
