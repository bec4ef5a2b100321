"""Writes a self-contained inference bundle from a trained run.

  python -m colorize_jax.export --workdir=runs/unet --output=bundles/unet [--checkpoint=best]
  # From the run a config names (here runs/pix2pix-short):
  python -m colorize_jax.export --config=configs/pix2pix.py:short --output=bundles/p2p
  python -m colorize_jax.colorize --bundle=bundles/unet photos/ --output=out/

The bundle holds the run's resolved config (JSON) and the generator's
inference variables only (Orbax StandardCheckpointer): no optimizer state,
no discriminator, no data iterator. See colorize_jax/inference.py for the layout.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "The trained run's workdir.")
  flags.DEFINE_string(
    "config",
    None,
    "Instead of --workdir: the config launch.py trained with its default "
    "workdir, e.g. configs/pix2pix.py:short for runs/pix2pix-short.",
  )
  flags.DEFINE_string("output", None, "Bundle folder to create.")
  flags.DEFINE_string("checkpoint", "best", "best, last or a step number.")
  flags.mark_flags_as_required(["output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from colorize_jax import inference
  from colorize_jax.config import recipes
  from colorize_jax.runtime import logs

  if bool(FLAGS.workdir) == bool(FLAGS.config):
    raise app.UsageError("give one of --workdir or --config")
  logs.quiet_libraries()
  try:
    workdir = FLAGS.workdir or recipes.default_workdir(FLAGS.config)
    colorizer = inference.from_workdir(workdir, FLAGS.checkpoint)
    path = inference.write_bundle(colorizer, FLAGS.output)
  except (ValueError, FileNotFoundError, FileExistsError) as e:
    sys.exit(f"error: {e}")
  logging.info(
    "exported step %s of %s (%s, %dx%d, %s) to %s",
    colorizer.step,
    colorizer.source,
    colorizer.config.model.name,
    colorizer.image_size,
    colorizer.image_size,
    colorizer.color_space.name,
    path,
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
