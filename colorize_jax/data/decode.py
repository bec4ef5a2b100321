"""Decoding any image file into uint8 RGB, and the square resize used everywhere.

Shared by the training sources and the "colorize new photos" command, so it
accepts any size and any mode Pillow can open, and fails in exactly one way:
`ImageDecodeError`.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps

PathOrFile = Union[str, os.PathLike, BinaryIO]

# Compositing transparent images over white matches how viewers show them;
# over black, a transparent logo would become a black square.
_BACKGROUND = (255, 255, 255)
_ORIENTATION_TAG = 0x0112


class ImageDecodeError(Exception):
  """A file could not be read as an image (corrupt, truncated, not an image, too big)."""

  def __init__(self, path: object, reason: str):
    super().__init__(f"cannot decode image {path!s}: {reason}")
    self.path = path
    self.reason = reason


def _name(path_or_file: PathOrFile) -> str:
  if isinstance(path_or_file, (str, os.PathLike)):
    return os.fspath(path_or_file)
  return getattr(path_or_file, "name", repr(path_or_file))


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
  """Scales high-bit-depth grayscale to 0..255 by its nominal range, never clips."""
  values = values.astype(np.float64)
  if mode.startswith("I;16"):
    scaled = values / 257.0  # 65535 -> 255 exactly.
  elif mode == "I":
    # Pillow opens 16-bit PNG/TIFF grayscale as "I" in some versions; a 32-bit
    # range beyond 16 bits has no nominal white, so fall back to min-max.
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 255:
      scaled = values
    elif lo >= 0 and hi <= 65535:
      scaled = values / 257.0
    else:
      scaled = (values - lo) / max(hi - lo, 1e-12) * 255.0
  else:  # "F": floats in [0, 1] are the common convention; otherwise min-max.
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    values = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
    if lo >= 0 and hi <= 1:
      scaled = values * 255.0
    elif lo >= 0 and hi <= 255:
      scaled = values
    else:
      scaled = (values - lo) / max(hi - lo, 1e-12) * 255.0
  return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(img: Image.Image) -> Image.Image:
  mode = img.mode
  if mode == "RGB":
    return img
  if mode.startswith("I") or mode == "F":
    gray = _to_uint8(np.asarray(img), mode)
    return Image.fromarray(gray, mode="L").convert("RGB")
  has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
      mode == "P" and "transparency" in img.info
  )
  if has_alpha:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")
  return img.convert("RGB")  # 1, L, P, CMYK, YCbCr, ...


def _apply_exif_orientation(img: Image.Image) -> None:
  # Reading the tag first avoids exif_transpose's full copy when there is none.
  if img.getexif().get(_ORIENTATION_TAG, 1) not in (1, None):
    ImageOps.exif_transpose(img, in_place=True)


def open_rgb(path_or_file: PathOrFile, min_side: int | None = None) -> Image.Image:
  """Decodes to an RGB PIL image with EXIF orientation applied.

  min_side: JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose
  width and height both stay >= min_side, which is several times faster than
  a full decode for large photos. None decodes at full size.
  """
  name = _name(path_or_file)
  try:
    with Image.open(path_or_file) as img:
      if min_side is not None and img.format == "JPEG":
        img.draft(None, (min_side, min_side))
      img.load()
      _apply_exif_orientation(img)
      # Pixels are in memory after load(), so closing the file is harmless.
      return _to_rgb(img)
  except ImageDecodeError:
    raise
  except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
    raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e


def load_image(path_or_file: PathOrFile, min_side: int | None = None) -> np.ndarray:
  """Any image file -> uint8 [H, W, 3] RGB (writable). Raises ImageDecodeError."""
  return np.array(open_rgb(path_or_file, min_side=min_side))


def image_size(path: PathOrFile) -> tuple[int, int]:
  """(width, height) from the header only; raises ImageDecodeError.

  Cheap screening for indexing: it catches non-images and bad headers, not
  truncated pixel data (that surfaces in `open_rgb` later).
  """
  try:
    with Image.open(path) as img:
      return img.size
  except Exception as e:
    raise ImageDecodeError(_name(path), f"{type(e).__name__}: {e}") from e


def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
  side = min(width, height)
  left = (width - side) // 2
  top = (height - side) // 2
  return left, top, left + side, top + side


def resize_square(img: np.ndarray | Image.Image, size: int) -> np.ndarray:
  """Center-crops to a square and resizes to size x size; uint8 [size, size, 3].

  Pillow's bilinear resize widens its kernel when shrinking, so this is
  antialiased. Cropping first keeps pixels outside the square out of the
  border (resize's `box` alone would blend them in).
  """
  if isinstance(img, np.ndarray):
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
      raise ValueError(f"expected uint8 [H, W, 3], got {img.dtype} {img.shape}")
    img = Image.fromarray(img)
  if img.mode != "RGB":
    img = img.convert("RGB")
  if img.width != img.height:
    img = img.crop(center_square_box(*img.size))
  if img.size != (size, size):
    img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
  return np.asarray(img)
