"""config.json: the run's resolved config, as eval, compare, colorize and export read it."""

from __future__ import annotations

import os


def write_config(config, workdir: str) -> str:
  """Writes WORKDIR/config.json with absolute data and eval paths, so the run reads from any cwd."""
  resolved = config.copy_and_resolve_references()
  for section in (resolved.data, resolved.get("eval") or {}):
    if section.get("path"):
      section.path = os.path.abspath(section.path)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  with open(path, "w") as f:
    f.write(resolved.to_json_best_effort(indent=2))
  return path
