"""The one home of colour conventions: gray, sRGB and CIE Lab, in jnp.

Everything here runs inside jit on the device: the host ships uint8 RGB and
the train step turns it into model inputs and targets (docs/DESIGN.md, "Batch": 4x fewer
bytes to move, no colour maths on busy host cores).

Conventions (pytorch-CycleGAN-and-pix2pix's, which users know):
  * gray: Rec. 709 luma of sRGB, as scikit-image's `rgb2gray`.
  * Lab: D65 white, 2 degree observer, as scikit-image's `rgb2lab`; the model
    sees L/50 - 1 and predicts ab/110, both roughly in [-1, 1].
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from colorize_jax import registry

# numpy, not jnp: a jnp constant would start the JAX backend at import time,
# before a multi-process run can call jax.distributed.initialize().
_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], np.float32)
_RGB_TO_XYZ = np.array(
  [
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
  ],
  np.float32,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ).astype(np.float32)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
_LAB_EPSILON = 0.008856
_L_SCALE, _AB_SCALE = 50.0, 110.0
# Lab target space: the model predicts ab / AB_SCALE (color/ab_bins.py decodes into it).
AB_SCALE = _AB_SCALE


def to_unit(rgb_uint8: jnp.ndarray) -> jnp.ndarray:
  """uint8 [0, 255] -> float32 [0, 1]."""
  return rgb_uint8.astype(jnp.float32) / 255.0


def rgb_to_gray(rgb: jnp.ndarray) -> jnp.ndarray:
  """[..., 3] in [0, 1] -> [..., 1] in [0, 1]."""
  return (rgb @ _GRAY_WEIGHTS)[..., None]


def _srgb_to_linear(c):
  # The clamp keeps the unused branch of `where` from producing NaN gradients.
  return jnp.where(c > 0.04045, ((jnp.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c):
  return jnp.where(c > 0.0031308, 1.055 * jnp.maximum(c, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * c)


def rgb_to_lab(rgb: jnp.ndarray) -> jnp.ndarray:
  """sRGB [..., 3] in [0, 1] -> Lab with L in [0, 100], a and b roughly in [-110, 110]."""
  xyz = _srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / _D65_WHITE
  f = jnp.where(
    xyz > _LAB_EPSILON, jnp.cbrt(jnp.maximum(xyz, _LAB_EPSILON)), 7.787 * xyz + 16.0 / 116.0
  )
  fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
  return jnp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: jnp.ndarray) -> jnp.ndarray:
  """Lab -> sRGB in [0, 1], clipped (as scikit-image's `lab2rgb`)."""
  fy = (lab[..., 0] + 16.0) / 116.0
  fx = lab[..., 1] / 500.0 + fy
  fz = jnp.maximum(fy - lab[..., 2] / 200.0, 0.0)
  f = jnp.stack([fx, fy, fz], axis=-1)
  xyz = jnp.where(f**3 > _LAB_EPSILON, f**3, (f - 16.0 / 116.0) / 7.787) * _D65_WHITE
  return jnp.clip(_linear_to_srgb(xyz @ _XYZ_TO_RGB.T), 0.0, 1.0)


def neutral_rgb(lightness: jnp.ndarray) -> jnp.ndarray:
  """Lab L [..., 1] -> the neutral gray of that lightness, sRGB [..., 3] in [0, 1] with three
  equal channels (lab_to_rgb of (L, 0, 0) is off neutral by the matrix's rounding)."""
  fy = (lightness + 16.0) / 116.0
  y = jnp.where(fy**3 > _LAB_EPSILON, fy**3, (fy - 16.0 / 116.0) / 7.787)
  return jnp.repeat(jnp.clip(_linear_to_srgb(y), 0.0, 1.0), 3, axis=-1)


@dataclasses.dataclass(frozen=True)
class ColorSpace:
  """How uint8 RGB photos become (input, target) pairs and back.

  `split` gives the model input [B, H, W, 1] and target [B, H, W, C];
  `merge` turns an input and a (predicted or true) target into RGB in [0, 1].
  """

  name: str
  target_channels: int
  target_range: tuple[float, float]

  def split(self, rgb_uint8):
    raise NotImplementedError

  def merge(self, inputs, targets):
    raise NotImplementedError

  def gray_target(self, inputs):
    """The target that colours nothing: the gray-baseline prediction."""
    raise NotImplementedError


@registry.register("color_space", "rgb")
@dataclasses.dataclass(frozen=True)
class RgbSpace(ColorSpace):
  """Both studies' setting (README): gray in, RGB out, both mapped to `value_range`."""

  name: str = "rgb"
  target_channels: int = 3
  target_range: tuple[float, float] = (0.0, 1.0)

  def _scale(self, x):
    low, high = self.target_range
    return x * (high - low) + low

  def _unscale(self, x):
    low, high = self.target_range
    return (x - low) / (high - low)

  def split(self, rgb_uint8):
    rgb = to_unit(rgb_uint8)
    return self._scale(rgb_to_gray(rgb)), self._scale(rgb)

  def merge(self, inputs, targets):
    del inputs  # The prediction already carries the luminance.
    return jnp.clip(self._unscale(targets.astype(jnp.float32)), 0.0, 1.0)

  def gray_target(self, inputs):
    return jnp.repeat(inputs, 3, axis=-1)


@registry.register("color_space", "lab")
@dataclasses.dataclass(frozen=True)
class LabSpace(ColorSpace):
  """pix2pix's colorization mode: L/50 - 1 in, ab/110 out."""

  name: str = "lab"
  target_channels: int = 2
  target_range: tuple[float, float] = (-1.0, 1.0)

  def split(self, rgb_uint8):
    lab = rgb_to_lab(to_unit(rgb_uint8))
    return lab[..., :1] / _L_SCALE - 1.0, lab[..., 1:] / _AB_SCALE

  def merge(self, inputs, targets):
    lab = jnp.concatenate([(inputs + 1.0) * _L_SCALE, targets * _AB_SCALE], axis=-1)
    return lab_to_rgb(lab.astype(jnp.float32))

  def gray_target(self, inputs):
    return jnp.zeros(inputs.shape[:-1] + (2,), inputs.dtype)


def get_color_space(data_cfg) -> ColorSpace:
  """The colour space a data config asks for (`data.color_space`, `data.value_range`)."""
  cls = registry.get("color_space", data_cfg.color_space)
  if cls is RgbSpace and data_cfg.get("value_range") is not None:
    return RgbSpace(target_range=tuple(float(v) for v in data_cfg.value_range))
  return cls()
