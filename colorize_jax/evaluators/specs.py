"""What each evaluator of a run scores, and how often: `config.evals.<name>` as `EvalSpec`s.

  config.evals.val     = {split: "val", path: "", every_epochs: 1, max_examples: 0, metrics: (),
                          fid: "auto"}
  config.evals.kodak24 = {path: "/data/kodak24", every_epochs: 1}       # every photo of a folder

A spec names its data (a split of the run's own data, or every image of a
folder when `path` is set), its cadence in epochs (0: only at the end of
training), the most examples one epoch scores (0: all; the end-of-run report
scores all), the metrics it keeps (empty: every one the evaluator makes) and when
it scores FID (evaluators/fid.py: auto, final, epochs or off).
Its values are checked here, so a bad one fails before training in one line
naming the field. `launch.py --eval_folder=NAME=PATH` adds a folder spec from
the command line (ml_collections refuses unknown `--config.evals.NAME` keys).
See docs/DESIGN.md, "Evaluators".
"""

from __future__ import annotations

import copy
import dataclasses
import os

import ml_collections

from colorize_jax.outputs import metric_names

# The folder source's split that holds every image when split_fractions is (0, 0, 1).
_FOLDER_SPLIT = "test"
_SPLITS = ("train", "val", "test")
# When an evaluator scores FID (evaluators/fid.py).
FID_MODES = ("auto", "final", "epochs", "off")


def fid_mode(value, where: str) -> str:
  """A spec's fid value: one of FID_MODES (True -> 'final', False -> 'off')."""
  if isinstance(value, bool):
    return "final" if value else "off"
  if value not in FID_MODES:
    raise ValueError(f"{where}.fid={value!r} must be one of {', '.join(FID_MODES)}")
  return value


@dataclasses.dataclass(frozen=True)
class EvalSpec:
  """One evaluator's data, cadence and metrics; `field` is where it came from, for messages."""

  name: str
  split: str = "val"  # train | val | test of config.data (ignored when path is set).
  path: str = ""  # A folder of photos: all its images, center squares.
  every_epochs: int = 1  # Score every N-th epoch and the last; 0: only at the end of training.
  max_examples: int = 0  # Per epoch, at most this many examples (0: all).
  metrics: tuple[str, ...] = ()  # The metrics kept (their gray baselines too); (): all.
  batch_size: int = 0  # 0: config.batch_size.
  num_sample_images: int = -1  # Rows of the report's grid; -1: config.num_sample_images.
  # Also score each photo with this many colour hints drawn from it (a hints task's curve,
  # `hints_<n>/<metric>`; evaluators/hint_counts.py), from seed hint_seed; (): none.
  hint_counts: tuple[int, ...] = ()
  hint_seed: int = 0
  # FID (evaluators/fid.py): auto (at the end-of-run report when the weights exist), final (the
  # same, the weights required), epochs (also every scored epoch), off. True/False: final/off.
  fid: str = "auto"
  field: str = ""

  @property
  def where(self) -> str:
    """The config field or flag this evaluator came from, for messages."""
    return self.field or f"evals.{self.name}"

  def __post_init__(self):
    where = self.where
    if not self.name or "/" in self.name:
      raise ValueError(f"{where}: an evaluator name must be non-empty without '/': {self.name!r}")
    for key in ("every_epochs", "max_examples", "batch_size", "hint_seed"):
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key}={value!r} must be an integer >= 0")
    if self.path:
      if not os.path.isdir(os.path.expanduser(self.path)):
        raise ValueError(f"{where}.path={self.path!r} is not a folder (from {os.getcwd()})")
    elif self.split not in _SPLITS:
      raise ValueError(
        f"{where}.split={self.split!r} is not a split; valid: {', '.join(_SPLITS)} "
        "(or set a folder in path)"
      )
    counts = self.hint_counts
    counts = (counts,) if isinstance(counts, int) else tuple(counts or ())
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
      raise ValueError(f"{where}.hint_counts={counts!r} must hold integers >= 0, e.g. (0, 1, 10)")
    object.__setattr__(self, "hint_counts", tuple(sorted(set(counts))))
    if isinstance(self.metrics, str):  # ('psnr') is a string, not a tuple: a common slip.
      object.__setattr__(self, "metrics", (self.metrics,))
    object.__setattr__(self, "fid", fid_mode(self.fid, where))

  @property
  def on_epochs(self) -> bool:
    """Scored during training (not only at its end)."""
    return self.every_epochs > 0

  def due(self, epoch: int, last: bool) -> bool:
    """Whether completed epoch `epoch` is scored: every `every_epochs`-th and the last one."""
    return self.on_epochs and (epoch % self.every_epochs == 0 or last)

  @property
  def fid_on_epochs(self) -> bool:
    """FID also in the scoring of an epoch (not only in the end-of-run report)."""
    return self.fid == "epochs"

  @property
  def fid_required(self) -> bool:
    """FID asked for explicitly: missing weights are an error, not a skipped metric."""
    return self.fid in ("final", "epochs")

  def keeps(self, key: str) -> bool:
    """Whether a metric (or its 'gray/' baseline) is one this spec reports."""
    return not self.metrics or key == "examples" or key.removeprefix("gray/") in self.metrics

  def data(self, data_cfg: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, str]:
    """(data config, split): the run's own split, or every image of `path` as one split."""
    data_cfg = copy.deepcopy(data_cfg)
    if not self.path:
      return data_cfg, self.split
    with data_cfg.unlocked():
      data_cfg.source = "folder"
      data_cfg.path = os.path.abspath(os.path.expanduser(self.path))
      data_cfg.split_fractions = (0.0, 0.0, 1.0)
    return data_cfg, _FOLDER_SPLIT


_FIELDS = [f.name for f in dataclasses.fields(EvalSpec) if f.name not in ("name", "field")]


def from_entry(name: str, entry, field: str = "") -> EvalSpec:
  """An EvalSpec from one `config.evals.<name>` block (a ConfigDict or dict)."""
  values = dict(entry.items()) if entry is not None else {}
  unknown = sorted(set(values) - set(_FIELDS))
  if unknown:
    raise ValueError(
      f"{field or f'evals.{name}'}: unknown field(s) {', '.join(unknown)}; valid: "
      f"{', '.join(_FIELDS)}"
    )
  if "metrics" in values:
    values["metrics"] = tuple(values["metrics"] or ())
  return EvalSpec(name=name, field=field, **values)


def from_config(config) -> list[EvalSpec]:
  """Every evaluator of `config.evals`, by name; raises ValueError on a bad value."""
  evals = config.get("evals") or {}
  return [from_entry(name, evals[name]) for name in evals]


def parse_folder_flag(text: str) -> tuple[str, dict]:
  """'NAME=PATH[,every_epochs=N][,max_examples=M][,fid=MODE]' -> (NAME, its evals entry)."""
  name, sep, rest = text.partition("=")
  path, *options = rest.split(",")
  if not sep or not name or not path:
    raise ValueError(
      f"--eval_folder={text!r}: write NAME=PATH[,every_epochs=N][,max_examples=M][,fid=MODE], "
      "e.g. kodak24=/data/kodak24"
    )
  entry = {"path": os.path.abspath(os.path.expanduser(path)), "every_epochs": 1}
  for option in options:
    key, _, value = option.partition("=")
    if key == "fid" and value in FID_MODES:
      entry[key] = value
      continue
    if key not in ("every_epochs", "max_examples") or not value.isdigit():
      raise ValueError(
        f"--eval_folder={text!r}: option {option!r} must be every_epochs=N, max_examples=N or "
        f"fid={'|'.join(FID_MODES)}"
      )
    entry[key] = int(value)
  return name, entry


def add_folders(config, texts: list[str]) -> list[EvalSpec]:
  """Adds a folder evaluator to `config.evals` per `--eval_folder` value; returns their specs.
  A recipe with a hint-count curve (config.eval.hint_counts: configs/hints.py) scores it on
  the folder too, at the end of training only unless the flag sets every_epochs: the curve is
  one pass over the folder per count."""
  specs = []
  curve = tuple((config.get("eval") or {}).get("hint_counts") or ())
  for text in texts:
    name, entry = parse_folder_flag(text)
    if curve:
      entry["hint_counts"] = curve
      if ",every_epochs=" not in text:
        entry["every_epochs"] = 0
    if "fid" not in entry and config.get("eval") is not None and "fid" in config.eval:
      entry["fid"] = config.eval.fid  # config.eval.fid is every folder evaluator's default.
    specs.append(from_entry(name, entry))
    with config.unlocked():
      if config.get("evals") is None:
        config.evals = ml_collections.ConfigDict()
      with config.evals.unlocked():
        config.evals[name] = entry
  return specs


def check_monitor(monitor: str, specs: list[EvalSpec], names: list[str]) -> str:
  """Rejects a monitor that is not `<evaluator>/<metric>` of an evaluator scored every few epochs,
  with a direction; `names` are the metrics the evaluator makes. Returns the monitor."""
  choices = [
    f"{spec.name}/{k}"
    for spec in specs
    if spec.on_epochs
    for k in [*names, *(["fid"] if spec.fid_on_epochs else [])]
    if spec.keeps(k) and metric_names.direction(k)
  ]
  if monitor not in choices:
    raise ValueError(
      f"early_stopping.monitor {monitor!r} is not a metric with a direction of an evaluator "
      f"scored during training (config.evals); valid: {', '.join(choices) or 'none'}"
    )
  return monitor
