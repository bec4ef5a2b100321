"""`sample` source: 8 colour photos shipped inside the scikit-image and scikit-learn wheels.

Needs no download, so smoke runs and tests work offline. Each photo yields many
random square crops; the crop of index i is a pure function of i, so the
evaluation set is fixed and resumed iterators see the same records.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import numpy as np
from PIL import Image

from colorize_jax import registry
from colorize_jax.data import decode, icc, splits

# Split by photo, not by crop. The two motorcycle photos are a stereo pair
# (near-duplicates), so they stay in the same split.
PHOTOS_BY_SPLIT = {
  "train": ("astronaut", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "china"),
  "val": ("chelsea",),
  "test": ("flower",),
}
_FILES = {
  "astronaut": ("skimage", "astronaut.png"),
  "chelsea": ("skimage", "chelsea.png"),
  "coffee": ("skimage", "coffee.png"),
  "rocket": ("skimage", "rocket.jpg"),
  "motorcycle_left": ("skimage", "motorcycle_left.png"),
  "motorcycle_right": ("skimage", "motorcycle_right.png"),
  "china": ("sklearn", "china.jpg"),
  "flower": ("sklearn", "flower.jpg"),
}
# Crop side as a fraction of the photo's shorter side.
_MIN_CROP, _MAX_CROP = 0.4, 1.0
# Fixed so crops never depend on the training seed: eval sets stay comparable.
_CROP_SEED = 20240917
_photo_lock = threading.Lock()


def photo_path(name: str) -> str:
  package, filename = _FILES[name]
  if package == "skimage":
    import skimage  # pylint: disable=g-import-not-at-top

    return os.path.join(os.path.dirname(skimage.__file__), "data", filename)
  import sklearn  # pylint: disable=g-import-not-at-top

  return os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images", filename)


@functools.cache
def _load_photo_unlocked(name: str, color_manage: bool) -> Image.Image:
  return decode.open_rgb(photo_path(name), color_manage=color_manage)


def load_photo(name: str, color_manage: bool = True) -> Image.Image:
  """Decoded once per process; reader threads share the (read-only) image. color_manage:
  `rocket` is tagged Adobe RGB (data.color_management)."""
  with _photo_lock:
    return _load_photo_unlocked(name, color_manage)


def crop_box(index: int, width: int, height: int) -> tuple[float, float, float, float]:
  rng = np.random.default_rng([_CROP_SEED, index])
  side = min(width, height) * rng.uniform(_MIN_CROP, _MAX_CROP)
  left = rng.uniform(0, width - side)
  top = rng.uniform(0, height - side)
  return left, top, left + side, top + side


@registry.register("source", "sample")
class SampleSource:
  """__getitem__(i) -> {"image": uint8 [S, S, 3], "valid": True}.

  Index i is crop i // n_photos of photo i % n_photos, so any prefix of the
  index range covers every photo of the split.
  """

  def __init__(self, data_cfg: Any, split: str):
    splits.check_split(split)
    self._split = split
    self._photos = PHOTOS_BY_SPLIT[split]
    self._size = int(data_cfg.image_size)
    self._color_manage = icc.enabled(data_cfg)
    per_photo = (
      data_cfg.sample_crops_per_photo if split == "train" else data_cfg.sample_eval_crops_per_photo
    )
    self._per_photo = int(per_photo)
    if self._per_photo < 1:
      raise ValueError(f"crops per photo for the {split} split must be >= 1, got {per_photo}")
    missing = [p for p in self._photos if not os.path.exists(photo_path(p))]
    if missing:
      raise FileNotFoundError(f"sample photos not found: {[photo_path(p) for p in missing]}")

  @property
  def photos(self) -> tuple[str, ...]:
    return self._photos

  def photo_of(self, index: int) -> str:
    return self._photos[index % len(self._photos)]

  def __len__(self) -> int:
    return len(self._photos) * self._per_photo

  def __getitem__(self, index: int) -> dict[str, Any]:
    if not 0 <= index < len(self):
      raise IndexError(f"index {index} out of range for {self!r}")
    photo = load_photo(self.photo_of(index), self._color_manage)
    box = crop_box(index, *photo.size)
    out = photo.resize(
      (self._size, self._size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0
    )
    return splits.record(np.asarray(out))

  def __repr__(self) -> str:
    # Grain compares this string when restoring an iterator checkpoint.
    return (
      f"SampleSource(split={self._split!r}, photos={self._photos}, "
      f"image_size={self._size}, crops_per_photo={self._per_photo})"
    )
