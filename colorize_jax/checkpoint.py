"""Orbax checkpoints: train state + grain iterator + run progress, saved together.

Saving is asynchronous and atomic (Orbax writes a temporary directory and
renames it when complete), so a run killed at any moment resumes from its last
complete checkpoint; leftovers of a half-written one are removed on start.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp


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

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: dict) -> "Progress":
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in fields})


def abstract_like(state: Any) -> Any:
  """Restore target with shapes, dtypes and shardings: Orbax otherwise hands back plain dicts."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


class Checkpoints:
  """Keeps the latest `keep` checkpoints plus the best one by `monitor` (lower is better; the
  training loop passes metric_names.signed(), so metrics where higher is better count negated)."""

  def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    policy = pp.AnyPreservationPolicy([
        pp.LatestN(max(keep, 1)),
        pp.BestN(get_metric_fn=lambda m: m["monitor"], reverse=True, n=1,
                 keep_checkpoints_without_metrics=False),
    ])
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, best_fn=lambda m: m["monitor"], best_mode="min",
        cleanup_tmp_directories=True, enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(
        self.directory, item_names=("state", "data", "progress"), options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    return self.manager.best_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, data_iterator, progress: Progress, monitor: float | None = None) -> None:
    args = ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=grain.checkpoint.CheckpointSave(data_iterator),
        progress=ocp.args.JsonSave(progress.to_json()))
    metrics = None if monitor is None else {"monitor": float(monitor)}
    self.manager.save(step, args=args, metrics=metrics, force=True)

  def restore(self, step: int, abstract_state, data_iterator=None) -> tuple[Any, Progress]:
    """State (and, given an iterator, its position) and progress at `step`."""
    items = {"state": ocp.args.StandardRestore(abstract_state), "progress": ocp.args.JsonRestore()}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    logging.info("restored checkpoint %d from %s", step, self.directory)
    return restored["state"], Progress.from_json(restored["progress"])

  def resolve(self, which: str | int) -> int:
    """'last', 'best' or a step number -> an existing step, or a clear error."""
    steps = self.all_steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoints in {self.directory}")
    if which in ("last", "latest"):
      return self.latest_step()
    if which == "best":
      return self.best_step() or self.latest_step()
    try:
      step = int(which)
    except (TypeError, ValueError):
      raise ValueError(f"checkpoint {which!r}: use 'last', 'best' or a step number; saved steps: {steps}") from None
    if step not in steps:
      raise ValueError(f"no checkpoint at step {step} in {self.directory}; saved steps: {steps}")
    return step

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
