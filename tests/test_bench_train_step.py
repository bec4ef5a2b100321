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
    # oneDNN's convolutions (kept as a choice, measured slower): an option every jaxlib accepts.
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
