"""`colorize --hints`: points (JSON) and scribbles (PNG) in the photo's own pixels move the colour
at the hinted spot toward the hint; bad hint input fails in one line naming the problem."""

import json
import subprocess
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image
from test_hints_task import flat_photos, train_on_flat_colours

from colorize_jax import color, colorize, inference
from colorize_jax.data import user_hints

HINT_LAB = (60.0, -25.0, -20.0)  # The hint: a blue-green unlike the photo's orange.
SPOT = (30, 20)  # (x, y) in the 60 x 40 photo.


def _hex(lab) -> str:
  rgb = np.asarray(color.lab_to_rgb(jnp.asarray(lab, jnp.float32)))
  return "#" + "".join(f"{round(float(c) * 255):02x}" for c in rgb)


@pytest.fixture(scope="module")
def colorizer():
  config, task, state = train_on_flat_colours()
  config.data.image_size = 16
  return inference.Colorizer(config, task, task.inference_variables(state))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  """A 60 x 40 orange photo of the training set's lightness."""
  rgb = np.asarray(color.lab_to_rgb(jnp.asarray([60.0, 20.0, 25.0])))
  image = np.broadcast_to(np.round(rgb * 255).astype(np.uint8), (40, 60, 3)).copy()
  path = tmp_path_factory.mktemp("photo") / "orange.png"
  Image.fromarray(image).save(path)
  return str(path)


def _ab_at_spot(colorizer, photo, tmp_path, hints_file=None) -> np.ndarray:
  out = tmp_path / ("hinted" if hints_file else "plain")
  result = colorize.colorize_paths(colorizer, [photo], str(out), hints_file=hints_file)
  assert not result.failed, result.failed
  rgb = np.asarray(Image.open(result.written[0]), np.float32) / 255.0
  x, y = SPOT
  return np.asarray(color.rgb_to_lab(jnp.asarray(rgb[y - 2 : y + 3, x - 2 : x + 3])))[..., 1:]


def _distance_to_hint(ab) -> float:
  return float(np.mean(np.linalg.norm(ab - np.asarray(HINT_LAB[1:]), axis=-1)))


def test_a_point_moves_the_colour_at_its_spot_toward_the_hint(colorizer, photo, tmp_path):
  points = tmp_path / "points.json"
  points.write_text(
    json.dumps({"points": [{"x": SPOT[0], "y": SPOT[1], "color": _hex(HINT_LAB), "size": 9}]})
  )
  plain = _distance_to_hint(_ab_at_spot(colorizer, photo, tmp_path))
  hinted = _distance_to_hint(_ab_at_spot(colorizer, photo, tmp_path, str(points)))
  assert hinted < plain - 5.0, (plain, hinted)


def test_a_scribble_moves_the_colour_at_its_spot_toward_the_hint(colorizer, photo, tmp_path):
  scribble = np.zeros((40, 60, 4), np.uint8)
  rgb = np.asarray(color.lab_to_rgb(jnp.asarray(HINT_LAB, jnp.float32)))
  scribble[SPOT[1] - 4 : SPOT[1] + 4, SPOT[0] - 4 : SPOT[0] + 4] = [
    *np.round(rgb * 255).astype(np.uint8),
    255,
  ]
  path = tmp_path / "scribble.png"
  Image.fromarray(scribble).save(path)
  plain = _distance_to_hint(_ab_at_spot(colorizer, photo, tmp_path))
  hinted = _distance_to_hint(_ab_at_spot(colorizer, photo, tmp_path, str(path)))
  assert hinted < plain - 5.0, (plain, hinted)


def test_the_library_takes_the_same_points(colorizer):
  photos = flat_photos(2, 16, seed=3)
  maps = user_hints.points_to_maps(
    [user_hints.Point(8, 8, HINT_LAB[1:], size=4)], 16, 16, colorizer.image_size
  )
  assert maps.count == 16 and np.allclose(maps.hint_ab[8, 8], HINT_LAB[1:])
  plain = colorizer.chroma_ab(photos)
  hinted = colorizer.chroma_ab(
    photos, hint_ab=np.stack([maps.hint_ab] * 2), hint_mask=np.stack([maps.hint_mask] * 2)
  )
  assert _distance_to_hint(hinted[:, 7:10, 7:10]) < _distance_to_hint(plain[:, 7:10, 7:10]) - 5


def test_an_empty_hints_file_colorizes_automatically(colorizer, photo, tmp_path):
  empty = tmp_path / "empty.json"
  empty.write_text('{"points": []}')
  np.testing.assert_allclose(
    _ab_at_spot(colorizer, photo, tmp_path, str(empty)), _ab_at_spot(colorizer, photo, tmp_path)
  )


@pytest.mark.parametrize(
  "content, message",
  [
    ('[{"x": 60, "y": 3, "color": "#ff0000"}]', r"point 0 \(x=60, y=3\) is outside the 60x40"),
    ('[{"x": 1, "y": 3, "color": "blueish"}]', r"colour 'blueish' does not parse"),
    ('[{"x": 1, "y": 3, "ab": [1]}]', r"ab=\[1\] does not parse"),
    ('[{"x": 1, "y": 3}]', r"exactly one of color"),
    ('{"points": [{"x": 1, ', r"is not valid JSON"),
  ],
)
def test_bad_points_fail_in_one_line(content, message, tmp_path):
  path = tmp_path / "hints.json"
  path.write_text(content)
  with pytest.raises(user_hints.HintError, match=message) as error:
    user_hints.read(str(path), 40, 60, 16)
  assert "\n" not in str(error.value)


def test_a_scribble_of_another_size_or_without_alpha_fails(tmp_path):
  path = tmp_path / "small.png"
  Image.fromarray(np.zeros((10, 10, 4), np.uint8)).save(path)
  with pytest.raises(user_hints.HintError, match=r"is 10x10 but the photo is 60x40"):
    user_hints.read(str(path), 40, 60, 16)
  opaque = tmp_path / "opaque.png"
  Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(opaque)
  with pytest.raises(user_hints.HintError, match=r"has no alpha channel"):
    user_hints.read(str(opaque), 40, 60, 16)


def test_hints_for_a_model_without_hint_inputs_are_refused(photo, tmp_path):
  automatic = types.SimpleNamespace(input_layout=(("L", 1),))
  path = tmp_path / "points.json"
  path.write_text("[]")
  with pytest.raises(user_hints.HintError, match=r"takes no colour hints \(its inputs are L\(1\)"):
    colorize.colorize_paths(automatic, [photo], str(tmp_path / "out"), hints_file=str(path))


def test_the_command_line_names_a_bad_point_in_one_line(colorizer, photo, tmp_path):
  bundle = inference.write_bundle(colorizer, str(tmp_path / "bundle"))
  with open(f"{bundle}/bundle.json") as f:
    assert [i["name"] for i in json.load(f)["inputs"]] == ["L", "hint_ab", "hint_mask"]
  path = tmp_path / "points.json"
  path.write_text('[{"x": 5, "y": 99, "ab": [10, 10]}]')
  proc = subprocess.run(
    [sys.executable, "-m", "colorize_jax.colorize", f"--bundle={bundle}", photo]
    + [f"--hints={path}", f"--output={tmp_path / 'out'}"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: --hints=") and "point 0 (x=5, y=99) is outside the 60x40" in last


@pytest.mark.parametrize("height, width", [(40, 100), (100, 40)])
def test_points_and_scribbles_land_where_the_network_sees_that_photo_pixel(height, width, tmp_path):
  """A photo pixel marked white on black, padded to its square and resized as colorize shows
  it to the network, lands on the network pixel the hint maps mark, for points and scribbles."""
  size, x, y = 20, width - 7, height - 9
  image = np.zeros((height, width, 3), np.uint8)
  image[y - 2 : y + 3, x - 2 : x + 3] = 255
  seen = colorize.resize_image(colorize.to_square(image, mode="constant"), size, size)
  brightest = np.unravel_index(np.argmax(seen[..., 0]), (size, size))
  maps = user_hints.points_to_maps([user_hints.Point(x, y, (10.0, 10.0))], height, width, size)
  assert tuple(np.argwhere(maps.hint_mask[..., 0])[0]) == brightest

  scribble = np.zeros((height, width, 4), np.uint8)
  scribble[y - 2 : y + 3, x - 2 : x + 3] = (200, 40, 40, 255)
  path = str(tmp_path / "scribble.png")
  Image.fromarray(scribble).save(path)
  from_scribble = user_hints.read_scribble(path, height, width, size)
  assert from_scribble.hint_mask[brightest][0] == 1.0
  assert from_scribble.count <= 4  # the 5x5 patch covers at most 2x2 network pixels
