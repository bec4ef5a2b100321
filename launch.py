"""Train (and, later, evaluate) a colorization model.

  python launch.py --config=configs/unet.py --workdir=runs/unet
  python launch.py --config=configs/unet.py:smoke --workdir=/tmp/smoke --config.loss=l1

Relaunching the same command resumes from the workdir's last checkpoint.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file, optionally with a variant: configs/unet.py:smoke.")
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs, samples and plots.")
flags.DEFINE_enum("mode", "train", ["train"], "What to do.")
flags.DEFINE_bool("traceback", False, "Show the full traceback of a configuration error.")
flags.mark_flags_as_required(["config", "workdir"])

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax  # After flag parsing, so --help is fast.

  from colorize_jax import logs, registry, train

  logs.quiet_libraries()
  logging.info("JAX %s on %s: %d device(s) (%d local), process %d of %d", jax.__version__,
               jax.default_backend(), jax.device_count(), jax.local_device_count(),
               jax.process_index(), jax.process_count())
  logging.info("config:\n%s", FLAGS.config)
  try:
    if FLAGS.mode == "train":
      train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (ValueError, FileNotFoundError, registry.UnknownNameError, train.NonFiniteLossError) as e:
    if FLAGS.traceback:
      raise
    logging.error("%s: %s", type(e).__name__, e)
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
