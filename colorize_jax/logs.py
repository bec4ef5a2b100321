"""Console logging set-up shared by the command-line entry points."""

from __future__ import annotations

import logging as py_logging

from absl import logging

# Libraries whose INFO lines (dozens per checkpoint) would drown the progress lines.
_QUIET_PATHS = ("/orbax/", "/jax/_src/xla_bridge", "/grain/")


class _QuietLibraries(py_logging.Filter):
  def filter(self, record: py_logging.LogRecord) -> bool:
    if record.levelno >= py_logging.WARNING:
      return True
    return not any(p in record.pathname for p in _QUIET_PATHS)


def quiet_libraries() -> None:
  """Keep warnings and errors from every library, INFO only from ours."""
  logging.get_absl_handler().addFilter(_QuietLibraries())
