"""The one training loop, for every task: `train_and_evaluate(config, workdir)`.

Data flow: grain iterator of process-local uint8 batches -> global arrays
sharded on the data axis -> task.train_step (jit, state donated) -> step
metrics; at the end of each epoch the hooks of colorize_jax/train/hooks.py
(the evaluators of config.evals, early stopping, console, sample grid, plots,
checkpoint), which read the run's RunContext.
"""

from __future__ import annotations

import functools
import os
import time

import jax
from absl import logging

from colorize_jax import registry, tasks
from colorize_jax.data import prefetch
from colorize_jax.evaluators import fid, specs
from colorize_jax.runtime import parallel, xla_options
from colorize_jax.train import (
  checkpoint,
  hooks,
  pending_change,
  preemption,
  preflight,
  resume_guard,
  workdir_lock,
)

# launch.py catches NonFiniteLossError; tests and benchmarks build steps with make_train_step.
from colorize_jax.train.hooks import NonFiniteLossError  # noqa: F401
from colorize_jax.train.run_setup import RunSetup, make_train_step  # noqa: F401


class Trainer(RunSetup):
  """One run's loop: `run()` trains to the end (its parts are built by RunSetup)."""

  def run(
    self,
    resume: resume_guard.Resume | None = None,
    stop: preemption.StopSignals | None = None,
  ) -> dict:
    """Trains from the newest checkpoint (or from scratch) to the end; `resume` is the config
    guard's verdict on this workdir (colorize_jax/resume_guard.py). `stop`: asked after every
    step whether a signal ends the run there (preemption.Stopped, after saving the step)."""
    # Global device batches read ahead while steps run; checkpoints keep the taken position.
    train_iter = prefetch.DevicePrefetcher(self.data.train_iterator, self.data_sharding)
    try:
      state, progress = self.init_or_restore(train_iter)
      restart_best = self._best_restarts(resume)
      if restart_best:
        progress.best_value, progress.best_step, progress.bad_epochs = None, None, 0
      self._hold_change(resume, int(jax.device_get(state.step)), restart_best)
      counts = self.task.param_counts(state)
      logging.info("parameters: %s", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
      state = self._train(state, progress, train_iter, stop)
    finally:  # Reader threads and grain workers end on every exit.
      train_iter.close()
      self.profiler.stop()  # An early stop before the range's end.
    return hooks.finish(self.context, state, progress, counts)

  def _best_restarts(self, resume: resume_guard.Resume | None) -> bool:
    """Whether the old checkpoints' monitored values measure another thing: the config changed
    what is learned or monitored, or the data list of the split the monitor scores changed."""
    if resume is not None and resume.restart_best:
      return True
    monitored = self.monitor.split("/", 1)[0]
    return any(
      ev.name == monitored and not ev.spec.path and ev.spec.split in self.data_check.changed_splits
      for ev in self.evaluators
    )

  def _hold_change(self, resume: resume_guard.Resume | None, step: int, restart_best: bool) -> None:
    """An allowed change (a config that restarts 'best', a new data list) is written ahead and
    recorded once this launch's first checkpoint is (train/pending_change.py)."""
    change = pending_change.Change.of(step, resume, self.data_check, restart_best)
    if change is None:
      return
    if self.is_main:
      change.hold(self.workdir)

    def apply():
      if self.is_main:
        change.apply(self.workdir)
      self.checkpoints.reload()  # Every process: "best" among the checkpoints made since.

    self.checkpoints.after_next_save(apply)

  def _train(self, state, progress, train_iter, stop=None):
    cfg = self.config
    step = int(jax.device_get(state.step))
    saver = hooks.SaveCheckpoint(
      self.checkpoints, train_iter, self.monitor, every_steps=cfg.checkpoint.every_steps
    )
    if progress.finished and (progress.stopped_early or step >= self.total_steps):
      logging.info("run in %s already finished at step %d; nothing to do", self.workdir, step)
      return state
    self.profiler.check(step, self.total_steps)
    if stop is not None and stop.requested_now():  # Signalled while setting up or compiling.
      raise preemption.Stopped(self.checkpoints.latest_step(), None, stop.signal_name, "")
    epoch_hooks = hooks.epoch_hooks(self.context, saver)
    step_log = hooks.StepLog(self.context, step, self.initial_param_norms)
    pending = []  # Device scalars since the last log: no sync per step.
    run_start, run_seconds0 = time.perf_counter(), progress.train_seconds
    epoch_start = run_start - progress.epoch_seconds  # A resumed epoch keeps its earlier time.
    while step < self.total_steps and not progress.stopped_early:
      t0 = time.perf_counter()
      batch = next(train_iter)
      step_log.meter.add_data_wait(time.perf_counter() - t0)
      self.profiler.before_step(step + 1)
      with xla_options.out_of_memory_hint(cfg.batch_size, cfg.dtype):  # The first call compiles.
        state, metrics = self._train_step(state, batch, self.key)
      step += 1
      self.checkpoints.check_save(step)  # The last save, written while this step ran.
      stopping = stop is not None and stop.requested(step)  # The same answer on every process.
      self.profiler.after_step(step, metrics)
      pending.append(metrics)
      # A budget that ends mid-epoch still validates (and plots) that last part.
      in_epoch = (step - self.epoch_origin[0]) % self.steps_per_epoch  # Steps into the epoch.
      end_of_epoch = in_epoch == 0 or step == self.total_steps
      save_now = saver.due(step, end_of_epoch) or stopping
      if step % cfg.log_every_steps == 0 or save_now:
        progress.add_steps(step_log(step, pending, progress.epoch + 1))
        pending = []
      if save_now:
        progress.train_seconds = run_seconds0 + time.perf_counter() - run_start
        progress.finished = step >= self.total_steps
      if end_of_epoch:
        progress.epoch += 1
        progress.partial_epoch = in_epoch != 0
        seconds = time.perf_counter() - epoch_start
        epoch = hooks.EpochEnd.of_progress(state, step, progress, seconds)
        hooks_start = time.perf_counter()
        for hook in epoch_hooks:  # The last one saves the epoch's checkpoint.
          hook(epoch)
        epoch_start = time.perf_counter()
        step_log.meter.add_epoch_end(epoch_start - hooks_start)
      elif save_now:
        progress.epoch_seconds = time.perf_counter() - epoch_start
        saver.save(step, state, progress)
      # A signal during the epoch's evaluation and save stops here, before another step.
      if stopping or (end_of_epoch and stop is not None and stop.requested_now()):
        self._stop(step, progress, in_epoch if not end_of_epoch else 0, stop.signal_name)
    self.checkpoints.wait()
    if not progress.finished:  # e.g. a resumed run whose new budget it had already passed.
      progress.finished = True
      # Orbax never overwrites a step: one restored and not trained past is already saved (a
      # relaunch redoes only the final reports).
      if step not in self.checkpoints.all_steps():
        saver.save(step, state, progress)
        self.checkpoints.wait()
    return state

  def _stop(self, step: int, progress, in_epoch: int, signal_name: str):
    """The step just saved is written; the run ends here (launch.py says how to resume).
    `in_epoch`: the step's place in its epoch (0: the epoch's last)."""
    self.checkpoints.wait()
    self.writer.close()
    if not in_epoch:
      where = f"end of epoch {progress.epoch}"
    else:
      where = (
        f"epoch {progress.epoch + 1}, step {in_epoch} of {self.steps_per_epoch}, with the data "
        "position"
      )
    path = os.path.join(self.checkpoints.directory, str(step))
    logging.info("stopped by %s after step %d: checkpoint %s written", signal_name, step, path)
    raise preemption.Stopped(step, path, signal_name, where)


def train_and_evaluate(
  config,
  workdir: str,
  *,
  allow_config_change: bool = False,
  allow_data_change: bool = False,
  profile_steps: tuple[int, int] | None = None,
) -> dict:
  """Checks the config, locks the workdir (process 0), trains; every exit waits for a pending save.

  SIGTERM or a first Ctrl-C ends it with preemption.Stopped once the current step is saved.

  `profile_steps` (N, M): a profiler trace of those steps (colorize_jax/train/profiling.py).
  `allow_data_change`: resume although the data's file list changed (train/data_guard.py).
  """
  # The task and the mesh are made once, here, for the checks and the run.
  mesh = parallel.make_mesh()
  try:
    task = tasks.build(config)
  except (ValueError, registry.UnknownNameError):
    task = None  # preflight.check says why, with every other bad value.
  preflight.check(config, task=task)
  # Evaluator specs: a missing folder, or FID asked for without its weights, fails here in one line.
  fid.check_required(specs.from_config(config))
  is_main = jax.process_index() == 0
  taking = functools.partial(parallel.agree_on, what="taking the workdir")
  # SIGTERM and Ctrl-C end the run after a checkpoint of its current step (preemption.py).
  stop = preemption.StopSignals(os.path.join(os.path.abspath(workdir), "checkpoints"))
  with stop.installed(), workdir_lock.hold(workdir, enabled=is_main, agree=taking) as lock:
    if lock is not None:
      stop.on_abort(lock.release)  # A second Ctrl-C leaves no stale run.lock either.
    # A change a dead launch was allowed: recorded if it reached a checkpoint, else dropped.
    parallel.agree_on(
      lambda: pending_change.settle(os.path.abspath(workdir)) if is_main else None,
      "settling the workdir's pending change",
    )
    # Before any set-up: a refused resume costs nothing and writes nothing.
    resume = parallel.agree_on(
      lambda: resume_guard.check_resume(
        os.path.abspath(workdir),
        config,
        checkpoint.latest_saved_step(os.path.join(workdir, "checkpoints")),
        allow_change=allow_config_change,
      ),
      "checking the config against the workdir's",
    )
    # After every process read the old record (agree_on waits for all); a change that restarts
    # "best" is recorded once a checkpoint is made under it (Trainer._hold_change).
    if is_main and not resume.restart_best:
      resume.record(os.path.abspath(workdir))
    trainer = Trainer(
      config,
      workdir,
      task=task,
      mesh=mesh,
      profile_steps=profile_steps,
      allow_data_change=allow_data_change,
    )
    try:
      return trainer.run(resume, stop)
    finally:
      trainer.checkpoints.settle()
