"""The demo's photos and colour points, without the page or a model: reading an upload through the
project's decoder with one-line errors, the picker's colours, a point's size, the click canvas,
and the files the page shows (colorize_jax/demo.py uses them; tests/test_demo.py tests them)."""

import dataclasses
import functools
import hashlib
import os
import re

import numpy as np
from PIL import Image, ImageDraw

from colorize_jax.data import decode

MAX_MEGAPIXELS = 50.0
CANVAS_SIDE = 1024  # The click canvas shows photos at most this big (clicks map back).
# A colour point: a square of this share of the photo's longer side, and at least MIN_POINT
# network pixels (training's hints are 1-9 px patches at 128 px).
POINT_FRACTION = 1 / 48
MIN_POINT = 3
HINT_COLOR = "#d03020"


class PhotoError(ValueError):
  """An upload that cannot be colorized; the message (one line) is shown on the page."""


@dataclasses.dataclass
class Photo:
  """A decoded photo: uint8 RGB [H, W, 3] at full resolution, its name, and a key for caches."""

  image: np.ndarray
  name: str
  key: str
  note: str = ""  # What decoding did (CMYK or 16-bit converted), shown on the page.

  @property
  def size_text(self) -> str:
    return f"{self.image.shape[1]}x{self.image.shape[0]}"


@dataclasses.dataclass(frozen=True)
class Point:
  """A colour point in the photo's own pixels."""

  x: float
  y: float
  color: str  # '#rrggbb'


def parse_color(value: str) -> str:
  """The picker's colour ('#rgb', '#rrggbb[aa]' or 'rgb[a](r, g, b[, a])') as '#rrggbb'."""
  text = (value or "").strip()
  match = re.fullmatch(
    r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+[\d.%]+)?\s*\)", text
  )
  if match:
    return "#" + "".join(f"{min(255, round(float(c))):02x}" for c in match.groups())
  match = re.fullmatch(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})", text)
  if not match:
    raise PhotoError(f"colour {value!r} is not a colour; pick one with the colour picker")
  digits = match.group(1)
  if len(digits) == 3:
    digits = "".join(d * 2 for d in digits)
  return "#" + digits[:6].lower()


def _named(reason: str, path: str, name: str) -> str:
  """A decoder's reason with the server's path of an upload replaced by its name."""
  return reason.replace(os.fspath(path), name)


def read_photo(path: str, name: str | None = None, max_megapixels: float = MAX_MEGAPIXELS) -> Photo:
  """An uploaded or example file as a Photo, through the project's decoder (decode.py: any mode,
  EXIF rotation); PhotoError in one line for a file that is no image, too big or broken."""
  name = name or os.path.basename(path)
  try:
    width, height = decode.image_size(path)
    with Image.open(path) as header:
      mode = header.mode
  except decode.ImageDecodeError as e:
    reason = _named(e.reason, path, name)
    raise PhotoError(f"{name}: not an image this demo can read ({reason})") from None
  except OSError as e:
    raise PhotoError(f"{name}: cannot be read ({_named(str(e), path, name)})") from None
  megapixels = width * height / 1e6
  if megapixels > max_megapixels:
    raise PhotoError(
      f"{name}: {width}x{height} is {megapixels:.0f} megapixels, more than this demo takes "
      f"({max_megapixels:g}); shrink it, or use python -m colorize_jax.colorize"
    )
  try:
    image = decode.load_image(path)
  except decode.ImageDecodeError as e:
    reason = _named(e.reason, path, name)
    raise PhotoError(f"{name}: not an image this demo can read ({reason})") from None
  except (OSError, MemoryError, ValueError) as e:
    raise PhotoError(f"{name}: cannot be decoded ({type(e).__name__}: {e})") from None
  note = ""
  if mode == "CMYK":
    note = "CMYK, converted to RGB"
  elif mode.startswith("I") or mode == "F":
    note = f"{mode} (high bit depth), scaled to 8 bits"
  # Every pixel counts: photos that share a white margin or a template are still two photos.
  digest = hashlib.blake2b(image.tobytes(), digest_size=8)
  digest.update(str(image.shape).encode())
  key = digest.hexdigest()
  return Photo(image, name, key, note)


@functools.cache
def _mean_chroma():
  import jax  # pylint: disable=g-import-not-at-top

  from colorize_jax import color  # pylint: disable=g-import-not-at-top

  def mean_chroma(image):
    lab = color.rgb_to_lab(color.to_unit(image))
    return (lab[..., 1] ** 2 + lab[..., 2] ** 2) ** 0.5

  return jax.jit(lambda image: mean_chroma(image).mean())


def chroma(image: np.ndarray, side: int = 64) -> float:
  """Mean Lab chroma of a uint8 RGB image (0 for gray), on a side x side copy (one compile)."""
  return float(_mean_chroma()(decode.resize_image(np.ascontiguousarray(image), side, side)))


def save_png(image: np.ndarray, path: str) -> str:
  """The downloads: lossless, quickly compressed."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path, compress_level=1)
  return path


def save_jpeg(image: np.ndarray, path: str) -> str:
  """What is only looked at (the gray input, the click canvas, the original): small and quick."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path, quality=92)
  return path


def point_side(height: int, width: int, side: int) -> float:
  """A colour point's side in photo pixels when the network sees the photo at `side` px."""
  longer = max(height, width)
  return max(longer * POINT_FRACTION, MIN_POINT * longer / side)


def draw_points(image: np.ndarray, points: list[Point], scale: float) -> np.ndarray:
  """`image` shrunk by `scale`, each point a disc of its colour ringed white and black."""
  height, width = image.shape[:2]
  canvas = Image.fromarray(image)
  if scale > 1:
    size = (round(width / scale), round(height / scale))
    canvas = canvas.resize(size, Image.Resampling.BILINEAR)
  draw = ImageDraw.Draw(canvas)
  radius = max(4.0, max(canvas.size) / 90)
  for p in points:
    x, y = p.x / scale, p.y / scale
    box = (x - radius, y - radius, x + radius, y + radius)
    draw.ellipse((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), fill="black")
    draw.ellipse(box, fill=p.color, outline="white", width=2)
  return np.asarray(canvas)
