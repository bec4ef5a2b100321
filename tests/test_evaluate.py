"""launch.py --mode=eval: restores a tiny trained run and writes eval/<name>.json and a grid."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, load_config, smoke_config, trained_run
from PIL import Image

from colorize_jax import color, evaluate, inference
from colorize_jax.data import DataPipeline
from colorize_jax.train import resume_guard


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return trained_run(tmp_path_factory)


@pytest.mark.portability
def test_eval_writes_metrics_with_the_gray_baseline_and_a_grid(run):
  config = smoke_config()
  report = evaluate.evaluate_run(config, run)
  path = os.path.join(run, "eval", "test.json")
  with open(path) as f:
    saved = json.load(f)
  assert saved["name"] == "test" and saved["split"] == "test"
  expected = DataPipeline(config.data, global_batch_size=8, seed=0).num_examples("test")
  assert (
    saved["examples"] == expected == len(saved["per_image"])
  )  # Each example once, padding dropped.
  for key in ("psnr", "ssim", "ab_auc", "colorfulness", "delta_colorfulness", "mse", "l1"):
    assert np.isfinite(saved["metrics"][key]) and np.isfinite(saved["gray_baseline"][key]), key
    per_image = [row[key] for row in saved["per_image"]]
    assert saved["metrics"][key] == pytest.approx(np.mean(per_image), rel=1e-6), key
  assert saved["gray_baseline"]["colorfulness"] == pytest.approx(0.0, abs=1e-6)
  # Both ΔCF: the per-image mean (above) and the literature's set-level one.
  rows = saved["per_image"]
  set_level = abs(
    np.mean([r["colorfulness"] for r in rows]) - np.mean([r["colorfulness_true"] for r in rows])
  )
  assert saved["metrics"]["delta_colorfulness_set"] == pytest.approx(set_level, rel=1e-6)
  assert saved["metrics"]["delta_colorfulness_set"] <= saved["metrics"]["delta_colorfulness"] + 1e-4
  assert "delta_colorfulness_set" not in rows[0]
  assert 0.0 < saved["metrics"]["ab_auc"] <= 1.0 and 0.0 < saved["metrics"]["ssim"] <= 1.0
  # The restored weights are the run's best: its own test loss comes back.
  with open(os.path.join(run, "final_metrics.json")) as f:
    final = json.load(f)
  assert saved["step"] == final["best_step"]
  # One evaluator for training and eval: the final test scores come back, every one of them.
  for key in ("loss", "psnr", "ssim", "ab_auc", "delta_colorfulness", "l1", "mse"):
    assert saved["metrics"][key] == pytest.approx(final["test"][key], rel=1e-4), key
  assert report["metrics"] == saved["metrics"]
  grid = np.asarray(Image.open(saved["grid"]))
  assert grid.shape[1] == 3 * 32 + 2 * 2  # gray | predicted | true.
  # The predicted column is what is scored: the predicted colour on the photo's own lightness.
  lightness = lambda x: np.asarray(color.rgb_to_lab(x.astype(np.float32) / 255.0))[..., 0]  # noqa: E731
  predicted, true = grid[:32, 34:66], grid[:32, 68:100]
  assert np.abs(lightness(predicted) - lightness(true)).max() < 2.0  # L* 0-100; uint8 rounding.


def test_eval_names():
  cfg = smoke_config().eval
  assert evaluate.eval_name(cfg) == "test"
  cfg.path, cfg.checkpoint = "/data/birds/val/", "last"
  assert evaluate.eval_name(cfg) == "birds_val_last"
  cfg.path, cfg.checkpoint = "/data/kodak24", "12"
  assert evaluate.eval_name(cfg) == "kodak24_step12"
  cfg.name = "mine"
  assert evaluate.eval_name(cfg) == "mine"


def test_launch_eval_mode_on_a_folder_of_photos(run, tmp_path):
  photos = tmp_path / "photos"
  photos.mkdir()
  rng = np.random.default_rng(0)
  sizes = [(40, 60), (50, 50), (64, 33), (45, 80), (70, 41)]  # 5 images: one padded batch of 8.
  for i, (h, w) in enumerate(sizes):
    Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(photos / f"p{i}.png")
  proc = subprocess.run(
    [
      sys.executable,
      str(ROOT / "launch.py"),
      "--config=" + str(ROOT / "configs" / "unet.py") + ":smoke",
      f"--workdir={run}",
      "--mode=eval",
      f"--config.eval.path={photos}",
      "--config.eval.checkpoint=last",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=ROOT,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(run, "eval", "photos_last.json")) as f:
    saved = json.load(f)
  assert saved["examples"] == 5 and saved["checkpoint"] == "last"
  assert sorted(row["file"] for row in saved["per_image"]) == [f"p{i}.png" for i in range(5)]
  assert os.path.exists(os.path.join(run, "eval", "photos_last.png"))


def test_eval_of_a_run_without_checkpoints_names_the_problem(tmp_path):
  with pytest.raises(FileNotFoundError, match="no checkpoints"):
    evaluate.evaluate_run(smoke_config(), str(tmp_path))


def test_eval_builds_the_run_from_its_saved_config_not_the_command_line(run, caplog):
  """A 32 px run evaluated with a command line that says 64 px (e.g. the recipe's default) is
  scored at 32 px; only the evaluation fields (config.eval) come from the command line, and
  a differing learning field is named in one warning line."""
  config = smoke_config(image_size=64, color_space="lab")
  config.eval.name, config.eval.checkpoint, config.eval.num_sample_images = "cli", "last", 2
  with caplog.at_level("WARNING"):
    report = evaluate.evaluate_run(config, run)
  assert report["name"] == "cli" and report["checkpoint"] == "last"
  assert report["image_size"] == 32 and report["color_space"] == "rgb"
  grid = np.asarray(Image.open(report["grid"]))
  assert grid.shape[:2] == (2 * 32 + 2, 3 * 32 + 2 * 2)  # 2 rows at the run's 32 px.
  warnings = [r.getMessage() for r in caplog.records if "ignoring the command line" in r.message]
  assert len(warnings) == 1
  assert "data.image_size=64 (the run's: 32)" in warnings[0]
  assert "data.color_space='lab' (the run's: 'rgb')" in warnings[0]
  assert "eval." not in warnings[0]


def test_eval_takes_the_generators_test_time_mode_from_the_command_line(tmp_path, caplog):
  """gan.test_time (pix2pix's test-time mode) and its seed change how G runs at test time,
  not what was trained: --mode=eval takes them from the command line without a warning."""
  saved = load_config("pix2pix", "smoke")
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(saved)))
  cli = load_config("pix2pix", "smoke")
  cli.gan.test_time, cli.gan.test_time_seed = "paper", 3
  with caplog.at_level("WARNING"):
    config = evaluate.run_config(cli, str(tmp_path))
  assert config.gan.test_time == "paper" and config.gan.test_time_seed == 3
  assert not [r for r in caplog.records if "ignoring the command line" in r.message]


def test_eval_keeps_the_runs_temperature_unless_the_command_line_sets_one(tmp_path, caplog):
  """A run trained and reported at temperature 0.2 (configs/classification.py's cls_mix) is
  rescored at 0.2 by `launch.py --mode=eval --config=configs/classification.py`, whose file says
  0.38; only a temperature the command line names replaces it."""
  saved = load_config("classification", "smoke")
  saved.classification.temperature = 0.2
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(saved)))
  cli = load_config("classification", "smoke")
  assert cli.classification.temperature != 0.2
  with caplog.at_level("INFO"):
    kept = evaluate.run_config(cli, str(tmp_path), test_time={"eval.checkpoint"})
  assert kept.classification.temperature == 0.2
  assert "classification.temperature=0.2, as the run has it" in caplog.text
  cli.classification.temperature = 0.6
  named = evaluate.run_config(cli, str(tmp_path), test_time={"classification.temperature"})
  assert named.classification.temperature == 0.6
  assert evaluate.run_config(cli, str(tmp_path)).classification.temperature == 0.6


def test_eval_of_other_weights_than_the_runs_own_reports_says_so(run, caplog):
  """The reference study's runs report their last weights; --mode=eval's default is 'best'. A
  checkpoint other than the one final_metrics.json scored gets one line naming the step to use."""
  with open(os.path.join(run, "final_metrics.json")) as f:
    reported = json.load(f)["step"]
  steps = sorted(int(d) for d in os.listdir(os.path.join(run, "checkpoints")) if d.isdigit())
  other = next(s for s in steps if s != reported)
  for checkpoint, warned in ((str(other), True), (str(reported), False)):
    config = smoke_config()
    config.eval.checkpoint, config.eval.name = checkpoint, f"at_{checkpoint}"
    caplog.clear()
    with caplog.at_level("WARNING"):
      assert evaluate.evaluate_run(config, run)["step"] == int(checkpoint)
    said = [r.getMessage() for r in caplog.records if "end-of-run reports" in r.getMessage()]
    expected = [
      f"scoring checkpoint {other} (step {other}) of {run}, but the run's own end-of-run reports "
      f"scored step {reported}; --config.eval.checkpoint={reported} uses those weights"
    ]
    assert said == (expected if warned else [])
    # colorize, export, compare and the demo load a run through inference.from_workdir: likewise.
    caplog.clear()
    with caplog.at_level("WARNING"):
      assert inference.from_workdir(run, checkpoint).step == int(checkpoint)
    said = [r.getMessage() for r in caplog.records if "end-of-run reports" in r.getMessage()]
    expected = [
      f"using checkpoint {other} (step {other}) of {run}, but the run's own end-of-run reports "
      f"scored step {reported}; --checkpoint={reported} uses those weights"
    ]
    assert said == (expected if warned else [])
