"""Colour management on decoding (colorize_jax/data/icc.py): photos tagged with a profile
other than sRGB are read as sRGB, sRGB-tagged photos exactly as before, bad tags ignored."""

import io
import os

import numpy as np
import pytest
from fixtures import icc_profiles
from PIL import Image, ImageCms

from colorize_jax.config import base as config_base
from colorize_jax.data import decode, fast_jpeg, icc, prepare
from colorize_jax.data.sources import folder, sample
from colorize_jax.train import preflight

SRGB = ImageCms.createProfile("sRGB")


def adobe_rgb() -> bytes:
  """The Adobe RGB (1998) profile that scikit-image's rocket.jpg carries."""
  with Image.open(sample.photo_path("rocket")) as img:
    profile = img.info["icc_profile"]
  assert "Adobe RGB" in ImageCms.getProfileDescription(
    ImageCms.ImageCmsProfile(io.BytesIO(profile))
  )
  return profile


def srgb_builtin() -> bytes:
  return ImageCms.ImageCmsProfile(SRGB).tobytes()


def saturated_patches() -> np.ndarray:
  """Flat 8x8 patches (JPEG keeps them nearly exact) of saturated and mid colours."""
  colours = [(200, 40, 40), (40, 180, 60), (50, 60, 210), (128, 128, 128), (230, 200, 60)]
  return np.concatenate([np.full((16, 16, 3), c, np.uint8) for c in colours], axis=1)


def write(path, pixels: np.ndarray, profile: bytes | None, fmt: str, mode: str | None = None):
  img = Image.fromarray(pixels, mode) if mode is None else Image.fromarray(pixels).convert(mode)
  kwargs = {"icc_profile": profile} if profile else {}
  if fmt == "JPEG":
    kwargs["quality"] = 100
  img.save(path, fmt, **kwargs)
  return str(path)


def reference_srgb(path, profile: bytes) -> np.ndarray:
  """LittleCMS's own conversion of the file's decoded pixels, as the expected answer."""
  with Image.open(path) as img:
    img.load()
    return np.asarray(
      ImageCms.profileToProfile(
        img, ImageCms.ImageCmsProfile(io.BytesIO(profile)), SRGB, outputMode="RGB"
      )
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_an_adobe_rgb_photo_is_converted_to_srgb(tmp_path, fmt):
  path = write(tmp_path / f"adobe.{fmt.lower()}", saturated_patches(), adobe_rgb(), fmt)
  managed = decode.load_image(path)
  plain = decode.load_image(path, color_manage=False)
  np.testing.assert_array_equal(managed, reference_srgb(path, adobe_rgb()))
  # Adobe RGB values read as sRGB are washed out: converted, the red patch is redder.
  assert managed[8, 8, 0] - plain[8, 8, 0] >= 15
  chroma = lambda a: (a.max(-1).astype(int) - a.min(-1)).mean()  # noqa: E731
  assert chroma(managed) > chroma(plain) + 10
  # The training path (DCT-scaled, cropped, resized) converts too, from any format.
  red = write(tmp_path / f"red.{fmt.lower()}", saturated_patches()[:, :16], adobe_rgb(), fmt)
  square = decode.decode_square(red, 8)
  np.testing.assert_array_equal(square, decode.resize_square(decode.open_rgb(red, 8), 8))
  assert square[4, 4, 0] - decode.decode_square(red, 8, color_manage=False)[4, 4, 0] >= 15


def test_the_fast_jpeg_path_hands_a_converting_profile_to_pillow(tmp_path):
  adobe = open(write(tmp_path / "a.jpg", saturated_patches(), adobe_rgb(), "JPEG"), "rb").read()
  srgb = open(write(tmp_path / "s.jpg", saturated_patches(), srgb_builtin(), "JPEG"), "rb").read()
  assert (
    fast_jpeg.jpeg_profile(adobe) == adobe_rgb() and fast_jpeg.jpeg_profile(srgb) == srgb_builtin()
  )
  assert fast_jpeg.decode_plain(adobe, 16) is None
  assert fast_jpeg.decode_plain(adobe, 16, color_manage=False) is not None
  assert fast_jpeg.decode_plain(srgb, 16) is not None  # sRGB under its own name: still fast.


def test_a_profile_split_over_several_app2_segments_is_joined_in_order():
  profile = bytes(range(256)) * 3
  segments = b""
  for number, chunk in ((2, profile[400:]), (1, profile[:400])):  # Stored out of order.
    payload = b"ICC_PROFILE\x00" + bytes([number, 2]) + chunk
    segments += b"\xff\xe2" + (len(payload) + 2).to_bytes(2, "big") + payload
  assert fast_jpeg.jpeg_profile(b"\xff\xd8" + segments + b"\xff\xda\x00\x02") == profile
  assert fast_jpeg.jpeg_profile(b"\xff\xd8\xff\xda\x00\x02") is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_srgb_tagged_photos_decode_exactly_as_untagged(tmp_path, fmt):
  pixels = saturated_patches()
  tagged = write(tmp_path / f"tagged.{fmt.lower()}", pixels, srgb_builtin(), fmt)
  untagged = write(tmp_path / f"untagged.{fmt.lower()}", pixels, None, fmt)
  np.testing.assert_array_equal(decode.load_image(tagged), decode.load_image(untagged))
  np.testing.assert_array_equal(
    decode.decode_square(tagged, 16), decode.decode_square(untagged, 16)
  )
  assert not icc.converts(srgb_builtin(), "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_gray_profile_sets_the_lightness(tmp_path, fmt):
  # Value 128 in linear light is sRGB's 188: the colorizer's input lightness.
  path = write(
    tmp_path / f"linear.{fmt.lower()}",
    np.full((16, 16), 128, np.uint8),
    icc_profiles.gray(1.0),
    fmt,
    None,
  )
  managed = decode.load_image(path)
  assert np.abs(managed.astype(int) - 188).max() <= 1
  assert (managed[..., 0] == managed[..., 1]).all() and (managed[..., 1] == managed[..., 2]).all()
  np.testing.assert_array_equal(
    decode.load_image(path, color_manage=False), np.full((16, 16, 3), 128)
  )


def test_a_gray_photo_with_alpha_keeps_its_profile(tmp_path):
  gray = np.full((16, 16), 128, np.uint8)
  alpha = np.full((16, 16), 255, np.uint8)
  alpha[:, 8:] = 0  # The right half transparent: composited over white.
  path = str(tmp_path / "la.png")
  Image.fromarray(np.stack([gray, alpha], -1), "LA").save(path, icc_profile=icc_profiles.gray(1.0))
  managed = decode.load_image(path)
  assert np.abs(managed[:, :8].astype(int) - 188).max() <= 1
  assert (managed[:, 8:] == 255).all()


def test_a_cmyk_photo_is_read_through_its_press_profile(tmp_path):
  # The test profile prints on yellowish paper: a quarter of every ink comes out warm, where
  # Pillow's profile-free CMYK conversion gives a neutral gray.
  ink = np.full((16, 16, 4), 64, np.uint8)
  path = str(tmp_path / "press.jpg")
  Image.fromarray(ink, "CMYK").save(
    path, "JPEG", quality=100, icc_profile=icc_profiles.cmyk_tinted_paper((90, 0, 30))
  )
  managed = decode.load_image(path)[8, 8].astype(int)
  plain = decode.load_image(path, color_manage=False)[8, 8].astype(int)
  assert managed[0] - managed[2] >= 20, managed
  assert abs(plain[0] - plain[2]) <= 2, plain
  assert decode.decode_square(path, 8)[4, 4, 0] - decode.decode_square(path, 8)[4, 4, 2] >= 20


@pytest.fixture(name="warnings")
def _warnings(caplog):
  icc._profile.cache_clear()
  icc._transform.cache_clear()
  return caplog


def test_an_unreadable_profile_is_ignored_with_one_warning(tmp_path, warnings):
  pixels = saturated_patches()
  damaged = b"\0\0\0\x80" + os.urandom(124)  # A header that claims 128 bytes and is noise.
  paths = [write(tmp_path / f"{i}.png", pixels, damaged, "PNG") for i in range(3)]
  for path in paths:
    np.testing.assert_array_equal(
      decode.load_image(path), decode.load_image(path, color_manage=False)
    )
  assert warnings.text.count("ignoring an unreadable ICC profile") == 1


def test_a_profile_of_another_colour_space_is_ignored_with_one_warning(tmp_path, warnings):
  # An RGB profile on gray pixels (some scanners write it): read as the gray it is.
  paths = [
    write(tmp_path / f"{i}.jpg", np.full((16, 16), 90, np.uint8), adobe_rgb(), "JPEG")
    for i in range(2)
  ]
  for path in paths:
    np.testing.assert_array_equal(
      decode.load_image(path), decode.load_image(path, color_manage=False)
    )
  assert warnings.text.count("ignoring an ICC profile for RGB on L pixels") == 1


def folder_config(path, **data):
  config = config_base.base_config()
  config.data.update(
    {
      "source": "folder",
      "path": str(path),
      "image_size": 16,
      "split_fractions": (1.0, 0.0, 0.0),
      **data,
    }
  )
  return config


def test_folder_runs_read_converted_pixels_unless_told_none(tmp_path):
  write(tmp_path / "adobe.jpg", saturated_patches(), adobe_rgb(), "JPEG")
  managed = folder.FolderSource(folder_config(tmp_path).data, "train")[0]["image"]
  plain = folder.FolderSource(folder_config(tmp_path, color_management="none").data, "train")[0][
    "image"
  ]
  np.testing.assert_array_equal(managed, decode.decode_square(str(tmp_path / "adobe.jpg"), 16))
  assert np.abs(managed.astype(int) - plain).max() >= 15
  with pytest.raises(ValueError, match=r"data.color_management='srgb' must be one of icc, none"):
    folder.FolderSource(folder_config(tmp_path, color_management="srgb").data, "train")


def test_preflight_names_a_bad_mode_and_the_valid_ones(tmp_path):
  problem = preflight._color_management(folder_config(tmp_path, color_management="sRGB"))
  assert problem == "data.color_management='sRGB' must be one of icc, none"


def test_runs_begun_before_the_field_keep_reading_photos_as_srgb():
  config = config_base.base_config()
  saved = config.to_dict()
  del saved["data"]["color_management"]
  assert "data.color_management" in config_base.apply_legacy_values(config, saved)
  assert config.data.color_management == "none"


def test_the_sample_sources_adobe_rgb_photo_is_converted():
  config = config_base.base_config().data
  managed = sample.SampleSource(config, "train")
  config.color_management = "none"
  plain = sample.SampleSource(config, "train")
  by_photo = {}
  for index in range(len(managed.photos)):  # One crop of each photo.
    by_photo[managed.photo_of(index)] = np.abs(
      managed[index]["image"].astype(int) - plain[index]["image"]
    ).max()
  assert by_photo.pop("rocket") >= 10
  assert set(by_photo.values()) == {0}  # The others are untagged or sRGB.


def test_prepare_stores_converted_pixels_for_a_converting_profile(tmp_path):
  adobe = write(tmp_path / "adobe.jpg", saturated_patches(), adobe_rgb(), "JPEG")
  srgb = write(tmp_path / "srgb.jpg", saturated_patches(), srgb_builtin(), "JPEG")
  assert prepare.encode_file(srgb, 0, 4) == open(srgb, "rb").read()  # Kept as it is.
  stored = Image.open(io.BytesIO(prepare.encode_file(adobe, 0, 4)))
  assert stored.format == "PNG" and not stored.info.get("icc_profile")
  np.testing.assert_array_equal(np.asarray(stored), decode.load_image(adobe))
