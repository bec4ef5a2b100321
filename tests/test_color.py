import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from skimage import color as skcolor

from colorize_jax import color, registry


@pytest.fixture
def rgb():
  rng = np.random.default_rng(0)
  x = rng.random((3, 7, 5, 3))
  x[0, 0, 0] = 0.0  # Black and white exercise both branches of the gamma curve.
  x[0, 0, 1] = 1.0
  return x


def test_rgb_to_lab_matches_skimage(rgb):
  np.testing.assert_allclose(color.rgb_to_lab(jnp.asarray(rgb)), skcolor.rgb2lab(rgb), atol=2e-3)


def test_lab_to_rgb_matches_skimage(rgb):
  lab = skcolor.rgb2lab(rgb)
  np.testing.assert_allclose(color.lab_to_rgb(jnp.asarray(lab)), skcolor.lab2rgb(lab), atol=1e-4)


def test_gray_matches_skimage(rgb):
  np.testing.assert_allclose(
    color.rgb_to_gray(jnp.asarray(rgb))[..., 0], skcolor.rgb2gray(rgb), atol=1e-6
  )


@pytest.mark.parametrize("name", ["rgb", "lab"])
def test_split_then_merge_gives_back_the_photo(name, rgb):
  space = color.get_color_space(
    ml_collections.ConfigDict({"color_space": name, "value_range": (0.0, 1.0)})
  )
  images = jnp.asarray(np.round(rgb * 255), jnp.uint8)
  inputs, targets = jax.jit(space.split)(images)
  assert inputs.shape == images.shape[:-1] + (1,)
  assert targets.shape == images.shape[:-1] + (space.target_channels,)
  np.testing.assert_allclose(space.merge(inputs, targets), images / 255.0, atol=2e-3)


def test_lab_targets_are_scaled_like_pix2pix():
  space = registry.get("color_space", "lab")()
  white = jnp.full((1, 1, 1, 3), 255, jnp.uint8)
  inputs, targets = space.split(white)
  np.testing.assert_allclose(inputs, 1.0, atol=1e-4)  # L = 100 -> 100/50 - 1
  np.testing.assert_allclose(targets, 0.0, atol=1e-4)


def test_rgb_value_range_is_applied():
  space = color.get_color_space(
    ml_collections.ConfigDict({"color_space": "rgb", "value_range": (-1.0, 1.0)})
  )
  inputs, targets = space.split(jnp.zeros((1, 2, 2, 3), jnp.uint8))
  np.testing.assert_allclose(targets, -1.0)
  np.testing.assert_allclose(space.merge(inputs, targets), 0.0)


def test_gray_target_merges_to_a_gray_image(rgb):
  for name in ("rgb", "lab"):
    space = color.get_color_space(
      ml_collections.ConfigDict({"color_space": name, "value_range": (0.0, 1.0)})
    )
    inputs, _ = space.split(jnp.asarray(np.round(rgb * 255), jnp.uint8))
    merged = np.asarray(space.merge(inputs, space.gray_target(inputs)))
    np.testing.assert_allclose(merged[..., 0], merged[..., 1], atol=2e-3)
    np.testing.assert_allclose(merged[..., 1], merged[..., 2], atol=2e-3)


def test_lab_gradients_are_finite_at_black():
  grad = jax.grad(lambda x: color.rgb_to_lab(x).sum())(jnp.zeros((2, 2, 3)))
  assert np.isfinite(np.asarray(grad)).all()


def test_unknown_color_space_lists_valid_names():
  with pytest.raises(KeyError, match="valid color_space names: lab, rgb"):
    color.get_color_space(ml_collections.ConfigDict({"color_space": "hsv"}))
