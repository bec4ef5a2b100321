"""RESULTS.md from the reference study's workdirs (bench/reference_study.py).

  python bench/results_table.py    # runs/reference_study -> RESULTS.md and docs/results/*.png
  python bench/results_table.py --study=runs/reference_study --output=RESULTS.md \
      --assets=docs/results

Reads each workdir's config.json, final_metrics.json, study.json, metrics.jsonl
and eval/<name>.json, and writes:
  RESULTS.md        per recipe: parameters, budget (images, epochs, wall time,
                    machine), the birds/val and kodak24 figures beside the gray
                    baseline, a sample grid, the curves and the commands that
                    reproduce it; then the studies' claims, each with a verdict
                    computed from these numbers
  ASSETS/*.png      the grids (4 photos, tiles of at most 64 px) and curves,
                    small enough to commit

Metric names of runs from before and after the metric vocabulary change
(`mae` -> `l1`, `auc` -> `ab_auc`, signed `colorfulness_diff` -> `delta_colorfulness`
= |CF(pred) - CF(true)|, `task/<k>` -> `<k>`) are both read.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import shlex
import sys

import matplotlib
import numpy as np
from absl import app, flags
from PIL import Image

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script from a checkout that is not pip-installed.
  if _path not in sys.path:
    sys.path.insert(0, _path)
import budget_curve  # noqa: E402
import temperature_sweep  # noqa: E402

from colorize_jax.outputs import atomic, metric_names  # noqa: E402
from colorize_jax.outputs.plots import plot_curves  # noqa: E402
from colorize_jax.outputs.rundir import RunDir  # noqa: E402

EVALS = (("birds_val", "birds/val"), ("kodak24", "kodak24"))  # eval name, heading.
CLAIMS_EVAL = "birds_val"
GRID_ROWS, GRID_TILE = 4, 64

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


def read_eval(report: dict) -> tuple[dict, dict]:
  """(model means, gray-baseline means) of an eval/<name>.json, old or new names (mapping a mapped
  report again changes nothing)."""
  report = metric_names.read_report(report)
  model, gray = report["metrics"], report["gray_baseline"]
  for key in [k for k in model if k.startswith("gray/")]:
    gray.setdefault(key[len("gray/") :], model.pop(key))
  # The photos' own colourfulness: recorded, or the gray image's |ΔCF| (a gray image has CF 0).
  photos = gray.pop("colorfulness_true", gray.get("delta_colorfulness"))
  photos = model.pop("colorfulness_true", photos)
  if photos is not None:
    gray["photos_colorfulness"] = photos
  if "fid" in model and isinstance(report.get("fid"), dict):
    model["fid_examples"] = report["fid"].get("examples")
  return model, gray


@dataclasses.dataclass
class Run:
  name: str
  workdir: str
  config: dict
  study: dict
  final: dict | None
  evals: dict[str, tuple[dict, dict]]
  history: list[dict]

  @property
  def task(self) -> str:
    return self.config.get("task", "?")

  @property
  def kind(self) -> str:
    return self.study.get("kind", self.task)

  @property
  def batch_size(self) -> int:
    return int(self.config.get("batch_size", 0))

  @property
  def epochs_done(self) -> int:
    if self.final:
      return int(self.final.get("epochs", 0))
    epochs = [r.get("epoch", 0) for r in self.history if r.get("kind") == "epoch"]
    return max(epochs, default=0)

  @property
  def steps_done(self) -> int:
    if self.final:
      return int(self.final.get("step", 0))
    return max((r.get("step", 0) for r in self.history), default=0)

  def metric(self, eval_name: str, key: str, gray: bool = False) -> float | None:
    if eval_name not in self.evals:
      return None
    value = self.evals[eval_name][1 if gray else 0].get(key)
    return float(value) if isinstance(value, (int, float)) else None


def load_run(workdir: str) -> Run:
  run = RunDir(workdir)
  study = run.read("study.json") or {}
  return Run(
    name=study.get("recipe", os.path.basename(os.path.normpath(workdir))),
    workdir=workdir,
    config=run.config,
    study=study,
    final=run.final(),
    evals={name: read_eval(report) for name, report in run.reports().items()},
    history=run.metrics(),
  )


def finished(run: Run) -> bool:
  """Trained to its end and scored on every evaluation set."""
  return run.final is not None and all(name in run.evals for name, _ in EVALS)


def load_study(study_dirs: str | list[str]) -> list[Run]:
  """Every workdir (a folder with config.json) under the study's folders, in the study's recipe
  order. A recipe in several folders (a live workdir and its committed record,
  bench/study_records.py) is read from the first that holds it finished, else the first."""
  by_name: dict[str, Run] = {}
  for study_dir in [study_dirs] if isinstance(study_dirs, str) else study_dirs:
    for d in sorted(glob.glob(os.path.join(study_dir, "*"))):
      if not os.path.exists(os.path.join(d, "config.json")):
        continue
      run = load_run(d)
      known = by_name.get(run.name)
      if known is None or (finished(run) and not finished(known)):
        by_name[run.name] = run
  return sorted(by_name.values(), key=lambda r: (r.study.get("order", 1000), r.name))


# -- claims -------------------------------------------------------------------


@dataclasses.dataclass
class Claim:
  title: str
  verdict: str  # "holds" | "does not hold" | "partly holds" | "not measured"
  evidence: str


def _missing(runs: dict[str, Run], names: list[str], keys: list[str], eval_name: str) -> list[str]:
  return [
    f"{n} {k}" for n in names for k in keys if n not in runs or runs[n].metric(eval_name, k) is None
  ]


def claim_unet_lowest_mse(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = "(i) The U-Net has the lowest validation MSE of the regression models."
  regression = [
    n for n, r in runs.items() if r.task == "regression" and r.metric(eval_name, "mse") is not None
  ]
  if "unet" not in regression or len(regression) < 2:
    return Claim(
      title,
      "not measured",
      f"needs `unet` and another regression run with a "
      f"{eval_name} MSE; have {regression or 'none'}.",
    )
  mse = {n: runs[n].metric(eval_name, "mse") for n in regression}
  ranked = sorted(mse, key=mse.get)
  listing = ", ".join(f"{n} {mse[n]:.4f}" for n in ranked)
  verdict = "holds" if ranked[0] == "unet" else "does not hold"
  return Claim(title, verdict, f"{eval_name} MSE (RGB in [0, 1]), lowest first: {listing}.")


def claim_patchgan_colours_better(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = (
    "(ii) The cGAN with a U-Net generator and PatchGAN discriminator colours better than "
    "the regression models (lower ΔCF, higher AuC)."
  )
  gan = "cgan_unet_patchgan"
  keys = ("delta_colorfulness", "ab_auc")
  regression = {
    n: [r.metric(eval_name, k) for k in keys] for n, r in runs.items() if r.task == "regression"
  }
  regression = {n: v for n, v in regression.items() if None not in v}
  missing = _missing(runs, [gan], list(keys), eval_name)
  if missing or not regression:
    return Claim(
      title, "not measured", f"missing: {', '.join(missing) or 'regression runs with ΔCF and AuC'}."
    )
  cf, auc = (runs[gan].metric(eval_name, k) for k in keys)
  best_cf = min(regression, key=lambda n: regression[n][0])
  best_auc = max(regression, key=lambda n: regression[n][1])
  cf_ok, auc_ok = cf < regression[best_cf][0], auc > regression[best_auc][1]
  verdict = {(True, True): "holds", (False, False): "does not hold"}.get(
    (cf_ok, auc_ok), "partly holds"
  )
  better = {True: "better", False: "not better"}
  return Claim(
    title,
    verdict,
    (
      f"{eval_name}: {gan} ΔCF {cf:.2f} against the best regression model's "
      f"({best_cf}) {regression[best_cf][0]:.2f}, {better[cf_ok]}; AuC {auc:.3f} against "
      f"({best_auc}) {regression[best_auc][1]:.3f}, {better[auc_ok]}."
    ),
  )


def claim_l1_fixes_oversaturation(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = "(iii) Adding L1 to the simple cGAN fixes its oversaturation."
  missing = _missing(runs, ["cgan", "cgan_l1"], ["colorfulness"], eval_name)
  photos = None
  if "cgan" in runs:
    photos = runs["cgan"].metric(eval_name, "photos_colorfulness", gray=True)
  if missing or photos is None:
    return Claim(
      title, "not measured", f"missing: {', '.join(missing) or 'the photos colourfulness'}."
    )
  plain = runs["cgan"].metric(eval_name, "colorfulness")
  with_l1 = runs["cgan_l1"].metric(eval_name, "colorfulness")
  numbers = (
    f"{eval_name} mean colourfulness: photos {photos:.1f}, cgan {plain:.1f} "
    f"({plain - photos:+.1f}), cgan_l1 {with_l1:.1f} ({with_l1 - photos:+.1f})."
  )
  if plain <= photos:
    return Claim(
      title,
      "does not hold",
      numbers + " The plain cGAN is not oversaturated at this "
      "budget, so there is nothing for L1 to fix.",
    )
  closer = abs(with_l1 - photos) < abs(plain - photos)
  dcf = [runs[n].metric(eval_name, "delta_colorfulness") for n in ("cgan", "cgan_l1")]
  if None not in dcf:
    numbers += f" Per-image ΔCF: cgan {dcf[0]:.1f}, cgan_l1 {dcf[1]:.1f}."
  if closer:
    return Claim(title, "holds", numbers + " L1 brings it closer to the photos.")
  if with_l1 <= photos:
    return Claim(
      title,
      "partly holds",
      numbers + " L1 removes the oversaturation but overshoots into desaturation, further "
      "from the photos' mean than the plain cGAN was.",
    )
  return Claim(title, "does not hold", numbers + " L1 does not bring it closer.")


def _compare_pair(
  runs: dict[str, Run], title: str, a: str, b: str, eval_name: str = CLAIMS_EVAL
) -> Claim:
  """Whether run `a` beats run `b` on ΔCF (lower) and AuC (higher), with both numbers shown."""
  keys = ("delta_colorfulness", "ab_auc", "colorfulness")
  missing = _missing(runs, [a, b], list(keys), eval_name)
  if missing:
    return Claim(title, "not measured", f"missing: {', '.join(missing)}.")
  (cf_a, auc_a, c_a), (cf_b, auc_b, c_b) = (
    [runs[n].metric(eval_name, k) for k in keys] for n in (a, b)
  )
  cf_ok, auc_ok = cf_a < cf_b, auc_a > auc_b
  verdict = {(True, True): "holds", (False, False): "does not hold"}.get(
    (cf_ok, auc_ok), "partly holds"
  )
  return Claim(
    title,
    verdict,
    f"{eval_name}: ΔCF {a} {cf_a:.2f} against {b} {cf_b:.2f} ({cf_a - cf_b:+.2f}); AuC "
    f"{auc_a:.3f} against {auc_b:.3f} ({auc_a - auc_b:+.3f}); colourfulness {c_a:.1f} against "
    f"{c_b:.1f}.",
  )


def claim_classification_beats_regression(runs: dict[str, Run]) -> Claim:
  return _compare_pair(
    runs,
    "(iv) ab classification with rebalancing (Zhang et al.) colours better than MSE regression "
    "with the same U-Net at an equal budget (lower ΔCF, higher AuC).",
    "classification",
    "unet",
  )


def claim_stabilisers_help_pix2pix(runs: dict[str, Run]) -> Claim:
  return _compare_pair(
    runs,
    "(v) Feature matching and spectral norm improve pix2pix's colours at an equal budget "
    "(lower ΔCF, higher AuC).",
    "pix2pix_fm_sn",
    "pix2pix",
  )


CLAIMS = (
  claim_unet_lowest_mse,
  claim_patchgan_colours_better,
  claim_l1_fixes_oversaturation,
  claim_classification_beats_regression,
  claim_stabilisers_help_pix2pix,
)


# -- figures ------------------------------------------------------------------


def _grid_columns(path: str, size: int) -> list[np.ndarray]:
  """gray, predicted and true columns (first GRID_ROWS rows) of a grid in outputs/grids.py's
  layout: tiles of `size` px, 2 px white gaps."""
  gap = 2
  image = np.asarray(Image.open(path).convert("RGB"))
  rows = min(GRID_ROWS, (image.shape[0] + gap) // (size + gap))
  image = image[: rows * (size + gap) - gap]
  return [image[:, j * (size + gap) : j * (size + gap) + size] for j in range(3)]


def _save_side_by_side(columns: list[np.ndarray], path: str) -> None:
  """Columns joined with 2 px gaps, scaled so a tile is at most GRID_TILE px."""
  gap = np.full((columns[0].shape[0], 2, 3), 255, np.uint8)
  image = Image.fromarray(np.concatenate([x for c in columns for x in (c, gap)][:-1], axis=1))
  scale = min(1.0, GRID_TILE / columns[0].shape[1])
  if scale < 1.0:
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, optimize=True)


def _image_size(run: Run) -> int:
  return int(run.config.get("data", {}).get("image_size", 64))


def small_grid(run: Run, eval_name: str, path: str) -> bool:
  """A run's gray | predicted | true grid: its evaluation's, else its last training sample."""
  candidates = [
    os.path.join(run.workdir, "eval", f"{eval_name}.png"),
    os.path.join(run.workdir, "samples", "final.png"),
  ]
  source = next((p for p in candidates if os.path.exists(p)), None)
  if source is None:
    return False
  _save_side_by_side(_grid_columns(source, _image_size(run)), path)
  return True


def combined_grid(runs: list[Run], eval_name: str, path: str) -> bool:
  """gray | each run's prediction | true, on the same photos: every run's eval grid shows the
  evaluation set's first photos. Needs two or more runs at one image size."""
  columns = [
    _grid_columns(os.path.join(r.workdir, "eval", f"{eval_name}.png"), _image_size(r))
    for r in runs
    if os.path.exists(os.path.join(r.workdir, "eval", f"{eval_name}.png"))
  ]
  if len(columns) < 2 or len({c[0].shape for c in columns}) != 1:
    return False
  _save_side_by_side([columns[0][0]] + [c[1] for c in columns] + [columns[0][2]], path)
  return True


def _panels(run: Run) -> dict[str, list[str]]:
  if run.task == "adversarial":
    loss = {
      "G / D loss": ["train/g/total", "train/d/total"],
      "L1": ["train/g/l1", "val/l1", "val/gray/l1"],
    }
  else:
    loss = {"loss": ["train/loss", "val/loss"], "L1": ["train/l1", "val/l1", "val/gray/l1"]}
  quality = {"PSNR dB": "psnr", "ΔCF": "delta_colorfulness", "AuC": "ab_auc"}
  quality = {title: [f"val/{k}", f"val/gray/{k}"] for title, k in quality.items()}
  return loss | quality


def curves(run: Run, path: str) -> bool:
  """Loss and quality per epoch, small enough to commit; validation metrics with their gray
  baseline as a dashed line."""
  small = {"font.size": 6, "legend.fontsize": 5, "lines.linewidth": 1, "lines.markersize": 3}
  with matplotlib.rc_context(small):
    return plot_curves(run.history, path, _panels(run), panel_size=(2.6, 2.2), dpi=80)


# -- markdown -----------------------------------------------------------------


def _fmt(value, spec: str = "{:.4g}") -> str:
  return "–" if value is None else spec.format(value)


def _duration(seconds) -> str:
  if seconds is None:
    return "–"
  if seconds < 90:
    return f"{seconds:.0f} s"
  return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def _count(n: int) -> str:
  return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _params(run: Run) -> str:
  counts = (run.final or {}).get("params") or {}
  if not counts:
    return "–"
  parts = " + ".join(f"{k} {_count(v)}" for k, v in counts.items())
  return _count(sum(counts.values())) + (f" ({parts})" if len(counts) > 1 else "")


def _machines(run: Run) -> str:
  texts = list(dict.fromkeys(s.get("machine_text", "?") for s in run.study.get("sessions", [])))
  return "; ".join(texts) if texts else "not recorded"


def _status(run: Run) -> str:
  planned = run.study.get("budget", {}).get("epochs")
  if run.final and (planned is None or run.epochs_done >= planned):
    return "finished"
  return f"training: epoch {run.epochs_done} of {planned or '?'}"


def budget_row(run: Run) -> list[str]:
  images = run.steps_done * run.batch_size
  return [
    run.name,
    run.task,
    run.kind,
    _params(run),
    f"{images:,}",
    str(run.epochs_done),
    str(_image_size(run)),
    _duration((run.final or {}).get("train_seconds")),
    _status(run),
  ]


def metric_row(run: Run, eval_name: str) -> list[str]:
  cells = [run.name]
  for key, _, spec, beside in COLUMNS:
    value = run.metric(eval_name, key)
    other = run.metric(eval_name, "photos_colorfulness" if beside == "photos" else key, gray=True)
    cells.append(f"{_fmt(value, spec)} ({_fmt(other, spec)})" if value is not None else "–")
  return cells + [fid_cell(run, eval_name)]


def fid_cell(run: Run, eval_name: str) -> str:
  """'41.2 (80.1; 1,000)': FID, the gray baseline's, and the number of images; '–' without."""
  value = run.metric(eval_name, "fid")
  if value is None:
    return "–"
  count = run.metric(eval_name, "fid_examples")
  n = f"{int(count):,}" if count is not None else "?"
  return f"{value:.1f} ({_fmt(run.metric(eval_name, 'fid', gray=True), '{:.1f}')}; {n})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
    "| " + " | ".join(row) + " |" for row in rows
  ]


def _rel(path: str, output: str) -> str:
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


INTRO = (
  "Every recipe trains on `birds/train` (90% train, 10% validation during training, split by "
  "path hash) with early stopping off, and its last weights are scored on `birds/val` (1,000 "
  "photos no recipe trained on) and `kodak24` (24 other scenes)."
)
METRICS_NOTE = (
  "Each cell: the model's mean over the photos, then in brackets the gray baseline (the input "
  "with no colour: one number per photo set), or for colourfulness the photos' own. Every "
  "recipe is scored alike: its predicted colour joined with the photo's true lightness (L*), "
  "as colorize shows it, before PSNR, SSIM, colourfulness and AuC. Higher is better for "
  "PSNR, SSIM and AuC (of the ab error, 0-150); lower for ΔCF (Hasler and Süsstrunk's "
  "colourfulness): `ΔCF` is ours, the mean over photos of |CF(pred) - CF(true)|, `ΔCF set` "
  "the literature's, |mean CF(pred) - mean CF(true)| over the set (DDColor's table), and "
  "for MSE, which is in each model's own output space (RGB in [0, 1] for regression, RGB in "
  "[-1, 1] or Lab ab/110 for the GANs). FID: the Fréchet Inception "
  "Distance of all the predictions against the photos (lower is better; TF Inception-v3 pool3, "
  "the graph's own bilinear resize to 299 px), then the gray images' and the number of images "
  "n; below 2,049 images it is biased upwards and compares only at equal n ('–': not computed, "
  "e.g. without the converted weights)."
)


def render(
  runs: list[Run],
  output: str,
  assets: str,
  *,
  study_dir: str = "runs/reference_study",
  size_runs: list[Run] = (),
  budget_runs: list[Run] = (),
) -> str:
  """The markdown of RESULTS.md; writes the figures into `assets` as it goes."""
  by_name = {r.name: r for r in runs}
  budgets = sorted(
    {
      (r.kind, r.study.get("budget", {}).get("epochs", r.epochs_done), r.batch_size, _image_size(r))
      for r in runs
    },
    key=str,
  )
  budget_text = "; ".join(
    f"{kind}: {epochs} epochs at batch {batch}, {size}x{size} px"
    for kind, epochs, batch, size in budgets
  )
  generated = (
    f"Generated by `python bench/results_table.py --study={study_dir}` on "
    f"{datetime.date.today().isoformat()} from the workdirs of `python "
    f"bench/reference_study.py` (do not edit by hand: rerun both). {INTRO}"
  )
  budget_line = (
    f"Budgets (images = steps x batch): {budget_text}. Wall times are training only, "
    "on the machine named per recipe; on a shared machine they are upper bounds."
  )
  md = ["# Reference results", "", generated, "", budget_line, "", "## Budget and parameters", ""]
  md += _table(
    ["recipe", "task", "budget", "parameters", "images", "epochs", "px", "wall time", "status"],
    [budget_row(r) for r in runs],
  )
  ablations = [r for r in runs if r.study.get("ablation_of")]
  for i, (eval_name, heading) in enumerate(EVALS):
    md += ["", f"## {heading}", "", METRICS_NOTE if i == 0 else "Columns as above.", ""]
    evaluated = [r for r in runs if eval_name in r.evals and r not in ablations]
    if not evaluated:
      md += [f"No run is evaluated on `{eval_name}` yet (bench/reference_study.py does it)."]
      continue
    md += _table(
      ["recipe"] + [f"{title} ({beside})" for _, title, _, beside in COLUMNS] + [FID_HEADING],
      [metric_row(r, eval_name) for r in evaluated],
    )
    combined = os.path.join(assets, f"{eval_name}_all.png")
    if combined_grid(evaluated, eval_name, combined):
      names = " | ".join(r.name for r in evaluated)
      md += [
        "",
        f"The same photos colorized by every recipe: gray | {names} | true.",
        "",
        f"![{eval_name}: every recipe]({_rel(combined, output)})",
      ]
  md += hints_section(runs, output, assets)
  md += ablation_section(runs, ablations)
  md += budget_section(runs, budget_runs)
  md += temperature_section(runs)
  md += size_section(size_runs, runs, output, assets)
  md += [
    "",
    "## The studies' claims",
    "",
    f"Evaluated on `{CLAIMS_EVAL}` from the numbers "
    "above by `bench/results_table.py`, at these budgets.",
    "",
  ]
  for claim in (c(by_name) for c in CLAIMS):
    md += [f"- **{claim.title}** Verdict: **{claim.verdict}**. {claim.evidence}"]
  md += ["", "## Recipes", ""]
  for run in runs:
    md += recipe_section(run, output, assets)
  return "\n".join(md) + "\n"


# Issue 20's goals for the hints recipe, on birds/val at the reference budget.
HINTS_GOAL_DB, HINTS_AUTOMATIC_DB = 3.0, 0.5
HINT_METRICS = (("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"))
HINT_METRICS += (("delta_colorfulness", "ΔCF", "{:.1f}"), ("ab_auc", "AuC", "{:.3f}"))


def hint_curve(run: Run, eval_name: str) -> dict[int, dict[str, float]]:
  """{n: {metric: mean}} of a run's `hints_<n>/<metric>` scores ({} without a curve)."""
  curve: dict[int, dict[str, float]] = {}
  for key, value in (run.evals.get(eval_name, ({}, {}))[0]).items():
    head, _, metric = key.partition("/")
    if head.startswith("hints_") and head[6:].isdigit():
      curve.setdefault(int(head[6:]), {})[metric] = float(value)
  return dict(sorted(curve.items()))


def hints_verdicts(curve: dict[int, dict[str, float]], automatic: float | None) -> list[str]:
  """Issue 20's three goals, each with its numbers and a verdict."""
  out = []
  psnr = {n: m.get("psnr") for n, m in curve.items()}
  if psnr.get(0) is not None and psnr.get(10) is not None:
    gain = psnr[10] - psnr[0]
    met = "met" if gain >= HINTS_GOAL_DB else "not met"
    out.append(f"10 hints {gain:+.2f} dB over 0 hints (goal +{HINTS_GOAL_DB:g}): **{met}**.")
  if psnr.get(0) is not None and automatic is not None:
    gap = psnr[0] - automatic
    met = "met" if abs(gap) <= HINTS_AUTOMATIC_DB else "not met"
    out.append(
      f"0 hints {gap:+.2f} dB from the automatic U-Net's {automatic:.2f} dB "
      f"(goal within {HINTS_AUTOMATIC_DB:g}): **{met}**."
    )
  dcf = [m["delta_colorfulness"] for m in curve.values() if "delta_colorfulness" in m]
  if len(dcf) > 1:
    falls = all(b <= a for a, b in zip(dcf, dcf[1:]))
    trend = "falls at every step" if falls else "does not fall at every step"
    overall = "met" if dcf[-1] < dcf[0] else "not met"
    out.append(
      f"ΔCF {trend}, {dcf[0]:.1f} at {min(curve)} hints to {dcf[-1]:.1f} at "
      f"{max(curve)} (goal: falls as hints are added): **{overall}**."
    )
  return out


def hints_section(runs: list[Run], output: str, assets: str) -> list[str]:
  """User colour hints: each hints run's curve on every evaluation set, beside the automatic
  U-Net and the gray input, with issue 20's goals and the grid of photos with their hints."""
  hint_runs = [r for r in runs if any(hint_curve(r, e) for e, _ in EVALS)]
  if not hint_runs:
    return []
  by_name = {r.name: r for r in runs}
  md = ["", "## User colour hints", ""]
  md += [
    "Zhang et al. (2017)'s user-guided colorization: the same network scored with 0, 1, 2, ... "
    "colour points per photo, drawn from the true photo at a fixed seed (every run gets the "
    "same points). The reference (1,000 ImageNet photos) reaches 24.43 / 25.37 / 28.42 / "
    "31.13 dB at 0 / 1 / 10 / 100 hints.",
    "",
  ]
  for run in hint_runs:
    for eval_name, heading in EVALS:
      curve = hint_curve(run, eval_name)
      if not curve:
        continue
      unet = by_name.get("unet")
      rows = [
        [f"{run.name}, {n} hint{'' if n == 1 else 's'}"]
        + [_fmt(m.get(k), f) for k, _, f in HINT_METRICS]
        for n, m in curve.items()
      ]
      if unet is not None and eval_name in unet.evals:
        rows.append(
          ["unet (automatic)"] + [_fmt(unet.metric(eval_name, k), f) for k, _, f in HINT_METRICS]
        )
      rows.append(
        ["gray input"] + [_fmt(run.metric(eval_name, k, gray=True), f) for k, _, f in HINT_METRICS]
      )
      md += [f"**{run.name} on {heading}**", ""]
      md += _table(["scored"] + [title for _, title, _ in HINT_METRICS], rows) + [""]
      if eval_name == CLAIMS_EVAL:
        automatic = unet.metric(eval_name, "psnr") if unet is not None else None
        md += [f"- {v}" for v in hints_verdicts(curve, automatic)] + [""]
    source = os.path.join(run.workdir, "eval", f"{CLAIMS_EVAL}_hints.png")
    if os.path.exists(source):
      target = os.path.join(assets, f"{run.name}_hints_grid.png")
      image = Image.open(source).convert("RGB")
      rows_px = min(GRID_ROWS, (image.height + 2) // (_image_size(run) + 2))
      image = image.crop((0, 0, image.width, rows_px * (_image_size(run) + 2) - 2))
      os.makedirs(assets, exist_ok=True)
      image.save(target, optimize=True)
      md += [
        f"Photos of {CLAIMS_EVAL} with their hints drawn on the gray input, beside the "
        "prediction, at 0, ~10 and the most hints; the true photo last:",
        "",
        f"![{run.name}: hints]({_rel(target, output)})",
        "",
      ]
  return md


# Issue 22's goal, on birds/val at the reference budget, in these (corrected) metrics.
GOAL_PSNR_DB, GOAL_AUC, GOAL_DCF = (
  temperature_sweep.GOAL[k] for k in ("psnr", "ab_auc", "delta_colorfulness")
)


def goal_check(run: Run, eval_name: str = CLAIMS_EVAL) -> tuple[bool, str] | None:
  """(met, evidence) of issue 22's goal for one run: PSNR >= gray + 0.5 dB, AuC >= gray + 0.01
  and ΔCF (ours, per image) <= 10; None when unmeasured."""
  values = [run.metric(eval_name, k, gray=g) for k in ("psnr", "ab_auc") for g in (False, True)]
  dcf = run.metric(eval_name, "delta_colorfulness")
  if any(v is None for v in values) or dcf is None:
    return None
  psnr, psnr_gray, auc, auc_gray = values
  checks = [
    psnr - psnr_gray >= GOAL_PSNR_DB,
    auc - auc_gray >= GOAL_AUC,
    dcf <= GOAL_DCF,
  ]
  evidence = f"PSNR {psnr - psnr_gray:+.2f} dB, AuC {auc - auc_gray:+.3f} over gray, ΔCF {dcf:.1f}"
  return all(checks), evidence


# Issue 22 keeps the changes that measurably help, judged on the held-out 10% of birds/train
# (`val`, which every run scores at its end), never on birds/val or kodak24, which only report.
# A change helps when it moves one of the goal's metrics past its margin the right way and none
# past it the wrong way. The margins are about twice the photo-sampling standard error of a
# difference between two models on ~300 photos (docs/DESIGN.md, "Judging an ablation").
HELD_OUT = "val"
MARGINS = (  # (metric, title, margin, +1 if higher is better else -1, format of a Δ)
  ("psnr", "PSNR dB", 0.2, 1, "+.2f"),
  ("ab_auc", "AuC", 0.003, 1, "+.3f"),
  ("delta_colorfulness", "ΔCF", 1.0, -1, "+.1f"),
)


def held_out(run: Run, key: str) -> float | None:
  value = ((run.final or {}).get(HELD_OUT) or {}).get(key)
  return float(value) if isinstance(value, (int, float)) else None


def held_out_verdict(run: Run, base: Run | None) -> tuple[str, list[str]]:
  """(verdict, the deltas' cells) of an ablation against its base on the held-out split."""
  if base is None:
    return "no base run", ["–"] * len(MARGINS)
  path = lambda r: (r.config.get("data") or {}).get("path")  # noqa: E731
  if path(run) != path(base):  # Another training folder (flowers mixed in): another `val`.
    return "not comparable: other held-out photos", ["–"] * len(MARGINS)
  cells, better, worse = [], [], []
  for key, title, margin, sign, spec in MARGINS:
    value, base_value = held_out(run, key), held_out(base, key)
    if value is None or base_value is None:
      return "not measured yet", ["–"] * len(MARGINS)
    delta = value - base_value
    cells.append(format(delta, spec))
    if sign * delta >= margin:
      better.append(title)
    elif sign * delta <= -margin:
      worse.append(title)
  if better and not worse:
    return f"**helps** ({', '.join(better)})", cells
  if worse and not better:
    return f"hurts ({', '.join(worse)})", cells
  if better:
    return f"mixed (better {', '.join(better)}; worse {', '.join(worse)})", cells
  return "no measurable change", cells


def ablation_section(runs: list[Run], ablations: list[Run]) -> list[str]:
  """Issue 22: each ablation beside the recipe it changes, and which run meets the goal."""
  by_name = {r.name: r for r in runs}
  md = ["", "## Ablations and the recipe goal", ""]
  md += [
    f"Goal (issue 22, `{CLAIMS_EVAL}`, equal budget): PSNR at least {GOAL_PSNR_DB:g} dB and "
    f"AuC at least {GOAL_AUC:g} above the gray input's, and ΔCF at most {GOAL_DCF:g}, all in "
    "one recipe. Each ablation changes one thing of the recipe named beside it (its command "
    "is under Recipes).",
    "",
  ]
  rows, verdict_rows, kept = [], [], []
  for run in ablations:
    base = by_name.get(run.study["ablation_of"])
    cells = [run.name, run.study["ablation_of"]]
    for key, _, spec, _ in COLUMNS[:6]:
      value = run.metric(CLAIMS_EVAL, key)
      base_value = base.metric(CLAIMS_EVAL, key) if base else None
      delta = f" ({value - base_value:+.3g})" if None not in (value, base_value) else ""
      cells.append(_fmt(value, spec) + delta if value is not None else "–")
    rows.append(cells)
    verdict, deltas = held_out_verdict(run, base)
    verdict_rows.append([run.name, run.study["ablation_of"], *deltas, verdict])
    kept += [run.name] if verdict.startswith("**helps**") else []
  if rows:
    margins = ", ".join(f"{title} {margin:g}" for _, title, margin, _, _ in MARGINS)
    md += [
      "Kept or not, on the held-out 10% of `birds/train` (the runs' `val` split at their last "
      "weights; birds/val and kodak24 only report): Δ against the base recipe, and the verdict "
      f"at margins of {margins} (about twice the photo-sampling standard error).",
      "",
    ]
    md += _table(
      ["ablation", "of"] + [f"held-out {title} Δ" for _, title, _, _, _ in MARGINS] + ["verdict"],
      verdict_rows,
    )
    md += ["", f"Changes that measurably help: {', '.join(kept) if kept else 'none yet'}.", ""]
    md += [f"On `{CLAIMS_EVAL}`:", ""]
    md += _table(
      ["ablation", "of"] + [f"{title} (Δ vs its base)" for _, title, _, _ in COLUMNS[:6]], rows
    )
    md += [""]
  checked = [(r, goal_check(r)) for r in runs]
  met = [r.name for r, c in checked if c and c[0]]
  md += [f"- {r.name}: {c[1]}{' — **meets the goal**' if c[0] else ''}." for r, c in checked if c]
  md += [
    "",
    f"Recipes that meet the goal: {', '.join(met) if met else 'none yet'}.",
  ]
  return md + recommendation_section(runs)


def goal_shortfall(run: Run) -> tuple[float, list[float]] | None:
  """How far a run's held-out scores fall short of the goal (budget_curve.shortfall): (the sum,
  [PSNR, AuC, ΔCF]). The gray baseline is the held-out split's own (eval/val.json); None when
  either is missing."""
  if HELD_OUT not in run.evals:
    return None
  gray = run.evals[HELD_OUT][1]
  model = {k: held_out(run, k) for k in budget_curve.KEYS}
  if None in model.values() or not {"psnr", "ab_auc"} <= gray.keys():
    return None
  return budget_curve.shortfall(model, gray)


def ranked(runs: list[Run]) -> list[tuple[Run, tuple[float, list[float]]]]:
  """The birds-only runs by their goal shortfall on the held-out split, nearest first."""
  base_path = lambda r: (r.config.get("data") or {}).get("path")  # noqa: E731
  birds = {base_path(r) for r in runs if not r.study.get("ablation_of")}
  scored = [(r, goal_shortfall(r)) for r in runs if base_path(r) in birds]
  return sorted([(r, s) for r, s in scored if s is not None], key=lambda x: x[1][0])


def recommendation_section(runs: list[Run]) -> list[str]:
  """The recipe to start from: the birds-only run nearest the goal on the held-out split
  (chosen where birds/val and kodak24 play no part), ranked by its summed shortfall."""
  scored = ranked(runs)
  if not scored:
    return []
  md = ["", "### Recommended recipe", ""]
  md += [
    "Ranked by the distance from the goal on the held-out 10% of `birds/train` (against "
    "its own gray input): the shortfall of each criterion in units of its threshold "
    f"({GOAL_PSNR_DB:g} dB, {GOAL_AUC:g} AuC, ΔCF {GOAL_DCF:g}; 0 where met), summed. Runs "
    "trained on other photos (flowers mixed in) are left out: their held-out photos differ.",
    "",
  ]
  rows = [[r.name, f"{total:.2f}"] + [f"{p:.2f}" for p in parts] for r, (total, parts) in scored]
  md += _table(["recipe", "shortfall", "PSNR", "AuC", "ΔCF"], rows)
  best = scored[0][0]
  md += ["", f"Recommended: **{best.name}**, the nearest to the goal at this budget.", ""]
  return md


def budget_section(runs: list[Run], budget_runs: list[Run]) -> list[str]:
  """Issue 22's "at what budget": the goal per epoch on the held-out split, for the
  recommended recipe of the reference study and every run of the longer-budget study
  (bench/budget_curve.py says why one run's epochs stand for shorter runs)."""
  nearest = ranked(runs)[:1]
  shown = [(r, "reference study") for r, _ in nearest] + [(r, "longer budget") for r in budget_runs]
  md = []
  for run, where in shown:
    if not budget_curve.passes_through_shorter_budgets(run.config):
      md += [
        f"- {run.name} ({where}): its learning rate decays over the run, so its epochs "
        "are not shorter budgets.",
        "",
      ]
      continue
    points = budget_curve.curve(run.history, HELD_OUT)
    if not points:
      continue
    md += [
      f"**{run.name}** ({where}, {_image_size(run)} px, batch {run.batch_size}): "
      f"{budget_curve.summary(points, run.batch_size)}.",
      "",
    ]
    md += (
      budget_curve.TABLE_HEADER
      + budget_curve.table_rows(budget_curve.shown_epochs(points), run.batch_size)
      + [""]
    )
  if not md:
    return []
  intro = (
    "Issue 22's goal at every budget a run passed through, on the held-out 10% of "
    "`birds/train` against its gray input: at a constant learning rate and without early "
    "stopping, a run's weights after epoch k are those of a k-epoch run (`bench/budget_curve.py`)."
    " Shortfall: as under Recommended recipe."
  )
  return ["", "## By training budget", "", intro, ""] + md


def size_section(size_runs: list[Run], runs: list[Run], output: str, assets: str) -> list[str]:
  """The study at another image size (issue 22: the birds study at its own 128 px): budgets,
  both photo sets with FID, the same recipe at the reference size beside it, the claims."""
  if not size_runs:
    return []
  size = _image_size(size_runs[0])
  md = ["", f"## At {size} x {size} px", ""]
  md += [
    f"The study's recipes at {size} px, trained by `python bench/reference_study.py "
    f"--image_size={size}` (each run's command below), on the same photos and metrics as above.",
    "",
  ]
  md += _table(
    ["recipe", "task", "budget", "parameters", "images", "epochs", "px", "wall time", "status"],
    [budget_row(r) for r in size_runs],
  )
  for eval_name, heading in EVALS:
    evaluated = [r for r in size_runs if eval_name in r.evals]
    if not evaluated:
      continue
    md += ["", f"**{heading} at {size} px**", ""]
    md += _table(
      ["recipe"] + [f"{title} ({beside})" for _, title, _, beside in COLUMNS] + [FID_HEADING],
      [metric_row(r, eval_name) for r in evaluated],
    )
    combined = os.path.join(assets, f"{eval_name}_all_{size}px.png")
    if combined_grid(evaluated, eval_name, combined):
      names = " | ".join(r.name for r in evaluated)
      md += [
        "",
        f"gray | {names} | true:",
        "",
        f"![{eval_name} at {size} px]({_rel(combined, output)})",
      ]
  reference = {r.name: r for r in runs}
  pairs = [(r, reference[r.name]) for r in size_runs if r.name in reference]
  if pairs:
    md += [
      "",
      f"Gains over the gray input on `{CLAIMS_EVAL}`, at {size} px against the "
      f"reference {_image_size(pairs[0][1])} px:",
      "",
    ]
    rows = []
    for big, small in pairs:
      cells = [big.name]
      for run in (small, big):
        psnr, auc = (run.metric(CLAIMS_EVAL, k) for k in ("psnr", "ab_auc"))
        psnr_g, auc_g = (run.metric(CLAIMS_EVAL, k, gray=True) for k in ("psnr", "ab_auc"))
        cells += [
          _fmt(None if None in (psnr, psnr_g) else psnr - psnr_g, "{:+.2f}"),
          _fmt(None if None in (auc, auc_g) else auc - auc_g, "{:+.3f}"),
          _fmt(run.metric(CLAIMS_EVAL, "delta_colorfulness"), "{:.1f}"),
          fid_cell(run, CLAIMS_EVAL),
        ]
      rows.append(cells)
    small_px, big_px = _image_size(pairs[0][1]), size
    md += _table(
      ["recipe"]
      + [f"{t} {px} px" for px in (small_px, big_px) for t in ("PSNR", "AuC", "ΔCF", "FID")],
      rows,
    )
  by_name = {r.name: r for r in size_runs}
  md += ["", f"The studies' claims at {size} px:", ""]
  md += [
    f"- **{c.title}** Verdict: **{c.verdict}**. {c.evidence}" for c in (f(by_name) for f in CLAIMS)
  ]
  checked = [(r, goal_check(r)) for r in size_runs]
  md += [""] + [
    f"- {r.name}: {c[1]}{' — meets the goal' if c[0] else ''}." for r, c in checked if c
  ]
  md += ["", "Commands:", ""]
  md += [
    f"- {r.name}: `{portable_command(r.study['commands']['train'])}`"
    for r in size_runs
    if (r.study.get("commands") or {}).get("train")
  ]
  return md


def temperature_curve(run: Run, set_name: str) -> dict[float, dict]:
  """{temperature: {"metrics", "gray_baseline"}} of a run's bench/temperature_sweep.py reports
  on one set ({} without a sweep)."""
  curve = {}
  for name, (model, gray) in run.evals.items():
    head, _, value = name.rpartition("_t")
    if head == set_name:
      try:
        curve[float(value)] = {"metrics": model, "gray_baseline": gray}
      except ValueError:
        pass  # Another report whose name has a "_t" in it.
  return curve


def temperature_section(runs: list[Run]) -> list[str]:
  """Each classification run's decoding-temperature sweep: held-out val (where a temperature
  may be chosen), then birds/val (reports only), with issue 22's goal per temperature."""
  swept = [r for r in runs if temperature_curve(r, "val")]
  if not swept:
    return []
  md = ["", "## Decoding temperature of the classification head", ""]
  md += [
    "The annealed mean (Zhang et al. 2016) decodes the predicted ab distribution at a "
    "temperature: 1 is its mean (smooth, the best PSNR), towards 0 its mode (vivid); the "
    "recipes decode at 0.38, the paper's choice. The temperature only decodes the trained "
    "logits, so one run's last weights give the whole trade-off "
    "(`bench/temperature_sweep.py`; gains against the gray input; goal: issue 22's, per row).",
    "",
  ]
  for run in swept:
    for set_name, heading in (("val", "held-out 10% of birds/train"), (CLAIMS_EVAL, None)):
      curve = temperature_curve(run, set_name)
      if curve:
        title = heading or dict(EVALS).get(set_name, set_name)
        md += [f"**{run.name} on {title}**", ""]
        md += temperature_sweep.TABLE_HEADER + temperature_sweep.table_rows(curve) + [""]
  return md


def recipe_section(run: Run, output: str, assets: str) -> list[str]:
  config = run.study.get("config", run.config.get("model", {}).get("name", "?"))
  wall = _duration((run.final or {}).get("train_seconds"))
  summary = (
    f"`{config}`, {run.task} task, {run.kind} budget; parameters {_params(run)}; "
    f"{run.steps_done * run.batch_size:,} images ({run.epochs_done} "
    f"epoch{'' if run.epochs_done == 1 else 's'} at batch "
    f"{run.batch_size}); training wall time {wall}; machine: {_machines(run)}."
  )
  md = [f"### {run.name}", "", summary, ""]
  grid = os.path.join(assets, f"{run.name}_grid.png")
  plot = os.path.join(assets, f"{run.name}_curves.png")
  if small_grid(run, CLAIMS_EVAL, grid):
    md += [f"![{run.name}: gray | predicted | true]({_rel(grid, output)})", ""]
  if curves(run, plot):
    md += [f"![{run.name}: loss and quality per epoch]({_rel(plot, output)})", ""]
  if run.study.get("commands"):
    md += [
      "Reproduce (the study command, or its `launch.py` steps one at a time):",
      "",
      "```bash",
      portable_command(run.study.get("study_command", "")),
    ]
    md += [portable_command(c) for c in run.study["commands"].values()] + ["```", ""]
  else:
    md += ["(Not trained by bench/reference_study.py: no recorded command.)", ""]
  return md


FLAGS = flags.FLAGS


# Hand-written sections of RESULTS.md from this heading on survive a rewrite.
KEPT_HEADING = "## Measured elsewhere"


def kept_sections(path: str) -> str:
  """The existing file's hand-written tail (figures measured outside the study), if any."""
  try:
    with open(path) as f:
      old = f.read()
  except FileNotFoundError:
    return ""
  at = old.find(KEPT_HEADING)
  return "" if at < 0 else "\n" + old[at:]


def define_flags() -> None:
  flags.DEFINE_list(
    "study",
    ["runs/reference_study", "runs/records/reference_study"],
    "The study's folders (one workdir per recipe): its --out, then its committed records "
    "(bench/study_records.py); a recipe is read from the first that holds it finished.",
  )
  flags.DEFINE_list(
    "size_study",
    ["runs/reference_study_128", "runs/records/reference_study_128"],
    "The study at another image size (reference_study.py --image_size=128), likewise; its "
    "own section. Missing folders: no section.",
  )
  flags.DEFINE_list(
    "budget_study",
    ["runs/reference_study_long", "runs/records/reference_study_long"],
    "Runs at a longer budget (reference_study.py --regression_epochs=32), likewise; shown "
    "epoch by epoch under 'By training budget'.",
  )
  flags.DEFINE_string("output", os.path.join(ROOT, "RESULTS.md"), "Markdown file to write.")
  flags.DEFINE_string(
    "assets", os.path.join(ROOT, "docs", "results"), "Folder for the PNGs it links."
  )


def main(argv):
  del argv
  runs = load_study(FLAGS.study)
  if not runs:
    sys.exit(
      f"no workdirs (folders with config.json) under {', '.join(FLAGS.study)}; "
      "run bench/reference_study.py first"
    )
  text = render(
    runs,
    FLAGS.output,
    FLAGS.assets,
    study_dir=",".join(FLAGS.study),
    size_runs=load_study(FLAGS.size_study),
    budget_runs=load_study(FLAGS.budget_study),
  )
  text += kept_sections(FLAGS.output)
  atomic.write_text(FLAGS.output, text)
  print(f"wrote {FLAGS.output} ({len(runs)} runs) and figures in {FLAGS.assets}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
