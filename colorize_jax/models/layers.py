"""Layers shared by every model family: activations, norms, resampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax import registry

# Every model's convolution layers (formulated for XLA:CPU, see conv.py).
from colorize_jax.models.conv import Conv, ConvTranspose  # noqa: F401 (re-exported)

_ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
  "relu": nn.relu,
  "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
  "elu": nn.elu,
  "gelu": nn.gelu,
  "silu": nn.silu,
  "tanh": jnp.tanh,
  "sigmoid": nn.sigmoid,
  "linear": lambda x: x,
}
for _name, _fn in _ACTIVATIONS.items():
  registry.register("activation", _name)(_fn)


# Convolution kernel initialisers by name (the pix2pix family's `weight_init` option).
# default: Flax's LeCun normal; pix2pix: N(0, 0.02), as pix2pix's init_weights('normal', 0.02)
# (its BatchNorm scales N(1, 0.02) are not copied: they start at 1 here).
KERNEL_INITS = ("default", "pix2pix")


def kernel_init(name: str) -> Callable:
  if name == "default":
    return nn.initializers.lecun_normal()
  if name == "pix2pix":
    return nn.initializers.normal(0.02)
  raise ValueError(f"unknown weight_init {name!r}; valid: {', '.join(KERNEL_INITS)}")


def activation(name: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  return registry.get("activation", name)


def dtype_of(name: str | Any):
  return jnp.dtype(name) if isinstance(name, str) else name


def normalization(name: str, *, train: bool, dtype: Any, momentum: float = 0.9) -> Callable:
  """A normalisation layer by name; 'batch' uses global-batch statistics under jit.

  'instance' is per example and channel: GroupNorm of one channel a group, with a learned scale
  and bias and epsilon 1e-6 (flax's), unlike PyTorch's InstanceNorm2d default that pix2pix's
  `--norm instance` uses (no affine, 1e-5). Kept so, since runs made with it resume exactly;
  the penalties that need per-example statistics (losses/gan.py) do not depend on the affine."""
  if name == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=1e-5, dtype=dtype)
  if name == "instance":
    return nn.GroupNorm(num_groups=None, group_size=1, dtype=dtype)
  if name == "layer":
    return nn.LayerNorm(dtype=dtype)
  if name == "none":
    return lambda x: x
  raise ValueError(f"unknown normalization {name!r}; valid: batch, instance, layer, none")


def upsample_nearest(x: jnp.ndarray, factor: int = 2) -> jnp.ndarray:
  """Keras' UpSampling2D: repeat each pixel `factor` times in H and W."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def max_pool(x: jnp.ndarray, size: int = 2) -> jnp.ndarray:
  return nn.max_pool(x, (size, size), strides=(size, size))


class SelfAttention2D(nn.Module):
  """Residual multi-head self-attention over every position of a feature map, as SAGAN and
  the colorization transformers add at a coarse scale: each pixel can take colour evidence
  from the whole image, not just its receptive field. Pre-LayerNorm; the output projection
  starts at zero, so the block begins as the identity and training adds the global term."""

  num_heads: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x):
    batch, height, width, channels = x.shape
    if channels % self.num_heads:
      raise ValueError(
        f"attention: {channels} channels do not split into {self.num_heads} heads; choose a "
        "head count that divides the bottleneck's width"
      )
    tokens = nn.LayerNorm(dtype=dtype_of(self.dtype))(x.reshape(batch, height * width, channels))
    attended = nn.MultiHeadDotProductAttention(
      num_heads=self.num_heads, dtype=dtype_of(self.dtype), out_kernel_init=nn.initializers.zeros
    )(tokens)
    return x + attended.reshape(x.shape).astype(x.dtype)


class ConvBlock(nn.Module):
  """`convs` x (3x3 conv, norm, activation), then optional dropout."""

  features: int
  convs: int = 1
  norm: str = "batch"
  activation: str = "relu"
  dropout: float = 0.0
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x, *, train: bool):
    dtype = dtype_of(self.dtype)
    for _ in range(self.convs):
      # A bias before BatchNorm is cancelled by its mean subtraction: leave it out.
      x = Conv(self.features, (3, 3), padding="SAME", use_bias=self.norm != "batch", dtype=dtype)(x)
      x = normalization(self.norm, train=train, dtype=dtype)(x)
      x = activation(self.activation)(x)
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x


def check_divisible(size: int, factor: int, model: str) -> None:
  if size % factor:
    raise ValueError(f"model {model!r} needs an image size divisible by {factor}; got {size}")


def final_output(x: jnp.ndarray, name: str) -> jnp.ndarray:
  """The output activation, computed in float32 so losses never see bf16."""
  return activation(name)(x.astype(jnp.float32))


def count_params(params) -> int:
  return sum(int(p.size) for p in jax.tree.leaves(params))
