"""colorize loses nothing (issue 23, point 1): an output never replaces an input or any file it did
not write, its own outputs are not colorized again, an --output inside an input folder is refused
unless allowed, and renamed outputs are mapped to their inputs."""

import hashlib
import json
import os

import jax
import numpy as np
import pytest
from conftest import colorize_cli, load_config
from PIL import Image

from colorize_jax import colorize, inference, tasks
from colorize_jax.train import optim


@pytest.fixture(scope="module")
def colorizer():
  """An untrained 32 px U-Net: what it predicts does not matter here, only which files move."""
  config = load_config("unet", "smoke")
  task = tasks.build(config)
  size = config.data.image_size
  state = task.init_state(jax.random.key(0), size, optim.build_all(config, task.optimizers, None))
  return inference.Colorizer(config, task, task.inference_variables(state))


@pytest.fixture(scope="module")
def bundle(colorizer, tmp_path_factory):
  return inference.write_bundle(colorizer, str(tmp_path_factory.mktemp("bundle") / "b"))


def _photo(path, seed, size=(24, 36)):
  rng = np.random.default_rng(seed)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rng.integers(0, 256, size + (3,), np.uint8)).save(path)


def _album(root):
  """photos/a.jpg, photos/b.png, photos/sub/c.png: b.png and sub/c.png are where their own
  colorizations would go."""
  _photo(root / "a.jpg", 0)
  _photo(root / "b.png", 1)
  _photo(root / "sub" / "c.png", 2)
  return root


def _digests(root):
  """{relative path: sha256} of every file under root."""
  return {
    os.path.relpath(os.path.join(d, f), root): hashlib.sha256(
      open(os.path.join(d, f), "rb").read()
    ).hexdigest()
    for d, _, files in os.walk(root)
    for f in files
  }


def test_an_output_inside_an_input_folder_is_refused_in_one_line(bundle, tmp_path):
  photos = _album(tmp_path / "photos")
  before = _digests(photos)
  for output in (photos, photos / "colorized"):
    proc = colorize_cli(f"--bundle={bundle}", str(photos), f"--output={output}")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr
    assert "--allow_output_in_input" in errors[0] and str(photos) in errors[0]
    assert "Traceback" not in proc.stderr
  assert _digests(photos) == before  # Nothing written, nothing replaced.
  # Beside a named input file counts too.
  proc = colorize_cli(f"--bundle={bundle}", str(photos / "a.jpg"), f"--output={photos}")
  assert proc.returncode != 0 and "is the folder of the input" in proc.stderr
  assert _digests(photos) == before


def test_the_library_refuses_it_too(colorizer, tmp_path):
  photos = _album(tmp_path / "photos")
  with pytest.raises(colorize.OutputInInputError, match="inside the input folder"):
    colorize.colorize_paths(colorizer, [str(photos)], str(photos / "out"))
  assert not (photos / "out").exists()


def test_allowed_into_its_own_input_folder_no_input_is_replaced_and_a_rerun_skips_its_outputs(
  colorizer, tmp_path
):
  photos = _album(tmp_path / "photos")
  before = _digests(photos)
  first = colorize.colorize_paths(colorizer, [str(photos)], str(photos), allow_output_in_input=True)
  assert not first.failed and not first.own
  # a.png is new; b.png and sub/c.png are inputs, so their colorizations take the next free name.
  assert sorted(os.path.relpath(p, photos) for p in first.written) == [
    "a.png",
    "b_1.png",
    os.path.join("sub", "c_1.png"),
  ]
  assert first.renamed == {
    str(photos / "b.png"): str(photos / "b_1.png"),
    str(photos / "sub" / "c.png"): str(photos / "sub" / "c_1.png"),
  }
  after = _digests(photos)
  assert {k: after[k] for k in before} == before  # Every input byte for byte.
  names = json.loads((photos / colorize.NAMES_FILE).read_text())["outputs"]
  assert names["b_1.png"] == str(photos / "b.png")
  assert names[os.path.join("sub", "c_1.png")] == str(photos / "sub" / "c.png")
  assert names["a.png"] == str(photos / "a.jpg")
  for path in first.written:
    assert json.loads(Image.open(path).info[colorize.MARKER])["input"].startswith(str(photos))

  second = colorize.colorize_paths(
    colorizer, [str(photos)], str(photos), allow_output_in_input=True
  )
  assert sorted(second.own) == sorted(first.written)  # Its outputs are not photos to colorize.
  assert sorted(second.written) == sorted(first.written)  # The same files, refreshed in place.
  assert sorted(_digests(photos)) == sorted(after)  # No a_1.png, b_2.png, ...: nothing new.
  assert {k: _digests(photos)[k] for k in before} == before


def test_an_existing_file_that_colorize_did_not_write_is_kept(colorizer, tmp_path):
  photos, out = tmp_path / "photos", tmp_path / "out"
  _photo(photos / "a.jpg", 0)
  _photo(out / "a.png", 5)  # Someone's file, not an input, not colorize's.
  kept = _digests(out)
  result = colorize.colorize_paths(colorizer, [str(photos)], str(out))
  assert result.written == [str(out / "a_1.png")]
  assert _digests(out)["a.png"] == kept["a.png"]
  assert result.renamed == {str(photos / "a.jpg"): str(out / "a_1.png")}


def test_colliding_names_are_printed_and_recorded(bundle, tmp_path):
  _photo(tmp_path / "x" / "a.jpg", 0)
  _photo(tmp_path / "y" / "a.png", 1)
  _photo(tmp_path / "z" / "a.jpg", 2)
  out = tmp_path / "out"
  inputs = [str(tmp_path / d / f) for d, f in (("x", "a.jpg"), ("y", "a.png"), ("z", "a.jpg"))]
  proc = colorize_cli(f"--bundle={bundle}", *inputs, f"--output={out}")
  assert proc.returncode == 0, proc.stderr
  assert sorted(os.listdir(out)) == ["a.png", "a_1.png", "a_2.png", colorize.NAMES_FILE]
  assert f"{inputs[1]} -> {out / 'a_1.png'}" in proc.stderr
  assert f"{inputs[2]} -> {out / 'a_2.png'}" in proc.stderr
  names = json.loads((out / colorize.NAMES_FILE).read_text())["outputs"]
  assert names == {"a.png": inputs[0], "a_1.png": inputs[1], "a_2.png": inputs[2]}
  assert "2 output(s) renamed" in proc.stderr

  # Rerun over the inputs and the output folder, allowed: the three outputs are skipped, counted.
  proc = colorize_cli(
    f"--bundle={bundle}", *inputs, str(out), f"--output={out}", "--allow_output_in_input"
  )
  assert proc.returncode == 0, proc.stderr
  assert "skipped 3 file(s) colorize wrote itself" in proc.stderr
  assert sorted(os.listdir(out)) == ["a.png", "a_1.png", "a_2.png", colorize.NAMES_FILE]


def test_without_collisions_no_names_file(colorizer, tmp_path):
  photos, out = tmp_path / "photos", tmp_path / "out"
  _photo(photos / "a.jpg", 0)
  result = colorize.colorize_paths(colorizer, [str(photos)], str(out))
  assert sorted(os.listdir(out)) == ["a.png"] and not result.renamed
