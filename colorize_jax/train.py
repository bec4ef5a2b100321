"""The one training loop, for every task: `train_and_evaluate(config, workdir)`.

Data flow: grain iterator of process-local uint8 batches -> global arrays
sharded on the data axis -> task.train_step (jit, state donated) -> metrics,
sample grids, plots and Orbax checkpoints in the workdir.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from colorize_jax import augment, checkpoint, parallel, prefetch, profiling, tasks, xla_options
from colorize_jax.tasks import base
from colorize_jax.data import DataPipeline
from colorize_jax import outputs
from colorize_jax.outputs import RunWriter, console, plot_curves, read_metrics, save_png


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


def schedule(config, data: DataPipeline) -> tuple[int, int]:
  """(steps per epoch, total steps) from the train split's size, capped by max_train_steps."""
  steps_per_epoch = data.num_examples("train") // config.batch_size
  total = steps_per_epoch * config.num_epochs
  if config.get("max_train_steps"):
    total = min(total, config.max_train_steps)
  return steps_per_epoch, total


def make_train_step(task, config):
  """`(state, batch, key) -> (state, metrics)`: device augmentation, then the task's step.

  Randomness comes from the step number, so a resumed run draws the same numbers.
  """
  augment_images = augment.from_config(config.data.augment)

  def train_step(state, batch, key):
    augment_key, step_key = jax.random.split(jax.random.fold_in(key, state.step))
    batch = dict(batch, image=augment_images(batch["image"], augment_key))
    return task.train_step(state, batch, step_key)

  return train_step


def _masked_sums(task, state, batch):
  """Sums of per-example metrics over real (unmasked) examples, and their count."""
  per_example = task.eval_step(state, batch)
  mask = batch["mask"].astype(jnp.float32)
  return {k: jnp.sum(v * mask) for k, v in per_example.items()}, jnp.sum(mask)


class Trainer:
  """Holds the compiled steps and I/O of one run; `run()` trains to the end."""

  def __init__(self, config, workdir: str, profile_steps: tuple[int, int] | None = None):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.profiler = profiling.StepProfiler(profile_steps, self.workdir)
    parallel.check_batch_size(config.batch_size)
    self.is_main = jax.process_index() == 0
    self.data = DataPipeline(
        config.data, global_batch_size=config.batch_size, seed=config.seed,
        process_index=jax.process_index(), process_count=jax.process_count())
    self.steps_per_epoch, self.total_steps = schedule(config, self.data)
    self.task = tasks.build(config, self.total_steps)

    mesh = parallel.make_mesh()
    self.data_sharding = parallel.data_sharding(mesh)
    self.replicated = replicated = parallel.replicated(mesh)
    self.init_key, self.key = jax.random.split(jax.random.key(config.seed))
    self._init = jax.jit(
        functools.partial(self.task.init_state, image_size=config.data.image_size), out_shardings=replicated)
    self._train_step = xla_options.jit(
        make_train_step(self.task, config), in_shardings=(replicated, self.data_sharding, replicated),
        out_shardings=(replicated, replicated), donate_argnums=(0,))
    self._eval_sums = xla_options.jit(functools.partial(_masked_sums, self.task), out_shardings=replicated)
    self._predicted_rgb = xla_options.jit(functools.partial(base.predicted_rgb, self.task), out_shardings=replicated)

    self.writer = RunWriter(self.workdir, enabled=self.is_main)
    self.checkpoints = checkpoint.Checkpoints(
        os.path.join(self.workdir, "checkpoints"), keep=config.checkpoint.keep)

  # -- evaluation -----------------------------------------------------------

  def evaluate(self, state, split: str) -> dict[str, float]:
    """Means of every per-example metric over the split, each example once."""
    sums, count = None, 0.0
    for local in self.data.eval_batches(split):
      batch_sums, batch_count = self._eval_sums(state, parallel.global_batch(local, self.data_sharding))
      sums = batch_sums if sums is None else jax.tree.map(jnp.add, sums, batch_sums)
      count = count + batch_count
    if sums is None:
      return {}
    sums, count = jax.device_get((sums, count))
    return {k: float(v) / max(float(count), 1.0) for k, v in sums.items()} | {"examples": int(count)}

  def sample_grid(self, state, images: np.ndarray) -> np.ndarray:
    """gray | predicted | true for fixed validation images.

    Every process must call it: the prediction is one program over all devices.
    """
    predicted = self._predicted_rgb(state, jax.make_array_from_process_local_data(self.replicated, images))
    return outputs.sample_grid(images, np.asarray(predicted))

  # -- the loop -------------------------------------------------------------

  def _init_or_restore(self, train_iter):
    state = self._init(self.init_key)
    progress = checkpoint.Progress()
    latest = self.checkpoints.latest_step()
    if latest is not None:
      state, progress = self.checkpoints.restore(latest, checkpoint.abstract_like(state), train_iter)
      self.writer.truncate_after(latest)
      logging.info("resuming at step %d (epoch %d)", latest, progress.epoch)
    return state, progress

  def _check_finite(self, step: int, metrics: dict) -> None:
    bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
      raise NonFiniteLossError(
          f"non-finite training metrics at step {step}: {bad}. Nothing was saved after it; the last good "
          f"checkpoint is step {self.checkpoints.latest_step()} in {self.checkpoints.directory}. "
          "Try a lower optimizer.learning_rate or optimizer.grad_clip_norm.")

  def _end_epoch(self, state, progress, train_means: dict, step: int, seconds: float) -> float | None:
    """Validate, track the best, early-stop, write samples and plots. Returns the monitored value."""
    cfg = self.config
    progress.epoch += 1
    val = self.evaluate(state, "val")
    record = ({f"train/{k}": v for k, v in train_means.items()} | {f"val/{k}": v for k, v in val.items()}
              | {"time/epoch_seconds": seconds})
    monitor = val.get(self.task.monitor)
    if monitor is not None:
      improved = progress.best_value is None or monitor < progress.best_value - cfg.early_stopping.min_delta
      if improved:
        progress.best_value, progress.best_step, progress.bad_epochs = monitor, step, 0
      else:
        progress.bad_epochs += 1
      if cfg.early_stopping.enabled and progress.bad_epochs >= cfg.early_stopping.patience:
        progress.stopped_early = True
    self.writer.scalars(step, record, kind="epoch", epoch=progress.epoch)
    grid = self.sample_grid(state, self.fixed_images)
    if self.is_main:
      save_png(grid, os.path.join(self.workdir, "samples", f"epoch_{progress.epoch:04d}.png"))
      save_png(grid, os.path.join(self.workdir, "samples", "latest.png"))
      self.writer.image(step, "samples/val", grid)
      plot_curves(read_metrics(self.workdir), os.path.join(self.workdir, "plots", "loss.png"),
                  getattr(self.task, "plot_panels", {"loss": ["train/loss", "val/loss"],
                                                      "MAE": ["train/mae", "val/mae"]}))
      self.writer.flush()
    shown = " ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
    logging.info("epoch %d/%d done: %s%s", progress.epoch, cfg.num_epochs, shown,
                 " (early stop)" if progress.stopped_early else "")
    return monitor

  def run(self) -> dict:
    cfg = self.config
    if self.is_main:
      os.makedirs(self.workdir, exist_ok=True)
      resolved = cfg.copy_and_resolve_references()
      # Absolute paths, so eval/compare/colorize read the run from any directory.
      for section in (resolved.data, resolved.get("eval") or {}):
        if section.get("path"):
          section.path = os.path.abspath(section.path)
      with open(os.path.join(self.workdir, "config.json"), "w") as f:
        f.write(resolved.to_json_best_effort(indent=2))
    # Global device batches read ahead while steps run; checkpoints keep the taken position.
    train_iter = prefetch.DevicePrefetcher(self.data.train_iterator, self.data_sharding)
    state, progress = self._init_or_restore(train_iter)
    counts = self.task.param_counts(state)
    logging.info("parameters: %s", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    self.fixed_images = self.data.fixed_examples("val", cfg.num_sample_images)
    step = int(jax.device_get(state.step))
    if progress.finished and (progress.stopped_early or step >= self.total_steps):
      logging.info("run in %s already finished at step %d; nothing to do", self.workdir, step)
      return self._final(state, progress, counts)

    self.profiler.check(step, self.total_steps)
    logging.info("training %d epochs x %d steps (batch %d, %d train examples) from step %d",
                 cfg.num_epochs, self.steps_per_epoch, cfg.batch_size, self.data.num_examples("train"), step)
    meter = console.Throughput(cfg.batch_size, step, self.total_steps)
    pending: list[dict] = []  # Device scalars since the last log: no sync per step.
    epoch_sums: dict[str, float] = {}
    epoch_count = 0
    run_start, run_seconds0 = time.perf_counter(), progress.train_seconds
    epoch_start = run_start

    while step < self.total_steps and not progress.stopped_early:
      t0 = time.perf_counter()
      batch = next(train_iter)
      meter.add_data_wait(time.perf_counter() - t0)
      self.profiler.before_step(step + 1)
      with xla_options.out_of_memory_hint(cfg.batch_size, cfg.dtype):  # The first call compiles.
        state, metrics = self._train_step(state, batch, self.key)
      step += 1
      self.profiler.after_step(step, metrics)
      pending.append(metrics)
      # A budget that ends mid-epoch still validates (and plots) that last part.
      end_of_epoch = step % self.steps_per_epoch == 0 or step == self.total_steps
      save_now = end_of_epoch or (cfg.checkpoint.every_steps and step % cfg.checkpoint.every_steps == 0)
      if step % cfg.log_every_steps == 0 or save_now or step == self.total_steps:
        fetched = [{k: float(v) for k, v in m.items()} for m in jax.device_get(pending)]
        pending = []
        for m in fetched:
          self._check_finite(step, m)
          for k, v in m.items():
            epoch_sums[k] = epoch_sums.get(k, 0.0) + v
        epoch_count += len(fetched)
        last = fetched[-1]
        perf = meter.report(step)
        self.writer.scalars(step, {f"train/{k}": v for k, v in last.items()} | perf, kind="step")
        logging.info(console.progress_line(
            progress.epoch + 1, cfg.num_epochs, step, self.total_steps, last, perf,
            getattr(self.task, "console_keys", ("loss", "mae"))))
      if save_now:
        monitor = None
        if end_of_epoch:
          monitor = self._end_epoch(state, progress, {k: v / epoch_count for k, v in epoch_sums.items()}, step,
                                    time.perf_counter() - epoch_start)
          epoch_sums, epoch_count = {}, 0
          epoch_start = time.perf_counter()
        progress.train_seconds = run_seconds0 + time.perf_counter() - run_start
        progress.finished = step >= self.total_steps or progress.stopped_early
        self.checkpoints.save(step, state, train_iter, progress, monitor=monitor)
    self.checkpoints.wait()

    if not progress.finished:  # e.g. total_steps reached mid-epoch.
      progress.finished = True
      self.checkpoints.save(step, state, train_iter, progress)
      self.checkpoints.wait()
    train_iter.close()
    self.profiler.stop()  # An early stop before the range's end.
    return self._final(state, progress, counts)

  def _final(self, state, progress, counts) -> dict:
    cfg = self.config
    if cfg.early_stopping.restore_best and progress.best_step not in (None, int(jax.device_get(state.step))):
      state, _ = self.checkpoints.restore(progress.best_step, checkpoint.abstract_like(state))
      logging.info("restored the best weights (step %d, val %s=%.5g)", progress.best_step, self.task.monitor,
                   progress.best_value)
    result = {"step": int(jax.device_get(state.step)), "epochs": progress.epoch, "params": counts,
              "best_step": progress.best_step, "stopped_early": progress.stopped_early,
              "train_seconds": progress.train_seconds,
              "val": self.evaluate(state, "val"), "test": self.evaluate(state, "test")}
    grid = self.sample_grid(state, self.fixed_images)
    if self.is_main:
      save_png(grid, os.path.join(self.workdir, "samples", "final.png"))
      with open(os.path.join(self.workdir, "final_metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    self.writer.scalars(result["step"], {f"final/test/{k}": v for k, v in result["test"].items()}, kind="final")
    self.writer.close()
    self.checkpoints.close()
    logging.info("final: val %s | test %s", result["val"], result["test"])
    logging.info("sample grid: %s", os.path.join(self.workdir, "samples", "final.png"))
    logging.info("loss plot:   %s", os.path.join(self.workdir, "plots", "loss.png"))
    self.state = state
    return result


def train_and_evaluate(config, workdir: str, profile_steps: tuple[int, int] | None = None) -> dict:
  """Trains to the end; `profile_steps` (N, M): trace those steps (colorize_jax/profiling.py)."""
  return Trainer(config, workdir, profile_steps).run()
