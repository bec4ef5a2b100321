"""The fast JPEG decode of the training path: libjpeg-turbo through simplejpeg.

It takes only what it decodes exactly like Pillow (pixel-identical on the
birds photos): baseline or progressive JPEGs in YCbCr, gray or RGB with no
EXIF rotation. CMYK/YCCK (Pillow's Adobe inversion), rotated photos and
photos with an ICC profile that changes their colours (data/icc.py) go back to
Pillow. On birds/train it decodes in ~190 us against Pillow's ~300.
"""

from __future__ import annotations

import io
import math

import numpy as np
import simplejpeg
from PIL import Image

from colorize_jax.data import icc

ORIENTATION_TAG = 0x0112


def jpeg_scale(width: int, height: int, min_side: int) -> int:
  """Largest DCT downscale in (1, 2, 4, 8) keeping both sides >= min_side.

  Only powers of two: libjpeg-turbo's other factors (5/8, 3/8, ...) skip its
  SIMD IDCT and decode slower than the full image.
  """
  scale = 1
  while scale < 8 and math.ceil(min(width, height) / (2 * scale)) >= min_side:
    scale *= 2
  return scale


def _segments(data: bytes):
  """(marker, payload) of each segment before the scan; a chain it cannot walk ends with
  (None, b"")."""
  pos = 2
  while pos + 4 <= len(data) and data[pos] == 0xFF:
    marker = data[pos + 1]
    if marker == 0xFF:  # Fill byte before a marker.
      pos += 1
      continue
    if marker == 0xDA:  # Start of scan: no metadata after this.
      return
    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    yield marker, data[pos + 4 : pos + 2 + length]
    pos += 2 + length
  yield None, b""


def _jpeg_has_exif(data: bytes) -> bool:
  """Whether an APP1 Exif segment precedes the scan (a chain it cannot walk: let Pillow read
  the tags)."""
  return any(m is None or (m == 0xE1 and p[:6] == b"Exif\x00\x00") for m, p in _segments(data))


def jpeg_profile(data: bytes) -> bytes | None:
  """The ICC profile embedded in a JPEG's APP2 segments (joined in sequence), or None."""
  chunks = {}
  for marker, payload in _segments(data):
    if marker == 0xE2 and payload[:12] == b"ICC_PROFILE\x00":
      # After the tag: this chunk's number (from 1) and the count, then the chunk.
      chunks[payload[12]] = payload[14:]
  return b"".join(chunks[k] for k in sorted(chunks)) if chunks else None


def _is_upright(data: bytes) -> bool:
  if not _jpeg_has_exif(data):
    return True
  try:
    with Image.open(io.BytesIO(data)) as img:
      return img.getexif().get(ORIENTATION_TAG, 1) in (1, None)
  except Exception:  # pylint: disable=broad-except
    return False  # Let Pillow's path report it.


def header_size(data: bytes) -> tuple[int, int] | None:
  """(width, height) of a JPEG from its header; None for anything else (or a bad header)."""
  if not data.startswith(b"\xff\xd8"):
    return None
  try:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
  except ValueError:
    return None
  return width, height


def decode_plain(
  data: bytes, min_side: int | None, *, color_manage: bool = True
) -> np.ndarray | None:
  """uint8 [H, W, 3] RGB for an upright RGB/gray JPEG; None means "use Pillow".

  Decoded at the smallest power-of-two DCT scale keeping both sides >=
  min_side, as Pillow's draft does (None: full size, straight into one array).
  Raises ValueError for a JPEG that libjpeg reports as corrupt or truncated
  (strict mode turns its warnings into errors). color_manage: a profile that
  would change the pixels sends the JPEG to Pillow's path, which converts it.
  """
  if not data.startswith(b"\xff\xd8"):
    return None
  try:
    height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
  except ValueError:
    return None  # Pillow's path reports it with its own message.
  if colorspace not in ("YCbCr", "Gray", "RGB") or not _is_upright(data):
    return None  # CMYK/YCCK need Pillow's inversion; rotation needs EXIF handling.
  if color_manage:
    profile = jpeg_profile(data)
    if profile and icc.converts(profile, "L" if colorspace == "Gray" else "RGB"):
      return None
  scale = 1 if min_side is None else jpeg_scale(width, height, min_side)
  return simplejpeg.decode_jpeg(
    data,
    colorspace="RGB",
    strict=True,
    min_width=math.ceil(width / scale),
    min_height=math.ceil(height / scale),
  )
