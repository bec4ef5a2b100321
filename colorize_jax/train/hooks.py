"""The training loop's duties besides the update: step logs, end-of-epoch hooks, the final report.

`epoch_hooks(...)` gives the default order: validation (metrics to
metrics.jsonl and TensorBoard), early stopping, the console line, the
sample grid, the plots, the checkpoint. Each hook reads and extends one
`EpochEnd`; none of them trains. `finish` is the run's last duty: the best
weights back, the final evaluation and the report.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.outputs import atomic, console, metric_names
from colorize_jax.outputs.grids import save_png
from colorize_jax.outputs.plots import plot_curves
from colorize_jax.outputs.writer import RunWriter, read_metrics
from colorize_jax.train import checkpoint


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


class StepLog:
  """Every log_every_steps: the steps' device scalars fetched once, checked, the last one logged."""

  def __init__(self, trainer, start_step: int):
    self.trainer, cfg = trainer, trainer.config
    self.meter = console.Throughput(
      cfg.batch_size, start_step, trainer.total_steps, trainer.steps_per_epoch
    )
    logging.info(
      "training %d epochs x %d steps (batch %d, %d train examples) from step %d",
      cfg.num_epochs,
      trainer.steps_per_epoch,
      cfg.batch_size,
      trainer.data.num_examples("train"),
      start_step,
    )

  def __call__(self, step: int, pending: list, epoch: int) -> list[dict[str, float]]:
    t = self.trainer
    fetched = [{k: float(v) for k, v in m.items()} for m in jax.device_get(pending)]
    for m in fetched:
      bad = {k: v for k, v in m.items() if not math.isfinite(v)}
      if bad:
        raise NonFiniteLossError(
          f"non-finite training metrics at step {step}: {bad}. Nothing was saved after it; the "
          f"last good checkpoint is step {t.checkpoints.latest_step()} in "
          f"{t.checkpoints.directory}. Try a lower optimizer.learning_rate or "
          "optimizer.grad_clip_norm."
        )
    perf = self.meter.report(step)
    t.writer.scalars(step, {f"train/{k}": v for k, v in fetched[-1].items()} | perf, kind="step")
    logging.info(
      console.progress_line(
        epoch, t.config.num_epochs, step, t.total_steps, fetched[-1], perf, t.task.console_keys
      )
    )
    return fetched


# plots/quality.png: the validation image metrics, each beside its gray baseline.
QUALITY_PANELS = {
  name: [f"val/{name}", f"val/gray/{name}"]
  for name in ("psnr", "ssim", "delta_colorfulness", "ab_auc")
}


@dataclasses.dataclass
class EpochEnd:
  """What the hooks of one epoch share."""

  state: Any
  step: int
  progress: checkpoint.Progress
  record: dict[str, float]  # The epoch's metrics.jsonl record: train/... first, then val/...
  last: bool  # The run's step budget ends with this epoch.
  monitor: float | None = None  # The monitored validation metric, when validated.

  @classmethod
  def of_progress(cls, state, step, progress, seconds: float) -> EpochEnd:
    """The epoch's record starts as the means of its logged training steps and its wall time.

    The sums live in `progress` (checkpointed), so a run resumed mid-epoch
    reports the same means as an uninterrupted one.
    """
    means = {f"train/{k}": v for k, v in progress.take_epoch_means().items()}
    record = means | {"time/epoch_seconds": seconds}
    return cls(state, step, progress, record, last=progress.finished)


Hook = Callable[[EpochEnd], None]


class Validate:
  """Every validation metric into the epoch's record (written here), the gray baseline once per run.

  Runs on every `eval.every_epochs`-th epoch and the last one, on at most
  `eval.max_examples` validation images (0 = all).
  """

  def __init__(self, evaluator: Evaluator, data, config, writer: RunWriter, monitor: str):
    self.evaluator, self.data, self.writer, self.monitor = evaluator, data, writer, monitor
    self.every = max(int(config.eval.get("every_epochs", 1)), 1)
    self.max_examples = int(config.eval.get("max_examples", 0))
    self.enabled = data.num_examples("val") > 0
    if not self.enabled:
      logging.warning(
        "the val split has no images: validation metrics, early stopping and best "
        "checkpoints are skipped (give data.split_fractions a val share)"
      )

  def __call__(self, epoch: EpochEnd) -> None:
    if self.enabled and (epoch.progress.epoch % self.every == 0 or epoch.last):
      start = time.perf_counter()
      scores = self.evaluator.evaluate(
        epoch.state,
        self.data.eval_batches("val"),
        # Once per run: the flag is checkpointed, so every process of a resumed run agrees.
        with_gray=not epoch.progress.gray_recorded,
        max_examples=self.max_examples,
      )
      epoch.progress.gray_recorded = True
      epoch.record |= {f"val/{k}": v for k, v in scores.means().items()}
      epoch.record["time/validation_seconds"] = time.perf_counter() - start
      epoch.monitor = epoch.record.get(self.monitor)
    self.writer.scalars(epoch.step, epoch.record, kind="epoch", epoch=epoch.progress.epoch)


class EarlyStopping:
  """Tracks the best monitored value, in its direction; stops after `patience` epochs without a new
  one."""

  def __init__(self, config, monitor: str):
    self.cfg, self.monitor = config.early_stopping, monitor

  def __call__(self, epoch: EpochEnd) -> None:
    progress = epoch.progress
    if epoch.monitor is None:
      return
    if metric_names.improved(self.monitor, epoch.monitor, progress.best_value, self.cfg.min_delta):
      progress.best_value, progress.best_step, progress.bad_epochs = epoch.monitor, epoch.step, 0
    else:
      progress.bad_epochs += 1
    if self.cfg.enabled and progress.bad_epochs >= self.cfg.patience:
      progress.stopped_early = progress.finished = True


def epoch_line(num_epochs: int) -> Hook:
  def log_epoch(epoch: EpochEnd) -> None:
    shown = " ".join(
      f"{k}={v:.4g}" for k, v in epoch.record.items() if isinstance(v, float) and "/gray/" not in k
    )
    logging.info(
      "epoch %d/%d done: %s%s",
      epoch.progress.epoch,
      num_epochs,
      shown,
      " (early stop)" if epoch.progress.stopped_early else "",
    )

  return log_epoch


class SampleGrid:
  """samples/epoch_NNNN.png, samples/latest.png and TensorBoard: gray | predicted | true."""

  def __init__(self, evaluator: Evaluator, images: np.ndarray, writer: RunWriter, is_main: bool):
    self.evaluator, self.images, self.writer, self.is_main = evaluator, images, writer, is_main

  def __call__(self, epoch: EpochEnd) -> None:
    if not len(self.images):
      return
    grid = self.evaluator.sample_grid(epoch.state, self.images)  # A collective: every process.
    if self.is_main:
      samples = os.path.join(self.writer.workdir, "samples")
      save_png(grid, os.path.join(samples, f"epoch_{epoch.progress.epoch:04d}.png"))
      save_png(grid, os.path.join(samples, "latest.png"))
      self.writer.image(epoch.step, "samples/val", grid)


class Plots:
  """plots/loss.png (the task's panels) and plots/quality.png (validation image metrics)."""

  def __init__(self, workdir: str, panels: dict[str, list[str]], writer: RunWriter, is_main: bool):
    self.workdir, self.panels, self.writer, self.is_main = workdir, panels, writer, is_main

  def __call__(self, epoch: EpochEnd) -> None:
    del epoch
    if self.is_main:
      history = read_metrics(self.workdir)
      plot_curves(history, os.path.join(self.workdir, "plots", "loss.png"), self.panels)
      plot_curves(history, os.path.join(self.workdir, "plots", "quality.png"), QUALITY_PANELS)
      self.writer.flush()


class SaveCheckpoint:
  """The epoch's checkpoint; Orbax keeps the best by the monitored value, signed (lower is
  better)."""

  def __init__(self, checkpoints: checkpoint.Checkpoints, train_iter, monitor: str):
    self.checkpoints, self.train_iter, self.monitor = checkpoints, train_iter, monitor

  def __call__(self, epoch: EpochEnd) -> None:
    # Only an epoch EarlyStopping counted as the best (min_delta included) is offered to Orbax as
    # one, so Orbax's best step is always progress.best_step.
    best = epoch.monitor is not None and epoch.progress.best_step == epoch.step
    value = metric_names.signed(self.monitor, epoch.monitor) if best else None
    self.checkpoints.save(epoch.step, epoch.state, self.train_iter, epoch.progress, monitor=value)


def epoch_hooks(trainer, train_iter) -> list[Hook]:
  """The default end-of-epoch duties of a Trainer, in order."""
  cfg, writer = trainer.config, trainer.writer
  return [
    Validate(trainer.evaluator, trainer.data, cfg, writer, trainer.monitor),
    EarlyStopping(cfg, trainer.monitor),
    epoch_line(cfg.num_epochs),
    SampleGrid(trainer.evaluator, trainer.fixed_images, writer, trainer.is_main),
    Plots(trainer.workdir, trainer.task.plot_panels, writer, trainer.is_main),
    SaveCheckpoint(trainer.checkpoints, train_iter, trainer.monitor),
  ]


def finish(trainer, state, progress: checkpoint.Progress, counts: dict) -> dict:
  """Best weights back (when asked), val and test scores, the final grid and final_metrics.json."""
  cfg, workdir, evaluator = trainer.config, trainer.workdir, trainer.evaluator
  if cfg.early_stopping.restore_best and progress.best_step not in (
    None,
    int(jax.device_get(state.step)),
  ):
    state, _ = trainer.checkpoints.restore(progress.best_step, checkpoint.abstract_like(state))
    logging.info(
      "restored the best weights (step %d, %s=%.5g)",
      progress.best_step,
      trainer.monitor,
      progress.best_value,
    )
  scores = {
    split: evaluator.evaluate(state, trainer.data.eval_batches(split)).means()
    for split in ("val", "test")
  }
  result = {
    "step": int(jax.device_get(state.step)),
    "epochs": progress.epoch,
    "params": counts,
    "best_step": progress.best_step,
    "monitor": trainer.monitor,
    "stopped_early": progress.stopped_early,
    "train_seconds": progress.train_seconds,
    **scores,
  }
  grid = evaluator.sample_grid(state, trainer.fixed_images) if len(trainer.fixed_images) else None
  if trainer.is_main:
    if grid is not None:
      save_png(grid, os.path.join(workdir, "samples", "final.png"))
    atomic.write_json(os.path.join(workdir, "final_metrics.json"), result)
  trainer.writer.scalars(
    result["step"], {f"final/test/{k}": v for k, v in result["test"].items()}, kind="final"
  )
  trainer.writer.close()
  trainer.checkpoints.close()
  logging.info("final: val %s | test %s", result["val"], result["test"])
  logging.info("sample grid: %s", os.path.join(workdir, "samples", "final.png"))
  logging.info("loss plot:   %s", os.path.join(workdir, "plots", "loss.png"))
  return result
