"""The centred square a photo of any aspect ratio is padded to before the network sees it.

colorize, the hints' coordinate mapping and the demo share this geometry, so a point
placed on the photo lands on the network pixel that shows it.
"""

from __future__ import annotations

import numpy as np


def square_box(height: int, width: int) -> tuple[int, int, int]:
  """(side, top, left): the centred square an image is padded to, and where the image sits."""
  side = max(height, width)
  return side, (side - height) // 2, (side - width) // 2


def to_square(image: np.ndarray, mode: str = "symmetric") -> np.ndarray:
  """[H, W, C] -> [S, S, C], S = max(H, W): the image centred, its borders mirrored (or, with
  mode="constant", zero)."""
  height, width = image.shape[:2]
  side, top, left = square_box(height, width)
  if side == min(height, width):
    return image
  pad = ((top, side - height - top), (left, side - width - left)) + ((0, 0),) * (image.ndim - 2)
  return np.pad(image, pad, mode=mode)
