"""config.evals: named evaluators scored during training, reported at its end, checked before it."""

import json

import numpy as np
import pytest
from conftest import load_config
from PIL import Image
from test_configs import MODULES, VARIANTS

from colorize_jax import evaluate, inference
from colorize_jax.evaluators import specs
from colorize_jax.outputs import writer as writer_lib
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.train import checkpoint, resume_guard, trainer


def _photos(folder, n=5):
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i, (h, w) in enumerate([(40, 60), (50, 50), (64, 33), (45, 80), (70, 41)][:n]):
    Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(folder / f"k{i}.png")
  return str(folder)


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_every_config_and_variant_has_the_val_evaluator(name, variant):
  config = MODULES[name].get_config(variant)
  evals = specs.from_config(config)
  assert {e.name: e.split for e in evals}["val"] == "val"
  config.eval.every_epochs = 3  # The older field is the same value.
  assert config.evals.val.every_epochs == 3


def test_a_folder_evaluator_scores_during_training_and_reports_at_the_end(
  load_config, tmp_path, monkeypatch
):
  kodak = _photos(tmp_path / "kodak")
  # A photo with no colour: listed, never scored (data.skip_gray_photos, on by default).
  Image.new("L", (48, 48), 90).convert("RGB").save(tmp_path / "kodak" / "gray.png")
  config = load_config("unet", "smoke")
  config.num_epochs = 2
  specs.add_folders(config, [f"kodak={kodak}"])
  with config.evals.unlocked():  # Only at the end, only PSNR.
    config.evals.kodak_end = {"path": kodak, "every_epochs": 0, "metrics": ("psnr",)}
  tensorboard = []
  add_scalar = writer_lib.SummaryWriter.add_scalar

  def recorded(self, name, value, step, *args, **kwargs):
    tensorboard.append((name, step))
    return add_scalar(self, name, value, step, *args, **kwargs)

  monkeypatch.setattr(writer_lib.SummaryWriter, "add_scalar", recorded)
  run = tmp_path / "run"
  result = trainer.train_and_evaluate(config, str(run))

  epochs = [r for r in read_metrics(str(run)) if r["kind"] == "epoch"]
  assert len(epochs) == 2 and all(np.isfinite(r["kodak/psnr"]) for r in epochs)
  assert all(r["kodak/examples"] == 5 and "val/psnr" in r for r in epochs)
  # The gray baseline once per run and evaluator.
  assert "kodak/gray/psnr" in epochs[0] and "kodak/gray/psnr" not in epochs[1]
  assert "val/gray/psnr" in epochs[0] and "val/gray/psnr" not in epochs[1]
  assert not any(k.startswith("kodak_end/") for r in epochs for k in r)
  assert all(r["time/validation_seconds"] >= r["time/kodak_seconds"] > 0 for r in epochs)
  assert {("kodak/psnr", r["step"]) for r in epochs} <= set(tensorboard)
  assert ("final/kodak/psnr", result["step"]) in tensorboard

  final = json.loads((run / "final_metrics.json").read_text())
  assert set(final) >= {"val", "test", "kodak", "kodak_end"}
  assert final["kodak"]["examples"] == 5 and set(final["kodak_end"]) == {"psnr", "examples"}
  report = json.loads((run / "eval" / "kodak.json").read_text())
  assert report["name"] == "kodak" and report["path"] == kodak and report["examples"] == 5
  assert report["left_out"] == 1  # gray.png
  assert report["checkpoint"] == "best" and report["step"] == result["best_step"]
  assert sorted(row["file"] for row in report["per_image"]) == [f"k{i}.png" for i in range(5)]
  assert report["metrics"]["psnr"] == pytest.approx(final["kodak"]["psnr"])
  assert report["gray_baseline"]["colorfulness"] == pytest.approx(0.0, abs=1e-6)
  assert (run / "eval" / "kodak.png").exists() and (run / "eval" / "val.json").exists()
  assert json.loads((run / "config.json").read_text())["evals"]["kodak"]["path"] == kodak

  # --mode=eval's evaluator is the same: the same checkpoint scores the same.
  eval_config = inference.workdir_config(str(run))
  folder_specs = specs.add_folders(eval_config, [f"kodak_again={kodak}"])
  again = evaluate.evaluate_run(eval_config, str(run), folder_specs)
  assert again["metrics"] == pytest.approx(report["metrics"], rel=1e-5)
  assert (run / "eval" / "kodak_again.json").exists()
  # A folder of gray photos only: one error naming why nothing was scored.
  (tmp_path / "grays").mkdir()
  Image.new("L", (40, 40), 50).save(tmp_path / "grays" / "g.png")
  grays = specs.add_folders(eval_config, [f"grays={tmp_path / 'grays'}"])
  with pytest.raises(ValueError, match=r"each failed to decode or has no colour"):
    evaluate.evaluate_run(eval_config, str(run), grays)


def test_a_missing_eval_folder_fails_before_training_naming_the_field(load_config, tmp_path):
  config = load_config("unet", "smoke")
  with config.evals.unlocked():
    config.evals.kodak = {"path": str(tmp_path / "nowhere")}
  with pytest.raises(ValueError, match=r"evals\.kodak\.path='.*nowhere' is not a folder"):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
  with pytest.raises(ValueError, match=r"evals\.kodak\.path='.*nowhere' is not a folder"):
    specs.add_folders(load_config("unet", "smoke"), [f"kodak={tmp_path / 'nowhere'}"])


@pytest.mark.parametrize(
  "entry, message",
  [
    ({"split": "valid"}, r"evals\.x\.split='valid' is not a split; valid: train, val, test"),
    ({"every_epochs": -1}, r"evals\.x\.every_epochs=-1 must be an integer >= 0"),
    ({"max_example": 3}, r"evals\.x: unknown field\(s\) max_example; valid: split, path"),
  ],
)
def test_bad_spec_values_are_named(entry, message):
  with pytest.raises(ValueError, match=message):
    specs.from_entry("x", entry)


def test_eval_folder_flag(tmp_path):
  folder = _photos(tmp_path / "k", n=1)
  name, entry = specs.parse_folder_flag(f"kodak24={folder},every_epochs=5,max_examples=3")
  assert (name, entry) == ("kodak24", {"path": folder, "every_epochs": 5, "max_examples": 3})
  for bad in ("kodak24", f"={folder}", f"k={folder},every=2"):
    with pytest.raises(ValueError, match="--eval_folder="):
      specs.parse_folder_flag(bad)
  config = load_config("unet", "smoke")
  [spec] = specs.add_folders(config, [f"kodak24={folder}"])
  assert spec.path == folder and {s.name for s in specs.from_config(config)} == {"val", "kodak24"}
  assert spec.hint_counts == () and spec.every_epochs == 1


def test_a_hints_recipes_folder_evaluator_scores_its_curve_at_the_end(tmp_path):
  """configs/hints.py's hint-count curve reaches --eval_folder evaluators (birds/val in the
  reference study), once at the end unless the flag asks for a cadence."""
  folder = _photos(tmp_path / "k", n=1)
  config = load_config("hints", "smoke")
  end, every = specs.add_folders(config, [f"k={folder}", f"k2={folder},every_epochs=2"])
  assert end.hint_counts == every.hint_counts == (0, 10)
  assert end.every_epochs == 0 and every.every_epochs == 2


def test_the_monitor_may_name_any_evaluator_scored_during_training(tmp_path):
  evals = [
    specs.EvalSpec("val"),
    specs.EvalSpec("kodak", path=str(tmp_path)),
    specs.EvalSpec("end", path=str(tmp_path), every_epochs=0),
    specs.EvalSpec("some", split="test", metrics=("ssim",)),
  ]
  names = ["colorfulness", "loss", "psnr", "ssim"]
  for monitor in ("val/loss", "kodak/psnr", "some/ssim"):
    assert specs.check_monitor(monitor, evals, names) == monitor
  for monitor in ("end/psnr", "kodak/colorfulness", "some/psnr", "psnr"):
    with pytest.raises(ValueError, match=rf"early_stopping.monitor '{monitor}'.*valid: val/loss"):
      specs.check_monitor(monitor, evals, names)


def test_adding_or_removing_an_evaluator_is_not_a_learning_change(load_config, tmp_path):
  config = load_config("unet", "smoke")
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(config)))
  specs.add_folders(config, [f"kodak={_photos(tmp_path / 'k', n=1)}"])
  config.evals.val.every_epochs = 2
  resume = resume_guard.check_resume(str(tmp_path), config, 3)
  assert {k for k, _, _ in resume.changes} >= {"evals.kodak.path", "evals.val.every_epochs"}
  assert not resume.restart_best
  resume.record(str(tmp_path))
  resume = resume_guard.check_resume(str(tmp_path), load_config("unet", "smoke"), 3)
  assert "evals.kodak.path" in {k for k, _, _ in resume.changes}


def test_runs_from_before_evals_load_them_from_the_defaults(load_config, tmp_path):
  saved = resume_guard.resolved_json(load_config("unet", "smoke"))
  del saved["evals"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config = inference.workdir_config(str(tmp_path))
  assert [s.name for s in specs.from_config(config)] == ["val"]
  old = checkpoint.Progress.from_json({"epoch": 2, "gray_recorded": True})
  assert old.gray_recorded == ["val"] and checkpoint.Progress().gray_recorded == []
