"""Fréchet Inception Distance: a set-level metric of the predictions against the true photos.

  FID = |mu_p - mu_t|^2 + tr(S_p + S_t - 2 (S_p S_t)^(1/2))

of the pool3 features (evaluators/inception.py) of every scored image: the saved prediction
(its chroma on the photo's own L, rounded to uint8, as every image metric sees it) against the
photo itself, and the gray baseline (the photo's L with zero chroma) against the photo. The
evaluator accumulates the [B, 2048] features per batch on the device and computes the distance
on the host at the end of a scoring (`Evaluator.evaluate(fid=...)`).

The weights are a one-time conversion (evaluators/fid_weights.py); nothing is downloaded at run
time. A spec's `fid` (config.evals.<name>.fid, config.eval.fid for --mode=eval; specs.py):
  auto    at the end-of-run report and in --mode=eval when the weights exist; without them
          one line says how to get them, and the run goes on without FID (the default)
  final   the same, but missing weights stop the run before training, naming the fix
  epochs  also at every scored epoch (logged as <name>/fid; it can be early stopping's
          monitor); missing weights stop the run likewise
  off     never
FID costs three Inception-v3 passes (prediction, photo, gray) at 299x299 per image the first time
photos are scored, one afterwards; on a 2-core CPU that is far more than everything else an
evaluation does, hence the default cadence.

Counts: with n images the covariance has rank at most n - 1, so below 2049 images it is singular
and FID is biased upwards (more so the fewer images) and comparable only at equal n; the report
records n (`fid.examples`) and says so in one warning line. Fewer than 2 images give no FID.
"""

from __future__ import annotations

import json
import os

import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from colorize_jax.evaluators import fid_weights, inception, metrics

# Feature keys in an evaluator's per-batch outputs ([B, 2048] each, not per-example metrics).
PRED, TRUE, GRAY = "fid_features", "fid_features_true", "gray/fid_features"
FEATURE_KEYS = (PRED, TRUE, GRAY)
FULL_RANK = inception.FEATURES + 1  # Images a full-rank 2048 x 2048 covariance needs.


# -- weights ------------------------------------------------------------------------------------


def missing_message(path: str | None = None) -> str:
  path = path or fid_weights.weights_path()
  return f"FID: no Inception weights at {path}; make them once with: {fid_weights.setup_command()}"


def available() -> bool:
  return os.path.exists(fid_weights.weights_path())


_said_missing = False


def check_required(eval_specs) -> None:
  """Before anything is set up or written: a spec that asks for FID ('final', 'epochs') without
  the weights fails in one line naming the fix."""
  for spec in eval_specs:
    if spec.fid_required:
      enabled(spec.fid, spec.where)


def enabled(mode: str, where: str) -> bool:
  """Whether an evaluator with this fid mode (specs.FID_MODES) scores FID. Missing weights: an
  error naming the fix for 'final' and 'epochs', one line per process for 'auto' (then False)."""
  global _said_missing
  if mode == "off":
    return False
  if available():
    return True
  if mode != "auto":
    raise ValueError(f"{where}.fid={mode!r}: {missing_message()} (or set {where}.fid=off)")
  if not _said_missing:
    logging.warning("%s; evaluating without FID", missing_message())
    _said_missing = True
  return False


def load_params(path: str | None = None) -> dict:
  """The converted weights as the Flax parameter tree (numpy)."""
  path = path or fid_weights.weights_path()
  with np.load(path) as data:
    meta = json.loads(bytes(data["__meta__"]).decode()) if "__meta__" in data else {}
    if meta.get("format") != fid_weights.FORMAT:
      raise ValueError(
        f"{path} is not a colorize_jax FID weights file ({meta.get('format')!r}); convert "
        "again: python -m colorize_jax.evaluators.fid_weights --convert"
      )
    flat = {key: data[key] for key in data.files if key != "__meta__"}
  return traverse_util.unflatten_dict(flat, sep="/")


# -- features (jit-able) ------------------------------------------------------------------------


def prediction_features(params, rgb_uint8, pred_rgb01) -> dict:
  """Pool3 features [B, 2048] of the saved prediction: the image the other metrics score
  (metrics.with_true_luminance, rounded)."""
  pred = metrics.quantize(metrics.with_true_luminance(rgb_uint8, pred_rgb01))
  return {PRED: inception.features(params, pred)}


def photo_features(params, rgb_uint8, *, with_gray: bool) -> dict:
  """Pool3 features [B, 2048] of the photo and (with_gray) of its gray baseline: the same for
  every model, so evaluators/fid_cache.py keeps them."""
  out = {TRUE: inception.features(params, rgb_uint8.astype(jnp.float32))}
  if with_gray:
    gray = metrics.quantize(metrics.with_true_luminance(rgb_uint8, None))
    out[GRAY] = inception.features(params, gray)
  return out


def photo_keys(with_gray: bool) -> tuple[str, ...]:
  """The keys `photo_features` returns."""
  return (TRUE, GRAY) if with_gray else (TRUE,)


# -- the distance (host, float64) ---------------------------------------------------------------


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean [D] and covariance [D, D] (unbiased, as TTUR and clean-fid) of features [N, D]."""
  features = np.asarray(features, np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh(matrix)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) for covariances S1, S2 (PSD).

  tr((S1 S2)^(1/2)) is taken as the sum of the square roots of the eigenvalues of the symmetric
  PSD S1^(1/2) S2 S1^(1/2), which has the eigenvalues of S1 S2: two symmetric eigen-decompositions
  instead of scipy.linalg.sqrtm's Schur form of a non-symmetric product, real and stable also
  when the covariances are singular (fewer images than dimensions). Equal to the sqrtm formula
  of TTUR, pytorch-fid and clean-fid (tests/test_fid.py, bench/fid_check.py)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  root1 = _sqrt_psd(sigma1)
  middle = root1 @ sigma2 @ root1
  eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
  trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid(features_a, features_b) -> float:
  """FID between two feature sets [N, D], [M, D] (N, M >= 2).

  Up to D images per set it is computed from the features themselves, exactly and in a fraction
  of the time: with A, B the centred features, S1 = A'A / (N-1) and S2 = B'B / (M-1), the nonzero
  eigenvalues of S1 S2 are the squared singular values of A B' / sqrt((N-1)(M-1)), so
  tr((S1 S2)^(1/2)) is that [N, M] matrix's nuclear norm and no D x D decomposition is needed.
  Larger sets go through `frechet_distance` of their statistics."""
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  if max(len(a), len(b)) > a.shape[1]:
    return frechet_distance(*statistics(a), *statistics(b))
  mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
  a, b = a - mean_a, b - mean_b
  scale_a, scale_b = len(a) - 1, len(b) - 1
  cross = (a @ b.T) / np.sqrt(scale_a * scale_b)
  trace_sqrt = float(np.sum(np.linalg.svd(cross, compute_uv=False)))
  diff = mean_a - mean_b
  traces = np.sum(a * a) / scale_a + np.sum(b * b) / scale_b
  return float(diff @ diff + traces - 2.0 * trace_sqrt)


def set_metrics(features: dict[str, np.ndarray], name: str = "") -> dict[str, float]:
  """{'fid', 'gray/fid'} of an evaluation's accumulated features (FEATURE_KEYS), with one warning
  line when the count makes FID undefined (< 2 images: nothing) or biased (< FULL_RANK)."""
  if TRUE not in features:
    return {}
  n = len(features[TRUE])
  label = f"evaluator {name!r}: " if name else ""
  if n < 2:
    logging.warning(
      "%sFID needs at least 2 images, got %d: not computed (score a split or folder with more "
      "photos)",
      label,
      n,
    )
    return {}
  if n < FULL_RANK:
    logging.warning(
      "%sFID on %d images: below %d the 2048-d covariance is singular and FID is biased upwards; "
      "compare it only at equal n (score more photos, e.g. the whole split, to reduce the bias)",
      label,
      n,
      FULL_RANK,
    )
  return {
    prefix + "fid": fid(features[key], features[TRUE])
    for prefix, key in (("", PRED), ("gray/", GRAY))
    if key in features
  }


def report_entry(count: int) -> dict:
  """eval/<name>.json's "fid" section: what the FID figures were computed on."""
  return {
    "examples": int(count),
    "full_rank_covariance": count >= FULL_RANK,
    "features": f"inception-2015-12-05 pool3, {inception.FEATURES}-d",
    "resize": f"TF1 bilinear to {inception.SIZE}x{inception.SIZE} (the graph's own)",
    "weights": fid_weights.weights_path(),
  }
