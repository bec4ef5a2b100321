"""Train or evaluate a colorization model.

  python launch.py --config=configs/unet.py --workdir=runs/unet
  python launch.py --config=configs/unet.py:smoke --workdir=/tmp/smoke --config.loss=l1
  python launch.py --config=configs/pix2pix.py --workdir=runs/p2p --profile_steps=10,12
  python launch.py --config=configs/unet.py --workdir=runs/unet --mode=eval \
      [--config.eval.checkpoint=best|last|STEP] [--config.eval.split=test] [--config.eval.path=PHOTOS]

Relaunching the same command resumes from the workdir's last checkpoint.
"""

from __future__ import annotations

import functools
import sys

from absl import app, flags, logging
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file, optionally with a variant: configs/unet.py:smoke.")
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs, samples and plots.")
flags.DEFINE_enum("mode", "train", ["train", "eval"],
                  "train: train (resuming from the workdir); eval: score a checkpoint (config.eval).")
flags.DEFINE_string("coordinator_address", "", "Multi-process runs: HOST:PORT of process 0 "
                    "(auto-detected on TPU pods, SLURM, or from JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", 0, "Multi-process runs: the number of processes.")
flags.DEFINE_integer("process_id", -1, "Multi-process runs: this process's index.")
flags.DEFINE_string("profile_steps", "", "N,M: write a jax.profiler trace of training steps N to M "
                    "(1-based) into WORKDIR/tensorboard, for TensorBoard's Profile tab or Perfetto.")
flags.DEFINE_bool("traceback", False, "Show the full traceback of a configuration error.")
flags.mark_flags_as_required(["config", "workdir"])

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax  # After flag parsing, so --help is fast.

  from colorize_jax import logs, parallel

  logs.quiet_libraries()
  # Before any other import of ours: nothing may touch a device before this.
  parallel.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  from colorize_jax import evaluate, profiling, registry, train, xla_options
  logging.info("JAX %s on %s: %d device(s) (%d local), process %d of %d", jax.__version__,
               jax.default_backend(), jax.device_count(), jax.local_device_count(),
               jax.process_index(), jax.process_count())
  logging.info("config:\n%s", FLAGS.config)
  try:
    profile_steps = profiling.parse_steps(FLAGS.profile_steps)
    if profile_steps and FLAGS.mode != "train":
      raise ValueError(f"--profile_steps traces training steps; it needs --mode=train, not {FLAGS.mode}")
    modes = {"train": functools.partial(train.train_and_evaluate, profile_steps=profile_steps),
             "eval": evaluate.evaluate_run}
    modes[FLAGS.mode](FLAGS.config, FLAGS.workdir)
  except (ValueError, FileNotFoundError, registry.UnknownNameError, train.NonFiniteLossError,
          xla_options.DeviceOutOfMemoryError) as e:
    if FLAGS.traceback:
      raise
    logging.error("%s: %s", type(e).__name__, e)
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main)
