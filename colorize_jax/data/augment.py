"""Training augmentation on the device: random zoom, rotation and horizontal flip.

It runs inside the jitted train step on the uint8 batch, so host cores only
decode and resize (the warp was ~40% of the host's time per image), and its
randomness comes from the step's key: a resumed run augments identically.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy import ndimage


def _warp_one(image, key, zoom: float, rotation: float, hflip: bool):
  """One [H, W, C] uint8 image through one random affine warp, reflect-filled."""
  k_scale, k_angle, k_flip = jax.random.split(key, 3)
  # Drawn every time, so switching one option off leaves the others' streams alone.
  scale = 1.0 + zoom * jax.random.uniform(k_scale, minval=-1.0, maxval=1.0)
  theta = jnp.deg2rad(rotation * jax.random.uniform(k_angle, minval=-1.0, maxval=1.0))
  flip = jnp.logical_and(hflip, jax.random.bernoulli(k_flip))

  h, w, c = image.shape
  y, x = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2,
    jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2,
    indexing="ij",
  )
  x = jnp.where(flip, -x, x)
  cos, sin = jnp.cos(theta) / scale, jnp.sin(theta) / scale
  src_y = sin * x + cos * y + (h - 1) / 2
  src_x = cos * x - sin * y + (w - 1) / 2
  channels = [
    ndimage.map_coordinates(
      image[..., i].astype(jnp.float32), [src_y, src_x], order=1, mode="reflect"
    )
    for i in range(c)
  ]
  return jnp.clip(jnp.round(jnp.stack(channels, axis=-1)), 0, 255).astype(jnp.uint8)


def augment_images(images, key, *, zoom: float, rotation: float, hflip: bool):
  """[B, H, W, C] uint8 -> the same, each image with its own random warp."""
  if not 0.0 <= zoom < 1.0:
    raise ValueError(f"data.augment.zoom must be in [0, 1), got {zoom}")
  if not (zoom or rotation or hflip):
    return images
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda im, k: _warp_one(im, k, zoom, rotation, hflip))(images, keys)


def from_config(augment_cfg):
  """A `(images, key) -> images` function for `config.data.augment`."""
  options = dict(
    zoom=float(augment_cfg.zoom),
    rotation=float(augment_cfg.rotation),
    hflip=bool(augment_cfg.hflip),
  )
  augment_images(jnp.zeros((0, 1, 1, 3), jnp.uint8), jax.random.key(0), **options)  # Validates now.
  return lambda images, key: augment_images(images, key, **options)
