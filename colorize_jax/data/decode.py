"""Decoding any image file into uint8 RGB, and the square resize used everywhere.

Shared by the training sources and the "colorize new photos" command, so it
accepts any size and any mode Pillow can open, and fails in exactly one way:
`ImageDecodeError`.

The training hot path is `decode_square`: plain JPEGs (RGB or gray, upright,
untagged or sRGB-tagged) are decoded by simplejpeg (see fast_jpeg.py),
everything else by Pillow, and all are resized by OpenCV. Pixels tagged with
another colour profile are converted to sRGB (icc.py; `color_manage=False`
reads them as sRGB). On birds/train (227 px JPEGs to 128 px), timed one
image at a time on the 2-core development CPU, that is ~190 + ~115 us per
image against Pillow's ~300 + ~380 us.
"""

from __future__ import annotations

import io
import math
import os
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps

from colorize_jax.data import fast_jpeg
from colorize_jax.data import icc as color_profiles

# One image is far too small to win from OpenCV's thread pool; inside grain
# workers and reader threads its threads only oversubscribe the host.
cv2.setNumThreads(1)

PathOrFile = str | os.PathLike | BinaryIO

# The largest image decoded, in pixels. Pillow warns above its own Image.MAX_IMAGE_PIXELS
# (89.5 MP) and refuses twice that (179 MP) as a possible decompression bomb, but 100+ MP camera
# photos and scans are real: this module checks this limit instead, from the header before any
# pixel is decoded, and says which image and what to change (`max_pixels`, colorize
# --max_megapixels). 250 MP is a 20000 x 12500 photo; colorize needs about 11 bytes a pixel.
MAX_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = None

# Compositing transparent images over white matches how viewers show them;
# over black, a transparent logo would become a black square.
_BACKGROUND = (255, 255, 255)
_ORIENTATION_TAG = fast_jpeg.ORIENTATION_TAG


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


def _to_rgb(img: Image.Image, icc: bytes | None = None) -> Image.Image:
  """RGB pixels of any mode; `icc`: the image's profile, to convert from (data/icc.py)."""
  mode = img.mode
  if mode.startswith("I") or mode == "F":
    gray = _to_uint8(np.asarray(img), mode)
    return Image.fromarray(gray, mode="L").convert("RGB")
  has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
    mode == "P" and "transparency" in img.info
  )
  if has_alpha:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
    opaque = Image.alpha_composite(background, rgba).convert("RGB")
    if icc and mode in ("LA", "La"):
      opaque = opaque.convert("L")  # Exact (R = G = B): the pixels a gray profile describes.
  elif mode in ("RGB", "L", "CMYK") or not icc:
    opaque = img
  else:  # 1, P, YCbCr, ...: a profile describes the pixels they stand for.
    opaque = img.convert("L" if mode == "1" else "RGB")
  if icc:
    managed = color_profiles.to_srgb(opaque, icc)
    if managed is not None:
      return managed
  return opaque if opaque.mode == "RGB" else opaque.convert("RGB")  # 1, L, P, CMYK, YCbCr, ...


def _apply_exif_orientation(img: Image.Image) -> None:
  # Reading the tag first avoids exif_transpose's full copy when there is none.
  if img.getexif().get(_ORIENTATION_TAG, 1) not in (1, None):
    ImageOps.exif_transpose(img, in_place=True)


def check_pixels(name: object, width: int, height: int, max_pixels: int | None) -> None:
  """ImageDecodeError when width x height is above `max_pixels` (None or 0: no limit)."""
  if max_pixels and width * height > max_pixels:
    raise ImageDecodeError(
      name,
      f"{width}x{height} is {width * height / 1e6:.0f} MP, above the limit of "
      f"{max_pixels / 1e6:.4g} MP for one image (colorize --max_megapixels raises it; "
      "colorize_jax.data.decode.MAX_PIXELS)",
    )


def open_rgb(
  path_or_file: PathOrFile,
  min_side: int | None = None,
  *,
  max_pixels: int | None = MAX_PIXELS,
  color_manage: bool = True,
) -> Image.Image:
  """Decodes to an RGB PIL image with EXIF orientation applied.

  min_side: JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose
  width and height both stay >= min_side, which is several times faster than
  a full decode for large photos. None decodes at full size. max_pixels: the
  header's size above it is refused before decoding (`check_pixels`).
  color_manage: pixels tagged with an ICC profile other than sRGB are converted
  to sRGB (data/icc.py); False reads them as sRGB (data.color_management='none').
  """
  name = _name(path_or_file)
  try:
    with Image.open(path_or_file) as img:
      check_pixels(name, *img.size, max_pixels)
      if min_side is not None and img.format == "JPEG":
        img.draft(None, (min_side, min_side))
      img.load()
      icc = img.info.get("icc_profile") if color_manage else None
      _apply_exif_orientation(img)
      # Pixels are in memory after load(), so closing the file is harmless.
      return _to_rgb(img, icc)
  except ImageDecodeError:
    raise
  except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
    raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e


def load_image(
  path_or_file: PathOrFile,
  min_side: int | None = None,
  *,
  max_pixels: int | None = MAX_PIXELS,
  color_manage: bool = True,
) -> np.ndarray:
  """Any image file -> uint8 [H, W, 3] RGB (writable). Raises ImageDecodeError.

  At full size, few copies (colorize decodes 100 MP photos): a plain upright
  JPEG decodes straight into the array (simplejpeg, pixel-identical to
  Pillow); anything else through Pillow, copied out in row bands, so the
  image is held twice at most (`np.array` of a Pillow image holds it about
  four times: Pillow's, the bytes it joins, their chunks and the array).
  """
  if min_side is None and isinstance(path_or_file, (str, os.PathLike)):
    name = _name(path_or_file)
    try:
      with open(path_or_file, "rb") as f:
        is_jpeg = f.read(2) == b"\xff\xd8"
        data = (f.seek(0), f.read())[1] if is_jpeg else None
    except OSError as e:
      raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e
    if data is not None:
      size = fast_jpeg.header_size(data)
      if size is not None:
        check_pixels(name, *size, max_pixels)
      try:
        rgb = fast_jpeg.decode_plain(data, min_side=None, color_manage=color_manage)
      except ValueError as e:  # libjpeg found it corrupt or truncated.
        raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e
      if rgb is not None:
        return rgb
  return _to_array(
    open_rgb(path_or_file, min_side=min_side, max_pixels=max_pixels, color_manage=color_manage)
  )


def _to_array(img: Image.Image, band_bytes: int = 1 << 24) -> np.ndarray:
  """An RGB PIL image as uint8 [H, W, 3], copied in row bands of about `band_bytes`."""
  width, height = img.size
  out = np.empty((height, width, 3), np.uint8)
  rows = max(1, band_bytes // max(3 * width, 1))
  for top in range(0, height, rows):
    bottom = min(top + rows, height)
    out[top:bottom] = np.asarray(img.crop((0, top, width, bottom)) if rows < height else img)
  return out


def image_size(path: PathOrFile, *, max_pixels: int | None = MAX_PIXELS) -> tuple[int, int]:
  """(width, height) from the header only; raises ImageDecodeError.

  Cheap screening for indexing: it catches non-images and bad headers, not
  truncated pixel data (that surfaces in `open_rgb` later).
  """
  try:
    with Image.open(path) as img:
      size = img.size
  except Exception as e:
    raise ImageDecodeError(_name(path), f"{type(e).__name__}: {e}") from e
  check_pixels(_name(path), *size, max_pixels)
  return size


def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
  side = min(width, height)
  left = (width - side) // 2
  top = (height - side) // 2
  return left, top, left + side, top + side


# Above this shrink factor the bilinear-then-box resize would build a
# (factor * size)^2 intermediate; OpenCV's exact area average is cheaper there.
_MAX_BOX_FACTOR = 4


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Antialiased resize of uint8 [H, W, C] to [height, width, C] (no cropping).

  Shrinking an axis by a factor k <= 4 upsamples it bilinearly to k*size
  (upsampling cannot alias) and then averages exact k-pixel boxes. That is a
  proper antialiasing filter, closer to Lanczos than Pillow's bilinear, and
  about 3x faster than the two alternatives: Pillow's bilinear, and OpenCV's
  area average at a non-integer ratio.
  """
  h, w = image.shape[:2]
  if (h, w) == (height, width):
    return image
  image = np.ascontiguousarray(image)  # OpenCV rejects strided views (crops).
  if h <= height and w <= width:
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
  factors = (max(1, math.ceil(h / height)), max(1, math.ceil(w / width)))
  if max(factors) <= _MAX_BOX_FACTOR:
    upsampled = (factors[0] * height, factors[1] * width)
    if upsampled != (h, w):
      image = cv2.resize(image, upsampled[::-1], interpolation=cv2.INTER_LINEAR)
  return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def resize_square(img: np.ndarray | Image.Image, size: int) -> np.ndarray:
  """Center-crops to a square and resizes to size x size; uint8 [size, size, 3].

  Cropping first keeps pixels outside the square out of the border.
  """
  if isinstance(img, Image.Image):
    img = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
  if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
    raise ValueError(f"expected uint8 [H, W, 3], got {img.dtype} {img.shape}")
  left, top, right, bottom = center_square_box(img.shape[1], img.shape[0])
  return resize_image(img[top:bottom, left:right], size, size)


def decode_square(path_or_file: PathOrFile, size: int, *, color_manage: bool = True) -> np.ndarray:
  """Any image file -> uint8 [size, size, 3]: centre square, antialiased resize.

  Same result as resize_square(open_rgb(path, min_side=size), size) up to
  rounding in the JPEG decoder; raises ImageDecodeError.
  """
  name = _name(path_or_file)
  try:
    if isinstance(path_or_file, (str, os.PathLike)):
      with open(path_or_file, "rb") as f:
        data = f.read()
    else:
      data = path_or_file.read()
  except OSError as e:
    raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e
  try:
    rgb = fast_jpeg.decode_plain(data, min_side=size, color_manage=color_manage)
  except ValueError as e:  # libjpeg found it corrupt or truncated.
    raise ImageDecodeError(name, f"{type(e).__name__}: {e}") from e
  if rgb is not None:
    return resize_square(rgb, size)
  try:
    return resize_square(open_rgb(io.BytesIO(data), min_side=size, color_manage=color_manage), size)
  except ImageDecodeError as e:
    raise ImageDecodeError(name, e.reason) from e  # In-memory bytes have no name.
