"""bench/accelerator_check.sh --quick: the accelerator check's code paths on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_quick_check_passes_and_prints_one_table():
  env = os.environ | {
    "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
    "JAX_PLATFORMS": "cpu",
    "PYTHON": sys.executable,
  }
  done = subprocess.run(
    ["bash", "bench/accelerator_check.sh", "--quick", "--no_torch"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
  assert table[0].startswith("| section | what |")
  checks = [line for line in table if line.startswith("| check |")]
  assert len(checks) == 2 and all("PASS" in line for line in checks)  # 1 vs 8 devices, each task.
  trains = [line for line in table if line.startswith("| train |")]
  assert {"float32", "bfloat16"} <= {line.split(" | ")[2] for line in trains}
  assert all(float(line.split(" | ")[4]) > 0 for line in trains)  # images/s
  assert any(line.startswith("| infer |") for line in table)
