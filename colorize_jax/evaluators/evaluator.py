"""The one evaluator: the training loop's validation, `--mode=eval` and compare use it.

Per batch the model predicts once (`task.eval_outputs`); from that one pass
come the task's loss terms (`task.loss_terms`), l1/mse in the target space and
the image metrics (colorize_jax/evaluators/metrics.py), optionally with the gray baseline. Every
process runs the same jitted program over the global batch; the per-example
values are fetched once, after the last batch (no sync per batch).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from colorize_jax.evaluators import fid as fid_lib
from colorize_jax.evaluators import fid_cache, metrics
from colorize_jax.outputs import grids
from colorize_jax.runtime import parallel, xla_options
from colorize_jax.tasks import base


@dataclasses.dataclass
class Scores:
  """Per-example metrics of every real (unmasked) example, and their positions in the split."""

  positions: list[int]
  values: dict[str, np.ndarray]
  # Metrics of the whole set, not of an example (metrics.set_metrics: the set-level ΔCF).
  sets: dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def count(self) -> int:
    return len(self.positions)

  def means(self) -> dict[str, float]:
    """Means of every metric, the set-level ones, plus 'examples'; {} when there was nothing to
    score."""
    if not self.positions:
      return {}
    means = {k: float(np.mean(v)) for k, v in self.values.items()} | self.sets
    return dict(sorted(means.items())) | {"examples": self.count}


def per_example(task, state, batch, fid_params=None, *, with_gray: bool, photo_features=True):
  """Every metric of one batch, each [B], and the batch's mask: one prediction.

  The task builds the network's inputs from the batch (`model_inputs`, no rng: evaluation
  samples nothing) and turns predictions into RGB (`to_rgb`). With `fid_params` (the Inception
  weights) the scores also hold the prediction's FID features [B, 2048] and, with
  `photo_features`, the photo's and gray baseline's (fid.FEATURE_KEYS; without, they come from
  evaluators/fid_cache.py)."""
  inputs, targets = task.model_inputs(batch)
  pred, aux = task.eval_outputs(state, inputs)
  # A NaN loss is the worst loss, +inf (metrics.py: non-finite predictions score the worst).
  scores = {
    k: jnp.where(jnp.isnan(v), jnp.inf, v) for k, v in task.loss_terms(pred, targets, aux).items()
  }
  gray = task.gray_prediction(batch) if with_gray else None
  pred_rgb = task.to_rgb(batch, pred)
  scores |= metrics.image_metrics(batch["image"], targets, pred, pred_rgb, gray=gray)
  if fid_params is not None:
    scores |= fid_lib.prediction_features(fid_params, batch["image"], pred_rgb)
    if photo_features:
      scores |= fid_lib.photo_features(fid_params, batch["image"], with_gray=with_gray)
  return scores, batch["mask"]  # The mask replicated too: every process can read it.


def transformed(task, transform, state, batch, *, with_gray: bool):
  """`per_example` of `transform(batch)`: a jit-able edit of the batch first (e.g. the
  hint-count curve adds hints drawn from the photo, evaluators/hint_counts.py)."""
  return per_example(task, state, transform(batch), with_gray=with_gray)


class Evaluator:
  """Jitted metrics and sample grids of one task, for any state and batches."""

  def __init__(self, task, mesh: jax.sharding.Mesh | None = None):
    """`mesh`: the run's (parallel.make_mesh, made once by the caller); None makes one."""
    self.task = task
    mesh = parallel.make_mesh() if mesh is None else mesh
    self.data_sharding = parallel.data_sharding(mesh)
    self.replicated = parallel.replicated(mesh)
    # (with_gray, photo_features) -> the jitted `per_example`; without photo features it is
    # only ever called with the FID weights (their features come from the cache).
    self._scores = {
      (gray, photos): xla_options.jit(
        functools.partial(per_example, task, with_gray=gray, photo_features=photos),
        out_shardings=self.replicated,
      )
      for gray in (False, True)
      for photos in (False, True)
    }
    self._transformed = {}  # (with_gray, transform) -> jitted `transformed`, made on first use.
    self._fid_params = None  # The Inception weights on the devices, loaded on first use.
    self._predicted_rgb = xla_options.jit(
      functools.partial(base.predicted_rgb, task), out_shardings=self.replicated
    )

  def names(self, state, image_size: int) -> list[str]:
    """The keys `evaluate` produces (traced, not compiled): for checking a monitor name early."""
    batch = {
      "image": jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.uint8),
      "mask": jax.ShapeDtypeStruct((1,), jnp.bool_),
    }
    scores, _ = jax.eval_shape(
      functools.partial(per_example, self.task, with_gray=False), state, batch
    )
    return sorted(scores)

  def _scorer(self, with_gray: bool, transform, photo_features: bool = True):
    if transform is None:
      return self._scores[with_gray, photo_features]
    key = (with_gray, transform)
    if key not in self._transformed:
      self._transformed[key] = xla_options.jit(
        functools.partial(transformed, self.task, transform, with_gray=with_gray),
        out_shardings=self.replicated,
      )
    return self._transformed[key]

  def fid_params(self):
    """The FID Inception weights (evaluators/fid_weights.py), replicated on the devices once."""
    if self._fid_params is None:
      self._fid_params = jax.device_put(fid_lib.load_params(), self.replicated)
    return self._fid_params

  def evaluate(
    self,
    state,
    batches,
    *,
    with_gray: bool = False,
    max_examples: int = 0,
    transform=None,
    fid: bool = False,
    name: str = "",
  ) -> Scores:
    """Scores of the local batches of a split (DataPipeline.eval_batches), each example once.
    `transform`: a hashable, jit-able batch -> batch applied first (None: the batch as it is).
    `fid`: also the set-level FID of every scored example (the weights must exist; `name`
    labels its warnings).

    max_examples > 0 stops after the batches that hold that many examples
    (counted in global batches, so every process stops at the same one).
    """
    if fid and transform is not None:
      raise ValueError("FID is scored on the batches as they are, without a transform")
    args = (self.fid_params(),) if fid else ()  # Another signature: compiled once more.
    cache = fid_cache.for_this_process() if fid else None
    photo_keys = fid_lib.photo_keys(with_gray)
    pending, stored, seen = [], [], 0
    for local in batches:
      if max_examples and seen >= max_examples:
        break
      key = cache.key(local["image"], with_gray) if cache else None
      cached = cache.get(key, photo_keys) if cache else None
      batch = parallel.global_batch(local, self.data_sharding)
      seen += batch["image"].shape[0]
      scorer = self._scorer(with_gray, transform, photo_features=cached is None)
      pending.append(scorer(state, batch, *args))
      stored.append((key, cached))
    positions, values, features, start = [], {}, {}, 0
    for (scores, mask), (key, cached) in zip(jax.device_get(pending), stored):
      if cached is not None:
        scores = scores | cached
      elif key is not None:
        cache.put(key, {k: scores[k] for k in photo_keys})
      keep = np.flatnonzero(np.asarray(mask))
      positions.extend((start + keep).tolist())
      start += len(mask)
      for k, v in scores.items():
        into = features if k in fid_lib.FEATURE_KEYS else values
        into.setdefault(k, []).append(np.asarray(v, np.float64)[keep])
    values = {k: np.concatenate(v) for k, v in values.items()}
    sets = metrics.set_metrics(values)
    if fid:
      sets |= fid_lib.set_metrics({k: np.concatenate(v) for k, v in features.items()}, name)
    if cache is not None:
      cache.prune()
      logging.info(
        "FID photo features%s: %d batch(es) from the cache, %d computed (%s)",
        f" of {name!r}" if name else "",
        cache.hits,
        cache.misses,
        cache.directory,
      )
    return Scores(positions, values, sets)

  def sample_grid(self, state, images: np.ndarray) -> np.ndarray:
    """gray | predicted | true for uint8 photos (padded to the device count).

    The predicted column is the image that is scored and that colorize saves: the predicted
    colour on the photo's own lightness (metrics.with_true_luminance), not the network's raw
    RGB, whose own luminance (blurry for the dense net) no metric counts.
    Every process must call it with the same images: the prediction is one
    program over all devices.
    """
    predicted = metrics.with_true_luminance(images, self.predicted_rgb(state, images))
    return grids.sample_grid(images, np.asarray(predicted))

  def predicted_rgb(self, state, images: np.ndarray, **extra) -> np.ndarray:
    """RGB in [0, 1] of the task's inference for uint8 photos and batch-first `extra` inputs
    (e.g. hints), padded to the device count and sharded; a collective, like sample_grid."""
    pad = -len(images) % jax.device_count()

    def sharded(x):
      x = np.asarray(x)
      x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
      return jax.device_put(x, self.data_sharding)

    extra = {k: sharded(v) for k, v in extra.items()}
    predicted = self._predicted_rgb(state, sharded(images), **extra)
    return np.asarray(predicted)[: len(images)]
