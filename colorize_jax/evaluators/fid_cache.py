"""The photos' side of FID, computed once: Inception features of the true photos (and of their
gray baseline) kept on disk by the batch's content.

FID passes three images through Inception-v3 per scored photo (evaluators/fid.py): the
prediction, the photo and its gray baseline. Only the first depends on the model, so scoring the
same photos again (every recipe of a study on birds/val, every --mode=eval of a run) recomputes
two thirds of the work for nothing. Here each evaluated batch is named by a digest of its uint8
pixels (after decoding, cropping and resizing: exactly what Inception would see), the weights file
and FEATURES_VERSION; a batch seen before gets its photo features from disk and the evaluator runs
Inception on the prediction alone.

The folder is beside the weights (fid_weights.weights_path()): `photo_features/`, one .npz per
batch, the least recently used deleted beyond MAX_BYTES. COLORIZE_JAX_FID_PHOTO_CACHE=off turns
it off. A multi-process run does not use it: each process sees only its own part of a global
batch, and every process must run the same program (with or without the photo features).
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import jax
import numpy as np
from absl import logging

from colorize_jax.evaluators import fid_weights

# Bump when what the photo features are computed from changes (the gray baseline's colour
# conversion, Inception's resize): older entries then no longer match.
FEATURES_VERSION = 1
MAX_BYTES = 2 * 1024**3
ENV = "COLORIZE_JAX_FID_PHOTO_CACHE"
FOLDER = "photo_features"


class PhotoFeatureCache:
  """Photo (and gray-baseline) features of evaluated batches, by content, in `directory`."""

  def __init__(self, directory: str, weights: str):
    self.directory = directory
    stat = os.stat(weights)
    self._weights = f"{os.path.abspath(weights)}:{stat.st_size}:{stat.st_mtime_ns}"
    self.hits = self.misses = 0

  def key(self, images: np.ndarray, with_gray: bool) -> str:
    """The digest naming one batch's photo features: its pixels, the weights, with_gray."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha1()
    header = f"v{FEATURES_VERSION}|{self._weights}|{images.shape}|{images.dtype}|{with_gray}"
    digest.update(header.encode())
    digest.update(images.tobytes())
    return digest.hexdigest()

  def _path(self, key: str) -> str:
    return os.path.join(self.directory, key + ".npz")

  def get(self, key: str, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The features stored under `key` (each of `names`), or None (a miss, or an unreadable
    entry, which is deleted)."""
    path = self._path(key)
    try:
      with np.load(path) as stored:
        found = {name: stored[name] for name in names}
    except FileNotFoundError:
      self.misses += 1
      return None
    except (OSError, ValueError, KeyError) as e:
      logging.warning("FID photo cache: %s unreadable (%s); computing again", path, e)
      _remove(path)
      self.misses += 1
      return None
    try:
      os.utime(path)  # Recently used: pruned last. A read-only cache still serves.
    except OSError:
      pass
    self.hits += 1
    return found

  def put(self, key: str, features: dict[str, np.ndarray]) -> None:
    """Stores one batch's features (atomically: a reader never sees half a file). A failure to
    write is logged and ignored: the cache only saves time."""
    try:
      os.makedirs(self.directory, exist_ok=True)
      handle, scratch = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
      with os.fdopen(handle, "wb") as f:
        np.savez(f, **{k: np.asarray(v, np.float32) for k, v in features.items()})
      os.replace(scratch, self._path(key))
    except OSError as e:
      logging.warning("FID photo cache: cannot write in %s (%s)", self.directory, e)

  def prune(self, max_bytes: int = MAX_BYTES) -> int:
    """Deletes the least recently used entries beyond `max_bytes`; the bytes kept."""
    try:
      entries = [e for e in os.scandir(self.directory) if e.name.endswith(".npz")]
    except FileNotFoundError:
      return 0
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    kept = 0
    for entry in entries:
      size = entry.stat().st_size
      if kept + size > max_bytes:
        _remove(entry.path)
      else:
        kept += size
    return kept


def _remove(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass


def for_this_process() -> PhotoFeatureCache | None:
  """The cache beside the FID weights, or None: turned off ($COLORIZE_JAX_FID_PHOTO_CACHE=off),
  several processes, or no weights."""
  if os.environ.get(ENV, "").lower() in ("off", "0", "false", "no"):
    return None
  if jax.process_count() > 1:
    return None
  weights = fid_weights.weights_path()
  if not os.path.exists(weights):
    return None
  return PhotoFeatureCache(os.path.join(os.path.dirname(os.path.abspath(weights)), FOLDER), weights)
