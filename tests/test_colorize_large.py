"""colorize at any size (issue 23, point 3): full resolution is made in row bands with the same
pixels as upsampling the whole square first, photos decode with few copies, huge photos are
batched alone, and the size limit is this project's, said in one line. Nothing here is timed:
bench/colorize_memory.py measures the memory."""

import struct
import warnings
import zlib

import jax
import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from colorize_jax import colorize, inference, tasks
from colorize_jax.data import decode
from colorize_jax.data.square import square_box
from colorize_jax.train import optim


@pytest.fixture(scope="module")
def colorizer():
  config = load_config("unet", "smoke")  # 32 px, untrained: its chroma varies, which is enough.
  task = tasks.build(config)
  size = config.data.image_size
  state = task.init_state(jax.random.key(0), size, optim.build_all(config, task.optimizers, None))
  return inference.Colorizer(config, task, task.inference_variables(state))


def _photo(height, width, seed=0):
  """A smooth colour gradient with noise, like bench/colorize_memory.py's."""
  y, x = np.mgrid[0:height, 0:width] / max(height, width)
  rng = np.random.default_rng(seed)
  rgb = np.stack([0.2 + 0.6 * x, 0.8 - 0.5 * y, 0.5 + 0.3 * np.sin(6 * (x + y))], axis=-1)
  return np.clip(np.round((rgb + rng.normal(0, 0.03, rgb.shape)) * 255), 0, 255).astype(np.uint8)


def _pillow_resize(ab, height, width):
  """What colorize did before: each chroma channel resized by Pillow, bilinear."""
  return np.stack(
    [
      np.asarray(
        Image.fromarray(np.ascontiguousarray(ab[..., c]), mode="F").resize(
          (width, height), Image.Resampling.BILINEAR
        )
      )
      for c in range(ab.shape[-1])
    ],
    axis=-1,
  )


def _reference(image, ab_small):
  """The straightforward full resolution: the whole square's chroma, cut, one recombination."""
  height, width = image.shape[:2]
  side, top, left = square_box(height, width)
  ab = _pillow_resize(ab_small, side, side)[top : top + height, left : left + width]
  return np.asarray(inference.recombine(image, ab))


@pytest.mark.parametrize("shape", [(517, 333), (32, 32), (20, 13), (7, 300)])
def test_upsampling_is_pillows_bilinear_resize(shape):
  ab = np.random.default_rng(1).normal(0, 30, (32, 32, 2)).astype(np.float32)
  got, want = colorize.upsample_ab(ab, *shape), _pillow_resize(ab, *shape)
  assert got.dtype == np.float32 and got.shape == shape + (2,)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(333, 517), (517, 333), (61, 40)])
@pytest.mark.parametrize("band_pixels", [1 << 22, 128 * 128])
def test_full_resolution_in_bands_equals_the_whole_photo_at_once(
  colorizer, shape, band_pixels, monkeypatch
):
  monkeypatch.setattr(colorize, "_BAND_PIXELS", band_pixels)  # 128 * 128: a band per 128 rows.
  image = _photo(*shape)
  ab = colorize.predict_ab(colorizer, [image])[0]
  assert np.abs(ab).mean() > 0.5  # The untrained model does colour: chroma is compared.
  got, want = colorize.full_resolution(image, ab), _reference(image, ab)
  assert got.shape == image.shape and got.dtype == np.uint8
  diff = np.abs(got.astype(np.int16) - want)
  assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3  # Within 1/255, nearly all identical.
  # And the chroma is the model's, not the input's: the output differs from the photo.
  assert np.abs(got.astype(np.int16) - image).mean() > 1.0


def test_huge_photos_are_batched_alone(monkeypatch, tmp_path):
  monkeypatch.setattr(colorize, "_BATCH_PIXELS", 5000)
  paths = []
  for i, (h, w) in enumerate([(40, 50), (40, 50), (100, 100), (10, 10), (10, 10), (10, 10)]):
    paths.append((str(tmp_path / f"{i}.png"), str(i)))
    Image.fromarray(_photo(h, w, i)).save(paths[-1][0])
  sizes = [[name for _, name, _ in chunk] for chunk in colorize._chunks(paths, batch_size=2)]
  # 2000 + 2000 pixels fit; 10000 is over the budget, alone; then at most batch_size.
  assert sizes == [["0", "1"], ["2"], ["3", "4"], ["5"]]


def test_a_jpeg_decodes_straight_to_the_array_as_pillow_does(tmp_path):
  image = _photo(301, 457)
  Image.fromarray(image).save(tmp_path / "p.jpg", quality=90)
  Image.fromarray(image).save(tmp_path / "p.png")
  with Image.open(tmp_path / "p.jpg") as img:
    want = np.array(img.convert("RGB"))
  got = decode.load_image(str(tmp_path / "p.jpg"))
  np.testing.assert_array_equal(got, want)
  assert got.flags.writeable
  np.testing.assert_array_equal(decode.load_image(str(tmp_path / "p.png")), image)
  with Image.open(tmp_path / "p.png") as img:  # Copied out in bands of a few rows each.
    np.testing.assert_array_equal(decode._to_array(img.convert("RGB"), band_bytes=5000), image)


def _png_header(path, width, height):
  """A PNG that claims width x height (its header only: no pixels)."""

  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

  ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_the_size_limit_is_ours_and_said_in_one_line(tmp_path, colorizer):
  assert Image.MAX_IMAGE_PIXELS is None  # Pillow's 89.5 MP warning and 179 MP refusal are off.
  decode.check_pixels("p", 12000, 8000, decode.MAX_PIXELS)  # 96 MP passes.
  _png_header(tmp_path / "big.png", 20000, 15000)  # 300 MP.
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # No DecompressionBombWarning either.
    with pytest.raises(decode.ImageDecodeError, match=r"20000x15000 is 300 MP, above the limit"):
      decode.load_image(str(tmp_path / "big.png"))
  # colorize names the photo and the flag; the others are still written.
  Image.fromarray(_photo(30, 40)).save(tmp_path / "small.png")
  result = colorize.colorize_paths(
    colorizer, [str(tmp_path / "big.png"), str(tmp_path / "small.png")], str(tmp_path / "out")
  )
  assert result.written == [str(tmp_path / "out" / "small.png")]
  [(path, reason)] = result.failed
  assert path.endswith("big.png") and "--max_megapixels" in reason and "250 MP" in reason
  result = colorize.colorize_paths(
    colorizer, [str(tmp_path / "small.png")], str(tmp_path / "out2"), max_pixels=1000
  )
  assert not result.written and "above the limit of 0.001 MP" in result.failed[0][1]
