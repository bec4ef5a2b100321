"""The autoencoder study's convolutional autoencoder, variants A and B."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn

from colorize_jax import registry
from colorize_jax.models import layers


def _upsample_conv(features: int, kernel: int, dtype: Any) -> Callable:
  """Variant A: Keras' UpSampling2D (nearest, x2), then a stride-1 conv."""
  conv = layers.Conv(features, (kernel, kernel), padding="SAME", dtype=dtype)
  return lambda x: conv(layers.upsample_nearest(x))


def _transpose_conv(features: int, kernel: int, dtype: Any) -> Callable:
  """Variant B: Keras' Conv2DTranspose(strides=2, padding='same').

  layers.ConvTranspose, not nn.ConvTranspose: same outputs and parameters,
  but nn.ConvTranspose's weight gradient is pathologically slow on XLA:CPU.
  """
  return layers.ConvTranspose(features, (kernel, kernel), (2, 2), dtype=dtype)


# Each entry builds one x2 decoder stage: (features, kernel, dtype) -> layer.
DECODERS: dict[str, Callable] = {"upsample": _upsample_conv, "transpose": _transpose_conv}


@registry.register("model", "autoencoder")
class Autoencoder(nn.Module):
  """Encoder `features`, each a stride-2 conv; decoder `decoder_features`,
  each an x2 `decoder` stage; then a 3x3 conv to the output channels at full
  resolution. Every hidden conv is followed by norm, activation and dropout.

  The study gives the layer types but not all widths; these are ours:
  encoder 64/128/256 (128 -> 16 px at 128 input), decoder 128/64/32 (the
  encoder mirrored, narrowing to the output), LeakyReLU, no BatchNorm.
  A: nearest upsampling + conv, dropout 0.1. B: transposed convs, no dropout.
  """

  out_channels: int = 3
  features: Sequence[int] = (64, 128, 256)
  decoder_features: Sequence[int] = (128, 64, 32)
  decoder: str = "upsample"
  kernel_size: int = 3
  norm: str = "none"
  activation: str = "leaky_relu"
  dropout: float = 0.1
  output_activation: str = "sigmoid"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    if self.decoder not in DECODERS:
      raise ValueError(
        f"autoencoder: unknown decoder {self.decoder!r}; valid: {', '.join(DECODERS)}"
      )
    if len(self.decoder_features) != len(self.features):
      raise ValueError(
        f"autoencoder: decoder_features {tuple(self.decoder_features)} must have one x2 stage per "
        f"stride-2 encoder conv in features {tuple(self.features)}"
      )
    layers.check_divisible(inputs.shape[1], 2 ** len(self.features), "autoencoder")
    dtype = layers.dtype_of(self.dtype)
    k = self.kernel_size

    def finish(x):
      x = layers.normalization(self.norm, train=train, dtype=dtype)(x)
      x = layers.activation(self.activation)(x)
      return nn.Dropout(self.dropout, deterministic=not train)(x) if self.dropout else x

    x = inputs
    for features in self.features:
      x = finish(layers.Conv(features, (k, k), strides=(2, 2), padding="SAME", dtype=dtype)(x))
    for features in self.decoder_features:
      x = finish(DECODERS[self.decoder](features, k, dtype)(x))
    x = layers.Conv(self.out_channels, (k, k), padding="SAME", dtype=dtype)(x)
    return layers.final_output(x, self.output_activation)
