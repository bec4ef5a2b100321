"""`launch.py --mode=eval`: scores a trained run's checkpoint on a split or a folder of photos.

  python launch.py --config=configs/unet.py --workdir=runs/unet --mode=eval
  python launch.py ... --mode=eval --config.eval.path=/work/shared/data/kodak24
  python launch.py ... --mode=eval --config.eval.checkpoint=last --config.eval.split=val
  python launch.py ... --mode=eval --eval_folder=kodak24=/data/kodak24 --eval_folder=...

Writes DIR/eval/<name>.json (means, the gray baseline, per-image values) and
DIR/eval/<name>.png (gray | predicted | true) with the evaluator training uses
(colorize_jax/evaluators/named.py), which writes the same reports at the end
of a run. Only the train state is restored, never the data iterator, so a
finished run evaluates on any machine that has the evaluation photos.
"""

from __future__ import annotations

import dataclasses
import os

import jax
from absl import logging

from colorize_jax import inference
from colorize_jax.evaluators import specs
from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.evaluators.named import NamedEvaluator, summary, write_report
from colorize_jax.runtime import parallel

# Split names a photo folder is often called by; the parent names the data set then.
_GENERIC_FOLDER_NAMES = ("train", "val", "valid", "validation", "test", "images")


def eval_name(eval_cfg) -> str:
  """config.eval.name, or one derived from the split or folder (and checkpoint when not 'best')."""
  if eval_cfg.name:
    return str(eval_cfg.name)
  if eval_cfg.path:
    parts = os.path.normpath(os.path.abspath(os.path.expanduser(eval_cfg.path))).split(os.sep)
    name = "_".join(parts[-2:]) if parts[-1].lower() in _GENERIC_FOLDER_NAMES else parts[-1]
  else:
    name = str(eval_cfg.split)
  which = str(eval_cfg.checkpoint)
  return name if which == "best" else f"{name}_{which if not which.isdigit() else 'step' + which}"


def eval_spec(config) -> specs.EvalSpec:
  """The evaluator `--mode=eval` runs, from config.eval: its split or folder, batch and grid."""
  eval_cfg = config.eval
  return specs.EvalSpec(
    name=eval_name(eval_cfg),
    split=str(eval_cfg.split),
    path=str(eval_cfg.path),
    batch_size=int(eval_cfg.batch_size or config.batch_size),
    num_sample_images=int(eval_cfg.num_sample_images),
    # A hints recipe's curve (configs/hints.py sets eval.hint_counts).
    hint_counts=tuple(eval_cfg.get("hint_counts") or ()),
    field="eval",
  )


def evaluate_run(config, workdir: str, evals: list[specs.EvalSpec] | None = None) -> dict:
  """Evaluates `config.eval.checkpoint` of the run in `workdir` with the evaluators `evals`
  (default: the one of config.eval) and writes their reports; returns the last report."""
  workdir = os.path.abspath(workdir)
  evals = [
    dataclasses.replace(
      spec,
      batch_size=spec.batch_size or int(config.eval.batch_size or config.batch_size),
      num_sample_images=(
        int(config.eval.num_sample_images) if spec.num_sample_images < 0 else spec.num_sample_images
      ),
    )
    for spec in evals or [eval_spec(config)]
  ]
  for spec in evals:
    parallel.check_batch_size(spec.batch_size or config.batch_size, f"{spec.field}.batch_size")
  mesh = parallel.make_mesh()
  task, state, step = inference.restore_state(config, workdir, config.eval.checkpoint, mesh=mesh)
  evaluator = Evaluator(task, mesh)
  report = None
  for spec in evals:
    named = NamedEvaluator(spec, evaluator, config)
    if not named.count:
      raise ValueError(
        f"nothing to evaluate: the {named.split} split of {named.data_cfg.source} "
        f"{named.data_cfg.path or ''} has no images"
      )
    report, grid = named.report(
      state, step=step, checkpoint=str(config.eval.checkpoint), workdir=workdir
    )
    if jax.process_index() == 0:
      write_report(report, grid)
    logging.info(
      "eval %s (step %d, %d images, %.1f s): %s",
      report["name"],
      step,
      report["examples"],
      report["seconds"],
      summary(report),
    )
    logging.info(
      "report: %s; grid: %s",
      os.path.join(workdir, "eval", f"{report['name']}.json"),
      report["grid"],
    )
  return report
