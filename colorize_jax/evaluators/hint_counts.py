"""Quality against the number of colour hints: an evaluator's `hint_counts` curve.

For each n in `EvalSpec.hint_counts` the evaluator scores its data again with n
hints per photo drawn from the true photo (colorize_jax/data/hints.fixed: the
photo's own key and `hint_seed`, so every run, batch size and recipe scores the
same points on the same photo, and the points of n are among those of any
larger n). Metrics are kept as `hints_<n>/<metric>` (logged `<evaluator>/hints_<n>/<metric>`,
in final_metrics.json and eval/<name>.json), the report adds a `hint_curve`
table and plots/hints_<evaluator>.png draws it.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
from matplotlib.figure import Figure

from colorize_jax import color
from colorize_jax.data import hints
from colorize_jax.outputs import grids, plots

# The curve's metrics (the reference's: PSNR, SSIM, delta colourfulness and AuC).
METRICS = ("psnr", "ssim", "delta_colorfulness", "ab_auc")
_KEY = re.compile(r"^hints_(\d+)/(.+)$")


@dataclasses.dataclass(frozen=True)
class WithHints:
  """A batch transform (hashable: the evaluator jits one program per count): the batch plus
  `count` evaluation hints per photo, as the hints task reads them (Lab ab units)."""

  count: int
  scheme: hints.HintScheme
  seed: int = 0

  def __call__(self, batch: dict) -> dict:
    ab = color.rgb_to_lab(color.to_unit(batch["image"]))[..., 1:]
    hint_ab, mask = hints.fixed(ab, batch["image"], self.count, self.scheme, self.seed)
    return batch | {hints.HINT_AB: hint_ab, hints.HINT_MASK: mask}


def check(spec, task) -> None:
  """A hint curve needs a task that reads hints: one line naming the field otherwise."""
  if spec.hint_counts and getattr(task, "hint_scheme", None) is None:
    layout = " + ".join(f"{name}({n})" for name, n in task.input_layout)
    raise ValueError(
      f"{spec.where}.hint_counts={spec.hint_counts} needs a task that "
      f"reads colour hints (task 'hints'); this one's inputs are {layout}"
    )


def scores(evaluator, spec, batches_fn, state, max_examples: int = 0) -> dict[str, np.ndarray]:
  """{hints_<n>/<metric>: per-example values} for every n of the spec (no gray baseline: the
  plain scoring has it). `batches_fn()` gives a fresh pass over the evaluator's batches."""
  out = {}
  for n in spec.hint_counts:
    transform = WithHints(int(n), evaluator.task.hint_scheme, int(spec.hint_seed))
    values = evaluator.evaluate(
      state, batches_fn(), max_examples=max_examples, transform=transform
    ).values
    out |= {f"hints_{n}/{k}": v for k, v in values.items() if k in METRICS and spec.keeps(k)}
  return out


def curve(means: dict[str, float]) -> dict[str, dict[str, float]]:
  """{metric: {n: mean}} of the `hints_<n>/<metric>` means, n ascending ({} when none)."""
  out: dict[str, dict[str, float]] = {}
  for key in sorted(means, key=lambda k: int(m.group(1)) if (m := _KEY.match(k)) else -1):
    match = _KEY.match(key)
    if match:
      out.setdefault(match.group(2), {})[match.group(1)] = float(means[key])
  return out


def plot(
  table: dict[str, dict[str, float]], path: str, title: str = "", gray: dict | None = None
) -> bool:
  """One panel per metric, value against the number of hints (symlog x: 0 stays on the axis),
  the gray baseline (`gray`: metric -> value) dashed. False when there is nothing to draw."""
  table = {k: v for k, v in table.items() if v}
  if not table:
    return False
  fig = Figure(figsize=(4.0 * len(table), 3.4))
  axes = fig.subplots(1, len(table), squeeze=False)[0]
  for ax, (metric, points) in zip(axes, table.items()):
    counts = [int(n) for n in points]
    ax.plot(counts, list(points.values()), marker="o")
    if metric in (gray or {}):
      ax.axhline(gray[metric], linestyle="--", color="gray", label="gray")
      ax.legend()
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xticks(counts, [str(n) for n in counts])
    ax.set_xlabel("hints per photo")
    ax.set_title(metric)
    ax.grid(alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  plots.save_figure(fig, path)
  return True


def grid_counts(counts: tuple[int, ...]) -> tuple[int, ...]:
  """The grid's columns: 0 (automatic), the count nearest 10 and the largest, when present."""
  nonzero = [n for n in counts if n]
  picked = [0] if 0 in counts else []
  if nonzero:
    picked += [min(nonzero, key=lambda n: (abs(n - 10), n)), max(nonzero)]
  return tuple(dict.fromkeys(picked))


def drawn_hints(images: np.ndarray, batch: dict) -> np.ndarray:
  """The gray photos with their hints painted on: each hinted pixel in its hint's ab at the
  photo's lightness kept in [45, 80], so dark or white spots still show their colour."""
  lab = np.asarray(color.rgb_to_lab(color.to_unit(images)))
  lightness = np.clip(lab[..., :1], 45.0, 80.0)
  hinted = np.asarray(color.lab_to_rgb(np.concatenate([lightness, batch[hints.HINT_AB]], -1)))
  gray = np.repeat(np.asarray(color.rgb_to_gray(images.astype(np.float32) / 255.0)), 3, -1)
  return np.where(np.asarray(batch[hints.HINT_MASK]) > 0, hinted, gray)


def grid(evaluator, spec, state, images: np.ndarray) -> np.ndarray:
  """uint8 rows of photos: for each of `grid_counts`, the gray input with its hints drawn |
  the prediction with them; then the true photo. A collective, like Evaluator.sample_grid."""
  columns = []
  for n in grid_counts(spec.hint_counts):
    batch = WithHints(int(n), evaluator.task.hint_scheme, int(spec.hint_seed))({"image": images})
    extra = {k: np.asarray(batch[k]) for k in (hints.HINT_AB, hints.HINT_MASK)}
    columns += [drawn_hints(images, extra), evaluator.predicted_rgb(state, images, **extra)]
  return grids.comparison_grid(*columns, images.astype(np.float32) / 255.0)


def grid_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, "eval", f"{name}_hints.png")


def plot_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, "plots", f"hints_{name}.png")
