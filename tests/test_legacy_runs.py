"""Runs and bundles written by earlier versions of the code still load, evaluate and colorize.

The fixture (tests/fixtures/unet_smoke_run_v0.tar.gz) was written by commit
4a3aabf, before the package was regrouped into subpackages: a configs/unet.py:smoke
run (config.json, metrics.jsonl, final_metrics.json, Orbax checkpoints with the grain
iterator) and the bundle `python -m colorize_jax.export` made from it.
"""

import pathlib
import tarfile

import numpy as np
import pytest

from colorize_jax import evaluate, inference

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "unet_smoke_run_v0.tar.gz"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
  folder = tmp_path_factory.mktemp("legacy")
  with tarfile.open(FIXTURE) as archive:
    archive.extractall(folder, filter="data")
  return folder


def _photos(n=3, size=32):
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.portability
def test_an_old_runs_checkpoint_and_an_old_bundle_colorize_alike(legacy):
  from_run = inference.from_workdir(str(legacy / "run"))  # best, as exported
  from_bundle = inference.from_bundle(str(legacy / "bundle"))
  assert from_run.step == from_bundle.step == 3
  photos = _photos()
  run_rgb, bundle_rgb = from_run.predict_rgb(photos), from_bundle.predict_rgb(photos)
  assert run_rgb.shape == (3, 32, 32, 3)
  np.testing.assert_allclose(run_rgb, bundle_rgb, atol=1e-6)
  assert np.isfinite(run_rgb).all() and run_rgb.std() > 0


@pytest.mark.portability
def test_an_old_run_evaluates(legacy, tmp_path):
  config = inference.workdir_config(str(legacy / "run"))
  config.eval.checkpoint = "last"
  report = evaluate.evaluate_run(config, str(legacy / "run"))
  assert report["step"] == 6
  assert np.isfinite(report["metrics"]["psnr"])
