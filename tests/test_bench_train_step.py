"""bench/train_step.py's switches for the CPU choices (issue 24: retune them on a new jaxlib)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # Subprocess runs of a bench script.


def _bench(*flags: str) -> dict[str, str]:
  done = subprocess.run(
    [sys.executable, "bench/train_step.py", "--config=configs/unet.py:smoke"]
    + ["--config.data.image_size=16", "--steps=1", "--repeats=1", *flags],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  return {line[:16].strip(): line[16:].strip() for line in done.stdout.splitlines()}


@pytest.mark.parametrize(
  "flags, formulations, options",
  [
    ((), "1 patches, 5 xla", "xla_cpu_experimental_ynn_fusion_type"),  # The project's choices.
    (("--formulations=stock", "--cpu_options=default"), "6 xla", "jaxlib defaults"),
    # oneDNN's convolutions (a choice kept for new jaxlibs, measured slower on pix2pix).
    (("--formulations=stock", "--cpu_options=onednn"), "6 xla", "onednn_custom_call': True"),
  ],
)
def test_the_cpu_formulations_and_compiler_options_switch_independently(
  flags, formulations, options
):
  printed = _bench(*flags)
  # The 4x4 bottleneck (16 output pixels) is a patch product only when formulated for the CPU.
  assert printed["convolutions"] == formulations
  assert options in printed["formulations"]
  assert float(printed["images/s"]) > 0


def test_several_option_sets_are_timed_in_alternating_turns_against_the_first():
  done = subprocess.run(
    [sys.executable, "bench/train_step.py", "--config=configs/unet.py:smoke"]
    + ["--config.data.image_size=16", "--steps=1", "--repeats=2"]
    + ["--cpu_options=project,vector_width_512,default"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
  assert [row[0] for row in rows] == ["project", "vector_width_512", "default"]
  assert rows[0][5] == "1.000x"  # The first is the reference of the ratios.
  turns = [line.split("(turns: ")[1] for line in done.stdout.splitlines() if "(turns: " in line]
  assert [len(t.split(", ")) for t in turns] == [2, 2, 2]  # One figure per set and turn.


def test_an_unknown_option_set_is_named_with_the_valid_ones():
  done = subprocess.run(
    [sys.executable, "bench/train_step.py", "--config=configs/unet.py:smoke", "--cpu_options=fast"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert done.returncode != 0
  assert "unknown option set(s) ['fast']" in done.stderr and "vector_width_512" in done.stderr
