"""Colour: the conventions (gray, sRGB, CIE Lab in jnp; colour spaces as model targets), ab
quantisation (ab_bins) and its rebalancing prior (ab_prior).

`from colorize_jax import color` gives the conventions of color/spaces.py; ab_bins and
ab_prior are imported by name.
"""

from colorize_jax.color.spaces import (  # noqa: F401
  AB_SCALE,
  ColorSpace,
  LabSpace,
  RgbSpace,
  get_color_space,
  lab_to_rgb,
  neutral_rgb,
  rgb_to_gray,
  rgb_to_lab,
  to_unit,
)
