"""User colour hints, sampled on the device from the photo (Zhang et al., SIGGRAPH 2017).

A hint is a square patch of the photo whose pixels all carry the patch's mean
ab, with a mask marking where hints are. The network reads L, the hint ab
(zero where there is none) and the mask. Sampling runs inside the jitted step
from the step's key, like augmentation, so a resumed run draws the same hints.

The reference scheme (richzhang/colorization-pytorch, `add_color_patches_rand_gt`):
the number of points is geometric on {0, 1, 2, ...} with P(0) = p = 1/8, patch
sides are uniform on 1..9 px, and centres are normal around the image centre
with a standard deviation of a quarter of the free range. A later point
paints over an earlier one where they overlap.

Evaluation draws a fixed number of points per photo from a key derived from
the photo's own pixels and a seed (`photo_keys`), so every run, batch size and
recipe scores the same points on the same photo.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class HintScheme:
  """How many hints, how large and where: `config.hints`."""

  geometric_p: float = 1.0 / 8.0  # P(no hint); the count is geometric on {0, 1, 2, ...}.
  max_points: int = 64  # Cap on the count (geometric(1/8) exceeds 64 with prob. 2e-4).
  min_patch: int = 1
  max_patch: int = 9
  center_std: float = 0.25  # Of the range a patch's corner may take; <= 0 means uniform.
  automatic_fraction: float = 0.0  # Extra share of examples trained with no hint at all.

  def __post_init__(self):
    problems = []
    if not 0.0 < self.geometric_p <= 1.0:
      problems.append(f"hints.geometric_p={self.geometric_p} must be in (0, 1]")
    if not 1 <= self.min_patch <= self.max_patch:
      problems.append(
        f"hints.min_patch={self.min_patch} and hints.max_patch={self.max_patch} must satisfy "
        "1 <= min_patch <= max_patch"
      )
    if self.max_points < 1:
      problems.append(f"hints.max_points={self.max_points} must be >= 1")
    if not 0.0 <= self.automatic_fraction <= 1.0:
      problems.append(f"hints.automatic_fraction={self.automatic_fraction} must be in [0, 1]")
    if problems:
      raise ValueError("; ".join(problems))

  @classmethod
  def from_config(cls, hints_cfg) -> HintScheme:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hints_cfg) - fields)
    if unknown:
      raise ValueError(f"hints has no option(s) {unknown}; valid options: {sorted(fields)}")
    return cls(**dict(hints_cfg))


def _box_means(ab: jax.Array) -> jax.Array:
  """Summed-area table of [H, W, C] with a zero row and column in front: [H+1, W+1, C]."""
  table = jnp.cumsum(jnp.cumsum(ab, axis=0), axis=1)
  return jnp.pad(table, ((1, 0), (1, 0), (0, 0)))


def _paint(ab: jax.Array, tops, lefts, sizes, active) -> tuple[jax.Array, jax.Array]:
  """One photo's hints: points k with corner (tops[k], lefts[k]) and side sizes[k], where
  active[k]. Returns hint ab [H, W, C] (patch means) and the mask [H, W, 1]."""
  h, w, _ = ab.shape
  table = _box_means(ab.astype(jnp.float32))
  bottoms, rights = tops + sizes, lefts + sizes
  sums = table[bottoms, rights] - table[tops, rights] - table[bottoms, lefts] + table[tops, lefts]
  means = sums / (sizes * sizes)[:, None].astype(jnp.float32)  # [K, C]
  rows, cols = jnp.arange(h), jnp.arange(w)
  inside_rows = (rows[None, :] >= tops[:, None]) & (rows[None, :] < bottoms[:, None])  # [K, H]
  inside_cols = (cols[None, :] >= lefts[:, None]) & (cols[None, :] < rights[:, None])  # [K, W]
  covers = inside_rows[:, :, None] & inside_cols[:, None, :] & active[:, None, None]  # [K, H, W]
  # The last covering point wins, as when the reference paints points one after another.
  order = jnp.arange(1, len(sizes) + 1)[:, None, None]
  last = jnp.max(jnp.where(covers, order, 0), axis=0)  # [H, W], 0 = no hint.
  mask = last > 0
  hint = jnp.where(mask[..., None], means[jnp.maximum(last - 1, 0)], 0.0)
  return hint, mask[..., None].astype(jnp.float32)


def _draw_points(key, height: int, width: int, scheme: HintScheme):
  """Sizes and corners of scheme.max_points candidate points of one photo."""
  k_size, k_top, k_left = jax.random.split(key, 3)
  k = scheme.max_points
  sizes = jax.random.randint(k_size, (k,), scheme.min_patch, scheme.max_patch + 1)
  sizes = jnp.minimum(sizes, min(height, width))

  def corner(key, extent):
    free = extent - sizes  # The corner lies in [0, free].
    if scheme.center_std > 0:
      draw = jax.random.normal(key, (k,)) * scheme.center_std * (free + 1) + (free + 1) / 2.0
    else:
      draw = jax.random.uniform(key, (k,)) * (free + 1)
    return jnp.clip(jnp.floor(draw).astype(jnp.int32), 0, free)

  return sizes, corner(k_top, height), corner(k_left, width)


def _count(key, scheme: HintScheme) -> jax.Array:
  """Geometric on {0, 1, ...} with P(0) = p, capped at max_points; 0 for the automatic share."""
  k_geo, k_auto = jax.random.split(key)
  u = jax.random.uniform(k_geo, minval=jnp.finfo(jnp.float32).tiny)
  p = scheme.geometric_p
  count = (
    jnp.zeros((), jnp.int32)
    if p >= 1.0
    else jnp.floor(jnp.log(u) / jnp.log1p(-p)).astype(jnp.int32)
  )
  count = jnp.where(jax.random.bernoulli(k_auto, scheme.automatic_fraction), 0, count)
  return jnp.minimum(count, scheme.max_points)


def sample(ab: jax.Array, key: jax.Array, scheme: HintScheme) -> tuple[jax.Array, jax.Array]:
  """Training hints for a batch: ab [B, H, W, C] -> (hint ab [B, H, W, C], mask [B, H, W, 1]),
  each photo with its own random count, sizes and places."""
  _, h, w, _ = ab.shape

  def one(photo_ab, key):
    k_count, k_points = jax.random.split(key)
    sizes, tops, lefts = _draw_points(k_points, h, w, scheme)
    active = jnp.arange(scheme.max_points) < _count(k_count, scheme)
    return _paint(photo_ab, tops, lefts, sizes, active)

  return jax.vmap(one)(ab, jax.random.split(key, ab.shape[0]))


def content_keys(values: jax.Array, seed: int) -> jax.Array:
  """One key per example [B] of uint32 `values` [B, ...], from its values and `seed` alone:
  independent of the batch it is in and its place there."""
  weights = jnp.arange(1, values[0].size + 1, dtype=jnp.uint32) * jnp.uint32(2654435761)
  digests = jnp.sum(values.reshape(values.shape[0], -1) * weights, axis=1)
  base = jax.random.key(seed)
  return jax.vmap(lambda d: jax.random.fold_in(base, d))(digests)


def photo_keys(rgb_uint8: jax.Array, seed: int) -> jax.Array:
  """One key per photo [B], from its pixels and `seed` alone (`content_keys`)."""
  return content_keys(rgb_uint8.astype(jnp.uint32), seed)


# The batch keys of given hints (evaluation, a user's), in Lab ab units and 0/1, as the hints task
# (tasks/hints.py) reads them: hint_ab [B, H, W, 2], hint_mask [B, H, W, 1].
HINT_AB, HINT_MASK = "hint_ab", "hint_mask"


def reads_hints(input_layout) -> bool:
  """Whether a network with this input layout (task.input_layout) takes colour hints."""
  return any(name == HINT_AB for name, _ in input_layout)


# Evaluation draws this many candidate points per photo and keeps the first n, so the
# points of n hints are among those of any larger n (a smoother curve against n).
EVAL_CANDIDATES = 100


def fixed(
  ab: jax.Array, rgb_uint8: jax.Array, num_points: int, scheme: HintScheme, seed: int = 0
) -> tuple[jax.Array, jax.Array]:
  """Evaluation hints: exactly `num_points` per photo, sized and placed by the scheme from the
  photo's own key (`photo_keys`), so they repeat across runs, batch sizes and recipes."""
  _, h, w, _ = ab.shape
  scheme = dataclasses.replace(scheme, max_points=max(EVAL_CANDIDATES, int(num_points)))

  def one(photo_ab, key):
    sizes, tops, lefts = _draw_points(key, h, w, scheme)
    active = jnp.arange(scheme.max_points) < num_points
    return _paint(photo_ab, tops, lefts, sizes, active)

  return jax.vmap(one)(ab, photo_keys(rgb_uint8, seed))
