"""bench/conv_formulations.py: per-layer timings under several option sets, and their totals."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # Subprocess runs of a bench script.


def _bench(*flags: str) -> subprocess.CompletedProcess:
  return subprocess.run(
    [sys.executable, "bench/conv_formulations.py", "--batch=1", "--repeats=1", *flags],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )


def test_each_option_set_is_timed_and_summed_over_what_auto_runs():
  done = _bench("--layers=G down 2->1,G up 1->2", "--options=eigen,onednn")
  assert done.returncode == 0, done.stderr[-3000:]
  rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  G ")]
  assert [row[:3] for row in rows] == [["G", "down", "2->1"], ["G", "up", "1->2"]]
  # auto's choice is marked under the project's options: patches for 1 output pixel, phases
  # for a 512-channel transposed convolution (colorize_jax/models/conv.py).
  assert "patches/eigen" in rows[0] and rows[0][rows[0].index("patches/eigen") + 1].endswith("*")
  assert "phases/eigen" in rows[1] and rows[1][rows[1].index("phases/eigen") + 1].endswith("*")
  marked = [
    float(rows[0][rows[0].index("patches/eigen") + 1].rstrip("*")),
    float(rows[1][rows[1].index("phases/eigen") + 1].rstrip("*")),
  ]
  total = done.stdout.split("total of what auto runs: ")[1].split("\n")[0]
  eigen_ms = float(total.split("eigen ")[1].split(" ms")[0])
  assert eigen_ms == pytest.approx(sum(marked), abs=0.11)  # Printed to 0.1 ms.
  assert "onednn " in total


@pytest.mark.parametrize(
  "flags, message",
  [
    (("--options=eigen,bogus",), "--options: unknown ['bogus']; valid: ['eigen', 'onednn', 'ynn']"),
    (("--layers=G up 9->9",), "--layers: unknown ['G up 9->9']"),
  ],
)
def test_bad_flags_are_named_before_any_timing(flags, message):
  done = _bench(*flags)
  assert done.returncode != 0
  assert message in done.stderr + done.stdout
  assert "forward + both gradients" not in done.stdout


def test_torch_column_without_torch_says_how_to_get_it():
  try:
    import torch  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    pass
  else:
    pytest.skip("torch is installed here")
  done = _bench("--layers=G up 1->2", "--torch")
  assert done.returncode != 0
  assert "--torch needs PyTorch" in done.stderr + done.stdout
