"""Defaults every recipe in configs/ starts from.

Config files change only what their recipe changes; every field exists here
so `--config.a.b=value` works for any of them and a typo is rejected.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "regression"
  c.seed = 0
  c.batch_size = 32  # Global, over all devices and processes.
  c.num_epochs = 200
  c.max_train_steps = 0  # A step budget across epochs (0 = num_epochs decides); for equal-budget comparisons.
  c.log_every_steps = 50
  c.num_sample_images = 8

  c.model = ml_collections.ConfigDict({"name": "unet"})
  # Compute dtype of every network: float32 | bfloat16 (activations and convolutions;
  # parameters, optimizer state and losses stay float32).
  c.dtype = "float32"

  # Weighted sum of pixel losses: 'mse' or 'mse:1,ssim:0.2' (see colorize_jax/losses).
  c.loss = "mse"
  c.loss_options = ml_collections.ConfigDict({"huber": {"delta": 1.0}, "ssim": {"filter_size": 11}})

  c.optimizer = ml_collections.ConfigDict({
      "learning_rate": 1e-3, "b1": 0.9, "b2": 0.999,
      "schedule": "constant",  # constant | linear_decay | cosine
      "grad_clip_norm": 0.0,  # 0 = off
  })
  c.early_stopping = ml_collections.ConfigDict({
      "enabled": True, "patience": 10, "min_delta": 0.0, "restore_best": True})
  c.checkpoint = ml_collections.ConfigDict({
      "every_steps": 0,  # 0: at the end of every epoch only.
      "keep": 3,  # Latest checkpoints kept, besides the best one.
  })

  c.data = ml_collections.ConfigDict({
      "source": "sample",  # sample (embedded photos) | folder | tfds
      "path": "",  # Root folder for source=folder.
      "name": "",  # source=tfds: data set name (prepared as ArrayRecord; see colorize_jax/data/prepare.py).
      "data_dir": "",  # source=tfds: its data dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets.
      "image_size": 128,
      "color_space": "rgb",  # rgb: gray -> RGB (the studies) | lab: L -> ab (pix2pix)
      "value_range": (0.0, 1.0),  # rgb only: the range of inputs and targets.
      "split_fractions": (0.7, 0.1, 0.2),  # train / val / test, by path.
      "augment": {"zoom": 0.1, "rotation": 10.0, "hflip": True},
      # grain worker processes: 'auto' (sized to the host's cores, one left for the loop),
      # or a number; 0 reads in the main process. Any type: 'auto' or an int.
      "worker_count": ml_collections.FieldReference("auto", field_type=object),
      "sample_crops_per_photo": 64,
      "sample_eval_crops_per_photo": 8,
      "min_image_size": 16,  # Images with a shorter side are skipped (and counted).
  })
  # launch.py --mode=eval: which checkpoint, on what; writes <workdir>/eval/<name>.json and .png.
  c.eval = ml_collections.ConfigDict({
      "checkpoint": "best",  # best | last | a step number
      "split": "test",  # train | val | test of config.data (ignored when path is set)
      "path": "",  # A folder of photos to evaluate on instead: all its images, center squares.
      "batch_size": 0,  # 0: config.batch_size
      "name": "",  # '': derived from the split or folder (and the checkpoint unless 'best')
      "num_sample_images": 8,  # Rows of the gray | predicted | true grid.
  })
  return c


def variant(arg: str | None, variants: dict, config_name: str) -> str:
  """Checks `get_config(arg)`'s variant name, listing the valid ones."""
  name = arg or ""
  if name not in variants:
    valid = ", ".join(repr(v) for v in variants)
    raise ValueError(f"{config_name}: unknown variant {arg!r}; valid variants: {valid}")
  return name


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
