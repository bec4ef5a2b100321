"""outputs.console: the progress line's images/s and ETA."""

from __future__ import annotations

import pytest

from colorize_jax.outputs import console


@pytest.fixture
def clock(monkeypatch):
  """A perf_counter the test moves by hand."""
  now = [100.0]
  monkeypatch.setattr(console.time, "perf_counter", lambda: now[0])
  return now


def test_epoch_end_duties_stay_out_of_images_per_second_and_in_the_eta(clock):
  meter = console.Throughput(batch_size=8, start_step=0, total_steps=40, steps_per_epoch=10)
  clock[0] += 10.0  # Steps 1-10 at 1 step/s.
  assert meter.report(10)["perf/images_per_sec"] == pytest.approx(8.0)
  clock[0] += 30.0  # Validation, plots and a checkpoint.
  meter.add_epoch_end(30.0)
  clock[0] += 10.0  # Steps 11-20, again at 1 step/s.
  perf = meter.report(20)
  assert perf["perf/images_per_sec"] == pytest.approx(8.0)
  # 20 steps left at 1 step/s, and two more epoch ends of 30 s each.
  assert perf["perf/eta_seconds"] == pytest.approx(20.0 + 2 * 30.0)


def test_the_progress_line_shows_rate_data_wait_and_eta(clock):
  meter = console.Throughput(batch_size=4, start_step=0, total_steps=100)
  meter.add_data_wait(1.0)
  clock[0] += 10.0
  perf = meter.report(50)
  line = console.progress_line(1, 2, 50, 100, {"loss": 0.25, "other": 1.0}, perf, ("loss",))
  assert line == "epoch 1/2 step 50/100 (50.0%) loss=0.25 | 20.0 img/s, data wait 10% | ETA 0:00:10"
