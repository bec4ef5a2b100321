"""Supported versions: an old JAX is named in one line at import, and pyproject.toml states the
tested ranges (Python, JAX, the accelerator extras) that .ci/run exercises."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT

import colorize_jax

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pin(name: str) -> str:
  return next(d for d in PYPROJECT["dependencies"] if d.split(">")[0].split("<")[0] == name)


@pytest.mark.parametrize("old", ["0.9.2", "0.10.1", "0.4.38", "0.10.1.dev20250101"])
def test_a_jax_older_than_the_minimum_is_one_line_naming_the_version_needed(old):
  with pytest.raises(ImportError) as error:
    colorize_jax.check_jax(old)
  message = str(error.value)
  assert "\n" not in message
  assert f"jax>={colorize_jax.MIN_JAX}" in message and old in message


@pytest.mark.parametrize("new", ["0.10.2", "0.11.0rc1", "0.12.0.1", "1.0"])
def test_the_minimum_and_newer_import(new):
  colorize_jax.check_jax(new)  # Raises on failure.


@pytest.mark.portability
def test_importing_the_package_with_an_old_jax_installed_fails_in_one_line(tmp_path):
  # A jax 0.9.0 distribution found first on the path: importlib.metadata reports it.
  info = tmp_path / "jax-0.9.0.dist-info"
  info.mkdir()
  (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jax\nVersion: 0.9.0\n")
  result = subprocess.run(
    [sys.executable, "-c", "import colorize_jax"],
    cwd=ROOT,
    env={"PYTHONPATH": f"{ROOT}:{tmp_path}", "PATH": "/usr/bin:/bin"},
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last == (
    f"ImportError: colorize_jax needs jax>={colorize_jax.MIN_JAX}, found jax 0.9.0: "
    f"pip install -U 'jax>={colorize_jax.MIN_JAX}'"
  )


def test_pyproject_states_the_tested_ranges():
  assert _pin("jax").startswith(f"jax>={colorize_jax.MIN_JAX},<")
  assert "<" in _pin("flax")
  lowest, highest = PYPROJECT["requires-python"].split(",")
  assert lowest == ">=3.11" and highest.startswith("<3.")
  assert (3, 11) <= sys.version_info[:2] < (3, int(highest[3:]))  # This Python is in the range.
  extras = PYPROJECT["optional-dependencies"]
  # Each accelerator extra is named for JAX's own extra that it installs.
  for name in ("cuda12", "cuda13", "tpu"):
    assert extras[name] == [f"jax[{name}]"], name


def test_ci_runs_the_portability_subset_and_resolves_the_cuda_extras():
  script = (ROOT / ".ci" / "run").read_text()
  assert "-m portability" in script
  for extra in ("cuda12", "cuda13"):
    assert f"[{extra}]" in script, extra
  assert "--dry-run" in script and "--only-binary=:all:" in script
