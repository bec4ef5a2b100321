"""The birds study's U-Net regression colorizer."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.models import layers


@registry.register("model", "unet")
class UNet(nn.Module):
  """Encoder `features` with pooling between stages, decoder `decoder_features`
  with nearest upsampling and skips from the matching encoder stages.

  The study's network: encoder 64/128/256, decoder 128/64, skips from the
  first two encoder stages, 1x1 conv to 3 channels with sigmoid.
  """

  out_channels: int = 3
  features: Sequence[int] = (64, 128, 256)
  decoder_features: Sequence[int] = (128, 64)
  convs_per_block: int = 1
  norm: str = "batch"
  activation: str = "relu"
  dropout: float = 0.0
  output_activation: str = "sigmoid"
  # Heads of a self-attention block after the bottleneck (layers.SelfAttention2D); 0 = none.
  attention_heads: int = 0
  dtype: str = "float32"

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    if len(self.decoder_features) != len(self.features) - 1:
      raise ValueError(
        f"unet: decoder_features {tuple(self.decoder_features)} must have one entry per "
        f"pooling, i.e. len(features) - 1 = {len(self.features) - 1}"
      )
    layers.check_divisible(inputs.shape[1], 2 ** (len(self.features) - 1), "unet")
    block = lambda f: layers.ConvBlock(
      f, self.convs_per_block, self.norm, self.activation, self.dropout, self.dtype
    )
    x, skips = inputs, []
    for i, features in enumerate(self.features):
      x = block(features)(x, train=train)
      if i < len(self.features) - 1:
        skips.append(x)
        x = layers.max_pool(x)
    if self.attention_heads:
      x = layers.SelfAttention2D(self.attention_heads, self.dtype)(x)
    for features, skip in zip(self.decoder_features, reversed(skips)):
      x = jnp.concatenate([layers.upsample_nearest(x), skip.astype(x.dtype)], axis=-1)
      x = block(features)(x, train=train)
    x = layers.Conv(self.out_channels, (1, 1), dtype=layers.dtype_of(self.dtype))(x)
    return layers.final_output(x, self.output_activation)
