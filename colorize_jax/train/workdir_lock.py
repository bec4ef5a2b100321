"""One training process per workdir: an advisory lock on WORKDIR/run.lock.

A POSIX record lock (`fcntl.lockf`): the kernel drops it when its process
dies, however it dies, and forked children (grain workers) do not inherit it.
The file records the holder's PID and host, so a refused launch can say who
holds the workdir. The file is emptied on a clean release; a file still naming
a holder when the lock is free was left by a process that died, and is taken
over with a log line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator

from absl import logging

LOCK_FILE = "run.lock"


class WorkdirLockedError(RuntimeError):
  """Another live process holds the workdir."""


class WorkdirError(ValueError):
  """The workdir cannot be created or written; the message says why in one line."""


def prepare(workdir: str) -> None:
  """Creates the workdir, or fails in one line when it can't hold a run (a file, read-only, ...)."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(f"workdir {path} is a file, not a folder; give another --workdir")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f"workdir {path} cannot be created: {e.strerror} ({e.filename})") from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise WorkdirError(f"workdir {path} is not writable by this user; give another --workdir")


def _holder(text: str) -> dict:
  try:
    holder = json.loads(text)
  except ValueError:
    return {}
  return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
  if not holder:
    return "another process (it has not written its PID yet)"
  since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
  return f"PID {holder.get('pid')} on host {holder.get('host')} (since {since})"


def _running_here(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, another user's.
    return True
  return True


class WorkdirLock:
  """`acquire()` or fail at once naming the holder; `release()` when the run ends."""

  def __init__(self, workdir: str):
    self.path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
    self._fd: int | None = None

  def acquire(self) -> None:
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      holder = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
      os.close(fd)
      if e.errno not in (errno.EACCES, errno.EAGAIN):
        raise
      raise WorkdirLockedError(
        f"workdir {os.path.dirname(self.path)} is in use by {_describe(holder)}: another run is "
        f"training there. Wait for it to end, stop it, or give this run another --workdir."
      ) from None
    previous = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
    if previous:
      here = previous.get("host") == socket.gethostname()
      state = (
        "no longer running"
        if here and not _running_here(int(previous.get("pid", -1)))
        else "its lock was released without a clean exit"
      )
      logging.warning(
        "taking over the stale lock of %s in %s: %s", _describe(previous), self.path, state
      )
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode() + b"\n", 0)
    os.fsync(fd)
    self._fd = fd

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)  # Empty: released cleanly, nothing stale for the next run.
      fcntl.lockf(self._fd, fcntl.LOCK_UN)
    finally:
      os.close(self._fd)
      self._fd = None


@contextlib.contextmanager
def hold(
  workdir: str,
  enabled: bool = True,
  agree: Callable[[Callable[[], None]], None] = lambda take: take(),
) -> Iterator[WorkdirLock | None]:
  """Creates and locks the workdir for the block (only if `enabled`: process 0 of a
  multi-process run); yields the lock (None when not enabled).

  `agree(take)` runs the taking; a multi-process run passes one that makes every
  process fail when process 0 cannot take the workdir (parallel.agree_on), so no
  process waits forever for a peer that has stopped.
  """
  lock = WorkdirLock(workdir) if enabled else None

  def take() -> None:
    if lock is not None:
      prepare(workdir)
      lock.acquire()

  try:
    agree(take)
    yield lock
  finally:
    if lock is not None:
      lock.release()
