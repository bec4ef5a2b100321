"""Side-by-side report of several trained runs.

  python -m colorize_jax.compare runs/unet runs/cnn runs/gan --output=reports/birds
  python -m colorize_jax.compare runs/* --output=reports/all --evaluate_missing \
      --images=/work/shared/data/kodak24

Writes into OUTPUT:
  report.md    one row per run (task, model, loss, parameters, epochs, wall
               time) and, per evaluation (eval/<name>.json), every metric
               with the gray baseline beside it
  report.csv   the same, one row per run, every column
  val_loss.png validation-loss curves of all runs on shared axes
  grid.png     the same test images colorized by each run: gray | run1 | run2 | ... | true
"""

from __future__ import annotations

import csv
import os
import sys

import numpy as np
from absl import app, flags, logging

from colorize_jax import color, colorize, evaluate, inference, registry
from colorize_jax.data import DataPipeline, load_image, resize_square
from colorize_jax.outputs import atomic
from colorize_jax.outputs.grids import comparison_grid, save_png
from colorize_jax.outputs.metric_names import HEADLINE
from colorize_jax.outputs.plots import plot_runs
from colorize_jax.outputs.rundir import RunDir
from colorize_jax.runtime import logs


def run_labels(run_dirs: list[str]) -> list[str]:
  """Shortest trailing path parts that tell the runs apart (usually the folder name)."""
  parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in run_dirs]
  for depth in range(1, max(len(p) for p in parts) + 1):
    labels = ["/".join(p[-depth:]) for p in parts]
    if len(set(labels)) == len(labels):
      return labels
  return [os.path.abspath(d) for d in run_dirs]


def run_summary(run_dir: str, label: str) -> dict:
  """Everything the report says about one run."""
  config = inference.workdir_config(run_dir)
  final = RunDir(run_dir).final()
  row = {
    "run": label,
    "workdir": os.path.abspath(run_dir),
    "task": config.task,
    "model": config.model.name,
    "loss": config.loss,
    "color_space": config.data.color_space,
    "image_size": config.data.image_size,
  }
  if final:
    row |= {
      "parameters": sum(final.get("params", {}).values()),
      "epochs": final.get("epochs"),
      "train_seconds": final.get("train_seconds"),
      "status": "finished",
    }
  else:  # Still training, or stopped before its final evaluation.
    epochs = [r for r in RunDir(run_dir).metrics() if r.get("kind") == "epoch"]
    row |= {
      "parameters": None,
      "epochs": epochs[-1]["epoch"] if epochs else 0,
      "train_seconds": None,
      "status": "unfinished",
    }
  return row


def default_eval_name(run_dir: str) -> str:
  """The report `--mode=eval` writes by default for a run (its config.eval: best checkpoint,
  test split), e.g. "test"."""
  return evaluate.eval_name(inference.workdir_config(run_dir).eval)


def evaluate_missing(run_dir: str) -> None:
  """Runs the default evaluation (best checkpoint, test split) for a run that lacks it."""
  evaluate.evaluate_run(inference.workdir_config(run_dir), run_dir)


def _fmt(value) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    return f"{value:.4g}"
  if isinstance(value, int) and abs(value) >= 10000:
    return f"{value:,}"
  return str(value)


def _markdown_table(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def write_tables(
  summaries: list[dict], evals: list[dict[str, dict]], output: str
) -> tuple[str, str]:
  """report.md and report.csv."""
  info_keys = [
    "run",
    "task",
    "model",
    "loss",
    "color_space",
    "image_size",
    "parameters",
    "epochs",
    "train_seconds",
    "status",
  ]
  names = sorted({name for e in evals for name in e})
  md = [
    "# Run comparison",
    "",
    _markdown_table(info_keys, [[s[k] for k in info_keys] for s in summaries]),
    "",
  ]
  csv_rows = [{k: s[k] for k in info_keys} | {"workdir": s["workdir"]} for s in summaries]
  for name in names:
    md += [f"## Evaluation `{name}`", ""]
    header = ["run", "step", "examples"] + list(HEADLINE) + [f"gray {m}" for m in HEADLINE]
    rows, missing = [], []
    for summary, run_evals in zip(summaries, evals):
      report = run_evals.get(name)
      if report is None:
        if run_evals:  # Runs with no evaluation at all are listed once, below.
          missing.append(summary["run"])
        continue
      rows.append(
        [summary["run"], report.get("step"), report.get("examples")]
        + [report["metrics"].get(m) for m in HEADLINE]
        + [report["gray_baseline"].get(m) for m in HEADLINE]
      )
    md += [_markdown_table(header, rows), ""]
    if missing:
      md += [
        f"No `{name}` evaluation yet for: {', '.join(missing)} "
        f"(python launch.py --config=... --workdir=RUN --mode=eval).",
        "",
      ]
  no_eval = [s["run"] for s, e in zip(summaries, evals) if not e]
  if no_eval:
    md += [
      f"Not evaluated yet: {', '.join(no_eval)}. Run `python launch.py --config=... --workdir=RUN "
      "--mode=eval` or pass --evaluate_missing.",
      "",
    ]
  md += [
    "Higher is better for psnr, ssim and ab_auc; delta_colorfulness is the mean per-image "
    "|predicted - true| colorfulness, delta_colorfulness_set the set-level |mean predicted - "
    "mean true| colorfulness that papers report as ΔCF (0 is ideal for both); psnr, ssim, "
    "ab_auc and colorfulness score the predicted colour on the photo's own luminance; mse and "
    "l1 are in each model's own output space. fid (lower is better) is the Fréchet Inception "
    "Distance of the whole set of examples against the photos, comparable only at equal "
    "examples. `gray` columns score the photo's luminance with "
    "zero chroma: the floor a model must beat.",
    "",
    "![validation loss](val_loss.png)",
    "",
    "![gray | runs | true](grid.png)",
    "",
  ]
  for row, run_evals in zip(csv_rows, evals):
    for name, report in run_evals.items():
      row |= {f"{name}/step": report.get("step"), f"{name}/examples": report.get("examples")}
      row |= {f"{name}/{k}": v for k, v in report["metrics"].items()}
      row |= {f"{name}/gray/{k}": v for k, v in report["gray_baseline"].items()}
  columns = list(dict.fromkeys(k for row in csv_rows for k in row))
  md_path, csv_path = os.path.join(output, "report.md"), os.path.join(output, "report.csv")
  atomic.write_text(md_path, "\n".join(md))
  with atomic.replacing(csv_path) as tmp, open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(csv_rows)
  return md_path, csv_path


def plot_val_loss(
  run_dirs: list[str], labels: list[str], path: str, metric: str = "val/loss"
) -> bool:
  """One curve per run, epochs on x, shared axes. False when no run has logged an epoch."""
  return plot_runs({label: RunDir(d).metrics() for d, label in zip(run_dirs, labels)}, path, metric)


def grid_images(run_dir: str, size: int, n: int, image_paths: list[str] | None) -> np.ndarray:
  """The photos every run colorizes: given files/folders, or the first run's fixed test (else val)
  examples."""
  if image_paths:
    pairs, missing = colorize.expand_inputs(image_paths)
    if missing:
      raise FileNotFoundError(f"--images: {missing}")
    return np.stack([resize_square(load_image(path), size) for path, _ in pairs[:n]])
  data_cfg = inference.workdir_config(run_dir).data
  with data_cfg.unlocked():
    data_cfg.image_size = size
  data = DataPipeline(data_cfg, global_batch_size=1, seed=0)
  # A run may have trained with no test split (e.g. split_fractions (0.9, 0.1, 0)).
  for split in ("test", "val"):
    images = data.fixed_examples(split, n)
    if len(images):
      return images
  raise ValueError(f"{run_dir} has no test or val photos for the grid; pass --images=PHOTOS")


def colorized_grid(run_dirs: list[str], images: np.ndarray, checkpoint: str = "best") -> np.ndarray:
  """gray | run1 | ... | true. Each run colorizes at its own image_size and its chroma is joined
  with the photo's luminance at the grid's size (the colorize command's path), so runs trained
  at different sizes or colour spaces share one grid."""
  true = images.astype(np.float32) / 255.0
  columns = [np.asarray(color.rgb_to_gray(true))]
  for run_dir in run_dirs:
    colorizer = inference.from_workdir(run_dir, checkpoint)
    columns.append(
      np.stack(colorize.colorize_images(colorizer, list(images))).astype(np.float32) / 255.0
    )
  columns.append(true)
  return comparison_grid(*columns)


def compare(
  run_dirs: list[str],
  output: str,
  *,
  evaluate_missing_runs: bool = False,
  num_images: int = 6,
  grid_size: int = 0,
  image_paths: list[str] | None = None,
  checkpoint: str = "best",
) -> dict:
  """Writes the report; returns the paths it wrote."""
  bad = [d for d in run_dirs if not os.path.exists(os.path.join(d, "config.json"))]
  if bad:
    raise FileNotFoundError(f"not run workdirs (no config.json): {bad}")
  os.makedirs(output, exist_ok=True)
  labels = run_labels(run_dirs)
  evals = []
  for run_dir, label in zip(run_dirs, labels):
    run_evals = RunDir(run_dir).reports()
    # Training writes its evaluators' reports (eval/val.json, ...), so "missing" means the
    # default evaluation's report, not any report.
    if evaluate_missing_runs and default_eval_name(run_dir) not in run_evals:
      logging.info(
        "run %s has no default evaluation yet: evaluating its best checkpoint on the test split",
        label,
      )
      evaluate_missing(run_dir)
      run_evals = RunDir(run_dir).reports()
    if not run_evals:
      logging.warning("run %s has no eval/*.json yet; its metric columns stay empty", label)
    evals.append(run_evals)
  summaries = [run_summary(d, label) for d, label in zip(run_dirs, labels)]
  md_path, csv_path = write_tables(summaries, evals, output)
  plot_path = os.path.join(output, "val_loss.png")
  if not plot_val_loss(run_dirs, labels, plot_path):
    logging.warning("no run has logged a validation epoch; %s is empty", plot_path)
  size = grid_size or max(int(s["image_size"]) for s in summaries)
  images = grid_images(run_dirs[0], size, num_images, image_paths)
  grid_path = os.path.join(output, "grid.png")
  save_png(colorized_grid(run_dirs, images, checkpoint), grid_path)
  paths = {"markdown": md_path, "csv": csv_path, "plot": plot_path, "grid": grid_path}
  logging.info("comparison of %d runs: %s", len(run_dirs), ", ".join(paths.values()))
  return paths


FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string(
    "output", None, "Folder for report.md, report.csv, val_loss.png and grid.png."
  )
  flags.DEFINE_bool(
    "evaluate_missing",
    False,
    "Evaluate (best checkpoint, test split) runs that lack that default evaluation.",
  )
  flags.DEFINE_integer("num_images", 6, "Rows of the colorized grid.")
  flags.DEFINE_integer(
    "grid_size", 0, "Pixel size of the grid's images; 0: the largest image_size of the runs."
  )
  flags.DEFINE_list(
    "images",
    None,
    "Photos (files, folders, globs) for the grid instead of the first run's test split.",
  )
  flags.DEFINE_string(
    "checkpoint", "best", "Checkpoint each run colorizes the grid with: best, last or a step."
  )
  flags.mark_flags_as_required(["output"])


def main(argv):
  logs.quiet_libraries()
  run_dirs = argv[1:]
  if not run_dirs:
    raise app.UsageError("give one or more run workdirs")
  try:
    compare(
      run_dirs,
      FLAGS.output,
      evaluate_missing_runs=FLAGS.evaluate_missing,
      num_images=FLAGS.num_images,
      grid_size=FLAGS.grid_size,
      image_paths=FLAGS.images,
      checkpoint=FLAGS.checkpoint,
    )
  except (ValueError, FileNotFoundError, registry.UnknownNameError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
