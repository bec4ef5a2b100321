"""tfds source and the folder -> ArrayRecord prepare command (offline, no TensorFlow)."""

from __future__ import annotations

import pathlib

import ml_collections
import numpy as np
import pytest
from PIL import Image

from colorize_jax import registry
from colorize_jax.color import ab_prior
from colorize_jax.data import DataPipeline, decode, prepare
from colorize_jax.data.sources import tfds_source

SIZE = 16
N = 12
NAME = "tiny_colours"


def colour(i: int) -> tuple[int, int, int]:
  return (20 * i, 255 - 20 * i, (97 * i) % 256)


def mean_colours(source) -> set[tuple[int, int, int]]:
  out = set()
  for i in range(len(source)):
    rec = source[i]
    image = rec["image"]
    assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
    assert rec["valid"]
    out.add(tuple(int(round(v)) for v in image.reshape(-1, 3).mean(0)))
  return out


def make_cfg(source: str, path: str = "", data_dir: str = "", **overrides):
  cfg = ml_collections.ConfigDict(
    dict(
      source=source,
      path=path,
      name=NAME,
      data_dir=data_dir,
      image_size=SIZE,
      split_fractions=(0.5, 0.25, 0.25),
      augment=dict(zoom=0.1, rotation=10.0, hflip=True),
      worker_count=0,
      min_image_size=16,
    )
  )
  cfg.update(overrides)
  return cfg


@pytest.fixture(scope="module", name="prepared")
def prepared_fixture(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path, dict]:
  """(image folder, tfds data dir, prepare summary): 2 classes, 12 images, 1 corrupt file."""
  root = tmp_path_factory.mktemp("folder")
  for i in range(N):
    path = root / f"class_{i % 2}" / f"img_{i:02d}.png"
    path.parent.mkdir(exist_ok=True)
    mode = "L" if i == 3 else "RGB"  # A grayscale file is stored and read back as RGB.
    Image.new(mode, (40, 40), colour(i)[0] if mode == "L" else colour(i)).save(path)
  (root / "class_0" / "broken.jpg").write_bytes(b"not an image")
  data_dir = tmp_path_factory.mktemp("tfds")
  summary = prepare.prepare(
    str(root), NAME, str(data_dir), split_fractions=(0.5, 0.25, 0.25), image_size=0
  )
  return root, data_dir, summary


def test_prepare_counts_and_labels(prepared):
  _, data_dir, summary = prepared
  assert summary["files"] == N + 1 and summary["unreadable"] == 1
  assert sum(summary["examples"].values()) == N
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  ds = tfds.data_source(NAME, split="train", data_dir=str(data_dir), download=False)
  rec = ds[0]
  assert rec["path"].decode().startswith(f"class_{rec['label']}/")


def test_prepare_writes_the_ab_prior_that_training_starts_from(prepared, tmp_path, monkeypatch):
  _, data_dir, summary = prepared
  assert summary["ab_prior"] == str(pathlib.Path(summary["data_dir"]) / ab_prior.PRIOR_FILE)
  record = ab_prior.load(summary["ab_prior"])
  cfg = make_cfg("tfds", data_dir=str(data_dir), image_size=128, skip_gray_photos=True)
  train = tfds_source.TfdsSource(cfg, "train")
  coloured = sum(bool(train[i]["valid"]) for i in range(len(train)))
  assert coloured < summary["examples"]["train"]  # The gray photo is a train one: left out.
  assert (record["images"], record["image_size"], record["skip_gray_photos"]) == (
    coloured,
    128,
    True,
  )
  pipe = DataPipeline(cfg, global_batch_size=4, seed=0)
  monkeypatch.setattr(
    ab_prior, "estimate", lambda *a: pytest.fail("the prepared prior must be used")
  )
  counts = ab_prior.for_training(pipe, str(tmp_path), max_images=100)
  np.testing.assert_array_equal(counts, record["counts"])
  assert ab_prior.load(str(tmp_path / ab_prior.PRIOR_FILE))["counts"] == record["counts"]


@pytest.mark.parametrize("field, value", [("image_size", SIZE), ("skip_gray_photos", False)])
def test_a_run_reading_photos_otherwise_counts_its_own_prior(
  prepared, tmp_path, caplog, field, value
):
  """The prepared prior was counted at 128 px without gray photos: a run at 16 px, or one that
  keeps gray photos, would be weighted by another distribution."""
  _, data_dir, summary = prepared
  cfg = make_cfg("tfds", data_dir=str(data_dir), image_size=128, skip_gray_photos=True)
  cfg[field] = value
  pipe = DataPipeline(cfg, global_batch_size=4, seed=0)
  with caplog.at_level("INFO"):
    ab_prior.for_training(pipe, str(tmp_path), max_images=100)
  own = ab_prior.load(str(tmp_path / ab_prior.PRIOR_FILE))
  assert f"counted at {field}=" in caplog.text and "counting the run's own" in caplog.text
  assert own["counts"] != ab_prior.load(summary["ab_prior"])["counts"]
  assert (own["image_size"], own["skip_gray_photos"]) == (cfg.image_size, cfg.skip_gray_photos)


def test_tfds_splits_equal_folder_splits(prepared):
  root, data_dir, _ = prepared
  for split in ("train", "val", "test"):
    folder_src = registry.get("source", "folder")(make_cfg("folder", str(root)), split)
    tfds_src = registry.get("source", "tfds")(make_cfg("tfds", data_dir=str(data_dir)), split)
    assert len(tfds_src) == len(folder_src), split
    assert mean_colours(tfds_src) == mean_colours(folder_src), split
    assert repr(tfds_src) == repr(
      registry.get("source", "tfds")(make_cfg("tfds", data_dir=str(data_dir)), split)
    )


def test_pipeline_train_batches_and_exact_eval(prepared):
  _, data_dir, _ = prepared
  pipe = DataPipeline(make_cfg("tfds", data_dir=str(data_dir)), global_batch_size=4, seed=0)
  it = pipe.train_iterator()
  for _ in range(3):  # Past the 6-example epoch.
    batch = next(it)
    assert batch["image"].shape == (4, SIZE, SIZE, 3) and batch["image"].dtype == np.uint8
  for split in ("val", "test", "train"):
    masks = [b["mask"] for b in pipe.eval_batches(split)]
    assert len(masks) == pipe.num_eval_batches(split)
    assert int(np.concatenate(masks).sum()) == pipe.num_examples(split)


def test_missing_splits_are_carved_from_train():
  specs = tfds_source.split_specs({"train": 1000}, (0.7, 0.1, 0.2))
  assert specs == {"train": "train[0:700]", "val": "train[700:800]", "test": "train[800:1000]"}
  specs = tfds_source.split_specs({"train": 100, "test": 30}, (0.7, 0.1, 0.2))
  assert specs == {"train": "train[0:88]", "val": "train[88:100]", "test": "test"}
  with pytest.raises(ValueError, match="no 'train' split"):
    tfds_source.split_specs({"test": 5}, (0.7, 0.1, 0.2))


def test_carved_val_from_a_train_only_data_set(tmp_path):
  root = tmp_path / "imgs"
  for i in range(8):
    (root / "a").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour(i)).save(root / "a" / f"{i}.png")
  prepare.prepare(
    str(root), "train_only", str(tmp_path / "tfds"), split_fractions=(1, 0, 0), image_size=SIZE
  )
  cfg = make_cfg(
    "tfds", data_dir=str(tmp_path / "tfds"), name="train_only", split_fractions=(0.5, 0.25, 0.25)
  )
  srcs = {s: registry.get("source", "tfds")(cfg, s) for s in ("train", "val", "test")}
  assert {s: len(v) for s, v in srcs.items()} == {"train": 4, "val": 2, "test": 2}
  assert srcs["val"].tfds_split == "train[4:6]"
  colours = [mean_colours(v) for v in srcs.values()]
  assert len(set.union(*colours)) == 8


def test_a_16_bit_png_is_stored_as_the_8_bit_pixels_the_folder_source_reads(tmp_path):
  """OpenCV (tfds's PNG decoder) keeps 16 bits per channel, which the source's uint8 cast would
  cut to the low byte: such a file is stored re-encoded, never as it is."""
  import cv2  # pylint: disable=g-import-not-at-top

  deep = np.random.default_rng(0).integers(0, 65536, (32, 48, 3), dtype=np.uint16)
  path = str(tmp_path / "deep.png")
  cv2.imwrite(path, deep)
  plain = str(tmp_path / "plain.png")
  Image.fromarray((deep >> 8).astype(np.uint8)).save(plain)
  with open(plain, "rb") as f:
    assert prepare.encode_file(plain, 0, 16) == f.read()  # 8-bit: kept as it is.
  stored = prepare.encode_file(path, 0, 16)
  decoded = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_UNCHANGED)
  assert decoded.dtype == np.uint8
  np.testing.assert_array_equal(decoded[..., ::-1], decode.load_image(path))


def test_grayscale_and_alpha_records_become_rgb():
  gray = tfds_source.to_rgb(np.full((5, 7, 1), 9, np.uint8))
  assert np.asarray(gray).shape == (5, 7, 3) and (np.asarray(gray) == 9).all()
  rgba = np.zeros((4, 4, 4), np.uint8)  # Fully transparent: white, as decode.load_image does.
  assert (np.asarray(tfds_source.to_rgb(rgba)) == 255).all()


def test_unprepared_catalog_name_says_how_to_prepare(tmp_path):
  cfg = make_cfg("tfds", data_dir=str(tmp_path), name="caltech_birds2011")
  with pytest.raises(tfds_source.DataSetNotFoundError) as e:
    registry.get("source", "tfds")(cfg, "train")
  msg = str(e.value)
  assert "in the tfds catalog but is not prepared" in msg
  assert "tfds build caltech_birds2011 --file_format=array_record" in msg
  assert "python -m colorize_jax.data.prepare" in msg


def test_unknown_name_says_so(tmp_path):
  cfg = make_cfg("tfds", data_dir=str(tmp_path), name="no_such_data_set_xyz")
  with pytest.raises(tfds_source.DataSetNotFoundError, match="neither in the tfds catalog"):
    registry.get("source", "tfds")(cfg, "train")
  with pytest.raises(ValueError, match="data.name is empty"):
    registry.get("source", "tfds")(make_cfg("tfds", name=""), "train")


def test_prepare_rejects_bad_names(tmp_path):
  with pytest.raises(ValueError, match="snake_case"):
    prepare.prepare(str(tmp_path), "Bad-Name", str(tmp_path))
  with pytest.raises(ValueError, match="catalog"):
    prepare.prepare(str(tmp_path), "caltech_birds2011", str(tmp_path))
