"""An allowed change of a resumed run holds once a checkpoint is made under it.

`--allow_config_change` (a change that restarts "best") and `--allow_data_change`
replace a workdir's records: config.json, data.json and its list, and the
monitored values of the old checkpoints (dropped, so "best" restarts). Written
when the launch starts, they would describe no checkpoint if it died before its
first save: the next launch, without the flag, would pass the guards and resume
the old checkpoint under the new config, or its data position on the new list,
and the old best checkpoint would be unprotected.

So the launch writes the new records to PENDING_FILE with the step it resumed
(written ahead), and they replace the old ones once a newer checkpoint exists:
after the launch's first save (`Change.apply`), or, when it died between that
save and the replacement, at the start of the next launch (`settle`). A marker
whose step is still the newest checkpoint's is dropped: the change never held,
and the workdir keeps the records its checkpoints were made under.
docs/DESIGN.md, "Resuming".
"""

from __future__ import annotations

import dataclasses
import json
import os

from absl import logging

from colorize_jax.outputs import atomic
from colorize_jax.train import checkpoint, data_guard, resume_guard

PENDING_FILE = "change.pending.json"


@dataclasses.dataclass
class Change:
  """What an allowed change records once it holds; `step`: the checkpoint the launch resumed."""

  step: int
  config: dict | None = None  # The new config.json (a change that restarts "best").
  data: dict | None = None  # {"now": data.json's record, "files": the list}.
  restart_best: bool = False

  @classmethod
  def of(
    cls,
    step: int,
    resume: resume_guard.Resume | None,
    data_check: data_guard.DataCheck,
    restart_best: bool,
  ) -> Change | None:
    """The launch's change from `step`, or None when nothing waits for a checkpoint;
    `restart_best`: the old monitored values measure another thing (Trainer._best_restarts)."""
    config = resume.config if resume is not None and resume.restart_best else None
    data = {"now": data_check.now, "files": data_check.files} if data_check.changed else None
    if not restart_best and data is None and config is None:
      return None
    return cls(step=step, config=config, data=data, restart_best=restart_best)

  def hold(self, workdir: str) -> None:
    """Writes the change ahead of the records (process 0, before any step of the launch)."""
    atomic.write_json(os.path.join(workdir, PENDING_FILE), dataclasses.asdict(self), indent=None)

  def apply(self, workdir: str) -> None:
    """Replaces the records (process 0); idempotent, so `settle` may finish a partial one."""
    if self.config is not None:
      resume_guard.write_config(workdir, self.config, self.step)
    if self.data is not None:
      data_guard.write_record(workdir, self.data["now"], self.data["files"], self.step)
    if self.restart_best:
      checkpoint.drop_monitored(os.path.join(workdir, "checkpoints"), up_to=self.step)
    os.remove(os.path.join(workdir, PENDING_FILE))  # Last: until here, settle redoes it.


def settle(workdir: str) -> None:
  """Before a launch's guards (process 0): finishes the change of a launch that saved a
  checkpoint under it and died before recording it, or drops one that never saved."""
  path = os.path.join(workdir, PENDING_FILE)
  try:
    with open(path) as f:
      change = Change(**json.load(f))
  except FileNotFoundError:
    return
  except (OSError, ValueError, TypeError) as e:
    # Written atomically, so unreadable means damaged from outside: the records it would
    # replace are whole, and the change can be asked for again.
    logging.warning("%s cannot be read (%s); the workdir keeps its records", path, e)
    os.remove(path)
    return
  latest = checkpoint.latest_saved_step(os.path.join(workdir, "checkpoints"))
  if latest is not None and latest > change.step:
    logging.info(
      "recording the change allowed at step %d, which checkpoint %d was trained under",
      change.step,
      latest,
    )
    change.apply(workdir)
  else:
    logging.info(
      "the change allowed at step %d was never checkpointed; the workdir keeps its records",
      change.step,
    )
    os.remove(path)
