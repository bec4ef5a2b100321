"""outputs/rundir.py (a workdir read without JAX) and outputs/atomic.py (whole-file writes)."""

import json
import os
import subprocess
import sys

import pytest

from colorize_jax.outputs import atomic
from colorize_jax.outputs.rundir import RunDir

HEAVY = ("jax", "flax", "matplotlib", "tensorboardX")


def test_the_reader_imports_no_jax_flax_matplotlib_or_tensorboardx():
  code = (
    "import sys, colorize_jax.outputs.rundir, colorize_jax.outputs.atomic; "
    f"print([m for m in {HEAVY!r} if m in sys.modules])"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]"


def _old_run(path):
  """A workdir as an older run left it: old metric names, a killed run's half-written last line."""
  (path / "eval").mkdir(parents=True)
  (path / "config.json").write_text(json.dumps({"task": "regression", "data": {"image_size": 32}}))
  records = [
    {"step": 3, "kind": "epoch", "epoch": 1, "val/mae": 0.2, "val/auc": 0.9, "train/loss": 1.0},
    {"step": 6, "kind": "step", "train/loss": 0.5},
  ]
  lines = "".join(json.dumps(r) + "\n" for r in records) + '\n{"step": 9, "kind": "ep'
  (path / "metrics.jsonl").write_text(lines)
  report = {
    "name": "kodak24",
    "metrics": {"mae": 0.1, "auc": 0.8, "colorfulness_diff": -3.0},
    "gray_baseline": {"mae": 0.2},
    "per_image": [{"colorfulness_diff": -5.0}, {"colorfulness_diff": 1.0}],
  }
  (path / "eval" / "photos.json").write_text(json.dumps(report))
  (path / "eval" / "broken.json").write_text("{}")  # Not a report: skipped.
  return RunDir(path)


def test_old_names_are_read_in_todays_vocabulary(tmp_path):
  run = _old_run(tmp_path)
  assert run.config["data"]["image_size"] == 32
  records = run.metrics()
  assert records[0] == {
    "step": 3,
    "kind": "epoch",
    "epoch": 1,
    "val/l1": 0.2,
    "val/ab_auc": 0.9,
    "train/loss": 1.0,
  }
  assert [r["step"] for r in records] == [3, 6]  # The half-written last line is left out.
  reports = run.reports()
  assert list(reports) == ["kodak24"]  # By the name it records, not its file's.
  metrics = reports["kodak24"]["metrics"]
  # The old signed difference becomes the mean of the per-image |ΔCF| (3.0), not |mean|.
  assert metrics == {"l1": 0.1, "ab_auc": 0.8, "delta_colorfulness": 3.0}
  assert reports["kodak24"]["gray_baseline"] == {"l1": 0.2}
  assert run.report("photos") == reports["kodak24"]
  assert run.report("broken") is None


def test_missing_files_read_as_empty(tmp_path):
  run = RunDir(tmp_path / "not_there")
  assert run.config == {} and run.metrics() == [] and run.reports() == {}
  assert run.final() is None and run.report("test") is None and run.read("study.json") is None


def test_a_half_written_json_file_is_an_error_not_empty(tmp_path):
  (tmp_path / "final_metrics.json").write_text('{"step": 1')
  with pytest.raises(json.JSONDecodeError):
    RunDir(tmp_path).final()


def test_write_json_replaces_the_file_whole(tmp_path):
  path = str(tmp_path / "new" / "folder" / "final_metrics.json")
  atomic.write_json(path, {"step": 1})
  atomic.write_json(path, {"step": 2, "nested": [1, 2]})
  assert RunDir(tmp_path / "new" / "folder").final() == {"step": 2, "nested": [1, 2]}
  assert os.listdir(os.path.dirname(path)) == ["final_metrics.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
  path = str(tmp_path / "config.json")
  atomic.write_text(path, "old")
  with pytest.raises(TypeError):
    atomic.write_json(path, {"not json": object()})
  with pytest.raises(RuntimeError), atomic.replacing(path) as tmp:
    assert not tmp.endswith(".json")  # A glob of *.json never sees a file being written.
    with open(tmp, "w") as f:
      f.write("half")
    raise RuntimeError("killed")
  assert open(path).read() == "old"
  assert os.listdir(tmp_path) == ["config.json"]
