"""Conditional discriminators: `__call__(gray, color, *, train)` -> float32 logits.

Both see the gray input concatenated with a colour target (true or
generated, in the target space) and share field names (`base_features`,
`n_layers`, `norm`), so `--config.discriminator.name=dcgan` swaps them.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.models import layers

_MAX_MULTIPLIER = 8


def _pair(gray, color, dtype):
  return jnp.concatenate([gray, color.astype(gray.dtype)], axis=-1).astype(dtype)


@registry.register("discriminator", "dcgan")
class DcganDiscriminator(nn.Module):
  """The simple cGAN's D: `n_layers` 4x4 stride-2 convs (64, 128, ...) with
  LeakyReLU(0.2), then one dense real/fake logit per image [B, 1]."""

  base_features: int = 64
  n_layers: int = 2
  norm: str = "none"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, gray, color, *, train: bool):
    dtype = layers.dtype_of(self.dtype)
    x = _pair(gray, color, dtype)
    for i in range(self.n_layers):
      x = layers.Conv(self.base_features * 2 ** i, (4, 4), (2, 2), padding="SAME", dtype=dtype)(x)
      if i > 0:  # As DCGAN: no norm on the layer that sees the input.
        x = layers.normalization(self.norm, train=train, dtype=dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.Dense(1, dtype=dtype)(x.reshape(x.shape[0], -1))
    return x.astype(jnp.float32)


@registry.register("discriminator", "patchgan")
class PatchGan(nn.Module):
  """junyanz's NLayerDiscriminator: one logit per overlapping patch [B, h, w, 1].

  A 4x4 stride-2 conv (bias, no norm), n_layers - 1 more stride-2 convs and
  one stride-1 conv with norm (widths x2 per layer up to 8 x base_features),
  then a stride-1 conv to one channel; LeakyReLU(0.2) between. n_layers=3 is
  pix2pix's 70x70 PatchGAN (128x128 in -> 14x14 logits).
  """

  base_features: int = 64
  n_layers: int = 3
  norm: str = "batch"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, gray, color, *, train: bool):
    dtype = layers.dtype_of(self.dtype)
    use_bias = self.norm != "batch"
    pad = ((1, 1), (1, 1))
    x = _pair(gray, color, dtype)
    x = nn.leaky_relu(layers.Conv(self.base_features, (4, 4), (2, 2), padding=pad, dtype=dtype)(x), 0.2)
    for n in range(1, self.n_layers + 1):
      stride = 2 if n < self.n_layers else 1
      width = self.base_features * min(2 ** n, _MAX_MULTIPLIER)
      x = layers.Conv(width, (4, 4), (stride, stride), padding=pad, use_bias=use_bias, dtype=dtype)(x)
      x = nn.leaky_relu(layers.normalization(self.norm, train=train, dtype=dtype)(x), 0.2)
    x = layers.Conv(1, (4, 4), padding=pad, dtype=dtype)(x)
    return x.astype(jnp.float32)
