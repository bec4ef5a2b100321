"""Colour as classification over quantised ab (Zhang, Isola & Efros, "Colorful
Image Colorization", ECCV 2016): the bins, soft-encoded targets, the class
rebalancing prior and the annealed-mean decoding.

Bins: the ab plane on a grid of 10 (centres -110, -100, ..., 110), keeping
the grid points whose cell (the square of side 10 around the centre, i.e.
the ab values that round to it) holds the ab of some sRGB colour, at any L.
Computed from `color.rgb_to_lab` on the faces of the RGB cube (every ab of
the gamut is reached on its surface: the colours of one ab form a curve
through the cube that ends on a face), sampled at 512 levels per edge, on
the CPU backend so every machine gets the same set. That gives 262 bins; the
count is the same at 1,024 and 2,048 levels. Zhang's released set has 313:
it was computed differently (its file is all that was published), so the
two sets are not interchangeable. Every 8-bit photo's ab rounds to a kept
bin, so a pixel's nearest bin is always its rounded grid point.

All ab values here are CIE Lab units (roughly -110..110); the models' target
space is ab / color.AB_SCALE.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from colorize_jax import color

GRID = 10.0
_HALF_RANGE = 11  # Grid centres at GRID x (-11 .. 11).
_FACE_LEVELS = 512


def _cube_faces(levels: int) -> np.ndarray:
  """RGB points on the six faces of the unit cube, [6 levels^2, 3]."""
  v = np.linspace(0.0, 1.0, levels, dtype=np.float32)
  u, w = (x.ravel() for x in np.meshgrid(v, v, indexing="ij"))
  faces = []
  for axis in range(3):
    for value in (0.0, 1.0):
      columns = [u, w]
      columns.insert(axis, np.full_like(u, value))
      faces.append(np.stack(columns, axis=-1))
  return np.concatenate(faces)


@functools.lru_cache(maxsize=None)
def _centres(levels: int) -> np.ndarray:
  with jax.default_device(jax.devices("cpu")[0]):
    ab = np.asarray(jax.jit(color.rgb_to_lab)(_cube_faces(levels)))[:, 1:]
  cells = np.round(ab / GRID).astype(np.int64) + _HALF_RANGE
  side = 2 * _HALF_RANGE + 1
  hit = np.bincount(cells[:, 0] * side + cells[:, 1], minlength=side * side) > 0
  a, b = np.divmod(np.flatnonzero(hit), side)
  centres = np.stack([a, b], axis=-1).astype(np.float32) - _HALF_RANGE
  centres = centres * GRID
  centres.setflags(write=False)
  return centres


def centres(levels: int = _FACE_LEVELS) -> np.ndarray:
  """The Q in-gamut bin centres, [Q, 2] float32 ab, ordered by a then b."""
  return _centres(levels)


def num_bins() -> int:
  return len(centres())


def _squared_distances(ab, bins):
  ab = ab.astype(jnp.float32)
  return jnp.sum(jnp.square(ab[..., None, :] - jnp.asarray(bins)), axis=-1)


def soft_encode(ab, *, neighbours: int = 5, sigma: float = 5.0, bins=None):
  """Zhang's soft targets: (indices [..., k] int32, weights [..., k]) of the k
  nearest bins, weighted by a Gaussian of the distance (sigma in ab units),
  summing to 1; nearest first."""
  bins = centres() if bins is None else bins
  neg_d2, indices = jax.lax.top_k(-_squared_distances(ab, bins), neighbours)
  # Relative to the nearest bin: exp never underflows to an all-zero row.
  weights = jnp.exp((neg_d2 - neg_d2[..., :1]) / (2.0 * sigma ** 2))
  return indices, weights / jnp.sum(weights, axis=-1, keepdims=True)


def dense_encoding(indices, weights, num_classes: int):
  """The sparse soft encoding as a dense distribution [..., Q]."""
  return jnp.sum(jax.nn.one_hot(indices, num_classes) * weights[..., None], axis=-2)


def nearest(ab, bins=None):
  """Index of each ab value's nearest bin, [...] int32."""
  bins = centres() if bins is None else bins
  return jnp.argmin(_squared_distances(ab, bins), axis=-1).astype(jnp.int32)


def annealed_mean(logits, temperature: float = 0.38, bins=None):
  """ab [..., 2] from logits [..., Q]: the mean of softmax(log p / T) =
  softmax(logits / T). T = 1 is the mean of the predicted distribution, T -> 0
  its mode; Zhang's 0.38 keeps the mode's vibrancy with the mean's smoothness."""
  bins = centres() if bins is None else bins
  probs = jax.nn.softmax(logits.astype(jnp.float32) / temperature, axis=-1)
  return probs @ jnp.asarray(bins)


def smoothed_prior(counts, *, sigma: float = 5.0, bins=None) -> np.ndarray:
  """The empirical bin distribution smoothed by a Gaussian of `sigma` over
  the bin centres (ab units), [Q] float64 summing to 1."""
  bins = np.asarray(centres() if bins is None else bins, np.float64)
  counts = np.asarray(counts, np.float64)
  if counts.shape != (len(bins),) or counts.sum() <= 0 or np.any(counts < 0):
    raise ValueError(f"bin counts must be {len(bins)} non-negative values with a positive sum; "
                     f"got shape {counts.shape}, sum {counts.sum()}")
  d2 = np.sum(np.square(bins[:, None] - bins[None]), axis=-1)
  kernel = np.exp(-d2 / (2.0 * sigma ** 2))
  smoothed = kernel @ (counts / counts.sum())
  return smoothed / smoothed.sum()


def rebalancing_weights(prior, *, mix: float = 0.5) -> np.ndarray:
  """w ∝ ((1 - mix) prior + mix / Q)^-1, scaled so that E_prior[w] = 1, [Q] float32.

  mix = 1 weighs every bin the same (no rebalancing), as the paper's
  'Classification' ablation; Zhang's full method uses 0.5.
  """
  if not 0.0 < mix <= 1.0:
    raise ValueError(f"classification.prior_mix must be in (0, 1]; got {mix}")
  prior = np.asarray(prior, np.float64)
  weights = 1.0 / ((1.0 - mix) * prior + mix / len(prior))
  return (weights / np.sum(prior * weights)).astype(np.float32)
