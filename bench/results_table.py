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

With --size_study and --budget_study, also the study at 128 px and the goal by
training budget. The pieces: study_runs.py (reading the runs), study_claims.py
(the claims), results_goal.py (issue 22's ablations, recommendation, budgets and
temperatures), results_markdown.py (cells and tables); this file draws the
figures and puts the page together.
"""

from __future__ import annotations

import datetime
import os
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
from results_goal import (  # noqa: E402
  ablation_section,
  budget_section,
  goal_lines,
  temperature_section,
)
from results_markdown import (  # noqa: E402
  COLUMNS,
  FID_HEADING,
  budget_row,
  duration,
  fid_cell,
  fmt,
  machines,
  metric_row,
  params_cell,
  portable_command,
  relative_link,
  table,
)
from study_claims import CLAIMS  # noqa: E402
from study_runs import CLAIMS_EVAL, EVALS, Run, image_size, load_study  # noqa: E402

from colorize_jax.outputs import atomic  # noqa: E402
from colorize_jax.outputs.plots import plot_curves  # noqa: E402

GRID_ROWS, GRID_TILE = 4, 64


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


def small_grid(run: Run, eval_name: str, path: str) -> bool:
  """A run's gray | predicted | true grid: its evaluation's, else its last training sample."""
  candidates = [
    os.path.join(run.workdir, "eval", f"{eval_name}.png"),
    os.path.join(run.workdir, "samples", "final.png"),
  ]
  source = next((p for p in candidates if os.path.exists(p)), None)
  if source is None:
    return False
  _save_side_by_side(_grid_columns(source, image_size(run)), path)
  return True


def combined_grid(runs: list[Run], eval_name: str, path: str) -> bool:
  """gray | each run's prediction | true, on the same photos: every run's eval grid shows the
  evaluation set's first photos. Needs two or more runs at one image size."""
  columns = [
    _grid_columns(os.path.join(r.workdir, "eval", f"{eval_name}.png"), image_size(r))
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
  "for MSE, which is in each model's own output space (RGB in [0, 1] for RGB regression, "
  "Lab ab/110 for Lab regression, RGB in [-1, 1] or Lab ab/110 for the GANs). FID: the "
  "Fréchet Inception "
  "Distance of all the predictions against the photos (lower is better; TF Inception-v3 pool3, "
  "the graph's own bilinear resize to 299 px), then the gray images' and the number of images "
  "n; below 2,049 images it is biased upwards and compares only at equal n ('–': not computed, "
  "e.g. without the converted weights)."
)


def photo_set_table(
  runs: list[Run], eval_name: str, output: str, assets: str, grid_name: str
) -> list[str]:
  """One photo set's metrics of every run, then the same photos colorized by each of them."""
  md = table(
    ["recipe"] + [f"{title} ({beside})" for _, title, _, beside in COLUMNS] + [FID_HEADING],
    [metric_row(r, eval_name) for r in runs],
  )
  combined = os.path.join(assets, grid_name)
  if combined_grid(runs, eval_name, combined):
    names = " | ".join(r.name for r in runs)
    md += [
      "",
      f"The same photos colorized by every recipe: gray | {names} | true.",
      "",
      f"![{eval_name}: every recipe]({relative_link(combined, output)})",
    ]
  return md


def render(
  runs: list[Run],
  output: str,
  assets: str,
  *,
  command_flags: str = "--study=runs/reference_study",
  size_runs: list[Run] = (),
  budget_runs: list[Run] = (),
) -> str:
  """The markdown of RESULTS.md; writes the figures into `assets` as it goes."""
  by_name = {r.name: r for r in runs}
  budgets = sorted(
    {
      (r.kind, r.study.get("budget", {}).get("epochs", r.epochs_done), r.batch_size, image_size(r))
      for r in runs
    },
    key=str,
  )
  budget_text = "; ".join(
    f"{kind}: {epochs} epochs at batch {batch}, {size}x{size} px"
    for kind, epochs, batch, size in budgets
  )
  generated = (
    f"Generated by `python bench/results_table.py {command_flags}` on "
    f"{datetime.date.today().isoformat()} from the workdirs of `python "
    f"bench/reference_study.py` (do not edit by hand: rerun both). {INTRO}"
  )
  budget_line = (
    f"Budgets (images = steps x batch): {budget_text}. Wall times are training only, "
    "on the machine named per recipe; on a shared machine they are upper bounds."
  )
  md = ["# Reference results", "", generated, "", budget_line, "", "## Budget and parameters", ""]
  md += table(
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
    md += photo_set_table(evaluated, eval_name, output, assets, f"{eval_name}_all.png")
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
        + [fmt(m.get(k), f) for k, _, f in HINT_METRICS]
        for n, m in curve.items()
      ]
      if unet is not None and eval_name in unet.evals:
        rows.append(
          ["unet (automatic)"] + [fmt(unet.metric(eval_name, k), f) for k, _, f in HINT_METRICS]
        )
      rows.append(
        ["gray input"] + [fmt(run.metric(eval_name, k, gray=True), f) for k, _, f in HINT_METRICS]
      )
      md += [f"**{run.name} on {heading}**", ""]
      md += table(["scored"] + [title for _, title, _ in HINT_METRICS], rows) + [""]
      if eval_name == CLAIMS_EVAL:
        automatic = unet.metric(eval_name, "psnr") if unet is not None else None
        md += [f"- {v}" for v in hints_verdicts(curve, automatic)] + [""]
    source = os.path.join(run.workdir, "eval", f"{CLAIMS_EVAL}_hints.png")
    if os.path.exists(source):
      target = os.path.join(assets, f"{run.name}_hints_grid.png")
      image = Image.open(source).convert("RGB")
      rows_px = min(GRID_ROWS, (image.height + 2) // (image_size(run) + 2))
      image = image.crop((0, 0, image.width, rows_px * (image_size(run) + 2) - 2))
      os.makedirs(assets, exist_ok=True)
      image.save(target, optimize=True)
      md += [
        f"Photos of {CLAIMS_EVAL} with their hints drawn on the gray input, beside the "
        "prediction, at 0, ~10 and the most hints; the true photo last:",
        "",
        f"![{run.name}: hints]({relative_link(target, output)})",
        "",
      ]
  return md


def size_section(size_runs: list[Run], runs: list[Run], output: str, assets: str) -> list[str]:
  """The study at another image size (issue 22: the birds study at its own 128 px): budgets,
  both photo sets with FID, the same recipe at the reference size beside it, the claims."""
  if not size_runs:
    return []
  size = image_size(size_runs[0])
  md = ["", f"## At {size} x {size} px", ""]
  md += [
    f"The study's recipes at {size} px, trained by `python bench/reference_study.py "
    f"--image_size={size}` (each run's command below), on the same photos and metrics as above.",
    "",
  ]
  md += table(
    ["recipe", "task", "budget", "parameters", "images", "epochs", "px", "wall time", "status"],
    [budget_row(r) for r in size_runs],
  )
  for eval_name, heading in EVALS:
    evaluated = [r for r in size_runs if eval_name in r.evals]
    if not evaluated:
      continue
    md += ["", f"**{heading} at {size} px**", ""]
    md += photo_set_table(evaluated, eval_name, output, assets, f"{eval_name}_all_{size}px.png")
  reference = {r.name: r for r in runs}
  pairs = [(r, reference[r.name]) for r in size_runs if r.name in reference]
  if pairs:
    md += [
      "",
      f"Gains over the gray input on `{CLAIMS_EVAL}`, at {size} px against the "
      f"reference {image_size(pairs[0][1])} px:",
      "",
    ]
    rows = []
    for big, small in pairs:
      cells = [big.name]
      for run in (small, big):
        psnr, auc = (run.metric(CLAIMS_EVAL, k) for k in ("psnr", "ab_auc"))
        psnr_g, auc_g = (run.metric(CLAIMS_EVAL, k, gray=True) for k in ("psnr", "ab_auc"))
        cells += [
          fmt(None if None in (psnr, psnr_g) else psnr - psnr_g, "{:+.2f}"),
          fmt(None if None in (auc, auc_g) else auc - auc_g, "{:+.3f}"),
          fmt(run.metric(CLAIMS_EVAL, "delta_colorfulness"), "{:.1f}"),
          fid_cell(run, CLAIMS_EVAL),
        ]
      rows.append(cells)
    small_px, big_px = image_size(pairs[0][1]), size
    md += table(
      ["recipe"]
      + [f"{t} {px} px" for px in (small_px, big_px) for t in ("PSNR", "AuC", "ΔCF", "FID")],
      rows,
    )
  by_name = {r.name: r for r in size_runs}
  md += ["", f"The studies' claims at {size} px:", ""]
  md += [
    f"- **{c.title}** Verdict: **{c.verdict}**. {c.evidence}" for c in (f(by_name) for f in CLAIMS)
  ]
  md += [""] + goal_lines(size_runs)
  md += ["", "Commands:", ""]
  md += [
    f"- {r.name}: `{portable_command(r.study['commands']['train'])}`"
    for r in size_runs
    if (r.study.get("commands") or {}).get("train")
  ]
  return md


def recipe_section(run: Run, output: str, assets: str) -> list[str]:
  config = run.study.get("config", run.config.get("model", {}).get("name", "?"))
  wall = duration((run.final or {}).get("train_seconds"))
  summary = (
    f"`{config}`, {run.task} task, {run.kind} budget; parameters {params_cell(run)}; "
    f"{run.steps_done * run.batch_size:,} images ({run.epochs_done} "
    f"epoch{'' if run.epochs_done == 1 else 's'} at batch "
    f"{run.batch_size}); training wall time {wall}; machine: {machines(run)}."
  )
  md = [f"### {run.name}", "", summary, ""]
  grid = os.path.join(assets, f"{run.name}_grid.png")
  plot = os.path.join(assets, f"{run.name}_curves.png")
  if small_grid(run, CLAIMS_EVAL, grid):
    md += [f"![{run.name}: gray | predicted | true]({relative_link(grid, output)})", ""]
  if curves(run, plot):
    md += [f"![{run.name}: loss and quality per epoch]({relative_link(plot, output)})", ""]
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


def command_flags() -> str:
  """The folders this table was made from, as the flags that reproduce it: --study always, the
  other studies where they are not the defaults."""
  out = [f"--study={','.join(FLAGS.study)}"]
  for name in ("size_study", "budget_study"):
    if FLAGS[name].value != FLAGS[name].default:
      out.append(f"--{name}={','.join(FLAGS[name].value)}")
  return " ".join(out)


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
    command_flags=command_flags(),
    size_runs=load_study(FLAGS.size_study),
    budget_runs=load_study(FLAGS.budget_study),
  )
  text += kept_sections(FLAGS.output)
  atomic.write_text(FLAGS.output, text)
  print(f"wrote {FLAGS.output} ({len(runs)} runs) and figures in {FLAGS.assets}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
