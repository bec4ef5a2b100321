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

The run is scored as it was trained: model, data pipeline, image size, colour
space, value range and every other field come from WORKDIR/config.json
(`run_config`). The command line contributes only the evaluation fields,
config.eval (checkpoint, split, path, name, batch size, grid rows, fid) and
--eval_folder; any other field on it that differs from the run's is named in
one warning line and ignored, so a 64 px run is never scored at the recipe's
128 px and the report never records the command line's values as the run's.
Test-time switches (the classification head's decoding temperature, pix2pix's
test-time mode) come from the command line only where it sets them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection

import jax
from absl import logging

from colorize_jax import inference
from colorize_jax.evaluators import fid, specs
from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.evaluators.named import NamedEvaluator, summary, write_report
from colorize_jax.runtime import parallel
from colorize_jax.train import resume_guard

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
    fid=eval_cfg.get("fid", "auto"),  # FID when the weights exist (evaluators/fid.py).
    field="eval",
  )


# What --mode=eval takes from the command line: how to evaluate, never what was trained.
EVAL_FIELDS = ("eval.", "evals.")
# Test-time switches a run's generator offers: pix2pix's mode (config.gan.test_time) and the
# classification head's annealed-mean temperature, which only decodes the trained logits
# (a run trained with an L1 term on the decoded ab learned under its own; eval only reads).
TEST_TIME_FIELDS = ("gan.test_time", "gan.test_time_seed", "classification.temperature")


def _is_eval_field(field: str) -> bool:
  return field.startswith(EVAL_FIELDS)


def run_config(config, workdir: str, test_time: Collection[str] | None = None):
  """The run's own config (WORKDIR/config.json) with `config`'s evaluation fields (config.eval).

  Fields of `config` outside them that differ from the run's and would change what is scored
  (resume_guard's learning fields: model, data, image size, colour space, ...) are named in one
  warning line; the run's values are used. Of TEST_TIME_FIELDS, `config`'s values are used for
  those named in `test_time` (launch.py: the ones its command line sets), the run's for the
  rest, so a config file's default never replaces the temperature a run was trained and reported
  at; `test_time=None` (a caller that built `config` itself) takes them all from `config`."""
  path = os.path.join(workdir, resume_guard.CONFIG_FILE)
  if not os.path.exists(path):
    inference.checkpoints_dir(workdir)  # No run here at all: say so first.
  saved = inference.workdir_config(workdir)
  ignored = [
    (field, old, new)
    for field, old, new in resume_guard.diff(
      resume_guard.resolved_json(saved), resume_guard.resolved_json(config)
    )
    if not _is_eval_field(field)
    and field not in TEST_TIME_FIELDS
    and not resume_guard.is_safe(field, old)
    and new != resume_guard.MISSING
    and field not in resume_guard._UNUSED_BY_SOURCE.get(saved.data.source, ())
  ]
  if ignored:
    logging.warning(
      "--mode=eval scores the run as trained (%s); ignoring the command line's %s",
      path,
      ", ".join(f"{k}={new!r} (the run's: {old!r})" for k, old, new in ignored),
    )
  with saved.unlocked():
    saved.eval = config.eval.copy_and_resolve_references()
    for field in TEST_TIME_FIELDS:
      section, name = field.split(".")
      if section not in saved or name not in config.get(section, {}):
        continue
      if test_time is None or field in test_time:
        saved[section][name] = config[section][name]
      elif config[section][name] != saved[section].get(name):
        logging.info(
          "%s=%r, as the run has it (the config file's is %r; --config.%s=... scores at another)",
          field,
          saved[section].get(name),
          config[section][name],
          field,
        )
  return saved


def test_time_settings(config) -> dict:
  """The test-time switches the run's config has, by dotted name: what a report was scored under."""
  settings = {}
  for field in TEST_TIME_FIELDS:
    section, name = field.split(".")
    if name in config.get(section, {}):
      settings[field] = config[section][name]
  return settings


def evaluate_run(
  config,
  workdir: str,
  evals: list[specs.EvalSpec] | None = None,
  test_time: Collection[str] | None = None,
) -> dict:
  """Evaluates `config.eval.checkpoint` of the run in `workdir` with the evaluators `evals`
  (default: the one of config.eval) and writes their reports; returns the last report.

  Everything but the evaluation fields comes from the run's config.json (`run_config`)."""
  workdir = os.path.abspath(workdir)
  config = run_config(config, workdir, test_time)
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
    parallel.check_batch_size(spec.batch_size or config.batch_size, f"{spec.where}.batch_size")
  fid.check_required(evals)  # Before restoring anything.
  mesh = parallel.make_mesh()
  task, state, step = inference.restore_state(config, workdir, config.eval.checkpoint, mesh=mesh)
  inference.warn_if_not_the_reported_weights(
    workdir, str(config.eval.checkpoint), step, "--config.eval.checkpoint", doing="scoring"
  )
  evaluator = Evaluator(task, mesh)
  report = None
  for spec in evals:
    named = NamedEvaluator(spec, evaluator, config)
    if not named.count:
      raise ValueError(
        f"nothing to evaluate: the {named.split} split of {named.data_cfg.source} "
        f"{named.data_cfg.path or ''} has no images"
      )
    report, figures = named.report(
      state, step=step, checkpoint=str(config.eval.checkpoint), workdir=workdir
    )
    report["test_time"] = test_time_settings(config)
    if jax.process_index() == 0:
      write_report(report, figures)
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
