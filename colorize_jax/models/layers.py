"""Layers shared by every model family: activations, norms, resampling."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from colorize_jax import registry

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


def activation(name: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  return registry.get("activation", name)


def dtype_of(name: str | Any):
  return jnp.dtype(name) if isinstance(name, str) else name


def normalization(name: str, *, train: bool, dtype: Any, momentum: float = 0.9) -> Callable:
  """A normalisation layer by name; 'batch' uses global-batch statistics under jit."""
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


def _transpose_padding(kernel: int, stride: int) -> tuple[int, int]:
  # lax.conv_transpose's 'SAME' padding, so outputs are exactly stride x the input.
  pad_len = kernel + stride - 2
  pad_before = kernel - 1 if stride > kernel - 1 else -(-pad_len // 2)
  return pad_before, pad_len - pad_before


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
      x = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=self.norm != "batch", dtype=dtype)(x)
      x = normalization(self.norm, train=train, dtype=dtype)(x)
      x = activation(self.activation)(x)
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x


def _phase_taps(kernel: int, stride: int, phase: int) -> tuple[list[int], int, int]:
  """Kernel taps, and input padding (before, after), that produce output phase `phase`.

  With 'SAME' transposed-conv padding, output o = stride*q + phase reads
  input q + (phase + k - pad) // stride through tap k, for the taps k with
  (phase + k - pad) % stride == 0; their input offsets are consecutive.
  """
  pad = _transpose_padding(kernel, stride)[0]
  taps = [k for k in range(kernel) if (phase + k - pad) % stride == 0]
  offsets = [(phase + k - pad) // stride for k in taps]
  return taps, -offsets[0], offsets[-1]


class ConvTranspose(nn.Module):
  """`nn.ConvTranspose(padding='SAME')` with the same parameters and outputs.

  Computed sub-pixel style: each of the stride x stride output phases is an
  ordinary convolution of the input with that phase's kernel taps, and the
  phases are interleaved (depth to space). That does the true transposed
  convolution's arithmetic, where inserting zeros between input pixels does
  stride^2 times more, and its weight gradient is an ordinary convolution's:
  XLA:CPU computes `nn.ConvTranspose`'s about 5x slower (DESIGN.md).
  """

  features: int
  kernel_size: Sequence[int] = (4, 4)
  strides: Sequence[int] = (2, 2)
  use_bias: bool = True
  dtype: Any = None
  kernel_init: Callable = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    kh, kw = self.kernel_size
    sh, sw = self.strides
    kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), jnp.float32)
    dtype = self.dtype or x.dtype
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    zero = jnp.zeros((), dtype)
    rows = []
    for py in range(sh):
      taps_y, top, bottom = _phase_taps(kh, sh, py)
      row = []
      for px in range(sw):
        taps_x, left, right = _phase_taps(kw, sw, px)
        # Negative padding crops: lax.pad takes both.
        padded = lax.pad(x, zero, [(0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)])
        row.append(lax.conv_general_dilated(
            padded, kernel[jnp.array(taps_y)][:, jnp.array(taps_x)], window_strides=(1, 1),
            padding="VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
      rows.append(jnp.stack(row, axis=3))  # [B, H, W, sw, F]
    y = jnp.stack(rows, axis=2)  # [B, H, sh, W, sw, F]
    b, h, _, w, _, f = y.shape
    y = y.reshape(b, h * sh, w * sw, f)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(dtype)
    return y


def check_divisible(size: int, factor: int, model: str) -> None:
  if size % factor:
    raise ValueError(f"model {model!r} needs an image size divisible by {factor}; got {size}")


def final_output(x: jnp.ndarray, name: str) -> jnp.ndarray:
  """The output activation, computed in float32 so losses never see bf16."""
  return activation(name)(x.astype(jnp.float32))


def count_params(params) -> int:
  return sum(int(p.size) for p in jax.tree.leaves(params))
