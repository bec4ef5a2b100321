"""A demo page: colorize photos in the browser with the shipped models and your own runs.

  pip install -e '.[demo]'
  python -m colorize_jax.demo                            # every model shipped in pretrained/
  python -m colorize_jax.demo --runs=runs/unet,runs/pix2pix --bundles=bundles/p2p --port=7860

Then open http://127.0.0.1:7860. Upload or drop photos (any format colorize reads), or pick one
of the embedded sample photos; tick one or more models to see them side by side; a slider
compares the gray input with a model's colours, and the colorized photos download at full
resolution as PNG. "Working resolution" is the square side the network sees (the photo is
padded to its centred square and resized, as `colorize` does): a fully convolutional model
trained at 128 px also runs at 256 px, with finer colour detail; a model that cannot (a fully
connected one) runs at its own size, and the page says so. With a hints model
(configs/hints.py), click on the photo to place colour points in the picker's colour; undo or
clear them; each click colours the photo again (the README gives measured times: about a
second at 256 px for a U-Net of the shipped size on a 2-core CPU).

Runs offline: Gradio's analytics and version check are off, its default theme's fonts are its
own files, and the page fetches nothing from another host (tests/test_demo_browser.py checks
this in headless Chromium). Every request logs one line: the photo, the working size, each
model's milliseconds. A file that is not an image, is too large, or fails to decode gets a
message on the page; nothing in an upload can stop the server.

The colouring itself (`Demo`, `Photo`) needs no Gradio and is tested on its own
(tests/test_demo.py); `build_app` makes the page.
"""

import dataclasses
import functools
import hashlib
import logging as std_logging
import os
import re
import sys
import tempfile
import time
from typing import Any

# Before Gradio is imported anywhere: no analytics, no version check, no Hub telemetry.
for _key, _value in (
  ("GRADIO_ANALYTICS_ENABLED", "False"),
  ("HF_HUB_DISABLE_TELEMETRY", "1"),
  ("HF_HUB_OFFLINE", "1"),
  ("DO_NOT_TRACK", "1"),
):
  os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from colorize_jax import colorize, inference, pretrained  # noqa: E402
from colorize_jax.data import decode, user_hints  # noqa: E402
from colorize_jax.data.sources import sample  # noqa: E402
from colorize_jax.data.square import to_square  # noqa: E402

# Working resolutions offered (the square side the network sees); DEFAULT_SIZE first shown.
SIZES = (128, 192, 256, 320, 384, 512)
DEFAULT_SIZE = 256
MAX_MEGAPIXELS = 50.0
CANVAS_SIDE = 1024  # The click canvas shows photos at most this big (clicks map back).
# A colour point: a square of this share of the photo's longer side, and at least MIN_POINT
# network pixels (training's hints are 1-9 px patches at 128 px).
POINT_FRACTION = 1 / 48
MIN_POINT = 3
HINT_COLOR = "#d03020"
EXAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "flower", "china")


class PhotoError(ValueError):
  """An upload that cannot be colorized; the message (one line) is shown on the page."""


@dataclasses.dataclass(frozen=True)
class Model:
  label: str  # The shipped name, a bundle's folder name, or a run's with " (run)".
  colorizer: Any
  about: str  # One line: task, size, how far it trained.

  @property
  def reads_hints(self) -> bool:
    from colorize_jax.data import hints  # pylint: disable=g-import-not-at-top

    return hints.reads_hints(self.colorizer.input_layout)

  def size_for(self, size: int) -> tuple[int, str]:
    """(side it runs at, '' or why not at `size`)."""
    why = self.colorizer.size_error(size)
    return (size, "") if why is None else (self.colorizer.image_size, why)


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


@dataclasses.dataclass
class Result:
  model: str
  image: np.ndarray  # uint8 [H, W, 3], the photo's size.
  size: int  # The side the network saw.
  ms: float
  hints: int  # Points the model read (0: automatic).
  note: str = ""  # Why it ran at another size than asked.
  path: str = ""  # The full-resolution PNG.
  cached: bool = False  # Made by an earlier request (`ms` is that request's).


def _slug(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "photo"


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
  key = hashlib.sha1(image.tobytes()[:1_000_000] + str(image.shape).encode()).hexdigest()[:12]
  return Photo(image, name, key, note)


def gray_of(image: np.ndarray) -> np.ndarray:
  """The photo as the network sees it: its Lab L alone (colorize's recombination with no
  chroma), as uint8 RGB."""
  return colorize.full_resolution(image, np.zeros((1, 1, 2), np.float32))


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


def load_models(runs: list[str], bundles: list[str], root: str | None = None) -> list[Model]:
  """Every shipped model (the default first), then each --bundles and --runs entry."""
  models = []
  for shipped in pretrained.shipped(root):
    models.append(
      Model(shipped.name, inference.from_bundle(shipped.path), shipped.describe().split(": ")[0])
    )
  taken = {m.label for m in models}

  def label(spec: str, short: str) -> str:
    name = short if short not in taken else spec
    if name in taken:
      raise ValueError(f"{spec} is given twice")
    taken.add(name)
    return name

  for spec in bundles:
    path = pretrained.resolve_bundle(spec, root)
    colorizer = inference.from_bundle(path)
    short = spec if spec.startswith(pretrained.PREFIX) else os.path.basename(os.path.normpath(spec))
    models.append(Model(label(spec, short), colorizer, f"bundle {spec}: {_about(colorizer)}"))
  for workdir in runs:
    colorizer = inference.from_workdir(workdir)
    short = f"{os.path.basename(os.path.normpath(workdir))} (run)"
    models.append(Model(label(workdir, short), colorizer, f"run {workdir}: {_about(colorizer)}"))
  return models


def _about(colorizer) -> str:
  return (
    f"{colorizer.config.task}, {colorizer.config.model.name}, {colorizer.image_size} px, "
    f"step {colorizer.step}"
  )


@dataclasses.dataclass
class Reply:
  """What one request shows: each model's result, the gray input, the original (when it has
  colour), the click canvas with its scale (photo pixels per canvas pixel), and the time."""

  results: list[Result]
  gray_path: str
  original_path: str | None
  canvas_path: str
  scale: float
  ms: float


class Demo:
  """The page's work without the page: photos in, colorized photos (and timings) out."""

  def __init__(self, models: list[Model], out_dir: str, max_megapixels: float = MAX_MEGAPIXELS):
    if not models:
      raise ValueError("no model to show")
    self.models = {m.label: m for m in models}
    self.out_dir = out_dir
    self.max_megapixels = max_megapixels
    self._results: dict[tuple, Result] = {}  # (photo key, model, size, points) -> Result.
    self._assets: dict[str, dict] = {}  # photo key -> its gray image and files.

  @property
  def hint_models(self) -> list[str]:
    return [m.label for m in self.models.values() if m.reads_hints]

  def warm_up(self, size: int = DEFAULT_SIZE) -> float:
    """Compiles every model at `size` (and at its own), and the full-resolution steps of common
    photo shapes (3:2 both ways, square); seconds taken."""
    start = time.perf_counter()
    for height, width in ((512, 768), (768, 512), (512, 512)):
      photo = Photo(np.full((height, width, 3), 128, np.uint8), "warm-up", f"warm-up{height}")
      for model in self.models.values():
        # With and without points: the hint inputs are a jitted call of their own.
        for points in ([], [Point(10, 10, HINT_COLOR)]) if model.reads_hints else ([],):
          for side in {size, model.colorizer.image_size}:
            self.colorize_one(photo, model.label, side, points, write=False)
      self.assets(photo)
    self._results.clear()
    self._assets.clear()
    return time.perf_counter() - start

  def photo(self, path: str, name: str | None = None) -> Photo:
    return read_photo(path, name, self.max_megapixels)

  def example(self, name: str) -> Photo:
    return read_photo(sample.photo_path(name), name, self.max_megapixels)

  def _path(self, photo: Photo, name: str) -> str:
    return os.path.join(self.out_dir, photo.key, name)

  def assets(self, photo: Photo) -> dict:
    """Per photo, once: its gray version (array and PNG), the original as PNG when it has colour,
    a thumbnail."""
    if photo.key not in self._assets:
      gray = gray_of(photo.image)
      colourful = chroma(photo.image) > 3.0
      thumb = Image.fromarray(photo.image)
      thumb.thumbnail((192, 192))
      os.makedirs(self._path(photo, ""), exist_ok=True)
      thumb.save(self._path(photo, "thumb.jpg"), quality=85)
      self._assets[photo.key] = {
        "gray": gray,
        "gray_path": save_jpeg(gray, self._path(photo, "gray.jpg")),
        "original_path": save_jpeg(photo.image, self._path(photo, "original.jpg"))
        if colourful
        else None,
        "thumb_path": self._path(photo, "thumb.jpg"),
      }
    return self._assets[photo.key]

  def colorize_one(
    self, photo: Photo, label: str, size: int, points: list[Point], write: bool = True
  ) -> Result:
    """One model on one photo at working size `size` (or the model's own, when it cannot),
    with `points` for a hints model; cached by photo, model, size and points."""
    model = self.models[label]
    side, why = model.size_for(size)
    used = tuple(points) if model.reads_hints else ()
    key = (photo.key, label, side, used)
    if key in self._results:
      return dataclasses.replace(self._results[key], cached=True)
    start = time.perf_counter()
    image = photo.image
    height, width = image.shape[:2]
    small = decode.resize_image(to_square(image), side, side)
    extra = {}
    if used:
      maps = user_hints.points_to_maps(
        [
          user_hints.Point(p.x, p.y, user_hints.hex_to_ab(p.color), point_side(height, width, side))
          for p in used
        ],
        height,
        width,
        side,
      )
      extra = {user_hints.HINT_AB: maps.hint_ab[None], user_hints.HINT_MASK: maps.hint_mask[None]}
    ab = model.colorizer.chroma_ab(small[None], **extra)[0]
    out = colorize.full_resolution(image, ab)
    note = f"ran at {side} px: {why}" if why else ""
    result = Result(label, out, side, 0.0, len(used), note)
    if write:
      digest = hashlib.sha1(repr(used).encode()).hexdigest()[:8]
      hinted = f"_{len(used)}hints_{digest}" if used else ""
      name = f"{_slug(os.path.splitext(photo.name)[0])}_{_slug(label)}_{side}px{hinted}.png"
      result.path = save_png(out, self._path(photo, name))
    result.ms = (time.perf_counter() - start) * 1000
    self._results[key] = result
    if len(self._results) > 256:  # Bounded: a long session keeps the newest.
      self._results.pop(next(iter(self._results)))
    return result

  def colorize(
    self, photo: Photo, labels: list[str], size: int, points: list[Point]
  ) -> list[Result]:
    return [self.colorize_one(photo, label, size, points) for label in labels]

  def request(
    self, photo: Photo, labels: list[str], size: int, points: list[Point], what: str = "colorize"
  ) -> Reply:
    """Everything a request shows, timed; logs one line: what, the photo, the working size, the
    points, each model's milliseconds and side, and the request's."""
    start = time.perf_counter()
    results = self.colorize(photo, labels, size, points)
    assets = self.assets(photo)
    canvas_path, scale = self.canvas(photo, points)
    ms = (time.perf_counter() - start) * 1000
    logging.info(
      "request %s: photo %s %s, size %d, %d point(s): %s; %.0f ms",
      what,
      photo.name,
      photo.size_text,
      size,
      len(points),
      ", ".join(
        f"{r.model} {'cached' if r.cached else f'{r.ms:.0f} ms'} at {r.size} px" for r in results
      ),
      ms,
    )
    return Reply(results, assets["gray_path"], assets["original_path"], canvas_path, scale, ms)

  def canvas(self, photo: Photo, points: list[Point]) -> tuple[str, float]:
    """The click target: the gray photo (at most CANVAS_SIDE) with the points drawn; (PNG path,
    photo pixels per canvas pixel)."""
    gray = self.assets(photo)["gray"]
    height, width = gray.shape[:2]
    scale = max(1.0, max(height, width) / CANVAS_SIDE)
    digest = hashlib.sha1(repr(points).encode()).hexdigest()[:8]
    path = self._path(photo, f"canvas_{len(points)}_{digest}.jpg")
    if not os.path.exists(path):
      save_jpeg(draw_points(gray, points, scale), path)
    return path, scale


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


# -- the page ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Session:
  """One browser tab's state (Gradio keeps it server-side, per tab)."""

  photos: list[Photo] = dataclasses.field(default_factory=list)
  current: int = -1
  points: list[Point] = dataclasses.field(default_factory=list)
  scale: float = 1.0  # Photo pixels per canvas pixel.
  reply: Reply | None = None
  uploaded: set = dataclasses.field(default_factory=set)

  @property
  def photo(self) -> Photo | None:
    return self.photos[self.current] if 0 <= self.current < len(self.photos) else None


def _thumbnails(out_dir: str) -> list[tuple[str, str]]:
  """(thumbnail path, name) of the embedded sample photos."""
  found = []
  for name in EXAMPLES:
    try:
      image = decode.open_rgb(sample.photo_path(name))
    except (decode.ImageDecodeError, KeyError, FileNotFoundError, ImportError):
      continue
    image.thumbnail((256, 256))
    path = os.path.join(out_dir, "examples", f"{name}.jpg")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, quality=88)
    found.append((path, name))
  return found


CSS = """
#status p { margin: 0.2em 0; }
footer { display: none !important; }
"""
INTRO = (
  "# colorize_jax\n"
  "Upload or drop photos, or pick an example. Tick several models to compare them side by "
  "side; the slider shows the gray input against a model's colours (click a result to put it "
  "there); downloads are full resolution."
)


def build_app(demo: Demo, default_size: int = DEFAULT_SIZE):
  """The Gradio Blocks page around `demo`."""
  import gradio as gr  # pylint: disable=g-import-not-at-top

  labels = list(demo.models)
  hint_models = demo.hint_models
  examples = _thumbnails(demo.out_dir)
  model_lines = "\n".join(f"- **{m.label}**: {m.about}" for m in demo.models.values())
  idle = "Upload a photo or pick an example."

  def strip(session: Session):
    return [(demo.assets(p)["thumb_path"], p.name) for p in session.photos]

  def render(session: Session, labels_on: list[str], size, what: str, errors=()):
    """Colorizes the current photo: (session, status, slider, results, downloads, canvas)."""
    head = [f"**Not colorized**: {e}" for e in errors]
    photo = session.photo
    if photo is None or not labels_on:
      text = idle if photo is None else "Tick at least one model."
      return session, "\n\n".join(head + [text]), None, [], None, None
    try:
      reply = demo.request(photo, labels_on, int(size), session.points, what)
    except Exception as e:  # pylint: disable=broad-except  (shown on the page, logged in full)
      logging.exception("colorizing %s failed", photo.name)
      return session, "\n\n".join(head + [f"**Error**: {type(e).__name__}: {e}"]), *[None] * 4
    session.reply, session.scale = reply, reply.scale
    results = reply.results
    gallery = [
      (
        r.path,
        f"{r.model} · {r.size} px · {r.ms:.0f} ms" + (f" · {r.hints} points" if r.hints else ""),
      )
      for r in results
    ]
    if reply.original_path:
      gallery.append((reply.original_path, "original photo (for comparison)"))
    notes = head + [
      f"**{photo.name}** ({photo.size_text}{', ' + photo.note if photo.note else ''}): "
      + ", ".join(
        f"{r.model} {'(done before)' if r.cached else f'{r.ms:.0f} ms'} at {r.size} px"
        for r in results
      )
      + (f"; {len(session.points)} colour point(s)" if session.points else "")
    ]
    notes += [f"{r.model} {r.note}" for r in results if r.note]
    if session.points and not any(r.hints for r in results):
      notes.append("Colour points steer only a hints model; tick one: " + ", ".join(hint_models))
    return (
      session,
      "\n\n".join(notes),
      (reply.gray_path, results[0].path),
      gr.update(value=gallery, columns=min(len(gallery), 3), selected_index=None),
      [r.path for r in results],
      reply.canvas_path,
    )

  def add_photos(files, session: Session, labels_on, size):
    session = session or Session()
    errors, before = [], len(session.photos)
    for path in files or []:
      path = str(getattr(path, "name", path))
      if path in session.uploaded:
        continue
      session.uploaded.add(path)
      try:
        session.photos.append(demo.photo(path))
      except PhotoError as e:
        errors.append(str(e))
      except Exception as e:  # pylint: disable=broad-except  (an upload never stops the server)
        logging.exception("reading %s failed", path)
        errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {e}")
    for error in errors:
      logging.warning("upload refused: %s", error)
    if len(session.photos) > before:
      session.current, session.points = len(session.photos) - 1, []
    return (*render(session, labels_on, size, "upload", errors), strip(session))

  def pick_example(evt: gr.SelectData, session: Session, labels_on, size):
    session = session or Session()
    errors = []
    try:
      session.photos.append(demo.example(examples[evt.index][1]))
      session.current, session.points = len(session.photos) - 1, []
    except PhotoError as e:
      errors.append(str(e))
    return (*render(session, labels_on, size, "example", errors), strip(session))

  def pick_photo(evt: gr.SelectData, session: Session, labels_on, size):
    session.current, session.points = evt.index, []
    return render(session, labels_on, size, "photo")

  def rerun(session: Session, labels_on, size):
    return render(session or Session(), labels_on, size, "settings")

  def add_point(evt: gr.SelectData, session: Session, picked, labels_on, size):
    session = session or Session()
    errors = []
    if session.photo is not None:
      try:
        hex_color = parse_color(picked)
        x, y = (float(v) * session.scale for v in evt.index[:2])
        height, width = session.photo.image.shape[:2]
        point = Point(
          round(min(max(x, 0), width - 1)), round(min(max(y, 0), height - 1)), hex_color
        )
        session.points = session.points + [point]
      except PhotoError as e:
        errors.append(str(e))
    return render(session, labels_on, size, "point", errors)

  def undo(session: Session, labels_on, size):
    session = session or Session()
    session.points = session.points[:-1]
    return render(session, labels_on, size, "undo")

  def clear(session: Session, labels_on, size):
    session = session or Session()
    session.points = []
    return render(session, labels_on, size, "clear")

  def show_in_slider(evt: gr.SelectData, session: Session):
    reply = session.reply if session else None
    if reply is None or evt.index >= len(reply.results):
      return gr.update()
    return (reply.gray_path, reply.results[evt.index].path)

  with gr.Blocks(title="colorize_jax demo", analytics_enabled=False) as page:
    session = gr.State(Session())
    gr.Markdown(INTRO)
    with gr.Row():
      with gr.Column(scale=1, min_width=380):
        upload = gr.File(
          label="Your photos (drop or click)",
          file_count="multiple",
          file_types=["image"],
          type="filepath",
          height=120,
          elem_id="upload",
        )
        example_gallery = gr.Gallery(
          value=examples,
          label="Examples (click one)",
          columns=3,
          height=230,
          allow_preview=False,
          buttons=[],
          elem_id="examples",
        )
        photos = gr.Gallery(
          label="This session's photos (click to go back to one)",
          columns=4,
          height=130,
          allow_preview=False,
          fit_columns=False,
          buttons=[],
          elem_id="photos",
        )
        models_box = gr.CheckboxGroup(
          choices=labels, value=labels[:1], label="Models", elem_id="models"
        )
        size_box = gr.Dropdown(
          choices=list(SIZES),
          value=default_size,
          label="Working resolution (px): the square side the network sees",
          elem_id="size",
        )
        gr.Markdown(model_lines)
      with gr.Column(scale=3):
        status = gr.Markdown(idle, elem_id="status")
        with gr.Row():
          hint_canvas = gr.Image(
            label="Click to put a colour point",
            type="filepath",
            interactive=False,
            visible=bool(hint_models),
            buttons=["fullscreen"],
            elem_id="canvas",
            height=440,
          )
          slider = gr.ImageSlider(
            label="gray input | colorized",
            type="filepath",
            buttons=["download", "fullscreen"],
            elem_id="slider",
            height=440,
          )
        with gr.Row(visible=bool(hint_models)):
          picker = gr.ColorPicker(value=HINT_COLOR, label="Point colour", elem_id="picker")
          undo_button = gr.Button("Undo last point", elem_id="undo")
          clear_button = gr.Button("Clear points", elem_id="clear")
          gr.Markdown(
            f"Colour points steer the hints model{'s' if len(hint_models) > 1 else ''} "
            f"({', '.join(hint_models) or 'none loaded'}); tick it under Models."
          )
        results = gr.Gallery(
          label="Results side by side",
          columns=2,
          height=320,
          allow_preview=True,
          buttons=["download", "fullscreen"],
          elem_id="results",
        )
        downloads = gr.File(
          label="Download (full-resolution PNG)",
          file_count="multiple",
          interactive=False,
          elem_id="downloads",
        )

    outputs = [session, status, slider, results, downloads, hint_canvas]
    settings = [models_box, size_box]
    # Every event that colorizes waits its turn in one queue, in the order the page sent them:
    # a slow answer to an earlier event (a model ticked a moment before an upload) never lands
    # after, and over, the answer to a later one.
    one_at_a_time = {"concurrency_id": "colorize", "concurrency_limit": 1}
    upload.upload(add_photos, [upload, session, *settings], [*outputs, photos], **one_at_a_time)
    example_gallery.select(pick_example, [session, *settings], [*outputs, photos], **one_at_a_time)
    photos.select(pick_photo, [session, *settings], outputs, **one_at_a_time)
    models_box.change(rerun, [session, *settings], outputs, **one_at_a_time)
    size_box.change(rerun, [session, *settings], outputs, **one_at_a_time)
    hint_canvas.select(add_point, [session, picker, *settings], outputs, **one_at_a_time)
    undo_button.click(undo, [session, *settings], outputs, **one_at_a_time)
    clear_button.click(clear, [session, *settings], outputs, **one_at_a_time)
    results.select(show_in_slider, [session], [slider])
  return page


# -- the command -------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_list("runs", [], "Run workdirs to offer too (their best checkpoint).")
  flags.DEFINE_list(
    "bundles", [], "Exported bundles to offer too: folders, or shipped names (pretrained:NAME)."
  )
  flags.DEFINE_integer("port", 7860, "Port (on 127.0.0.1 unless --host).")
  flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: the whole network).")
  flags.DEFINE_integer("size", DEFAULT_SIZE, f"Working resolution first shown, of {SIZES}.")
  flags.DEFINE_float("max_megapixels", MAX_MEGAPIXELS, "Largest photo accepted.")
  flags.DEFINE_bool("warm_up", True, "Compile every model before serving.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.size not in SIZES:
    raise app.UsageError(f"--size={FLAGS.size}: one of {SIZES}")
  from colorize_jax.runtime import logs  # pylint: disable=g-import-not-at-top

  logs.quiet_libraries()
  try:
    import gradio  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    sys.exit("error: the demo needs Gradio: pip install -e '.[demo]'")
  std_logging.getLogger("httpx").setLevel(std_logging.WARNING)
  try:
    models = load_models(FLAGS.runs, FLAGS.bundles)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  if not models:
    sys.exit(f"error: no model to show: {pretrained.none_shipped()}")
  out_dir = tempfile.mkdtemp(prefix="colorize_jax_demo_")
  demo = Demo(models, out_dir, FLAGS.max_megapixels)
  for model in models:
    logging.info("model %s: %s", model.label, model.about)
  if FLAGS.warm_up:
    logging.info("warmed up in %.1f s", demo.warm_up(FLAGS.size))
  page = build_app(demo, FLAGS.size)
  page.queue(default_concurrency_limit=1)
  logging.info("serving on http://%s:%d", FLAGS.host, FLAGS.port)
  page.launch(
    server_name=FLAGS.host,
    server_port=FLAGS.port,
    share=False,
    ssr_mode=False,
    show_error=True,
    quiet=True,
    max_file_size="100mb",
    allowed_paths=[out_dir],
    css=CSS,
    footer_links=[],
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
