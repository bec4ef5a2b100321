"""Orbax checkpoints: train state + grain iterator + run progress, saved together.

Saving is asynchronous and atomic (Orbax writes a temporary directory and
renames it when complete), so a run killed at any moment resumes from its last
complete checkpoint; leftovers of a half-written one are removed on start.
A complete checkpoint damaged later (a truncated file, a deleted folder) is
moved aside as <step>.corrupt when an older one restores (`restore_latest`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

from colorize_jax.runtime import parallel


@dataclasses.dataclass
class Progress:
  """Everything besides the train state that a resumed run must know."""

  epoch: int = 0  # Completed epochs.
  best_value: float | None = None
  best_step: int | None = None
  bad_epochs: int = 0  # Epochs since the monitored metric last improved.
  stopped_early: bool = False
  finished: bool = False
  train_seconds: float = 0.0
  # The current epoch's running sums of train metrics, their step count and its wall time so far:
  # a run resumed mid-epoch reports the same epoch means as an uninterrupted one.
  epoch_sums: dict[str, float] = dataclasses.field(default_factory=dict)
  epoch_count: int = 0
  epoch_seconds: float = 0.0
  # Evaluators whose gray baseline is recorded: once per run and evaluator (config.evals).
  gray_recorded: list[str] = dataclasses.field(default_factory=list)
  # Epochs are counted in steps of the current data from step `origin_step`, when `origin_epoch`
  # epochs were complete: both 0 unless the data changed on a resume (--allow_data_change),
  # where the epoch in progress started again on the new list (train/data_guard.py).
  origin_step: int = 0
  origin_epoch: int = 0
  # The step budget ended inside the last epoch counted: a resume under a larger budget
  # finishes that epoch as the same one (RunSetup.init_or_restore).
  partial_epoch: bool = False

  def add_steps(self, steps: list[dict[str, float]]) -> None:
    """Adds logged training steps' metrics to the current epoch's running sums."""
    for m in steps:
      for k, v in m.items():
        self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
    self.epoch_count += len(steps)

  def take_epoch_means(self) -> dict[str, float]:
    """The current epoch's means of its logged steps; the sums start again for the next epoch."""
    means = {k: v / max(self.epoch_count, 1) for k, v in self.epoch_sums.items()}
    self.epoch_sums, self.epoch_count, self.epoch_seconds = {}, 0, 0.0
    return means

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: dict) -> Progress:
    fields = {f.name for f in dataclasses.fields(cls)}
    data = {k: v for k, v in data.items() if k in fields}
    if isinstance(data.get("gray_recorded"), bool):  # Before config.evals: validation's only.
      data["gray_recorded"] = ["val"] if data["gray_recorded"] else []
    return cls(**data)


class CheckpointError(RuntimeError):
  """No checkpoint could be restored, or one item of one could not; the message names which.

  `detail` is the message without the advice on what to do (for lists of several failures).
  """

  def __init__(self, message: str, detail: str | None = None):
    super().__init__(message)
    self.detail = detail or message


class CheckpointSaveError(CheckpointError):
  """A checkpoint could not be written (a full disk, a lost mount): raised at the step after its
  save at the latest, naming the step that was not saved."""


def last_line(error: BaseException) -> str:
  """The informative end of a (often 100-line) library error."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return f"{type(error).__name__}: {lines[-1] if lines else ''}"[:400]


def _chain(error: BaseException) -> list[BaseException]:
  """The error and its causes, outermost first."""
  chain: list[BaseException] = []
  while error is not None and error not in chain:
    chain.append(error)
    error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
  return chain


_LOCAL_FILE = re.compile(r'local file "([^"]+)"')
_VALUE_SIZE = re.compile(r"not valid for value of size (\d+)")


def _files_under(folder: str) -> list[str]:
  return sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names)


def damaged_file(error: BaseException, folder: str) -> str | None:
  """The file of a checkpoint's step folder that a failed restore points at, where it can be
  told: TensorStore names the file it could not read or decode, or reports a byte range beyond a
  data file's end (the truncated file is the one of exactly the size it read); a JSON file that
  no longer parses; a missing file."""
  chain = _chain(error)
  text = "\n".join(str(e) for e in chain)
  named = [path for path in _LOCAL_FILE.findall(text) if not path.endswith("/")]
  if named:
    return named[-1]  # The innermost.
  for e in chain:
    if isinstance(e, FileNotFoundError) and e.filename:
      return str(e.filename)
  files = _files_under(folder)
  size = _VALUE_SIZE.search(text)
  if size:
    same = [path for path in files if os.path.getsize(path) == int(size.group(1))]
    if len(same) == 1:
      return same[0]
  if any(isinstance(e, json.JSONDecodeError) for e in chain):
    for path in files:  # Orbax's metadata files are JSON; data files and manifests are not.
      if f"{os.sep}d{os.sep}" in path or path.endswith((".ocdbt", ".txt")):
        continue
      try:
        with open(path) as f:
          json.load(f)
      except (OSError, ValueError):
        return path
  return None


def reason(error: BaseException) -> str:
  """The root cause's last line (the outer errors of TensorStore restores end in a spec dump,
  e.g. `Exception: })>.`), its end if long."""
  root = _chain(error)[-1]
  lines = [line.strip() for line in str(root).splitlines() if line.strip()]
  text = lines[-1] if lines else ""
  return f"{type(root).__name__}: {text if len(text) <= 300 else '...' + text[-300:]}"


def _reload_after_process_0(manager, name: str) -> None:
  """Every process re-reads the step list once process 0 has changed the files."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)
  manager.reload()


def drop_monitored(directory: str, up_to: int | None = None) -> None:
  """Removes the monitored value of each checkpoint up to step `up_to` (None: all) from its
  folder, so a manager opened (or reloaded) after it chooses 'best' among the others."""
  for name in os.listdir(directory) if os.path.isdir(directory) else ():
    if name.isdigit() and (up_to is None or int(name) <= up_to):
      metrics = os.path.join(directory, name, "metrics")
      if os.path.isdir(metrics):
        shutil.rmtree(metrics)


def latest_saved_step(directory: str) -> int | None:
  """The newest step folder under a checkpoint directory, without opening a manager (which would
  create the directory); half-written `*.orbax-checkpoint-tmp*` folders do not count."""
  try:
    steps = [int(name) for name in os.listdir(directory) if name.isdigit()]
  except (FileNotFoundError, NotADirectoryError):
    return None
  return max(steps, default=None)


def latest_progress(directory: str) -> tuple[int, Progress] | None:
  """(step, progress) of the newest checkpoint whose progress reads (the one a resume restores,
  unless its state is damaged); None without checkpoints. Reads one small JSON file (Orbax's
  JSON item `progress/metadata`), without opening a manager."""
  for step in sorted(
    (int(n) for n in os.listdir(directory) if n.isdigit()) if os.path.isdir(directory) else (),
    reverse=True,
  ):
    try:
      with open(os.path.join(directory, str(step), "progress", "metadata")) as f:
        return step, Progress.from_json(json.load(f))
    except (OSError, ValueError, TypeError):  # Damaged: restore_latest reports it.
      continue
  return None


def abstract_like(state: Any) -> Any:
  """Restore target with shapes, dtypes and shardings: Orbax otherwise hands back plain dicts."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


class _QuietUnrankedSaves:
  """Drops Orbax's warning at every save given no metrics (a manager with best_fn expects them).

  Ours are deliberate: only the epoch early stopping counts as the best is ranked
  (hooks.SaveCheckpoint), so every other save warned, once an epoch, about nothing wrong.
  """

  def filter(self, record) -> bool:
    return "did not provide metrics" not in record.getMessage()


logging.get_absl_logger().addFilter(_QuietUnrankedSaves())


class Checkpoints:
  """Keeps the latest `keep` checkpoints plus the best one by `monitor` (lower is better; the
  training loop passes metric_names.signed(), so metrics where higher is better count negated)."""

  def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    policy = pp.AnyPreservationPolicy(
      [
        pp.LatestN(max(keep, 1)),
        pp.BestN(
          get_metric_fn=lambda m: m["monitor"],
          reverse=True,
          n=1,
          keep_checkpoints_without_metrics=False,
        ),
      ]
    )
    options = ocp.CheckpointManagerOptions(
      preservation_policy=policy,
      best_fn=lambda m: m["monitor"],
      best_mode="min",
      cleanup_tmp_directories=True,
      enable_async_checkpointing=async_save,
    )
    self.manager = ocp.CheckpointManager(
      self.directory, item_names=("state", "data", "progress"), options=options
    )
    self._pending: int | None = None  # The step whose asynchronous save is not checked yet.
    self._after_save: list[Callable[[], None]] = []  # after_next_save's, in order.

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    return self.manager.best_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(
    self, step: int, state, data_iterator, progress: Progress, monitor: float | None = None
  ) -> None:
    args = ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      data=grain.checkpoint.CheckpointSave(data_iterator),
      progress=ocp.args.JsonSave(progress.to_json()),
    )
    metrics = None if monitor is None else {"monitor": float(monitor)}
    self.check_save(step)
    try:
      self.manager.save(step, args=args, metrics=metrics, force=True)
    except Exception as e:  # pylint: disable=broad-except  (OSError, TensorStore, grain, ...)
      raise self._save_failed(step, step, e) from e
    self._pending = step

  def check_save(self, now: int | None = None) -> None:
    """Waits for the save in flight, if any, and raises CheckpointSaveError when it failed
    (`now`: the step training stops at then, for the message).

    The loop calls it after dispatching the step that follows a save, so the write overlaps
    one step and a full disk stops the run there, not at the next save an epoch later. In a
    multi-process run every process learns whether any process failed (parallel.agree_on).
    """
    if self._pending is None:
      return
    step, self._pending = self._pending, None

    def wait() -> None:
      try:
        self.manager.wait_until_finished()
      except Exception as e:  # pylint: disable=broad-except
        raise self._save_failed(step, now, e) from e

    parallel.agree_on(wait, f"writing the checkpoint of step {step}")
    actions, self._after_save = self._after_save, []
    for action in actions:
      action()

  def after_next_save(self, action: Callable[[], None]) -> None:
    """Runs `action` once the next checkpoint is written (check_save sees it complete): a
    resumed launch's change of config or data is recorded only when a checkpoint made under it
    exists (trainer.Trainer.run)."""
    self._after_save.append(action)

  def _save_failed(self, step: int, now: int | None, error: Exception) -> CheckpointSaveError:
    latest = latest_saved_step(self.directory)
    kept = f"step {latest}" if latest is not None else "none yet"
    stopped = f"Training stopped at step {now}" if now is not None else "Training stopped"
    return CheckpointSaveError(
      f"the checkpoint of step {step} could not be written to {self.directory}: "
      f"{reason(error)}. {stopped}; the last complete checkpoint is {kept}. Free disk "
      "space (or fix the cause) and relaunch the same command to resume from it"
    )

  def restore(self, step: int, abstract_state, data_iterator=None) -> tuple[Any, Progress]:
    """State (and, given an iterator, its position) and progress at `step`.

    Raises CheckpointError naming the step and the item (file) that failed.
    """
    where = os.path.join(self.directory, str(step))
    try:
      progress = self.manager.restore(
        step, args=ocp.args.Composite(progress=ocp.args.JsonRestore())
      )
      progress = Progress.from_json(progress["progress"])
    except Exception as e:  # pylint: disable=broad-except  (any damage: JSON, missing file, bad field)
      raise self._unreadable(step, os.path.join(where, "progress", "metadata"), e) from e
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # pylint: disable=broad-except  (TensorStore and grain raise many types)
      file = damaged_file(e, where) or f"{where} ({'/'.join(items)})"
      raise self._unreadable(step, file, e) from e
    logging.info("restored checkpoint %d from %s", step, self.directory)
    return restored["state"], progress

  def _unreadable(self, step: int, file: str, error: Exception) -> CheckpointError:
    """One line: the step, the file that failed and why, and what to do."""
    detail = f"step {step}: {file}: {reason(error)}"
    where = os.path.join(self.directory, str(step))
    others = [s for s in self.all_steps() if s != step]
    return CheckpointError(
      f"{detail}. If that file is damaged (truncated, partly copied), move {where} aside or delete "
      f"it to use another checkpoint (saved steps besides it: {others or 'none'}); a training "
      "relaunch does this by itself when an older checkpoint restores",
      detail,
    )

  def restore_latest(self, abstract_state, data_iterator=None) -> tuple[int, Any, Progress] | None:
    """(step, state, progress) of the newest checkpoint that restores; None when there is none.

    A newer checkpoint that fails while an older one restores is damaged, not
    incompatible: it is moved aside as <step>.corrupt. When none restores,
    nothing is moved (the cause may be the code or config, not the files) and
    the error lists every step tried.
    """
    failures = []
    for step in sorted(self.all_steps(), reverse=True):
      try:
        state, progress = self.restore(step, abstract_state, data_iterator)
      except CheckpointError as e:
        logging.warning("checkpoint %s; trying the next older one", e.detail)
        failures.append((step, e.detail))
        continue
      if failures:
        self._move_aside([s for s, _ in failures])
      return step, state, progress
    if failures:
      tried = " | ".join(reason for _, reason in failures)
      raise CheckpointError(f"no checkpoint in {self.directory} could be restored; tried {tried}")
    return None

  def _move_aside(self, steps: list[int]) -> None:
    if jax.process_index() == 0:
      for step in steps:
        target = os.path.join(self.directory, f"{step}.corrupt")
        suffix = 0
        while os.path.exists(target):
          suffix += 1
          target = os.path.join(self.directory, f"{step}.corrupt.{suffix}")
        os.rename(os.path.join(self.directory, str(step)), target)
        logging.warning("moved the damaged checkpoint of step %d aside to %s", step, target)
    _reload_after_process_0(self.manager, "checkpoint_move_aside")

  def reload(self) -> None:
    """Re-reads the steps and their monitored values once process 0 has changed the files
    (`drop_monitored`)."""
    _reload_after_process_0(self.manager, "checkpoint_reload")

  def resolve(self, which: str | int) -> int:
    """'last', 'best' or a step number -> an existing step, or a clear error."""
    steps = self.all_steps()
    if not steps:
      raise FileNotFoundError(
        f"no checkpoints in {self.directory}: train there first (launch.py --mode=train)"
      )
    if which in ("last", "latest"):
      return self.latest_step()
    if which == "best":
      return self.best_step() or self.latest_step()
    try:
      step = int(which)
    except (TypeError, ValueError):
      raise ValueError(
        f"checkpoint {which!r}: use 'last', 'best' or a step number; saved steps: {steps}"
      ) from None
    if step not in steps:
      raise ValueError(f"no checkpoint at step {step} in {self.directory}; saved steps: {steps}")
    return step

  def wait(self) -> None:
    """Waits for the save in flight; CheckpointSaveError when it failed."""
    self.check_save()
    self.manager.wait_until_finished()

  def settle(self) -> None:
    """Waits for a save in progress on any exit, so the checkpoint an error names exists.

    A save that fails here is logged in one line, not raised: it would hide the
    error that is already ending the run.
    """
    try:
      self._await_cleanup()
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      logging.error("the checkpoint save in progress failed: %s", last_line(e))

  def _await_cleanup(self) -> None:
    """Orbax removes half-written checkpoints in a thread it starts when the manager opens and
    only awaits in its first save; a manager closed without saving (an evaluation that finds
    nothing to restore) would leave it running into interpreter shutdown, which logs an error
    line after the command's own (docs/DESIGN.md, "Library facts")."""
    await_cleanup = getattr(self.manager, "_maybe_await_cleanup_tmp_directory", None)
    if await_cleanup is not None:
      await_cleanup()

  def close(self) -> None:
    self._await_cleanup()
    self.manager.wait_until_finished()
    self.manager.close()
