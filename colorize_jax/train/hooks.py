"""The training loop's duties besides the update: step logs, end-of-epoch hooks, the final report.

Hooks read a `RunContext` (what a run is made of, built once by
colorize_jax/train/run_setup.py), never the Trainer. `epoch_hooks(...)` gives
the default order: the evaluators of config.evals (each `<name>/<metric>`),
the epoch's record to metrics.jsonl and TensorBoard, early stopping, the
console line, the sample grid, the plots, the checkpoint. Each hook reads and
extends one `EpochEnd`; none of them trains. `finish` is the run's last duty:
the best weights back, every evaluator's report and final_metrics.json.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from absl import logging

from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.evaluators.named import NamedEvaluator, write_report
from colorize_jax.outputs import atomic, console, metric_names
from colorize_jax.outputs.grids import save_png
from colorize_jax.outputs.plots import plot_curves
from colorize_jax.outputs.writer import RunWriter, read_metrics
from colorize_jax.train import checkpoint


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite, or the run diverged; the last good checkpoint is kept."""


def _last_good(checkpoints: checkpoint.Checkpoints) -> str:
  step = checkpoints.latest_step()
  if step is None:
    return "no checkpoint was saved before it"
  return f"the last good checkpoint is step {step} in {checkpoints.directory}"


def _is_finite(value) -> bool:
  return not isinstance(value, (int, float)) or math.isfinite(value)


def optimizer_params(task, state) -> dict[str, Any]:
  """{optimizer name: the parameters it updates} of a task's state: `state.<name>.params`
  (a GAN's g and d), or `state.params` for a task with one optimizer; names neither finds are
  left out (their divergence is judged by non-finite values only)."""
  found = {}
  for name in task.optimizers:
    params = getattr(getattr(state, name, None), "params", None)
    if params is not None:
      found[name] = params
  if not found and len(task.optimizers) == 1 and hasattr(state, "params"):
    found[next(iter(task.optimizers))] = state.params
  return found


@dataclasses.dataclass(frozen=True)
class RunContext:
  """What the hooks and `finish` read of a run, explicitly (docs/DESIGN.md, "Life of a run")."""

  config: Any
  workdir: str
  is_main: bool  # Process 0: the one that writes files.
  writer: RunWriter
  checkpoints: checkpoint.Checkpoints
  evaluator: Evaluator  # The task's jitted metrics and grids, shared by every evaluator.
  evaluators: tuple[NamedEvaluator, ...]  # config.evals, by name.
  monitor: str  # '<evaluator>/<metric>' that early stopping and the best checkpoint track.
  fixed_images: np.ndarray  # The sample grid's validation photos.
  console_keys: tuple[str, ...]  # The task's metrics on the console line.
  plot_panels: dict[str, list[str]]  # The task's panels of plots/loss.png.
  steps_per_epoch: int
  total_steps: int
  train_examples: int
  test_batches: Callable[[], Iterable]  # The run's test split, scored once at the end.


class StepLog:
  """Every log_every_steps: the steps' device scalars fetched once, checked, the last one logged.

  The check (docs/DESIGN.md, "Divergence") stops the run before anything of a bad step is saved:
  any non-finite metric, or, with `skip_nonfinite_updates`, a non-finite parameter or update
  norm (a skipped step's loss may be NaN: its update was not applied; it is left out of the
  epoch's means); and divergence: an optimizer's `param_norm` beyond
  `checkpoint.divergence_factor` times its norm at initialisation (`initial_norms`).
  """

  def __init__(
    self, ctx: RunContext, start_step: int, initial_norms: dict[str, float] | None = None
  ):
    self.ctx, cfg = ctx, ctx.config
    self.initial_norms = dict(initial_norms or {})
    self.factor = float(cfg.get("checkpoint", {}).get("divergence_factor", 0.0) or 0.0)
    self.meter = console.Throughput(
      cfg.batch_size, start_step, ctx.total_steps, ctx.steps_per_epoch
    )
    logging.info(
      "training %d epochs x %d steps (batch %d, %d train examples) from step %d",
      cfg.num_epochs,
      ctx.steps_per_epoch,
      cfg.batch_size,
      ctx.train_examples,
      start_step,
    )

  def __call__(self, step: int, pending: list, epoch: int) -> list[dict[str, float]]:
    t = self.ctx
    fetched = [{k: float(v) for k, v in m.items()} for m in jax.device_get(pending)]
    for i, m in enumerate(fetched):
      check_step(step - len(fetched) + 1 + i, m, self.initial_norms, self.factor, t.checkpoints)
    perf = self.meter.report(step)
    t.writer.scalars(step, {f"train/{k}": v for k, v in fetched[-1].items()} | perf, kind="step")
    logging.info(
      console.progress_line(
        epoch, t.config.num_epochs, step, t.total_steps, fetched[-1], perf, t.console_keys
      )
    )
    # Skipped updates' NaN losses would make the epoch's means NaN: means of the applied steps.
    return [m for m in fetched if all(math.isfinite(v) for v in m.values())]


def check_step(
  step: int,
  m: dict[str, float],
  initial_norms: dict[str, float],
  factor: float,
  checkpoints: checkpoint.Checkpoints,
) -> None:
  """Raises NonFiniteLossError when step `step`'s metrics `m` show a non-finite or a diverged
  state (StepLog); `initial_norms`: {optimizer: parameter norm at initialisation}."""
  skipping = any(k.endswith("/skipped_updates") for k in m)
  # With skipping, a NaN loss or gradient left the state as it was; the state's norms tell.
  state_keys = ("/param_norm", "/update_norm", "/skipped_updates")
  judged = {k: v for k, v in m.items() if not skipping or k.endswith(state_keys)}
  bad = {k: v for k, v in judged.items() if not math.isfinite(v)}
  if bad:
    raise NonFiniteLossError(
      f"non-finite training metrics at step {step}: {bad}. Nothing was saved after it; "
      f"{_last_good(checkpoints)}. Try a lower optimizer.learning_rate, "
      "optimizer.grad_clip_norm or optimizer.skip_nonfinite_updates."
    )
  for name, initial in initial_norms.items():
    norm = m.get(f"opt/{name}/param_norm")
    if norm is not None and factor > 0 and initial > 0 and norm > factor * initial:
      raise NonFiniteLossError(
        f"the run diverged at step {step}: the parameter norm of optimizer {name!r} is "
        f"{norm:.3g}, {norm / initial:.3g} times its initial {initial:.3g} "
        f"(checkpoint.divergence_factor={factor:g}). Nothing was saved after it; "
        f"{_last_good(checkpoints)}. Try a lower optimizer.learning_rate or "
        "optimizer.grad_clip_norm."
      )


QUALITY_METRICS = ("psnr", "ssim", "delta_colorfulness", "ab_auc")


def quality_panels(names: Iterable[str]) -> dict[str, list[str]]:
  """plots/quality.png: each image metric of every evaluator, beside its gray baseline."""
  return {
    metric: [key for name in names for key in (f"{name}/{metric}", f"{name}/gray/{metric}")]
    for metric in QUALITY_METRICS
  }


QUALITY_PANELS = quality_panels(["val"])


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


class Evaluate:
  """Each evaluator due this epoch (config.evals) scores into the record as `<name>/<metric>`,
  its gray baseline (`<name>/gray/<metric>`) once per run; its time as `time/<name>_seconds`
  and all of them as `time/validation_seconds`."""

  def __init__(self, evaluators: Iterable[NamedEvaluator], monitor: str):
    self.evaluators, self.monitor = list(evaluators), monitor
    for ev in self.evaluators:
      if not ev.count:
        skipped = (
          ": validation metrics, early stopping and best checkpoints are skipped"
          if monitor.startswith(f"{ev.name}/")
          else ""
        )
        logging.warning(
          "the %s split has no images%s (evals.%s; give data.split_fractions a %s share)",
          ev.split,
          skipped or f": evaluator {ev.name!r} is skipped",
          ev.name,
          ev.split,
        )

  def __call__(self, epoch: EpochEnd) -> None:
    spent = 0.0
    for ev in self.evaluators:
      if not ev.due(epoch.progress.epoch, epoch.last):
        continue
      start = time.perf_counter()
      # Once per run: the list is checkpointed, so every process of a resumed run agrees.
      with_gray = ev.name not in epoch.progress.gray_recorded
      means = ev.epoch_means(epoch.state, with_gray=with_gray)
      if with_gray:
        epoch.progress.gray_recorded.append(ev.name)
      seconds = time.perf_counter() - start
      epoch.record |= {f"{ev.name}/{k}": v for k, v in means.items()}
      epoch.record[f"time/{ev.name}_seconds"] = seconds
      spent += seconds
    if spent:
      epoch.record["time/validation_seconds"] = spent
    epoch.monitor = epoch.record.get(self.monitor)


def write_record(writer: RunWriter) -> Hook:
  """The epoch's record into metrics.jsonl and TensorBoard."""

  def write(epoch: EpochEnd) -> None:
    writer.scalars(epoch.step, epoch.record, kind="epoch", epoch=epoch.progress.epoch)

  return write


class EarlyStopping:
  """Tracks the best monitored value, in its direction; stops after `patience` scored epochs
  without a new one (epochs the monitored evaluator skips, evals.<name>.every_epochs > 1, do not
  count: with every_epochs=N the patience spans about N x patience epochs)."""

  def __init__(self, config, monitor: str):
    self.cfg, self.metric = config.early_stopping, _metric(monitor)

  def __call__(self, epoch: EpochEnd) -> None:
    progress = epoch.progress
    if epoch.monitor is None:
      return
    if metric_names.improved(self.metric, epoch.monitor, progress.best_value, self.cfg.min_delta):
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
  """plots/loss.png (the task's panels) and plots/quality.png (the evaluators' image metrics)."""

  def __init__(
    self,
    workdir: str,
    panels: dict[str, list[str]],
    writer: RunWriter,
    is_main: bool,
    quality: dict[str, list[str]] = QUALITY_PANELS,
  ):
    self.workdir, self.panels, self.writer, self.is_main = workdir, panels, writer, is_main
    self.quality = quality

  def __call__(self, epoch: EpochEnd) -> None:
    del epoch
    if self.is_main:
      history = read_metrics(self.workdir)
      plot_curves(history, os.path.join(self.workdir, "plots", "loss.png"), self.panels)
      plot_curves(history, os.path.join(self.workdir, "plots", "quality.png"), self.quality)
      self.writer.flush()


class SaveCheckpoint:
  """Every checkpoint of a run is decided here: at the end of each epoch (a hook), every
  `checkpoint.every_steps` steps (`due`/`save`) and at the run's end. Orbax keeps the best by the
  monitored value, signed (lower is better)."""

  def __init__(
    self, checkpoints: checkpoint.Checkpoints, train_iter, monitor: str, every_steps: int = 0
  ):
    self.checkpoints, self.train_iter, self.metric = checkpoints, train_iter, _metric(monitor)
    self.every_steps = int(every_steps)

  def due(self, step: int, end_of_epoch: bool) -> bool:
    """Whether `step` ends with a checkpoint (the loop updates the progress it saves first)."""
    return end_of_epoch or bool(self.every_steps and step % self.every_steps == 0)

  def save(self, step: int, state, progress: checkpoint.Progress) -> None:
    """A checkpoint between epochs or at the run's end: never offered as the best."""
    self.checkpoints.save(step, state, self.train_iter, progress)

  def __call__(self, epoch: EpochEnd) -> None:
    # Only finite evaluations make a good checkpoint (metrics.py scores a NaN prediction's loss
    # and mse as +inf): a model that predicts NaN or inf on photos has diverged.
    bad = {
      k: v
      for k, v in epoch.record.items()
      if not k.startswith(("train/", "time/")) and not _is_finite(v)
    }
    if bad:
      raise NonFiniteLossError(
        f"non-finite evaluation metrics at step {epoch.step}: {dict(sorted(bad.items())[:8])}: "
        f"the model has diverged. Nothing was saved at it; {_last_good(self.checkpoints)}."
      )
    # Only an epoch EarlyStopping counted as the best (min_delta included) is offered to Orbax as
    # one, so Orbax's best step is always progress.best_step.
    best = epoch.monitor is not None and epoch.progress.best_step == epoch.step
    value = metric_names.signed(self.metric, epoch.monitor) if best else None
    self.checkpoints.save(epoch.step, epoch.state, self.train_iter, epoch.progress, monitor=value)


def _metric(monitor: str) -> str:
  """'kodak24/psnr' -> 'psnr': the metric whose direction counts."""
  return monitor.split("/", 1)[1] if "/" in monitor else monitor


def epoch_hooks(ctx: RunContext, saver: SaveCheckpoint) -> list[Hook]:
  """The default end-of-epoch duties of a run, in order (the checkpoint last)."""
  cfg, writer = ctx.config, ctx.writer
  return [
    Evaluate(ctx.evaluators, ctx.monitor),
    write_record(writer),
    EarlyStopping(cfg, ctx.monitor),
    epoch_line(cfg.num_epochs),
    SampleGrid(ctx.evaluator, ctx.fixed_images, writer, ctx.is_main),
    Plots(
      ctx.workdir,
      ctx.plot_panels,
      writer,
      ctx.is_main,
      quality_panels(ev.name for ev in ctx.evaluators if ev.spec.on_epochs),
    ),
    saver,
  ]


def finish(ctx: RunContext, state, progress: checkpoint.Progress, counts: dict) -> dict:
  """Best weights back (when asked); every evaluator's report (eval/<name>.json and .png), the
  test split's means, the final grid and final_metrics.json."""
  cfg, workdir, evaluator = ctx.config, ctx.workdir, ctx.evaluator
  best = cfg.early_stopping.restore_best and progress.best_step is not None
  if best and progress.best_step != int(jax.device_get(state.step)):
    state, _ = ctx.checkpoints.restore(progress.best_step, checkpoint.abstract_like(state))
    logging.info(
      "restored the best weights (step %d, %s=%.5g)",
      progress.best_step,
      ctx.monitor,
      progress.best_value,
    )
  step = int(jax.device_get(state.step))
  scores, reports = {}, []
  for ev in ctx.evaluators:  # Collectives: every process scores, process 0 writes.
    if not ev.count:
      scores[ev.name] = {}
      continue
    report, figures = ev.report(
      state, step=step, checkpoint="best" if best else "last", workdir=workdir
    )
    scores[ev.name] = report["metrics"] | {"examples": report["examples"]}
    reports.append((report, figures))
  if "test" not in scores:
    scores["test"] = evaluator.evaluate(state, ctx.test_batches()).means()
  result = {
    "step": step,
    "epochs": progress.epoch,
    "params": counts,
    "best_step": progress.best_step,
    "monitor": ctx.monitor,
    "stopped_early": progress.stopped_early,
    "train_seconds": progress.train_seconds,
    **scores,
  }
  grid = evaluator.sample_grid(state, ctx.fixed_images) if len(ctx.fixed_images) else None
  if ctx.is_main:
    if grid is not None:
      save_png(grid, os.path.join(workdir, "samples", "final.png"))
    for report, report_figures in reports:
      write_report(report, report_figures)
    atomic.write_json(os.path.join(workdir, "final_metrics.json"), result)
  ctx.writer.scalars(
    step,
    {f"final/{name}/{k}": v for name, means in scores.items() for k, v in means.items()},
    kind="final",
  )
  ctx.writer.close()
  ctx.checkpoints.close()
  logging.info("final: %s", " | ".join(f"{name} {means}" for name, means in scores.items()))
  logging.info("sample grid: %s", os.path.join(workdir, "samples", "final.png"))
  logging.info("loss plot:   %s", os.path.join(workdir, "plots", "loss.png"))
  return result
