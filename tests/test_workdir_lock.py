"""The workdir lock: a second process is refused, naming the holder; a dead holder's lock is
taken over."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from colorize_jax.train import workdir_lock

_HOLD = (
  "import sys, time\n"
  "from colorize_jax.train import workdir_lock\n"
  "workdir_lock.WorkdirLock(sys.argv[1]).acquire()\n"
  "print('locked', flush=True)\n"
  "time.sleep(120)\n"
)


def _holder(workdir):
  process = subprocess.Popen(
    [sys.executable, "-c", _HOLD, str(workdir)], stdout=subprocess.PIPE, text=True
  )
  assert process.stdout.readline().strip() == "locked"
  return process


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
  process = _holder(tmp_path)
  try:
    with pytest.raises(
      workdir_lock.WorkdirLockedError,
      match=rf"in use by PID {process.pid} on host {socket.gethostname()}.*--workdir",
    ):
      workdir_lock.WorkdirLock(str(tmp_path)).acquire()
  finally:
    process.kill()
    process.wait()


def test_the_lock_of_a_killed_process_is_taken_over_with_a_log_line(tmp_path, caplog):
  process = _holder(tmp_path)
  process.send_signal(signal.SIGKILL)
  process.wait()
  lock = workdir_lock.WorkdirLock(str(tmp_path))
  with caplog.at_level("WARNING"):
    lock.acquire()
  assert f"stale lock of PID {process.pid}" in caplog.text and "no longer running" in caplog.text
  assert json.loads((tmp_path / workdir_lock.LOCK_FILE).read_text())["pid"] == os.getpid()
  lock.release()
  assert (
    tmp_path / workdir_lock.LOCK_FILE
  ).read_text() == ""  # A clean release leaves nothing stale.


def test_hold_releases_on_error_and_is_a_no_op_when_disabled(tmp_path):
  with pytest.raises(KeyError):
    with workdir_lock.hold(str(tmp_path)):
      raise KeyError("boom")
  assert (tmp_path / workdir_lock.LOCK_FILE).read_text() == ""
  with workdir_lock.hold(str(tmp_path / "other"), enabled=False):
    assert not (tmp_path / "other").exists()
