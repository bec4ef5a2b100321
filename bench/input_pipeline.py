"""Images/s the input pipeline delivers on this host (no model, no device).

  python bench/input_pipeline.py                         # birds if present, else sample photos
  python bench/input_pipeline.py --path=DIR --workers=auto,0,2 --batches=20
  python bench/input_pipeline.py --tfds_name=birds128 --tfds_data_dir=/tmp/birds_tfds

One line per worker count for `DataPipeline.train_iterator()` (decoded,
resized uint8 batches after --warmup batches), one for a single-process
evaluation pass, and the same train lines for the tfds source when
--tfds_name is given. Training augmentation (zoom, rotation, flip) runs on
the device inside the train step (colorize_jax/data/augment.py), so its own line
times the jitted warp of one batch on the default JAX device: on a CPU-only
host that line shares the cores the decoding lines used. The load average is
printed: on a shared machine the figures only compare within one run.
"""

from __future__ import annotations

import os
import time

from absl import app, flags, logging

from colorize_jax.config import base as config_base
from colorize_jax.data import DataPipeline, augment, pipeline

# The benchmark photo sets sit beside the checkout (../shared/data, see its README).
BIRDS = os.path.normpath(
  os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "birds", "train")
)

flags.DEFINE_string(
  "path", BIRDS if os.path.isdir(BIRDS) else "", "Image folder; '' uses the embedded sample photos."
)
flags.DEFINE_integer("image_size", 128, "Square side of the delivered images.")
flags.DEFINE_integer("batch_size", 64, "Images per batch.")
flags.DEFINE_integer("batches", 20, "Timed batches per measurement.")
flags.DEFINE_integer("warmup", 3, "Untimed batches first (worker start-up, file cache).")
flags.DEFINE_list(
  "workers",
  ["auto", "0", "1", "2"],
  "data.worker_count values to measure: 'auto' (the default) or numbers.",
)
flags.DEFINE_string("eval_split", "val", "Split of the evaluation pass.")
flags.DEFINE_string("tfds_name", "", "Also measure source=tfds with this data set.")
flags.DEFINE_string("tfds_data_dir", "", "Its tfds data dir ('' = tfds default).")
FLAGS = flags.FLAGS


def data_config(source: str, worker_count: int | str):
  cfg = config_base.base_config().data
  cfg.source = source
  cfg.image_size = FLAGS.image_size
  cfg.worker_count = worker_count
  if source == "folder":
    cfg.path = FLAGS.path
  elif source == "tfds":
    cfg.name = FLAGS.tfds_name
    cfg.data_dir = FLAGS.tfds_data_dir
  return cfg


def train_rate(source: str, worker_count: int | str) -> float:
  pipe = DataPipeline(data_config(source, worker_count), global_batch_size=FLAGS.batch_size, seed=0)
  it = pipe.train_iterator()
  try:
    for _ in range(FLAGS.warmup):
      next(it)
    start = time.perf_counter()
    images = 0
    for _ in range(FLAGS.batches):
      images += next(it)["image"].shape[0]
    return images / (time.perf_counter() - start)
  finally:
    # Worker processes outlive an unclosed iterator until interpreter exit.
    if hasattr(it, "close"):
      it.close()


def eval_rate(source: str) -> tuple[float, int]:
  """(real examples/s, examples) of one eval pass, capped at --batches batches."""
  pipe = DataPipeline(data_config(source, 0), global_batch_size=FLAGS.batch_size, seed=0)
  pipe.num_examples(FLAGS.eval_split)  # Index the split outside the timing.
  start = time.perf_counter()
  real = 0
  for i, batch in enumerate(pipe.eval_batches(FLAGS.eval_split)):
    if i >= FLAGS.batches:
      break
    real += int(batch["mask"].sum())
  return real / (time.perf_counter() - start), real


def augment_rate() -> tuple[float, str]:
  """(images/s, device) of the default config's training warp, jitted, one batch at a time."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  warp = jax.jit(augment.from_config(config_base.base_config().data.augment))
  size = FLAGS.image_size
  images = jax.device_put(
    np.random.default_rng(0).integers(0, 256, (FLAGS.batch_size, size, size, 3), dtype=np.uint8)
  )
  key = jax.random.key(0)
  warp(images, key).block_until_ready()
  start = time.perf_counter()
  for i in range(FLAGS.batches):
    warp(images, jax.random.fold_in(key, i)).block_until_ready()
  rate = FLAGS.batches * FLAGS.batch_size / (time.perf_counter() - start)
  return rate, str(jax.devices()[0].platform)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  source = "folder" if FLAGS.path else "sample"
  where = FLAGS.path or "embedded sample photos"
  load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
  print(
    f"input pipeline: {where}, {FLAGS.image_size}px, batch {FLAGS.batch_size}, "
    f"{FLAGS.batches} timed batches after {FLAGS.warmup}; {os.cpu_count()} CPUs, "
    f"load average {load}"
  )
  runs = [(source, where)]
  if FLAGS.tfds_name:
    runs.append(("tfds", f"tfds {FLAGS.tfds_name}"))
  for src, label in runs:
    for workers in FLAGS.workers:
      rate = train_rate(src, workers)
      shown = f"auto={pipeline.resolve_worker_count('auto')}" if workers == "auto" else workers
      print(f"  train  {src:6s} workers={shown}: {rate:8.1f} images/s  ({label})")
    rate, n = eval_rate(src)
    print(f"  eval   {src:6s} {FLAGS.eval_split} pass: {rate:8.1f} images/s  ({n} images)")
  rate, platform = augment_rate()
  print(f"  augment on the device ({platform}, inside the train step): {rate:8.1f} images/s")


if __name__ == "__main__":
  app.run(main)
