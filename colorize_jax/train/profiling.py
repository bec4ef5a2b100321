"""`--profile_steps=N,M`: a jax.profiler trace of training steps N to M (1-based, inclusive).

The trace goes to `<workdir>/tensorboard/plugins/profile/<run>/`: TensorBoard
shows it in its Profile tab (`pip install tensorboard tensorboard-plugin-profile`,
then `tensorboard --logdir WORKDIR/tensorboard`), and the `*.trace.json.gz`
beside it opens in Perfetto (ui.perfetto.dev).
"""

from __future__ import annotations

import os

import jax
from absl import logging

TRACE_SUBDIR = "tensorboard"


def parse_steps(spec: str) -> tuple[int, int] | None:
  """'N,M' -> (N, M) with 1 <= N <= M; '' -> None. Anything else: a ValueError naming it."""
  spec = (spec or "").strip()
  if not spec:
    return None
  parts = [p.strip() for p in spec.split(",")]
  try:
    first, last = (int(p) for p in parts)
  except ValueError:
    raise ValueError(
      f"--profile_steps={spec!r}: use N,M, the first and last training step to trace "
      "(1-based, inclusive), e.g. --profile_steps=10,12"
    ) from None
  if not 1 <= first <= last:
    raise ValueError(
      f"--profile_steps={spec!r}: need 1 <= N <= M in N,M, e.g. --profile_steps=10,12"
    )
  return first, last


class StepProfiler:
  """Starts a trace before step N runs and stops it once step M has finished."""

  def __init__(self, steps: tuple[int, int] | None, workdir: str):
    self.steps = steps
    self.directory = os.path.join(workdir, TRACE_SUBDIR)
    self._active = False

  def check(self, start_step: int, total_steps: int) -> None:
    """Before training: the range must lie within the steps this launch runs."""
    if self.steps is None:
      return
    first, last = self.steps
    if first <= start_step or last > total_steps:
      resumed = f" (resuming after step {start_step})" if start_step else ""
      raise ValueError(
        f"--profile_steps={first},{last} is outside this run: it trains steps {start_step + 1} to "
        f"{total_steps}{resumed}; pick N,M within that range"
      )

  def before_step(self, step: int) -> None:
    """`step`: the 1-based number of the step about to run."""
    if self.steps is not None and step == self.steps[0] and not self._active:
      logging.info("profiling steps %d-%d into %s", *self.steps, self.directory)
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
      self._active = True

  def after_step(self, step: int, outputs) -> None:
    """`step`: the 1-based number of the step just dispatched; `outputs`: its results."""
    if self._active and step >= self.steps[1]:
      jax.block_until_ready(outputs)  # The trace must hold the device work, not only its dispatch.
      self.stop()

  def stop(self) -> None:
    if self._active:
      jax.profiler.stop_trace()
      self._active = False
      logging.info(
        "profile written to %s (TensorBoard's Profile tab, or the .trace.json.gz in Perfetto)",
        self.directory,
      )
