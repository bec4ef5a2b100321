"""Convergence guard: a tiny recipe must learn a learnable colouring, well below the gray input.

The other tests check shapes, equalities and plumbing; a loop can pass all of
them and still learn nothing (a loss with the wrong sign, BatchNorm in the
wrong mode, augmentation that moves the target away from the input, a broken
colour conversion). Here a small U-Net trains through the public entry point
(`trainer.train_and_evaluate`) on synthetic photos whose colour is a fixed
function of their gray level, so a working loop learns it within seconds and
a broken one stays at or above the gray baseline (the input with no colour).
"""

import json

import numpy as np
import pytest
from PIL import Image

from colorize_jax.train import trainer

# Luminance-ordered palette: gray level t in [0, 1] -> RGB. Luminance rises
# monotonically along it, so the colour is a function of the gray input
# alone, and far from gray (dark blue, green, yellow).
_PALETTE_T = np.array([0.0, 0.5, 1.0])
_PALETTE_RGB = np.array([[0.05, 0.05, 0.40], [0.15, 0.60, 0.15], [1.00, 0.85, 0.25]])
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as colorize_jax.color.
_SIZE = 32
_NUM_IMAGES = 320


def _field(rng: np.random.Generator) -> np.ndarray:
  """A smooth random field on [0, 1]: a few random plane waves plus a blob, rescaled."""
  yy, xx = np.mgrid[0:_SIZE, 0:_SIZE] / _SIZE
  field = np.zeros((_SIZE, _SIZE))
  for _ in range(3):
    fy, fx = rng.uniform(-3, 3, 2)
    field += np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
  cy, cx = rng.uniform(0.2, 0.8, 2)
  field += 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
  return (field - field.min()) / (field.max() - field.min())


def _colour(t: np.ndarray) -> np.ndarray:
  return np.stack([np.interp(t, _PALETTE_T, _PALETTE_RGB[:, c]) for c in range(3)], axis=-1)


def _write_photos(root) -> np.ndarray:
  """Writes the data set as PNGs under root; returns the images as uint8 [N, S, S, 3]."""
  rng = np.random.default_rng(0)
  images = []
  for i in range(_NUM_IMAGES):
    image = np.round(_colour(_field(rng)) * 255).astype(np.uint8)
    Image.fromarray(image).save(root / f"{i:03d}.png")
    images.append(image)
  return np.stack(images)


def _gray_baseline(images: np.ndarray) -> dict[str, float]:
  """L1 and MSE (RGB in [0, 1]) of predicting the gray input for every channel."""
  rgb = images.astype(np.float64) / 255.0
  gray = rgb @ _GRAY_WEIGHTS
  err = rgb - gray[..., None]
  return {"l1": float(np.mean(np.abs(err))), "mse": float(np.mean(err**2))}


def _metric(means: dict, new: str, old: str) -> float:
  """A validation mean under the agreed metric name, or its name before the rename."""
  return float(means[new] if new in means else means[old])


@pytest.fixture(name="photos", scope="module")
def photos_fixture(tmp_path_factory):
  root = tmp_path_factory.mktemp("palette_photos")
  return root, _write_photos(root)


def convergence_config(load_config, data_path: str):
  """configs/unet.py:smoke (BatchNorm, sigmoid, MSE, Adam, augmentation on) on the palette."""
  config = load_config("unet", "smoke")
  config.data.source = "folder"
  config.data.path = data_path
  config.data.image_size = _SIZE
  config.data.split_fractions = (0.8, 0.2, 0.0)
  config.batch_size = 8
  config.num_epochs = 4
  config.optimizer.learning_rate = 3e-3
  config.early_stopping.enabled = False
  config.early_stopping.restore_best = False
  config.log_every_steps = 50
  return config


def test_tiny_unet_learns_the_palette_well_below_the_gray_baseline(load_config, photos, tmp_path):
  root, images = photos
  gray = _gray_baseline(images)  # Over every photo: they are all drawn alike, val included.
  trainer.train_and_evaluate(convergence_config(load_config, str(root)), str(tmp_path))

  final = json.loads((tmp_path / "final_metrics.json").read_text())
  val = final["val"]
  assert val["examples"] > 0
  l1, mse = _metric(val, "l1", "mae"), float(val["mse"])
  # A working loop gets to a small fraction of the baseline; a broken one stays near it or above.
  assert l1 < 0.4 * gray["l1"], (l1, gray)
  assert mse < 0.2 * gray["mse"], (mse, gray)
  # Once validation scores the merged RGB image against the photo (the shared evaluator), a
  # prediction that merges back into wrong colours fails here too, however low its target-space L1.
  if "gray/l1" in val:
    np.testing.assert_allclose(val["gray/l1"], gray["l1"], rtol=0.2)
  if "psnr" in val and "gray/psnr" in val:
    assert val["psnr"] > val["gray/psnr"] + 6.0, (val["psnr"], val["gray/psnr"])
