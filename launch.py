"""Train or evaluate a colorization model.

  python launch.py --config=configs/pix2pix.py:short           # trains into runs/pix2pix-short
  python launch.py --config=configs/unet.py:smoke --workdir=/tmp/smoke --config.loss=l1
  python launch.py --config=configs/pix2pix.py --profile_steps=10,12   # trace steps 10-12
  python launch.py --config=configs/unet.py --mode=eval \
      [--config.eval.checkpoint=best|last|STEP] [--config.eval.split=test] \
      [--config.eval.path=PHOTOS]
  python launch.py --config=configs/unet.py --eval_folder=kodak24=PHOTOS  # also scores PHOTOS
  python launch.py --list                                      # every recipe and its variants
  python launch.py --list --config=configs/pix2pix.py          # that recipe's docstring

--workdir defaults to runs/<config name>[-<variant>]. Relaunching the same
command resumes from the workdir's last checkpoint; a changed config that
would change what is learned is refused unless --allow_config_change, a
changed data file list unless --allow_data_change.
One training process per workdir (a lock in WORKDIR/run.lock). SIGTERM or
Ctrl-C stops training after a checkpoint of the current step (exit code 75).
"""

from __future__ import annotations

import os
import re
import shlex
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from colorize_jax.config import recipes

config_flags.DEFINE_config_file(
  "config", None, "Config file, optionally with a variant: configs/unet.py:smoke."
)
flags.DEFINE_string(
  "workdir",
  None,
  "Directory for checkpoints, logs, samples and plots (default: runs/<config name>[-<variant>]).",
)
flags.DEFINE_enum(
  "mode",
  "train",
  ["train", "eval"],
  "train: train (resuming from the workdir); eval: score a checkpoint (config.eval) of the "
  "run as its config.json trained it (only config.eval comes from the command line).",
)
flags.DEFINE_multi_string(
  "eval_folder",
  [],
  "NAME=PATH[,every_epochs=N][,max_examples=M]: score every image of the folder PATH as "
  "evaluator NAME (config.evals.NAME, recorded in config.json): in training every N epochs "
  "(default 1) and at the end, as NAME/<metric> and eval/NAME.json; with --mode=eval, instead "
  "of config.eval's split or path. Repeatable.",
)
flags.DEFINE_bool(
  "list",
  False,
  "Print every recipe in configs/ with its variants and exit; "
  "with --config, print that recipe's docstring.",
)
flags.DEFINE_bool(
  "allow_config_change",
  False,
  "Resume a run with a config that changes what is "
  "learned (the old config is kept as config.<step>.json; 'best' restarts).",
)
flags.DEFINE_bool(
  "allow_data_change",
  False,
  "Resume a run whose data changed since its checkpoint (files added to or removed from "
  "data.path): it continues on the new list, the epoch in progress starting again on it.",
)
flags.DEFINE_string(
  "coordinator_address",
  "",
  "Multi-process runs: HOST:PORT of process 0 "
  "(auto-detected on TPU pods, SLURM, or from JAX_COORDINATOR_ADDRESS).",
)
flags.DEFINE_integer("num_processes", 0, "Multi-process runs: the number of processes.")
flags.DEFINE_integer("process_id", -1, "Multi-process runs: this process's index.")
flags.DEFINE_string(
  "profile_steps",
  "",
  "N,M: write a jax.profiler trace of training steps N to M "
  "(1-based) into WORKDIR/tensorboard, for TensorBoard's Profile tab or Perfetto.",
)
flags.DEFINE_bool(
  "traceback", False, "Show the full traceback of an error instead of its one line."
)
flags.DEFINE_string(
  "compilation_cache",
  os.environ.get("COLORIZE_JAX_COMPILATION_CACHE", "auto"),
  "Directory of the persistent XLA compilation cache, so a relaunch reads its compiled steps "
  "back (colorize_jax/runtime/compile_cache.py); auto: ~/.cache/colorize_jax/xla; none: off. "
  "Default from $COLORIZE_JAX_COMPILATION_CACHE.",
)

FLAGS = flags.FLAGS


def _fail(message: str, code: int = 1, prefix: str = "error: "):
  if message:
    sys.stderr.write(f"{prefix}{message}\n")
  jax = sys.modules.get("jax")
  if jax is not None and jax.process_count() > 1:
    # Every process of the run leaves together through the coordinator's shutdown barrier,
    # then skips the interpreter's final clean-up: tearing down the collectives after a
    # peer has gone could hang there for minutes.
    sys.stderr.flush()
    sys.stdout.flush()
    jax.distributed.shutdown()
    os._exit(code)
  sys.exit(code)


def _resume_command(workdir: str) -> str:
  """This command, with --workdir made explicit: what relaunches a stopped run."""
  args = sys.argv[1:]
  if not any(a == "--workdir" or a.startswith("--workdir=") for a in args):
    args.append(f"--workdir={os.path.abspath(workdir)}")
  return shlex.join([os.path.basename(sys.executable), sys.argv[0], *args])


def _flag_error(error: Exception, argv: list[str]) -> str:
  """One line for a config file, variant or --config.x error (their messages embed tracebacks)."""
  config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
  path, _ = recipes.split_arg(config_arg)
  if config_arg and not os.path.isfile(path):
    return (
      f"config file {path!r} not found (from {os.getcwd()}); "
      "python launch.py --list shows the recipes in configs/"
    )
  lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [
    type(error).__name__
  ]
  if isinstance(
    error, (AttributeError, KeyError)
  ):  # A misspelt --config.x: "'x'", "Did you mean ...".
    key = re.search(r"'([\w.]+)", str(error))
    key = key.group(1) if key else lines[0]
    flag = next((a.split("=", 1)[0] for a in argv if a.startswith("--config.") and key in a), key)
    guess = re.search(r'Did you mean "([^"]+)"', str(error))
    return f"{flag}: no such config field" + (
      f"; did you mean {guess.group(1)!r}?" if guess else ""
    )
  last = lines[-1]
  for prefix in ("ValueError: ", "TypeError: ", "KeyError: "):
    last = last.removeprefix(prefix)
  return last


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    rest = FLAGS(argv)
    if FLAGS.config is not None:
      FLAGS.config.get("task")  # A config file that failed to load raises only when first read.
  except Exception as e:  # pylint: disable=broad-except  (flags, config files and their overrides)
    if "--traceback" in argv:
      raise
    _fail(_flag_error(e, argv), code=2)
  return rest


def _list() -> None:
  if FLAGS["mode"].present:
    _fail("--list prints the recipes and exits; it does not combine with --mode", code=2)
  if FLAGS.config is not None:
    path, _ = recipes.split_arg(config_flags.get_config_filename(FLAGS["config"]))
    print(recipes.recipe(path).doc.strip())
  else:
    print(recipes.listing(recipes.all_recipes()))


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {argv[1:]} (flags are written --name=value)", code=2)
  if FLAGS.list:
    return _list()
  if FLAGS.config is None:
    _fail(
      "--config is required, e.g. --config=configs/pix2pix.py:short "
      "(python launch.py --list shows every recipe)",
      code=2,
    )
  workdir = FLAGS.workdir or recipes.default_workdir(
    config_flags.get_config_filename(FLAGS["config"])
  )
  logging.info("workdir: %s", os.path.abspath(workdir))
  import jax  # After flag parsing, so --help and --list are fast.

  from colorize_jax.runtime import compile_cache, logs, parallel

  logs.quiet_libraries()
  cache = compile_cache.enable(FLAGS.compilation_cache)  # Before anything compiles.
  # Before any other import of ours: nothing may touch a device before this.
  parallel.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  from colorize_jax import evaluate, registry
  from colorize_jax.evaluators import specs
  from colorize_jax.runtime import xla_options
  from colorize_jax.train import checkpoint, preemption, profiling, trainer, workdir_lock

  logging.info(
    "JAX %s on %s: %d device(s) (%d local), process %d of %d",
    jax.__version__,
    jax.default_backend(),
    jax.device_count(),
    jax.local_device_count(),
    jax.process_index(),
    jax.process_count(),
  )
  try:
    folder_evals = specs.add_folders(FLAGS.config, FLAGS.eval_folder)
    logging.info("config:\n%s", FLAGS.config)
    profile_steps = profiling.parse_steps(FLAGS.profile_steps)
    if profile_steps and FLAGS.mode != "train":
      raise ValueError(
        f"--profile_steps traces training steps; it needs --mode=train, not {FLAGS.mode}"
      )
    if FLAGS.mode == "train":
      trainer.train_and_evaluate(
        FLAGS.config,
        workdir,
        allow_config_change=FLAGS.allow_config_change,
        allow_data_change=FLAGS.allow_data_change,
        profile_steps=profile_steps,
      )
    else:
      # Test-time switches (the decoding temperature, pix2pix's test-time mode) only where the
      # command line sets them: otherwise the run's own, not the config file's default.
      overridden = set(config_flags.get_override_values(FLAGS["config"]))
      evaluate.evaluate_run(FLAGS.config, workdir, folder_evals or None, test_time=overridden)
    if cache:
      logging.info("%s", cache.summary())
  except preemption.Stopped as e:  # SIGTERM or Ctrl-C: the step is saved, the workdir released.
    line = e.line(_resume_command(workdir)) if jax.process_index() == 0 else ""
    _fail(line, code=preemption.EXIT_CODE, prefix="")
  except (
    ValueError,
    OSError,
    registry.UnknownNameError,
    trainer.NonFiniteLossError,
    workdir_lock.WorkdirLockedError,
    parallel.PeerFailedError,
    checkpoint.CheckpointError,
    xla_options.DeviceOutOfMemoryError,
  ) as e:
    if FLAGS.traceback:
      raise
    _fail(str(e))


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
