"""Image grids: one row per example, columns gray | predicted | true (as in both studies'
figures)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from colorize_jax import color
from colorize_jax.outputs import atomic


def _to_uint8(x) -> np.ndarray:
  x = np.asarray(x, np.float32)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1)
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def comparison_grid(*columns, gap: int = 2) -> np.ndarray:
  """Each column is [N, H, W, 1 or 3] in [0, 1]; returns uint8 [N*(H+gap), C*(W+gap), 3]."""
  columns = [_to_uint8(c) for c in columns]
  n, h, w, _ = columns[0].shape
  grid = np.full((n * (h + gap) - gap, len(columns) * (w + gap) - gap, 3), 255, np.uint8)
  for j, column in enumerate(columns):
    for i in range(n):
      grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = column[i]
  return grid


def sample_grid(images: np.ndarray, predicted_rgb: np.ndarray) -> np.ndarray:
  """gray | predicted | true for uint8 photos and their predicted RGB in [0, 1]."""
  true = images.astype(np.float32) / 255.0
  return comparison_grid(np.asarray(color.rgb_to_gray(true)), predicted_rgb, true)


def save_png(image: np.ndarray, path: str) -> None:
  with atomic.replacing(path, ".tmp.png") as tmp:
    Image.fromarray(image).save(tmp)
