"""`folder` source: every image under a directory tree, split by path hash.

A file's split depends on its relative path alone (data/splits.py, `split_of`),
so files added to or removed from the folder never move another file between
splits; runs begun before that keep their old split (data.split_method='rank').

Bad-file policy: at construction each file of the split gets a header-only
check (PIL open); unreadable files are skipped with one warning each, images
whose shorter side is below `min_image_size` are skipped too, and both counts
are logged. A file that passes the header check but fails the full decode
later (e.g. truncated pixel data) does not raise: `__getitem__` returns a
zero image with `valid=False`; the training pipeline filters it out and
evaluation masks it, so a bad file never stops a run. A photo with no colour
(data.skip_gray_photos, splits.is_gray) is left out the same way, with one
warning naming it.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging

from colorize_jax import registry
from colorize_jax.data import decode, icc, splits

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_images(root: str) -> list[str]:
  """Relative POSIX paths of the distinct image files under root, sorted.

  Symlinked folders are followed, but each real folder is walked once (no
  loops, no second copy through a link), and a file reached by several paths
  (symlinks, hard links) is kept once, under its first path in sorted order.
  Otherwise a linked duplicate would land in two splits under two names.
  """
  found = []
  seen_dirs = {os.path.realpath(root)}
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    kept = []
    # Real folders before links to them, so files keep their real paths where possible.
    for d in sorted(dirnames, key=lambda d: (os.path.islink(os.path.join(dirpath, d)), d)):
      real = os.path.realpath(os.path.join(dirpath, d))
      if not d.startswith(".") and real not in seen_dirs:
        seen_dirs.add(real)
        kept.append(d)
    dirnames[:] = kept
    for name in filenames:
      if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
        rel = os.path.relpath(os.path.join(dirpath, name), root)
        found.append(rel.replace(os.sep, "/"))
  unique, seen_files = [], set()
  for rel in sorted(found):
    try:
      st = os.stat(os.path.join(root, rel))
    except OSError:  # A broken link: kept, so the header check reports it by name.
      unique.append(rel)
      continue
    if (st.st_dev, st.st_ino) not in seen_files:
      seen_files.add((st.st_dev, st.st_ino))
      unique.append(rel)
  if len(unique) < len(found):
    logging.info(
      "%s: %d duplicate paths to the same files left out (symlinks or hard links); "
      "%d distinct image files",
      root,
      len(found) - len(unique),
      len(unique),
    )
  return unique


@registry.register("source", "folder")
class FolderSource:
  """Random-access source over one split of an image folder.

  __getitem__(i) -> {"image": uint8 [S, S, 3] (center square, resized),
                     "valid": bool}.
  """

  def __init__(self, data_cfg: Any, split: str):
    splits.check_split(split)
    path = str(data_cfg.path or "")
    if not path:
      raise ValueError("data.path is empty; the folder source needs a directory of images")
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(root):
      raise FileNotFoundError(f"data.path {path!r} does not exist (resolved to {root})")
    if not os.path.isdir(root):
      raise ValueError(f"data.path {path!r} is not a directory")
    all_files = list_images(root)
    if not all_files:
      raise ValueError(
        f"no images found under data.path {path!r} "
        f"(looked for {', '.join(IMAGE_EXTENSIONS)}, any case, in all subfolders)"
      )
    self._root = root
    self._split = split
    self._size = int(data_cfg.image_size)
    self._min_size = int(data_cfg.min_image_size)
    self._skip_gray = bool(data_cfg.get("skip_gray_photos", False))
    self._color_manage = icc.enabled(data_cfg)
    self._fractions = tuple(float(f) for f in data_cfg.split_fractions)
    method = str(data_cfg.get("split_method", "path"))
    candidates = splits.split_by_hash(all_files, self._fractions, split, method)
    self._files, self.num_unreadable, self.num_too_small = self._screen(candidates)
    logging.info(
      "folder source %s/%s: %d images (%d unreadable and %d smaller than %d px skipped; "
      "%d files in all splits)",
      root,
      split,
      len(self._files),
      self.num_unreadable,
      self.num_too_small,
      self._min_size,
      len(all_files),
    )
    self._failed = splits.FailedRecords(self._size)

  def _screen(self, candidates: list[str]) -> tuple[list[str], int, int]:
    kept, unreadable, too_small = [], 0, 0
    for rel in candidates:
      try:
        width, height = decode.image_size(os.path.join(self._root, rel))
      except decode.ImageDecodeError as e:
        logging.warning("skipping unreadable image: %s", e)
        unreadable += 1
        continue
      if min(width, height) < self._min_size:
        too_small += 1
        continue
      kept.append(rel)
    return kept, unreadable, too_small

  @property
  def files(self) -> list[str]:
    """Relative paths, in index order."""
    return list(self._files)

  def __len__(self) -> int:
    return len(self._files)

  def __getitem__(self, index: int) -> dict[str, Any]:
    path = os.path.join(self._root, self._files[index])
    try:
      image = decode.decode_square(path, self._size, color_manage=self._color_manage)
    except decode.ImageDecodeError as e:
      return self._failed.record(index, "image failed to decode, leaving it out: %s", e)
    return self._failed.screened(index, image, self._skip_gray, path)

  def __repr__(self) -> str:
    # Grain compares this string when restoring an iterator checkpoint.
    return (
      f"FolderSource(path={self._root!r}, split={self._split!r}, "
      f"image_size={self._size}, min_image_size={self._min_size}, "
      f"split_fractions={self._fractions}, len={len(self._files)})"
    )
