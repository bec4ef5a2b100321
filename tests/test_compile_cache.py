"""The persistent XLA compilation cache of launch.py (colorize_jax/runtime/compile_cache.py)."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, xla_flags

from colorize_jax.runtime import compile_cache

SUMMARY = re.compile(r"XLA compilation cache (\S+): (\d+) of (\d+) cacheable compilations")


@pytest.mark.parametrize("value", ["none", "off", "", " None "])
def test_the_cache_switches_off(value):
  assert compile_cache.resolve(value) is None
  assert compile_cache.enable(value) is None


def test_a_directory_it_cannot_make_is_one_warning_not_a_failure(tmp_path, caplog):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  assert compile_cache.enable(str(blocker / "xla")) is None
  assert "no XLA compilation cache" in caplog.text and "--compilation_cache=DIR" in caplog.text


def test_paths_are_made_absolute_and_expanded(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  assert compile_cache.resolve("cache") == str(tmp_path / "cache")
  assert compile_cache.resolve("~/x") == os.path.join(os.path.expanduser("~"), "x")


def test_stats_count_jax_monitoring_events():
  stats = compile_cache.Stats("/c")
  for event in ("/jax/compilation_cache/compile_requests_use_cache",) * 3:
    stats.on_event(event)
  stats.on_event("/jax/compilation_cache/cache_hits")
  stats.on_event("/jax/some_other_event")
  stats.on_duration("/jax/compilation_cache/compile_time_saved_sec", 12.4)
  stats.on_duration("/jax/compilation_cache/cache_retrieval_time_sec", 99.0)
  assert stats.summary() == (
    "XLA compilation cache /c: 1 of 3 cacheable compilations read back (12 s of compiling saved)"
  )


def _launch(workdir, cache):
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  env |= {"XLA_FLAGS": xla_flags(8), "JAX_PLATFORMS": "cpu"}
  # Every executable is stored, however quick to compile: a smoke model's are.
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  done = subprocess.run(
    [
      sys.executable,
      "launch.py",
      "--config=configs/unet.py:smoke",
      f"--workdir={workdir}",
      f"--compilation_cache={cache}",
      "--config.max_train_steps=2",
      "--config.num_epochs=1",
    ],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  match = SUMMARY.search(done.stderr)
  assert match, done.stderr[-3000:]
  return match.group(1), int(match.group(2)), int(match.group(3))


@pytest.mark.slow
def test_a_second_launch_reads_the_first_ones_compiled_steps_back(tmp_path):
  cache = tmp_path / "xla"
  directory, hits, requests = _launch(tmp_path / "first", cache)
  assert directory == str(cache) and requests > 0 and hits == 0
  assert any(cache.iterdir())
  _, hits_again, requests_again = _launch(tmp_path / "second", cache)
  # The same programs (train and eval steps of the same config) come back from the cache.
  assert requests_again == requests and hits_again >= requests // 2 > 0


def test_trim_removes_the_entries_used_longest_ago_until_the_rest_fit(tmp_path):
  for i, name in enumerate(["old", "middle", "new"]):
    path = tmp_path / name
    path.write_bytes(b"x" * 100)
    os.utime(path, (1000 + i, 1000 + i))
  assert compile_cache.trim(str(tmp_path), 250) == 1
  assert sorted(p.name for p in tmp_path.iterdir()) == ["middle", "new"]
  assert compile_cache.trim(str(tmp_path), 250) == 0
  assert compile_cache.trim(str(tmp_path), 0) == 2 and not any(tmp_path.iterdir())
