"""One named evaluator of a run: its spec (specs.py), its data and the shared jitted Evaluator.

Training scores it every few epochs (`epoch_means`, logged as `<name>/<metric>`)
and once more at the end (`report`); `launch.py --mode=eval` builds one from
`config.eval` and writes the same report, eval/<name>.json. FID (evaluators/fid.py) is part of
the report when the spec's `fid` allows it and the weights exist, and of the epochs' scoring
only with fid='epochs'.
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np
from absl import logging

from colorize_jax.data import DataPipeline
from colorize_jax.evaluators import fid, hint_counts
from colorize_jax.evaluators.evaluator import Evaluator, Scores
from colorize_jax.evaluators.specs import EvalSpec
from colorize_jax.outputs import atomic, metric_names
from colorize_jax.outputs.grids import save_png


def pipeline(spec: EvalSpec, config) -> DataPipeline:
  """A pipeline of a spec's data, batched for evaluation (spec.batch_size or config.batch_size)."""
  return DataPipeline(
    spec.data(config.data)[0],
    global_batch_size=int(spec.batch_size or config.batch_size),
    seed=config.seed,
    process_index=jax.process_index(),
    process_count=jax.process_count(),
  )


class NamedEvaluator:
  """A spec bound to its batches: the run's own data for a split, a pipeline of its own for a
  folder (`shared` is the run's pipeline, reused when the spec reads one of its splits)."""

  def __init__(
    self, spec: EvalSpec, evaluator: Evaluator, config, *, shared: DataPipeline | None = None
  ):
    self.spec, self.evaluator, self.name = spec, evaluator, spec.name
    hint_counts.check(spec, evaluator.task)
    self.data_cfg, self.split = spec.data(config.data)
    own_data = spec.path or spec.batch_size or shared is None
    self.data = pipeline(spec, config) if own_data else shared
    self.count = self.data.num_examples(self.split)
    self.num_sample_images = (
      int(config.num_sample_images) if spec.num_sample_images < 0 else spec.num_sample_images
    )
    if not self.count and spec.path:
      raise ValueError(f"{spec.where}.path={spec.path!r} has no images")
    # Before training: missing weights stop a run that asks for FID, in one line.
    self.fid_enabled = spec.keeps("fid") and fid.enabled(spec.fid, spec.where)

  def due(self, epoch: int, last: bool) -> bool:
    return self.count > 0 and self.spec.due(epoch, last)

  def scores(
    self, state, *, with_gray: bool, max_examples: int = 0, with_fid: bool = False
  ) -> Scores:
    """Every kept metric per example, and the set-level ones (a collective: every process calls
    it). `with_fid`: FID too, where the spec and the weights allow it."""
    scores = self.evaluator.evaluate(
      state,
      self.data.eval_batches(self.split),
      with_gray=with_gray,
      max_examples=max_examples,
      fid=with_fid and self.fid_enabled,
      name=self.name,
    )
    kept = {k: v for k, v in scores.values.items() if self.spec.keeps(k)}
    kept |= hint_counts.scores(  # {} unless the spec asks for the hint-count curve.
      self.evaluator,
      self.spec,
      lambda: self.data.eval_batches(self.split),
      state,
      max_examples=max_examples,
    )
    sets = {k: v for k, v in scores.sets.items() if self.spec.keeps(k)}
    return Scores(scores.positions, kept, sets)

  def epoch_means(self, state, *, with_gray: bool) -> dict[str, float]:
    """The means of an epoch's scoring, on at most `max_examples` examples."""
    return self.scores(
      state,
      with_gray=with_gray,
      max_examples=self.spec.max_examples,
      with_fid=self.spec.fid_on_epochs,
    ).means()

  def report(
    self, state, *, step: int, checkpoint: str, workdir: str
  ) -> tuple[dict, dict[str, np.ndarray]]:
    """(eval/<name>.json's content, its figures {path: uint8 image}: the gray | predicted |
    true grid, and for a hint curve the hints grid): every example, with the gray baseline.
    A collective: every process calls it; process 0 writes (evaluate.py)."""
    start = time.perf_counter()
    scores = self.scores(state, with_gray=True, with_fid=True)
    seconds = time.perf_counter() - start
    if not scores.count:
      raise ValueError(
        f"no image of the {self.split} split could be scored by evaluator {self.name!r} "
        f"({self.data_cfg.source} {self.data_cfg.path}): each failed to decode or has no "
        "colour (data.skip_gray_photos leaves gray photos out; warned above)"
      )
    values = scores.values
    # Per-example means and the set-level metrics (delta_colorfulness_set), per_image has the
    # former only.
    means = {k: float(np.mean(v)) for k, v in values.items()} | scores.sets
    means = dict(sorted(means.items()))
    files = getattr(self.data.source(self.split), "files", None)  # Folders know their names.
    per_image = [
      {
        "index": int(p),
        **({"file": files[p]} if files else {}),
        **{k: float(v[i]) for k, v in sorted(values.items())},
      }
      for i, p in enumerate(scores.positions)
    ]
    out_dir = os.path.join(workdir, "eval")
    report = {
      "name": self.name,
      "workdir": workdir,
      "checkpoint": checkpoint,
      "step": int(step),
      "split": self.split,
      "path": os.path.abspath(self.data_cfg.path) if self.spec.path else "",
      "source": self.data_cfg.source,
      "image_size": int(self.data_cfg.image_size),
      "color_space": self.evaluator.task.color_space.name,
      "examples": scores.count,
      # Listed but not scored: failed to decode, or no colour (data.skip_gray_photos).
      "left_out": self.count - scores.count,
      "seconds": seconds,
      "metrics": {k: v for k, v in means.items() if not k.startswith("gray/")},
      "gray_baseline": {k[len("gray/") :]: v for k, v in means.items() if k.startswith("gray/")},
      "grid": os.path.join(out_dir, f"{self.name}.png"),
      **({"hint_curve": curve} if (curve := hint_counts.curve(means)) else {}),
      **({"fid": fid.report_entry(scores.count)} if "fid" in means else {}),
      "per_image": per_image,
    }
    images = self.data.fixed_examples(self.split, self.num_sample_images)
    figures = {}
    if len(images):
      figures[report["grid"]] = self.evaluator.sample_grid(state, images)
      if self.spec.hint_counts:  # The photos with their hints drawn, beside the predictions.
        report["hints_grid"] = hint_counts.grid_path(workdir, self.name)
        figures[report["hints_grid"]] = hint_counts.grid(self.evaluator, self.spec, state, images)
    left_out = f", {report['left_out']} left out (warned above)" if report["left_out"] else ""
    logging.info(
      "evaluator %s (%d images%s, %.1f s): %s",
      self.name,
      scores.count,
      left_out,
      seconds,
      summary(report),
    )
    return report, figures


def write_report(report: dict, figures: dict[str, np.ndarray]) -> None:
  """eval/<name>.json and its grids ({path: uint8 image}: eval/<name>.png, and for a hint
  curve eval/<name>_hints.png) (process 0 only)."""
  for path, image in figures.items():
    save_png(image, path)
  if report.get("hint_curve"):
    path = hint_counts.plot_path(report["workdir"], report["name"])
    title = f"{report['name']}: quality against hints"
    hint_counts.plot(report["hint_curve"], path, title, report.get("gray_baseline"))
  # Whole or not at all: compare and results_table read eval/*.json.
  atomic.write_json(os.path.join(os.path.dirname(report["grid"]), f"{report['name']}.json"), report)


def summary(report: dict) -> str:
  """'psnr 24.1 (gray 22.3) ...': each headline number beside its gray-baseline floor (FID with
  its number of images)."""
  model, gray = report["metrics"], report["gray_baseline"]
  count = f"; {report['fid']['examples']} images" if "fid" in report else ""
  return ", ".join(
    f"{k} {model[k]:.4g} (gray {gray[k]:.4g}{count if k == 'fid' else ''})"
    for k in metric_names.HEADLINE
    if k in model and k in gray
  )
