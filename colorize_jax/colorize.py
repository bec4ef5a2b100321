"""Colorize photos at their full resolution with a trained run or an exported bundle.

  python -m colorize_jax.colorize --workdir=runs/unet photos/ old.jpg 'scans/*.tif' --output=out/
  python -m colorize_jax.colorize --bundle=bundles/unet photos/ --output=out/
  # A model shipped in pretrained/ (colorize_jax/pretrained.py), by name, or the default one:
  python -m colorize_jax.colorize --bundle=pretrained:hints photo.jpg --output=out/
  python -m colorize_jax.colorize photo.jpg             # writes ./colorized/photo.png
  # The bundle-less form colorizes with a run's checkpoint (here runs/pix2pix-short):
  python -m colorize_jax.colorize --config=configs/pix2pix.py:short photos/ --output=out/

INPUT is any mix of files, folders (their image files, recursively) and
globs. Any size, aspect ratio or mode (gray, RGB, RGBA, palette, 16-bit,
EXIF-rotated). Each output is OUT/<name>.png at the input's full resolution;
without --output, OUT is ./colorized (DEFAULT_OUTPUT), named in the last line.

How full resolution works: the photo is padded to a centred square
(mirrored borders) and resized to the model's image_size, so the model sees
it at its own aspect ratio, undistorted, as training's centre-square crops
show photos (squashing it to a square would stretch every object); the model
predicts chroma there, the predicted Lab ab is upsampled bilinearly to the
square's full size, cut back to the photo and joined with the input's own
full-resolution luminance L (in row bands, so a 96 MP photo needs about
1.4 GB; docs/DESIGN.md, "colorize at any size"). Detail and sharpness come
from the original; only colour comes from the model, whose chroma is smooth
anyway. A file that cannot be read is reported by name and skipped; the exit
code is 1 when any input failed.

Nothing is lost (docs/DESIGN.md, "colorize keeps its inputs"): an output never
replaces an existing file other than colorize's own earlier output (an input,
or any other file, keeps its name and the output takes the next free `_N`);
every PNG colorize writes carries a text chunk `colorize_jax` (its input), and
such files are skipped as inputs, so a second run does not colorize the
first's outputs; an --output inside an input folder is refused unless
--allow_output_in_input. Whenever an output's name is not its input's own
(`_1`, `_2`, ...), each input -> output is printed and recorded in
OUT/colorize_names.json.

A hints model (configs/hints.py) also takes colour hints in the photo's own pixels,
`--hints=points.json` or `--hints=scribble.png` (colorize_jax/data/user_hints.py); the
photo's full-resolution L stays, as always:
  python -m colorize_jax.colorize --workdir=runs/hints photo.jpg --hints=points.json --output=out/
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import time
from collections.abc import Iterator

import numpy as np
from absl import app, flags, logging

from colorize_jax import pretrained
from colorize_jax.config import recipes
from colorize_jax.data import ImageDecodeError, decode, load_image, resize_image, user_hints
from colorize_jax.data.sources.folder import IMAGE_EXTENSIONS
from colorize_jax.data.square import square_box, to_square
from colorize_jax.outputs.colorize_files import (
  DEFAULT_OUTPUT,
  MARKER,
  NAMES_FILE,
  OutputInInputError,
  check_output,
  expand,
  expand_inputs,
  plan_outputs,
  record_names,
  write_png,
)

# Full-resolution recombination is jitted per shape; padding to these steps
# bounds the compilations for a folder of assorted sizes (pixelwise, so harmless).
_SHAPE_STEP = 128
# Full resolution is made in row bands of about this many pixels (rows a multiple of
# _SHAPE_STEP): the float chroma and the recombination's Lab/RGB temporaries exist for one band
# at a time, not for the photo (docs/DESIGN.md, "colorize at any size").
_BAND_PIXELS = 1 << 22
# A batch holds at most this many decoded pixels (at least one photo), and the next batch is
# decoded in the background only when it is under this too: huge photos go one at a time.
_BATCH_PIXELS = 1 << 25


@dataclasses.dataclass
class Result:
  written: list[str] = dataclasses.field(default_factory=list)
  failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (input, reason)
  own: list[str] = dataclasses.field(default_factory=list)  # Skipped: outputs colorize wrote.
  renamed: dict[str, str] = dataclasses.field(default_factory=dict)  # input -> its output's path


def _bilinear_taps(in_size: int, out_size: int, start: int, count: int):
  """Pillow's BILINEAR resize of in_size -> out_size samples, for outputs start..start+count-1:
  (source indices [count, K], weights [count, K] float64), as Pillow's precompute_coeffs
  makes them (a triangle widened by the shrink factor, normalised; clamped at the edges)."""
  scale = in_size / out_size
  filterscale = max(scale, 1.0)
  support = filterscale  # The triangle's support, 1, widened when shrinking.
  center = (np.arange(start, start + count, dtype=np.float64) + 0.5) * scale
  first = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
  last = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64)
  k = np.arange(max(int((last - first).max(initial=1)), 1))
  taps = first[:, None] + k[None]
  weights = np.maximum(0.0, 1.0 - np.abs((taps - center[:, None] + 0.5) / filterscale))
  weights = np.where(taps < last[:, None], weights, 0.0)
  total = weights.sum(axis=1, keepdims=True)
  weights = np.divide(weights, total, out=np.zeros_like(weights), where=total != 0)
  return np.minimum(taps, in_size - 1), weights


def _resample(values: np.ndarray, taps, axis: int) -> np.ndarray:
  """`values` resampled along axis 0 or 1 by `_bilinear_taps`' (indices, weights), summed in
  float64 and rounded to float32 as Pillow's float resize does."""
  index, weights = taps
  total = None
  for k in range(index.shape[1]):
    w = weights[:, k].reshape((-1, 1, 1) if axis == 0 else (1, -1, 1))
    term = np.take(values, index[:, k], axis=axis).astype(np.float64) * w
    total = term if total is None else total + term
  return total.astype(np.float32)


def upsample_ab(ab: np.ndarray, height: int, width: int) -> np.ndarray:
  """[S, S, 2] chroma -> [height, width, 2], bilinear (Pillow's resize of each channel)."""
  rows = _resample(ab, _bilinear_taps(ab.shape[1], width, 0, width), axis=1)
  return _resample(rows, _bilinear_taps(ab.shape[0], height, 0, height), axis=0)


def _band_rows(height: int, padded_width: int) -> int:
  """Rows per band: a multiple of _SHAPE_STEP near _BAND_PIXELS, at most the padded photo."""
  rows = max(_SHAPE_STEP, _BAND_PIXELS // padded_width // _SHAPE_STEP * _SHAPE_STEP)
  return min(rows, height + (-height % _SHAPE_STEP))


def full_resolution(image: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
  """The input's luminance with the chroma predicted for its padded square (`to_square`),
  upsampled and cut back to the input: uint8 [H, W, 3], the input's exact size.

  The chroma is upsampled only where the photo lies in its square, one row band at a time
  (`_BAND_PIXELS`), and each band is recombined with the band's own L, so the float work
  never holds the whole photo: the same pixels as upsampling the whole square first.
  """
  from colorize_jax import inference  # pylint: disable=g-import-not-at-top

  height, width = image.shape[:2]
  side, top, left = square_box(height, width)
  # The horizontal pass once, for the photo's columns only: [S, width, 2] float32.
  ab_rows = _resample(ab_small, _bilinear_taps(ab_small.shape[1], side, left, width), axis=1)
  row_index, row_weights = _bilinear_taps(ab_small.shape[0], side, top, height)
  padded_width = width + (-width % _SHAPE_STEP)
  band = _band_rows(height, padded_width)
  out = np.empty((height, width, 3), np.uint8)
  for start in range(0, height, band):
    stop = min(start + band, height)
    ab = _resample(ab_rows, (row_index[start:stop], row_weights[start:stop]), axis=0)
    pad = ((0, band - (stop - start)), (0, padded_width - width), (0, 0))
    rgb = np.pad(image[start:stop], pad, mode="edge")
    recombined = inference.recombine(rgb, np.pad(ab, pad, mode="edge"))
    out[start:stop] = np.asarray(recombined)[: stop - start, :width]
  return out


def predict_ab(colorizer, images: list[np.ndarray], hints=None) -> np.ndarray:
  """The predicted chroma [B, S, S, 2] of each photo's centred square (`to_square`) at the
  network's size. The square is the one whole-photo temporary (uint8), gone after the resize."""
  size = colorizer.image_size
  small = np.stack([resize_image(to_square(image), size, size) for image in images])
  return colorizer.chroma_ab(small, **_hint_arrays(size, hints))


def colorize_images(colorizer, images: list[np.ndarray], hints=None) -> list[np.ndarray]:
  """Full-resolution colorizations of uint8 RGB images of any sizes (one batch). `hints`: per
  image, its user_hints.HintMaps at the network's size or None (a hints model only)."""
  ab = predict_ab(colorizer, images, hints)
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


def _load(path: str, max_pixels: int | None = decode.MAX_PIXELS):
  try:
    return load_image(path, max_pixels=max_pixels), None
  except ImageDecodeError as e:
    return None, e.reason
  except OSError as e:  # Unreadable file (permissions, vanished).
    return None, f"{type(e).__name__}: {e}"


def _pixels(path: str) -> int:
  """Width x height from the header (0 when it cannot be read: _load reports that). Whatever
  the size: --max_megapixels is enforced where the photo loads, and batching must count a photo
  above the default limit too."""
  try:
    width, height = decode.image_size(path, max_pixels=None)
  except ImageDecodeError:
    return 0
  return width * height


def _chunks(pairs, batch_size: int) -> list[list[tuple[str, str, int]]]:
  """Batches of at most batch_size photos and _BATCH_PIXELS decoded pixels (one at least)."""
  chunks, current, pixels = [], [], 0
  for path, name in pairs:
    size = _pixels(path)
    if current and (len(current) == batch_size or pixels + size > _BATCH_PIXELS):
      chunks.append(current)
      current, pixels = [], 0
    current.append((path, name, size))
    pixels += size
  return chunks + [current] if current else chunks


def _batches(
  pairs, batch_size: int, pool, max_pixels: int | None = decode.MAX_PIXELS
) -> Iterator[list[tuple[str, str, np.ndarray | None, str | None]]]:
  """Decoded batches, the next one decoding in threads while the current one runs (unless it
  is above _BATCH_PIXELS: a huge photo is decoded only when its turn comes)."""
  chunks = _chunks(pairs, batch_size)

  def submit(chunk):
    return [pool.submit(_load, path, max_pixels) for path, _, _ in chunk]

  futures = None
  for i, chunk in enumerate(chunks):
    if futures is None:
      futures = submit(chunk)
    current = [(path, name, *f.result()) for (path, name, _), f in zip(chunk, futures)]
    futures = None
    following = chunks[i + 1] if i + 1 < len(chunks) else None
    if following and sum(size for _, _, size in following) <= _BATCH_PIXELS:
      futures = submit(following)
    holder = [current]
    del current
    yield holder.pop()  # This frame keeps no reference while the caller works on the batch.


def colorize_paths(
  colorizer,
  inputs: list[str],
  output: str,
  batch_size: int = 16,
  hints_file: str | None = None,
  *,
  allow_output_in_input: bool = False,
  max_pixels: int | None = decode.MAX_PIXELS,
) -> Result:
  """Colorizes every input into `output`; failures are collected, not raised. `hints_file`:
  colour hints in each photo's own pixels (user_hints.read; user_hints.HintError if unusable).

  Raises OutputInInputError for an `output` inside an input folder unless
  `allow_output_in_input`; never replaces a file colorize did not write (`plan_outputs`).
  A photo above `max_pixels` fails by name (decode.check_pixels).
  """
  if hints_file:
    user_hints.check_model(colorizer.input_layout)
  found, missing = expand(inputs)
  if not allow_output_in_input:
    check_output(inputs, found, output)
  pairs, own, renamed = plan_outputs(found, output)
  result = Result(failed=list(missing), own=own, renamed=renamed)
  for item, reason in missing:
    logging.error("skipped %s: %s", item, reason)
  if own:
    logging.info(
      "skipped %d file(s) colorize wrote itself (PNG text chunk %r): %s",
      len(own),
      MARKER,
      ", ".join(own[:5]) + (", ..." if len(own) > 5 else ""),
    )
  for path, target in renamed.items():
    logging.info("%s -> %s (its own name is taken)", path, target)
  written = []  # (input, output)
  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
    for batch in _batches(pairs, batch_size, pool, max_pixels):
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
        ab = predict_ab(colorizer, [image for _, _, image in good], hints)
        del batch
        for i in range(len(good)):  # One photo at a time at full size, let go once saved.
          path, name, image = good[i]
          good[i] = None
          out = full_resolution(image, ab[i])
          del image  # Before saving: Pillow holds its own copy of the output meanwhile.
          target = os.path.join(output, name + ".png")
          write_png(out, target, path)
          del out
          result.written.append(target)
          written.append((path, target))
      rate = len(result.written) / max(time.perf_counter() - start, 1e-9)
      logging.info(
        "colorized %d/%d images (%d failed), %.2f images/s",
        len(result.written),
        len(pairs),
        len(result.failed),
        rate,
      )
  if renamed and written:
    logging.info("input -> output names: %s", record_names(output, written))
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
  flags.DEFINE_string(
    "output",
    None,
    f"Folder for the colorized PNGs (default: ./{DEFAULT_OUTPUT} in the current folder).",
  )
  flags.DEFINE_bool(
    "allow_output_in_input",
    False,
    "Allow --output inside an input folder (or beside an input file). Inputs are never "
    "overwritten and the PNGs colorize wrote are skipped as inputs either way.",
  )
  flags.DEFINE_integer("batch_size", 16, "Images per model call.")
  flags.DEFINE_float(
    "max_megapixels",
    decode.MAX_PIXELS / 1e6,
    "Photos above this many megapixels fail by name (a 96 MP photo needs about 1.4 GB); "
    "0: no limit.",
  )
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
    FLAGS.output = DEFAULT_OUTPUT
    logging.info("no --output: writing to %s", os.path.abspath(DEFAULT_OUTPUT))
  pairs, missing = expand_inputs(inputs)
  if not pairs and not missing:
    sys.exit(
      f"error: no image files in {', '.join(inputs)} "
      f"(looked for {', '.join(IMAGE_EXTENSIONS)}, any case, in all subfolders)"
    )
  if not FLAGS.allow_output_in_input:  # Before the model loads: a refusal costs nothing.
    try:
      check_output(inputs, pairs, FLAGS.output)
    except OutputInInputError as e:
      sys.exit(
        f"error: {e}; outputs would mix with the photos: choose another --output, or pass "
        "--allow_output_in_input (inputs are never overwritten either way)"
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
    result = colorize_paths(
      colorizer,
      inputs,
      FLAGS.output,
      FLAGS.batch_size,
      FLAGS.hints,
      allow_output_in_input=FLAGS.allow_output_in_input,
      max_pixels=int(FLAGS.max_megapixels * 1e6),
    )
  except user_hints.HintError as e:
    sys.exit(f"error: --hints={FLAGS.hints}: {e}")
  logging.info(
    "wrote %d image(s) to %s; skipped %d file(s) colorize wrote itself; %d output(s) renamed "
    "(%s); %d failed",
    len(result.written),
    os.path.abspath(FLAGS.output),
    len(result.own),
    len(result.renamed),
    NAMES_FILE if result.renamed else "no name taken",
    len(result.failed),
  )
  if result.failed:
    listing = "\n".join(f"  {path}: {reason}" for path, reason in result.failed)
    sys.exit(f"error: {len(result.failed)} input(s) failed:\n{listing}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
