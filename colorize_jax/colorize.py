"""Colorize photos at their full resolution with a trained run or an exported bundle.

  python -m colorize_jax.colorize --workdir=runs/unet photos/ old.jpg 'scans/*.tif' --output=out/
  python -m colorize_jax.colorize --bundle=bundles/unet photos/ --output=out/
  # A model shipped in pretrained/ (colorize_jax/pretrained.py), by name, or the default one:
  python -m colorize_jax.colorize --bundle=pretrained:hints photo.jpg --output=out/
  python -m colorize_jax.colorize photo.jpg --output=out/
  # The bundle-less form colorizes with a run's checkpoint (here runs/pix2pix-short):
  python -m colorize_jax.colorize --config=configs/pix2pix.py:short photos/ --output=out/

INPUT is any mix of files, folders (their image files, recursively) and
globs. Any size, aspect ratio or mode (gray, RGB, RGBA, palette, 16-bit,
EXIF-rotated). Each output is OUT/<name>.png at the input's full resolution.

How full resolution works: the photo is padded to a centred square
(mirrored borders) and resized to the model's image_size, so the model sees
it at its own aspect ratio, undistorted, as training's centre-square crops
show photos (squashing it to a square would stretch every object); the model
predicts chroma there, the predicted Lab ab is upsampled bilinearly to the
square's full size, cut back to the photo and joined with the input's own
full-resolution luminance L. Detail and sharpness come
from the original; only colour comes from the model, whose chroma is smooth
anyway. A file that cannot be read is reported by name and skipped; the exit
code is 1 when any input failed.

A hints model (configs/hints.py) also takes colour hints in the photo's own pixels,
`--hints=points.json` or `--hints=scribble.png` (colorize_jax/data/user_hints.py); the
photo's full-resolution L stays, as always:
  python -m colorize_jax.colorize --workdir=runs/hints photo.jpg --hints=points.json --output=out/
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import os
import sys
import time
from collections.abc import Iterator

import numpy as np
from absl import app, flags, logging
from PIL import Image

from colorize_jax import pretrained
from colorize_jax.config import recipes
from colorize_jax.data import ImageDecodeError, load_image, resize_image, user_hints
from colorize_jax.data.sources.folder import IMAGE_EXTENSIONS
from colorize_jax.data.square import square_box, to_square

# Full-resolution recombination is jitted per shape; padding to these steps
# bounds the compilations for a folder of assorted sizes (pixelwise, so harmless).
_SHAPE_STEP = 128


@dataclasses.dataclass
class Result:
  written: list[str] = dataclasses.field(default_factory=list)
  failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (input, reason)


def expand_inputs(inputs: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
  """(path, output name) for files, folders and globs; (input, reason) for those matching nothing.

  Folders contribute their image files (by extension, recursively) and keep
  their subfolder layout in the output; named files are tried whatever their
  extension, so a non-image named explicitly is reported, not ignored.
  """
  from colorize_jax.data.sources.folder import list_images  # pylint: disable=g-import-not-at-top

  found, missing = [], []
  for item in inputs:
    if os.path.isdir(item):
      found.extend((os.path.join(item, rel), os.path.splitext(rel)[0]) for rel in list_images(item))
    elif os.path.isfile(item):
      found.append((item, os.path.splitext(os.path.basename(item))[0]))
    elif os.path.islink(item):  # A link that cannot be followed: say so, not "no such file".
      missing.append((item, f"symbolic link that cannot be followed ({_link_error(item)})"))
    else:
      matches = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
      if not matches:
        missing.append((item, "no such file, folder or glob match"))
      found.extend((p, os.path.splitext(os.path.basename(p))[0]) for p in matches)
  return _unique_names(found), missing


def _link_error(path: str) -> str:
  try:
    os.stat(path)
  except OSError as e:
    return e.strerror or str(e)
  return "not a file or folder"


def _unique_names(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
  """Same file once; two inputs that would write the same output get _1, _2, ..."""
  seen_paths, used, out = set(), set(), []
  for path, name in found:
    real = os.path.realpath(path)
    if real in seen_paths:
      continue
    seen_paths.add(real)
    unique, i = name, 0
    while unique in used:
      i += 1
      unique = f"{name}_{i}"
    used.add(unique)
    out.append((path, unique))
  return out


def upsample_ab(ab: np.ndarray, height: int, width: int) -> np.ndarray:
  """[S, S, 2] chroma -> [height, width, 2], bilinear."""
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


def full_resolution(image: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
  """The input's luminance with the chroma predicted for its padded square (`to_square`),
  upsampled and cut back to the input: uint8 [H, W, 3], the input's exact size."""
  from colorize_jax import inference  # pylint: disable=g-import-not-at-top

  height, width = image.shape[:2]
  side, top, left = square_box(height, width)
  ab = upsample_ab(ab_small, side, side)[top : top + height, left : left + width]
  pad = ((0, -height % _SHAPE_STEP), (0, -width % _SHAPE_STEP), (0, 0))
  out = inference.recombine(np.pad(image, pad, mode="edge"), np.pad(ab, pad, mode="edge"))
  return np.asarray(out)[:height, :width]


def colorize_images(colorizer, images: list[np.ndarray], hints=None) -> list[np.ndarray]:
  """Full-resolution colorizations of uint8 RGB images of any sizes (one batch). `hints`: per
  image, its user_hints.HintMaps at the network's size or None (a hints model only)."""
  size = colorizer.image_size
  small = np.stack([resize_image(to_square(image), size, size) for image in images])
  ab = colorizer.chroma_ab(small, **_hint_arrays(size, hints))
  return [full_resolution(image, ab[i]) for i, image in enumerate(images)]


def _hint_arrays(size: int, hints) -> dict:
  """The hints task's batch keys for a batch's per-image HintMaps ({} when none has any)."""
  if not hints or all(h is None for h in hints):
    return {}
  empty = user_hints.HintMaps(np.zeros((size, size, 2), np.float32), np.zeros((size, size, 1)))
  maps = [empty if h is None else h for h in hints]
  return {
    user_hints.HINT_AB: np.stack([h.hint_ab for h in maps]).astype(np.float32),
    user_hints.HINT_MASK: np.stack([h.hint_mask for h in maps]).astype(np.float32),
  }


def read_hints(colorizer, hints_file: str, image: np.ndarray, path: str):
  """A photo's HintMaps from --hints (None: no hints in the file, so automatic, with a note)."""
  maps = user_hints.read(hints_file, *image.shape[:2], colorizer.image_size)
  if not maps.count:
    logging.warning("%s holds no hints: %s is colorized automatically", hints_file, path)
    return None
  return maps


def _load(path: str):
  try:
    return load_image(path), None
  except ImageDecodeError as e:
    return None, e.reason
  except OSError as e:  # Unreadable file (permissions, vanished).
    return None, f"{type(e).__name__}: {e}"


def _batches(
  pairs, batch_size: int, pool
) -> Iterator[list[tuple[str, str, np.ndarray | None, str | None]]]:
  """Decoded batches, the next one decoding in threads while the current one runs."""
  chunks = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
  futures = None
  for i, chunk in enumerate(chunks):
    if futures is None:
      futures = [pool.submit(_load, path) for path, _ in chunk]
    current = [(path, name, *f.result()) for (path, name), f in zip(chunk, futures)]
    futures = (
      [pool.submit(_load, path) for path, _ in chunks[i + 1]] if i + 1 < len(chunks) else None
    )
    yield current


def colorize_paths(
  colorizer, inputs: list[str], output: str, batch_size: int = 16, hints_file: str | None = None
) -> Result:
  """Colorizes every input into `output`; failures are collected, not raised. `hints_file`:
  colour hints in each photo's own pixels (user_hints.read; user_hints.HintError if unusable)."""
  if hints_file:
    user_hints.check_model(colorizer.input_layout)
  pairs, missing = expand_inputs(inputs)
  result = Result(failed=list(missing))
  for item, reason in missing:
    logging.error("skipped %s: %s", item, reason)
  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
    for batch in _batches(pairs, batch_size, pool):
      good = [(path, name, image) for path, name, image, _ in batch if image is not None]
      for path, _, _, reason in batch:
        if reason is not None:
          logging.error("skipped %s: not a readable image (%s)", path, reason)
          result.failed.append((path, reason))
      if good:
        hints = (
          [read_hints(colorizer, hints_file, image, path) for path, _, image in good]
          if hints_file
          else None
        )
        outputs = colorize_images(colorizer, [image for _, _, image in good], hints)
        for (_, name, _), out in zip(good, outputs):
          target = os.path.join(output, name + ".png")
          os.makedirs(os.path.dirname(target), exist_ok=True)
          Image.fromarray(out).save(target)
          result.written.append(target)
      rate = len(result.written) / max(time.perf_counter() - start, 1e-9)
      logging.info(
        "colorized %d/%d images (%d failed), %.2f images/s",
        len(result.written),
        len(pairs),
        len(result.failed),
        rate,
      )
  return result


FLAGS = flags.FLAGS


def workdir_flag() -> str | None:
  """--workdir, or the default workdir of --config (as launch.py chooses it)."""
  if FLAGS.workdir and FLAGS.config:
    raise app.UsageError("give --workdir or --config, not both")
  return FLAGS.workdir or (recipes.default_workdir(FLAGS.config) if FLAGS.config else None)


def define_flags() -> None:
  # Only when run as a command: compare.py and tests import this module, and
  # absl refuses a flag name defined by two modules.
  flags.DEFINE_string("workdir", None, "A trained run's workdir (its config.json and checkpoints).")
  flags.DEFINE_string(
    "bundle",
    None,
    "An inference bundle written by colorize_jax.export, instead of --workdir, or a shipped "
    "model: pretrained:NAME or NAME (python -m colorize_jax.pretrained lists them). Without "
    "--workdir, --config or --bundle: the default shipped model.",
  )
  flags.DEFINE_string(
    "config",
    None,
    "Instead of --workdir: the config launch.py trained with its default "
    "workdir, e.g. configs/pix2pix.py:short for runs/pix2pix-short.",
  )
  flags.DEFINE_string("checkpoint", "best", "With --workdir: best, last or a step number.")
  flags.DEFINE_string("output", None, "Folder for the colorized PNGs.")
  flags.DEFINE_integer("batch_size", 16, "Images per model call.")
  flags.DEFINE_string(
    "hints",
    None,
    "Colour hints for a hints model (configs/hints.py), in the photo's own pixels: a JSON file "
    "of points (x, y, color '#rrggbb' or ab [a, b], optional size) or a scribble PNG of the "
    "photo's size whose alpha marks the hints (colorize_jax/data/user_hints.py).",
  )


def _default_bundle() -> str:
  """No --workdir, --config or --bundle: the default shipped model (colorize_jax/pretrained.py),
  named in one line; ValueError saying how to ship one when there is none."""
  model = pretrained.default()
  if model is None:
    raise ValueError(pretrained.none_shipped())
  logging.info("no --workdir, --config or --bundle: the shipped model %s", model.describe())
  return model.path


def main(argv):
  from colorize_jax import inference
  from colorize_jax.runtime import logs

  logs.quiet_libraries()
  inputs = argv[1:]
  if not inputs:
    raise app.UsageError("give at least one INPUT (file, folder or glob)")
  if not FLAGS.output:
    raise app.UsageError("--output is required")
  pairs, missing = expand_inputs(inputs)
  if not pairs and not missing:
    sys.exit(
      f"error: no image files in {', '.join(inputs)} "
      f"(looked for {', '.join(IMAGE_EXTENSIONS)}, any case, in all subfolders)"
    )
  try:
    workdir, bundle = workdir_flag(), FLAGS.bundle
    if bundle:
      bundle = pretrained.resolve_bundle(bundle)
    elif not workdir:
      bundle = _default_bundle()
    colorizer = inference.load(workdir, bundle, FLAGS.checkpoint)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  logging.info(
    "model %s (step %s) from %s, %dx%d %s",
    colorizer.config.model.name,
    colorizer.step,
    colorizer.source,
    colorizer.image_size,
    colorizer.image_size,
    colorizer.color_space.name,
  )
  try:
    result = colorize_paths(colorizer, inputs, FLAGS.output, FLAGS.batch_size, FLAGS.hints)
  except user_hints.HintError as e:
    sys.exit(f"error: --hints={FLAGS.hints}: {e}")
  logging.info("wrote %d image(s) to %s", len(result.written), os.path.abspath(FLAGS.output))
  if result.failed:
    listing = "\n".join(f"  {path}: {reason}" for path, reason in result.failed)
    sys.exit(f"error: {len(result.failed)} input(s) failed:\n{listing}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
