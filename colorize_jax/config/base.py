"""Defaults every recipe in configs/ starts from, and the helpers recipes share.

Config files change only what their recipe changes; every field exists here
so `--config.a.b=value` works for any of them and a typo is rejected. Loss
options are the exception that proves it: a config carries options only for
the losses it uses, and an `OptionsByName` block adds the registered defaults
of any other loss the moment it is named, so `--config.loss=huber
--config.loss_options.huber.delta=2` still works from the command line.

A recipe declares its variants once, as a dict from name to (description,
function editing the config), and `get_config` is `apply_variant`:

  VARIANTS = {"": ("the study's recipe", None), "smoke": ("tests", make_smoke)}
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable

import ml_collections

from colorize_jax import registry


class OptionsByName(ml_collections.ConfigDict):
  """{registered name: {option: value}}; reading a name that is not there yet adds the
  options of its registered factory with their defaults (and a name without options or
  that is not registered fails as any unknown key does, listing the valid ones)."""

  kind = ""  # The registry kind whose factories' keyword options these are.

  def __getitem__(self, key):
    if isinstance(key, str) and "." not in key and key not in self and self.kind:
      defaults = self.defaults()
      if key not in defaults:
        raise KeyError(
          f"{key!r}: no {self.kind} with options by that name; valid: {', '.join(sorted(defaults))}"
        )
      with self.unlocked():
        self[key] = defaults[key]
    return super().__getitem__(key)

  @classmethod
  def defaults(cls) -> dict[str, dict]:
    """Each registered name with keyword options -> those options' defaults."""
    out = {}
    for name in registry.names(cls.kind):
      factory = registry.get(cls.kind, name)
      params = inspect.signature(factory).parameters.values()
      options = {
        p.name: p.default
        for p in params
        if p.default is not inspect.Parameter.empty and p.name != "value_range"
      }
      if options:
        out[name] = options
    return out


class LossOptions(OptionsByName):
  """config.loss_options: pixel losses' options (huber's delta, ssim's filter_size, ...)."""

  kind = "pixel_loss"


class GanLossOptions(OptionsByName):
  """config.gan_loss_options: GAN objectives' options (wgan_gp's gp_weight, ...)."""

  kind = "gan_loss"


# What a run's config.json means by leaving a field out, where that is not the field's default:
# the field was added later, and its default would change what such a run learns. Resuming
# (train/resume_guard.py) and reading a run's config (inference.config_from_json) use these.
LEGACY_VALUES = {
  "data.split_method": "rank",
  "data.skip_gray_photos": False,
  "data.color_management": "none",
}


def apply_legacy_values(config: ml_collections.ConfigDict, saved: dict) -> list[str]:
  """Sets in `config` each LEGACY_VALUES field that the run's saved config.json (`saved`, a dict)
  lacks; returns the fields set."""
  applied = []
  for field, value in LEGACY_VALUES.items():
    section, _, key = field.rpartition(".")
    holder = saved.get(section, {}) if section else saved
    if isinstance(holder, dict) and key not in holder:
      target = config[section] if section else config
      target[key] = value
      applied.append(field)
  return applied


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "regression"
  c.seed = 0
  c.batch_size = 32  # Global, over all devices and processes.
  c.num_epochs = 200
  c.max_train_steps = (
    0  # A step budget across epochs (0 = num_epochs decides); for equal-budget comparisons.
  )
  c.log_every_steps = 50
  c.num_sample_images = 8

  c.model = ml_collections.ConfigDict({"name": "unet"})
  # Compute dtype of every network: float32 | bfloat16 (activations and convolutions;
  # parameters, optimizer state and losses stay float32).
  c.dtype = "float32"
  # Exponential moving average of the weights (every task): evaluation, sample grids, colorize
  # and export read the average; 0 = off, e.g. 0.999. Warmed up: the decay at step t is
  # min(ema_decay, (1 + t) / (10 + t)) (tasks/base.py). GANs average G (gan.ema_decay is
  # the same field).
  c.ema_decay = ml_collections.FieldReference(0.0)

  # Weighted sum of pixel losses: 'mse' or 'mse:1,ssim:0.2' (see colorize_jax/losses).
  c.loss = "mse"
  # Options of the losses in `loss`, by name, e.g. {"huber": {"delta": 2.0}}; a loss not
  # listed uses its registered defaults (colorize_jax/losses/pixel.py).
  c.loss_options = LossOptions()

  c.optimizer = ml_collections.ConfigDict(
    {
      "learning_rate": 1e-3,
      "b1": 0.9,
      "b2": 0.999,
      "schedule": "constant",  # constant | linear_decay | cosine
      # Linear warm-up over the first N updates (0 = off); the schedule then runs over the rest.
      "warmup_steps": 0,
      "grad_clip_norm": 0.0,  # 0 = off
      # Skip an update whose gradients hold a NaN or inf (optax.apply_if_finite), up to this
      # many in a row, counted as opt/<name>/skipped_updates; 0 = off. Set it when a run starts:
      # it changes the optimizer state, so a checkpoint written without it does not restore.
      "skip_nonfinite_updates": 0,
    }
  )
  c.early_stopping = ml_collections.ConfigDict(
    {
      "enabled": True,
      "patience": 10,  # Scored epochs (of the monitored evaluator) without a new best.
      "min_delta": 0.0,
      "restore_best": True,
      # What early stopping and the "best" checkpoint track, in its own direction, e.g.
      # 'val/psnr' (higher is better) or 'val/loss'; '' = the task's own (tasks/*.monitor).
      "monitor": "",
    }
  )
  c.checkpoint = ml_collections.ConfigDict(
    {
      "every_steps": 0,  # 0: at the end of every epoch only.
      "keep": 3,  # Latest checkpoints kept, besides the best one.
      # A run has diverged when an optimizer's parameter norm passes this factor times its norm
      # at initialisation: it stops and nothing from then on is saved, as for a NaN loss
      # (docs/DESIGN.md, "Divergence"); 0 = only non-finite values count.
      "divergence_factor": 1e3,
    }
  )

  c.data = ml_collections.ConfigDict(
    {
      "source": "sample",  # sample (embedded photos) | folder | tfds
      "path": "",  # Root folder for source=folder.
      # source=tfds: data set name (prepared as ArrayRecord; see colorize_jax/data/prepare.py).
      "name": "",
      "data_dir": "",  # source=tfds: its data dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets.
      "image_size": 128,
      "color_space": "rgb",  # rgb: gray -> RGB (both studies) | lab: L -> ab (pix2pix)
      "value_range": (0.0, 1.0),  # rgb only: the range of inputs and targets.
      "split_fractions": (0.7, 0.1, 0.2),  # train / val / test, by path.
      # source=folder: path, a file's split from its relative path alone (stable when files are
      # added or removed); rank, the split of runs begun before this field (LEGACY_VALUES).
      "split_method": "path",
      "augment": {"zoom": 0.1, "rotation": 10.0, "hflip": True},
      # grain worker processes: 'auto' (sized to the host's cores, one left for the loop),
      # or a number; 0 reads in the main process. Any type: 'auto' or an int.
      "worker_count": ml_collections.FieldReference("auto", field_type=object),
      "sample_crops_per_photo": 64,
      "sample_eval_crops_per_photo": 8,
      "min_image_size": 16,  # Images with a shorter side are skipped (and counted).
      # source=folder or tfds: photos with no colour (data/splits.py, is_gray) are left out of
      # training and scoring, one warning each: nothing to learn, and the gray input is exact on
      # them. Runs begun before this field keep them (LEGACY_VALUES).
      "skip_gray_photos": True,
      # source=folder or sample: icc converts pixels tagged with a colour profile other than
      # sRGB (Adobe RGB, Display P3, CMYK presses) to sRGB, none reads them as sRGB
      # (data/icc.py). Runs begun before this field keep none (LEGACY_VALUES).
      "color_management": "icc",
    }
  )
  # launch.py --mode=eval: which checkpoint, on what; writes <workdir>/eval/<name>.json and .png.
  c.eval = ml_collections.ConfigDict(
    {
      "checkpoint": "best",  # best | last | a step number
      "split": "test",  # train | val | test of config.data (ignored when path is set)
      "path": "",  # A folder of photos to evaluate on instead: all its images, center squares.
      "batch_size": 0,  # 0: config.batch_size
      "name": "",  # '': derived from the split or folder (and the checkpoint unless 'best')
      "num_sample_images": 8,  # Rows of the gray | predicted | true grid.
      # Validation during training: every N-th epoch (and the last), on at most
      # max_examples images (0 = all); bounds the validation overhead per epoch. The same
      # values as evals.val.every_epochs and evals.val.max_examples (references), kept so
      # older command lines work.
      "every_epochs": 1,
      "max_examples": 0,
      # FID (colorize_jax/evaluators/fid.py): auto (in the end-of-run reports and here when
      # the converted weights exist), final (required), epochs (also every scored epoch), off.
      # Also the default of evals.val and of every --eval_folder evaluator.
      "fid": "auto",
    }
  )
  # The evaluators scored during training, each `<name>/<metric>` in metrics.jsonl and
  # TensorBoard, in final_metrics.json and as eval/<name>.json at the end
  # (colorize_jax/evaluators/specs.py): a split of the run's data or every image of a folder
  # (path), every N epochs and the last (0: only at the end), at most max_examples per epoch
  # (0: all) and the metrics kept (() = all). early_stopping.monitor names one of them.
  # launch.py --eval_folder=NAME=PATH adds a folder evaluator from the command line.
  c.evals = ml_collections.ConfigDict(
    {
      "val": {
        "split": "val",
        "path": "",
        "every_epochs": c.eval.get_ref("every_epochs"),
        "max_examples": c.eval.get_ref("max_examples"),
        "metrics": (),
        "fid": c.eval.get_ref("fid"),
      }
    }
  )
  return c


Variant = tuple[str, Callable[[ml_collections.ConfigDict], None] | None]


def apply_variant(
  c: ml_collections.ConfigDict, arg: str | None, variants: dict[str, Variant], config_name: str
) -> ml_collections.ConfigDict:
  """Edits `c` by `get_config(arg)`'s variant (None and '' are the recipe itself)."""
  name = arg or ""
  if name not in variants:
    valid = ", ".join(repr(v) for v in variants)
    raise ValueError(f"{config_name}: unknown variant {arg!r}; valid variants: {valid}")
  _, edit = variants[name]
  if edit is not None:
    edit(c)
  return c


def chain(*edits: Callable[[ml_collections.ConfigDict], None]) -> Callable:
  """One variant made of several edits, applied in order."""

  def edit(c):
    for step in edits:
      step(c)

  return edit


def sibling(config_file: str, name: str):
  """configs/<name>.py next to `config_file`, as a module, whatever the working directory
  (config files are loaded by path, so `import configs.x` would depend on it)."""
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"colorize_jax_configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def make_short(c: ml_collections.ConfigDict, *, epochs: int = 3) -> None:
  """A few minutes on a 2-core CPU on the embedded photos: 64x64, a few epochs."""
  c.data.image_size = 64
  c.num_epochs = epochs
  c.log_every_steps = 8
  c.data.sample_crops_per_photo = 32


def make_smoke(c: ml_collections.ConfigDict) -> None:
  """Tiny data and few steps: seconds on CPU, for tests (batch 8 splits over 8 fake devices)."""
  c.batch_size = 8
  c.num_epochs = 2
  c.log_every_steps = 1
  c.num_sample_images = 4
  c.data.image_size = 32
  c.data.sample_crops_per_photo = 4
  c.data.sample_eval_crops_per_photo = 2
