"""`tfds` source: a tensorflow-datasets data set prepared in ArrayRecord format.

  --config.data.source=tfds --config.data.name=NAME [--config.data.data_dir=DIR]

Reads through `tfds.data_source` (random access, no TensorFlow). Any data set
works once it is on disk as ArrayRecord: one made from an image folder by
`python -m colorize_jax.data.prepare`, or a catalog one built where
TensorFlow is installed with `tfds build NAME --file_format=array_record`.

Splits: our train/val/test read the data set's "train", "validation" (or
"val"/"valid") and "test". Those it lacks are carved out of "train" together
with our train, in proportion to `data.split_fractions`, by tfds slicing with
exact example counts: with only "train" of 1000 examples and (0.7, 0.1, 0.2)
they are train[0:700], train[700:800], train[800:1000]; with "train" and
"test", train[0:875] and train[875:1000] (test fraction 0). tfds shuffles
examples when it writes them, so contiguous slices are random subsets.

Images (grayscale [H, W, 1], RGB, RGBA composited over white) become the
center square resized to `data.image_size`. A record that fails to decode
gives a zero image with valid=False, as the folder source does.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from absl import logging
from PIL import Image

from colorize_jax import registry
from colorize_jax.data import decode, splits
from colorize_jax.data.tfds_lib import tfds_module

# Our split -> the names data sets use for it, in order of preference.
SPLIT_ALIASES = {"train": ("train",), "val": ("validation", "val", "valid"), "test": ("test",)}
_MODES_BY_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


class DataSetNotFoundError(FileNotFoundError):
  """config.data.name is not prepared in ArrayRecord format where we look."""


def default_data_dir() -> str:
  from tensorflow_datasets.core import constants  # pylint: disable=g-import-not-at-top

  return os.environ.get("TFDS_DATA_DIR") or constants.DATA_DIR


def _how_to_prepare(name: str, data_dir: str, in_catalog: bool) -> str:
  dir_flag = f" --data_dir={data_dir}"
  if in_catalog:
    return (
      f"  where TensorFlow is installed (and the internet reachable):\n"
      f"    tfds build {name} --file_format=array_record{dir_flag}\n"
      f"  or, from its images in a local folder (a folder per class), without TensorFlow,\n"
      f"  under a name of your own (catalog names are taken), then --config.data.name=my_{name}:\n"
      f"    python -m colorize_jax.data.prepare --folder=PATH --name=my_{name}{dir_flag}\n"
      f"and set --config.data.data_dir to that directory "
      f"(empty = $TFDS_DATA_DIR or ~/tensorflow_datasets)."
    )
  return (
    f"  from an image folder (a folder per class), without TensorFlow:\n"
    f"    python -m colorize_jax.data.prepare --folder=PATH --name={name}{dir_flag}\n"
    f"and set --config.data.data_dir to that directory "
    f"(empty = $TFDS_DATA_DIR or ~/tensorflow_datasets)."
  )


def load_builder(name: str, data_dir: str | None) -> Any:
  """The prepared builder of `name`; clear errors when it is missing or not ArrayRecord."""
  tfds = tfds_module()
  shown_dir = data_dir or default_data_dir()
  base = name.split("/", 1)[0].split(":", 1)[0]
  in_catalog = base in tfds.list_builders(with_community_datasets=False)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataSetNotFoundError(
      f"tfds data set {name!r} is neither in the tfds catalog nor prepared under "
      f"{shown_dir} (looked for {os.path.join(shown_dir, base)}/<version>/dataset_info.json). "
      f"Prepare it first:\n" + _how_to_prepare(name, shown_dir, in_catalog)
    ) from None
  if not builder.is_prepared():
    kind = "is in the tfds catalog but is" if in_catalog else "is"
    raise DataSetNotFoundError(
      f"tfds data set {name!r} {kind} not prepared under {shown_dir} "
      f"(no {builder.data_dir}/dataset_info.json). Catalog builders need TensorFlow to "
      f"prepare, which this project does not install. Prepare it with:\n"
      + _how_to_prepare(name, shown_dir, in_catalog)
    )
  formats = [builder.info.file_format, *getattr(builder.info, "alternative_file_formats", [])]
  if not any(str(getattr(f, "value", f)) == "array_record" for f in formats if f):
    found = ", ".join(str(getattr(f, "value", f)) for f in formats if f) or "unknown"
    raise DataSetNotFoundError(
      f"tfds data set {name!r} at {builder.data_dir} is stored as {found}; random access "
      f"needs array_record. Rebuild it with:\n" + _how_to_prepare(name, shown_dir, in_catalog)
    )
  return builder


def image_key(features: Any, name: str) -> str:
  """ "image" if it is an Image feature, else the data set's only Image feature."""
  tfds = tfds_module()
  images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  if "image" in images:
    return "image"
  if len(images) == 1:
    return images[0]
  raise ValueError(
    f"tfds data set {name!r} has {len(images)} image features ({images}); the tfds source "
    f"needs one named 'image' or exactly one. Features: {sorted(features.keys())}"
  )


def split_specs(
  available: dict[str, int], fractions: tuple[float, ...], name: str = ""
) -> dict[str, str]:
  """Our split -> tfds split string (a name, or a slice of "train"); see the module doc."""
  direct = {}
  for ours, aliases in SPLIT_ALIASES.items():
    found = [a for a in aliases if a in available]
    if found:
      direct[ours] = found[0]
  missing = [s for s in splits.SPLITS if s not in direct]
  if not missing:
    return direct
  if "train" not in available:
    raise ValueError(
      f"tfds data set {name!r} has splits {sorted(available)}; it lacks our "
      f"{', '.join(missing)} and has no 'train' split to carve them from"
    )
  carved = ("train", *missing)
  carve_fractions = [f if s in carved else 0.0 for s, f in zip(splits.SPLITS, fractions)]
  bounds = splits.split_bounds(available["train"], carve_fractions)
  return {**direct, **{s: f"train[{bounds[s][0]}:{bounds[s][1]}]" for s in carved}}


def to_rgb(image: np.ndarray) -> Image.Image:
  """uint8 [H, W] or [H, W, C] -> RGB PIL image (alpha over white, like decode.load_image)."""
  if image.dtype != np.uint8:
    raise ValueError(f"expected uint8 image, got {image.dtype}")
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[..., 0]
  channels = 1 if image.ndim == 2 else image.shape[2]
  if image.ndim not in (2, 3) or channels not in _MODES_BY_CHANNELS:
    raise ValueError(f"expected an image [H, W] or [H, W, 1|2|3|4], got shape {image.shape}")
  return decode._to_rgb(Image.fromarray(image, mode=_MODES_BY_CHANNELS[channels]))  # pylint: disable=protected-access


@registry.register("source", "tfds")
class TfdsSource:
  """__getitem__(i) -> {"image": uint8 [S, S, 3], "valid": bool}."""

  def __init__(self, data_cfg: Any, split: str):
    splits.check_split(split)
    name = str(data_cfg.get("name", "") or "")
    if not name:
      raise ValueError(
        "data.name is empty; the tfds source needs a data set name "
        "(--config.data.name=NAME, e.g. one made by colorize_jax.data.prepare)"
      )
    data_dir = str(data_cfg.get("data_dir", "") or "")
    self._data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
    self._name = name
    self._split = split
    self._size = int(data_cfg.image_size)
    self._skip_gray = bool(data_cfg.get("skip_gray_photos", False))
    self._fractions = tuple(float(f) for f in data_cfg.split_fractions)
    builder = load_builder(name, self._data_dir)
    self._path = str(builder.data_dir)
    self._image_key = image_key(builder.info.features, name)
    feature = builder.info.features[self._image_key]
    if np.dtype(feature.np_dtype) != np.uint8:
      raise ValueError(
        f"tfds data set {name!r}: image feature {self._image_key!r} has dtype "
        f"{np.dtype(feature.np_dtype)}; the tfds source reads uint8 images"
      )
    available = {k: int(v.num_examples) for k, v in builder.info.splits.items()}
    self._tfds_split = split_specs(available, self._fractions, name)[split]
    self._ds = None
    self._len = None
    self._lock = threading.Lock()  # Opens the tfds data source once per process.
    self._failed = splits.FailedRecords(self._size)
    # An empty slice (a split fraction of 0) has no files for tfds to open.
    if self._tfds_split.startswith("train[") and len(set(self._tfds_split[6:-1].split(":"))) == 1:
      self._len = 0
    else:
      self._len = len(self._data_source())
    logging.info(
      "tfds source %s (%s) %s = tfds %r: %d examples",
      name,
      self._path,
      split,
      self._tfds_split,
      self._len,
    )

  def _data_source(self) -> Any:
    # Opened lazily so that pickling to grain workers carries only the config.
    with self._lock:
      if self._ds is None:
        tfds = tfds_module()
        self._ds = tfds.data_source(
          self._name, split=self._tfds_split, data_dir=self._data_dir, download=False
        )
      return self._ds

  @property
  def data_dir(self) -> str:
    """The prepared data set's own folder (where prepare also writes the ab prior)."""
    return self._path

  @property
  def tfds_split(self) -> str:
    return self._tfds_split

  @property
  def image_size(self) -> int:
    return self._size

  @property
  def skip_gray_photos(self) -> bool:
    return self._skip_gray

  def __len__(self) -> int:
    return self._len

  def __getitem__(self, index: int) -> dict[str, Any]:
    if not 0 <= index < self._len:
      raise IndexError(f"index {index} out of range for {self!r}")
    try:
      image = self._data_source()[index][self._image_key]
      square = decode.resize_square(to_rgb(np.asarray(image)), self._size)
    except Exception as e:  # pylint: disable=broad-except
      # Decoding happens inside tfds (PIL); any failure there is one bad record.
      return self._failed.record(
        index,
        "record %d of %r failed to decode, leaving it out: %s: %s",
        index,
        self,
        type(e).__name__,
        e,
      )
    return self._failed.screened(index, square, self._skip_gray, f"record {index} of {self!r}")

  def __getstate__(self) -> dict[str, Any]:
    state = self.__dict__.copy()
    state["_ds"] = None  # Reopened in the worker.
    del state["_lock"]  # Locks do not pickle to grain worker processes.
    return state

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self._lock = threading.Lock()

  def __repr__(self) -> str:
    # Grain compares this string when restoring an iterator checkpoint.
    return (
      f"TfdsSource(name={self._name!r}, path={self._path!r}, split={self._split!r}, "
      f"tfds_split={self._tfds_split!r}, image_size={self._size}, len={self._len})"
    )
