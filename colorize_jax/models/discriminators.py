"""Conditional discriminators: `__call__(inputs, color, *, train)` -> float32 logits.

Both see the generator's inputs (the gray image, plus any channels the task
adds) concatenated with a colour target (true or generated, in the target
space) and share field names (`base_features`, `n_layers`, `norm`), so
`--config.discriminator.name=dcgan` swaps them.

Stabilisers every discriminator has (config.discriminator):
  spectral_norm: True   Miyato et al. 2018: every conv and dense weight divided by
                        its largest singular value, estimated by one power
                        iteration per call in train mode (flax nn.SpectralNorm).
                        Its `u` vectors live in the 'batch_stats' collection, so
                        the train state and checkpoints carry them like BatchNorm's.
  num_scales: 2 or 3    pix2pixHD's multi-scale D: that many copies (own weights),
                        scale i seeing both inputs average-pooled i times (3x3,
                        stride 2, padding excluded); returns a list of logits, one
                        per scale, which the GAN losses average.
Each layer's activations are sown into the 'intermediates' collection as
'features', for feature matching (losses/gan.py `feature_matching`).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from colorize_jax import registry
from colorize_jax.models import layers

_MAX_MULTIPLIER = 8


def _pair(inputs, color, dtype):
  return jnp.concatenate([inputs, color.astype(inputs.dtype)], axis=-1).astype(dtype)


def downsample(x):
  """pix2pixHD's input pyramid step: 3x3 average pooling, stride 2, padding not counted."""
  return nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=False)


class _Discriminator(nn.Module):
  """Shared switches: spectral normalisation and the multi-scale pyramid.

  Subclasses implement `single(inputs, color, train)` and build layers with `self.layer`.
  """

  spectral_norm: bool = False
  num_scales: int = 1

  def layer(self, module, x, *, train: bool):
    """`module(x)`, through spectral normalisation when it is on."""
    if self.spectral_norm:
      return nn.SpectralNorm(module)(x, update_stats=train)
    return module(x)

  def features(self, x):
    """Marks a layer's activations for feature matching."""
    self.sow("intermediates", "features", x)
    return x

  @nn.compact
  def __call__(self, inputs, color, *, train: bool):
    if self.num_scales < 1:
      raise ValueError(f"discriminator.num_scales must be >= 1; got {self.num_scales}")
    if self.num_scales == 1:
      return self.single(inputs, color, train=train)
    fields = {
      f.name: getattr(self, f.name)
      for f in dataclasses.fields(self)
      if f.init and f.name not in ("parent", "name")
    }
    outputs = []
    for i in range(self.num_scales):
      scale = type(self)(**(fields | {"num_scales": 1}), name=f"scale_{i}")
      outputs.append(scale(inputs, color, train=train))
      if not outputs[-1].size:
        raise ValueError(
          f"discriminator.num_scales={self.num_scales}: scale {i} sees "
          f"{inputs.shape[1]} px inputs, too small for {type(self).__name__}; use "
          "fewer scales or n_layers"
        )
      if i + 1 < self.num_scales:
        inputs, color = downsample(inputs), downsample(color)
    return outputs

  def single(self, inputs, color, *, train: bool):
    raise NotImplementedError


@registry.register("discriminator", "dcgan")
class DcganDiscriminator(_Discriminator):
  """The simple cGAN's D: `n_layers` 4x4 stride-2 convs (64, 128, ...) with
  LeakyReLU(0.2), then one dense real/fake logit per image [B, 1]."""

  base_features: int = 64
  n_layers: int = 2
  norm: str = "none"
  dtype: str = "float32"

  @nn.compact
  def single(self, inputs, color, *, train: bool):
    dtype = layers.dtype_of(self.dtype)
    x = _pair(inputs, color, dtype)
    for i in range(self.n_layers):
      conv = layers.Conv(self.base_features * 2**i, (4, 4), (2, 2), padding="SAME", dtype=dtype)
      x = self.layer(conv, x, train=train)
      if i > 0:  # As DCGAN: no norm on the layer that sees the input.
        x = layers.normalization(self.norm, train=train, dtype=dtype)(x)
      x = self.features(nn.leaky_relu(x, 0.2))
    x = self.layer(nn.Dense(1, dtype=dtype), x.reshape(x.shape[0], -1), train=train)
    return x.astype(jnp.float32)


@registry.register("discriminator", "patchgan")
class PatchGan(_Discriminator):
  """junyanz's NLayerDiscriminator: one logit per overlapping patch [B, h, w, 1].

  A 4x4 stride-2 conv (bias, no norm), n_layers - 1 more stride-2 convs and
  one stride-1 conv with norm (widths x2 per layer up to 8 x base_features),
  then a stride-1 conv to one channel; LeakyReLU(0.2) between. n_layers=3 is
  pix2pix's 70x70 PatchGAN (128x128 in -> 14x14 logits).
  """

  base_features: int = 64
  n_layers: int = 3
  norm: str = "batch"
  # Kernel initialiser: default (Flax's LeCun normal) | pix2pix (N(0, 0.02), as the paper).
  weight_init: str = "default"
  dtype: str = "float32"

  @nn.compact
  def single(self, inputs, color, *, train: bool):
    dtype = layers.dtype_of(self.dtype)
    init = layers.kernel_init(self.weight_init)
    use_bias = self.norm != "batch"
    pad = ((1, 1), (1, 1))
    x = _pair(inputs, color, dtype)
    conv = layers.Conv(
      self.base_features, (4, 4), (2, 2), padding=pad, dtype=dtype, kernel_init=init
    )
    x = self.layer(conv, x, train=train)
    x = self.features(nn.leaky_relu(x, 0.2))
    for n in range(1, self.n_layers + 1):
      stride = 2 if n < self.n_layers else 1
      width = self.base_features * min(2**n, _MAX_MULTIPLIER)
      conv = layers.Conv(
        width,
        (4, 4),
        (stride, stride),
        padding=pad,
        use_bias=use_bias,
        dtype=dtype,
        kernel_init=init,
      )
      x = self.layer(conv, x, train=train)
      x = layers.normalization(self.norm, train=train, dtype=dtype)(x)
      x = self.features(nn.leaky_relu(x, 0.2))
    x = self.layer(
      layers.Conv(1, (4, 4), padding=pad, dtype=dtype, kernel_init=init), x, train=train
    )
    return x.astype(jnp.float32)
