"""bench/accelerator_check.sh --quick: the accelerator check's code paths on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, load_bench

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


@pytest.mark.parametrize("slow_turn", [None, 3])
def test_interleaved_turns_report_medians_and_the_ratio_range(monkeypatch, slow_turn):
  """JAX 1 s and torch 2 s a step on a fake clock: ratio 2.00x. One turn where the host slowed
  both sides alike (load, not code) leaves the medians and the ratio as they were."""
  check = load_bench("accelerator_check")
  clock, turn = [0.0], {"jax": 0, "torch": 0}
  monkeypatch.setattr(check.time, "perf_counter", lambda: clock[0])

  def step(side, seconds):
    def run():
      factor = 4.0 if turn[side] // 5 == slow_turn else 1.0  # 5 steps a turn.
      turn[side] += 1
      clock[0] += seconds * factor

    return run

  row = check.Row("train", "unet_128 128px", "float32", 16)
  check.interleave(row, step("jax", 1.0), step("torch", 2.0), lambda: None, 16, 5, 5)
  assert row.images_per_s == pytest.approx(16.0) and row.torch_images_per_s == pytest.approx(8.0)
  assert row.cells()[9] == "2.00x"
  assert row.note == "5 interleaved turns of 5 steps: ratio median 2.00x, range 2.00-2.00x"
