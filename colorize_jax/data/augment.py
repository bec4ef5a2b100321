"""Training augmentation: random zoom, rotation and horizontal flip in one affine warp.

Done at the target resolution (cheap). Fill: the image is first padded by
symmetric reflection, wide enough for the largest zoom-out and rotation, so
the warped output never shows black corners.
"""

from __future__ import annotations

import math
from typing import Any

import grain
import numpy as np
from PIL import Image


def reflect_margin(size: int, zoom: float, rotation: float) -> int:
  """Pixels of padding that cover every source point the warp can sample."""
  theta = math.radians(min(abs(rotation), 45.0))
  half_extent = (size / 2) / (1.0 - zoom) * (math.cos(theta) + math.sin(theta))
  return max(0, math.ceil(half_extent - size / 2)) + 2  # +2: bilinear neighbours.


def affine_warp(image: np.ndarray, scale: float, degrees: float, flip: bool,
                margin: int) -> np.ndarray:
  """Zooms by `scale` (>1 enlarges), rotates by `degrees`, optionally mirrors."""
  size = image.shape[0]
  padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
  theta = math.radians(degrees)
  cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
  sx = -1.0 if flip else 1.0
  # PIL maps each output point (x, y) to the input point (a x + b y + c, d x + e y + f).
  a, b, d, e = cos * sx, -sin, sin * sx, cos
  center_out = size / 2
  center_in = size / 2 + margin
  c = center_in - (a + b) * center_out
  f = center_in - (d + e) * center_out
  out = Image.fromarray(padded).transform(
      (size, size), Image.Transform.AFFINE, (a, b, c, d, e, f), Image.Resampling.BILINEAR)
  return np.asarray(out)


class Augment(grain.transforms.RandomMap):
  """Augments a record's image (other fields pass through); grain provides the rng."""

  def __init__(self, zoom: float, rotation: float, hflip: bool, image_size: int):
    if not 0 <= zoom < 1:
      raise ValueError(f"augment.zoom must be in [0, 1), got {zoom}")
    self._zoom = float(zoom)
    self._rotation = float(rotation)
    self._hflip = bool(hflip)
    self._margin = reflect_margin(image_size, self._zoom, self._rotation)

  def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    image = element["image"]
    # Draw all three numbers every time so toggling one option does not
    # change the others' random streams.
    scale = 1.0 + self._zoom * rng.uniform(-1.0, 1.0)
    degrees = self._rotation * rng.uniform(-1.0, 1.0)
    flip = self._hflip and bool(rng.random() < 0.5)
    if self._zoom == 0 and self._rotation == 0:
      image = np.ascontiguousarray(image[:, ::-1]) if flip else image
    else:
      image = affine_warp(image, scale, degrees, flip, self._margin)
    return {**element, "image": image}



def keep_valid(element: dict[str, Any]) -> bool:
  """Training skips records whose file failed to decode."""
  return bool(element["valid"])


def image_only(element: dict[str, Any]) -> dict[str, Any]:
  return {"image": element["image"]}
