"""bench/results_table.py (RESULTS.md from the study's workdirs) and the study's resume rules."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, load_bench, load_config, parse_config

from colorize_jax import evaluate
from colorize_jax.outputs import metric_names
from colorize_jax.train import trainer

results_table = load_bench("results_table")
study_claims = load_bench("study_claims")
study_runs = load_bench("study_runs")
results_markdown = load_bench("results_markdown")
reference_study = load_bench("reference_study")
results_goal = load_bench("results_goal")


def _write(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(data if isinstance(data, str) else json.dumps(data))


def _fake_run(
  study,
  name,
  task,
  *,
  metrics,
  gray,
  old_names=False,
  per_image=None,
  epochs=3,
  report_extra=None,
  held_out=None,
  data_path="birds/train",
):
  """A workdir as the study leaves it, without training: config, final metrics (`held_out`: its
  `val` split's), one evaluation."""
  workdir = os.path.join(study, name)
  _write(
    os.path.join(workdir, "config.json"),
    {
      "task": task,
      "batch_size": 16,
      "data": {"image_size": 64, "path": data_path},
      "model": {"name": name},
    },
  )
  final = {"step": 10 * epochs, "epochs": epochs, "params": {"model": 1000}, "train_seconds": 60.0}
  _write(
    os.path.join(workdir, "final_metrics.json"), final | ({"val": held_out} if held_out else {})
  )
  report = {
    "name": "birds_val",
    "metrics": metrics,
    "gray_baseline": gray,
    "per_image": per_image or [],
    **(report_extra or {}),
  }
  _write(os.path.join(workdir, "eval", "birds_val.json"), report)
  records = [
    {
      "step": 10 * e,
      "kind": "epoch",
      "epoch": e,
      "train/loss": 1.0 / e,
      ("val/mae" if old_names else "val/l1"): 0.5 / e,
    }
    for e in range(1, epochs + 1)
  ]
  _write(os.path.join(workdir, "metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
  return workdir


def _new(mse, cf, dcf, auc):
  return {
    "psnr": 22.0,
    "ssim": 0.9,
    "mse": mse,
    "l1": mse * 3,
    "colorfulness": cf,
    "delta_colorfulness": dcf,
    "ab_auc": auc,
  }


GRAY = {
  "psnr": 21.0,
  "ssim": 0.88,
  "mse": 0.01,
  "l1": 0.05,
  "colorfulness": 0.0,
  "delta_colorfulness": 40.0,
  "ab_auc": 0.8,
}


def test_old_metric_names_read_as_the_agreed_vocabulary():
  assert metric_names.rename_old("val/mae") == "val/l1"
  assert metric_names.rename_old("gray/auc") == "gray/ab_auc"
  assert metric_names.rename_old("task/loss/mse") == "loss/mse"
  assert metric_names.rename_old("train/g/l1") == "train/g/l1"
  # An old signed colorfulness_diff becomes the mean |ΔCF| of the per-image values, not |mean|.
  per_image = [
    {"colorfulness_diff": -10.0, "gray/colorfulness_diff": -30.0},
    {"colorfulness_diff": 6.0, "gray/colorfulness_diff": -50.0},
  ]
  model, gray = study_runs.read_eval(
    {
      "metrics": {
        "mae": 0.1,
        "auc": 0.9,
        "colorfulness_diff": -2.0,
        "colorfulness_true": 40.0,
        "task/loss": 0.3,
      },
      "gray_baseline": {"mae": 0.2, "auc": 0.85, "colorfulness_diff": -40.0},
      "per_image": per_image,
    }
  )
  assert model == {"l1": 0.1, "ab_auc": 0.9, "delta_colorfulness": 8.0, "loss": 0.3}
  assert gray == {
    "l1": 0.2,
    "ab_auc": 0.85,
    "delta_colorfulness": 40.0,
    "photos_colorfulness": 40.0,
    # The photos' colourfulness from the gray rows' |ΔCF| (30, 50): 10 from their median.
    "constant_dcf": 10.0,
  }


def test_claims_are_computed_from_the_numbers(tmp_path):
  study = str(tmp_path / "study")
  _fake_run(study, "unet", "regression", metrics=_new(0.004, 20.0, 22.0, 0.90), gray=GRAY)
  # Old names: the MSE is read all the same, and 'mae' and 'auc' are renamed.
  _fake_run(
    study,
    "cnn",
    "regression",
    old_names=True,
    gray=GRAY,
    metrics={
      "mse": 0.006,
      "mae": 0.02,
      "colorfulness": 15.0,
      "auc": 0.88,
      "colorfulness_diff": -25.0,
    },
    per_image=[{"colorfulness_diff": -25.0, "gray/colorfulness_diff": -40.0}],
  )
  _fake_run(
    study, "cgan_unet_patchgan", "adversarial", metrics=_new(0.02, 35.0, 12.0, 0.92), gray=GRAY
  )
  _fake_run(study, "cgan", "adversarial", metrics=_new(0.05, 60.0, 25.0, 0.7), gray=GRAY)
  _fake_run(study, "cgan_l1", "adversarial", metrics=_new(0.03, 44.0, 10.0, 0.85), gray=GRAY)
  # Classification: more colourful than the U-Net's MSE regression (lower ΔCF) but a lower AuC.
  _fake_run(
    study, "classification", "classification", metrics=_new(0.006, 30.0, 15.0, 0.88), gray=GRAY
  )
  runs = {r.name: r for r in results_table.load_study(study)}

  assert runs["cnn"].metric("birds_val", "delta_colorfulness") == 25.0
  verdicts = [claim(runs).verdict for claim in study_claims.CLAIMS]
  assert verdicts == ["holds", "holds", "holds", "partly holds", "not measured"]
  claim = study_claims.claim_classification_beats_regression(runs)
  assert "ΔCF classification 15.00 against unet 22.00 (-7.00)" in claim.evidence

  # Ablations of the U-Net (a lower MSE, or MSE in Lab ab/110) are not the studies' models.
  cnn = runs["cnn"]
  lowest = {"birds_val": ({**cnn.evals["birds_val"][0], "mse": 0.001}, GRAY)}
  lab = {"task": "regression", "data": {"color_space": "lab"}}
  extra = {
    "unet_cosine": dataclasses.replace(cnn, study={"ablation_of": "unet"}, evals=lowest),
    "unet_lab": dataclasses.replace(cnn, config=lab, evals=lowest),
  }
  assert study_claims.claim_unet_lowest_mse(runs | extra).verdict == "holds"
  # The same runs with the CNN's MSE below the U-Net's: claim (i) flips, and says why.
  runs["cnn"].evals["birds_val"][0]["mse"] = 0.003
  claim = study_claims.claim_unet_lowest_mse(runs)
  assert claim.verdict == "does not hold" and "cnn 0.0030, unet 0.0040" in claim.evidence
  # L1 that overshoots below the photos' colourfulness (40) removes the oversaturation only.
  runs["cgan_l1"].evals["birds_val"][0]["colorfulness"] = 15.0
  claim = study_claims.claim_l1_fixes_oversaturation(runs)
  assert claim.verdict == "partly holds" and "cgan 60.0 (+20.0), cgan_l1 15.0 (-25.0)" in (
    claim.evidence
  )
  runs["cgan_l1"].evals["birds_val"][0]["colorfulness"] = 70.0
  assert study_claims.claim_l1_fixes_oversaturation(runs).verdict == "does not hold"
  # A plain cGAN that is not oversaturated leaves nothing for L1 to fix.
  runs["cgan"].evals["birds_val"][0]["colorfulness"] = 30.0
  assert study_claims.claim_l1_fixes_oversaturation(runs).verdict == "does not hold"
  # Without the PatchGAN run there is no verdict to give.
  del runs["cgan_unet_patchgan"]
  claim = study_claims.claim_patchgan_colours_better(runs)
  assert claim.verdict == "not measured"
  assert claim.evidence == "missing: cgan_unet_patchgan not run in this study."
  # Claim (i) with the U-Net as the only regression run: nothing to rank it against.
  alone = {n: r for n, r in runs.items() if n != "cnn"}
  claim = study_claims.claim_unet_lowest_mse(alone)
  assert claim.verdict == "not measured"
  assert claim.evidence.endswith("this study has unet.")


def test_fid_column_gives_the_gray_baseline_and_the_number_of_images(tmp_path):
  study = str(tmp_path / "study")
  _fake_run(
    study,
    "unet",
    "regression",
    metrics=_new(0.004, 20.0, 22.0, 0.90) | {"fid": 41.23},
    gray=GRAY | {"fid": 80.06},
    report_extra={"fid": {"examples": 1000, "full_rank_covariance": False}},
  )
  _fake_run(study, "cnn", "regression", metrics=_new(0.006, 15.0, 25.0, 0.88), gray=GRAY)
  runs = results_table.load_study(study)
  assert {r.name: results_table.fid_cell(r, "birds_val") for r in runs} == {
    "unet": "41.2 (80.1; 1,000)",
    "cnn": "–",
  }
  text = results_table.render(runs, str(tmp_path / "RESULTS.md"), str(tmp_path / "assets"))
  assert f"| {results_table.FID_HEADING} |" in text and "| 41.2 (80.1; 1,000) |" in text


def _studied_config(recipe):
  """A study recipe's config as its train command (64 px, batch 16, 8 epochs) makes it."""
  argv = reference_study.commands(
    recipe, data="data", out="runs", image_size=64, batch_size=16, epochs=8
  )["train"]
  config, *overrides = [a for a in argv if a.startswith("--config")]
  return parse_config(config.split("=", 1)[1], *overrides)


@pytest.mark.parametrize(
  "recipe", reference_study.RECIPES + reference_study.ABLATIONS, ids=lambda r: r.name
)
def test_every_study_recipe_and_ablation_loads_with_its_overrides(recipe):
  """Each recipe's --config overrides, as the study passes them, name fields its config has
  and give a network that builds at the study's size (an ablation naming a field the config
  lacks failed only when its turn came, after hours of the study)."""
  import jax  # pylint: disable=g-import-not-at-top

  from colorize_jax import color, models  # pylint: disable=g-import-not-at-top

  c = _studied_config(recipe)
  assert c.data.image_size == 64 and c.num_epochs == 8
  # The photos of the study's first runs: the old cut, gray photos kept.
  assert (c.data.split_method, c.data.skip_gray_photos) == ("rank", False)
  model = models.build(c.model, out_channels=color.get_color_space(c.data).target_channels)
  inputs = jax.numpy.zeros((1, 64, 64, 1))
  jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))


def test_reference_study_resumes_and_skips_what_is_done(tmp_path):
  workdir = str(tmp_path / "unet")
  assert not reference_study.trained(workdir, 4)
  _write(os.path.join(workdir, "final_metrics.json"), {"epochs": 2})
  assert not reference_study.trained(workdir, 4)  # A bigger budget trains on.
  _write(os.path.join(workdir, "final_metrics.json"), {"epochs": 4})
  assert reference_study.trained(workdir, 4)

  _write(os.path.join(workdir, "checkpoints", "100", "state"), "x")
  _write(os.path.join(workdir, "eval", "kodak24.json"), "{}")
  assert reference_study.evaluated(workdir, "kodak24")
  assert not reference_study.evaluated(workdir, "birds_val")
  later = time.time() + 10
  os.utime(os.path.join(workdir, "checkpoints", "100", "state"), (later, later))
  # The checkpoint is newer: evaluate again.
  assert not reference_study.evaluated(workdir, "kodak24")

  stabilised = reference_study.BY_NAME["pix2pix_fm_sn"]
  assert stabilised.missing() == ""
  cmds = reference_study.commands(
    stabilised, data="../shared/data", out="runs/s", image_size=64, batch_size=16, epochs=4
  )
  assert "--config=configs/pix2pix_fm_sn.py" in cmds["train"]
  assert "--config.model.num_downs=6" in cmds["train"]  # The pix2pix row's network at 64 px.
  assert reference_study.BY_NAME["classification"].missing() == ""
  cmds = reference_study.commands(
    reference_study.BY_NAME["pix2pix"],
    data="../shared/data",
    out="runs/s",
    image_size=64,
    batch_size=16,
    epochs=4,
  )
  assert "--config.model.num_downs=6" in cmds["train"]  # unet_128's depth at 64 px.
  # No evaluation subprocesses: the run scores both folders itself (config.evals).
  assert list(cmds) == ["train"]
  assert cmds["train"][-2:] == [
    "--eval_folder=birds_val=../shared/data/birds/val",
    "--eval_folder=kodak24=../shared/data/kodak24",
  ]


@pytest.fixture(name="smoke_study", scope="module")
def smoke_study_fixture(tmp_path_factory):
  """Two tiny regression runs (unet and cnn :smoke), each evaluated as 'birds_val' (test split)."""
  study = tmp_path_factory.mktemp("smoke_study")
  for name in ("unet", "cnn"):
    config = load_config(name, "smoke")
    config.num_epochs = 1
    workdir = str(study / name)
    trainer.train_and_evaluate(config, workdir)
    config.eval.name = "birds_val"
    config.eval.checkpoint = "last"
    evaluate.evaluate_run(config, workdir)
  return study


def test_the_header_names_the_flags_that_made_the_table(smoke_study, tmp_path):
  output = tmp_path / "RESULTS.md"
  size_study = tmp_path / "no_128px_study"  # Not the default, so the header names it.
  done = subprocess.run(
    [sys.executable, "bench/results_table.py", f"--study={smoke_study}"]
    + [f"--size_study={size_study}", f"--output={output}", f"--assets={tmp_path / 'png'}"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  header = output.read_text().splitlines()[2]
  assert header.startswith(
    f"Generated by `python bench/results_table.py --study={smoke_study} "
    f"--size_study={size_study}` on "
  )
  assert "--budget_study" not in header  # Left at its default.


def test_results_md_from_two_smoke_runs(smoke_study, tmp_path):
  output, assets = str(tmp_path / "RESULTS.md"), str(tmp_path / "docs" / "results")
  runs = results_table.load_study(str(smoke_study))
  flags_text = f"--study={smoke_study}"
  text = results_table.render(runs, output, assets, command_flags=flags_text)
  assert f"Generated by `python bench/results_table.py {flags_text}` on " in text

  for name in ("unet", "cnn"):
    assert f"| {name} | regression |" in text  # Budget row.
    assert f"### {name}" in text
    assert f"![{name}: gray | predicted | true](docs/results/{name}_grid.png)" in text
    assert os.path.getsize(os.path.join(assets, f"{name}_grid.png")) < 200_000
    assert os.path.exists(os.path.join(assets, f"{name}_curves.png"))
  mse = {r.name: r.metric("birds_val", "mse") for r in runs}
  expected = "holds" if mse["unet"] < mse["cnn"] else "does not hold"
  claim = "**(i) The U-Net has the lowest validation MSE of the regression models.**"
  assert f"{claim} Verdict: **{expected}**" in text
  assert "Verdict: **not measured**" in text  # No GANs in this study.


def test_a_rewrite_keeps_the_hand_written_measured_elsewhere_section(tmp_path):
  path = tmp_path / "RESULTS.md"
  assert results_table.kept_sections(str(path)) == ""
  path.write_text("# Reference results\n\nold table\n\n## Measured elsewhere\n\n| a | b |\n")
  kept = results_table.kept_sections(str(path))
  assert kept.strip().startswith("## Measured elsewhere") and "| a | b |" in kept
  assert "old table" not in kept


def test_an_ablation_that_mixes_in_flowers_reads_both_folders_at_the_birds_budget(tmp_path):
  """unet_flowers (issue 22): one data.path of links to birds/train and flowers/train, capped
  at the birds-only step budget; done once its steps (not its epochs) are reached."""
  from colorize_jax.data.sources.folder import list_images

  data = tmp_path / "data"
  for folder, count in (("birds/train/a", 40), ("flowers/train/b", 10)):
    os.makedirs(data / folder)
    for i in range(count):
      (data / folder / f"{i}.jpg").write_bytes(b"x")
  recipe = reference_study.BY_NAME["unet_flowers"]
  out = str(tmp_path / "study")
  cmds = reference_study.commands(
    recipe, data=str(data), out=out, image_size=64, batch_size=4, epochs=2
  )
  train = cmds["train"]
  path = [a for a in train if a.startswith("--config.data.path=")][-1].split("=", 1)[1]
  assert len(list_images(path)) == 50
  assert [a for a in train if a.startswith("--config.max_train_steps=")][-1].endswith("=18")
  _write(os.path.join(out, "unet_flowers", "final_metrics.json"), {"epochs": 1, "step": 18})
  assert reference_study.trained(os.path.join(out, "unet_flowers"), 2, max_steps=18)
  assert not reference_study.trained(os.path.join(out, "unet_flowers"), 2)
  assert set(reference_study.ABLATION_NAMES.split(",")) <= set(reference_study.BY_NAME)


def test_results_show_the_hint_curve_ablations_and_the_goal_with_verdicts(tmp_path):
  """Issue 20's hints section (curve beside the automatic U-Net and gray, its three goals) and
  issue 22's ablation table and goal check, from fake workdirs."""
  study = str(tmp_path / "study")
  base_held_out = {"psnr": 22.0, "ab_auc": 0.85, "delta_colorfulness": 25.0}
  _fake_run(
    study,
    "unet",
    "regression",
    metrics=_new(0.008, 20.0, 25.0, 0.85),
    gray=GRAY,
    held_out=base_held_out,
  )
  curve = {"hints_0/psnr": 21.8, "hints_10/psnr": 25.1, "hints_100/psnr": 28.0}
  curve |= {"hints_0/delta_colorfulness": 20.0, "hints_10/delta_colorfulness": 12.0}
  curve |= {"hints_100/delta_colorfulness": 6.0}
  _fake_run(study, "hints", "hints", metrics=_new(0.008, 20.0, 20.0, 0.85) | curve, gray=GRAY)
  good = _new(0.006, 38.0, 8.0, 0.82) | {"psnr": 21.6}
  # Held-out deltas against unet: ΔCF -5 (past its margin of 1), PSNR -0.1 (within 0.2): helps.
  helps = {"psnr": 21.9, "ab_auc": 0.851, "delta_colorfulness": 20.0}
  _fake_run(study, "unet_ema", "regression", metrics=good, gray=GRAY, held_out=helps)
  mixed = {"psnr": 22.5, "ab_auc": 0.85, "delta_colorfulness": 27.0}  # PSNR +0.5, ΔCF +2.
  _fake_run(study, "unet_wide", "regression", metrics=good, gray=GRAY, held_out=mixed)
  other = dict(base_held_out, psnr=30.0)  # Scored on other photos: not comparable.
  kwargs = dict(metrics=good, gray=GRAY, held_out=other, data_path="_data/unet_flowers")
  _fake_run(study, "unet_flowers", "regression", **kwargs)
  for name in ("unet_ema", "unet_wide", "unet_flowers"):
    with open(os.path.join(study, name, "study.json"), "w") as f:
      json.dump({"recipe": name, "ablation_of": "unet", "order": 20}, f)

  runs = results_table.load_study(study)
  text = results_table.render(runs, str(tmp_path / "R.md"), str(tmp_path / "assets"))
  assert "| hints, 10 hints | 25.10 |" in text and "| unet (automatic) | 22.00 |" in text
  assert "10 hints +3.30 dB over 0 hints (goal +3): **met**." in text
  assert "0 hints -0.20 dB from the automatic U-Net's 22.00 dB (goal within 0.5): **met**." in text
  assert "ΔCF falls at every step, 20.0 at 0 hints to 6.0 at 100" in text
  # The ablation reads against its base and is the one run meeting the goal.
  assert "| unet_ema | unet | 21.60 (-0.4) |" in text
  assert "- unet_ema: PSNR +0.60 dB, AuC +0.020 over gray, ΔCF 8.0 — **meets the goal**." in text
  assert "Recipes that meet the goal: unet_ema, unet_flowers, unet_wide." in text
  # Kept or not is judged on the held-out split, against the base, at the stated margins.
  assert "| unet_ema | unet | -0.10 | +0.001 | -5.0 | **helps** (ΔCF) |" in text
  assert "| unet_wide | unet | +0.50 | +0.000 | +2.0 | mixed (better PSNR dB; worse ΔCF) |" in text
  assert "| unet_flowers | unet | – | – | – | not comparable: other held-out photos |" in text
  assert "Changes that measurably help: unet_ema." in text
  birds = text.split("## birds/val")[1].split("##")[0]
  assert "| unet_ema |" not in birds  # ablations have their own table


def test_reproduce_commands_are_relative_to_the_checkout_not_the_study_machine():
  """The study records absolute paths; RESULTS.md shows them as run from another checkout."""
  recorded = (
    "python launch.py --config=configs/unet.py --workdir=/w/main/runs/study/unet "
    "--config.data.path=/w/shared/data/birds/train '--config.data.split_fractions=(0.9,0.1,0.0)' "
    "--eval_folder=kodak24=/w/shared/data/kodak24 --config.x=/opt/far/away"
  )
  shown = results_table.portable_command(recorded, root="/w/main")
  assert shown == (
    "python launch.py --config=configs/unet.py --workdir=runs/study/unet "
    "--config.data.path=../shared/data/birds/train '--config.data.split_fractions=(0.9,0.1,0.0)' "
    "--eval_folder=kodak24=../shared/data/kodak24 --config.x=/opt/far/away"
  )


def test_results_show_a_classification_runs_temperature_sweep(tmp_path):
  """bench/temperature_sweep.py's reports (eval/<set>_t<T>.json): one table on the held-out
  split and one on birds/val, gains against gray and the goal per temperature."""
  study = str(tmp_path / "study")
  workdir = _fake_run(
    study, "classification", "classification", metrics=_new(0.02, 40.0, 15.0, 0.87), gray=GRAY
  )
  held_out_gray = {"psnr": 22.0, "ab_auc": 0.88, "delta_colorfulness": 40.0}
  for set_name in ("val", "birds_val"):
    for temperature, (psnr, auc, dcf) in {0.38: (21.0, 0.87, 9.0), 1.0: (22.6, 0.9, 8.0)}.items():
      report = {
        "name": f"{set_name}_t{temperature:g}",
        "metrics": {"psnr": psnr, "ab_auc": auc, "delta_colorfulness": dcf, "colorfulness": 30},
        "gray_baseline": held_out_gray if set_name == "val" else GRAY,
        "test_time": {"classification.temperature": temperature},
      }
      _write(os.path.join(workdir, "eval", f"{report['name']}.json"), report)
  runs = results_table.load_study(study)
  text = results_table.render(runs, str(tmp_path / "R.md"), str(tmp_path / "assets"))
  section = text.split("## Decoding temperature of the classification head")[1].split("\n## ")[0]
  held_out = section.split("**classification on held-out 10% of birds/train**")[1]
  held_out = held_out.split("**classification on birds/val**")[0]
  assert "| 0.38 | -1.00 | -0.010 | 9.0 | 30.0 | no |" in held_out
  assert "| 1 | +0.60 | +0.020 | 8.0 | 30.0 | yes |" in held_out
  assert "**classification on birds/val**" in section
  # The sweep's reports are not rows of the main tables.
  assert "classification_t" not in text.split("## Decoding temperature")[0]


def test_the_recommended_recipe_is_the_nearest_to_the_goal_on_the_held_out_split(tmp_path):
  """Ranked by the summed shortfall on held-out val against its own gray input; birds/val's
  numbers play no part, and a run on other photos is left out."""
  study = str(tmp_path / "study")
  val_gray = {"psnr": 23.0, "ab_auc": 0.89, "delta_colorfulness": 40.0}
  held = {
    # PSNR short by 0.3 dB of +0.5 (0.6), AuC met (0), ΔCF 22 (1.2): 1.8.
    "unet": {"psnr": 23.2, "ab_auc": 0.90, "delta_colorfulness": 22.0},
    # PSNR short by 2.5 (5.0): far, though its birds/val numbers below are the best.
    "classification": {"psnr": 21.0, "ab_auc": 0.90, "delta_colorfulness": 10.0},
    # Nearest (0.2 + 0.5 + 0.5 = 1.2) but trained with flowers: left out.
    "unet_flowers": {"psnr": 23.4, "ab_auc": 0.895, "delta_colorfulness": 15.0},
    # As near, but its held-out split left the gray photos out (data.skip_gray_photos).
    "unet_gray": {"psnr": 23.4, "ab_auc": 0.895, "delta_colorfulness": 15.0},
  }
  for name, values in held.items():
    workdir = _fake_run(
      study,
      name,
      "regression",
      metrics=_new(0.006, 40.0, 5.0 if name == "classification" else 25.0, 0.95),
      gray=GRAY,
      held_out=values,
      data_path="_data/unet_flowers" if name == "unet_flowers" else "birds/train",
    )
    report = {"name": "val", "metrics": values, "gray_baseline": val_gray}
    _write(os.path.join(workdir, "eval", "val.json"), report)
  for name in ("unet_flowers", "unet_gray"):
    with open(os.path.join(study, name, "study.json"), "w") as f:
      json.dump({"recipe": name, "ablation_of": "unet"}, f)
  config_path = os.path.join(study, "unet_gray", "config.json")
  with open(config_path) as f:
    config = json.load(f)
  config["data"]["skip_gray_photos"] = True
  _write(config_path, config)
  runs = results_table.load_study(study)
  by_name = {r.name: r for r in runs}
  verdict, _ = results_goal.held_out_verdict(by_name["unet_gray"], by_name["unet"])
  assert verdict == "not comparable: other held-out photos"
  text = results_table.render(runs, str(tmp_path / "R.md"), str(tmp_path / "assets"))
  section = text.split("### Recommended recipe")[1].split("\n## ")[0]
  assert "| unet | 1.80 | 0.60 | 0.00 | 1.20 |" in section
  assert "| classification | 5.00 | 5.00 | 0.00 | 0.00 |" in section
  assert "unet_flowers" not in section and "unet_gray" not in section
  assert "Recommended: **unet**" in section


def _epochs(workdir, rows):
  """Replaces a fake run's metrics.jsonl by per-epoch held-out scores (gray logged once)."""
  records = []
  for epoch, (psnr, auc, dcf) in enumerate(rows, start=1):
    record = {"step": 10 * epoch, "kind": "epoch", "epoch": epoch, "val/psnr": psnr}
    record |= {"val/ab_auc": auc, "val/delta_colorfulness": dcf}
    if epoch == 1:
      record |= {"val/gray/psnr": 23.0, "val/gray/ab_auc": 0.89}
    records.append(record)
  _write(os.path.join(workdir, "metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in records))


def _with_config(workdir, **changes):
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    config = json.load(f)
  for key, value in changes.items():
    config[key] = config.get(key, {}) | value if isinstance(value, dict) else value
  _write(path, config)


def test_results_show_the_goal_by_training_budget(tmp_path):
  """The recommended run's epochs and a longer run's, as budgets; a decaying schedule's are not."""
  study, long_study = str(tmp_path / "study"), str(tmp_path / "long")
  held = {"psnr": 23.3, "ab_auc": 0.90, "delta_colorfulness": 20.0}
  unet = _fake_run(
    study, "unet", "regression", metrics=_new(0.006, 30, 20, 0.9), gray=GRAY, held_out=held
  )
  _write(
    os.path.join(unet, "eval", "val.json"),
    {"name": "val", "metrics": held, "gray_baseline": {"psnr": 23.0, "ab_auc": 0.89}},
  )
  _epochs(unet, [(23.1, 0.895, 25.0), (23.3, 0.90, 20.0)])
  long_run = _fake_run(
    long_study, "unet", "regression", metrics=_new(0.006, 30, 9, 0.9), gray=GRAY, epochs=4
  )
  _epochs(long_run, [(23.1, 0.895, 25.0), (23.3, 0.90, 20.0), (23.6, 0.901, 9.9), (23.7, 0.9, 9)])
  cosine = _fake_run(
    long_study, "unet_cosine", "regression", metrics=_new(0.006, 30, 9, 0.9), gray=GRAY
  )
  _with_config(cosine, optimizer={"schedule": "cosine"})

  def render() -> str:
    return results_table.render(
      results_table.load_study(study),
      str(tmp_path / "R.md"),
      str(tmp_path / "assets"),
      budget_runs=results_table.load_study(long_study),
    )

  text = render()
  section = text.split("## By training budget")[1].split("\n## ")[0]
  reference, longer = section.split("**unet** (longer budget")
  assert "**unet** (reference study, 64 px, batch 16): does not meet the goal in 2 epochs" in (
    reference
  )
  assert "| 2 | 320 | +0.30 | +0.010 | 20.0 | 1.40 | no |" in reference
  assert "meets the goal from epoch 3 (480 images) on" in longer
  assert "| 3 | 480 | +0.60 | +0.011 | 9.9 | 0.00 | yes |" in longer
  assert "unet_cosine (longer budget): its learning rate decays over the run" in longer
  # Its first two epochs are the reference run's: the premise of reading epochs as budgets.
  assert "against the reference study's unet: its epochs 1-2 reproduce the shorter run's" in longer
  _epochs(long_run, [(23.1, 0.895, 25.0), (23.35, 0.90, 20.0), (23.6, 0.901, 9.9)])
  text = render()
  assert "epochs 1-2 differ from the shorter run's held-out scores by at most 0.05 dB PSNR" in text
  # A longer run still training says how far it is.
  os.remove(os.path.join(long_run, "final_metrics.json"))
  _write(os.path.join(long_run, "study.json"), {"recipe": "unet", "budget": {"epochs": 32}})
  text = render()
  assert "(longer budget, 64 px, batch 16; training: epoch 3 of 32): meets the goal" in text


def test_results_show_the_study_at_128_px_beside_its_64_px_runs(tmp_path):
  study, big = str(tmp_path / "study"), str(tmp_path / "study_128")
  for folder, psnr in ((study, 21.2), (big, 21.8)):
    for name in ("unet", "pix2pix"):
      metrics = _new(0.006, 30.0, 12.0, 0.85) | {"psnr": psnr}
      workdir = _fake_run(
        folder, name, "regression" if name == "unet" else "adversarial", metrics=metrics, gray=GRAY
      )
      if folder == big:
        _with_config(workdir, data={"image_size": 128, "path": "birds/train"})
        command = f"python launch.py --config=configs/{name}.py --config.data.image_size=128"
        _write(
          os.path.join(workdir, "study.json"), {"recipe": name, "commands": {"train": command}}
        )
  text = results_table.render(
    results_table.load_study(study),
    str(tmp_path / "R.md"),
    str(tmp_path / "assets"),
    size_runs=results_table.load_study(big),
  )
  section = text.split("## At 128 x 128 px")[1].split("\n## ")[0]
  assert "**birds/val at 128 px**" in section
  # PSNR +0.20 over gray at 64 px and +0.80 at 128 px, AuC +0.050, ΔCF 12.0 at both.
  assert "| unet | +0.20 | +0.050 | 12.0 | – | +0.80 | +0.050 | 12.0 | – |" in section
  assert "The studies' claims at 128 px:" in section
  assert "- unet: PSNR +0.80 dB, AuC +0.050 over gray, ΔCF 12.0." in section
  assert "`python launch.py --config=configs/pix2pix.py --config.data.image_size=128`" in section
  # The 64 px tables stay the reference study's.
  assert "| unet | 21.20 (21.00)" in text.split("## At 128 x 128 px")[0]


def test_a_sigterm_to_the_study_reaches_its_run_and_stops_the_study_resumably(tmp_path):
  """The study passes SIGTERM on to the run it is waiting for (which saves its step and exits
  with preemption's code) and stops with that code, saying how to resume."""
  child = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: (print('run: saved step 7', flush=True), "
    "sys.exit(75)))\n"
    "print('run: training', flush=True)\n"
    "time.sleep(60)\n"
  )
  driver = (
    "import sys\n"
    f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
    "import reference_study\n"
    f"reference_study.run([sys.executable, '-c', {child!r}], {str(tmp_path / 'run.log')!r})\n"
  )
  proc = subprocess.Popen(
    [sys.executable, "-c", driver],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  assert proc.stdout.readline().startswith("$ python -c")  # The command (its script spans lines).
  assert "run: training\n" in iter(proc.stdout.readline, "")  # Reads up to the run's first line.
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=60)
  assert proc.returncode == 75, err
  assert "run: saved step 7" in out
  assert "study stopped by a signal (the run's line above says what it saved); relaunch" in err
  assert "run: saved step 7" in (tmp_path / "run.log").read_text()


def test_a_run_budgeted_in_images_is_finished_at_its_step_budget_not_its_nominal_epochs(tmp_path):
  """Mixing in flowers makes epochs longer, so the study caps such a run in steps: 1344 steps end
  it in epoch 7 of a nominal 8. A run stopped short of either budget is still training."""
  workdir = _fake_run(str(tmp_path), "unet_flowers", "regression", metrics={}, gray={}, epochs=7)
  _write(os.path.join(workdir, "study.json"), {"recipe": "unet_flowers", "budget": {"epochs": 8}})
  _with_config(workdir, max_train_steps=70)
  assert results_markdown.status(study_runs.load_run(workdir)) == "finished"
  _with_config(workdir, max_train_steps=80)
  assert results_markdown.status(study_runs.load_run(workdir)) == "training: epoch 7 of 8"


def test_the_constant_colourfulness_floor_and_each_recipes_correlation(tmp_path):
  """Per-image ΔCF of a recipe that colours every photo alike cannot go below the photos' mean
  absolute deviation from their median colourfulness; the same figures from a workdir's report
  and from its record."""
  recipe_goal = load_bench("recipe_goal")
  true = [10.0, 20.0, 30.0, 70.0]  # Median 25: |-15|, |-5|, 5, 45 -> 17.5.
  spread = recipe_goal.colourfulness_spread([12.0, 18.0, 33.0, 60.0], true)
  assert spread["constant_dcf"] == pytest.approx(17.5)
  assert spread["colourfulness_r"] > 0.95
  assert recipe_goal.colourfulness_spread([5.0] * 4, true) == {"constant_dcf": 17.5}
  assert recipe_goal.colourfulness_spread(None, [None] * 4) == {}

  rows = [
    {"psnr": 24.0, "ab_auc": 0.9, "delta_colorfulness": abs(p - t), "colorfulness": p}
    | {"colorfulness_true": t, "gray/delta_colorfulness": t}
    for p, t in zip([40.0, 22.0, 30.0, 18.0], true)
  ]
  metrics = {"psnr": 24.0, "ab_auc": 0.9, "delta_colorfulness": 17.0}
  gray = {"psnr": 23.0, "ab_auc": 0.88, "delta_colorfulness": 32.5}
  live = _fake_run(str(tmp_path / "live"), "unet", "regression", metrics=metrics, gray=gray)
  _write(
    os.path.join(live, "eval", "birds_val.json"),
    {"name": "birds_val", "metrics": metrics, "gray_baseline": gray, "per_image": rows},
  )
  record = str(tmp_path / "records" / "unet")
  load_bench("study_records").archive(live, record)
  lines = {}
  for workdir in (live, record):
    run = study_runs.load_run(workdir)
    lines[workdir] = "\n".join(results_goal.goal_lines([run]))
    assert run.metric("birds_val", "constant_dcf", gray=True) == pytest.approx(17.5)
    assert run.metric("birds_val", "colourfulness_r") == pytest.approx(
      float(np.corrcoef([40.0, 22.0, 30.0, 18.0], true)[0, 1]), abs=1e-4
    )
  assert lines[live] == lines[record]
  assert "ΔCF 17.0 (colourfulness r -0.75)" in lines[live]
  assert "scores ΔCF 17.5 on `birds_val`, against the goal's 10" in lines[live]


def test_the_recommended_config_variant_is_the_recipe_the_study_measured():
  """configs/classification.py:recommended is what RESULTS.md recommends: the same config as the
  study's classification_l1_ema apart from the study's budget and data settings."""
  recipe = next(r for r in reference_study.ABLATIONS if r.name == "classification_l1_ema")
  studied = _studied_config(recipe)
  variant = load_config("classification", "recommended")
  assert (variant.loss, variant.ema_decay) == (studied.loss, studied.ema_decay)
  assert variant.to_dict()["model"] == studied.to_dict()["model"]
  assert variant.classification.to_dict() == studied.classification.to_dict()
  assert load_config("classification").loss != variant.loss  # The plain recipe is not it.
