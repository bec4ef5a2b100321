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

The colouring itself (`Demo` here; photos and colour points in colorize_jax/ui/photos.py) needs
no Gradio and is tested on its own (tests/test_demo.py); colorize_jax/ui/page.py makes the page.
"""

import dataclasses
import hashlib
import logging as std_logging
import os
import re
import sys
import tempfile
import time
from typing import Any

import numpy as np
from absl import app, flags, logging
from PIL import Image

from colorize_jax import colorize, inference, pretrained
from colorize_jax.data import decode, user_hints
from colorize_jax.data.sources import sample
from colorize_jax.data.square import to_square

# Importing ui.page sets Gradio's offline environment (no analytics, no Hub) before Gradio loads.
from colorize_jax.ui.page import CSS, DEFAULT_SIZE, SIZES, build_app
from colorize_jax.ui.photos import (
  CANVAS_SIDE,
  HINT_COLOR,
  MAX_MEGAPIXELS,
  Photo,
  PhotoError,
  Point,
  chroma,
  draw_points,
  parse_color,
  point_side,
  read_photo,
  save_jpeg,
  save_png,
)

# What tests and callers reach through the command's module.
__all__ = [
  "DEFAULT_SIZE",
  "SIZES",
  "Demo",
  "Model",
  "Photo",
  "PhotoError",
  "Point",
  "Reply",
  "Result",
  "build_app",
  "chroma",
  "gray_of",
  "load_models",
  "parse_color",
  "read_photo",
]


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


def gray_of(image: np.ndarray) -> np.ndarray:
  """The photo as the network sees it: its Lab L alone (colorize's recombination with no
  chroma), as uint8 RGB."""
  return colorize.full_resolution(image, np.zeros((1, 1, 2), np.float32))


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
