"""Trains, exports, evaluates and cards the models shipped in pretrained/ (see
colorize_jax/pretrained.py).

  python bench/train_pretrained.py --data=../shared/data    # every model; rerun to continue
  python bench/train_pretrained.py --data=../shared/data --only=unet
  python bench/train_pretrained.py --data=../shared/data --ship_partial   # ship what runs have now
  python bench/train_pretrained.py --data=../shared/data --dry_run        # the plan, nothing run
  python bench/train_pretrained.py --data=../shared/data --ship_from=runs/reference_study
      # what ships now: the reference study's unet and hints runs (64 px, 21,504 images), trained
      # there by bench/reference_study.py (or resumed) when not finished, then shipped as trained
  python bench/train_pretrained.py --data=../shared/data --only=classification_l1_ema \
      --ship_from=runs/reference_study_long --study_epochs=32
      # the default model: the recommended recipe's 32-epoch run (86,016 images at 64 px)

For each model of MODELS (its recipe and the overrides below), at --image_size (128 px) and
batch --batch_size (16), it trains on DATA/birds/train (--train_sets=birds,flowers adds
DATA/flowers/train) for --budget_images, 4x the reference study's 21,504 images per recipe
(86,016 images = 5,376 steps at batch 16), in OUT/<name> with the study's settings
(bench/reference_study.py: 90/10 split by path hash, early stopping off, scored on its last
weights). Relaunching the same command resumes the run exactly where it stopped (its latest
checkpoint: end of every epoch and every --checkpoint_every_steps steps) and skips what is done.

A run that reached its budget (or, with --ship_partial, any run that has a checkpoint, e.g. one
that is still training in another process) is then shipped, unless pretrained/<name> already
holds that step:
  1. its latest checkpoint is exported as a bundle (colorize_jax/export.py's write_bundle);
  2. that checkpoint is scored on DATA/birds/val and DATA/kodak24 beside the gray input by the
     project's evaluator (launch.py --mode=eval, OUT/<name>/eval/pretrained_<set>.json);
  3. MODEL_CARD.md and card.json are written from the run: recipe and exact commands, data,
     images seen ("N of 86,016" for a partial run), wall time and machine, the metrics, and
     what it is not good at (Model.caveats, which the person who trains it fills in, plus
     caveats generated from the data and the numbers);
  4. the bundle replaces pretrained/<name> only if all of pretrained/ stays within
     colorize_jax.pretrained.MAX_TOTAL_BYTES (30 MB); otherwise the script fails, naming sizes.

The cards and README's table are rendered by bench/model_card.py.

Needs ../shared/data (birds/train, birds/val, kodak24), which the project itself does not.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from absl import app, flags

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script, or loaded by a test from its file.
  if _path not in sys.path:
    sys.path.insert(0, _path)
import reference_study as study  # noqa: E402
from model_card import CARD_METRICS, update_readme, write_card  # noqa: E402

from colorize_jax import pretrained  # noqa: E402
from colorize_jax.outputs.rundir import RunDir  # noqa: E402

STUDY_IMAGES = 21_504  # The reference study's budget per recipe (8 epochs of 168 x 16 at 64 px).
BUDGET_IMAGES = 4 * STUDY_IMAGES
EVALS = study.EVALS  # Evaluation name -> folder under --data: birds_val, kodak24.
EVAL_PREFIX = "pretrained_"  # OUT/<name>/eval/pretrained_<set>.json: the shipped step's scores.
TRAIN_SETS = {"birds": "birds/train", "flowers": "flowers/train"}
DATA_NOTES = {
  "birds": "Caltech-UCSD Birds-200-2011 subset (100 species); research, non-commercial use",
  "flowers": "Oxford 17 Flowers subset (12 species); research use",
}


@dataclasses.dataclass(frozen=True)
class Model:
  """One shipped model: pretrained/<name>, trained from `config` with `flags` on top of the
  common ones; `eval_flags` go to its --mode=eval; `caveats`: what it is not good at, filled in
  by the person who trains it and looks at its output (generated ones are added)."""

  name: str
  config: str  # configs/<file>.py[:variant]
  title: str
  flags: tuple[str, ...] = ()
  eval_flags: tuple[str, ...] = ()
  caveats: tuple[str, ...] = ()

  @property
  def config_file(self) -> str:
    return os.path.join(ROOT, self.config.split(":")[0])


MODELS = (
  # RESULTS.md's recommended recipe (the smallest shortfall from issue 22's goal on the held-out
  # split), shipped from its 32-epoch run; colorize_jax.pretrained.DEFAULT names it the default.
  Model(
    "classification_l1_ema",
    "configs/classification.py:recommended",
    "Automatic colorization: ab classification with L1 on the decoded colours, EMA weights "
    "(RESULTS.md's recommended recipe)",
    caveats=(
      "Seen in its samples (below, and birds/val's): where the gray photo does not say which "
      "colour, it falls back on the birds' common browns, olives and yellows, so vivid colours "
      "(a red breast, a blue bird) come out brown or gray, and people and buildings (kodak24) "
      "lean olive-brown. Its colours are muted, not the sepia of MSE regression: each pixel's "
      "is the annealed mean (temperature 0.38) of 313 predicted ab bins.",
    ),
  ),
  # The U-Net of the birds study (the lowest MSE of its regression recipes at 64 px).
  Model(
    "unet",
    "configs/unet.py",
    "Automatic colorization: the birds study's U-Net (MSE regression)",
    caveats=(
      "Expected from its recipe (configs/unet.py): MSE regression pulls uncertain colours "
      "to their mean, so photos come out desaturated, often sepia.",
    ),
  ),
  Model(
    "hints",
    "configs/hints.py",
    "User-guided colorization: the U-Net reading colour points (Zhang et al. 2017)",
    # The recipe scores 8 hint counts on its validation split every epoch; 3 are enough here.
    flags=("--config.evals.val.hint_counts=(0,1,10)",),
    eval_flags=("--config.eval.hint_counts=(0,1,10)",),
    caveats=(
      "With no hints it colours automatically, like the automatic U-Net (its 0-hint rows); its "
      "hints were trained as 1-9 px patches at its image size (above): points drawn on a "
      "larger working resolution cover fewer of its pixels.",
      "Its attention carries a point's colour well beyond the object the point is on: in "
      "docs/demo.png one blue point on a cup turns the saucer and the table blue too. Trained "
      "on birds, it has not learnt where a cup ends; put a point on each region to colour.",
    ),
  ),
)
BY_NAME = {m.name: m for m in MODELS}

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string(
    "data",
    "../shared/data",
    "Folder with birds/train, birds/val and kodak24 (relative paths: to the repository root).",
  )
  flags.DEFINE_string("out", "runs/pretrained", "The training runs, one workdir per model.")
  flags.DEFINE_string(
    "pretrained", None, "Where the bundles go (default: colorize_jax.pretrained.directory())."
  )
  flags.DEFINE_list("only", [m.name for m in MODELS], f"Models, of: {', '.join(BY_NAME)}.")
  flags.DEFINE_list("train_sets", ["birds"], f"Photos trained on, of: {', '.join(TRAIN_SETS)}.")
  flags.DEFINE_integer("budget_images", BUDGET_IMAGES, "Images each model trains on.")
  flags.DEFINE_integer("image_size", 128, "Training and evaluation resolution (px).")
  flags.DEFINE_integer("batch_size", 16, "Global batch.")
  flags.DEFINE_integer(
    "checkpoint_every_steps", 200, "Checkpoint this often too (besides each epoch's end)."
  )
  flags.DEFINE_bool(
    "ship_partial", False, "Train nothing: export and card each run's latest checkpoint now."
  )
  flags.DEFINE_string(
    "ship_from",
    None,
    "Ship each model's run of the reference study in this folder (DIR/<name>) as the study "
    "trained it (its own size, data and budget, complete when it finished), first training or "
    "resuming it there with bench/reference_study.py when it has not finished. With "
    "--ship_partial, train nothing: a run partway ships too (counted against --budget_images).",
  )
  flags.DEFINE_integer(
    "study_epochs",
    8,
    "With --ship_from: the study's budget in epochs (8: the reference; classification_l1_ema "
    "ships from runs/reference_study_long, trained for 32).",
  )
  flags.DEFINE_bool("dry_run", False, "Print the plan and the commands; run nothing.")


# -- the runs ----------------------------------------------------------------------------------


def budget_steps(budget_images: int, batch_size: int) -> int:
  return math.ceil(budget_images / batch_size)


def workdir_name(model: Model, train_sets: list[str]) -> str:
  """OUT/<name> for the birds alone; another workdir per other data (a run never mixes data)."""
  return model.name if list(train_sets) == ["birds"] else f"{model.name}-{'+'.join(train_sets)}"


def train_folder(data: str, out: str, train_sets: list[str]) -> str:
  """DATA/birds/train, or a folder of links to each set's train folder (the folder source
  follows them)."""
  if list(train_sets) == ["birds"]:
    return os.path.join(data, TRAIN_SETS["birds"])
  folder = os.path.join(out, "_data", "+".join(train_sets))
  os.makedirs(os.path.join(ROOT, folder), exist_ok=True)
  for name in train_sets:
    link = os.path.join(ROOT, folder, name)
    if not os.path.islink(link):
      os.symlink(os.path.abspath(os.path.join(ROOT, data, TRAIN_SETS[name])), link)
  return folder


def count_images(folder: str) -> int:
  from colorize_jax.data.sources.folder import list_images  # pylint: disable=g-import-not-at-top

  return len(list_images(os.path.join(ROOT, folder)))


def train_command(
  model: Model,
  *,
  data: str,
  workdir: str,
  folder: str,
  image_size: int,
  batch_size: int,
  budget_images: int,
  every_steps: int,
  train_images: int,
) -> list[str]:
  """launch.py's argv (run from the repository root): the study's settings with a step budget."""
  steps = budget_steps(budget_images, batch_size)
  # An upper bound on the epochs (90% of the photos train): max_train_steps decides.
  epochs = math.ceil(budget_images / max(1, int(0.85 * train_images))) + 1
  return (
    [sys.executable, "launch.py", f"--config={model.config}", f"--workdir={workdir}"]
    + study.common_flags(
      data, image_size, batch_size, epochs, max_train_steps=steps, train_folder=folder
    )
    + [f"--config.checkpoint.every_steps={every_steps}"]
    + list(model.flags)
    # Watched during training, cheaply; the card's scores come from --mode=eval on all photos.
    + [
      f"--eval_folder={name}={os.path.join(data, sub)},every_epochs=4,max_examples=256"
      for name, sub in EVALS.items()
    ]
  )


def eval_command(model: Model, workdir: str, step: int, name: str, folder: str) -> list[str]:
  """launch.py --mode=eval of checkpoint `step` on every photo of `folder`, as
  WORKDIR/eval/pretrained_<name>.json."""
  return [
    sys.executable,
    "launch.py",
    f"--config={model.config}",
    f"--workdir={workdir}",
    "--mode=eval",
    f"--config.eval.checkpoint={step}",
    f"--config.eval.path={folder}",
    f"--config.eval.name={EVAL_PREFIX}{name}",
    "--config.eval.num_sample_images=4",
    *model.eval_flags,
  ]


def checkpoint_steps(workdir: str) -> list[int]:
  """The complete checkpoints' steps (Orbax names a finished step's folder by its number)."""
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


def latest_step(workdir: str) -> int | None:
  steps = checkpoint_steps(workdir)
  return steps[-1] if steps else None


def trained(workdir: str, steps: int) -> bool:
  """The run reached its step budget and finished (final_metrics.json at that step)."""
  path = os.path.join(workdir, "final_metrics.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return json.load(f).get("step", 0) >= steps


def progress_at(workdir: str, step: int) -> dict:
  """The run's progress saved with checkpoint `step` (train_seconds, epoch, ...); {} if none."""
  path = os.path.join(workdir, "checkpoints", str(step), "progress", "metadata")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def record_session(workdir: str, model: Model, command: list[str], info: dict) -> None:
  """WORKDIR/pretrained.json: the model, its command and every training session's machine."""
  path = os.path.join(workdir, "pretrained.json")
  record = {"sessions": []}
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
  record["model"], record["config"] = model.name, model.config
  record["command"] = shlex.join(["python"] + command[1:])
  record["sessions"].append(
    {
      "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "machine": info,
      "machine_text": study.describe(info),
    }
  )
  os.makedirs(workdir, exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=2)
  os.replace(path + ".tmp", path)


# Each script's record of a run it trained: this one's, the reference study's (--ship_from).
RUN_RECORDS = {"pretrained.json": "train_pretrained", "study.json": "study"}


def run_record(workdir: str) -> tuple[str, dict]:
  """(the script that made the run, its record of sessions and command): ("unknown", {}) if
  neither record is there."""
  for name, script in RUN_RECORDS.items():
    record = RunDir(workdir).read(name)
    if record is not None:
      return script, record
  return "unknown", {}


def machines(workdir: str) -> list[str]:
  sessions = run_record(workdir)[1].get("sessions", [])
  return list(dict.fromkeys(s.get("machine_text", "?") for s in sessions))


def study_finished(workdir: str) -> bool:
  """The reference study's run reached its own budget (its final report is written then)."""
  return RunDir(workdir).read("final_metrics.json") is not None


def study_train_command(data: str, runs: str, name: str, epochs: int = 8) -> list[str]:
  """The reference study's command that trains, or resumes, recipe `name` in RUNS/<name> for
  `epochs` (its budget: 8, the reference)."""
  argv = [
    sys.executable,
    "bench/reference_study.py",
    f"--data={data}",
    f"--out={runs}",
    f"--recipes={name}",
  ]
  if epochs != 8:
    argv += [f"--regression_epochs={epochs}", f"--adversarial_epochs={epochs}"]
  return argv


def recorded_train_command(workdir: str) -> str | None:
  """The launch.py command the run was trained with, as its record holds it."""
  record = run_record(workdir)[1]
  return record.get("command") or record.get("commands", {}).get("train")


# -- shipping ----------------------------------------------------------------------------------


def export_bundle(workdir: str, step: int, output: str, source: str | None = None):
  """Checkpoint `step` of the run as a bundle in `output` (a new folder), recorded as from
  `source` (default `workdir`); its Colorizer."""
  from colorize_jax import inference  # pylint: disable=g-import-not-at-top

  colorizer = inference.from_workdir(workdir, step)
  colorizer.source = os.path.abspath(source or workdir)
  inference.write_bundle(colorizer, output)
  return colorizer


def evaluate(
  model: Model, workdir: str, step: int, data: str, run_in: str | None = None, log=print
) -> dict[str, dict]:
  """Scores checkpoint `step` on each set of EVALS under `data` (launch.py --mode=eval, from the
  repository root) in `run_in` (default `workdir`: a snapshot of it, see `snapshot`);
  {name: {"report": eval json, "command": the command on `workdir`}}. Sets missing under
  `data` are skipped."""
  run_in = run_in or workdir
  out = {}
  for name, sub in EVALS.items():
    folder = os.path.join(data, sub)
    if not os.path.isdir(os.path.join(ROOT, folder)):
      log(f"  {name}: no {folder}, not scored")
      continue
    argv = eval_command(model, run_in, step, name, folder)
    study.run(argv, os.path.join(ROOT, run_in, "logs", f"eval_{name}.log"))
    with open(os.path.join(ROOT, run_in, "eval", f"{EVAL_PREFIX}{name}.json")) as f:
      shown = eval_command(model, workdir, step, name, folder)
      out[name] = {"report": json.load(f), "command": shlex.join(["python"] + shown[1:])}
  return out


def snapshot(workdir: str, step: int, target: str) -> None:
  """Copies checkpoint `step` of `workdir` (and its config) to `target`, a workdir of its own:
  a run still training (--ship_partial) keeps one checkpoint and may delete this one while it is
  exported and scored."""
  os.makedirs(os.path.join(target, "checkpoints"))
  shutil.copy(os.path.join(workdir, "config.json"), target)
  shutil.copytree(
    os.path.join(workdir, "checkpoints", str(step)), os.path.join(target, "checkpoints", str(step))
  )


def metrics_of(report: dict) -> dict:
  """A card's scores of one set: examples, the model's headline means, the gray input's, the
  photos' colourfulness and, for a hints model, the hint-count curve."""
  from study_runs import read_eval  # pylint: disable=g-import-not-at-top

  model, gray = read_eval(report)
  keys = [k for k, _, _ in CARD_METRICS]
  return {
    "examples": report.get("examples"),
    "model": {k: model[k] for k in keys if k in model},
    "gray": {k: gray[k] for k in keys if k in gray and k != "colorfulness"},
    "photos_colorfulness": gray.get("photos_colorfulness"),
    **({"hint_curve": report["hint_curve"]} if report.get("hint_curve") else {}),
  }


def git_commit() -> str:
  try:
    return subprocess.run(
      ["git", "rev-parse", "--short=12", "HEAD"],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=True,
      timeout=30,
    ).stdout.strip()
  except (subprocess.SubprocessError, OSError):
    return "unknown"


def generated_caveats(card: dict) -> list[str]:
  """What the run's data and numbers say it is not good at."""
  out = []
  sets = " and ".join(card["data"]["train_sets"])
  count = card["data"]["train_images"]
  out.append(
    f"Trained only on {f'{count:,} ' if count else ''}photos of {sets} at "
    f"{card['image_size']}x{card['image_size']} px: other scenes (people, streets, interiors; "
    "the kodak24 row) are outside what it saw."
  )
  out.append(
    "Chroma is predicted on the photo's padded square at the network's working resolution "
    f"({card['image_size']} px unless the demo or caller picks another) and upsampled: small "
    "objects and thin stripes get no colour of their own; detail comes from the photo's own L."
  )
  if card.get("trained_by") == "study":
    seen, size = card["images_seen"], card["image_size"]
    times = seen / STUDY_IMAGES
    budget = (
      "the reference study's budget"
      if round(times, 2) == 1
      else f"{times:g}x the reference study's budget ({seen:,} images)"
    )
    out.append(
      f"Trained at {budget} by bench/reference_study.py at {size} px (--ship_from), which a "
      f"2-core CPU affords (the wall time above). This script's default run, {BUDGET_IMAGES:,} "
      f"images at 128 px, is {BUDGET_IMAGES / max(seen, 1):.3g}x the images at "
      f"{(128 / size) ** 2:.3g}x the pixels: days on such a CPU, a job for an accelerator. It "
      "has not been trained yet."
    )
  if not card["complete"]:
    share = card["images_seen"] / max(card["images_budget"], 1)
    out.append(
      f"A partial run: {card['images_seen']:,} of {card['images_budget']:,} images "
      f"({share:.0%} of its budget); later snapshots may colour differently."
    )
  for name, scores in card["metrics"].items():
    model, gray = scores["model"], scores["gray"]
    if "psnr" in model and "psnr" in gray and model["psnr"] < gray["psnr"]:
      out.append(
        f"On {name} its PSNR ({model['psnr']:.2f} dB) is below the gray input's "
        f"({gray['psnr']:.2f} dB): wrong colours cost more than none there."
      )
  if "birds" in card["data"]["train_sets"]:
    out.append(
      "Its training photos (CUB-200-2011) are for research, non-commercial use; those terms may "
      "extend to these weights."
    )
  return out


def make_card(
  model: Model,
  *,
  workdir: str,
  step: int,
  progress: dict,
  colorizer,
  bundle_dir: str,
  data: str,
  train_sets: list[str],
  budget_images: int | None,
  scores: dict[str, dict],
  regenerate: str,
  train: str | None,
) -> dict:
  """card.json's content, from the run (its config, checkpoint progress and sessions), the
  exported bundle and its scores."""
  from colorize_jax.models import layers  # pylint: disable=g-import-not-at-top

  config = colorizer.config
  batch = int(config.batch_size)
  images = step * batch
  folder = str(config.data.path) if config.data.source == "folder" else ""
  described = folder or f"data.source={config.data.source}"
  card = {
    "name": model.name,
    "title": model.title,
    "recipe": model.config,
    "task": str(config.task),
    "model": str(config.model.name),
    "image_size": colorizer.image_size,
    "color_space": colorizer.color_space.name,
    "inputs": [name for name, _ in colorizer.input_layout],
    "parameters": int(layers.count_params(colorizer.variables["params"])),
    "batch_size": batch,
    "step": step,
    "images_seen": images,
    "images_budget": images if budget_images is None else budget_images,
    "complete": budget_images is None or images >= budget_images,
    "epochs": progress.get("epoch"),
    "train_seconds": progress.get("train_seconds"),
    "machines": machines(os.path.join(ROOT, workdir)),
    "trained_by": run_record(os.path.join(ROOT, workdir))[0],
    "data": {
      "train_sets": list(train_sets),
      "train_folder": described,
      "train_images": count_images(folder) if folder else None,
      "split": "90% train, 10% validation, by a hash of each path" if folder else "its own split",
      "notes": [DATA_NOTES[s] for s in train_sets if s in DATA_NOTES],
      "eval": {name: os.path.join(data, sub) for name, sub in EVALS.items()},
    },
    "metrics": {name: metrics_of(s["report"]) for name, s in scores.items()},
    "commands": {
      "regenerate": regenerate,
      "train": train,
      "export": shlex.join(
        ["python", "-m", "colorize_jax.export", f"--workdir={workdir}", f"--checkpoint={step}"]
        + [f"--output={_from_root(bundle_dir)}"]
      ),
      "evaluate": [s["command"] for s in scores.values()],
      "colorize": f"python -m colorize_jax.colorize --bundle=pretrained:{model.name} "
      "photo.jpg --output=out/",
    },
    "source_workdir": os.path.abspath(os.path.join(ROOT, workdir)),
    "exported": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "code": git_commit(),
    "caveats": list(model.caveats),
  }
  card["caveats_generated"] = generated_caveats(card)
  return card


def _from_root(path: str) -> str:
  """`path` relative to the repository root when it lies inside it (as the commands run)."""
  relative = os.path.relpath(os.path.abspath(path), ROOT)
  return path if relative.startswith("..") else relative


def check_total_size(root: str, replacing: str | None = None, adding: str | None = None) -> int:
  """Bytes of pretrained/ once `adding` replaces `replacing`; SystemExit above the limit."""
  total = sum(
    pretrained.folder_bytes(os.path.join(root, d))
    for d in (os.listdir(root) if os.path.isdir(root) else [])
    if not d.startswith(".") and os.path.join(root, d) != replacing
  )
  total += pretrained.folder_bytes(adding) if adding else 0
  if total > pretrained.MAX_TOTAL_BYTES:
    raise SystemExit(
      f"pretrained/ would hold {total / 1e6:.1f} MB, above the "
      f"{pretrained.MAX_TOTAL_BYTES / 1e6:.0f} MB the repository carries"
      + (f"; the new bundle is left in {adding}" if adding else "")
    )
  return total


def ship(
  model: Model,
  *,
  workdir: str,
  step: int,
  root: str,
  data: str,
  train_sets: list[str],
  budget_images: int | None,
  regenerate: str,
  train: list[str] | str | None = None,
  log=print,
) -> dict:
  """Exports checkpoint `step` of `workdir` to ROOT/<name> with its card (see the docstring);
  `budget_images`: None for a run that finished at a budget of its own; `train`: its training
  command (argv, or as text); returns the card."""
  if isinstance(train, list):
    train = shlex.join(["python"] + train[1:])
  final = os.path.join(root, model.name)
  staging = os.path.join(root, f".{model.name}.new")
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(root, exist_ok=True)
  log(f"  export step {step} of {workdir}")
  with tempfile.TemporaryDirectory(prefix=f"ship_{model.name}_") as scratch:
    copy = os.path.join(scratch, "run")
    snapshot(os.path.join(ROOT, workdir), step, copy)
    colorizer = export_bundle(copy, step, staging, source=os.path.join(ROOT, workdir))
    scores = evaluate(model, workdir, step, data, run_in=copy, log=log)
    # The reports beside the run's own, for reference.
    os.makedirs(os.path.join(ROOT, workdir, "eval"), exist_ok=True)
    for name in glob.glob(os.path.join(copy, "eval", f"{EVAL_PREFIX}*")):
      shutil.copy(name, os.path.join(ROOT, workdir, "eval"))
    progress = progress_at(copy, step)
  card = make_card(
    model,
    workdir=workdir,
    step=step,
    progress=progress,
    colorizer=colorizer,
    bundle_dir=final,
    data=data,
    train_sets=train_sets,
    budget_images=budget_images,
    scores=scores,
    regenerate=regenerate,
    train=train,
  )
  grid = os.path.join(ROOT, workdir, "eval", f"{EVAL_PREFIX}kodak24.png")
  if os.path.exists(grid):
    shutil.copy(grid, os.path.join(staging, "sample_kodak24.png"))
    card["sample"] = "sample_kodak24.png"
  write_card(staging, card)
  total = check_total_size(root, replacing=final, adding=staging)
  shutil.rmtree(final, ignore_errors=True)
  os.replace(staging, final)
  log(
    f"  shipped {final} ({pretrained.folder_bytes(final) / 1e6:.1f} MB; pretrained/ "
    f"{total / 1e6:.1f} MB): images seen {card['images_seen']:,} of {card['images_budget']:,}"
  )
  return card


def shipped_step(root: str, name: str) -> int | None:
  path = os.path.join(root, name, pretrained.CARD_JSON)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f).get("step")


def regenerate_command(model: Model) -> str:
  argv = ["python", "bench/train_pretrained.py", f"--data={FLAGS.data}", f"--only={model.name}"]
  if FLAGS.out != "runs/pretrained":
    argv.append(f"--out={FLAGS.out}")
  if FLAGS.train_sets != ["birds"]:
    argv.append(f"--train_sets={','.join(FLAGS.train_sets)}")
  for name, default in (("budget_images", BUDGET_IMAGES), ("image_size", 128), ("batch_size", 16)):
    if FLAGS[name].value != default:
      argv.append(f"--{name}={FLAGS[name].value}")
  if FLAGS.ship_from:
    argv.append(f"--ship_from={FLAGS.ship_from}")
    if FLAGS.study_epochs != 8:
      argv.append(f"--study_epochs={FLAGS.study_epochs}")
  return shlex.join(argv)


def main(argv):
  del argv
  unknown = [n for n in FLAGS.only if n not in BY_NAME]
  if unknown:
    raise app.UsageError(f"unknown models {unknown}; valid: {', '.join(BY_NAME)}")
  bad_sets = [s for s in FLAGS.train_sets if s not in TRAIN_SETS]
  if bad_sets or not FLAGS.train_sets:
    raise app.UsageError(f"--train_sets={FLAGS.train_sets}: of {', '.join(TRAIN_SETS)}")
  data, out = (os.path.normpath(os.path.expanduser(p)) for p in (FLAGS.data, FLAGS.out))
  wanted = [os.path.join(data, TRAIN_SETS[s]) for s in FLAGS.train_sets]
  wanted += [os.path.join(data, sub) for sub in EVALS.values()]
  missing = [p for p in wanted if not os.path.isdir(os.path.join(ROOT, p))]
  if missing:
    raise app.UsageError(
      f"--data={FLAGS.data}: no {', '.join(missing)} (from {ROOT}); pass the folder that holds "
      "birds/train, birds/val and kodak24"
    )
  root = os.path.abspath(FLAGS.pretrained or pretrained.directory())
  steps = budget_steps(FLAGS.budget_images, FLAGS.batch_size)
  info = None
  print(
    (
      f"budget: the reference study's ({FLAGS.ship_from})"
      if FLAGS.ship_from
      else f"budget: {FLAGS.budget_images:,} images = {steps:,} steps of {FLAGS.batch_size} at "
      f"{FLAGS.image_size} px"
    )
    + f"; bundles to {root}",
    flush=True,
  )
  runs = os.path.normpath(os.path.expanduser(FLAGS.ship_from)) if FLAGS.ship_from else out
  for name in FLAGS.only:
    model = BY_NAME[name]
    workdir = os.path.join(runs, workdir_name(model, FLAGS.train_sets))
    folder = train_folder(data, out, FLAGS.train_sets)
    train = train_command(
      model,
      data=data,
      workdir=workdir,
      folder=folder,
      image_size=FLAGS.image_size,
      batch_size=FLAGS.batch_size,
      budget_images=FLAGS.budget_images,
      every_steps=FLAGS.checkpoint_every_steps,
      train_images=count_images(folder),
    )
    absolute = os.path.join(ROOT, workdir)
    if FLAGS.ship_from:
      # Shipped as the study trained it: finished means at the study's budget, not at this
      # script's, and the study's own command trains or resumes it.
      done = study_finished(absolute)
      train = study_train_command(data, runs, name, FLAGS.study_epochs)
    else:
      done = trained(absolute, steps)
    todo_train = not done and not FLAGS.ship_partial
    latest = latest_step(absolute)
    print(
      f"=== {name} ({model.config}): step {latest or 0:,}"
      + ("" if FLAGS.ship_from else f" of {steps:,}")
      + (
        ", training" + (" it with the reference study" if FLAGS.ship_from else "")
        if todo_train
        else ""
      )
      + (", shipping partway" if FLAGS.ship_partial and not done else "")
      + (", shipping it as trained there" if FLAGS.ship_from and done else ""),
      flush=True,
    )
    if FLAGS.dry_run:
      if todo_train:
        print("$", shlex.join(["python"] + train[1:]))
      continue
    if todo_train:
      if FLAGS.ship_from:  # The study keeps its own record (study.json) and log.
        study.run(train, os.path.join(runs, f"{name}-study.log"))
        if not study_finished(absolute):
          raise SystemExit(f"{workdir}: the reference study did not finish it ({train})")
      else:
        info = info or study.machine()
        record_session(absolute, model, train, info)
        study.run(train, os.path.join(absolute, "logs", "train.log"))
      latest = latest_step(absolute)
    if FLAGS.ship_from:
      train = recorded_train_command(absolute)
    if latest is None:
      print(f"  nothing to ship: {workdir} has no checkpoint yet", flush=True)
      continue
    if shipped_step(root, name) == latest:
      print(f"  pretrained/{name} already holds step {latest:,}: nothing to ship", flush=True)
      continue
    ship(
      model,
      workdir=workdir,
      step=latest,
      root=root,
      data=data,
      train_sets=FLAGS.train_sets,
      # A finished study run reached the study's budget: its own images are its budget.
      budget_images=None if FLAGS.ship_from and study_finished(absolute) else FLAGS.budget_images,
      regenerate=regenerate_command(model),
      train=train,
    )
  total = check_total_size(root) if os.path.isdir(root) else 0
  print(f"pretrained/: {total / 1e6:.1f} MB of {pretrained.MAX_TOTAL_BYTES / 1e6:.0f} MB")
  if not FLAGS.dry_run and root == pretrained.directory():
    cards = [m.card for m in pretrained.shipped(root)]
    if update_readme(cards):
      print(f"README.md: the shipped-models table now holds {len(cards)} model(s)")
  print("next: python -m colorize_jax.pretrained; commit pretrained/ and README.md")


if __name__ == "__main__":
  define_flags()
  app.run(main)
