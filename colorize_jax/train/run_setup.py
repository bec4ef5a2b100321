"""What one training run is made of, built before its first step.

The data is read here and the task prepared (trainer.train_and_evaluate
builds it and the mesh once); the compiled init and train step, the
evaluators of config.evals, the writer, the checkpoints and the hooks'
RunContext are ready when the loop (colorize_jax/train/trainer.py) starts.
"""

from __future__ import annotations

import functools
import os

import jax
import optax
from absl import logging

from colorize_jax import tasks
from colorize_jax.data import DataPipeline, augment
from colorize_jax.evaluators import specs
from colorize_jax.evaluators.evaluator import Evaluator
from colorize_jax.evaluators.named import NamedEvaluator
from colorize_jax.outputs.writer import RunWriter
from colorize_jax.runtime import parallel, xla_options
from colorize_jax.train import checkpoint, data_guard, hooks, optim, profiling


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


def epoch_origin(step: int, progress: checkpoint.Progress, data_changed: bool) -> tuple[int, int]:
  """(step, epochs complete then) that the run's epochs are counted from, resuming checkpoint
  `step` with its `progress`: that checkpoint itself when the data changed (its epoch starts
  again), else the origin it carries."""
  return (step, progress.epoch) if data_changed else (progress.origin_step, progress.origin_epoch)


class RunSetup:
  """The data, task, compiled steps, writer and checkpoints of one run, built before training;
  colorize_jax/train/trainer.py's Trainer adds the loop."""

  def __init__(
    self,
    config,
    workdir: str,
    *,
    task=None,
    mesh: jax.sharding.Mesh | None = None,
    profile_steps: tuple[int, int] | None = None,
    allow_data_change: bool = False,
  ):
    """`task` and `mesh`: the run's, built once by train_and_evaluate (None: built here).
    `allow_data_change`: resume even if the data's file list changed (train/data_guard.py)."""
    self.config, self.workdir = config, os.path.abspath(workdir)
    self.profiler = profiling.StepProfiler(profile_steps, self.workdir)
    parallel.check_batch_size(config.batch_size)
    self.is_main = jax.process_index() == 0
    self.data = DataPipeline(
      config.data,
      global_batch_size=config.batch_size,
      seed=config.seed,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
    )
    checkpoint_dir = os.path.join(self.workdir, "checkpoints")
    self.data_check = parallel.agree_on(
      lambda: data_guard.check(
        self.workdir,
        self.data,
        data_guard.describe(config.data),
        checkpoint.latest_saved_step(checkpoint_dir),
        allow_change=allow_data_change,
      ),
      "checking the data against the workdir's",
    )
    self.data_changed = self.data_check.changed
    # (step, epochs complete then) that epochs are counted from (checkpoint.Progress), as the
    # checkpoint the run resumes from says, read before the optimizers' schedules are built.
    self.epoch_origin = (0, 0)
    resumes = checkpoint.latest_progress(checkpoint_dir)
    if resumes is not None:
      self.epoch_origin = epoch_origin(*resumes, self.data_changed)
    self.steps_per_epoch, self.total_steps = optim.step_budget(
      config, self.data.num_examples("train"), self.epoch_origin
    )
    self.task = tasks.build(config) if task is None else task
    self.task.prepare(self.data, self.workdir)  # Constants from the train split, e.g. the ab prior.
    optimizers = optim.build_all(config, self.task.optimizers, self.total_steps)
    mesh = parallel.make_mesh() if mesh is None else mesh
    self.data_sharding, replicated = parallel.data_sharding(mesh), parallel.replicated(mesh)
    self.init_key, self.key = jax.random.split(jax.random.key(config.seed))
    self._init = jax.jit(
      functools.partial(
        self.task.init_state, image_size=config.data.image_size, optimizers=optimizers
      ),
      out_shardings=replicated,
    )
    self.evaluator = Evaluator(self.task, mesh)
    eval_specs = specs.from_config(config)
    for spec in eval_specs:  # Before the first epoch, not at its end.
      parallel.check_batch_size(spec.batch_size or config.batch_size, f"{spec.where}.batch_size")
    # Traced, not compiled: a bad monitor name fails before any compilation.
    self.monitor = specs.check_monitor(
      config.early_stopping.get("monitor") or self.task.monitor,
      eval_specs,
      self.evaluator.names(jax.eval_shape(self._init, self.init_key), config.data.image_size),
    )
    self.evaluators = tuple(
      NamedEvaluator(spec, self.evaluator, config, shared=self.data) for spec in eval_specs
    )
    self._train_step = xla_options.jit(
      make_train_step(self.task, config),
      in_shardings=(replicated, self.data_sharding, replicated),
      out_shardings=(replicated, replicated),
      donate_argnums=(0,),
    )
    self.writer = RunWriter(self.workdir, enabled=self.is_main)
    self.checkpoints = checkpoint.Checkpoints(checkpoint_dir, keep=config.checkpoint.keep)
    self.fixed_images = self.data.fixed_examples("val", config.num_sample_images)
    self.initial_param_norms: dict[str, float] = {}  # init_or_restore: the divergence reference.
    self.context = hooks.RunContext(
      config=config,
      workdir=self.workdir,
      is_main=self.is_main,
      writer=self.writer,
      checkpoints=self.checkpoints,
      evaluator=self.evaluator,
      evaluators=self.evaluators,
      monitor=self.monitor,
      fixed_images=self.fixed_images,
      console_keys=self.task.console_keys,
      plot_panels=self.task.plot_panels,
      steps_per_epoch=self.steps_per_epoch,
      total_steps=self.total_steps,
      train_examples=self.data.num_examples("train"),
      test_batches=functools.partial(self.data.eval_batches, "test"),
    )

  def init_or_restore(self, train_iter):
    """A fresh state and progress, or the newest checkpoint that restores (with the iterator).

    Also records each optimizer's parameter norm at initialisation, the reference of the
    divergence check (hooks.StepLog): the same for a fresh and a resumed run (same seed)."""
    state = self._init(self.init_key)
    self.initial_param_norms = {
      name: float(optax.tree.norm(params))
      for name, params in hooks.optimizer_params(self.task, state).items()
    }
    progress = checkpoint.Progress()
    # A changed list has no position to resume: its epoch starts again, from its first batch.
    data_iter = None if self.data_changed else train_iter
    restored = self.checkpoints.restore_latest(checkpoint.abstract_like(state), data_iter)
    if restored is not None:
      latest, state, progress = restored
      if epoch_origin(latest, progress, self.data_changed) != self.epoch_origin:
        # The step budget was made from the newest checkpoint's progress; an older one was
        # restored (the newest is damaged, now moved aside) and counts epochs differently.
        raise checkpoint.CheckpointError(
          f"checkpoint {latest} was restored instead of the newest, which the step budget was "
          "made from; relaunch the same command to resume from it"
        )
      if self.data_changed:
        progress.take_epoch_means()  # The epoch in progress starts again on the new list.
        progress.origin_step, progress.origin_epoch = self.epoch_origin
        progress.partial_epoch = False  # Counted whole: epochs count afresh from here.
      elif progress.partial_epoch and latest < self.total_steps:
        # A raised budget continues the epoch the old one ended inside, under its number.
        progress.epoch, progress.partial_epoch = progress.epoch - 1, False
      self.writer.truncate_after(latest)
      logging.info("resuming at step %d (epoch %d)", latest, progress.epoch)
    if self.is_main:  # Once the restore holds: a refused or failed resume records nothing.
      self.data_check.record()  # A changed list waits for a checkpoint (train/pending_change.py).
    return state, progress
