"""metrics.jsonl (one JSON object per logged step or epoch) and TensorBoard."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter

from colorize_jax.outputs import atomic
from colorize_jax.outputs.rundir import read_metrics  # Also imported from here by hooks and tests.


def _plain(value: Any) -> Any:
  value = (
    np.asarray(value).item() if hasattr(value, "shape") or isinstance(value, np.generic) else value
  )
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)  # JSON has no NaN; keep it visible rather than dropping it.
  return value


class RunWriter:
  """Writes on process 0 only; every other process gets a writer that does nothing."""

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    self._purge_step = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)

  @property
  def tb(self):
    if self._tb is None:
      # purge_step writes a restart marker: TensorBoard hides the events a killed run
      # logged after the checkpoint this run resumed from, so no curve doubles back.
      # The file name has whole seconds only: a run resumed within the same second would
      # overwrite the killed run's file without a finer suffix.
      self._tb = SummaryWriter(
        os.path.join(self.workdir, "tensorboard"),
        purge_step=self._purge_step,
        filename_suffix=f".{time.time_ns()}",
      )
    return self._tb

  def truncate_after(self, step: int) -> None:
    """On resume, forget what was logged after the checkpoint we resume from."""
    if not self.enabled:
      return
    self._purge_step = step + 1
    records = [r for r in read_metrics(self.workdir) if r.get("step", 0) <= step]
    path = os.path.join(self.workdir, "metrics.jsonl")
    if os.path.exists(path):
      atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in records))

  def scalars(self, step: int, metrics: dict[str, Any], **fields: Any) -> None:
    if not self.enabled:
      return
    record = {
      "step": int(step),
      **{k: _plain(v) for k, v in fields.items()},
      **{k: _plain(v) for k, v in metrics.items()},
    }
    with open(os.path.join(self.workdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps(record) + "\n")
    for name, value in metrics.items():
      value = _plain(value)
      if isinstance(value, (int, float)):
        self.tb.add_scalar(name, value, step)

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    if self.enabled:
      self.tb.add_image(name, image, step, dataformats="HWC")

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None
