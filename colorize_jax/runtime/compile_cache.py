"""A persistent XLA compilation cache shared by every launch on this machine.

A relaunched run (after SIGTERM, a crash or a finished epoch budget raised) compiles the
same train and eval steps again: tens of seconds on a CPU for pix2pix, more on a GPU, where
XLA also autotunes each fusion (JAX then caches those results beside it,
`jax_persistent_cache_enable_xla_caches`). JAX reads executables back from a directory keyed
by the program, the compile options and the jaxlib, so a stale entry is never used. Only
compilations over a second are stored (JAX's own threshold). Each launch trims the directory
to MAX_BYTES, the entries read or written longest ago first (JAX's own bound,
`jax_compilation_cache_max_size`, needs the filelock package). A cache JAX was already given
($JAX_COMPILATION_CACHE_DIR, as the test suite sets) is the one 'auto' uses.

A cache is an optimisation: a directory that cannot be made or written is one warning, and
the run goes on compiling as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import jax
from absl import logging

DEFAULT_DIR = os.path.join(
  os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "colorize_jax", "xla"
)
OFF = ("", "none", "off")
MAX_BYTES = 4 << 30


@dataclasses.dataclass
class Stats:
  """What the cache did in this process (from jax.monitoring's events)."""

  directory: str
  requests: int = 0
  hits: int = 0
  saved_seconds: float = 0.0

  def on_event(self, event: str, **_) -> None:
    if event == "/jax/compilation_cache/compile_requests_use_cache":
      self.requests += 1
    elif event == "/jax/compilation_cache/cache_hits":
      self.hits += 1

  def on_duration(self, event: str, seconds: float, **_) -> None:
    if event == "/jax/compilation_cache/compile_time_saved_sec":
      self.saved_seconds += seconds

  def summary(self) -> str:
    return (
      f"XLA compilation cache {self.directory}: {self.hits} of {self.requests} cacheable "
      f"compilations read back ({self.saved_seconds:.0f} s of compiling saved)"
    )


def resolve(directory: str) -> str | None:
  """The absolute cache directory for a --compilation_cache value; None when switched off."""
  if directory.strip().lower() in OFF:
    return None
  if directory == "auto":
    directory = jax.config.jax_compilation_cache_dir or DEFAULT_DIR
  return os.path.abspath(os.path.expanduser(directory))


def trim(path: str, max_bytes: int) -> int:
  """Deletes the entries of `path` used longest ago (by access or modification time) until the
  rest fit in `max_bytes`; returns how many went. An entry another launch is reading when it
  goes costs that launch a compile, nothing else."""
  entries = []
  for entry in os.scandir(path):
    if entry.is_file(follow_symlinks=False):
      info = entry.stat(follow_symlinks=False)
      entries.append((max(info.st_atime, info.st_mtime), info.st_size, entry.path))
  total, removed = sum(size for _, size, _ in entries), 0
  for _, size, file in sorted(entries):
    if total <= max_bytes:
      break
    with contextlib.suppress(OSError):
      os.remove(file)
      total, removed = total - size, removed + 1
  return removed


def enable(directory: str) -> Stats | None:
  """Points JAX's persistent cache at `directory` ('auto': JAX's own if set, else DEFAULT_DIR;
  'none': off) before anything compiles; returns the counters of what it reads back, or None
  when off."""
  path = resolve(directory)
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
    if not os.access(path, os.W_OK):
      raise PermissionError(f"{path} is not writable")
  except OSError as e:
    logging.warning(
      "no XLA compilation cache (%s); compiling every launch afresh. "
      "--compilation_cache=DIR picks another directory, =none switches it off",
      e,
    )
    return None
  removed = trim(path, MAX_BYTES)
  if removed:
    logging.info(
      "XLA compilation cache %s: %d old entries removed to stay within %d GiB",
      path,
      removed,
      MAX_BYTES >> 30,
    )
  jax.config.update("jax_compilation_cache_dir", path)
  stats = Stats(path)
  jax.monitoring.register_event_listener(stats.on_event)
  jax.monitoring.register_event_duration_secs_listener(stats.on_duration)
  return stats
