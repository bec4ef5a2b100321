"""Pixel losses. Each factory takes its options and the target's value range
and returns `(pred, target) -> [B]`: one value per example, so the same
function serves the training mean and the masked evaluation mean."""

from __future__ import annotations

import dm_pix
import jax.numpy as jnp
import optax

from colorize_jax import registry


def _per_example_mean(x):
  return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


@registry.register("pixel_loss", "mse")
def mse(*, value_range):
  del value_range
  return lambda pred, target: _per_example_mean(jnp.square(pred - target))


registry.register("pixel_loss", "l2")(mse)


@registry.register("pixel_loss", "l1")
def l1(*, value_range):
  del value_range
  return lambda pred, target: _per_example_mean(jnp.abs(pred - target))


registry.register("pixel_loss", "mae")(l1)


@registry.register("pixel_loss", "huber")
def huber(*, value_range, delta: float = 1.0):
  del value_range
  return lambda pred, target: _per_example_mean(optax.huber_loss(pred, target, delta=delta))


@registry.register("pixel_loss", "ssim")
def ssim(*, value_range, filter_size: int = 11):
  """1 - SSIM, with the dynamic range of the target space."""
  max_val = value_range[1] - value_range[0]

  def loss(pred, target):
    size = min(filter_size, pred.shape[1], pred.shape[2])
    shift = value_range[0]
    return 1.0 - dm_pix.ssim(pred - shift, target - shift, max_val=max_val, filter_size=size)

  return loss
