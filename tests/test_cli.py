"""The command line as users write it: default workdir, --list, one-line errors, the lock."""

import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import ROOT, xla_flags
from test_workdir_lock import _holder

from colorize_jax import colorize
from colorize_jax.config import recipes
from colorize_jax.runtime import logs

CONFIGS = ROOT / "configs"


def _env():
  return os.environ | {
    "XLA_FLAGS": xla_flags(8),
    "JAX_PLATFORMS": "cpu",
  }


def _launch(*args, cwd=ROOT, timeout=300):
  return subprocess.run(
    [sys.executable, str(ROOT / "launch.py"), *args],
    cwd=cwd,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def _error_line(done):
  """The stderr of a failed launch is one `error:` line (after log lines, if any)."""
  assert done.returncode != 0
  assert "Traceback" not in done.stderr
  errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, done.stderr[-3000:]
  return errors[0]


@pytest.mark.parametrize(
  "args, message",
  [
    (
      ["--config=configs/unet.py:nope"],
      "error: configs/unet.py: unknown variant 'nope'; valid variants:",
    ),
    (["--config=configs/nope.py"], "error: config file 'configs/nope.py' not found"),
    (
      ["--config=configs/unet.py:smoke", "--config.num_epoch=3"],
      "error: --config.num_epoch: no such config field; did you mean 'num_epochs'?",
    ),
    (
      ["--list", "--mode=eval"],
      "error: --list prints the recipes and exits; it does not combine with --mode",
    ),
    ([], "error: --config is required"),
  ],
)
def test_flag_and_config_file_errors_are_one_line(args, message):
  done = _launch(*args, timeout=60)
  assert _error_line(done).startswith(message)
  assert len(done.stderr.strip().splitlines()) == 1


def test_traceback_flag_shows_the_full_error():
  done = _launch("--config=configs/unet.py:nope", "--traceback", timeout=60)
  assert done.returncode != 0 and "Traceback" in done.stderr


def test_list_names_every_config_and_its_variants():
  done = _launch("--list", timeout=60)
  assert done.returncode == 0, done.stderr
  lines = {line.split()[0]: line for line in done.stdout.splitlines()}
  files = sorted(path.stem for path in CONFIGS.glob("*.py"))
  assert sorted(lines) == files
  for name in files:
    module = recipes.load_module(str(CONFIGS / f"{name}.py"))
    assert {f":{v}" for v in module.VARIANTS if v} <= set(lines[name].split())
    assert module.__doc__.strip().splitlines()[0] in lines[name]


def test_list_with_a_config_prints_its_docstring():
  done = _launch("--list", "--config=configs/pix2pix.py:short", timeout=60)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == recipes.load_module(str(CONFIGS / "pix2pix.py")).__doc__.strip()


def test_default_workdir_names():
  assert recipes.default_workdir("configs/pix2pix.py") == os.path.join("runs", "pix2pix")
  assert recipes.default_workdir("configs/pix2pix.py:256") == os.path.join("runs", "pix2pix-256")


@pytest.mark.slow
def test_the_bare_command_trains_resumes_evaluates_and_guards_its_default_workdir(tmp_path):
  config = f"--config={CONFIGS / 'unet.py'}:smoke"
  workdir = tmp_path / "runs" / "unet-smoke"
  first = _launch(config, "--config.num_epochs=1", cwd=tmp_path)
  assert first.returncode == 0, first.stderr[-3000:]
  assert f"workdir: {workdir}" in first.stderr.splitlines()[0]
  assert (workdir / "final_metrics.json").exists()

  again = _launch(config, "--config.num_epochs=2", cwd=tmp_path)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "resuming at step 3" in again.stderr
  assert json.loads((workdir / "final_metrics.json").read_text())["epochs"] == 2

  evaluated = _launch(config, "--mode=eval", cwd=tmp_path)
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  assert (workdir / "eval" / "test.json").exists()

  # Another recipe whose default workdir is the same (here: the same file with another loss).
  other = _launch(config, "--config.num_epochs=2", "--config.loss=l1", cwd=tmp_path)
  line = _error_line(other)
  assert f"workdir {workdir} holds a run with a different config" in line
  assert "loss: 'mse' -> 'l1'" in other.stderr and "its own --workdir" in other.stderr


@pytest.mark.slow
def test_a_locked_workdir_and_a_file_as_workdir_fail_in_one_line(tmp_path):
  (tmp_path / "run").mkdir()
  holder = _holder(tmp_path / "run")
  try:
    done = _launch("--config=configs/unet.py:smoke", f"--workdir={tmp_path / 'run'}")
  finally:
    holder.kill()
    holder.wait()
  assert f"is in use by PID {holder.pid}" in _error_line(done)
  assert not (tmp_path / "run" / "checkpoints").exists()

  (tmp_path / "file").write_text("")
  done = _launch("--config=configs/unet.py:smoke", f"--workdir={tmp_path / 'file'}")
  assert _error_line(done) == (
    f"error: workdir {tmp_path / 'file'} is a file, not a folder; give another --workdir"
  )


def test_colorize_with_no_images_exits_1(tmp_path):
  (tmp_path / "empty").mkdir()
  done = subprocess.run(
    [
      sys.executable,
      "-m",
      "colorize_jax.colorize",
      "--workdir=nowhere",
      f"--output={tmp_path / 'out'}",
      str(tmp_path / "empty"),
    ],
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert done.returncode == 1 and "error: no image files in" in done.stderr


def test_colorize_names_a_symlink_loop_as_one(tmp_path):
  os.symlink(tmp_path / "loop", tmp_path / "loop")
  os.symlink(tmp_path / "gone", tmp_path / "dangling")
  found, missing = colorize.expand_inputs([str(tmp_path / "loop"), str(tmp_path / "dangling")])
  assert not found
  assert missing == [
    (
      str(tmp_path / "loop"),
      "symbolic link that cannot be followed (Too many levels of symbolic links)",
    ),
    (
      str(tmp_path / "dangling"),
      "symbolic link that cannot be followed (No such file or directory)",
    ),
  ]


def test_library_tracebacks_become_one_line():
  record = logging.LogRecord(
    "absl",
    logging.ERROR,
    "/site-packages/orbax/checkpoint/future.py",
    1,
    "save failed: %s\nmore",
    ("RESOURCE_EXHAUSTED",),
    (ValueError, ValueError(), None),
  )
  assert logs._QuietLibraries().filter(record)
  assert (record.getMessage(), record.exc_info) == ("save failed: RESOURCE_EXHAUSTED", None)
  assert logs._is_callback_noise(RuntimeError, RuntimeError("Event loop is closed"))
  assert not logs._is_callback_noise(RuntimeError, RuntimeError("something else"))
