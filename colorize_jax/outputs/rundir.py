"""A run's workdir as plain data, read without JAX: config.json, metrics.jsonl, final_metrics.json
and eval/<name>.json, metric names older runs used mapped to today's (outputs/metric_names.py).

Used by compare, evaluate and bench/results_table.py; nothing here imports jax, flax, matplotlib
or tensorboardX."""

from __future__ import annotations

import functools
import glob
import json
import os

from colorize_jax.outputs import metric_names


def read_json(path: str) -> dict | None:
  """The file's object, or None when there is no such file."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def read_metrics(workdir: str) -> list[dict]:
  """metrics.jsonl's records, names older runs used mapped to current ones ('val/mae' ->
  'val/l1'); [] when there is none."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      if line.strip():
        try:
          records.append(metric_names.rename_old_values(json.loads(line)))
        except json.JSONDecodeError:
          pass  # A line cut short by a killed run.
  return records


class RunDir:
  """One run's workdir, read-only. Files that are not there read as {} (config), [] (metrics) or
  None (the rest), so an unfinished run reads like a finished one with less in it."""

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)

  def read(self, name: str) -> dict | None:
    """Any JSON file of the workdir by its relative path ('study.json')."""
    return read_json(os.path.join(self.path, name))

  @functools.cached_property
  def config(self) -> dict:
    """config.json as a plain dict (inference.workdir_config fills in later defaults)."""
    return self.read("config.json") or {}

  def metrics(self) -> list[dict]:
    return read_metrics(self.path)

  def final(self) -> dict | None:
    """final_metrics.json: None while training, or when it stopped before the end."""
    return self.read("final_metrics.json")

  def report(self, name: str) -> dict | None:
    """eval/<name>.json in the current vocabulary; None when missing or not an eval report."""
    report = self.read(os.path.join("eval", f"{name}.json"))
    if not report or not ("metrics" in report or "gray_baseline" in report):
      return None
    return metric_names.read_report(report)

  def reports(self) -> dict[str, dict]:
    """Every evaluation, by the name it records (else its file's), in file name order."""
    out = {}
    for path in sorted(glob.glob(os.path.join(self.path, "eval", "*.json"))):
      stem = os.path.splitext(os.path.basename(path))[0]
      report = self.report(stem)
      if report:
        out[report.get("name") or stem] = report
    return out
