"""Loss curves over epochs, as in the studies' figures."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def plot_curves(history: list[dict], path: str, panels: dict[str, list[str]]) -> bool:
  """One panel per entry of `panels` (title -> metric names), x = epoch.

  `history` holds metrics.jsonl records; only those with an "epoch" field and
  the metric are plotted. Returns False when there is nothing to plot yet.
  """
  epochs = [r for r in history if "epoch" in r and r.get("kind") == "epoch"]
  if not epochs:
    return False
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
  for ax, (title, names) in zip(axes[0], panels.items()):
    for name in names:
      points = [(r["epoch"], r[name]) for r in epochs if isinstance(r.get(name), (int, float))]
      if points:
        ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=name)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path + ".tmp.png", dpi=100)
  plt.close(fig)
  os.replace(path + ".tmp.png", path)
  return True
