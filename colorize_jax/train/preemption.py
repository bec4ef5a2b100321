"""Stopping a run cleanly: SIGTERM and Ctrl-C end the current step, save it and exit.

SIGTERM is how SLURM, Kubernetes and preemptible VMs stop a job, some time
before they kill it. On SIGTERM, or on the first SIGINT (Ctrl-C), the loop
(train/trainer.py) finishes the step it is in, checkpoints it (mid-epoch too,
with the data iterator's position, so the relaunch resumes exactly), waits for
the write, releases the workdir and raises `Stopped`; launch.py prints one line
naming the step, the checkpoint and the command that resumes, and exits with
EXIT_CODE. A second Ctrl-C exits at once, without saving (ABORT_EXIT_CODE).

Every process of a multi-process run must save the same step. Where JAX's
preemption service runs (a multi-process run joined through
jax.distributed, which installs its own SIGTERM handler), a notice reaching any
process is spread by the coordination service and
`multihost_utils.reached_preemption_sync_point(step)`, called at every step,
turns True at the same step everywhere; a Ctrl-C is handed to that service as a
SIGTERM. Without it (the service disabled), every process all-gathers its flag
each step. A single process needs no distributed client: the flag is its own.
(docs/DESIGN.md, "Resuming")
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

import jax
import numpy as np
from absl import logging

# sysexits.h EX_TEMPFAIL, "temporary failure; the user is invited to retry": the run is not
# finished and relaunching resumes it. Not 0, so a SLURM dependency (afterok), a Kubernetes Job
# or a pipeline does not take a stopped run for a finished one; distinct from 1 (an error), so
# a job script can requeue on it (README, "Preemption").
EXIT_CODE = 75
ABORT_EXIT_CODE = 130  # 128 + SIGINT: the shell's code for a command ended by Ctrl-C.


class Stopped(Exception):
  """The run stopped on a signal after checkpointing `step` (in `path`); relaunching resumes."""

  def __init__(self, step: int | None, path: str | None, signal_name: str, where: str):
    """`path` None: stopped before its first step, nothing new saved (`step`: the checkpoint
    it would resume from, or None)."""
    self.step, self.path, self.signal_name, self.where = step, path, signal_name, where
    super().__init__(self.line())

  def line(self, resume_command: str = "") -> str:
    """The one line launch.py prints."""
    if self.path is not None:
      saved = f"saved step {self.step} ({self.where}) to {self.path}"
    elif self.step is not None:
      saved = f"before training resumed, nothing new to save (last checkpoint: step {self.step})"
    else:
      saved = "before its first step, nothing was saved"
    resume = f"; resume with: {resume_command}" if resume_command else ""
    return f"stopped by {self.signal_name}: {saved}{resume}"


def _mode() -> str:
  """'local' (one process), 'jax' (JAX's preemption service) or 'allgather'."""
  if jax.process_count() == 1:
    return "local"
  try:
    from jax._src import distributed  # pylint: disable=g-import-not-at-top

    if getattr(distributed.global_state, "preemption_sync_manager", None) is not None:
      return "jax"
  except ImportError:
    pass
  return "allgather"


class StopSignals:
  """SIGTERM and SIGINT handlers for the length of a run (`installed()`), and the loop's question
  `requested(step)`: stop after this step? The answer is the same on every process."""

  def __init__(self, checkpoint_dir: str = ""):
    self.checkpoint_dir = checkpoint_dir
    self.received: str | None = None  # The first signal's name.
    self._sigints = 0
    self._pid = os.getpid()
    self._mode = "local"
    self._on_abort: list[Callable[[], None]] = []

  def on_abort(self, fn: Callable[[], None]) -> None:
    """`fn()` runs before a second Ctrl-C ends the process (e.g. the workdir lock's release)."""
    self._on_abort.append(fn)

  @property
  def signal_name(self) -> str:
    # With JAX's service a SIGTERM goes to its own handler, never to ours.
    return self.received or "SIGTERM"

  @contextlib.contextmanager
  def installed(self) -> Iterator[StopSignals]:
    if threading.current_thread() is not threading.main_thread():
      logging.info("not in the main thread: SIGTERM and Ctrl-C keep their usual effect")
      yield self
      return
    self._mode = _mode()
    handled = [signal.SIGINT] + ([] if self._mode == "jax" else [signal.SIGTERM])
    previous = {s: signal.signal(s, self._handle) for s in handled}
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)

  def _handle(self, signum: int, frame) -> None:
    del frame
    if os.getpid() != self._pid:  # A forked child (a grain worker): the signal's usual effect.
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    name = signal.Signals(signum).name
    if signum == signal.SIGINT:
      self._sigints += 1
      if self._sigints > 1:
        self._abort()
    if self.received is not None:
      logging.warning("%s received again: already stopping after the current step", name)
      return
    self.received = name
    logging.warning(
      "%s received: stopping after the current step, with a checkpoint of it%s",
      name,
      "; Ctrl-C again exits at once without saving" if signum == signal.SIGINT else "",
    )
    if self._mode == "jax":  # JAX's handler tells every process; it agrees on the step.
      os.kill(os.getpid(), signal.SIGTERM)

  def _abort(self) -> None:
    for fn in self._on_abort:
      try:
        fn()
      except Exception:  # pylint: disable=broad-except  (exiting anyway)
        pass
    for child in multiprocessing.active_children():  # grain's workers ignore Ctrl-C.
      child.terminate()
    from colorize_jax.train import checkpoint  # pylint: disable=g-import-not-at-top

    latest = checkpoint.latest_saved_step(self.checkpoint_dir) if self.checkpoint_dir else None
    resume = (
      f"relaunching resumes from step {latest} ({os.path.join(self.checkpoint_dir, str(latest))})"
      if latest is not None
      else "no checkpoint was written yet"
    )
    sys.stderr.write(f"interrupted twice: exited at once without saving; {resume}\n")
    sys.stderr.flush()
    os._exit(ABORT_EXIT_CODE)

  def requested_now(self) -> bool:
    """Between steps (before the first, after an epoch's evaluation and save): whether a signal
    came meanwhile, so the run stops without another step. The same answer on every process;
    with JAX's service always False (its sync point is per step: `requested` decides)."""
    if self._mode == "jax":
      return False
    if self._mode == "allgather":
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

      flags = multihost_utils.process_allgather(np.int32(self.received is not None))
      return bool(np.asarray(flags).any())
    return self.received is not None

  def requested(self, step: int) -> bool:
    """Whether the run stops after `step`; call it at every step, on every process."""
    if self._mode == "jax":
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested_now()
