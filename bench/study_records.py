"""A study run's record: the small files RESULTS.md is made from, apart from the bulky workdir.

  python bench/study_records.py runs/reference_study/unet runs/records/reference_study/unet

What bench/results_table.py reads of a finished run is small: config.json, study.json,
data.json, final_metrics.json, metrics.jsonl, eval/<name>.json (its per-image rows as a few
rounded columns) and the first rows of its photo sets' grids, about 300 KB; its checkpoints and
TensorBoard files are not. bench/reference_study.py copies those into
runs/records/<study>/<recipe>/ (or --records=DIR) as each recipe finishes, and counts a recipe
whose record is complete as done. Pointed at storage that outlives the machine, a study spread
over sessions adds up rather than starting over; the workdirs can be deleted once recorded.
Records are run outputs, never committed: RESULTS.md carries the figures (docs/DESIGN.md,
"Study records").
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys

from PIL import Image

FILES = ("config.json", "study.json", "data.json", "final_metrics.json", "metrics.jsonl")
# Grids keep the rows RESULTS.md shows; the rest of a 16-photo grid is weight in git.
GRID_ROWS = 4
GRID_GAP = 2  # outputs/grids.py's white gap between tiles, in px.


def _image_size(workdir: str) -> int:
  with open(os.path.join(workdir, "config.json")) as f:
    return int(json.load(f).get("data", {}).get("image_size", 64))


def _grids(workdir: str) -> list[str]:
  """The grids results_table shows: each photo set's evaluation (and its hints grid), not the
  held-out split's (`val*`, never shown); the last training sample only when there is none."""
  paths = [
    p
    for p in sorted(glob.glob(os.path.join(workdir, "eval", "*.png")))
    if not os.path.basename(p).startswith("val")
  ]
  final = os.path.join(workdir, "samples", "final.png")
  return paths or ([final] if os.path.exists(final) else [])


# Per-image values kept in a record, as columns in the report's photo order: enough for paired
# comparisons between recipes (docs/DESIGN.md, "Judging an ablation") at a tenth of the size.
PER_IMAGE_KEYS = (
  "psnr",
  "ssim",
  "ab_auc",
  "delta_colorfulness",
  # Predicted and true colourfulness: whether a recipe tells vivid photos from dull ones
  # (recipe_goal.colourfulness_spread).
  "colorfulness",
  "colorfulness_true",
)


def compact_report(report: dict) -> dict:
  """An eval report with its per-image rows as rounded columns (`per_image_columns`)."""
  rows = report.get("per_image") or []
  out = {k: v for k, v in report.items() if k != "per_image"}
  if rows:
    out["per_image_columns"] = {
      key: [round(float(row[key]), 4) if key in row else None for row in rows]
      for key in PER_IMAGE_KEYS
    }
  return out


def _copy(source: str, target: str) -> None:
  os.makedirs(os.path.dirname(target), exist_ok=True)
  shutil.copyfile(source, target)


def _write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f, separators=(",", ":"))


def copy_grid(source: str, target: str, tile: int, rows: int = GRID_ROWS) -> None:
  """The first `rows` rows of a grid of `tile`-px tiles, as a PNG."""
  image = Image.open(source).convert("RGB")
  kept = min(rows, (image.height + GRID_GAP) // (tile + GRID_GAP))
  image = image.crop((0, 0, image.width, max(1, kept * (tile + GRID_GAP) - GRID_GAP)))
  os.makedirs(os.path.dirname(target), exist_ok=True)
  image.save(target, optimize=True)


def archive(workdir: str, record: str) -> list[str]:
  """Writes a workdir's record to `record`, replacing any older one whole; returns the relative
  paths it wrote. Needs the workdir's config.json."""
  if not os.path.exists(os.path.join(workdir, "config.json")):
    raise FileNotFoundError(f"{workdir}: no config.json, so not a run's workdir")
  staging = record.rstrip(os.sep) + ".partial"
  remove(staging)
  written = _write_record(workdir, staging)
  remove(record)
  os.replace(staging, record)
  return written


def _write_record(workdir: str, record: str) -> list[str]:
  tile = _image_size(workdir)
  written = []
  for name in FILES:
    source = os.path.join(workdir, name)
    if os.path.exists(source):
      _copy(source, os.path.join(record, name))
      written.append(name)
  for source in sorted(glob.glob(os.path.join(workdir, "eval", "*.json"))):
    with open(source) as f:
      report = json.load(f)
    name = os.path.relpath(source, workdir)
    _write_json(os.path.join(record, name), compact_report(report))
    written.append(name)
  for source in _grids(workdir):
    name = os.path.relpath(source, workdir)
    copy_grid(source, os.path.join(record, name), tile)
    written.append(name)
  return written


def complete(record: str, evals: list[str] | tuple[str, ...]) -> bool:
  """Whether a record holds a finished run: its final metrics and every named evaluation."""
  return os.path.exists(os.path.join(record, "final_metrics.json")) and all(
    os.path.exists(os.path.join(record, "eval", f"{name}.json")) for name in evals
  )


def remove(record: str) -> None:
  if os.path.isdir(record):
    shutil.rmtree(record)


def main(argv: list[str]) -> None:
  if len(argv) != 3:
    sys.exit(f"usage: {argv[0]} WORKDIR RECORD_DIR")
  written = archive(argv[1], argv[2])
  print(f"{argv[2]}: {', '.join(written)}")


if __name__ == "__main__":
  main(sys.argv)
