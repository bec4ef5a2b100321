"""Markdown pieces of RESULTS.md: cells, rows and tables of a study's runs, and commands made
portable to another checkout."""

from __future__ import annotations

import os
import shlex
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script from a checkout that is not pip-installed.
  if _path not in sys.path:
    sys.path.insert(0, _path)

from study_runs import Run, image_size  # noqa: E402

# Headline columns: (key, heading, format, what sits beside it).
COLUMNS = (
  ("psnr", "PSNR dB", "{:.2f}", "gray"),
  ("ssim", "SSIM", "{:.3f}", "gray"),
  ("colorfulness", "colourfulness", "{:.1f}", "photos"),
  ("delta_colorfulness", "ΔCF", "{:.1f}", "gray"),
  ("delta_colorfulness_set", "ΔCF set", "{:.1f}", "gray"),
  ("ab_auc", "AuC", "{:.3f}", "gray"),
  ("mse", "MSE", "{:.4f}", "gray"),
)
# FID (colorize_jax/evaluators/fid.py), a set-level figure: beside its gray baseline and the
# number of images it was computed on, without which FIDs do not compare.
FID_HEADING = "FID (gray; n)"


def fmt(value, spec: str = "{:.4g}") -> str:
  return "–" if value is None else spec.format(value)


def duration(seconds) -> str:
  if seconds is None:
    return "–"
  if seconds < 90:
    return f"{seconds:.0f} s"
  return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def count(n: int) -> str:
  return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def params_cell(run: Run) -> str:
  counts = (run.final or {}).get("params") or {}
  if not counts:
    return "–"
  parts = " + ".join(f"{k} {count(v)}" for k, v in counts.items())
  return count(sum(counts.values())) + (f" ({parts})" if len(counts) > 1 else "")


def machines(run: Run) -> str:
  texts = list(dict.fromkeys(s.get("machine_text", "?") for s in run.study.get("sessions", [])))
  return "; ".join(texts) if texts else "not recorded"


def status(run: Run) -> str:
  planned = run.study.get("budget", {}).get("epochs")
  # A run budgeted in images (max_train_steps: flowers mixed in makes its epochs longer) is
  # finished at that step, short of its nominal epochs.
  step_budget = int(run.config.get("max_train_steps", 0) or 0)
  epochs_met = planned is None or run.epochs_done >= planned
  if run.final and (epochs_met or 0 < step_budget <= run.steps_done):
    return "finished"
  return f"training: epoch {run.epochs_done} of {planned or '?'}"


def budget_row(run: Run) -> list[str]:
  images = run.steps_done * run.batch_size
  return [
    run.name,
    run.task,
    run.kind,
    params_cell(run),
    f"{images:,}",
    str(run.epochs_done),
    str(image_size(run)),
    duration((run.final or {}).get("train_seconds")),
    status(run),
  ]


def metric_row(run: Run, eval_name: str) -> list[str]:
  cells = [run.name]
  for key, _, spec, beside in COLUMNS:
    value = run.metric(eval_name, key)
    other = run.metric(eval_name, "photos_colorfulness" if beside == "photos" else key, gray=True)
    cells.append(f"{fmt(value, spec)} ({fmt(other, spec)})" if value is not None else "–")
  return cells + [fid_cell(run, eval_name)]


def fid_cell(run: Run, eval_name: str) -> str:
  """'41.2 (80.1; 1,000)': FID, the gray baseline's, and the number of images; '–' without."""
  value = run.metric(eval_name, "fid")
  if value is None:
    return "–"
  count = run.metric(eval_name, "fid_examples")
  n = f"{int(count):,}" if count is not None else "?"
  return f"{value:.1f} ({fmt(run.metric(eval_name, 'fid', gray=True), '{:.1f}')}; {n})"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
    "| " + " | ".join(row) + " |" for row in rows
  ]


def relative_link(path: str, output: str) -> str:
  return os.path.relpath(path, os.path.dirname(os.path.abspath(output))).replace(os.sep, "/")


def portable_command(command: str, root: str = ROOT) -> str:
  """`command` with absolute paths in or beside the checkout `root` made relative to it.

  The study records the absolute paths of the machine it ran on; RESULTS.md's reader runs
  the command from the repository root of another checkout, with the data at ../shared/data.
  Paths further away (two or more levels up) are left as they are.
  """

  def relative(part: str) -> str:
    if not os.path.isabs(part):
      return part
    rel = os.path.relpath(part, root)
    return rel.replace(os.sep, "/") if rel.split(os.sep).count("..") <= 1 else part

  return shlex.join("=".join(map(relative, word.split("="))) for word in shlex.split(command))
