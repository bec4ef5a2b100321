"""The FID feature network in Flax: TensorFlow's Inception-v3 graph `inception-2015-12-05`, pool3.

The network FID has used since Heusel et al. (TTUR) and that StyleGAN2-ADA/3, clean-fid and
pytorch-fid load in translations: 94 convolutions, each without bias and followed by a
scale-free batch norm (beta, mean, var; eps 1e-3) and ReLU, to the 2048-d average pool of the
last 8x8 map ("pool_3"). Two details of the TF graph differ from torchvision's Inception-v3 and
are kept: its 3x3 average pools do not count padding, and the last block (`mixed_10`) pools its
fourth branch with a max pool.

Inputs are RGB on 0..255 of any size. As the TF graph does (its ResizeBilinear node, reproduced
by StyleGAN's TorchScript with an affine grid, and by clean-fid's `mode="legacy_tensorflow"`),
they are resized to 299x299 by TF1's bilinear resize without half-pixel centres (output pixel i
samples the input at i * in / out, the last row and column repeated past the edge), then mapped
to [-1, 1) by (x - 128) / 128. clean-fid's default mode resizes with PIL's bicubic instead, and
pytorch-fid with torch's half-pixel bilinear, so their FIDs of the same images differ slightly.

Parameter names and layout follow the TorchScript archive the weights come from
(evaluators/fid_weights.py): `mixed_4/tower_1/conv_2/weight` is `net.layers.mixed_4.tower_1.
conv_2.weight` there, as HWIO. Convolutions run at HIGHEST precision, so GPUs and TPUs do not
round them to bf16/tf32 and FID stays comparable across backends.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SIZE = 299
FEATURES = 2048
BN_EPSILON = 1e-3


class ConvBN(nn.Module):
  """Convolution (no bias) + batch norm without scale (beta, mean, var) + ReLU."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)  # Rows and columns, the same on both sides.

  @nn.compact
  def __call__(self, x):
    weight = self.param(
      "weight", nn.initializers.lecun_normal(), (*self.kernel, x.shape[-1], self.features)
    )
    beta = self.param("beta", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    pad_h, pad_w = self.padding
    y = jax.lax.conv_general_dilated(
      x,
      weight.astype(x.dtype),
      (self.stride, self.stride),
      ((pad_h, pad_h), (pad_w, pad_w)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST,
    )
    return nn.relu((y - mean) * jax.lax.rsqrt(var + BN_EPSILON) + beta)


def max_pool(x, stride: int, padding: int = 0):
  """3x3 max pool (padding never wins: it is -inf)."""
  pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1), pad)


def avg_pool_same(x):
  """3x3 stride-1 average pool over the valid pixels only (TF's; torch count_include_pad=False)."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  window, strides = (1, 3, 3, 1), (1, 1, 1, 1)
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
  ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
  count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
  return total / count


def _same(kernel: tuple[int, int]) -> tuple[int, int]:
  return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)


class Tower(nn.Module):
  """A branch: convolutions `conv`, `conv_1`, ... (a torch Sequential's names), optionally
  after the 3x3 average pool. Each layer: (features, kernel, stride); stride 2 has no padding,
  stride 1 pads to keep the size."""

  layers: tuple[tuple[int, tuple[int, int], int], ...]
  pool_first: bool = False

  @nn.compact
  def __call__(self, x):
    if self.pool_first:
      x = avg_pool_same(x)
    for i, (features, kernel, stride) in enumerate(self.layers):
      padding = (0, 0) if stride > 1 else _same(kernel)
      x = ConvBN(features, kernel, stride, padding, name="conv" if i == 0 else f"conv_{i}")(x)
    return x


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    return jnp.concatenate(
      [
        ConvBN(64, (1, 1), name="conv")(x),
        Tower(((48, (1, 1), 1), (64, (5, 5), 1)), name="tower")(x),
        Tower(((64, (1, 1), 1), (96, (3, 3), 1), (96, (3, 3), 1)), name="tower_1")(x),
        Tower(((self.pool_features, (1, 1), 1),), pool_first=True, name="tower_2")(x),
      ],
      axis=-1,
    )


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    return jnp.concatenate(
      [
        ConvBN(384, (3, 3), stride=2, name="conv")(x),
        Tower(((64, (1, 1), 1), (96, (3, 3), 1), (96, (3, 3), 2)), name="tower")(x),
        max_pool(x, 2),
      ],
      axis=-1,
    )


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    return jnp.concatenate(
      [
        ConvBN(192, (1, 1), name="conv")(x),
        Tower(((c, (1, 1), 1), (c, (1, 7), 1), (192, (7, 1), 1)), name="tower")(x),
        Tower(
          ((c, (1, 1), 1), (c, (7, 1), 1), (c, (1, 7), 1), (c, (7, 1), 1), (192, (1, 7), 1)),
          name="tower_1",
        )(x),
        Tower(((192, (1, 1), 1),), pool_first=True, name="tower_2")(x),
      ],
      axis=-1,
    )


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    return jnp.concatenate(
      [
        Tower(((192, (1, 1), 1), (320, (3, 3), 2)), name="tower")(x),
        Tower(
          ((192, (1, 1), 1), (192, (1, 7), 1), (192, (7, 1), 1), (192, (3, 3), 2)),
          name="tower_1",
        )(x),
        max_pool(x, 2),
      ],
      axis=-1,
    )


class InceptionE(nn.Module):
  """The TF graph's names (no Sequential here). `max_pool`: the last block's quirk."""

  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    a = ConvBN(384, (1, 1), name="tower_conv")(x)
    b = ConvBN(448, (1, 1), name="tower_1_conv")(x)
    b = ConvBN(384, (3, 3), padding=(1, 1), name="tower_1_conv_1")(b)
    pooled = max_pool(x, 1, 1) if self.max_pool else avg_pool_same(x)
    return jnp.concatenate(
      [
        ConvBN(320, (1, 1), name="conv")(x),
        ConvBN(384, (1, 3), padding=(0, 1), name="tower_mixed_conv")(a),
        ConvBN(384, (3, 1), padding=(1, 0), name="tower_mixed_conv_1")(a),
        ConvBN(384, (1, 3), padding=(0, 1), name="tower_1_mixed_conv")(b),
        ConvBN(384, (3, 1), padding=(1, 0), name="tower_1_mixed_conv_1")(b),
        ConvBN(192, (1, 1), name="tower_2_conv")(pooled),
      ],
      axis=-1,
    )


class InceptionV3(nn.Module):
  """[B, H, W, 3] in [-1, 1) (already 299x299 for the TF graph's figures) -> [B, 2048] pool3."""

  @nn.compact
  def __call__(self, x):
    x = ConvBN(32, (3, 3), stride=2, name="conv")(x)
    x = ConvBN(32, (3, 3), name="conv_1")(x)
    x = ConvBN(64, (3, 3), padding=(1, 1), name="conv_2")(x)
    x = max_pool(x, 2)  # pool0
    x = ConvBN(80, (1, 1), name="conv_3")(x)
    x = ConvBN(192, (3, 3), name="conv_4")(x)
    x = max_pool(x, 2)  # pool1
    x = InceptionA(32, name="mixed")(x)
    x = InceptionA(64, name="mixed_1")(x)
    x = InceptionA(64, name="mixed_2")(x)
    x = InceptionB(name="mixed_3")(x)
    for i, c in enumerate((128, 160, 160, 192)):
      x = InceptionC(c, name=f"mixed_{4 + i}")(x)
    x = InceptionD(name="mixed_8")(x)
    x = InceptionE(name="mixed_9")(x)
    x = InceptionE(max_pool=True, name="mixed_10")(x)
    return jnp.mean(x, axis=(1, 2))  # pool2: the 8x8 average of a 299x299 input.


@functools.cache
def _resize_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[out, in] weights of TF1's bilinear resize without half-pixel centres: output i samples
  the input at i * in / out, the upper neighbour clamped to the last pixel."""
  src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
  low = np.floor(src).astype(np.int64)
  frac = src - low
  high = np.minimum(low + 1, size_in - 1)
  m = np.zeros((size_out, size_in), np.float64)
  np.add.at(m, (np.arange(size_out), low), 1.0 - frac)
  np.add.at(m, (np.arange(size_out), high), frac)
  return m.astype(np.float32)


def resize(images, size: int = SIZE):
  """[B, H, W, C] -> [B, size, size, C] float32, TF1's bilinear resize (the graph's own)."""
  images = images.astype(jnp.float32)
  rows = jnp.asarray(_resize_matrix(images.shape[1], size))
  cols = jnp.asarray(_resize_matrix(images.shape[2], size))
  hp = jax.lax.Precision.HIGHEST
  images = jnp.einsum("oh,bhwc->bowc", rows, images, precision=hp)
  return jnp.einsum("pw,bowc->bopc", cols, images, precision=hp)


def features(params, images255):
  """Pool3 features [B, 2048] of RGB images on 0..255 ([B, H, W, 3], any size), as the TF graph
  computes them: resize to 299x299, (x - 128) / 128, Inception-v3."""
  x = (resize(images255) - 128.0) / 128.0
  return InceptionV3().apply({"params": params}, x)


def abstract_params():
  """The parameters' shapes and dtypes (no computation): what a converted file must hold."""
  x = jax.ShapeDtypeStruct((1, SIZE, SIZE, 3), jnp.float32)
  return jax.eval_shape(InceptionV3().init, jax.random.key(0), x)["params"]


def geometry() -> dict[str, tuple[tuple[int, int], int, tuple[int, int]]]:
  """Every convolution's (kernel, stride, padding) by parameter path, read from the module as it
  runs (traced, not computed), so the converter checks the archive against this code."""
  found = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, ConvBN) and context.method_name == "__call__":
      path = "/".join(module.scope.path)
      found[path] = (tuple(module.kernel), module.stride, tuple(module.padding))
    return next_fun(*args, **kwargs)

  x = jax.ShapeDtypeStruct((1, SIZE, SIZE, 3), jnp.float32)
  with nn.intercept_methods(record):
    jax.eval_shape(InceptionV3().init, jax.random.key(0), x)
  return found
