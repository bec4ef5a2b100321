"""Colorization throughput: the model alone and the whole colorize path.

  python bench/inference.py --config=configs/pix2pix.py:256            # unet_256 at 256x256
  python bench/inference.py --config=configs/unet.py --photo_size=768

Randomly initialised weights (speed does not depend on them). "model" times
the jitted generator + colour merge on uint8 batches at the model's size;
"colorize path" times `colorize.colorize_images` on photos of --photo_size:
resize, model, chroma upsampling and recombination with the full-resolution
luminance, as `python -m colorize_jax.colorize` runs it.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from colorize_jax import colorize, inference, tasks
from colorize_jax.models import conv
from colorize_jax.runtime import logs
from colorize_jax.train import optim

config_flags.DEFINE_config_file("config", None, "Config file (with optional :variant).")
flags.DEFINE_integer("batch_size", 16, "Images per batch.")
flags.DEFINE_integer(
  "photo_size", 0, "Side of the photos for the colorize path; 0: the model's size."
)
flags.DEFINE_integer("batches", 5, "Timed batches (after one warm-up batch).")
flags.DEFINE_float(
  "peak_tflops", 0.0, "Device peak TFLOP/s for MFU (e.g. 989 for an H100's bf16); 0: skip."
)
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS


def _best_seconds(fn, repeats: int) -> float:
  fn()  # Compile and warm up.
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def main(argv):
  del argv
  logs.quiet_libraries()
  config = FLAGS.config
  size = config.data.image_size
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), size, optim.build_all(config, task.optimizers, None))
  colorizer = inference.Colorizer(config, task, task.inference_variables(state))
  rng = np.random.default_rng(0)
  batch = rng.integers(0, 256, (FLAGS.batch_size, size, size, 3), np.uint8)
  photo = FLAGS.photo_size or size
  photos = list(rng.integers(0, 256, (FLAGS.batch_size, photo, photo, 3), np.uint8))

  model_s = _best_seconds(lambda: colorizer.chroma_ab(batch), FLAGS.batches)
  path_s = _best_seconds(lambda: colorize.colorize_images(colorizer, photos), FLAGS.batches)
  with conv.plain_xla():  # Useful work: see bench/train_step.py.
    flops = (
      jax.jit(colorizer._chroma)
      .lower(colorizer.variables, colorizer.shard(batch))
      .compile()
      .cost_analysis()
    )
  flops = float((flops[0] if isinstance(flops, (list, tuple)) else flops).get("flops", 0.0))
  device = jax.devices()[0]
  print(f"device          {device.platform}:{device.device_kind} x{jax.device_count()}")
  print(
    f"model           {config.model.name} at {size}x{size}, "
    f"batch {FLAGS.batch_size}, dtype {config.dtype}"
  )
  print(
    f"model only      {FLAGS.batch_size / model_s:.1f} images/s "
    f"({flops / 1e9 / FLAGS.batch_size:.2f} GFLOP "
    f"per image, {flops / model_s / 1e9:.1f} GFLOP/s)"
  )
  print(f"colorize path   {FLAGS.batch_size / path_s:.1f} images/s for {photo}x{photo} photos")
  if FLAGS.peak_tflops:
    print(f"MFU (model)     {100 * flops / model_s / (FLAGS.peak_tflops * 1e12):.1f}%")


if __name__ == "__main__":
  app.run(main)
