"""pix2pix's U-Net generators, laid out as junyanz/pytorch-CycleGAN-and-pix2pix's
`UnetGenerator` (its recursive `UnetSkipConnectionBlock`, unrolled here).

Block i (0 = outermost, num_downs - 1 = innermost) downsamples with a 4x4
stride-2 conv to base_features x min(2^i, 8) channels; the way back mirrors
it with 4x4 stride-2 transposed convs, and every block but the outermost
hands its parent its input concatenated with its output. Down: LeakyReLU(0.2),
conv, norm (no norm in the outermost and innermost blocks). Up: ReLU,
transposed conv, norm, and dropout 0.5 in the three innermost decoder blocks
(the paper's "CD512-CD1024-CD1024" decoder start). junyanz's code puts them
one block further out and on num_downs - 5 blocks (2 in unet_128); the
paper's placement also keeps dropout in the shallow test-sized networks.
Convs followed by BatchNorm have no bias, as there. A skip carries the block's
input before its LeakyReLU, the paper's meaning; junyanz's in-place
LeakyReLU(0.2, True) overwrites that input before `torch.cat`, so its skips carry
the activated input and weights converted from it would not give its outputs.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.models import layers

_MAX_MULTIPLIER = 8  # Widths stop growing at 8 x base_features (512 at 64).
_DROPOUT_BLOCKS = 3


class Pix2PixUnet(nn.Module):
  out_channels: int = 2
  base_features: int = 64
  num_downs: int = 7
  norm: str = "batch"
  dropout: float = 0.5
  output_activation: str = "tanh"
  # Kernel initialiser: default (Flax's LeCun normal) | pix2pix (N(0, 0.02), as the paper).
  weight_init: str = "default"
  dtype: str = "float32"

  def _width(self, i: int) -> int:
    return self.base_features * min(2**i, _MAX_MULTIPLIER)

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    n, size = self.num_downs, inputs.shape[1]
    if n < 2:
      raise ValueError(f"pix2pix U-Net: num_downs must be at least 2; got {n}")
    if size % 2**n:
      raise ValueError(
        f"pix2pix U-Net with num_downs={n} needs an image size divisible by "
        f"2^{n} = {2**n}; got {size}. "
        "Change data.image_size or model.num_downs."
      )
    dtype = layers.dtype_of(self.dtype)
    init = layers.kernel_init(self.weight_init)
    use_bias = self.norm != "batch"
    norm = lambda x: layers.normalization(self.norm, train=train, dtype=dtype)(x)
    innermost = self.num_downs - 1

    # Down: keep each block's input for its skip.
    x, block_inputs = inputs, []
    for i in range(self.num_downs):
      block_inputs.append(x)
      if i > 0:
        x = nn.leaky_relu(x, 0.2)
      x = layers.Conv(
        self._width(i),
        (4, 4),
        (2, 2),
        padding=((1, 1), (1, 1)),
        use_bias=use_bias,
        dtype=dtype,
        kernel_init=init,
      )(x)
      if 0 < i < innermost:
        x = norm(x)

    # Up, innermost first: each block maps back to its input's width.
    for i in reversed(range(1, self.num_downs)):
      skip = block_inputs[i]
      x = layers.ConvTranspose(
        skip.shape[-1], (4, 4), (2, 2), use_bias=use_bias, dtype=dtype, kernel_init=init
      )(nn.relu(x))
      x = norm(x)
      if i > innermost - _DROPOUT_BLOCKS and self.dropout:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = jnp.concatenate([skip.astype(x.dtype), x], axis=-1)
    x = layers.ConvTranspose(self.out_channels, (4, 4), (2, 2), dtype=dtype, kernel_init=init)(
      nn.relu(x)
    )
    return layers.final_output(x, self.output_activation)


@registry.register("model", "unet_128")
class Unet128(Pix2PixUnet):
  """pix2pix's unet_128: 7 downsamplings, 128x128 -> 1x1 at the bottom."""


@registry.register("model", "unet_256")
class Unet256(Pix2PixUnet):
  """pix2pix's unet_256: 8 downsamplings, 256x256 -> 1x1 at the bottom."""

  num_downs: int = 8
