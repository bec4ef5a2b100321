"""`launch.py --mode=eval`: scores a trained run's checkpoint on a split or a folder of photos.

  python launch.py --config=configs/unet.py --workdir=runs/unet --mode=eval
  python launch.py ... --mode=eval --config.eval.path=/work/shared/data/kodak24
  python launch.py ... --mode=eval --config.eval.checkpoint=last --config.eval.split=val

Writes DIR/eval/<name>.json (means, the gray baseline, per-image values) and
DIR/eval/<name>.png (gray | predicted | true). Only the train state is
restored, never the data iterator, so a finished run evaluates on any machine
that has the evaluation photos.
"""

from __future__ import annotations

import copy
import os
import time

import jax
import numpy as np
from absl import logging

from colorize_jax import inference
from colorize_jax.data import DataPipeline
from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.outputs import atomic, metric_names
from colorize_jax.outputs.grids import save_png
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


def eval_data(config):
  """(data config, split): the run's own split, or every image of eval.path as the "test" split."""
  data_cfg = copy.deepcopy(config.data)
  if not config.eval.path:
    return data_cfg, str(config.eval.split)
  with data_cfg.unlocked():
    data_cfg.source = "folder"
    data_cfg.path = str(config.eval.path)
    data_cfg.split_fractions = (0.0, 0.0, 1.0)
  return data_cfg, "test"


def evaluate_run(config, workdir: str) -> dict:
  """Evaluates `config.eval.checkpoint` of the run in `workdir`; returns the report it writes."""
  workdir = os.path.abspath(workdir)
  eval_cfg = config.eval
  batch_size = int(eval_cfg.batch_size or config.batch_size)
  parallel.check_batch_size(batch_size, "eval.batch_size")
  task, state, step = inference.restore_state(config, workdir, eval_cfg.checkpoint)
  data_cfg, split = eval_data(config)
  data = DataPipeline(
    data_cfg,
    global_batch_size=batch_size,
    seed=config.seed,
    process_index=jax.process_index(),
    process_count=jax.process_count(),
  )
  if data.num_examples(split) == 0:
    raise ValueError(
      f"nothing to evaluate: the {split} split of {data_cfg.source} "
      f"{data_cfg.path or ''} has no images"
    )
  name = eval_name(eval_cfg)
  evaluator = Evaluator(task)
  start = time.perf_counter()
  scores = evaluator.evaluate(state, data.eval_batches(split), with_gray=True)
  seconds = time.perf_counter() - start
  if not scores.count:
    raise ValueError(
      f"no image of the {split} split could be decoded ({data_cfg.source} {data_cfg.path})"
    )

  positions, values = scores.positions, scores.values
  means = {k: float(np.mean(v)) for k, v in sorted(values.items())}
  files = getattr(data.source(split), "files", None)  # Folder sources know their file names.
  per_image = [
    {
      "index": int(p),
      **({"file": files[p]} if files else {}),
      **{k: float(v[i]) for k, v in sorted(values.items())},
    }
    for i, p in enumerate(positions)
  ]
  out_dir = os.path.join(workdir, "eval")
  report = {
    "name": name,
    "workdir": workdir,
    "checkpoint": str(eval_cfg.checkpoint),
    "step": int(step),
    "split": split,
    "path": os.path.abspath(data_cfg.path) if eval_cfg.path else "",
    "source": data_cfg.source,
    "image_size": int(data_cfg.image_size),
    "color_space": task.color_space.name,
    "examples": len(positions),
    "seconds": seconds,
    "metrics": {k: v for k, v in means.items() if not k.startswith("gray/")},
    "gray_baseline": {k[len("gray/") :]: v for k, v in means.items() if k.startswith("gray/")},
    "grid": os.path.join(out_dir, f"{name}.png"),
    "per_image": per_image,
  }
  images = data.fixed_examples(split, int(eval_cfg.num_sample_images))
  grid = (
    evaluator.sample_grid(state, images) if len(images) else None
  )  # A collective: all processes.
  if jax.process_index() == 0:
    if grid is not None:
      save_png(grid, report["grid"])
    atomic.write_json(os.path.join(out_dir, f"{name}.json"), report)  # compare reads it.
  logging.info(
    "eval %s (step %d, %d images, %.1f s): %s", name, step, len(positions), seconds, summary(report)
  )
  logging.info("report: %s; grid: %s", os.path.join(out_dir, f"{name}.json"), report["grid"])
  return report


def summary(report: dict) -> str:
  """'psnr 24.1 (gray 22.3) ...': each headline number beside its gray-baseline floor."""
  model, gray = report["metrics"], report["gray_baseline"]
  return ", ".join(
    f"{k} {model[k]:.4g} (gray {gray[k]:.4g})" for k in metric_names.HEADLINE if k in model
  )
