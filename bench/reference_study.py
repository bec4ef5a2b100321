"""The reference study: every recipe trained on the birds photos at one budget, then evaluated.

  python bench/reference_study.py              # everything; rerun the same command to continue
  python bench/reference_study.py --recipes=unet,pix2pix
  python bench/reference_study.py --dry_run    # the commands, without running them
  python bench/results_table.py                # then RESULTS.md from the workdirs

Each recipe trains on DATA/birds/train (90% train, 10% per-epoch validation,
split by path hash) for one equal budget per kind: `--regression_epochs` for
the regression recipes, `--adversarial_epochs` for the GANs, all at batch
`--batch_size` and `--image_size` px, with early stopping off so every recipe
sees the same number of images. The default, 8 epochs of 168 steps x 16 =
21,504 images for both kinds at 64x64, is 21x the 1,024 images of the
comparison it replaces, and equal across kinds, so claim (ii) compares a GAN
with the regression models at the same budget. At 128x128,
`--image_size=128 --regression_epochs=4 --adversarial_epochs=4` is the 10x
minimum (the README's benchmark notes give the time of both). Every epoch and
at the end, each run also scores DATA/birds/val (disjoint photos) and
DATA/kodak24 (other scenes) itself (`launch.py --eval_folder`, config.evals):
`birds_val/<metric>` and `kodak24/<metric>` in its metrics.jsonl and
TensorBoard, and the last weights' reports as
OUT/<recipe>/eval/{birds_val,kodak24}.json.

Relaunching continues where it stopped: a run with a final_metrics.json at
the budget and reports newer than its newest checkpoint is not started
again, an unfinished one resumes from its last checkpoint (exactly), and a
finished one without its reports is relaunched, which only writes them. So
the study can run in parts, over several sessions or machines. Each workdir
gets a study.json: the recipe, its kind and budget, the exact commands, and
the machine of every session that trained it (bench/results_table.py reads it).

Replaces bench/birds_comparison.sh (64 steps x 16 images per recipe), whose
budget was too small for any recipe to converge. Needs ../shared/data, which
the project itself does not (see /work/shared/data/README.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from absl import app, flags

from colorize_jax.data.sources.folder import list_images
from colorize_jax.outputs.console import format_duration
from colorize_jax.train import preemption

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
if BENCH not in sys.path:  # Loaded by a test from its file: its neighbours import as they do.
  sys.path.insert(0, BENCH)
import study_records  # noqa: E402

REGRESSION, ADVERSARIAL = "regression", "adversarial"
EVALS = {"birds_val": "birds/val", "kodak24": "kodak24"}  # eval name -> folder under --data.


def _unet_128_depth(image_size: int) -> list[str]:
  """pix2pix's unet_128 halves 7 times (128 -> 1 px); at other sizes, one halving per power of 2."""
  return [f"--config.model.num_downs={image_size.bit_length() - 1}"] if image_size != 128 else []


@dataclasses.dataclass(frozen=True)
class Recipe:
  name: str  # Workdir name and row label.
  config: str  # configs/<file>.py[:variant]
  kind: str  # REGRESSION | ADVERSARIAL: which budget it gets.
  # Overrides of the recipe beyond the study's common ones; None = not defined yet (skipped).
  flags: tuple[str, ...] | None = ()
  size_flags: Callable[[int], list[str]] = lambda size: []
  note: str = ""
  # Extra training folders under --data besides birds/train (an ablation mixes in flowers):
  # the run reads a folder of links to all of them, capped at the birds-only step budget.
  also_train: tuple[str, ...] = ()
  # An ablation: the recipe it changes one thing of (the row it reads against).
  ablation_of: str = ""

  @property
  def config_file(self) -> str:
    return os.path.join(ROOT, self.config.split(":")[0])

  def missing(self) -> str:
    """Why the recipe cannot run yet ('' when it can)."""
    if not os.path.exists(self.config_file):
      return f"{os.path.relpath(self.config_file, ROOT)} does not exist yet"
    if self.flags is None:
      return f"its flags are not defined yet ({self.note})"
    return ""


RECIPES = (
  Recipe("dense", "configs/dense.py", REGRESSION),
  Recipe("cnn", "configs/cnn.py", REGRESSION),
  Recipe("autoencoder_a", "configs/autoencoder.py:a", REGRESSION),
  Recipe("autoencoder_b", "configs/autoencoder.py:b", REGRESSION),
  Recipe("unet", "configs/unet.py", REGRESSION),
  # User colour hints (Zhang et al. 2017) on the same U-Net: its val evaluator scores the curve
  # against the number of hints (val/hints_<n>/<metric>), so its 0-hint row compares with unet's.
  Recipe("hints", "configs/hints.py", REGRESSION),
  # Colour as classification (Zhang et al. 2016), from the `objectives` stream: one network
  # trained on a pixel objective, so it gets the regression budget.
  Recipe("classification", "configs/classification.py", REGRESSION),
  Recipe("cgan", "configs/cgan.py", ADVERSARIAL),
  Recipe("cgan_l1", "configs/cgan_l1.py", ADVERSARIAL),
  Recipe("cgan_unet_patchgan", "configs/cgan_unet_patchgan.py", ADVERSARIAL),
  Recipe("pix2pix", "configs/pix2pix.py", ADVERSARIAL, size_flags=_unet_128_depth),
  # pix2pix plus feature matching and a spectrally normalised D without BatchNorm (issue 13):
  # configs/pix2pix_fm_sn.py is configs/pix2pix.py with those switches, so with the same
  # depth at the study's size the two rows differ by the stabilisers only.
  Recipe("pix2pix_fm_sn", "configs/pix2pix_fm_sn.py", ADVERSARIAL, size_flags=_unet_128_depth),
)
# Issue 22's ablations: one change each to a recipe above, at the same budget, so each row
# reads against its base row. Not in the default study: `--recipes=unet_ema,...` runs them
# (ABLATION_NAMES below lists them all).
ABLATIONS = (
  Recipe("unet_ema", "configs/unet.py", REGRESSION, ("--config.ema_decay=0.999",)),
  Recipe(
    "unet_cosine",
    "configs/unet.py",
    REGRESSION,
    ("--config.optimizer.schedule=cosine", "--config.optimizer.warmup_steps=100"),
  ),
  Recipe(
    "unet_lab_l1",
    "configs/unet.py",
    REGRESSION,
    ("--config.data.color_space=lab", "--config.model.output_activation=tanh", "--config.loss=l1"),
  ),
  Recipe(
    "unet_lab_huber",
    "configs/unet.py",
    REGRESSION,
    (
      "--config.data.color_space=lab",
      "--config.model.output_activation=tanh",
      "--config.loss=huber",
    ),
  ),
  Recipe("unet_wide", "configs/unet.py", REGRESSION, ("--config.model.features=(64,128,512)",)),
  Recipe("unet_attention", "configs/unet.py", REGRESSION, ("--config.model.attention_heads=4",)),
  Recipe("unet_flowers", "configs/unet.py", REGRESSION, (), also_train=("flowers/train",)),
  Recipe(
    "classification_l1", "configs/classification.py", REGRESSION, ("--config.loss=ab_ce:1,l1:10",)
  ),
  Recipe(
    "classification_l1_ema",
    "configs/classification.py",
    REGRESSION,
    ("--config.loss=ab_ce:1,l1:10", "--config.ema_decay=0.999"),
  ),
  # The three changes that each moved held-out PSNR and AuC the right way (L1 on the decoded
  # ab, EMA, the cosine schedule), together: a candidate for the recommended recipe.
  Recipe(
    "classification_l1_ema_cosine",
    "configs/classification.py",
    REGRESSION,
    (
      "--config.loss=ab_ce:1,l1:10",
      "--config.ema_decay=0.999",
      "--config.optimizer.schedule=cosine",
      "--config.optimizer.warmup_steps=100",
    ),
  ),
)
# Each ablation reads against the recipe of its config file (unet_* -> unet, ...).
ABLATIONS = tuple(
  dataclasses.replace(r, ablation_of=os.path.splitext(os.path.basename(r.config))[0])
  for r in ABLATIONS
)
ABLATION_NAMES = ",".join(r.name for r in ABLATIONS)
BY_NAME = {r.name: r for r in RECIPES + ABLATIONS}

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string(
    "data",
    "../shared/data",
    "Folder with birds/train, birds/val and kodak24 "
    "(relative paths: to the repository root, where the commands run).",
  )
  flags.DEFINE_string("out", "runs/reference_study", "One workdir per recipe under it (likewise).")
  flags.DEFINE_list(
    "recipes",
    [r.name for r in RECIPES],
    f"Subset to run, of: {', '.join(BY_NAME)} (the ablations: --recipes={ABLATION_NAMES}).",
  )
  flags.DEFINE_integer("image_size", 64, "Training and evaluation resolution (px).")
  flags.DEFINE_integer("batch_size", 16, "Global batch of every recipe.")
  flags.DEFINE_integer(
    "regression_epochs", 8, "Budget of the regression recipes, in epochs of birds/train's 90%."
  )
  flags.DEFINE_integer("adversarial_epochs", 8, "Budget of the adversarial recipes, likewise.")
  flags.DEFINE_bool("dry_run", False, "Print the commands and what would be skipped; run nothing.")
  flags.DEFINE_string(
    "records",
    "",
    "Where each finished recipe's record goes (bench/study_records.py): point it at storage "
    "that outlives the machine; a recipe with a complete record at the budget is not trained "
    "again. Default: runs/records/<basename of --out>; 'none': no records.",
  )


def common_flags(
  data: str,
  image_size: int,
  batch_size: int,
  epochs: int,
  *,
  max_train_steps: int = 0,
  train_folder: str | None = None,
) -> list[str]:
  """The study's overrides shared by every recipe: data, size, batch and an exact epoch budget
  (or, given max_train_steps, a step budget; bench/train_pretrained.py). `train_folder`: the
  photos trained on, DATA/birds/train by default."""
  return [
    "--config.data.source=folder",
    f"--config.data.path={train_folder or os.path.join(data, 'birds', 'train')}",
    "--config.data.split_fractions=(0.9,0.1,0.0)",
    # The cut the study's first runs used (before splits went by each file's own path), so
    # every recipe, and every shipped model, trains on the same photos.
    "--config.data.split_method=rank",
    # Gray photos stay in, as in the study's first runs (birds/train holds two, one in the
    # held-out 10%; docs/DESIGN.md "Gray photos"), so every recipe meets the same photos.
    "--config.data.skip_gray_photos=false",
    f"--config.data.image_size={image_size}",
    f"--config.batch_size={batch_size}",
    f"--config.num_epochs={epochs}",
    f"--config.max_train_steps={max_train_steps}",
    # Equal budgets: every recipe trains all its epochs and is scored on its last weights.
    "--config.early_stopping.enabled=false",
    "--config.early_stopping.restore_best=false",
    "--config.log_every_steps=20",
    # Latest checkpoint plus the best: dense's is 1.3 GB at 128 px (parameters + Adam moments).
    "--config.checkpoint.keep=1",
  ]


def commands(
  recipe: Recipe, *, data: str, out: str, image_size: int, batch_size: int, epochs: int
) -> dict[str, list[str]]:
  """{'train': argv}, run from the repository root; the run scores every evaluation set itself."""
  workdir = os.path.join(out, recipe.name)
  mixed = []
  if recipe.also_train:
    # The birds-only budget in steps (90% of birds/train per epoch), whatever the mix's size.
    birds = len(list_images(os.path.join(ROOT, data, "birds", "train")))
    mixed = [
      f"--config.data.path={mixed_folder(recipe, data=data, out=out)}",
      f"--config.max_train_steps={int(birds * 0.9) // batch_size * epochs}",
    ]
  train = (
    [sys.executable, "launch.py", f"--config={recipe.config}", f"--workdir={workdir}"]
    + common_flags(data, image_size, batch_size, epochs)
    + mixed
    + list(recipe.flags or ())
    + recipe.size_flags(image_size)
    + [f"--eval_folder={name}={os.path.join(data, folder)}" for name, folder in EVALS.items()]
  )
  return {"train": train}


def mixed_folder(recipe: Recipe, *, data: str, out: str) -> str:
  """OUT/_data/<recipe>: links to birds/train and the recipe's other folders (the folder
  source follows links), so one data.path reads them all; made on first use."""
  folder = os.path.join(out, "_data", recipe.name)
  for sub in ("birds/train",) + recipe.also_train:
    link = os.path.join(ROOT, folder, sub.replace("/", "_"))
    if not os.path.islink(link):
      os.makedirs(os.path.dirname(link), exist_ok=True)
      os.symlink(os.path.abspath(os.path.join(ROOT, data, sub)), link)
  return folder


def machine() -> dict:
  """What the study runs on: CPU model and cores, and JAX's devices."""
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  probe = "import jax; d = jax.devices(); print(f'{d[0].platform}:{d[0].device_kind} x{len(d)}')"
  try:
    devices = subprocess.run(
      [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
  except (subprocess.SubprocessError, OSError):
    devices = "unknown"
  return {"cpu": cpu, "cpu_count": os.cpu_count(), "devices": devices}


def describe(info: dict) -> str:
  return f"{info['devices']}, {info['cpu_count']}-core {info['cpu']}"


def _newest_mtime(path: str) -> float:
  newest = 0.0
  for dirpath, _, filenames in os.walk(path):
    for name in filenames:
      newest = max(newest, os.path.getmtime(os.path.join(dirpath, name)))
  return newest


def newest_checkpoint_mtime(workdir: str) -> float:
  """Modification time of the newest file of the newest checkpoint step (0 if none)."""
  directory = os.path.join(workdir, "checkpoints")
  steps = [d for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(directory) else []
  return _newest_mtime(os.path.join(directory, max(steps, key=int))) if steps else 0.0


def trained(workdir: str, epochs: int, max_steps: int = 0) -> bool:
  """True when the run finished its budget (final_metrics.json written after `epochs` epochs,
  or after `max_steps` steps when the run is capped by steps)."""
  path = os.path.join(workdir, "final_metrics.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    final = json.load(f)
  if max_steps:
    return final.get("step", 0) >= max_steps
  return final.get("epochs", 0) >= epochs


def evaluated(workdir: str, name: str) -> bool:
  """True when eval/<name>.json is newer than the newest checkpoint."""
  path = os.path.join(workdir, "eval", f"{name}.json")
  return os.path.exists(path) and os.path.getmtime(path) > newest_checkpoint_mtime(workdir)


def records_dir(flag: str, out: str) -> str:
  """Absolute folder of the study's records ('' for none): --records, else
  runs/records/<basename of the study's --out> (run outputs: never committed)."""
  if flag == "none":
    return ""
  path = flag or os.path.join("runs", "records", os.path.basename(os.path.normpath(out)))
  return os.path.join(ROOT, path)


def recorded_at_budget(record: str, epochs: int, max_steps: int = 0) -> bool:
  """Whether a committed record holds this recipe finished at the budget, with every report."""
  return study_records.complete(record, tuple(EVALS)) and trained(record, epochs, max_steps)


def study_command(recipe: Recipe, *, data: str, out: str) -> str:
  """The command that reruns this recipe alone, budget flags spelled out."""
  return shlex.join(
    [
      "python",
      "bench/reference_study.py",
      f"--recipes={recipe.name}",
      f"--data={data}",
      f"--out={out}",
      f"--image_size={FLAGS.image_size}",
      f"--batch_size={FLAGS.batch_size}",
      f"--regression_epochs={FLAGS.regression_epochs}",
      f"--adversarial_epochs={FLAGS.adversarial_epochs}",
    ]
  )


def write_study_json(
  workdir: str, recipe: Recipe, budget: dict, cmds: dict, info: dict, rerun: str
) -> None:
  """study.json: recipe, budget, commands, and every session's machine (appended once each)."""
  path = os.path.join(workdir, "study.json")
  previous = {}
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
  sessions = previous.get("sessions", [])
  sessions.append(
    {
      "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "machine": info,
      "machine_text": describe(info),
    }
  )
  study = {
    "recipe": recipe.name,
    "config": recipe.config,
    "kind": recipe.kind,
    "budget": budget,
    "order": list(BY_NAME).index(recipe.name),
    **({"ablation_of": recipe.ablation_of} if recipe.ablation_of else {}),
    "study_command": rerun,
    "commands": {k: shlex.join(["python"] + v[1:]) for k, v in cmds.items()},
    "sessions": sessions,
  }
  os.makedirs(workdir, exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(study, f, indent=2)
  os.replace(path + ".tmp", path)


def run(argv: list[str], log_path: str) -> None:
  """Runs one command from the repository root, its output to the console and a log file.

  A SIGTERM to the study (a scheduler's preemption, a machine going down) is passed on to the
  run, which saves its step and exits with preemption.EXIT_CODE; the study then stops with the
  same code, and relaunching it resumes that run exactly."""
  print("$", shlex.join(["python"] + argv[1:]), flush=True)
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  with open(log_path, "a") as log:
    proc = subprocess.Popen(
      argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    previous = signal.signal(signal.SIGTERM, lambda signum, _: proc.send_signal(signum))
    try:
      for line in proc.stdout:
        sys.stdout.write(line)
        log.write(line)
      code = proc.wait()
    finally:
      signal.signal(signal.SIGTERM, previous)
    if code == preemption.EXIT_CODE:
      sys.stdout.flush()
      sys.stderr.write(
        "study stopped by a signal (the run's line above says what it saved); relaunch the same "
        f"study command to resume it (log: {log_path})\n"
      )
      raise SystemExit(code)
    if code:
      raise SystemExit(f"failed (exit {code}); log: {log_path}")


def main(argv):
  del argv
  unknown = [n for n in FLAGS.recipes if n not in BY_NAME]
  if unknown:
    raise app.UsageError(f"unknown recipes {unknown}; valid: {', '.join(BY_NAME)}")
  # Relative paths are taken from the repository root (where the commands run), so the
  # recorded commands read the same on any checkout.
  data, out = (os.path.normpath(os.path.expanduser(p)) for p in (FLAGS.data, FLAGS.out))
  wanted = [os.path.join(data, "birds", "train")] + [os.path.join(data, f) for f in EVALS.values()]
  missing = [p for p in wanted if not os.path.isdir(os.path.join(ROOT, p))]
  if missing:
    raise app.UsageError(
      f"--data={FLAGS.data}: no {', '.join(missing)} (from {ROOT}); pass the "
      "folder that holds birds/train, birds/val and kodak24"
    )
  epochs = {REGRESSION: FLAGS.regression_epochs, ADVERSARIAL: FLAGS.adversarial_epochs}
  records = records_dir(FLAGS.records, out)
  info = None if FLAGS.dry_run else machine()
  if info:
    print(f"machine: {describe(info)}", flush=True)
  started = time.monotonic()
  for index, name in enumerate(FLAGS.recipes, 1):
    recipe = BY_NAME[name]
    # Where the study stands, for a log read hours later: the recipe's place and the time so far.
    place = f"[{index}/{len(FLAGS.recipes)}, {format_duration(time.monotonic() - started)} in]"
    why = recipe.missing()
    if why:
      print(f"=== {place} {name}: skipped, {why}", flush=True)
      continue
    workdir = os.path.join(ROOT, out, name)
    budget = {
      "epochs": epochs[recipe.kind],
      "batch_size": FLAGS.batch_size,
      "image_size": FLAGS.image_size,
      "train_fraction": 0.9,
    }
    cmds = commands(
      recipe,
      data=data,
      out=out,
      image_size=FLAGS.image_size,
      batch_size=FLAGS.batch_size,
      epochs=epochs[recipe.kind],
    )
    cap = [a for a in cmds["train"] if a.startswith("--config.max_train_steps=")][-1]
    max_steps = int(cap.split("=", 1)[1])
    done = trained(workdir, epochs[recipe.kind], max_steps) and all(
      evaluated(workdir, n) for n in EVALS
    )
    record = os.path.join(records, name) if records else ""
    recorded = bool(record) and recorded_at_budget(record, epochs[recipe.kind], max_steps)
    todo = [] if done or recorded else ["train"]
    status = "done, nothing to run"
    if recorded and not done:
      status = f"recorded in {os.path.relpath(record, ROOT)}; remove that folder to train again"
    print(
      f"=== {place} {name} ({recipe.kind}, {epochs[recipe.kind]} epochs): "
      f"{', '.join(todo) if todo else status}",
      flush=True,
    )
    if FLAGS.dry_run:
      for key in todo:
        print("$", shlex.join(["python"] + cmds[key][1:]))
      continue
    if todo:
      rerun = study_command(recipe, data=data, out=out)
      write_study_json(workdir, recipe, budget, cmds, info, rerun)
    for key in todo:
      run(cmds[key], os.path.join(workdir, "logs", key.replace("/", "_") + ".log"))
    if record and (todo or done):
      study_records.archive(workdir, record)
      print(f"record: {os.path.relpath(record, ROOT)}", flush=True)
  print(
    f"study: {format_duration(time.monotonic() - started)}; workdirs: {out}\n"
    f"next: python bench/results_table.py --study={out}"
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
