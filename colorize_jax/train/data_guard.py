"""Resuming with a changed data list: refuse, or continue with the new list when asked.

A run records what its data source reads, next to config.json: DATA_FILE holds,
per split, the number of examples and a SHA-256 of the sorted relative paths
(a folder; a source without a file list, tfds or sample, is known by its size
alone, the rest of what it reads being config fields); LIST_FILE holds the
paths themselves, so a refusal can say how many were added and removed. A
file's split depends on its own path (data/splits.py), so additions and
removals never move other files.

On resume a changed list is refused in one line (the counts added and removed
per split), unless allowed (`launch.py --allow_data_change`): then the new list
is recorded (the old as data.<step>.json) once a checkpoint trained on it
exists (train/pending_change.py); "best" restarts when the split the
early-stopping monitor scores changed (its old values measured other photos);
and the epoch the checkpoint was in starts again on the new list, with its
number of steps (RunSetup's epoch origin; docs/DESIGN.md, "Resuming"). A run
begun before these files existed records them on its next launch.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from typing import Any

from absl import logging

from colorize_jax.data import splits
from colorize_jax.outputs import atomic

DATA_FILE = "data.json"
LIST_FILE = "data_files.json.gz"


class DataChangedError(ValueError):
  """The data a run reads changed since its checkpoints were written."""


def _digest(lines: list[str]) -> str:
  return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def listing(data) -> dict[str, list[str]]:
  """Split -> the sorted relative paths its source reads (empty for a source without files)."""
  out = {}
  for split in splits.SPLITS:
    files = getattr(data.source(split), "files", None)
    out[split] = sorted(files) if files is not None else []
  return out


def fingerprint(data, files: dict[str, list[str]]) -> dict[str, Any]:
  """What DATA_FILE records of `data` (a DataPipeline) and its `listing`."""
  record = {}
  for split in splits.SPLITS:
    source = data.source(split)
    has_files = getattr(source, "files", None) is not None
    # A source without a file list (tfds, sample) is known by its size: what it reads
    # otherwise (a data set's name, split, image size) are config fields, resume_guard's.
    lines = files[split] if has_files else [type(source).__name__, str(len(source))]
    record[split] = {"count": len(source), "sha256": _digest(lines), "files": has_files}
  return {"splits": record}


def _read(workdir: str) -> tuple[dict | None, dict | None]:
  saved, files = None, None
  try:
    with open(os.path.join(workdir, DATA_FILE)) as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None, None
  try:
    with gzip.open(os.path.join(workdir, LIST_FILE), "rt") as f:
      files = json.load(f)
  except (OSError, ValueError, EOFError):
    files = None
  return saved, files


def changes(saved: dict, now: dict, saved_files, files) -> dict[str, str]:
  """Split -> 'train +7 -3 (28 -> 32)' for each split whose list changed."""
  out = {}
  for split in splits.SPLITS:
    old, new = saved.get("splits", {}).get(split, {}), now["splits"][split]
    if old.get("sha256") == new["sha256"] and old.get("count") == new["count"]:
      continue
    counts = f"({old.get('count', '?')} -> {new['count']})"
    if saved_files is not None and split in saved_files and new["files"]:
      before, after = set(saved_files[split]), set(files[split])
      out[split] = f"{split} +{len(after - before)} -{len(before - after)} {counts}"
    else:
      out[split] = f"{split} {counts}"
  return out


def describe(data_cfg) -> str:
  """What the data is, for messages: 'data.path /data/birds', 'tfds birds128', 'sample'."""
  if data_cfg.source == "folder":
    return f"data.path {os.path.abspath(os.path.expanduser(str(data_cfg.path)))}"
  if data_cfg.source == "tfds":
    return f"tfds {data_cfg.get('name', '')}"
  return f"data.source {data_cfg.source}"


@dataclasses.dataclass
class DataCheck:
  """`check`'s verdict: whether the lists changed (and that is allowed), and what to record."""

  workdir: str
  changed: bool
  changed_splits: tuple[str, ...]
  step: int | None
  saved: dict | None
  now: dict
  files: dict[str, list[str]]

  def record(self) -> None:
    """Writes DATA_FILE and LIST_FILE when they are new (a changed list waits for a checkpoint
    trained on it: train/pending_change.py); the caller runs it on process 0 once the resume
    holds."""
    if self.saved is None:
      write_record(self.workdir, self.now, self.files, None)


def write_record(workdir: str, now: dict, files: dict, replaced_at: int | None) -> None:
  """Records a data list (`fingerprint`'s `now`, `listing`'s `files`); `replaced_at`: the step
  whose checkpoints the old record describes, kept as data.<step>.json (atomic.keep_old)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, DATA_FILE)
  atomic.keep_old(path, replaced_at)
  with atomic.replacing(os.path.join(workdir, LIST_FILE)) as tmp, open(tmp, "wb") as f:
    f.write(gzip.compress(json.dumps(files).encode("utf-8"), mtime=0))
  atomic.write_json(path, now)


def check(workdir: str, data, description: str, step: int | None, *, allow_change: bool):
  """Compares `data`'s lists (a DataPipeline's) with the workdir's record -> DataCheck.

  `step`: the checkpoint the run resumes from (None: a fresh start, nothing to compare).
  Raises DataChangedError on a change unless `allow_change`. `description`: what the data is
  (`describe`), for the message.
  """
  files = listing(data)
  now = fingerprint(data, files)
  saved, saved_files = _read(workdir) if step is not None else (None, None)
  changed = changes(saved, now, saved_files, files) if saved is not None else {}
  if changed and not allow_change:
    raise DataChangedError(
      f"the data of the run in {workdir} ({description}) changed since its checkpoint of step "
      f"{step}: {', '.join(changed.values())}; existing files keep their splits. Restore the "
      "files, give this run its own --workdir, or pass --allow_data_change to continue it on "
      "the new list (the epoch in progress starts again on it)"
    )
  if changed:
    logging.warning(
      "the data changed since the checkpoint of step %d (%s); continuing on the new list "
      "(--allow_data_change), the epoch in progress starts again on it",
      step,
      ", ".join(changed.values()),
    )
  elif step is not None and saved is None:
    logging.info("recording the data list of %s (its run began before runs recorded it)", workdir)
  return DataCheck(workdir, bool(changed), tuple(changed), step, saved, now, files)
