"""The ab classification head's decoding temperature, swept on a trained run without retraining.

  python bench/temperature_sweep.py --workdir=runs/reference_study/classification \
      --eval_folder=birds_val=../shared/data/birds/val

Zhang et al. (2016) decode the predicted ab distribution by its annealed mean: temperature 1 is
the mean (smooth, desaturated, the best PSNR), towards 0 the mode (vivid, patchy); they chose
0.38 by eye. The temperature only decodes the trained logits, so one run gives the whole
trade-off between PSNR and colourfulness (`--mode=eval` takes it from the command line,
colorize_jax/evaluate.py's TEST_TIME_FIELDS).

For each --temperatures value the run's last weights are scored on its held-out `val` split
(the part of its training folder it never trained on: where a temperature may be chosen) and on
each --eval_folder (which only report), without FID or grids, as eval/<name>_t<T>.json; a
table of PSNR, AuC and ΔCF against the gray input follows, marking where issue 22's goal is met.
bench/results_table.py shows the same table from those reports.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script, or loaded by a test from its file.
  if _path not in sys.path:
    sys.path.insert(0, _path)
from recipe_goal import meets_goal  # noqa: E402

FLAGS = flags.FLAGS
COLUMNS = (("psnr", "PSNR dB", "{:+.2f}"), ("ab_auc", "AuC", "{:+.3f}"))


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "A trained classification run.", required=True)
  flags.DEFINE_list(
    "temperatures", ["0.1", "0.2", "0.38", "0.6", "1.0"], "Annealed-mean temperatures to score."
  )
  flags.DEFINE_multi_string(
    "eval_folder", [], "NAME=FOLDER photo sets also scored (reported, never chosen on)."
  )
  flags.DEFINE_string("checkpoint", "last", "Which weights: last | best | a step.")


def report_name(set_name: str, temperature: float) -> str:
  return f"{set_name}_t{temperature:g}"


def table_rows(reports: dict[float, dict]) -> list[str]:
  """Markdown rows: temperature, gains over gray, ΔCF, colourfulness, whether the goal is met."""
  rows = []
  for temperature, report in sorted(reports.items()):
    model, gray = report["metrics"], report["gray_baseline"]
    gains = [spec.format(model[key] - gray[key]) for key, _, spec in COLUMNS]
    rows.append(
      f"| {temperature:g} | "
      + " | ".join(gains)
      + f" | {model['delta_colorfulness']:.1f} | {model['colorfulness']:.1f} | "
      + ("yes" if meets_goal(model, gray) else "no")
      + " |"
    )
  return rows


TABLE_HEADER = [
  "| temperature | PSNR dB vs gray | AuC vs gray | ΔCF | colourfulness | goal |",
  "|---|---|---|---|---|---|",
]


def sweep(workdir: str, temperatures: list[float], folders: list[str], checkpoint: str):
  """{set name: {temperature: report}}: the held-out `val` split and each NAME=FOLDER."""
  from colorize_jax import evaluate, inference  # JAX starts here, after absl parsed the flags.
  from colorize_jax.evaluators import specs
  from colorize_jax.outputs.rundir import RunDir

  config = inference.workdir_config(workdir)
  if "classification" not in config:
    raise app.UsageError(f"{workdir}: not a classification run (task {config.get('task')!r})")
  sets = [("val", {"split": "val"})] + [
    (name, {"path": entry["path"]}) for name, entry in map(specs.parse_folder_flag, folders)
  ]
  out: dict[str, dict[float, dict]] = {name: {} for name, _ in sets}
  for temperature in temperatures:
    with config.unlocked():
      config.classification.temperature = temperature
      config.eval.checkpoint = checkpoint
    evals = [
      specs.EvalSpec(name=report_name(name, temperature), fid="off", num_sample_images=0, **where)
      for name, where in sets
    ]
    evaluate.evaluate_run(config, workdir, evals)
    for name, _ in sets:
      out[name][temperature] = RunDir(workdir).report(report_name(name, temperature))
  return out


def main(argv):
  del argv
  temperatures = [float(t) for t in FLAGS.temperatures]
  bad = [t for t in temperatures if not t > 0]
  if bad:
    raise app.UsageError(f"--temperatures must be > 0; got {bad}")
  results = sweep(FLAGS.workdir, temperatures, FLAGS.eval_folder, FLAGS.checkpoint)
  for name, reports in results.items():
    chosen_on = " (held out: choose here)" if name == "val" else " (reports only)"
    print(f"\n{FLAGS.workdir}, {name}{chosen_on}:")
    print("\n".join(TABLE_HEADER + table_rows(reports)))


if __name__ == "__main__":
  define_flags()
  app.run(main)
