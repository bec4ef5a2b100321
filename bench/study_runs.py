"""The reference study's runs as bench/results_table.py reads them: one workdir (or its record,
bench/study_records.py) per recipe, its config, study.json, final metrics, evaluation reports
and per-epoch history, under the agreed metric vocabulary.

Metric names of runs from before and after the metric vocabulary change
(`mae` -> `l1`, `auc` -> `ab_auc`, signed `colorfulness_diff` -> `delta_colorfulness`
= |CF(pred) - CF(true)|, `task/<k>` -> `<k>`) are both read.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script from a checkout that is not pip-installed.
  if _path not in sys.path:
    sys.path.insert(0, _path)

import recipe_goal  # noqa: E402

from colorize_jax.outputs import metric_names  # noqa: E402
from colorize_jax.outputs.rundir import RunDir  # noqa: E402

EVALS = (("birds_val", "birds/val"), ("kodak24", "kodak24"))  # eval name, heading.
CLAIMS_EVAL = "birds_val"


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
  spread = recipe_goal.colourfulness_spread(*_per_image_colourfulness(report))
  if "constant_dcf" in spread:
    gray["constant_dcf"] = spread["constant_dcf"]
  if "colourfulness_r" in spread:
    model["colourfulness_r"] = spread["colourfulness_r"]
  return model, gray


def _per_image_colourfulness(report: dict) -> tuple[list | None, list | None]:
  """(predicted, true) per-image colourfulness of a workdir's report (rows) or a record's
  (columns); the true one from the gray image's ΔCF where not recorded (a gray image has CF 0)."""
  columns = report.get("per_image_columns")
  if columns is None and report.get("per_image"):
    rows = report["per_image"]
    columns = {k: [r.get(k) for r in rows] for k in rows[0]}
  if not columns:
    return None, None
  true = columns.get("colorfulness_true") or columns.get("gray/delta_colorfulness")
  return columns.get("colorfulness"), true


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


def image_size(run: Run) -> int:
  return int(run.config.get("data", {}).get("image_size", 64))
