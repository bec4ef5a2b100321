"""The birds study's small cGAN generators: a strided-conv encoder-decoder, with or
without encoder->decoder skips.

Both share field names with the pix2pix U-Nets (`base_features`,
`num_downs`), so `--config.model.name=unet_small` swaps one for another.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.models import layers


class _EncoderDecoder(nn.Module):
  """4x4 convs: `num_downs` stride-2 encoder convs (base_features x 1, 2, ...),
  a stride-1 bottleneck with twice the last width, as many stride-2
  transposed convs back, each with norm + LeakyReLU(0.2), then a 4x4 output
  conv. With `skips`, each decoder stage also sees the encoder stage of its
  resolution, U-Net style."""

  out_channels: int = 3
  base_features: int = 64
  num_downs: int = 2
  norm: str = "batch"
  output_activation: str = "tanh"
  dtype: str = "float32"
  skips = False

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    name = f"{type(self).__name__} (num_downs={self.num_downs})"
    layers.check_divisible(inputs.shape[1], 2**self.num_downs, name)
    dtype = layers.dtype_of(self.dtype)
    use_bias = self.norm != "batch"  # BatchNorm's mean subtraction cancels a bias.

    def norm_act(x):
      return nn.leaky_relu(layers.normalization(self.norm, train=train, dtype=dtype)(x), 0.2)

    widths = [self.base_features * 2**i for i in range(self.num_downs)]
    x, encoded = inputs, []
    for width in widths:
      x = norm_act(
        layers.Conv(width, (4, 4), (2, 2), padding="SAME", use_bias=use_bias, dtype=dtype)(x)
      )
      encoded.append(x)
    x = norm_act(
      layers.Conv(2 * widths[-1], (4, 4), padding="SAME", use_bias=use_bias, dtype=dtype)(x)
    )
    for width, skip in zip(reversed(widths), reversed(encoded)):
      if self.skips:
        x = jnp.concatenate([x, skip], axis=-1)
      x = norm_act(layers.ConvTranspose(width, (4, 4), (2, 2), use_bias=use_bias, dtype=dtype)(x))
    x = layers.Conv(self.out_channels, (4, 4), padding="SAME", dtype=dtype)(x)
    return layers.final_output(x, self.output_activation)


@registry.register("model", "cgan_cnn")
class CganCnn(_EncoderDecoder):
  """The simple cGAN's generator: 64, 128 down, 256 bottleneck, 128, 64 up."""


@registry.register("model", "unet_small")
class UnetSmall(_EncoderDecoder):
  """cgan_cnn plus two skip connections (encoder 128 -> first decoder stage,
  encoder 64 -> second)."""

  skips = True
