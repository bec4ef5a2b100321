"""Resuming with a changed config: refuse what would mix two experiments, record the rest.

A workdir's config.json is the config its checkpoints were trained with. On
resume the new config is compared with it field by field:
- fields that only say how long to train, what to log, how to evaluate (eval,
  evals: adding or removing an evaluator too) or which checkpoints to keep
  (SAFE_FIELDS) pass with a log line; but how long to train (num_epochs,
  max_train_steps) is a learning change when an optimizer's schedule is not
  constant, since linear_decay and cosine are timed by the step budget
  (`retimed_budget`);
- any other change (model, loss, task, optimizer, colour space, image size,
  data, seed, ...) changes what is learned and is refused with a diff, unless
  allowed (`launch.py --allow_config_change`); then "best" tracking restarts,
  since old and new monitored values measure different things.
A change that restarts "best" is recorded only once a checkpoint made under it
exists (train/pending_change.py): one that dies before would otherwise leave a
record that lets the next launch resume the old checkpoints under the new
config without the flag.
Fields the saved config lacks were added by a later version of the code,
whose defaults keep the old behaviour: they pass with a log line, so a run
continues across an upgrade. Other unknown fields count as learning ones: a
refusal is cheaper than a silently mixed run. The old config.json is kept as
config.<step>.json on any change.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from absl import logging

from colorize_jax.config import base as config_base
from colorize_jax.outputs import atomic

CONFIG_FILE = "config.json"
MISSING = "<absent>"  # diff()'s value of a field one side lacks.

# Prefixes of dotted field names that do not change what one step learns.
# data.worker_count: a resumed run reads with its checkpoint's count (data/prefetch.py).
SAFE_FIELDS = (
  "num_epochs",
  "max_train_steps",
  "log_every_steps",
  "num_sample_images",
  "eval.",
  "evals.",
  "checkpoint.",
  "early_stopping.",
  "data.worker_count",
  "gan.test_time",  # How G runs at test time (tasks/adversarial.py); training never reads it.
  "gan.test_time_seed",
)
# Safe fields that change what "best" means.
_BEST_FIELDS = ("early_stopping.monitor",)
_MAX_SHOWN = 12
# Fields a data source does not read: changing them changes nothing while the source stays.
_UNUSED_BY_SOURCE = {
  "sample": (
    "data.split_fractions",
    "data.split_method",
    "data.skip_gray_photos",  # Its photos are all colour.
    "data.path",
    "data.name",
    "data.data_dir",
  ),
  "folder": (
    "data.name",
    "data.data_dir",
    "data.sample_crops_per_photo",
    "data.sample_eval_crops_per_photo",
  ),
  "tfds": (
    "data.path",
    "data.split_method",  # A prepared data set's split is fixed when it is written.
    "data.color_management",  # So are its pixels: prepare converts them (data/prepare.py).
    "data.sample_crops_per_photo",
    "data.sample_eval_crops_per_photo",
  ),
}


class ConfigChangedError(ValueError):
  """Resuming would continue a run with a config that learns something else."""


@dataclasses.dataclass
class Resume:
  changes: list[tuple[str, Any, Any]]  # (field, saved, new), sorted by field.
  restart_best: bool = False
  config: dict | None = None  # The new config as config.json records it (resolved_json).
  step: int | None = None  # The checkpoint resumed; its config is kept as config.<step>.json.

  def record(self, workdir: str) -> None:
    """Writes the new config.json (process 0, once every process has read the old one). A change
    that restarts "best" waits for a checkpoint made under it instead (train/pending_change.py)."""
    write_config(workdir, self.config, self.step if self.changes else None)


def resolved_json(config) -> dict:
  """The config as config.json records it: references resolved, data and eval paths absolute."""
  resolved = config.copy_and_resolve_references()
  # Absolute paths, so eval/compare/colorize read the run from any directory.
  evals = resolved.get("evals") or {}
  for section in (resolved.data, resolved.get("eval") or {}, *(evals[k] for k in evals)):
    if section.get("path"):
      section.path = os.path.abspath(section.path)
  return json.loads(resolved.to_json_best_effort())


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out |= _flatten(v, f"{prefix}{k}.")
    return out or {prefix[:-1]: {}}
  return {prefix[:-1]: tree}


def diff(saved: dict, new: dict) -> list[tuple[str, Any, Any]]:
  """(field, saved value, new value) for every field that differs; '<absent>' for a missing one."""
  a, b = _flatten(saved), _flatten(new)
  return [
    (k, a.get(k, MISSING), b.get(k, MISSING))
    for k in sorted(a.keys() | b.keys())
    if a.get(k, MISSING) != b.get(k, MISSING)
  ]


def is_safe(field: str, saved_value: Any = None) -> bool:
  if saved_value == MISSING:  # An option added since the run started, at its default.
    return True
  return any(field == p or (p.endswith(".") and field.startswith(p)) for p in SAFE_FIELDS)


# Fields that set the step budget a non-constant schedule is timed by.
_BUDGET_FIELDS = ("num_epochs", "max_train_steps")


def retimed_budget(saved: dict, changes) -> list[tuple[str, Any, Any]]:
  """Budget changes (num_epochs, max_train_steps) of a run whose optimizers follow a schedule
  that is not constant: linear_decay and cosine are timed by the total step count, so a new
  budget would re-time them (pix2pix's lr at step 75 of 100 jumps from 1e-4 to 2e-4 when the
  budget doubles). Named as learning changes; other budget changes stay safe."""
  schedules = sorted(
    f"{name}.schedule={section['schedule']!r}"
    for name, section in saved.items()
    if isinstance(section, dict) and section.get("schedule", "constant") != "constant"
  )
  if not schedules:
    return []
  return [
    (f"{k} (re-times {', '.join(schedules)})", old, new)
    for k, old, new in changes
    if k in _BUDGET_FIELDS and old != MISSING
  ]


def _show(changes) -> str:
  lines = [f"  {k}: {old!r} -> {new!r}" for k, old, new in changes[:_MAX_SHOWN]]
  if len(changes) > _MAX_SHOWN:
    lines.append(f"  ... and {len(changes) - _MAX_SHOWN} more")
  return "\n".join(lines)


def check_resume(workdir: str, config, step: int | None, *, allow_change: bool = False) -> Resume:
  """Compares with the workdir's config.json; `Resume.record` writes the new one.

  `step` is the checkpoint the run would resume from (None: nothing to resume,
  so any change is a fresh start). Raises ConfigChangedError on a learning
  change unless `allow_change`.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  changes: list = []
  if os.path.exists(path) and step is not None:
    try:
      with open(path) as f:
        saved = json.load(f)
    except (OSError, ValueError) as e:
      raise ConfigChangedError(
        f"{path} cannot be read ({e}); it records the config of the checkpoints "
        "in that workdir. Restore it, or use another --workdir."
      ) from None
    for field in config_base.apply_legacy_values(config, saved):
      logging.info(
        "%s: the run began before this field; it keeps %r", field, config_base.LEGACY_VALUES[field]
      )
    new = resolved_json(config)
    changes = diff(saved, new)
    source = new.get("data", {}).get("source")
    if saved.get("data", {}).get("source") == source:
      changes = [c for c in changes if c[0] not in _UNUSED_BY_SOURCE.get(source, ())]
  else:
    new = resolved_json(config)
  learning = [c for c in changes if not is_safe(c[0], c[1])]
  learning += retimed_budget(saved if changes else {}, changes)
  if learning and not allow_change:
    raise ConfigChangedError(
      f"workdir {workdir} holds a run with a different config (its {CONFIG_FILE}, checkpoint step "
      f"{step}); resuming would mix two experiments:\n{_show(learning)}\n"
      "Give this run its own --workdir, or pass --allow_config_change to continue that run with "
      "the new config."
    )
  if learning:
    logging.warning(
      "resuming step %d of %s with a changed config (--allow_config_change); "
      "'best' tracking restarts:\n%s",
      step,
      workdir,
      _show(learning),
    )
  retimed = {k.split(" ", 1)[0] for k, _, _ in learning}
  safe = [c for c in changes if is_safe(c[0], c[1]) and c[0] not in retimed]
  if safe:
    logging.info(
      "resuming with changed settings that do not change what is learned: %s",
      ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in safe),
    )
  restart = bool(learning) or any(k in _BEST_FIELDS for k, _, _ in changes)
  return Resume(changes=changes, restart_best=restart, config=new, step=step)


def write_config(workdir: str, new: dict, replaced_at: int | None) -> None:
  """Records `new` as the workdir's config.json; `replaced_at`: the step whose checkpoints the
  old one describes, kept as config.<step>.json (atomic.keep_old)."""
  path = os.path.join(workdir, CONFIG_FILE)
  atomic.keep_old(path, replaced_at)
  # Whole or not at all: other processes and later launches read it.
  atomic.write_json(path, new)
