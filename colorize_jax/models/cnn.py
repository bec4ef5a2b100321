"""The birds study's small convolutional encoder-decoder (no skips)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

from colorize_jax import registry
from colorize_jax.models import layers


@registry.register("model", "cnn")
class CNN(nn.Module):
  """Encoder `features` (conv, then 2x2 max pooling), a `bottleneck` conv at
  1/2**len(features) resolution, then decoder `decoder_features`, each an x2
  nearest upsampling followed by a conv; a 1x1 conv to the output channels.

  The study's network: encoder 64/128, bottleneck 128, decoder "upsampling
  then two 3x3 convs". Taken literally (one upsampling, two convs) the output
  would be at half resolution, so each decoder conv gets its own upsampling:
  upsample -> conv 128 -> upsample -> conv 64, which mirrors the encoder and
  returns to full resolution. There are no skip connections: that is what
  separates it from the U-Net.
  """

  out_channels: int = 3
  features: Sequence[int] = (64, 128)
  bottleneck: int = 128
  decoder_features: Sequence[int] = (128, 64)
  norm: str = "batch"
  activation: str = "relu"
  dropout: float = 0.0
  output_activation: str = "sigmoid"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    if len(self.decoder_features) != len(self.features):
      raise ValueError(
        f"cnn: decoder_features {tuple(self.decoder_features)} must have one entry per pooling "
        f"in features {tuple(self.features)}, or the output is not at full resolution"
      )
    layers.check_divisible(inputs.shape[1], 2 ** len(self.features), "cnn")
    conv = lambda f: layers.ConvBlock(
      f, norm=self.norm, activation=self.activation, dtype=self.dtype
    )
    x = inputs
    for features in self.features:
      x = layers.max_pool(conv(features)(x, train=train))
    x = conv(self.bottleneck)(x, train=train)
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    for features in self.decoder_features:
      x = conv(features)(layers.upsample_nearest(x), train=train)
    x = layers.Conv(self.out_channels, (1, 1), dtype=layers.dtype_of(self.dtype))(x)
    return layers.final_output(x, self.output_activation)
