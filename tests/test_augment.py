"""Device-side augmentation: zoom, rotation and flips inside the jitted step."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from colorize_jax.data import augment

SIZE = 24


def _gradient_images(n=6):
  y, x = np.mgrid[0:SIZE, 0:SIZE]
  img = np.stack([100 + 3 * x, 100 + 3 * y, np.full_like(x, 150)], -1).astype(np.uint8)
  return np.repeat(img[None], n, axis=0)


def test_warps_move_pixels_without_black_corners():
  images = _gradient_images()
  out = np.asarray(
    jax.jit(lambda x, k: augment.augment_images(x, k, zoom=0.2, rotation=30.0, hflip=True))(
      images, jax.random.key(0)
    )
  )
  assert out.shape == images.shape and out.dtype == np.uint8
  assert out.min() >= 99  # Reflection fill: nothing darker than the photo itself.
  assert sum(not np.array_equal(o, i) for o, i in zip(out, images)) == len(images)
  assert len({o.tobytes() for o in out}) == len(images)  # Each image has its own warp.


def test_flip_only_mirrors_exactly():
  images = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3), np.uint8)
  out = np.asarray(
    augment.augment_images(images, jax.random.key(3), zoom=0.0, rotation=0.0, hflip=True)
  )
  flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
  kept = [np.array_equal(o, i) for o, i in zip(out, images)]
  assert all(f or k for f, k in zip(flipped, kept))
  assert 0 < sum(flipped) < len(images)  # About half, never none or all of 16.


def test_off_is_the_identity_and_the_key_decides():
  images = _gradient_images()
  assert (
    augment.augment_images(images, jax.random.key(0), zoom=0.0, rotation=0.0, hflip=False) is images
  )
  a = augment.augment_images(
    jnp.asarray(images), jax.random.key(5), zoom=0.1, rotation=10.0, hflip=True
  )
  b = augment.augment_images(
    jnp.asarray(images), jax.random.key(5), zoom=0.1, rotation=10.0, hflip=True
  )
  np.testing.assert_array_equal(a, b)


def test_bad_zoom_is_rejected_with_the_value():
  cfg = ml_collections.ConfigDict({"zoom": 1.5, "rotation": 0.0, "hflip": False})
  with pytest.raises(ValueError, match=r"data.augment.zoom must be in \[0, 1\), got 1.5"):
    augment.from_config(cfg)
