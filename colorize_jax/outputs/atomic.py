"""Files written whole or not at all: other processes, later launches and reports read them while
a run may be killed mid-write. The new content goes to a file beside the target (same folder, so
same file system) and os.replace swaps it in."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator


@contextlib.contextmanager
def replacing(path: str, suffix: str = ".tmp") -> Iterator[str]:
  """Yields a temporary path to write; it becomes `path` when the block ends without an error.

  `suffix` keeps a format readable from the name (".tmp.png" for PIL and matplotlib); the default
  does not end in ".json", so a reader's glob of eval/*.json never sees a half-written report.
  """
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + suffix
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):  # The block failed: leave no stray file behind.
      os.remove(tmp)


def write_text(path: str, text: str) -> None:
  with replacing(path) as tmp, open(tmp, "w") as f:
    f.write(text)


def write_json(path: str, obj, *, indent: int | None = 2) -> None:
  write_text(path, json.dumps(obj, indent=indent))


def keep_old(path: str, replaced_at: int | None) -> None:
  """Before `path` (name.json) is replaced: keeps it as name.<replaced_at>.json, the record of
  the checkpoints up to that step. An existing copy is the first such and stays; None: none."""
  stem, ext = os.path.splitext(path)
  kept = f"{stem}.{replaced_at}{ext}"
  if replaced_at is not None and os.path.exists(path) and not os.path.exists(kept):
    shutil.copyfile(path, kept)
