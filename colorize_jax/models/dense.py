"""The birds study's fully connected baseline colorizer."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

from colorize_jax import registry
from colorize_jax.models import layers


@registry.register("model", "dense")
class Dense(nn.Module):
  """Flatten the inputs (the task's channels), `hidden` x (Dense, activation, norm,
  dropout), then one Dense layer with a unit per output pixel and channel.

  The study's network: hidden 512/1024/2048 with ReLU, BatchNorm and Dropout,
  sigmoid output reshaped to the image. It sees no spatial structure, which
  is the point of the baseline; at 128x128 the output layer alone holds
  2048 x 49,152 weights, so nearly all of its ~112 M parameters are there.
  """

  # Its output layer has a unit per pixel and channel: no per-pixel heads
  # (ab classification's Q logits per pixel).
  per_pixel_output = False

  out_channels: int = 3
  hidden: Sequence[int] = (512, 1024, 2048)
  norm: str = "batch"
  activation: str = "relu"
  dropout: float = 0.2
  output_activation: str = "sigmoid"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    dtype = layers.dtype_of(self.dtype)
    batch, height, width, _ = inputs.shape
    x = inputs.reshape(batch, -1)
    # The study's Keras order: Dense(activation=relu) -> BatchNormalization -> Dropout.
    for units in self.hidden:
      x = nn.Dense(units, dtype=dtype)(x)
      x = layers.activation(self.activation)(x)
      x = layers.normalization(self.norm, train=train, dtype=dtype)(x)
      if self.dropout:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.Dense(height * width * self.out_channels, dtype=dtype)(x)
    x = x.reshape(batch, height, width, self.out_channels)
    return layers.final_output(x, self.output_activation)
