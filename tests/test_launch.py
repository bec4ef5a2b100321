"""launch.py end to end in subprocesses: outputs, exact resume after SIGKILL, errors."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, epoch_records, restored_state, step_losses, xla_flags

pytestmark = pytest.mark.slow

RESUMABLE = [
  "--config.num_epochs=4",
  "--config.checkpoint.every_steps=1",
  "--config.early_stopping.enabled=false",
  "--config.early_stopping.restore_best=false",
]


def _env():
  return os.environ | {
    "XLA_FLAGS": xla_flags(8),
    "JAX_PLATFORMS": "cpu",
  }


def _launch_args(workdir, *overrides):
  return [
    sys.executable,
    "launch.py",
    "--config=configs/unet.py:smoke",
    f"--workdir={workdir}",
    *overrides,
  ]


def _run(workdir, *overrides, timeout=300):
  return subprocess.run(
    _launch_args(workdir, *overrides),
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def _complete_steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  return (
    sorted(int(d) for d in os.listdir(directory) if d.isdigit()) if os.path.isdir(directory) else []
  )


def test_sigkill_mid_training_then_relaunch_equals_an_uninterrupted_run(tmp_path):
  reference, killed = str(tmp_path / "reference"), str(tmp_path / "killed")
  done = _run(reference, *RESUMABLE)
  assert done.returncode == 0, done.stderr[-3000:]

  process = subprocess.Popen(
    _launch_args(killed, *RESUMABLE),
    cwd=ROOT,
    env=_env(),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
  )
  deadline = time.time() + 240
  while time.time() < deadline and not any(s >= 5 for s in _complete_steps(killed)):
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  interrupted_at = max(_complete_steps(killed))
  assert 5 <= interrupted_at < 12, "the run should have been killed mid-training"

  resumed = _run(killed, *RESUMABLE)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  # A killed run's last finalised checkpoint is the one it resumes from.
  assert f"resuming at step {interrupted_at}" in resumed.stderr

  final = max(_complete_steps(reference))
  assert final == max(_complete_steps(killed)) == 12
  a, b = restored_state(reference, final), restored_state(killed, final)
  for x, y in zip(__import__("jax").tree.leaves(a), __import__("jax").tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  # Same batches and randomness at every step: identical loss trajectories.
  assert step_losses(reference) == step_losses(killed)
  # The epoch the kill cut in two reports the mean of all its steps, as the uninterrupted run does.
  assert epoch_records(reference) == epoch_records(killed)


def test_main_command_writes_its_outputs_and_says_where(tmp_path):
  done = _run(str(tmp_path), "--config.num_epochs=1", "--config.loss=l1")
  assert done.returncode == 0, done.stderr[-3000:]
  assert "loss/l1" in (tmp_path / "metrics.jsonl").read_text()
  assert f"sample grid: {tmp_path}/samples/final.png" in done.stderr
  assert f"loss plot:   {tmp_path}/plots/loss.png" in done.stderr
  assert "parameters: model" in done.stderr and "8 device(s)" in done.stderr


@pytest.mark.parametrize(
  "override, message",
  [
    ("--config.model.name=resnet", "unknown model 'resnet'; valid model names:"),
    (
      "--config.loss=mse:1,perceptual:1",
      "unknown pixel_loss 'perceptual'; valid pixel_loss names:",
    ),
    ("--config.data.source=folder", "data.path"),
  ],
)
def test_bad_names_fail_fast_with_the_valid_ones(tmp_path, override, message):
  done = _run(str(tmp_path), override, timeout=120)
  assert done.returncode != 0
  assert message in done.stderr
  assert "Traceback" not in done.stderr


def test_unknown_config_key_is_rejected(tmp_path):
  done = _run(str(tmp_path), "--config.modle.name=unet", timeout=120)
  assert done.returncode != 0 and "modle" in done.stderr


def test_a_missing_eval_folder_fails_before_training_in_one_line(tmp_path):
  done = _run(str(tmp_path / "run"), f"--eval_folder=kodak24={tmp_path}/nowhere", timeout=120)
  assert done.returncode == 1
  assert f"error: evals.kodak24.path='{tmp_path}/nowhere' is not a folder" in done.stderr
  assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def _error_lines(stderr: str) -> list[str]:
  """Lines of stderr that report an error: ours ('error: ...'), absl's E/F lines, tracebacks."""
  return [
    line
    for line in stderr.splitlines()
    if line.startswith(("error:", "Traceback")) or (line[:1] in "EF" and line[1:5].isdigit())
  ]


@pytest.mark.parametrize("checkpoints_folder", [False, True])
def test_eval_without_checkpoints_prints_exactly_one_error_line(tmp_path, checkpoints_folder):
  """Issue 23: an empty checkpoints/ used to end with a stray Orbax line after the error (its
  clean-up thread, started when the manager opened, ran into interpreter shutdown)."""
  from conftest import load_config

  from colorize_jax.train import resume_guard

  workdir = tmp_path / "run"
  (workdir / "checkpoints").mkdir(parents=True) if checkpoints_folder else workdir.mkdir()
  config = resume_guard.resolved_json(load_config("unet", "smoke"))
  (workdir / "config.json").write_text(__import__("json").dumps(config))
  done = _run(str(workdir), "--mode=eval", timeout=120)
  assert done.returncode == 1
  expected = (
    f"error: no checkpoints in {workdir}/checkpoints: train there first"
    if checkpoints_folder
    else f"error: no checkpoints folder in {workdir}: train there first"
  )
  lines = _error_lines(done.stderr)
  assert len(lines) == 1 and lines[0].startswith(expected), done.stderr[-3000:]
