"""Where colorize reads and writes: its inputs expanded to files, its outputs planned so that
nothing is lost, and each PNG written whole and marked as colorize's (docs/DESIGN.md, "colorize
keeps its inputs"). colorize_jax/colorize.py runs the model between the two."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
from PIL import Image, PngImagePlugin

from colorize_jax.outputs import atomic

# The PNG text chunk that marks a file colorize wrote (its value: JSON with the input's path).
MARKER = "colorize_jax"
# --output when none is given: a folder of its own in the current folder, never the photos' own
# folder, so the one-argument form cannot mix outputs with photos.
DEFAULT_OUTPUT = "colorized"
# Written into --output whenever an output's name is not its input's own: output -> input.
NAMES_FILE = "colorize_names.json"


class OutputInInputError(ValueError):
  """--output lies inside an input folder (or is the folder of an input file)."""


def expand_inputs(inputs: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
  """(path, output name) for files, folders and globs; (input, reason) for those matching nothing.

  Folders contribute their image files (by extension, recursively) and keep
  their subfolder layout in the output; named files are tried whatever their
  extension, so a non-image named explicitly is reported, not ignored.
  """
  found, missing = expand(inputs)
  return _unique_names(found), missing


def expand(inputs: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
  """`expand_inputs` before names are made unique: each input's own output name."""
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
  return _distinct(found), missing


def _link_error(path: str) -> str:
  try:
    os.stat(path)
  except OSError as e:
    return e.strerror or str(e)
  return "not a file or folder"


def _distinct(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
  """Each file once (by realpath), in order."""
  seen, out = set(), []
  for path, name in found:
    real = os.path.realpath(path)
    if real not in seen:
      seen.add(real)
      out.append((path, name))
  return out


def _unique_names(found: list[tuple[str, str]], taken=None) -> list[tuple[str, str]]:
  """From `expand`'s files (each once): two inputs that would write the same output get _1,
  _2, ...; so does a name for which `taken(name)` is true (an existing file that must stay)."""
  used, out = set(), []
  for path, name in found:
    unique, i = name, 0
    while unique in used or (taken is not None and taken(unique)):
      i += 1
      unique = f"{name}_{i}"
    used.add(unique)
    out.append((path, unique))
  return out


def is_colorize_output(path: str) -> bool:
  """Whether `path` is a PNG colorize wrote (its text chunk `MARKER`); reads the header only."""
  try:
    with Image.open(path) as img:
      return img.format == "PNG" and MARKER in img.info
  except Exception:  # pylint: disable=broad-except  (not an image: not ours; colorize reports it when it reads the file)
    return False


def check_output(inputs: list[str], pairs: list[tuple[str, str]], output: str) -> None:
  """Raises OutputInInputError when `output` is an input folder, lies inside one, or is the
  folder holding an input file: outputs would mix with the photos (--allow_output_in_input)."""
  out = os.path.realpath(output)
  folders = [os.path.realpath(item) for item in inputs if os.path.isdir(item)]
  for folder in folders:
    if out == folder or out.startswith(folder.rstrip(os.sep) + os.sep):
      where = "is the input folder" if out == folder else "lies inside the input folder"
      raise OutputInInputError(f"--output={output} {where} {folder}")
  for path, _ in pairs:
    if os.path.dirname(os.path.realpath(path)) == out:
      raise OutputInInputError(f"--output={output} is the folder of the input {path}")


def plan_outputs(
  found: list[tuple[str, str]], output: str
) -> tuple[list[tuple[str, str]], list[str], dict[str, str]]:
  """From `expand`'s (path, own name): the (path, output name) to colorize, the inputs skipped
  as colorize's own outputs, and {input: output path} for every input whose output name is not
  its own.

  An output may replace only nothing or colorize's own earlier output: an existing file of any
  other kind (an input of this run, or not) is kept and the output takes the next free `_N`.
  """
  own = [path for path, _ in found if path.lower().endswith(".png") and is_colorize_output(path)]
  skipped = set(own)
  found = [(path, name) for path, name in found if path not in skipped]

  def taken(name: str) -> bool:
    target = os.path.join(output, name + ".png")
    return os.path.lexists(target) and not is_colorize_output(target)

  planned = _unique_names(found, taken)
  renamed = {
    path: os.path.join(output, name + ".png")
    for (path, name), (_, own_name) in zip(planned, found)
    if name != own_name
  }
  return planned, own, renamed


def write_png(image: np.ndarray, target: str, source: str) -> None:
  """The colorization, whole or not at all, marked as colorize's (text chunk `MARKER`)."""
  info = PngImagePlugin.PngInfo()
  info.add_text(MARKER, json.dumps({"input": os.path.abspath(source)}))
  with atomic.replacing(target, suffix=".tmp.png") as tmp:
    Image.fromarray(image).save(tmp, pnginfo=info)


def record_names(output: str, written: list[tuple[str, str]]) -> str:
  """OUT/colorize_names.json: {output file: input} for this run's outputs, merged with the
  file an earlier run left (entries for other outputs stay)."""
  path = os.path.join(output, NAMES_FILE)
  try:
    with open(path) as f:
      names = json.load(f).get("outputs", {})
  except (OSError, ValueError, AttributeError):
    names = {}
  for source, target in written:
    names[os.path.relpath(target, output)] = os.path.abspath(source)
  atomic.write_json(path, {"outputs": dict(sorted(names.items()))})
  return path
