"""The empirical ab-bin distribution of a training split: counted once, kept as a file.

The classification task's rebalancing weights (ab_bins.rebalancing_weights)
come from these counts. They are estimated from at most `max_images` train
images spread evenly over the split (every pixel of each, at the run's image
size), and written to `<workdir>/ab_prior.json`, so a resumed run reuses
them instead of counting again (the weights themselves also travel in the
checkpointed train state, so evaluation needs neither the file nor the data).
`python -m colorize_jax.data.prepare` writes the same file next to a tfds
data set; a run on that data set starts from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from colorize_jax import color
from colorize_jax.color import ab_bins
from colorize_jax.outputs import atomic

PRIOR_FILE = "ab_prior.json"
FORMAT = "colorize_jax.ab_prior/1"
_CHUNK = 4  # Images per counting step: distances to every bin are [chunk, S, S, Q] floats.


@jax.jit
def _count(images_uint8, valid):
  ab = color.rgb_to_lab(color.to_unit(images_uint8))[..., 1:]
  nearest = ab_bins.nearest(ab)
  weights = jnp.broadcast_to(valid[:, None, None], nearest.shape).astype(jnp.int32)
  return jnp.bincount(nearest.ravel(), weights.ravel(), length=ab_bins.num_bins())


def count_images(images: Iterable[np.ndarray]) -> np.ndarray:
  """Pixels per nearest bin over uint8 RGB images [S, S, 3] of one size, [Q] int64."""
  counts = np.zeros(ab_bins.num_bins(), np.int64)
  chunk: list[np.ndarray] = []

  def flush():
    n = len(chunk)
    padded = chunk + [np.zeros_like(chunk[0])] * (_CHUNK - n)  # One compiled shape.
    valid = np.arange(_CHUNK) < n
    counts[:] += np.asarray(_count(np.stack(padded), valid), np.int64)
    chunk.clear()

  for image in images:
    chunk.append(np.asarray(image, np.uint8))
    if len(chunk) == _CHUNK:
      flush()
  if chunk:
    flush()
  return counts


def spread_indices(length: int, max_images: int) -> np.ndarray:
  """At most max_images indices spread evenly over [0, length)."""
  n = min(int(length), int(max_images))
  return (
    np.unique(np.linspace(0, length - 1, n).round().astype(np.int64))
    if n > 0
    else np.zeros(0, np.int64)
  )


def estimate(source: Any, max_images: int) -> dict:
  """The record for a random-access source ({"image", "valid"} items): counts and provenance."""
  indices = spread_indices(len(source), max_images)
  records = (source[int(i)] for i in indices)
  images = [r["image"] for r in records if r["valid"]]
  if not images:
    raise ValueError(f"no decodable train image to estimate the ab prior from ({source!r})")
  counts = count_images(images)
  return {
    "format": FORMAT,
    "grid": ab_bins.GRID,
    "num_bins": ab_bins.num_bins(),
    "images": len(images),
    "pixels": int(counts.sum()),
    "image_size": int(images[0].shape[0]),
    # Whether photos without colour were left out (data.skip_gray_photos); None: not known.
    "skip_gray_photos": getattr(source, "skip_gray_photos", None),
    "source": repr(source),
    "counts": counts.tolist(),
  }


def save(record: dict, path: str) -> None:
  atomic.write_json(path, record, indent=None)


def load(path: str) -> dict:
  with open(path) as f:
    record = json.load(f)
  if record.get("format") != FORMAT or len(record.get("counts", ())) != ab_bins.num_bins():
    raise ValueError(
      f"{path} is not an ab prior for these {ab_bins.num_bins()} bins "
      f"(format {record.get('format')!r}, {len(record.get('counts', ()))} counts); "
      "delete it to estimate the prior again"
    )
  return record


def _fits(record: dict, path: str, source: Any) -> bool:
  """Whether a data set's prepared prior (`record`, read from `path`) was counted as this run
  reads the photos: at its image size (smaller squares average colours away) and with its
  choice on gray photos (a record from before the field counted them). Logs why not."""
  wanted = {"image_size": source.image_size, "skip_gray_photos": source.skip_gray_photos}
  counted = {
    "image_size": record.get("image_size"),
    "skip_gray_photos": bool(record.get("skip_gray_photos")),
  }
  differs = [f"{k}={counted[k]!r} (the run's: {v!r})" for k, v in wanted.items() if counted[k] != v]
  if differs:
    logging.info("ab prior: %s was counted at %s; counting the run's own", path, ", ".join(differs))
  return not differs


def for_training(data, workdir: str, max_images: int) -> np.ndarray:
  """Counts [Q] for a run: its workdir's file, else the data set's prepared file, else estimated.

  Every process computes the same counts (same images, in order); only
  process 0 writes the file.
  """
  path = os.path.join(workdir, PRIOR_FILE)
  source = data.source("train")
  prepared = os.path.join(str(getattr(source, "data_dir", "")), PRIOR_FILE)
  record = load(path) if os.path.exists(path) else None
  if record is not None:
    logging.info("ab prior: %s (%d images)", path, record["images"])
  elif getattr(source, "data_dir", None) and os.path.exists(prepared):
    candidate = load(prepared)
    if _fits(candidate, prepared, source):
      record = candidate
      logging.info(
        "ab prior: %s, prepared with the data set (%d images)", prepared, record["images"]
      )
  if record is None:
    record = estimate(source, max_images)
    logging.info(
      "ab prior: counted %d train images (%d pixels)", record["images"], record["pixels"]
    )
  if jax.process_index() == 0 and not os.path.exists(path):
    save(record, path)
  return np.asarray(record["counts"], np.int64)
