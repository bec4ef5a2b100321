"""colorize at full resolution (any size and mode), export bundles, and bad-input handling."""

import json
import os
import pathlib
import shutil

import numpy as np
import pytest
from conftest import colorize_cli, trained_run
from PIL import Image
from skimage.color import rgb2lab

from colorize_jax import colorize, inference
from colorize_jax.data import load_image


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return trained_run(tmp_path_factory)


@pytest.fixture(scope="module")
def bundle(run, tmp_path_factory):
  return inference.write_bundle(
    inference.from_workdir(run), str(tmp_path_factory.mktemp("bundle") / "b")
  )


def _smooth(height, width, seed=0):
  """A colourful photo-like image (smooth gradients, so chroma is not all noise)."""
  y, x = np.mgrid[0:height, 0:width] / max(height, width)
  rng = np.random.default_rng(seed)
  phases = rng.uniform(0, 6, 3)
  rgb = np.stack([0.5 + 0.4 * np.sin(5 * x + 3 * y + p) for p in phases], axis=-1)
  return np.round(rgb * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  """Odd sizes and awkward modes: RGB, gray, RGBA, 16-bit gray, palette, EXIF-rotated JPEG."""
  folder = tmp_path_factory.mktemp("photos")
  Image.fromarray(_smooth(333, 517)).save(folder / "odd.png")
  Image.fromarray(_smooth(61, 40, 1)[..., 0]).save(folder / "gray.png")
  Image.fromarray(np.dstack([_smooth(50, 70, 2), np.full((50, 70), 128, np.uint8)])).save(
    folder / "alpha.png"
  )
  Image.fromarray(_smooth(45, 47, 3)[..., 1].astype(np.uint16) * 257).save(folder / "deep.png")
  Image.fromarray(_smooth(39, 55, 4)).convert("P").save(folder / "palette.png")
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotated 90 degrees: the decoded image is 80 wide, 120 high.
  Image.fromarray(_smooth(80, 120, 5)).save(folder / "rotated.jpg", exif=exif, quality=95)
  return folder


def test_outputs_keep_the_exact_size_and_the_luminance_of_any_input(bundle, photos, tmp_path):
  colorizer = inference.from_bundle(bundle)
  result = colorize.colorize_paths(colorizer, [str(photos)], str(tmp_path), batch_size=4)
  assert not result.failed
  names = sorted(p.stem for p in photos.iterdir())
  assert sorted(pathlib.Path(p).stem for p in result.written) == names
  for name in names:
    source = next(photos.glob(name + ".*"))
    original = load_image(str(source))
    out = np.asarray(Image.open(tmp_path / f"{name}.png"))
    assert out.shape == original.shape, name  # e.g. 333x517 stays 333x517; EXIF rotation applied.
    lightness_error = np.abs(rgb2lab(out)[..., 0] - rgb2lab(original)[..., 0])
    assert lightness_error.mean() < 0.5 and np.percentile(lightness_error, 99) < 2.0, name
  assert np.asarray(Image.open(tmp_path / "rotated.png")).shape[:2] == (120, 80)


def test_chroma_comes_from_the_model(bundle, photos):
  colorizer = inference.from_bundle(bundle)
  image = load_image(str(photos / "gray.png"))  # 61 x 40.
  out = colorize.colorize_images(colorizer, [image])[0]
  # The model sees the photo undistorted (issue 25, point 9): mirrored to a 61 x 61 square
  # (10 columns left, 11 right), not squashed to a square.
  square = np.pad(image, ((0, 0), (10, 11), (0, 0)), mode="symmetric")
  np.testing.assert_array_equal(colorize.to_square(image), square)
  small = np.asarray(Image.fromarray(square).resize((32, 32), Image.Resampling.BILINEAR))
  want_ab = colorizer.chroma_ab(small[None])[0]
  # The output's chroma, put back in its square and brought to the model's size, is the
  # predicted chroma (the mirrored margins compared loosely: the output has none).
  out_ab = rgb2lab(out)[..., 1:].astype(np.float32)
  placed = np.zeros((61, 61, 2), np.float32)
  placed[:, 10:50] = out_ab
  got_ab = np.stack(
    [
      np.asarray(
        Image.fromarray(np.ascontiguousarray(c), mode="F").resize(
          (32, 32), Image.Resampling.BILINEAR
        )
      )
      for c in np.moveaxis(placed, -1, 0)
    ],
    axis=-1,
  )
  assert np.abs(want_ab).mean() > 0.5  # The tiny model does colour a gray photo.
  # Upsampling then downsampling is not the identity at the border: compare
  # the photo's interior closely and on average (its columns are 10/61..50/61 of 32).
  inner = (slice(2, -2), slice(8, 24))
  np.testing.assert_allclose(got_ab[inner], want_ab[inner], atol=3.0)
  assert np.abs(got_ab[:, 6:26] - want_ab[:, 6:26]).mean() < 1.0


@pytest.mark.portability
def test_bundle_colorizes_exactly_like_the_workdir(run, bundle, photos):
  image = load_image(str(photos / "odd.png"))
  from_run = colorize.colorize_images(inference.from_workdir(run), [image])[0]
  from_bundle = colorize.colorize_images(inference.from_bundle(bundle), [image])[0]
  np.testing.assert_array_equal(from_run, from_bundle)
  assert sorted(os.listdir(bundle)) == [
    "bundle.json",
    "config.json",
    "variables",
  ]  # No training state.


def test_a_non_image_fails_by_name_and_the_rest_are_still_written(bundle, photos, tmp_path):
  bad = tmp_path / "notes.txt"
  bad.write_text("not an image")
  out = tmp_path / "out"
  proc = colorize_cli(
    f"--bundle={bundle}",
    str(photos / "odd.png"),
    str(bad),
    str(photos / "*.jpg"),
    f"--output={out}",
  )
  assert proc.returncode != 0
  assert "notes.txt" in proc.stderr
  assert sorted(os.listdir(out)) == ["odd.png", "rotated.png"]
  assert Image.open(out / "odd.png").size == (517, 333)


def test_load_needs_exactly_one_source():
  with pytest.raises(ValueError, match="exactly one"):
    inference.load(None, None)


def test_a_bundle_whose_input_layout_differs_is_refused_in_one_line(bundle, photos, tmp_path):
  meta = json.loads((pathlib.Path(bundle) / "bundle.json").read_text())
  assert meta["inputs"] == [{"name": "gray", "channels": 1}]  # What the network reads.
  changed = tmp_path / "changed"
  shutil.copytree(bundle, changed)
  meta["inputs"] = [{"name": "gray", "channels": 1}, {"name": "hint_ab", "channels": 2}]
  (changed / "bundle.json").write_text(json.dumps(meta))
  with pytest.raises(ValueError, match=r"reads inputs gray\(1\) \+ hint_ab\(2\) but task"):
    inference.from_bundle(str(changed))
  proc = colorize_cli(
    f"--bundle={changed}", str(photos / "odd.png"), f"--output={tmp_path / 'out'}"
  )
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert proc.returncode != 0 and len(errors) == 1 and "Traceback" not in proc.stderr
  assert "gray(1) + hint_ab(2)" in errors[0] and not (tmp_path / "out").exists()
