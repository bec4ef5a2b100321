"""Split names, the record format sources return, and hash-based split cuts."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from absl import logging

T = TypeVar("T")

SPLITS = ("train", "val", "test")


def check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


# A photo with no colour (a grayscale photo saved as RGB): fewer than GRAY_SHARE of its pixels
# have channels more than GRAY_SPREAD levels apart (room for JPEG's chroma noise). There is
# nothing to learn from or score on one: against it the gray input is exact, so a single such
# photo pulls a set's mean gray PSNR up by (PSNR cap - typical) / n (docs/DESIGN.md, "Gray photos").
GRAY_SPREAD = 2
GRAY_SHARE = 0.01


def is_gray(image: np.ndarray) -> bool:
  """Whether a uint8 RGB image [H, W, 3] has no colour (see GRAY_SPREAD)."""
  spread = image.max(axis=-1).astype(np.int16) - image.min(axis=-1)
  return np.count_nonzero(spread > GRAY_SPREAD) < GRAY_SHARE * spread.size


def record(image: np.ndarray, valid: bool = True) -> dict[str, object]:
  """What every source's __getitem__ returns.

  `valid` is False when a file that passed the header check fails to decode:
  training filters such records out, evaluation masks them.
  """
  return {"image": image, "valid": np.bool_(valid)}


class FailedRecords:
  """The invalid records of one source: a zero image each, and one warning per index.

  Thread-safe for grain's reader threads; pickles (without its lock) into
  grain's worker processes.
  """

  def __init__(self, image_size: int):
    self._size = int(image_size)
    self._warned: set[int] = set()
    self._lock = threading.Lock()

  def record(self, index: int, message: str, *args: Any) -> dict[str, object]:
    """Warns `message % args` the first time `index` fails; returns its invalid record."""
    with self._lock:
      first = index not in self._warned
      self._warned.add(index)
    if first:
      logging.warning(message, *args)
    return record(np.zeros((self._size, self._size, 3), np.uint8), valid=False)

  def screened(self, index: int, image: np.ndarray, skip_gray: bool, name: str):
    """`image`'s record, or an invalid one (warned once) when `skip_gray` and it has no colour."""
    if skip_gray and is_gray(image):
      return self.record(
        index,
        "%s has no colour (a grayscale photo): left out of training and scoring "
        "(data.skip_gray_photos)",
        name,
      )
    return record(image)

  def __getstate__(self) -> dict[str, Any]:
    return {"_size": self._size, "_warned": set(self._warned)}

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self._lock = threading.Lock()


def split_bounds(n: int, fractions: Sequence[float]) -> dict[str, tuple[int, int]]:
  """[start, stop) of each split in a list of n items.

  Cumulative rounding makes the three counts sum to n exactly.
  """
  if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
    raise ValueError(
      f"split_fractions must be 3 non-negative numbers (train, val, test) with a "
      f"positive sum, got {tuple(fractions)}"
    )
  total = float(sum(fractions))
  cuts = [0]
  acc = 0.0
  for f in fractions:
    acc += f
    cuts.append(int(round(n * acc / total)))
  return {s: (cuts[i], cuts[i + 1]) for i, s in enumerate(SPLITS)}


def _hash_key(key: str) -> str:
  return hashlib.sha1(key.encode("utf-8")).hexdigest()


# data.split_method: "path" (each file's split from its own path alone) or "rank" (the method of
# runs begun before it: hash order cut at exact fractions, where an added file could move others).
SPLIT_METHODS = ("path", "rank")
_HASH_DIGITS = 13  # 52 bits: exact in a float.


def split_of(key: str, fractions: Sequence[float]) -> str:
  """The split of one key (a relative path), decided by its own hash alone: its position in
  [0, 1) against the cumulative fractions. Adding or removing other keys never moves it; the
  counts follow the fractions on average (a binomial spread on small folders)."""
  split_bounds(0, fractions)  # Checks the fractions.
  return _split_at(_hash_key(key), fractions)


def _split_at(digest: str, fractions: Sequence[float]) -> str:
  """split_of for a key's hash (checked fractions)."""
  position = int(digest[:_HASH_DIGITS], 16) / 16**_HASH_DIGITS
  total, acc = float(sum(fractions)), 0.0
  for split, fraction in zip(SPLITS, fractions):
    acc += fraction
    if fraction > 0 and position < acc / total:
      return split
  return [s for s, f in zip(SPLITS, fractions) if f > 0][-1]  # Rounding at the top end.


def split_by_hash(
  keys: Sequence[str], fractions: Sequence[float], split: str, method: str = "path"
) -> list[str]:
  """The keys of one split, in hash order (independent of listing order, identical in every
  process).

  method "path": a key's split depends on its own path only (`split_of`), so
  files added to or removed from a folder never move another file between
  splits. "rank": the order cut at exact fractions (runs begun before
  data.split_method; there each added file moves the cut points by up to one
  position, and files near them change split).
  """
  check_split(split)
  if method not in SPLIT_METHODS:
    raise ValueError(f"data.split_method={method!r}: use one of {', '.join(SPLIT_METHODS)}")
  split_bounds(0, fractions)  # Checks the fractions.
  digests = {k: _hash_key(k) for k in keys}
  ordered = sorted(keys, key=lambda k: (digests[k], k))
  if method == "path":
    return [k for k in ordered if _split_at(digests[k], fractions) == split]
  start, stop = split_bounds(len(ordered), fractions)[split]
  return ordered[start:stop]
