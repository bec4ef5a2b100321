"""Issue 23: SIGTERM and Ctrl-C end a training run with a checkpoint of its current step, release
the workdir and say in one line how to resume; the relaunch ends where an uninterrupted run does.

Signals are sent to launch.py in a subprocess. To make the interrupted step deterministic, the
subprocess (`_PAUSING`) waits after logging step 4 until the signal has been handled; the loop
then runs step 5, mid-epoch (3 steps an epoch), and stops there.
"""

import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT, checkpoint_steps, epoch_records, restored_state, step_losses, xla_flags

from colorize_jax.train import preemption

pytestmark = pytest.mark.slow

OVERRIDES = [
  "--config.num_epochs=3",  # 9 steps.
  "--config.early_stopping.enabled=false",
  "--config.early_stopping.restore_best=false",
]
PAUSE_AT = 4

# launch.py, paused after logging step PAUSE_AT until it has handled SIGNALS signals; prints
# "paused" and "handled N" on stdout (the logs go to stderr).
_PAUSING = """
import os, runpy, sys, time
from colorize_jax.train import hooks, preemption
handled = []
handle = preemption.StopSignals._handle
def noting(self, signum, frame):
  handle(self, signum, frame)
  handled.append(signum)
  print("handled", len(handled), flush=True)
preemption.StopSignals._handle = noting
log = hooks.StepLog.__call__
def pausing(self, step, pending, epoch):
  out = log(self, step, pending, epoch)
  if step == int(os.environ["PAUSE_AT"]):
    print("paused", flush=True)
    deadline = time.time() + 120
    while len(handled) < int(os.environ["SIGNALS"]) and time.time() < deadline:
      time.sleep(0.02)
  return out
hooks.StepLog.__call__ = pausing
sys.argv[0] = "launch.py"
runpy.run_path("launch.py", run_name="__main__")
"""


def _env(**extra):
  return os.environ | {
    "XLA_FLAGS": xla_flags(8),
    "JAX_PLATFORMS": "cpu",
    **extra,
  }


def _args(workdir):
  return ["--config=configs/unet.py:smoke", f"--workdir={workdir}", *OVERRIDES]


def _launch(args, timeout=300):
  return subprocess.run(
    [sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout
  )


def _wait_for(process, line: str) -> bool:
  """Reads the process's stdout up to `line` (other lines: e.g. Gloo's connection notes)."""
  for out in process.stdout:
    if out.strip() == line:
      return True
  return False


def _interrupt(workdir, signals: list[int], tmp_path, pause_at=PAUSE_AT) -> tuple[int, str]:
  """Runs launch.py until it pauses after logging step `pause_at`, sends `signals` one after
  the other (each once the previous one was handled); returns (exit code, stderr)."""
  log = tmp_path / f"{os.path.basename(workdir)}.stderr"
  with open(log, "w") as stderr:
    process = subprocess.Popen(
      [sys.executable, "-c", _PAUSING, *_args(workdir)],
      cwd=ROOT,
      env=_env(PAUSE_AT=str(pause_at), SIGNALS=str(len(signals))),
      stdout=subprocess.PIPE,
      stderr=stderr,
      text=True,
    )
    try:
      assert _wait_for(process, "paused"), log.read_text()[-3000:]
      for i, sig in enumerate(signals, 1):
        process.send_signal(sig)
        if i < len(signals):
          assert _wait_for(process, f"handled {i}")
      code = process.wait(timeout=240)
    finally:
      process.kill()
      process.wait()
  return code, log.read_text()


@pytest.fixture(scope="module", name="reference")
def reference_fixture(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("reference") / "run")
  done = _launch(["launch.py", *_args(workdir)])
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_current_step_and_the_relaunch_equals_an_uninterrupted_run(
  reference, tmp_path, sig
):
  workdir = str(tmp_path / "run")
  code, stderr = _interrupt(workdir, [sig], tmp_path)
  assert code == preemption.EXIT_CODE, stderr[-3000:]
  saved = PAUSE_AT + 1  # The step that was running finishes and is saved, mid-epoch.
  assert checkpoint_steps(workdir) == [3, saved]
  # The same command, with --workdir (already explicit here).
  resume = shlex.join([os.path.basename(sys.executable), "launch.py", *_args(workdir)])
  assert stderr.splitlines()[-1] == (
    f"stopped by {sig.name}: saved step {saved} (epoch 2, step 2 of 3, with the data position) "
    f"to {workdir}/checkpoints/{saved}; resume with: {resume}"
  )
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
  assert (tmp_path / "run" / "run.lock").read_text() == ""  # Released, naming nobody.
  assert not os.path.exists(os.path.join(workdir, "final_metrics.json"))

  resumed = _launch(shlex.split(resume)[1:])  # The printed command, with this interpreter.
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"resuming at step {saved}" in resumed.stderr
  assert checkpoint_steps(workdir)[-1] == checkpoint_steps(reference)[-1] == 9
  for a, b in zip(
    jax.tree.leaves(restored_state(reference, 9)), jax.tree.leaves(restored_state(workdir, 9))
  ):
    np.testing.assert_array_equal(a, b)
  assert step_losses(workdir) == step_losses(reference)
  assert epoch_records(workdir) == epoch_records(reference)
  final = [
    json.loads(pathlib.Path(d, "final_metrics.json").read_text()) for d in (reference, workdir)
  ]
  assert final[0]["val"] == final[1]["val"] and final[0]["test"] == final[1]["test"]


def test_a_signal_during_the_epoch_end_stops_with_that_epochs_checkpoint(tmp_path):
  """Step 3 ends epoch 1: the signal comes after its step was checked, before its evaluation
  and save; the run stops once they are done, without a step 4."""
  workdir = str(tmp_path / "run")
  code, stderr = _interrupt(workdir, [signal.SIGTERM], tmp_path, pause_at=3)
  assert code == preemption.EXIT_CODE, stderr[-3000:]
  assert stderr.splitlines()[-1].startswith(
    f"stopped by SIGTERM: saved step 3 (end of epoch 1) to {workdir}/checkpoints/3; resume with: "
  )
  assert checkpoint_steps(workdir) == [3]
  assert max(step_losses(workdir)) == 3


def test_a_second_ctrl_c_exits_at_once_without_saving(tmp_path):
  workdir = str(tmp_path / "run")
  code, stderr = _interrupt(workdir, [signal.SIGINT, signal.SIGINT], tmp_path)
  assert code == preemption.ABORT_EXIT_CODE, stderr[-3000:]
  assert stderr.splitlines()[-1] == (
    "interrupted twice: exited at once without saving; relaunching resumes from step 3 "
    f"({workdir}/checkpoints/3)"
  )
  assert checkpoint_steps(workdir) == [3]  # Nothing after the pause's step was saved.
  assert (tmp_path / "run" / "run.lock").read_text() == ""


def test_processes_of_a_multi_process_run_agree_on_the_step_they_save(tmp_path):
  """Ctrl-C on process 1 only: it goes to JAX's preemption service (as a SIGTERM), which makes
  both processes stop after the same step; process 0 prints the line."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  workdir = str(tmp_path / "run")
  args = [
    *_args(workdir),
    f"--coordinator_address=127.0.0.1:{port}",
    "--num_processes=2",
  ]
  env = {"XLA_FLAGS": xla_flags(4), "SIGNALS": "1"}
  logs = [tmp_path / f"process_{i}.stderr" for i in range(2)]
  processes = []
  for i in range(2):
    with open(logs[i], "w") as stderr:
      processes.append(
        subprocess.Popen(
          [sys.executable, "-c", _PAUSING, *args, f"--process_id={i}"],
          cwd=ROOT,
          env=_env(**env, PAUSE_AT=str(PAUSE_AT if i == 1 else -1)),
          stdout=subprocess.PIPE,
          stderr=stderr,
          text=True,
        )
      )
  try:
    assert _wait_for(processes[1], "paused"), logs[1].read_text()[-3000:]
    processes[1].send_signal(signal.SIGINT)
    codes = [p.wait(timeout=300) for p in processes]
  finally:
    for p in processes:
      p.kill()
      p.wait()
  stderr = [log.read_text() for log in logs]
  assert codes == [preemption.EXIT_CODE] * 2, stderr[0][-2000:] + stderr[1][-2000:]
  line = stderr[0].splitlines()[-1]
  saved = int(line.split("saved step ")[1].split(" ")[0])
  assert line.startswith(f"stopped by SIGTERM: saved step {saved} (") and saved > PAUSE_AT, line
  assert f"to {workdir}/checkpoints/{saved}; resume with: " in line
  for text in stderr:  # Each process stopped after that very step.
    assert f"after step {saved}: checkpoint {workdir}/checkpoints/{saved} written" in text
  assert "resume with:" not in stderr[1]  # The one line comes from process 0.
  assert checkpoint_steps(workdir)[-1] == saved
  assert (tmp_path / "run" / "run.lock").read_text() == ""
