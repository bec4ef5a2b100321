"""A user's colour hints for `colorize --hints=FILE` and the library: points or a scribble, in the
photo's own pixels, mapped to the network's resolution as the hints task reads them.

Points, a JSON file (a list, or {"points": [...]}); x, y in the photo's pixels (0, 0 the
top-left corner, as displayed, after EXIF rotation), a colour as hex RGB or Lab ab, and an
optional patch side in photo pixels (default 1: at least one network pixel):

  {"points": [{"x": 120, "y": 80, "color": "#c03020", "size": 9},
              {"x": 300, "y": 40, "ab": [-10, -40]}]}

Or a scribble PNG of the photo's size: the alpha channel marks the hinted pixels, their RGB
gives the colour (its Lab ab; the photo's own L stays).

Hints become (hint_ab [S, S, 2] in Lab ab units, hint_mask [S, S, 1]) at the network's size S:
the photo is padded to its centred square (data/square.py) and resized to S x S, as colorize
shows it to the network, so a point's centre is shifted into the square and scaled by
S / side, its side likewise; a scribble's hinted pixels are averaged over each network pixel
they touch (the padding carries no hints). An empty file (no points, nothing opaque) means
automatic colorization.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re

import numpy as np
from PIL import Image

from colorize_jax import color
from colorize_jax.data import hints
from colorize_jax.data.square import square_box, to_square

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_POINT_KEYS = ("x", "y", "color", "ab", "size")


HINT_AB, HINT_MASK = hints.HINT_AB, hints.HINT_MASK  # Colorizer.chroma_ab's keyword names.


class HintError(ValueError):
  """A hints file or point that cannot be used; the message names the problem in one line."""


@dataclasses.dataclass(frozen=True)
class Point:
  """One hint: centre (x, y) in the photo's pixels, Lab ab, square side in photo pixels."""

  x: float
  y: float
  ab: tuple[float, float]
  size: float = 1.0


@dataclasses.dataclass(frozen=True)
class HintMaps:
  """Hints at the network's resolution, as the hints task's batch keys hold them."""

  hint_ab: np.ndarray  # [S, S, 2] Lab ab, 0 where there is no hint.
  hint_mask: np.ndarray  # [S, S, 1] 1 where there is a hint.

  @property
  def count(self) -> int:
    return int(self.hint_mask.sum())


def _unparsed(text) -> HintError:
  return HintError(f"colour {text!r} does not parse; give hex RGB like '#c03020' or 'ab': [a, b]")


def hex_to_ab(text: str) -> tuple[float, float]:
  """'#rrggbb' or '#rgb' (the '#' optional) -> its Lab (a, b)."""
  if not isinstance(text, str):
    raise _unparsed(text)
  return _hex_to_ab(text)


# Cached: the demo converts every point of a photo again at each click, and each conversion is a
# few eager JAX calls (~15 ms each on a loaded 2-core CPU).
@functools.lru_cache(maxsize=4096)
def _hex_to_ab(text: str) -> tuple[float, float]:
  match = _HEX.match(text.strip())
  if not match:
    raise _unparsed(text)
  digits = match.group(1)
  if len(digits) == 3:
    digits = "".join(d * 2 for d in digits)
  rgb = np.array([int(digits[i : i + 2], 16) for i in (0, 2, 4)], np.float32) / 255.0
  a, b = np.asarray(color.rgb_to_lab(rgb))[1:]
  return float(a), float(b)


def _number(value, what: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
    raise HintError(f"{what}={value!r} is not a number")
  return float(value)


def parse_point(item, index: int, height: int, width: int) -> Point:
  """One JSON point, checked against the photo's size (height x width)."""
  where = f"point {index}"
  if not isinstance(item, dict):
    raise HintError(f"{where} is {item!r}; give an object with x, y and color (or ab)")
  unknown = sorted(set(item) - set(_POINT_KEYS))
  if unknown or "x" not in item or "y" not in item:
    raise HintError(
      f"{where} {item!r}: needs x and y (and color or ab); valid keys: {', '.join(_POINT_KEYS)}"
    )
  x, y = _number(item["x"], f"{where} x"), _number(item["y"], f"{where} y")
  if not (0 <= x < width and 0 <= y < height):
    raise HintError(f"{where} (x={x:g}, y={y:g}) is outside the {width}x{height} photo")
  if ("color" in item) == ("ab" in item):
    raise HintError(f"{where}: give exactly one of color (hex RGB) or ab ([a, b] in Lab)")
  if "color" in item:
    ab = hex_to_ab(item["color"])
  else:
    pair = item["ab"]
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      raise HintError(f"{where}: colour ab={pair!r} does not parse; give [a, b] in Lab units")
    ab = (_number(pair[0], f"{where} ab[0]"), _number(pair[1], f"{where} ab[1]"))
  size = _number(item.get("size", 1), f"{where} size")
  if size <= 0:
    raise HintError(f"{where} size={size:g} must be > 0 (photo pixels)")
  return Point(x, y, ab, size)


def read_points(path: str, height: int, width: int) -> list[Point]:
  """The points of a JSON hints file ([] for an empty file or list)."""
  with open(path) as f:
    text = f.read()
  if not text.strip():
    return []
  try:
    data = json.loads(text)
  except json.JSONDecodeError as e:
    raise HintError(f"{path} is not valid JSON ({e})") from None
  items = data.get("points") if isinstance(data, dict) else data
  if not isinstance(items, list):
    raise HintError(
      f'{path}: give a list of points or {{"points": [...]}}, not {type(data).__name__}'
    )
  return [parse_point(item, i, height, width) for i, item in enumerate(items)]


def points_to_maps(points: list[Point], height: int, width: int, size: int) -> HintMaps:
  """Points of a height x width photo as hint maps at the network's size (later points win)."""
  hint_ab = np.zeros((size, size, 2), np.float32)
  mask = np.zeros((size, size, 1), np.float32)
  square, pad_top, pad_left = square_box(height, width)
  scale = size / square
  for p in points:
    side = max(1, round(p.size * scale))
    cy = (p.y + pad_top + 0.5) * scale - 0.5
    cx = (p.x + pad_left + 0.5) * scale - 0.5
    top = int(np.clip(round(cy - (side - 1) / 2), 0, size - side))
    left = int(np.clip(round(cx - (side - 1) / 2), 0, size - side))
    hint_ab[top : top + side, left : left + side] = p.ab
    mask[top : top + side, left : left + side] = 1.0
  return HintMaps(hint_ab, mask)


def _box_resize(channel: np.ndarray, size: int) -> np.ndarray:
  image = Image.fromarray(np.ascontiguousarray(channel, np.float32), mode="F")
  return np.asarray(image.resize((size, size), Image.Resampling.BOX))


def read_scribble(path: str, height: int, width: int, size: int) -> HintMaps:
  """A scribble PNG of the photo's size (alpha marks the hints) as hint maps."""
  try:
    with Image.open(path) as image:
      if image.size != (width, height):  # Before decoding: the header tells.
        raise HintError(
          f"{path} is {image.width}x{image.height} but the photo is {width}x{height}; a "
          "scribble must have the photo's size"
        )
      has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
      rgba = np.asarray(image.convert("RGBA"))
  except OSError as e:
    raise HintError(f"{path} is not a readable image ({e})") from None
  if not has_alpha:
    raise HintError(f"{path} has no alpha channel; its alpha must mark the hinted pixels")
  weight = to_square((rgba[..., 3:] > 0).astype(np.float32), mode="constant")[..., 0]
  ab = to_square(np.asarray(color.rgb_to_lab(color.to_unit(rgba[..., :3])))[..., 1:], "constant")
  covered = _box_resize(weight, size)
  sums = np.stack([_box_resize(ab[..., c] * weight, size) for c in range(2)], axis=-1)
  mask = (covered > 0)[..., None]
  hint_ab = np.where(mask, sums / np.maximum(covered, 1e-12)[..., None], 0.0)
  return HintMaps(hint_ab.astype(np.float32), mask.astype(np.float32))


def read(path: str, height: int, width: int, size: int) -> HintMaps:
  """A hints file (JSON points, or a scribble image) for a height x width photo, at the network's
  size. Raises HintError naming the problem."""
  if not os.path.isfile(path):
    raise HintError(f"hints file {path!r} does not exist")
  if path.lower().endswith(".json"):
    return points_to_maps(read_points(path, height, width), height, width, size)
  return read_scribble(path, height, width, size)


def check_model(layout) -> None:
  """Refuses hints for a network that has no hint inputs, naming what it reads."""
  if not hints.reads_hints(layout):
    described = " + ".join(f"{name}({n})" for name, n in layout)
    raise HintError(
      f"this model takes no colour hints (its inputs are {described}); train one with "
      "configs/hints.py"
    )
