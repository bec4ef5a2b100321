"""Console logging set-up shared by the command-line entry points."""

from __future__ import annotations

import logging as py_logging
import sys

from absl import logging

# Libraries whose INFO lines (dozens per checkpoint) would drown the progress lines.
_QUIET_PATHS = ("/orbax/", "/jax/_src/xla_bridge", "/grain/")


# Library errors logged with a traceback when one failure (e.g. a full disk during an
# asynchronous save) fans out over Orbax's threads: one line each is enough, the
# run's own error says what happened.
_ONE_LINE_PATHS = ("/orbax/", "/asyncio/")
# Raised in TensorStore's callbacks once Orbax's event loop has closed after a failed
# save, or while Python shuts down; printed as "unraisable" exceptions, dozens at a time.
_CALLBACK_NOISE = (
  (RuntimeError, "Event loop is closed"),
  (ImportError, "Python is likely shutting down"),
)


class _QuietLibraries(py_logging.Filter):
  def filter(self, record: py_logging.LogRecord) -> bool:
    from_library = any(p in record.pathname for p in _QUIET_PATHS + _ONE_LINE_PATHS)
    if record.levelno >= py_logging.ERROR and record.exc_info and from_library:
      record.msg, record.args = record.getMessage().splitlines()[0], None
      record.exc_info, record.exc_text = None, None
    if record.levelno >= py_logging.WARNING:
      return True
    return not any(p in record.pathname for p in _QUIET_PATHS)


def _is_callback_noise(exc_type, value) -> bool:
  return any(issubclass(exc_type, kind) and text in str(value) for kind, text in _CALLBACK_NOISE)


def quiet_libraries() -> None:
  """Keep warnings and errors from every library, INFO only from ours; no library tracebacks."""
  logging.get_absl_handler().addFilter(_QuietLibraries())
  previous = sys.unraisablehook

  def unraisablehook(unraisable):
    if not _is_callback_noise(unraisable.exc_type, unraisable.exc_value):
      previous(unraisable)

  sys.unraisablehook = unraisablehook
