"""compare: table, validation-loss plot and side-by-side grid for two tiny runs."""

import csv
import json
import os
import pathlib

import numpy as np
import pytest
from conftest import trained_run
from PIL import Image

from colorize_jax import compare
from colorize_jax.outputs.rundir import RunDir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  # Different colour spaces (RGB and Lab outputs) must share one report and one grid.
  return [
    trained_run(tmp_path_factory),
    trained_run(tmp_path_factory, "unet_lab", color_space="lab"),
  ]


def test_compare_writes_table_plot_and_grid(runs, tmp_path):
  paths = compare.compare(runs, str(tmp_path), evaluate_missing_runs=True, num_images=2)
  labels = ["unet_rgb", "unet_lab"]

  with open(paths["csv"]) as f:
    rows = list(csv.DictReader(f))
  assert [r["run"] for r in rows] == labels
  for row, run in zip(rows, runs):
    with open(os.path.join(run, "eval", "test.json")) as f:
      report = json.load(f)
    with open(os.path.join(run, "final_metrics.json")) as f:
      final = json.load(f)
    assert float(row["test/psnr"]) == pytest.approx(report["metrics"]["psnr"])
    assert float(row["test/gray/psnr"]) == pytest.approx(report["gray_baseline"]["psnr"])
    assert int(row["parameters"]) == sum(final["params"].values())
    assert float(row["train_seconds"]) == pytest.approx(final["train_seconds"])
    assert row["model"] == "unet" and row["loss"] == "mse" and int(row["epochs"]) == final["epochs"]
  assert [r["color_space"] for r in rows] == ["rgb", "lab"]

  markdown = pathlib.Path(paths["markdown"]).read_text()
  assert "## Evaluation `test`" in markdown
  assert all(f"| {label} |" in markdown for label in labels)
  assert "gray psnr" in markdown and "Not evaluated yet" not in markdown

  assert Image.open(paths["plot"]).size[0] > 100
  grid = np.asarray(Image.open(paths["grid"]))
  assert grid.shape == (2 * 34 - 2, 4 * 34 - 2, 3)  # 2 images x (gray | rgb run | lab run | true).
  cells = [grid[:32, j * 34 : j * 34 + 32].astype(int) for j in range(4)]
  assert np.abs(cells[1] - cells[2]).mean() > 0.5  # The two runs colour differently.


def test_a_run_without_evaluation_is_reported_as_such(runs, tmp_path):
  other = tmp_path / "copy_without_eval"
  other.mkdir()
  for name in ("config.json", "metrics.jsonl"):  # An unfinished run: no final metrics, no eval.
    (other / name).write_bytes((pathlib.Path(runs[0]) / name).read_bytes())
  evals = [RunDir(runs[0]).reports(), RunDir(str(other)).reports()]
  summaries = [compare.run_summary(runs[0], "a"), compare.run_summary(str(other), "b")]
  md_path, _ = compare.write_tables(summaries, evals, str(tmp_path))
  markdown = pathlib.Path(md_path).read_text()
  assert "Not evaluated yet: b." in markdown
  assert summaries[1]["status"] == "unfinished" and summaries[1]["epochs"] == 2


def test_not_a_run_dir_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="no config.json"):
    compare.compare([str(tmp_path)], str(tmp_path / "out"))


def test_grid_photos_fall_back_to_val_when_a_run_has_no_test_split(tmp_path):
  from conftest import load_config

  folder = tmp_path / "photos"
  folder.mkdir()
  for i in range(4):
    Image.new("RGB", (40, 40), (60 * i, 20, 200 - 40 * i)).save(folder / f"{i}.png")
  config = load_config("unet", "smoke")
  config.data.source, config.data.path = "folder", str(folder)
  config.data.split_fractions = (0.5, 0.5, 0.0)
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(config.to_json_best_effort())
  images = compare.grid_images(str(run), 32, 6, None)
  assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
