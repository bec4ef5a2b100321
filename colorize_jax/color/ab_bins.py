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


@functools.cache
def _centres(levels: int) -> np.ndarray:
  # Concrete even when first asked for inside a traced function (a loss under jit).
  with jax.ensure_compile_time_eval(), jax.default_device(jax.devices("cpu")[0]):
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


_SIDE = 2 * _HALF_RANGE + 1
_WINDOW = 2  # Candidates: the grid cells within 2 of a value's own cell (5 x 5).
_FAR = 1e9  # Squared distance given to candidate cells that hold no bin.


@functools.cache
def _grid_table() -> np.ndarray:
  """Bin index of each grid cell [23, 23] (-1: not a bin)."""
  table = np.full((_SIDE, _SIDE), -1, np.int32)
  cells = (centres() / GRID).astype(np.int64) + _HALF_RANGE
  table[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
  return table


def _candidates(ab):
  """(bin indices [..., 25], squared distances [..., 25]) of the bins in the
  5 x 5 grid cells around each value's own; cells without a bin are _FAR.

  The k <= 5 nearest bins of a value in the gamut lie among them: its own
  cell is a bin (every sRGB colour's is), and a bin outside the window is
  over 25 ab units away, where the Gaussian weight (sigma 5) relative to the
  nearest is below 1e-5. Far cheaper than distances to all Q bins, whose
  top_k is slow on XLA:CPU.
  """
  ab = ab.astype(jnp.float32)
  own = jnp.clip(jnp.round(ab / GRID), -_HALF_RANGE, _HALF_RANGE).astype(jnp.int32) + _HALF_RANGE
  offsets = np.stack(
    np.meshgrid(*[np.arange(-_WINDOW, _WINDOW + 1)] * 2, indexing="ij"), -1
  ).reshape(-1, 2)
  cells = own[..., None, :] + offsets  # [..., 25, 2]
  inside = jnp.all((cells >= 0) & (cells < _SIDE), axis=-1)
  cells = jnp.clip(cells, 0, _SIDE - 1)
  indices = jnp.asarray(_grid_table())[cells[..., 0], cells[..., 1]]
  indices = jnp.where(inside, indices, -1)
  d2 = jnp.sum(
    jnp.square(ab[..., None, :] - (cells - _HALF_RANGE).astype(jnp.float32) * GRID), axis=-1
  )
  return jnp.maximum(indices, 0), jnp.where(indices >= 0, d2, _FAR)


def soft_encode(ab, *, neighbours: int = 5, sigma: float = 5.0):
  """Zhang's soft targets: (indices [..., k] int32, weights [..., k]) of the k
  nearest bins, weighted by a Gaussian of the distance (sigma in ab units),
  summing to 1; nearest first. For ab in the sRGB gamut (see `_candidates`)."""
  indices, d2 = _candidates(ab)
  neg_d2, order = jax.lax.top_k(-d2, neighbours)
  # Relative to the nearest bin: exp never underflows to an all-zero row.
  weights = jnp.exp((neg_d2 - neg_d2[..., :1]) / (2.0 * sigma**2))
  return (
    jnp.take_along_axis(indices, order, axis=-1),
    weights / jnp.sum(weights, axis=-1, keepdims=True),
  )


def dense_encoding(indices, weights, num_classes: int):
  """The sparse soft encoding as a dense distribution [..., Q]."""
  return jnp.sum(jax.nn.one_hot(indices, num_classes) * weights[..., None], axis=-2)


def nearest(ab):
  """Index of each ab value's nearest bin, [...] int32 (ab in the sRGB gamut)."""
  indices, d2 = _candidates(ab)
  return jnp.take_along_axis(indices, jnp.argmin(d2, axis=-1)[..., None], axis=-1)[..., 0]


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
    raise ValueError(
      f"bin counts must be {len(bins)} non-negative values with a positive sum; "
      f"got shape {counts.shape}, sum {counts.sum()}"
    )
  d2 = np.sum(np.square(bins[:, None] - bins[None]), axis=-1)
  kernel = np.exp(-d2 / (2.0 * sigma**2))
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
