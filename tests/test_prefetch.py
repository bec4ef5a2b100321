"""Device prefetch: exact resume while reading ahead, worker counts ('auto', clamping,
a checkpoint's own count), errors from the reading thread."""

from __future__ import annotations

import json
import time

import jax
import numpy as np
import pytest
from test_data import make_cfg, make_colour_folder

from colorize_jax.data import DataPipeline, pipeline, prefetch
from colorize_jax.runtime import parallel
from colorize_jax.train import checkpoint


@pytest.fixture(name="pipe")
def pipe_fixture(tmp_path):
  make_colour_folder(tmp_path / "photos", 12)
  return DataPipeline(
    make_cfg(str(tmp_path / "photos"), split_fractions=(1, 0, 0)), global_batch_size=8, seed=0
  )


def _sharding():
  return parallel.data_sharding(parallel.make_mesh())


def _images(batch) -> np.ndarray:
  return np.asarray(jax.device_get(batch["image"]))


def test_batches_are_global_device_arrays_in_the_host_order(pipe):
  reference = pipe.train_iterator()
  it = prefetch.DevicePrefetcher(pipe.train_iterator, _sharding(), buffer_size=3)
  for _ in range(4):
    batch = next(it)
    assert isinstance(batch["image"], jax.Array) and len(batch["image"].addressable_shards) == 8
    np.testing.assert_array_equal(_images(batch), next(reference)["image"])
  it.close()


@pytest.mark.parametrize("through_orbax", [False, True])
def test_resume_is_exact_although_the_reader_runs_ahead(pipe, tmp_path, through_orbax):
  it = prefetch.DevicePrefetcher(pipe.train_iterator, _sharding(), buffer_size=2)
  for _ in range(3):
    next(it)
  if through_orbax:  # The loop's own checkpoints: grain's handler with the bytes protocol.
    ckpt = checkpoint.Checkpoints(str(tmp_path / "ckpt"), async_save=False)
    ckpt.save(3, {"x": np.zeros(2)}, it, checkpoint.Progress())
    ckpt.wait()
  saved = it.get_state()
  # The reader runs ahead of what the loop took (its buffer fills); the saved position does not.
  deadline = time.monotonic() + 30
  while not it._queue.full() and time.monotonic() < deadline:  # pylint: disable=protected-access
    time.sleep(0.01)
  assert json.loads(saved) != it._host.get_state()  # pylint: disable=protected-access
  assert it.get_state() == saved
  expected = [_images(next(it)) for _ in range(3)]
  it.close()

  resumed = prefetch.DevicePrefetcher(pipe.train_iterator, _sharding())
  if through_orbax:
    ckpt.restore(3, {"x": np.zeros(2)}, resumed)
    ckpt.close()
  else:
    resumed.set_state(saved)
  for want in expected:
    np.testing.assert_array_equal(_images(next(resumed)), want)
  resumed.close()


def test_set_state_mid_run_discards_what_was_read_ahead(pipe):
  it = prefetch.DevicePrefetcher(pipe.train_iterator, _sharding(), buffer_size=2)
  next(it)
  saved = it.get_state()
  expected = _images(next(it))
  next(it)
  it.set_state(saved)
  np.testing.assert_array_equal(_images(next(it)), expected)
  it.close()


class _FakeHost:
  """A host iterator whose state looks like grain's, with `workers` worker iterators."""

  def __init__(self, workers: int, fail_at: int | None = None):
    self.workers, self.position, self.fail_at = workers, 0, fail_at

  def __next__(self):
    if self.position == self.fail_at:
      raise OSError("disk gone")
    self.position += 1
    return {"image": np.full((8, 2, 2, 3), self.position, np.uint8)}

  def get_state(self):
    state = {"next_index": self.position}
    if self.workers:
      state["iterators_in_use_indices"] = list(range(self.workers))
    return state

  def set_state(self, state):
    assert pipeline.worker_count_of_state(state) == self.workers
    self.position = state["next_index"]


def test_a_checkpoint_resumes_with_its_own_worker_count(caplog):
  built = []

  def make(worker_count=None, default=3):
    built.append(default if worker_count is None else worker_count)
    return _FakeHost(built[-1])

  saved = json.dumps({"next_index": 5, "iterators_in_use_indices": [0, 1, 2, 3, 4]})
  it = prefetch.DevicePrefetcher(make, _sharding())
  it.set_state(saved)  # Written where 'auto' meant 5 workers; here it means 3.
  assert built == [3, 5] and "ran 5 grain worker(s)" in caplog.text
  assert int(_images(next(it))[0, 0, 0, 0]) == 6
  it.close()


def test_errors_of_the_reading_thread_reach_the_loop():
  it = prefetch.DevicePrefetcher(lambda worker_count=None: _FakeHost(0, fail_at=2), _sharding())
  next(it), next(it)
  with pytest.raises(OSError, match="disk gone"):
    next(it)


@pytest.mark.parametrize(
  "value, cpus, expected",
  [
    ("auto", 1, 0),
    ("auto", 2, 0),
    ("auto", 3, 0),
    ("auto", 4, 3),
    ("auto", 16, 15),
    (" AUTO ", 16, 15),
    (0, 2, 0),
    ("2", 16, 2),
    (2, 2, 2),
  ],
)
def test_worker_count_resolution(value, cpus, expected):
  assert pipeline.resolve_worker_count(value, cpus) == expected


def test_worker_count_above_the_cores_is_clamped_with_a_warning(caplog):
  assert pipeline.resolve_worker_count(9, cpus=2) == 2
  assert "more than this host's 2 cores" in caplog.text


@pytest.mark.parametrize("value", ["many", -1, None])
def test_bad_worker_count_names_the_valid_values(value):
  with pytest.raises(ValueError, match="auto"):
    pipeline.resolve_worker_count(value, cpus=4)


def test_auto_is_the_default_and_accepts_numbers_from_the_command_line():
  from colorize_jax.config import base as config_base

  cfg = config_base.base_config()
  assert cfg.data.worker_count == "auto"
  cfg.data.worker_count = 2  # An int where the default is a string: accepted.
  assert pipeline.resolve_worker_count(cfg.data.worker_count, cpus=8) == 2


def test_grain_in_process_state_has_no_workers(pipe):
  assert pipeline.worker_count_of_state(pipe.train_iterator().get_state()) == 0
