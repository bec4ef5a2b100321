"""The console's progress line: epoch, step, losses, images/s, data wait, ETA."""

from __future__ import annotations

import datetime
import time


def format_duration(seconds: float) -> str:
  return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class Throughput:
  """Training images/s and ETA over the window since the last `report`.

  End-of-epoch work (validation, plots, checkpoints) is paused out of the
  rate, so images/s measures training alone; the ETA adds it back as the
  mean seconds of the epoch ends still to come.
  """

  def __init__(self, batch_size: int, start_step: int, total_steps: int, steps_per_epoch: int = 0):
    self.batch_size = batch_size
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self._step = start_step
    self._time = time.perf_counter()
    self._data_wait = 0.0
    self._epoch_end_seconds: list[float] = []

  def add_data_wait(self, seconds: float) -> None:
    self._data_wait += seconds

  def add_epoch_end(self, seconds: float) -> None:
    """Seconds spent on an epoch's end duties: out of the rate, into the ETA."""
    self._time += seconds
    self._epoch_end_seconds.append(seconds)

  def report(self, step: int) -> dict[str, float]:
    now = time.perf_counter()
    elapsed = max(now - self._time, 1e-9)
    steps = max(step - self._step, 0)
    rate = steps / elapsed
    eta = (self.total_steps - step) / rate if rate > 0 else float("inf")
    if self._epoch_end_seconds and self.steps_per_epoch:
      epoch_ends_left = -(-(self.total_steps - step) // self.steps_per_epoch)
      eta += epoch_ends_left * sum(self._epoch_end_seconds) / len(self._epoch_end_seconds)
    out = {
      "perf/images_per_sec": rate * self.batch_size,
      "perf/steps_per_sec": rate,
      "perf/data_wait_fraction": min(self._data_wait / elapsed, 1.0),
      "perf/eta_seconds": eta,
    }
    self._step, self._time, self._data_wait = step, now, 0.0
    return out


def progress_line(
  epoch: int, epochs: int, step: int, total: int, metrics: dict, perf: dict, keys
) -> str:
  shown = " ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics)
  eta = perf["perf/eta_seconds"]
  return (
    f"epoch {epoch}/{epochs} step {step}/{total} ({100.0 * step / max(total, 1):.1f}%) {shown} "
    f"| {perf['perf/images_per_sec']:.1f} img/s, "
    f"data wait {100 * perf['perf/data_wait_fraction']:.0f}% "
    f"| ETA {format_duration(eta) if eta != float('inf') else '?'}"
  )
