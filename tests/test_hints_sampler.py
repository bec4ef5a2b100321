"""The device-side colour-hint sampler: counts, patch sizes, values, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.data import hints


def _ab(batch=4, size=32, seed=0):
  return jax.random.normal(jax.random.key(seed), (batch, size, size, 2))


def _patches(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
  """Bounding boxes (top, left, height, width) of the connected hint regions of one [H, W] mask."""
  from scipy import ndimage

  labels, _ = ndimage.label(mask)
  return [
    (s[0].start, s[1].start, s[0].stop - s[0].start, s[1].stop - s[1].start)
    for s in ndimage.find_objects(labels)
  ]


def test_counts_are_geometric_with_p_one_eighth():
  scheme = hints.HintScheme()
  keys = jax.random.split(jax.random.key(1), 20000)
  counts = np.asarray(jax.vmap(lambda k: hints._count(k, scheme))(keys))
  assert counts.min() == 0
  assert np.mean(counts == 0) == pytest.approx(1 / 8, abs=0.01)
  assert np.mean(counts == 1) == pytest.approx(7 / 64, abs=0.01)
  assert counts.mean() == pytest.approx(7.0, rel=0.05)  # (1 - p) / p, barely touched by the cap.
  assert counts.max() <= scheme.max_points


def test_the_automatic_fraction_adds_photos_without_hints():
  scheme = hints.HintScheme(automatic_fraction=0.5)
  keys = jax.random.split(jax.random.key(2), 20000)
  counts = np.asarray(jax.vmap(lambda k: hints._count(k, scheme))(keys))
  assert np.mean(counts == 0) == pytest.approx(0.5 + 0.5 / 8, abs=0.015)


def test_a_single_hint_is_a_square_of_the_patch_mean():
  ab = _ab(batch=64, size=40)
  scheme = hints.HintScheme(min_patch=1, max_patch=9)
  hint, mask = hints.fixed(ab, (ab[..., :1] * 50 + 128).astype(jnp.uint8).repeat(3, -1), 1, scheme)
  hint, mask, ab = np.asarray(hint), np.asarray(mask)[..., 0], np.asarray(ab)
  sizes = []
  for i in range(len(ab)):
    ((top, left, height, width),) = _patches(mask[i])
    assert height == width and 1 <= height <= 9
    sizes.append(height)
    patch = ab[i, top : top + height, left : left + width]
    np.testing.assert_allclose(
      hint[i, top : top + height, left : left + width],
      np.broadcast_to(patch.mean(axis=(0, 1)), patch.shape),
      atol=1e-5,
    )
    assert np.all(hint[i][mask[i] == 0] == 0)
  assert set(sizes) == set(range(1, 10))  # 64 draws reach every size.


def test_centres_cluster_around_the_middle():
  size = 64
  ab = _ab(batch=256, size=size)
  photos = (jax.random.uniform(jax.random.key(3), (256, size, size, 3)) * 255).astype(jnp.uint8)
  _, mask = hints.fixed(ab, photos, 1, hints.HintScheme(min_patch=1, max_patch=1))
  ys, xs = np.nonzero(np.asarray(mask)[..., 0])[1:]
  assert abs(ys.mean() - size / 2) < 3 and abs(xs.mean() - size / 2) < 3
  assert ys.std() == pytest.approx(size / 4, rel=0.2)  # A quarter of the free range.


def test_evaluation_hints_depend_on_the_photo_alone_and_nest():
  photos = (jax.random.uniform(jax.random.key(4), (6, 32, 32, 3)) * 255).astype(jnp.uint8)
  ab = _ab(batch=6, size=32)
  scheme = hints.HintScheme()
  _, mask10 = hints.fixed(ab, photos, 10, scheme)
  _, again = hints.fixed(ab[::-1], photos[::-1], 10, scheme)  # Another batch order.
  np.testing.assert_array_equal(np.asarray(mask10), np.asarray(again)[::-1])
  _, mask20 = hints.fixed(ab, photos, 20, scheme)
  assert np.all(np.asarray(mask20) >= np.asarray(mask10))  # The 10 points are among the 20.
  _, other_seed = hints.fixed(ab, photos, 10, scheme, seed=1)
  assert not np.array_equal(np.asarray(other_seed), np.asarray(mask10))
  _, none = hints.fixed(ab, photos, 0, scheme)
  assert not np.asarray(none).any()


def test_training_hints_vary_by_key_and_photo():
  ab = _ab(batch=8, size=32)
  scheme = hints.HintScheme(geometric_p=0.05)
  _, a = hints.sample(ab, jax.random.key(0), scheme)
  _, b = hints.sample(ab, jax.random.key(1), scheme)
  a = np.asarray(a)
  assert not np.array_equal(a, np.asarray(b))
  assert len({a[i].sum() for i in range(8)}) > 1  # Each photo its own draw.


@pytest.mark.parametrize(
  "options, field",
  [
    ({"geometric_p": 0.0}, "hints.geometric_p"),
    ({"min_patch": 5, "max_patch": 3}, "min_patch"),
    ({"automatic_fraction": 2.0}, "automatic_fraction"),
    ({"patch": 3}, "no option"),
  ],
)
def test_bad_options_fail_naming_the_field(options, field):
  with pytest.raises(ValueError, match=field):
    hints.HintScheme.from_config(options)
