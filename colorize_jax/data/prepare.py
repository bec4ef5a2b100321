"""Turns an image folder into a tfds data set in ArrayRecord format, without TensorFlow.

  python -m colorize_jax.data.prepare --folder=../shared/data/birds/train \
      --name=birds --data_dir=~/tensorflow_datasets --image_size=128

then train on it with
  --config.data.source=tfds --config.data.name=birds --config.data.data_dir=~/tensorflow_datasets

It also counts the train split's ab bins (--prior_images of them, every
pixel, at --image_size or 128 px, photos without colour left out) into
ab_prior.json beside the data set: classification runs on it
(configs/classification.py) that read the photos that way start from that
file instead of counting (colorize_jax/color/ab_prior.py).

Splits are the folder source's (hash of the relative path, `split_fractions`),
so source=tfds sees exactly the images source=folder sees with the same
fractions; our "val" is stored under tfds's name "validation". Labels are the
top-level folder names (a folder per class). Unreadable files and images
smaller than --min_image_size are skipped and counted, as the folder source
does; here the whole file is decoded, so truncated files are skipped too.

Why a builder of our own: `tfds.folder_dataset.ImageFolder` and the catalog
builders need TensorFlow. Image features are handed to tfds as encoded bytes
(tfds encodes numpy arrays with TensorFlow), so encoding is done with Pillow.
"""

from __future__ import annotations

import io
import os
import re
import types
from collections.abc import Iterator, Sequence
from typing import Any

import ml_collections
import numpy as np
from absl import logging
from PIL import Image

from colorize_jax.color import ab_prior
from colorize_jax.data import decode, icc, splits
from colorize_jax.data.sources import folder, tfds_source
from colorize_jax.data.tfds_lib import tfds_module

# Our split name -> the tfds convention, which tfds_source maps back.
TFDS_SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
# Files at the top level of the folder have no class folder.
ROOT_LABEL = "_root"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ORIENTATION_TAG = 0x0112


def check_name(name: str) -> None:
  if not _NAME_RE.match(name or ""):
    raise ValueError(
      f"data set name {name!r} is not valid: use lower-case snake_case "
      f"(letters, digits, underscores; starting with a letter), e.g. 'my_birds'"
    )


def label_of(rel: str) -> str:
  return rel.split("/", 1)[0] if "/" in rel else ROOT_LABEL


def _png_bit_depth(path: str) -> int:
  """A PNG's bits per channel, from its IHDR chunk (byte 24 of the file)."""
  with open(path, "rb") as f:
    header = f.read(25)
  return header[24] if len(header) == 25 else 0


def _keeps_original_bytes(img: Image.Image, path: str) -> bool:
  # tfds decodes stored bytes with a plain PIL open (no EXIF rotation, palette
  # indices, CMYK channels) and PNGs with OpenCV, which keeps 16 bits per channel
  # (then cast to uint8: the low byte): only files that decode to plain 8-bit
  # L/RGB pixels, the way decode.load_image sees them, may be stored as they are.
  return (
    img.format in ("JPEG", "PNG")
    and img.mode in ("L", "RGB")
    and (img.format != "PNG" or _png_bit_depth(path) == 8)
    and "transparency" not in img.info
    and img.getexif().get(_ORIENTATION_TAG, 1) in (1, None)
    # tfds reads no colour profile: pixels a profile would change are stored converted.
    and not icc.converts(img.info.get("icc_profile"), img.mode)
  )


def png_bytes(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def encode_file(path: str, image_size: int, min_image_size: int) -> bytes | None:
  """Stored bytes for one file, or None if it is too small. Raises ImageDecodeError.

  image_size > 0: the folder source's center square at that size, as lossless
  PNG (source=tfds then reads the same pixels as source=folder). 0: the
  original file when tfds can decode it faithfully, else a lossless PNG.
  """
  width, height = decode.image_size(path)
  if min(width, height) < min_image_size:
    return None
  if image_size > 0:
    return png_bytes(decode.decode_square(path, image_size))
  image = decode.load_image(path)  # Full decode: truncated files fail here.
  with Image.open(path) as img:
    keep = _keeps_original_bytes(img, path)
  if keep:
    with open(path, "rb") as f:
      return f.read()
  return png_bytes(image)


def split_files(files: Sequence[str], fractions: Sequence[float]) -> dict[str, list[str]]:
  """Our split name -> relative paths: the folder source's assignment."""
  return {s: splits.split_by_hash(files, fractions, s) for s in splits.SPLITS}


def make_builder_class(
  name: str, root: str, fractions: Sequence[float], image_size: int, min_image_size: int
):
  """A GeneratorBasedBuilder subclass whose tfds name is `name`."""
  tfds = tfds_module()
  check_name(name)
  if name in tfds.list_builders(with_community_datasets=False):
    # tfds would read it with the catalog's builder class, not the files we write.
    raise ValueError(f"data set name {name!r} is a tfds catalog data set; choose another name")
  root = os.path.abspath(os.path.expanduser(root))
  if not os.path.isdir(root):
    raise FileNotFoundError(f"--folder {root!r} is not a directory")
  files = folder.list_images(root)
  if not files:
    raise ValueError(
      f"no images found under {root!r} (looked for {', '.join(folder.IMAGE_EXTENSIONS)}, "
      f"any case, in all subfolders)"
    )
  fractions = tuple(float(f) for f in fractions)
  by_split = split_files(files, fractions)
  labels = sorted({label_of(rel) for rel in files})
  skipped = {"unreadable": 0, "too_small": 0}

  class _FolderImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Images of one folder, a folder per class."""

    # Not "__main__" under `python -m`, which tfds cannot resolve to a package.
    __module__ = "colorize_jax.data.prepare"

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Prepared by colorize_jax.data.prepare."}

    def _info(self):
      # DatasetInfo directly: dataset_info_from_configs would look for README and
      # citation files next to this module's package.
      return tfds.core.DatasetInfo(
        builder=self,
        description=(
          f"Images under {root}, split by path hash with fractions "
          f"{fractions} (train, validation, test); "
          f"image_size={image_size or 'original'}."
        ),
        features=tfds.features.FeaturesDict(
          {
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=labels),
            "path": tfds.features.Text(),
          }
        ),
        supervised_keys=("image", "label"),
        metadata=tfds.core.MetadataDict(
          folder=root,
          split_fractions=list(fractions),
          image_size=image_size,
          min_image_size=min_image_size,
        ),
      )

    def _split_generators(self, dl_manager):
      del dl_manager  # Local files only.
      return {
        TFDS_SPLIT_NAMES[s]: self._generate_examples(by_split[s])
        for s in splits.SPLITS
        if by_split[s]
      }

    def _generate_examples(self, rels: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
      for rel in rels:
        try:
          data = encode_file(os.path.join(root, rel), image_size, min_image_size)
        except decode.ImageDecodeError as e:
          logging.warning("skipping unreadable image: %s", e)
          skipped["unreadable"] += 1
          continue
        if data is None:
          skipped["too_small"] += 1
          continue
        yield rel, {"image": data, "label": label_of(rel), "path": rel}

  # tfds takes the data set name from `name` (else from the class name).
  cls = types.new_class(
    "".join(p.capitalize() for p in name.split("_")) or "FolderImages",
    (_FolderImages,),
    {"skip_registration": True},
    lambda ns: ns.update({"name": name, "__module__": "colorize_jax.data.prepare"}),
  )
  cls.skipped = skipped
  cls.num_files = len(files)
  return cls


_PRIOR_IMAGE_SIZE = 128  # Counting size when originals are stored (image_size 0).


def write_ab_prior(
  name: str,
  data_dir: str | None,
  split_fractions: Sequence[float],
  image_size: int,
  max_images: int,
) -> str:
  """Counts the prepared train split's ab bins into <data set dir>/ab_prior.json; returns its
  path."""

  cfg = ml_collections.ConfigDict(
    {
      "name": name,
      "data_dir": data_dir or "",
      "image_size": image_size or _PRIOR_IMAGE_SIZE,
      "split_fractions": tuple(split_fractions),
      "skip_gray_photos": True,  # As runs read them by default (data.skip_gray_photos).
    }
  )
  source = tfds_source.TfdsSource(cfg, "train")
  path = os.path.join(source.data_dir, ab_prior.PRIOR_FILE)
  ab_prior.save(ab_prior.estimate(source, max_images), path)
  return path


def prepare(
  folder_path: str,
  name: str,
  data_dir: str = "",
  *,
  split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
  image_size: int = 0,
  min_image_size: int = 16,
  overwrite: bool = False,
  prior_images: int = 2000,
) -> dict[str, Any]:
  """Writes data_dir/name/1.0.0/ (ArrayRecord shards + metadata); returns a summary."""
  tfds = tfds_module()
  if image_size < 0:
    raise ValueError(f"image_size must be >= 0 (0 stores originals), got {image_size}")
  splits.split_bounds(1, split_fractions)  # Validates the fractions early.
  cls = make_builder_class(name, folder_path, split_fractions, image_size, min_image_size)
  data_dir = os.path.expanduser(data_dir) if data_dir else None
  builder = cls(data_dir=data_dir, file_format="array_record")
  if builder.is_prepared() and not overwrite:
    logging.warning(
      "%s is already prepared at %s; pass overwrite=True (--overwrite) to rebuild",
      name,
      builder.data_dir,
    )
  else:
    mode = (
      tfds.download.GenerateMode.FORCE_REDOWNLOAD
      if overwrite
      else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    builder.download_and_prepare(
      file_format="array_record", download_config=tfds.download.DownloadConfig(download_mode=mode)
    )
  counts = {
    s: builder.info.splits[t].num_examples if t in builder.info.splits else 0
    for s, t in TFDS_SPLIT_NAMES.items()
  }
  summary = {
    "name": name,
    "data_dir": str(builder.data_dir),
    "files": cls.num_files,
    "examples": counts,
    "unreadable": cls.skipped["unreadable"],
    "too_small": cls.skipped["too_small"],
  }
  if prior_images > 0 and counts["train"]:
    summary["ab_prior"] = write_ab_prior(name, data_dir, split_fractions, image_size, prior_images)
  logging.info("prepared %s", summary)
  return summary


def main(argv: Sequence[str]) -> None:
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top

  f = flags.FLAGS
  summary = prepare(
    f.folder,
    f.name,
    f.data_dir,
    split_fractions=[float(x) for x in f.split_fractions],
    image_size=f.image_size,
    min_image_size=f.min_image_size,
    overwrite=f.overwrite,
    prior_images=f.prior_images,
  )
  print(
    f"{summary['name']}: {summary['examples']} examples in {summary['data_dir']} "
    f"({summary['files']} files; {summary['unreadable']} unreadable and "
    f"{summary['too_small']} smaller than {f.min_image_size} px skipped)"
  )
  data_dir = f.data_dir or "(tfds default)"
  print(
    f"train with: --config.data.source=tfds --config.data.name={summary['name']} "
    f"--config.data.data_dir={data_dir}"
  )


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top

  flags.DEFINE_string("folder", None, "Image folder (a folder per class).")
  flags.DEFINE_string("name", None, "tfds data set name (snake_case).")
  flags.DEFINE_string(
    "data_dir", "", "tfds data dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets."
  )
  flags.DEFINE_list(
    "split_fractions",
    ["0.7", "0.1", "0.2"],
    "train,val,test fractions; keep equal to config.data.split_fractions to match source=folder.",
  )
  flags.DEFINE_integer("image_size", 0, "Store center squares of this size; 0 stores originals.")
  flags.DEFINE_integer("min_image_size", 16, "Skip images whose shorter side is smaller.")
  flags.DEFINE_bool("overwrite", False, "Rebuild if the data set is already prepared.")
  flags.DEFINE_integer(
    "prior_images",
    2000,
    "Train images whose ab bins are counted into "
    "ab_prior.json (the classification task's prior); 0 skips it.",
  )
  flags.mark_flags_as_required(["folder", "name"])


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top

  define_flags()
  app.run(main)
