"""A study run's record: the small files RESULTS.md is made from, kept in the repository.

  python bench/study_records.py runs/reference_study/unet docs/results/records/reference_study/unet

A study's workdirs (checkpoints, TensorBoard, logs) stay out of git and vanish with the machine
that trained them. What bench/results_table.py reads of a finished run is a few kilobytes:
config.json, study.json, data.json, final_metrics.json, metrics.jsonl, eval/<name>.json and the
first rows of its gray | predicted | true grids. bench/reference_study.py copies those into
docs/results/records/<study>/<recipe>/ as each recipe finishes, and counts a recipe whose record
is complete as done, so a study spread over sessions on machines that do not keep their disks
adds up in the repository rather than starting over (docs/DESIGN.md, "Study records").
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
  """The grids results_table reads: each evaluation's (and its hints grid), the last sample."""
  paths = sorted(glob.glob(os.path.join(workdir, "eval", "*.png")))
  final = os.path.join(workdir, "samples", "final.png")
  return paths + ([final] if os.path.exists(final) else [])


def copy_grid(source: str, target: str, tile: int, rows: int = GRID_ROWS) -> None:
  """The first `rows` rows of a grid of `tile`-px tiles, as a PNG."""
  image = Image.open(source).convert("RGB")
  kept = min(rows, (image.height + GRID_GAP) // (tile + GRID_GAP))
  image = image.crop((0, 0, image.width, max(1, kept * (tile + GRID_GAP) - GRID_GAP)))
  os.makedirs(os.path.dirname(target), exist_ok=True)
  partial = target + ".partial.png"
  image.save(partial, optimize=True)
  os.replace(partial, target)


def archive(workdir: str, record: str) -> list[str]:
  """Copies a workdir's record into `record` (replacing an older record of it); returns the
  relative paths it wrote. Needs the workdir's config.json."""
  if not os.path.exists(os.path.join(workdir, "config.json")):
    raise FileNotFoundError(f"{workdir}: no config.json, so not a run's workdir")
  tile = _image_size(workdir)
  written = []
  for name in FILES + tuple(
    os.path.relpath(p, workdir) for p in sorted(glob.glob(os.path.join(workdir, "eval", "*.json")))
  ):
    source = os.path.join(workdir, name)
    if os.path.exists(source):
      target = os.path.join(record, name)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.copyfile(source, target + ".partial")
      os.replace(target + ".partial", target)  # A record is whole or absent, never half-copied.
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
