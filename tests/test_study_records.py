"""bench/study_records.py: a finished study run's small files kept in the repository, read by
results_table and counted as done by reference_study on a machine without the workdir."""

import json
import os
import subprocess
import sys

import numpy as np
from conftest import ROOT, load_bench
from PIL import Image

study_records = load_bench("study_records")
results_table = load_bench("results_table")
reference_study = load_bench("reference_study")

TILE, GAP = 32, 2


def _write(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(data if isinstance(data, str) else json.dumps(data))


def _grid(path, rows):
  """A gray | predicted | true grid of `rows` rows, each row a different shade."""
  height, width = rows * (TILE + GAP) - GAP, 3 * (TILE + GAP) - GAP
  image = np.full((height, width, 3), 255, np.uint8)
  for r in range(rows):
    image[r * (TILE + GAP) : r * (TILE + GAP) + TILE] = 10 * r
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path)


def _workdir(root, name="unet", *, epochs=8, evals=("birds_val", "kodak24"), final=True):
  """A study workdir as training leaves it: the record's files beside checkpoints and logs."""
  workdir = os.path.join(root, name)
  _write(os.path.join(workdir, "config.json"), {"task": "regression", "data": {"image_size": TILE}})
  _write(os.path.join(workdir, "study.json"), {"recipe": name, "kind": "regression"})
  _write(os.path.join(workdir, "metrics.jsonl"), json.dumps({"step": 1, "train/loss": 0.5}) + "\n")
  if final:
    _write(os.path.join(workdir, "final_metrics.json"), {"epochs": epochs, "step": 8 * epochs})
  rows = [{"file": f"{i}.jpg", "psnr": 20.0 + i / 3, "gray/psnr": 19.0} for i in range(5)]
  for eval_name in evals + ("val",):
    _write(
      os.path.join(workdir, "eval", f"{eval_name}.json"),
      {
        "name": eval_name,
        "metrics": {"psnr": 23.0},
        "gray_baseline": {"psnr": 22.0},
        "per_image": rows,
      },
    )
    _grid(os.path.join(workdir, "eval", f"{eval_name}.png"), rows=16)
  _grid(os.path.join(workdir, "samples", "final.png"), rows=4)
  _write(os.path.join(workdir, "checkpoints", "1344", "state"), "weights")
  _write(os.path.join(workdir, "logs", "train.log"), "log")
  return workdir


def test_archive_keeps_the_small_files_and_the_grids_first_rows(tmp_path):
  workdir = _workdir(str(tmp_path / "runs"))
  record = str(tmp_path / "records" / "unet")
  written = study_records.archive(workdir, record)

  assert "final_metrics.json" in written and "eval/birds_val.json" in written
  assert not os.path.exists(os.path.join(record, "checkpoints"))
  assert not os.path.exists(os.path.join(record, "logs"))
  with open(os.path.join(record, "final_metrics.json")) as f:
    assert json.load(f)["epochs"] == 8
  grid = Image.open(os.path.join(record, "eval", "birds_val.png"))
  assert grid.size == (3 * (TILE + GAP) - GAP, study_records.GRID_ROWS * (TILE + GAP) - GAP)
  # The rows kept are the first ones, pixel for pixel.
  kept = np.asarray(grid.convert("RGB"))
  assert kept[(study_records.GRID_ROWS - 1) * (TILE + GAP), 0, 0] == 10 * (
    study_records.GRID_ROWS - 1
  )
  # Per-image rows become rounded columns; the held-out split's grid and the training sample,
  # which RESULTS.md does not show, stay behind.
  with open(os.path.join(record, "eval", "birds_val.json")) as f:
    report = json.load(f)
  assert "per_image" not in report and report["metrics"] == {"psnr": 23.0}
  assert report["per_image_columns"]["psnr"] == [20.0, 20.3333, 20.6667, 21.0, 21.3333]
  assert report["per_image_columns"]["ab_auc"] == [None] * 5
  assert os.path.exists(os.path.join(record, "eval", "val.json"))
  assert not os.path.exists(os.path.join(record, "eval", "val.png"))
  assert not os.path.exists(os.path.join(record, "samples"))
  assert study_records.complete(record, ("birds_val", "kodak24"))
  assert not study_records.complete(record, ("birds_val", "flowers"))
  # Written aside and swapped in whole: a second archive replaces the first, leaving nothing else.
  os.remove(os.path.join(workdir, "eval", "kodak24.png"))
  study_records.archive(workdir, record)
  assert not os.path.exists(os.path.join(record, "eval", "kodak24.png"))
  assert os.listdir(os.path.dirname(record)) == ["unet"]


def test_results_table_prefers_a_finished_run_wherever_it_is(tmp_path):
  live, records = str(tmp_path / "runs"), str(tmp_path / "records")
  # Trained on another machine, recorded; relaunched on this one, unfinished.
  study_records.archive(_workdir(str(tmp_path / "elsewhere")), os.path.join(records, "unet"))
  _workdir(live, "unet", final=False)
  _workdir(records, "cnn")  # Only recorded.
  runs = {r.name: r for r in results_table.load_study([live, records])}
  assert set(runs) == {"unet", "cnn"}
  assert runs["unet"].workdir == os.path.join(records, "unet")
  assert runs["unet"].final is not None

  _workdir(live, "unet")  # Finished here too: the live workdir, first in the list, wins.
  runs = {r.name: r for r in results_table.load_study([live, records])}
  assert runs["unet"].workdir == os.path.join(live, "unet")


def _study_dry_run(tmp_path, records):
  data = tmp_path / "data"
  for folder in ("birds/train", "birds/val", "kodak24"):
    (data / folder).mkdir(parents=True, exist_ok=True)
  return subprocess.run(
    [
      sys.executable,
      "bench/reference_study.py",
      "--dry_run",
      "--recipes=unet,cnn",
      f"--data={data}",
      f"--out={tmp_path / 'runs'}",
      f"--records={records}",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_reference_study_counts_a_complete_record_as_done(tmp_path):
  records = tmp_path / "records"
  _workdir(str(records), "unet", epochs=8)
  _workdir(str(records), "cnn", epochs=2)  # Recorded at a smaller budget: trains again.
  result = _study_dry_run(tmp_path, records)
  assert result.returncode == 0, result.stderr
  lines = [line for line in result.stdout.splitlines() if line.startswith("===")]
  assert "unet" in lines[0] and "recorded in" in lines[0] and "train" not in lines[0].split(":")[1]
  assert "cnn" in lines[1] and lines[1].endswith(": train")


def test_records_dir_defaults_beside_the_results():
  assert reference_study.records_dir("", "runs/reference_study_128") == os.path.join(
    reference_study.ROOT, "runs", "records", "reference_study_128"
  )
  assert reference_study.records_dir("none", "runs/x") == ""
