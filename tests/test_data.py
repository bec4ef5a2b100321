"""Input pipeline: decoding, sources, splits, sharded eval, resumable training iterator."""

from __future__ import annotations

import io
import os
import pathlib

import grain
import ml_collections
import numpy as np
import pytest
from PIL import Image

from colorize_jax import registry
from colorize_jax.data import (
  DataPipeline,
  ImageDecodeError,
  decode,
  fast_jpeg,
  load_image,
  resize_image,
  resize_square,
  splits,
)
from colorize_jax.data.sources import folder, sample

SIZE = 32


def make_cfg(path: str = "", **overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(
    dict(
      source="folder",
      path=path,
      image_size=SIZE,
      split_fractions=(0.7, 0.1, 0.2),
      augment=dict(zoom=0.0, rotation=0.0, hflip=False),
      worker_count=0,
      sample_crops_per_photo=4,
      sample_eval_crops_per_photo=2,
      min_image_size=16,
    )
  )
  cfg.update(overrides)
  return cfg


def colour(i: int) -> tuple[int, int, int]:
  """Distinct, far-apart solid colours identify examples after resizing."""
  return (8 * (i % 32), 255 - 8 * (i // 32), (97 * i) % 256)


def colour_id(image: np.ndarray) -> int:
  mean = image.reshape(-1, 3).mean(0)
  return 32 * round((255 - mean[1]) / 8) + round(mean[0] / 8)


def make_colour_folder(root: pathlib.Path, n: int, order=None) -> list[str]:
  """n solid-colour PNGs spread over nested folders; returns relative paths."""
  rels = []
  for i in order if order is not None else range(n):
    rel = f"class_{i % 3}/sub_{i % 2}/img_{i:03d}.png"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 48), colour(i)).save(path)
    rels.append(rel)
  return rels


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format="JPEG", **kw)
  return buf.getvalue()


def truncated_jpeg() -> bytes:
  """A JPEG whose header reads fine and whose pixel data stops halfway."""
  full = jpeg_bytes(
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
  )
  return full[: len(full) // 2]


# --- decode -----------------------------------------------------------------


def test_load_image_modes(tmp_path):
  cases = {}
  cases["gray.png"] = Image.new("L", (20, 20), 77)
  cases["bit.png"] = Image.new("1", (20, 20), 1)
  cases["palette.png"] = Image.new("RGB", (20, 20), (10, 200, 30)).convert(
    "P", palette=Image.Palette.ADAPTIVE
  )
  cases["cmyk.jpg"] = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # red
  for name, img in cases.items():
    img.save(tmp_path / name)
  out = {name: load_image(tmp_path / name) for name in cases}
  for name, arr in out.items():
    assert arr.dtype == np.uint8 and arr.shape == (20, 20, 3), name
  assert (out["gray.png"] == 77).all()
  assert (out["bit.png"] == 255).all()
  assert tuple(out["palette.png"][0, 0]) == (10, 200, 30)
  r, g, b = out["cmyk.jpg"][10, 10].astype(int)
  assert r > 200 and g < 60 and b < 60


def test_load_image_transparency_composites_over_white(tmp_path):
  rgba = np.zeros((10, 10, 4), np.uint8)
  rgba[..., 0] = 255
  rgba[:, :5, 3] = 255  # left opaque red, right fully transparent
  Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
  arr = load_image(tmp_path / "rgba.png")
  assert tuple(arr[0, 0]) == (255, 0, 0)
  assert tuple(arr[0, 9]) == (255, 255, 255)
  Image.new("LA", (4, 4), (0, 0)).save(tmp_path / "la.png")
  assert (load_image(tmp_path / "la.png") == 255).all()
  pal = Image.new("P", (4, 4), 1)
  pal.putpalette([0, 0, 0, 0, 255, 0])
  pal.save(tmp_path / "ptrans.png", transparency=1)
  assert (load_image(tmp_path / "ptrans.png") == 255).all()


def test_load_image_16_bit_is_scaled_not_clipped(tmp_path):
  values = np.array([[0, 1000, 40000, 65535]] * 4, np.uint16)
  Image.fromarray(values).save(tmp_path / "deep.png")
  assert Image.open(tmp_path / "deep.png").mode.startswith("I")
  arr = load_image(tmp_path / "deep.png")
  np.testing.assert_array_equal(arr[0, :, 0], np.rint(values[0] / 257.0).astype(np.uint8))
  floats = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
  Image.fromarray(floats, "F").save(tmp_path / "float.tif")
  arr = load_image(tmp_path / "float.tif")
  assert arr[0, 0, 0] == 0 and arr[3, 3, 0] == 255


def test_load_image_applies_exif_orientation(tmp_path):
  stored = np.zeros((40, 60, 3), np.uint8)  # H=40, W=60: left red, right blue
  stored[:, :30] = (255, 0, 0)
  stored[:, 30:] = (0, 0, 255)
  img = Image.fromarray(stored)
  exif = img.getexif()
  exif[0x0112] = 6  # display rotated 90 degrees clockwise
  (tmp_path / "rot.jpg").write_bytes(jpeg_bytes(img, exif=exif.tobytes(), quality=95))
  arr = load_image(tmp_path / "rot.jpg")
  assert arr.shape == (60, 40, 3)
  assert arr[5, 20, 0] > 200 and arr[5, 20, 2] < 60  # top is the stored left (red)
  assert arr[55, 20, 2] > 200 and arr[55, 20, 0] < 60


def test_load_image_errors_are_one_type(tmp_path):
  (tmp_path / "text.jpg").write_text("not an image")
  (tmp_path / "noise.png").write_bytes(os.urandom(500))
  (tmp_path / "trunc.jpg").write_bytes(truncated_jpeg())
  for name in ("text.jpg", "noise.png", "trunc.jpg", "missing.png"):
    with pytest.raises(ImageDecodeError, match=name):
      load_image(tmp_path / name)


def test_load_image_draft_keeps_min_side_and_file_objects(tmp_path):
  big = Image.new("RGB", (400, 300), (1, 2, 3))
  data = jpeg_bytes(big)
  arr = load_image(io.BytesIO(data), min_side=64)
  assert min(arr.shape[:2]) >= 64 and arr.shape[:2] == (75, 100)  # 1/4 scale
  assert load_image(io.BytesIO(data)).shape == (300, 400, 3)


def test_resize_square_center_crops():
  img = np.zeros((20, 60, 3), np.uint8)
  img[:, 20:40] = 200  # the centre square is all 200
  out = resize_square(img, 10)
  assert out.shape == (10, 10, 3) and out.dtype == np.uint8
  assert (out == 200).all()


# 2x and 4x box paths, then OpenCV's area average (factors 8 and 19).
@pytest.mark.parametrize("side", [57, 100, 227, 600])
def test_resize_square_is_antialiased(side):
  # A 1-pixel checkerboard has all its energy at the Nyquist frequency; any
  # shrink that does not low-pass first turns it into moire.
  checker = (np.indices((side, side)).sum(0) % 2 * 255).astype(np.uint8)
  out = resize_square(np.repeat(checker[..., None], 3, -1), 32).astype(float)
  assert out.shape == (32, 32, 3)
  assert abs(out.mean() - 127.5) < 3 and out.std() < 12


@pytest.mark.parametrize("shape", [(333, 517), (90, 300), (70, 120), (40, 60)])
def test_resize_image_is_antialiased_per_axis_and_keeps_no_crop(shape):
  checker = (np.indices(shape).sum(0) % 2 * 255).astype(np.uint8)
  image = np.repeat(checker[..., None], 3, -1)
  image[:, :2] = 0  # A dark left edge: cropping would lose it.
  out = resize_image(image, 32, 32).astype(float)
  assert out.shape == (32, 32, 3)
  interior = out[:, 4:]
  assert abs(interior.mean() - 127.5) < 4 and interior.std() < 12
  assert out[:, 0].mean() < interior.mean()  # The edge survives: nothing was cropped.


@pytest.mark.parametrize("size", [300, 200, 128, 100])  # 512 px: every resize path
def test_resize_square_is_closer_to_lanczos_than_pillow_bilinear(size):
  photo = sample.load_photo("astronaut")
  lanczos = np.asarray(photo.resize((size, size), Image.Resampling.LANCZOS)).astype(float)
  bilinear = np.asarray(photo.resize((size, size), Image.Resampling.BILINEAR)).astype(float)
  ours = resize_square(photo, size).astype(float)
  assert np.abs(ours - lanczos).mean() < 0.8 * np.abs(bilinear - lanczos).mean()


def _noisy_photo(width, height, mode="RGB"):
  rng = np.random.default_rng(width)
  smooth = np.asarray(
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize(
      (width, height), Image.Resampling.BICUBIC
    )
  )
  return Image.fromarray(smooth).convert(mode)


@pytest.mark.parametrize("mode,size", [("RGB", 40), ("L", 40), ("RGB", 90), ("RGB", 24)])
def test_decode_square_jpeg_fast_path_equals_pillow_path(tmp_path, mode, size):
  path = tmp_path / "photo.jpg"
  _noisy_photo(400, 300, mode).save(path, quality=90)
  fast = decode.decode_square(path, size)
  pillow = resize_square(load_image(path, min_side=size), size)
  assert fast.shape == (size, size, 3) and fast.dtype == np.uint8
  assert np.abs(fast.astype(int) - pillow).max() <= 1


@pytest.mark.parametrize(
  "width,height,size", [(227, 227, 128), (400, 300, 64), (2000, 1500, 128), (300, 300, 40)]
)
def test_jpeg_dct_scale_matches_pillow_draft(width, height, size):
  img = Image.open(io.BytesIO(jpeg_bytes(Image.new("RGB", (width, height)))))
  img.draft("RGB", (size, size))
  scale = fast_jpeg.jpeg_scale(width, height, size)
  assert (-(-width // scale), -(-height // scale)) == img.size


def test_decode_square_rotated_cmyk_and_broken_jpegs(tmp_path):
  upright = _noisy_photo(60, 40)
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotate 90 CW on display.
  upright.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
  rotated = decode.decode_square(tmp_path / "rot.jpg", 20)
  expected = resize_square(np.asarray(upright.transpose(Image.Transpose.ROTATE_270)), 20)
  assert np.abs(rotated.astype(int) - expected).mean() < 4
  Image.new("CMYK", (40, 40), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
  cmyk = decode.decode_square(tmp_path / "cmyk.jpg", 16)
  assert (cmyk == load_image(tmp_path / "cmyk.jpg")[:16, :16]).all()  # Pillow's conversion.
  data = (tmp_path / "rot.jpg").read_bytes()
  (tmp_path / "trunc.jpg").write_bytes(jpeg_bytes(upright)[:300])
  with pytest.raises(ImageDecodeError, match="trunc.jpg"):
    decode.decode_square(tmp_path / "trunc.jpg", 16)
  (tmp_path / "fake.jpg").write_bytes(data[:2] + b"garbage" * 10)
  with pytest.raises(ImageDecodeError, match="fake.jpg"):
    decode.decode_square(tmp_path / "fake.jpg", 16)


# --- folder source ----------------------------------------------------------


def test_folder_source_skips_bad_files(tmp_path):
  make_colour_folder(tmp_path, 4)
  Image.new("CMYK", (40, 40), (0, 0, 0, 0)).save(tmp_path / "class_0" / "cmyk.JPG")
  Image.fromarray(np.full((40, 40), 30000, np.uint16)).save(tmp_path / "deep.png")
  (tmp_path / "a" / "b").mkdir(parents=True)
  Image.new("RGBA", (40, 40), (0, 0, 255, 128)).save(tmp_path / "a" / "b" / "rgba.png")
  Image.new("RGB", (40, 40), (5, 5, 5)).convert("P").save(tmp_path / "pal.bmp")
  Image.new("L", (40, 40), 99).save(tmp_path / "gray.webp")
  Image.new("RGB", (8, 40), (1, 1, 1)).save(tmp_path / "tiny.png")  # below min_image_size
  (tmp_path / "text.jpg").write_text("hello")
  (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
  (tmp_path / "trunc.jpg").write_bytes(truncated_jpeg())
  (tmp_path / "notes.txt").write_text("ignored: not an image extension")

  src = registry.get("source", "folder")(
    make_cfg(str(tmp_path), split_fractions=(1, 0, 0)), "train"
  )
  assert src.num_unreadable == 2 and src.num_too_small == 1
  assert len(src) == 4 + 5 + 1  # colour images, 5 odd modes, the truncated JPEG
  valid = {}
  for i in range(len(src)):
    rec = src[i]
    assert rec["image"].dtype == np.uint8 and rec["image"].shape == (SIZE, SIZE, 3)
    valid[src.files[i]] = bool(rec["valid"])
  assert valid.pop("trunc.jpg") is False
  assert all(valid.values())
  deep = src[src.files.index("deep.png")]["image"]
  assert abs(int(deep[0, 0, 0]) - round(30000 / 257)) <= 1


def test_failed_records_warn_once_per_index_and_survive_pickling(caplog):
  import pickle  # pylint: disable=g-import-not-at-top

  from colorize_jax.data import splits  # pylint: disable=g-import-not-at-top

  failed = splits.FailedRecords(SIZE)
  with caplog.at_level("WARNING"):
    rec = failed.record(3, "bad %d", 3)
    failed.record(3, "bad %d", 3)
    copy = pickle.loads(pickle.dumps(failed))  # As grain ships a source to a worker.
    copy.record(3, "bad %d", 3)
    copy.record(4, "bad %d", 4)
  assert caplog.text.count("bad 3") == 1 and caplog.text.count("bad 4") == 1
  assert rec["image"].shape == (SIZE, SIZE, 3) and not rec["image"].any() and not rec["valid"]


def test_folder_splits_deterministic_disjoint_and_complete(tmp_path):
  n = 40
  a, b = tmp_path / "a", tmp_path / "b"
  rels = make_colour_folder(a, n)
  make_colour_folder(b, n, order=list(reversed(range(n))))
  cfg_a, cfg_b = make_cfg(str(a)), make_cfg(str(b))
  files = {}
  for split in ("train", "val", "test"):
    fa = registry.get("source", "folder")(cfg_a, split).files
    assert fa == registry.get("source", "folder")(cfg_a, split).files
    assert fa == registry.get("source", "folder")(cfg_b, split).files
    files[split] = fa
  # Each file's split from its own path: counts near 0.7/0.1/0.2, exact only on average.
  assert [len(files[s]) for s in splits.SPLITS] == [
    sum(splits.split_of(r, (0.7, 0.1, 0.2)) == s for r in rels) for s in splits.SPLITS
  ]
  everything = files["train"] + files["val"] + files["test"]
  assert sorted(everything) == sorted(rels)  # disjoint and complete
  # Runs begun before data.split_method keep theirs: exact fractions of the hash order.
  rank = make_cfg(str(a), split_method="rank")
  assert [len(registry.get("source", "folder")(rank, s)) for s in splits.SPLITS] == [28, 4, 8]


def test_folder_errors_name_the_path(tmp_path):
  missing = str(tmp_path / "nope")
  with pytest.raises(FileNotFoundError, match="nope"):
    DataPipeline(make_cfg(missing), global_batch_size=2, seed=0).num_examples("train")
  (tmp_path / "empty" / "sub").mkdir(parents=True)
  (tmp_path / "empty" / "readme.txt").write_text("x")
  with pytest.raises(ValueError, match="empty"):
    DataPipeline(make_cfg(str(tmp_path / "empty")), global_batch_size=2, seed=0).num_examples(
      "train"
    )
  with pytest.raises(ValueError, match="empty"):
    DataPipeline(make_cfg(""), global_batch_size=2, seed=0).num_examples("train")


def test_pipeline_argument_errors(tmp_path):
  make_colour_folder(tmp_path, 10)
  with pytest.raises(KeyError, match="'bogus'.*folder.*sample"):
    DataPipeline(make_cfg(str(tmp_path), source="bogus"), global_batch_size=2, seed=0)
  with pytest.raises(ValueError, match="6.*4"):
    DataPipeline(make_cfg(str(tmp_path)), global_batch_size=6, seed=0, process_count=4)
  pipe = DataPipeline(make_cfg(str(tmp_path)), global_batch_size=8, seed=0)
  with pytest.raises(ValueError, match=f"{pipe.num_examples('train')} examples.*8"):
    pipe.train_iterator()
  with pytest.raises(ValueError, match="split"):
    pipe.num_examples("training")


# --- eval -------------------------------------------------------------------


@pytest.mark.parametrize("split", ["val", "test"])
def test_eval_batches_cover_split_once_across_processes(tmp_path, split):
  make_colour_folder(tmp_path, 45)
  cfg = make_cfg(str(tmp_path), split_fractions=(0.4, 0.3, 0.3))
  pipes = [
    DataPipeline(cfg, global_batch_size=4, seed=0, process_index=p, process_count=2)
    for p in range(2)
  ]
  src = pipes[0].source(split)
  expected = sorted(int(f.split("_")[-1][:3]) for f in src.files)
  seen, num_batches = [], []
  for pipe in pipes:
    batches = list(pipe.eval_batches(split))
    num_batches.append(len(batches))
    for batch in batches:
      assert batch["image"].shape == (2, SIZE, SIZE, 3) and batch["image"].dtype == np.uint8
      assert batch["mask"].shape == (2,) and batch["mask"].dtype == bool
      assert (batch["image"][~batch["mask"]] == 0).all()
      seen += [colour_id(img) for img in batch["image"][batch["mask"]]]
  assert num_batches[0] == num_batches[1] == -(-len(expected) // 4)
  assert sorted(seen) == expected  # each real example exactly once
  # Unaugmented: eval images are exactly what the source decodes.
  first = next(iter(pipes[0].eval_batches(split)))
  np.testing.assert_array_equal(first["image"][0], src[0]["image"])


def test_eval_masks_files_that_fail_to_decode(tmp_path):
  make_colour_folder(tmp_path, 5)
  (tmp_path / "trunc.jpg").write_bytes(truncated_jpeg())
  pipe = DataPipeline(
    make_cfg(str(tmp_path), split_fractions=(0, 0, 1)), global_batch_size=4, seed=0
  )
  assert pipe.num_examples("test") == 6
  masks = np.concatenate([b["mask"] for b in pipe.eval_batches("test")])
  assert masks.shape == (8,) and masks.sum() == 5
  assert pipe.fixed_examples("test", 100).shape == (5, SIZE, SIZE, 3)


def test_is_gray_allows_jpeg_noise_but_not_colour():
  gray = np.full((50, 50, 3), 120, np.uint8)
  assert splits.is_gray(gray)
  specks = gray.copy()
  specks[:2, :10, 0] += 3  # 20 of 2,500 pixels (0.8%) 3 levels off: JPEG's chroma noise.
  assert splits.is_gray(specks)
  tinted = gray.copy()
  tinted[:5, :10, 2] += 3  # 2% of the pixels.
  assert not splits.is_gray(tinted)
  assert not splits.is_gray(np.asarray(Image.open(sample.photo_path("chelsea")).convert("RGB")))


@pytest.mark.parametrize("skip", [True, False])
def test_gray_photos_are_left_out_of_training_and_scoring(tmp_path, caplog, skip):
  make_colour_folder(tmp_path, 5)
  Image.new("L", (40, 40), 99).save(tmp_path / "gray_l.png")
  texture = np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)
  Image.fromarray(texture).convert("RGB").save(tmp_path / "gray_rgb.jpg", quality=75)
  cfg = make_cfg(str(tmp_path), split_fractions=(0, 0, 1), skip_gray_photos=skip)
  with caplog.at_level("WARNING"):
    pipe = DataPipeline(cfg, global_batch_size=4, seed=0)
    masks = np.concatenate([b["mask"] for b in pipe.eval_batches("test")])
  assert pipe.num_examples("test") == 7  # Listed; left out when read.
  assert masks.sum() == (5 if skip else 7)
  for name in ("gray_l.png", "gray_rgb.jpg"):
    assert (f"{name} has no colour (a grayscale photo)" in caplog.text) == skip
  cfg = make_cfg(str(tmp_path), split_fractions=(1, 0, 0), skip_gray_photos=skip)
  epoch = next(DataPipeline(cfg, global_batch_size=5 if skip else 7, seed=0).train_iterator())
  gray = [splits.is_gray(image) for image in epoch["image"]]
  assert sum(gray) == (0 if skip else 2)  # One epoch: the five colour photos, and the gray?
  assert sorted(colour_id(i) for i, g in zip(epoch["image"], gray) if not g) == list(range(5))


# --- training ---------------------------------------------------------------


def epoch_ids(it, batches: int) -> list[int]:
  return [colour_id(img) for _ in range(batches) for img in next(it)["image"]]


def test_train_iterator_shapes_epochs_and_sharding(tmp_path):
  make_colour_folder(tmp_path, 12)
  cfg = make_cfg(str(tmp_path), split_fractions=(1, 0, 0))
  pipe = DataPipeline(cfg, global_batch_size=4, seed=3)
  it = pipe.train_iterator()
  ids = epoch_ids(it, 9)  # 3 epochs of 12
  epochs = [ids[i : i + 12] for i in range(0, 36, 12)]
  for epoch in epochs:
    assert sorted(epoch) == list(range(12))
  assert len({tuple(e) for e in epochs}) == 3  # reshuffled every epoch
  # Two simulated processes: equal disjoint shards of the split, local batch 2.
  shards = []
  for p in range(2):
    it = DataPipeline(
      cfg, global_batch_size=4, seed=3, process_index=p, process_count=2
    ).train_iterator()
    batch = next(it)
    assert batch["image"].shape == (2, SIZE, SIZE, 3) and batch["image"].dtype == np.uint8
    shards.append({colour_id(img) for img in batch["image"]} | set(epoch_ids(it, 2)))
  assert not shards[0] & shards[1] and len(shards[0] | shards[1]) == 12


def test_train_iterator_skips_undecodable_files(tmp_path):
  make_colour_folder(tmp_path, 6)
  (tmp_path / "trunc.jpg").write_bytes(truncated_jpeg())
  it = DataPipeline(
    make_cfg(str(tmp_path), split_fractions=(1, 0, 0)), global_batch_size=3, seed=0
  ).train_iterator()
  assert sorted(epoch_ids(it, 2)) == list(range(6))


def test_train_iterator_state_restores_exactly(tmp_path):
  make_colour_folder(tmp_path, 10)
  cfg = make_cfg(
    str(tmp_path), split_fractions=(1, 0, 0), augment=dict(zoom=0.1, rotation=10.0, hflip=True)
  )
  pipe = DataPipeline(cfg, global_batch_size=4, seed=0)
  it = pipe.train_iterator()
  for _ in range(3):
    next(it)
  state = it.get_state()
  expected = [next(it)["image"] for _ in range(4)]
  resumed = pipe.train_iterator()
  resumed.set_state(state)
  for want in expected:
    np.testing.assert_array_equal(next(resumed)["image"], want)


def test_train_iterator_orbax_roundtrip(tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  data = tmp_path / "data"
  make_colour_folder(data, 10)
  pipe = DataPipeline(make_cfg(str(data), split_fractions=(1, 0, 0)), global_batch_size=4, seed=1)
  it = pipe.train_iterator()
  next(it)
  with ocp.CheckpointManager(tmp_path / "ckpt") as mngr:
    mngr.save(1, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
    mngr.wait_until_finished()
    expected = [next(it)["image"] for _ in range(3)]
    resumed = pipe.train_iterator()
    mngr.restore(1, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(resumed)))
  for want in expected:
    np.testing.assert_array_equal(next(resumed)["image"], want)


def test_train_iterator_with_worker_processes(tmp_path):
  make_colour_folder(tmp_path, 8)
  cfg = make_cfg(str(tmp_path), split_fractions=(1, 0, 0), worker_count=1)
  ref = DataPipeline(
    make_cfg(str(tmp_path), split_fractions=(1, 0, 0)), global_batch_size=4, seed=0
  ).train_iterator()
  it = DataPipeline(cfg, global_batch_size=4, seed=0).train_iterator()
  try:
    for _ in range(3):
      np.testing.assert_array_equal(next(it)["image"], next(ref)["image"])
  finally:
    it.close()


# --- sample source ----------------------------------------------------------


def test_sample_source_splits_by_photo():
  cfg = make_cfg(source="sample")
  pipe = DataPipeline(cfg, global_batch_size=4, seed=0)
  photos = {s: set(pipe.source(s).photos) for s in ("train", "val", "test")}
  assert not photos["train"] & photos["val"] and not photos["train"] & photos["test"]
  assert not photos["val"] & photos["test"]
  assert {"motorcycle_left", "motorcycle_right"} <= photos["train"]
  assert sum(len(p) for p in photos.values()) == 8
  assert pipe.num_examples("train") == 6 * 4 and pipe.num_examples("val") == 1 * 2
  for name in sample.PHOTOS_BY_SPLIT["train"] + ("chelsea", "flower"):
    assert os.path.exists(sample.photo_path(name)), name
  src = pipe.source("train")
  np.testing.assert_array_equal(src[5]["image"], src[5]["image"])
  assert not np.array_equal(src[0]["image"], src[6]["image"])  # same photo, other crop
  assert src[0]["image"].shape == (SIZE, SIZE, 3)
  assert pipe.fixed_examples("val", 5).shape == (2, SIZE, SIZE, 3)
  batch = next(pipe.train_iterator())
  assert batch["image"].shape == (4, SIZE, SIZE, 3)
  assert repr(src) == repr(registry.get("source", "sample")(cfg, "train"))


def test_registered_sources():
  assert {"folder", "sample"} <= set(registry.names("source"))
  assert folder.IMAGE_EXTENSIONS
