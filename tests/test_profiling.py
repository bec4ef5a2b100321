"""--profile_steps: parsing, the range check before training, and a trace on disk."""

from __future__ import annotations

import glob
import os

import jax
import jax.numpy as jnp
import pytest
from test_launch import _run

from colorize_jax.train import profiling


@pytest.mark.parametrize("spec, expected", [("", None), ("3,5", (3, 5)), (" 7 , 7 ", (7, 7))])
def test_parse_steps(spec, expected):
  assert profiling.parse_steps(spec) == expected


@pytest.mark.parametrize("spec", ["5", "a,b", "1,2,3", "0,3", "5,4", "-1,2"])
def test_bad_step_ranges_say_how_to_write_one(spec):
  with pytest.raises(ValueError, match="N,M"):
    profiling.parse_steps(spec)


@pytest.mark.parametrize(
  "start, total, ok", [(0, 10, True), (0, 4, False), (3, 10, False), (2, 10, True)]
)
def test_the_range_must_lie_within_the_steps_this_launch_runs(tmp_path, start, total, ok):
  profiler = profiling.StepProfiler((3, 5), str(tmp_path))
  if ok:
    profiler.check(start, total)
  else:
    with pytest.raises(ValueError, match=f"trains steps {start + 1} to {total}"):
      profiler.check(start, total)


def test_trace_covers_the_steps_and_lands_in_the_tensorboard_dir(tmp_path):
  profiler = profiling.StepProfiler((2, 3), str(tmp_path))
  step_fn = jax.jit(lambda x: jnp.sin(x) @ x)
  x = jnp.ones((64, 64))
  for step in range(1, 5):
    profiler.before_step(step)
    x = step_fn(x)
    profiler.after_step(step, x)
    assert profiler._active == (step == 2)  # pylint: disable=protected-access
  root = os.path.join(str(tmp_path), "tensorboard", "plugins", "profile")
  assert glob.glob(os.path.join(root, "*", "*.xplane.pb"))
  assert glob.glob(os.path.join(root, "*", "*.trace.json.gz"))  # For Perfetto.


@pytest.mark.slow
def test_launch_rejects_a_range_outside_the_run_before_training(tmp_path):
  done = _run(str(tmp_path), "--profile_steps=100,200", timeout=180)
  assert done.returncode != 0
  assert "--profile_steps=100,200 is outside this run" in done.stderr
  assert "Traceback" not in done.stderr
  assert (
    not os.path.exists(tmp_path / "metrics.jsonl")
    or "step" not in open(tmp_path / "metrics.jsonl").read()
  )
