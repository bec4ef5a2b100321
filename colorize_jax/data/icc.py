"""Colour management on decoding: pixels tagged with an ICC profile other than sRGB become sRGB.

Every model here reads and writes sRGB. A photo whose pixels are in another colour space
reads wrong without its profile: Adobe RGB (one of the embedded sample photos, `rocket`)
and Display P3 (most phone photos) look washed out, and a CMYK or gray file with a press
profile gets the wrong lightness, which is the colorizer's input. Pillow applies no profile
by itself, so `decode` hands each tagged image here (docs/DESIGN.md, "Colour management").

Profiles that map every colour onto itself within one level (sRGB under any of its names,
and the many cameras that tag sRGB) change nothing, so those pixels stay exactly as decoded
before this module existed. A profile that cannot be read, or that describes another
colour space than the pixels' (an RGB profile on a gray JPEG), is ignored the way browsers
ignore it, with one warning per profile.

`data.color_management` ('icc', the default, or 'none') says whether a run's data
sources do this; runs begun before the field keep 'none' (config/base.py LEGACY_VALUES),
so they resume on the pixels they were trained on.
"""

from __future__ import annotations

import functools
import hashlib
import io

import numpy as np
from absl import logging
from PIL import Image, ImageCms

MODES = ("icc", "none")
DEFAULT = "icc"
# The pixel modes a profile of each colour space describes (ICC header's data colour space).
_SPACE_MODES = {"RGB": ("RGB",), "GRAY": ("L",), "CMYK": ("CMYK",)}
# Within this many levels of the identity on the test grid, a profile counts as sRGB.
_SRGB_TOLERANCE = 1
_SRGB = ImageCms.createProfile("sRGB")


def check_mode(mode: object) -> str:
  if mode not in MODES:
    raise ValueError(f"data.color_management={mode!r} must be one of {', '.join(MODES)}")
  return str(mode)


def enabled(data_cfg) -> bool:
  """Whether a source built from `data_cfg` converts profiles (data.color_management)."""
  return check_mode(data_cfg.get("color_management", DEFAULT)) == "icc"


def _space(profile: ImageCms.ImageCmsProfile) -> str:
  return profile.profile.xcolor_space.strip()


@functools.lru_cache(maxsize=32)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile | None:
  """The parsed profile; None (warned once per profile) when LittleCMS cannot read it."""
  try:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    _space(profile)
    return profile
  except Exception as e:  # PyCMSError, OSError, ...: a damaged profile is a tag to ignore.
    digest = hashlib.sha1(icc).hexdigest()[:12]
    logging.warning(
      "ignoring an unreadable ICC profile (%d bytes, sha1 %s…): %s; its images are read as sRGB",
      len(icc),
      digest,
      e,
    )
    return None


@functools.lru_cache(maxsize=32)
def _transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
  """profile -> sRGB for pixels of `mode`, or None when nothing is to be done: no readable
  profile, a profile of another colour space, or one that is sRGB in all but name."""
  profile = _profile(icc)
  if profile is None:
    return None
  space = _space(profile)
  if mode not in _SPACE_MODES.get(space, ()):
    logging.warning(
      "ignoring an ICC profile for %s on %s pixels (%s); those images are read as sRGB",
      space,
      mode,
      ImageCms.getProfileDescription(profile).strip() or "no description",
    )
    return None
  try:
    # NOCACHE: LittleCMS keeps a one-pixel cache in a transform unless told not to, and
    # reader threads share these transforms.
    transform = ImageCms.buildTransform(
      profile, _SRGB, mode, "RGB", ImageCms.Intent.PERCEPTUAL, flags=ImageCms.Flags.NOCACHE
    )
  except Exception as e:  # A profile LittleCMS parses but cannot build a transform from.
    logging.warning("ignoring an ICC profile LittleCMS cannot convert from (%s): %s", space, e)
    return None
  if _is_identity(transform, mode):
    return None
  return transform


def _is_identity(transform: ImageCms.ImageCmsTransform, mode: str) -> bool:
  """Whether the transform moves no colour of a 9-level grid (every gray level for gray)
  by more than _SRGB_TOLERANCE: sRGB under another name."""
  if mode == "CMYK":
    return False  # Ink amounts are never sRGB values.
  if mode == "L":
    levels = np.arange(256, dtype=np.uint8)[None]
    expected = np.repeat(levels[..., None], 3, axis=-1)
  else:
    axis = np.linspace(0, 255, 9).round().astype(np.uint8)
    expected = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    levels = expected
  converted = np.asarray(transform.apply(Image.fromarray(levels, mode)))
  return int(np.abs(converted.astype(int) - expected.astype(int)).max()) <= _SRGB_TOLERANCE


def converts(icc: bytes | None, mode: str) -> bool:
  """Whether `to_srgb` would change pixels of `mode` tagged with `icc`."""
  return bool(icc) and _transform(icc, mode) is not None


def to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image | None:
  """`img` (RGB, L or CMYK) converted from its profile `icc` to sRGB, as a new RGB image; None
  when the profile changes nothing or does not apply (see `_transform`)."""
  if not icc:
    return None
  transform = _transform(icc, img.mode)
  return None if transform is None else transform.apply(img)
