"""The demo's work without the page (colorize_jax/demo.py: Demo; colorize_jax/ui/photos.py:
read_photo, colour points, reached through the command's module): uploads of every kind, working
resolutions, colour points, caching and the per-request log line. No Gradio needed; the page itself
is tested in a browser (test_demo_browser.py)."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl import logging
from conftest import ROOT, load_config, trained_run
from PIL import Image

from colorize_jax import color, demo, inference, tasks

# The tiny hints model's photos: flat, of one colour each around WARM (so it colours photos
# without hints too), at several lightnesses.
WARM = (10.0, 15.0)
HINT = "#3a78b0"  # A blue (Lab about 49, -5, -35), far from WARM but among the photos' colours.


def warm_flat_photos(count: int, size: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  angle, radius = rng.uniform(0, 2 * np.pi, count), rng.uniform(10, 60, count)
  lab = np.stack(
    [
      rng.uniform(35, 80, count),
      WARM[0] + radius * np.cos(angle),
      WARM[1] + radius * np.sin(angle),
    ],
    -1,
  )
  rgb = np.asarray(color.lab_to_rgb(jnp.asarray(lab, jnp.float32)))
  rgb = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
  return np.broadcast_to(rgb[:, None, None, :], (count, size, size, 3)).copy()


def train_tiny_hints_model(size=16, steps=300, seed=0):
  """configs/hints.py:smoke, smaller and without the recipe's attention (so its colours do not
  depend on the working resolution the tests pick), trained on warm flat photos (about 10 s on a
  2-core CPU): it colours a photo warm by itself and takes a point's colour where the point is.
  (config, task, state)"""
  config = load_config("hints", "smoke")
  config.model.features = (8, 16)
  config.model.decoder_features = (8,)
  config.model.attention_heads = 0
  config.data.image_size = size
  task = tasks.build(config)
  optimizers = {"model": optax.adam(3e-3)}
  state = jax.jit(lambda key: task.init_state(key, size, optimizers))(jax.random.key(seed))
  step = jax.jit(task.train_step)
  for i in range(steps):
    state, _ = step(state, {"image": warm_flat_photos(16, size, 1000 + i)}, jax.random.key(i))
  return config, task, state


@pytest.fixture(scope="module")
def tiny_hints():
  config, task, state = train_tiny_hints_model()
  return inference.Colorizer(config, task, task.inference_variables(state), step=300)


@pytest.fixture(scope="module")
def automatic():
  """An untrained configs/dense.py:smoke: a network that only runs at its own size."""
  config = load_config("dense", "smoke")
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), config.data.image_size, {"model": optax.adam(1e-3)})
  return inference.Colorizer(config, task, task.inference_variables(state), step=0)


@pytest.fixture(scope="module")
def app(tiny_hints, automatic, tmp_path_factory):
  models = [
    demo.Model("hints", tiny_hints, "tiny hints"),
    demo.Model("dense", automatic, "untrained dense"),
  ]
  return demo.Demo(models, str(tmp_path_factory.mktemp("demo_out")))


def _save(tmp_path, name, image, **kwargs) -> str:
  path = str(tmp_path / name)
  image.save(path, **kwargs)
  return path


def _photo_file(tmp_path, width=120, height=80) -> str:
  rng = np.random.default_rng(0)
  gray = np.clip(rng.normal(128, 40, (height, width)), 0, 255).astype(np.uint8)
  return _save(tmp_path, "photo.png", Image.fromarray(gray).convert("RGB"))


def _ab(image: np.ndarray) -> np.ndarray:
  return np.asarray(color.rgb_to_lab(color.to_unit(image)))[..., 1:]


def test_a_photo_comes_back_coloured_at_its_own_size(app, tmp_path):
  photo = app.photo(_photo_file(tmp_path))
  (result,) = app.colorize(photo, ["hints"], 64, [])
  assert result.image.shape == (80, 120, 3) and result.size == 64 and result.hints == 0
  assert demo.chroma(result.image) > 5.0  # Its warm guess.
  assert demo.chroma(demo.gray_of(photo.image)) < 0.5
  saved = np.asarray(Image.open(result.path))
  np.testing.assert_array_equal(saved, result.image)  # The download is the full-size result.


def test_a_point_moves_the_colour_at_its_spot_toward_its_colour(app, tmp_path):
  photo = app.photo(_photo_file(tmp_path))
  hint_ab = np.asarray(color.rgb_to_lab(color.to_unit(np.array([0x20, 0x60, 0xD0], np.uint8))))[1:]
  x, y = 60, 40
  plain = app.colorize_one(photo, "hints", 64, [])
  hinted = app.colorize_one(photo, "hints", 64, [demo.Point(x, y, HINT)])
  assert hinted.hints == 1

  def distance(result):
    return float(
      np.linalg.norm(_ab(result.image)[y - 1 : y + 2, x - 1 : x + 2] - hint_ab, axis=-1).mean()
    )

  assert distance(hinted) < distance(plain) - 10, (distance(plain), distance(hinted))


def test_a_model_that_cannot_run_at_the_size_runs_at_its_own_and_says_so(app, tmp_path):
  photo = app.photo(_photo_file(tmp_path))
  hints_result, dense_result = app.colorize(photo, ["hints", "dense"], 256, [])
  assert hints_result.size == 256 and not hints_result.note
  assert dense_result.size == 32 and dense_result.note.startswith("ran at 32 px: dense (trained")
  assert dense_result.image.shape == (80, 120, 3)


def test_a_request_is_cached_and_logs_one_line(app, tmp_path, monkeypatch):
  lines = []
  monkeypatch.setattr(logging, "info", lambda fmt, *args: lines.append(fmt % args))
  photo = app.photo(_photo_file(tmp_path))
  points = [demo.Point(3, 4, "#ff0000")]
  first = app.request(photo, ["hints", "dense"], 128, points, "upload")
  again = app.request(photo, ["hints", "dense"], 128, points, "point")
  assert [r.path for r in first.results] == [r.path for r in again.results]
  assert [r.cached for r in again.results] == [True, True]  # Not computed again.
  assert len(lines) == 2
  assert "hints cached at 128 px, dense cached at 32 px; " in lines[1]
  assert lines[0].startswith("request upload: photo photo.png 120x80, size 128, 1 point(s): ")
  assert "hints " in lines[0] and " ms at 128 px" in lines[0] and "dense " in lines[0]
  assert lines[0].endswith(f"; {first.ms:.0f} ms")
  assert first.original_path is None  # A gray photo: no original to compare with.
  assert demo.chroma(np.asarray(Image.open(first.gray_path))) < 0.5
  assert os.path.exists(first.canvas_path) and first.scale == 1.0


def test_the_points_of_a_wide_photo_land_where_its_pixels_do(app, tmp_path):
  """The demo maps points as colorize --hints does (user_hints through the centred square)."""
  image = np.full((40, 200, 3), 128, np.uint8)
  photo = demo.Photo(image, "wide", "wide")
  result = app.colorize_one(photo, "hints", 64, [demo.Point(190, 35, HINT)], write=False)
  ab = _ab(result.image)
  hint_ab = _ab(np.array([[[0x20, 0x60, 0xD0]]], np.uint8))[0, 0]
  near = np.linalg.norm(ab[33:38, 186:195] - hint_ab, axis=-1).mean()
  far = np.linalg.norm(ab[2:7, 5:14] - hint_ab, axis=-1).mean()
  assert near < far - 10, (near, far)


@pytest.mark.parametrize(
  "make, message",
  [
    (lambda p: p.write_bytes(b"this is not an image"), r"not an image this demo can read"),
    (lambda p: p.write_bytes(b""), r"not an image this demo can read"),
  ],
)
def test_a_file_that_is_no_image_gets_a_message(make, message, tmp_path):
  path = tmp_path / "upload.jpg"
  make(path)
  with pytest.raises(demo.PhotoError, match=message) as error:
    demo.read_photo(str(path))
  assert str(error.value).startswith("upload.jpg: ") and "\n" not in str(error.value)
  assert str(tmp_path) not in str(error.value)  # The upload's name, not the server's path.


def test_a_truncated_jpeg_gets_a_message(tmp_path):
  path = _save(tmp_path, "whole.jpg", Image.new("RGB", (300, 200), (200, 100, 50)), quality=95)
  data = open(path, "rb").read()
  cut = tmp_path / "cut.jpg"
  cut.write_bytes(data[: len(data) // 2])
  with pytest.raises(demo.PhotoError, match=r"cut.jpg: not an image this demo can read"):
    demo.read_photo(str(cut))


def test_photos_that_differ_only_far_down_are_two_photos(tmp_path):
  """The caches key on the whole image: two scans with the same white top half (far more than
  a megabyte of identical pixels) must not share results."""
  keys = set()
  for name, colour in (("red.png", (200, 30, 30)), ("blue.png", (30, 30, 200))):
    image = np.full((800, 1000, 3), 255, np.uint8)
    image[500:] = colour
    keys.add(demo.read_photo(_save(tmp_path, name, Image.fromarray(image))).key)
  assert len(keys) == 2


def test_a_huge_photo_is_refused_before_it_is_decoded(tmp_path):
  path = _save(tmp_path, "huge.png", Image.new("L", (4000, 3000)))
  with pytest.raises(demo.PhotoError, match=r"4000x3000 is 12 megapixels, more than this demo"):
    demo.read_photo(str(path), max_megapixels=10)


def test_cmyk_and_16_bit_photos_are_converted_and_said_so(tmp_path):
  cmyk = demo.read_photo(_save(tmp_path, "c.jpg", Image.new("CMYK", (30, 20), (0, 60, 90, 10))))
  assert cmyk.image.shape == (20, 30, 3) and cmyk.note == "CMYK, converted to RGB"
  deep = np.full((20, 30), 40000, np.uint16)
  sixteen = demo.read_photo(_save(tmp_path, "d.png", Image.fromarray(deep)))
  assert sixteen.note.endswith("(high bit depth), scaled to 8 bits")
  assert sixteen.image.dtype == np.uint8 and abs(int(sixteen.image[0, 0, 0]) - 156) <= 1


@pytest.mark.parametrize(
  "value, expected",
  [
    ("#D03020", "#d03020"),
    ("d03020", "#d03020"),
    ("#abc", "#aabbcc"),
    ("#d03020ff", "#d03020"),
    ("rgba(208, 48, 32, 1)", "#d03020"),
    ("rgb(208 48 32)", "#d03020"),
  ],
)
def test_picker_colours_parse(value, expected):
  assert demo.parse_color(value) == expected


def test_the_canvas_maps_clicks_back_to_the_photo(app):
  photo = demo.Photo(np.zeros((600, 2048, 3), np.uint8), "big", "big")
  path, scale = app.canvas(photo, [demo.Point(1024, 300, "#ff0000")])
  shown = np.asarray(Image.open(path))
  assert shown.shape[:2] == (300, 1024) and scale == 2.0
  red, green, blue = (int(v) for v in shown[150, 512])  # The point, drawn at photo / scale.
  assert red > 200 and green < 60 and blue < 60, (red, green, blue)


def test_models_load_shipped_bundles_runs_and_named_bundles(tiny_hints, tmp_path):
  bundle = inference.write_bundle(tiny_hints, str(tmp_path / "shipped" / "hints"))
  with open(os.path.join(bundle, "card.json"), "w") as f:
    json.dump({"task": "hints", "image_size": 16, "images_seen": 4800, "images_budget": 86016}, f)
  models = demo.load_models([], ["pretrained:hints", bundle], root=str(tmp_path / "shipped"))
  # Named by the folder, unless that name is taken (then by the whole path).
  assert [m.label for m in models] == ["hints", "pretrained:hints", bundle]
  other = inference.write_bundle(tiny_hints, str(tmp_path / "elsewhere" / "mine"))
  assert [m.label for m in demo.load_models([], [other], root=str(tmp_path / "none"))] == ["mine"]
  assert models[0].about == "hints (hints, 16 px, 4,800 images seen of 86,016)"
  assert all(m.reads_hints for m in models)


def test_a_run_is_offered_by_its_folder_name(tmp_path_factory, tmp_path):
  run = trained_run(tmp_path_factory)  # configs/unet.py:smoke
  (model,) = demo.load_models([run], [], root=str(tmp_path / "none"))
  assert model.label == f"{os.path.basename(run)} (run)" and not model.reads_hints
  assert model.about.startswith(f"run {run}: regression, unet, 32 px, step ")


@pytest.mark.skipif(importlib.util.find_spec("gradio") is not None, reason="Gradio is installed")
def test_without_gradio_the_demo_says_how_to_get_it():
  proc = subprocess.run(
    [sys.executable, "-m", "colorize_jax.demo"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 1
  assert (
    proc.stderr.strip().splitlines()[-1] == "error: the demo needs Gradio: pip install -e '.[demo]'"
  )
