"""Colorization quality metrics, per example ([B]) and jit-friendly.

The usual colorization protocol: the prediction is first turned into the
uint8 RGB image a user would save, then compared with the true photo on
0..255 RGB at the model's resolution. One scoring path for every recipe: the
prediction's chroma (Lab ab of `task.to_rgb`) is put on the photo's own
luminance L, as colorize saves it (inference.recombine), then clipped and
rounded. So an RGB model is not scored on its own predicted luminance and a
Lab model is scored the same way: PSNR, SSIM, colourfulness and AuC measure
colour only. `image_metrics` also scores the gray baseline, the photo's L with
zero chroma: one image per photo, so one number per photo set whatever the
colour space, beside every number in a report. It takes predictions as RGB,
which the task makes (`task.to_rgb`): only the task knows how its prediction
and the photo combine.

One vocabulary for every task, evaluation, comparison and plot (per example):
  loss, loss/<term>   the task's objective and its terms (tasks/*.loss_terms)
  l1, mse             in the model's own target space
  psnr, ssim          on the saved uint8 RGB image
  colorfulness        Hasler and Suesstrunk's, of the prediction
  delta_colorfulness  |colorfulness(pred) - colorfulness(true)| per image; a report's value is
                      the mean over images of that per-image difference (ours)
  delta_colorfulness_set  |mean colorfulness(preds) - mean colorfulness(photos)|: the
                      literature's set-level ΔCF (DDColor's, e.g. 0.05 for DDColor-L); not per
                      example, so computed over a whole scoring (`set_metrics`). The two are
                      different numbers: only the set-level one sits beside published ΔCF.
  ab_auc              AuC of the Lab ab error (Zhang et al.)
  (psnr, ssim, colorfulness, delta_colorfulness, ab_auc: of the predicted chroma on the
  photo's own luminance, `with_true_luminance`)
  gray/<name>         the same for the gray baseline
Names, directions and the mapping of old names: colorize_jax/outputs/metric_names.py.

NaN-safe (docs/DESIGN.md, "Divergence"): an example whose prediction holds a NaN or an infinity
anywhere (model space or RGB) scores the worst value of each metric, never a good one: psnr
PSNR_FLOOR (0 dB, the PSNR of the largest error two 0..255 images can have), ssim -1 (its lower
bound), ab_auc 0 (every pixel counted beyond the last threshold), delta_colorfulness
COLORFULNESS_BOUND (an upper bound of colourfulness on 0..255 RGB, so of any |ΔCF|), mse and l1
+inf; its colorfulness is 0 (it shows no colour; the set-level ΔCF counts it so). psnr, ssim and
auc_of_errors are NaN-safe on their own too (a NaN pixel error is beyond every threshold).
"""

from __future__ import annotations

import dm_pix
import jax.numpy as jnp
import numpy as np

from colorize_jax import color

# Identical images (a gray photo scored against itself) have infinite PSNR,
# which no mean survives; 100 dB is far above anything a model reaches.
PSNR_CAP = 100.0
# The lowest PSNR two 0..255 images can have (MSE <= 255^2): a non-finite prediction's.
PSNR_FLOOR = 0.0
SSIM_FLOOR = -1.0
AUC_MAX_ERROR = 150.0  # Lab ab units, as in Zhang et al.'s AuC.
# Hasler and Suesstrunk's colourfulness on 0..255 RGB is at most 1.3 * 255 * sqrt(2): |R - G| and
# |(R + G) / 2 - B| are at most 255, so are their standard deviations and means.
COLORFULNESS_BOUND = 1.3 * 255.0 * 2.0**0.5


def quantize(rgb01: jnp.ndarray) -> jnp.ndarray:
  """RGB in [0, 1] -> float RGB on 0..255 with the rounding of saving a uint8 image."""
  return jnp.round(jnp.clip(rgb01.astype(jnp.float32), 0.0, 1.0) * 255.0)


def psnr(pred255: jnp.ndarray, true255: jnp.ndarray) -> jnp.ndarray:
  """[B, H, W, 3] on 0..255 -> [B] dB (max value 255)."""
  # dm-pix assumes a dynamic range of 1.
  value = jnp.minimum(dm_pix.psnr(pred255 / 255.0, true255 / 255.0), PSNR_CAP)
  return jnp.where(jnp.isnan(value), PSNR_FLOOR, value)


def ssim(pred255: jnp.ndarray, true255: jnp.ndarray) -> jnp.ndarray:
  """[B, H, W, 3] on 0..255 -> [B]; Gaussian window 11, sigma 1.5 (scikit-image's
  gaussian_weights)."""
  value = dm_pix.ssim(pred255, true255, max_val=255.0)
  return jnp.where(jnp.isnan(value), SSIM_FLOOR, value)


def colorfulness(rgb255: jnp.ndarray) -> jnp.ndarray:
  """Hasler and Suesstrunk (2003) on 0..255 RGB: [B, H, W, 3] -> [B]."""
  r, g, b = rgb255[..., 0], rgb255[..., 1], rgb255[..., 2]
  rg = (r - g).reshape(r.shape[0], -1)
  yb = (0.5 * (r + g) - b).reshape(r.shape[0], -1)
  std = jnp.sqrt(jnp.var(rg, axis=1) + jnp.var(yb, axis=1))
  mean = jnp.sqrt(jnp.mean(rg, axis=1) ** 2 + jnp.mean(yb, axis=1) ** 2)
  return std + 0.3 * mean


def auc_of_errors(
  error: jnp.ndarray, max_error: float = AUC_MAX_ERROR, num_thresholds: int = 151
) -> jnp.ndarray:
  """[B, P] per-pixel errors -> [B] area under their cumulative curve on [0, max_error], in [0, 1].

  The curve is the fraction of pixels whose error is at most t; its area
  (trapezoid rule over `num_thresholds` evenly spaced t) is divided by
  `max_error`, so 1 means every error is 0 and 0 means all exceed `max_error`. A NaN error
  counts as beyond every threshold (a NaN would otherwise land in the first bin: a perfect 1).
  """
  # Thresholds are k * step, and error <= k * step exactly when ceil(error / step) <= k, so
  # one histogram of those bins and a cumulative sum give the whole curve in O(pixels);
  # comparing against every threshold separately took XLA seconds to compile.
  step = max_error / (num_thresholds - 1)
  bins = jnp.clip(jnp.ceil(error / step), 0, num_thresholds)
  bins = jnp.where(jnp.isnan(bins), num_thresholds, bins).astype(jnp.int32)
  rows = jnp.broadcast_to(jnp.arange(error.shape[0])[:, None], bins.shape)
  counts = jnp.zeros((error.shape[0], num_thresholds + 1), jnp.float32).at[rows, bins].add(1.0)
  fraction = jnp.cumsum(counts, axis=1)[:, :num_thresholds] / error.shape[1]  # [B, T]
  return jnp.trapezoid(fraction, dx=step, axis=1) / max_error


def ab_error_auc(pred_rgb01: jnp.ndarray, true_rgb01: jnp.ndarray) -> jnp.ndarray:
  """AuC of the per-pixel Euclidean error in Lab ab, t from 0 to 150 (Zhang et al.):
  [B, H, W, 3] -> [B]."""
  pred_ab = color.rgb_to_lab(pred_rgb01.astype(jnp.float32))[..., 1:]
  true_ab = color.rgb_to_lab(true_rgb01.astype(jnp.float32))[..., 1:]
  error = jnp.sqrt(jnp.sum((pred_ab - true_ab) ** 2, axis=-1))
  return auc_of_errors(error.reshape(error.shape[0], -1))


def with_true_luminance(rgb_uint8: jnp.ndarray, pred_rgb01: jnp.ndarray | None) -> jnp.ndarray:
  """RGB in [0, 1] with the photo's own Lab L and the prediction's ab (zero ab for None, the
  gray baseline): what colorize saves (inference.recombine), before rounding."""
  lightness = color.rgb_to_lab(color.to_unit(rgb_uint8))[..., :1]
  if pred_rgb01 is None:  # Exactly neutral, so the baseline's colourfulness is 0.
    return color.neutral_rgb(lightness)
  ab = color.rgb_to_lab(jnp.clip(pred_rgb01.astype(jnp.float32), 0.0, 1.0))[..., 1:]
  return color.lab_to_rgb(jnp.concatenate([lightness, ab], axis=-1))


def nonfinite_examples(*arrays: jnp.ndarray) -> jnp.ndarray:
  """[B] bool: whether any value of an example, in any of the [B, ...] arrays, is NaN or inf."""
  return jnp.any(
    jnp.stack([~jnp.all(jnp.isfinite(a.reshape(a.shape[0], -1)), axis=1) for a in arrays]), axis=0
  )


# What an example with a non-finite prediction scores (the module docstring).
WORST = {
  "psnr": PSNR_FLOOR,
  "ssim": SSIM_FLOOR,
  "ab_auc": 0.0,
  "colorfulness": 0.0,
  "delta_colorfulness": COLORFULNESS_BOUND,
  "mse": float("inf"),
  "l1": float("inf"),
}


def _rgb_metrics(pred_rgb01, true_rgb01, true_colorfulness) -> dict[str, jnp.ndarray]:
  pred255, true255 = quantize(pred_rgb01), quantize(true_rgb01)
  pred_colorfulness = colorfulness(pred255)
  return {
    "psnr": psnr(pred255, true255),
    "ssim": ssim(pred255, true255),
    "ab_auc": ab_error_auc(pred255 / 255.0, true255 / 255.0),
    "colorfulness": pred_colorfulness,
    "delta_colorfulness": jnp.abs(pred_colorfulness - true_colorfulness),
  }


def set_metrics(values: dict) -> dict[str, float]:
  """Metrics of a whole set of per-example values (host numpy): delta_colorfulness_set =
  |mean colorfulness of the predictions - mean colorfulness of the photos| (and its gray/
  baseline), the literature's ΔCF, beside delta_colorfulness, the mean per-image |ΔCF|."""
  if "colorfulness_true" not in values or not len(values["colorfulness_true"]):
    return {}
  photos = float(np.mean(values["colorfulness_true"]))
  return {
    f"{prefix}delta_colorfulness_set": abs(float(np.mean(values[f"{prefix}colorfulness"])) - photos)
    for prefix in ("", "gray/")
    if f"{prefix}colorfulness" in values
  }


def space_metrics(pred, target) -> dict[str, jnp.ndarray]:
  """MSE and L1 in the model's own output space."""
  err = (pred.astype(jnp.float32) - target.astype(jnp.float32)).reshape(pred.shape[0], -1)
  return {"mse": jnp.mean(err**2, axis=1), "l1": jnp.mean(jnp.abs(err), axis=1)}


def image_metrics(
  rgb_uint8: jnp.ndarray,
  targets: jnp.ndarray,
  pred: jnp.ndarray,
  pred_rgb: jnp.ndarray,
  *,
  gray: jnp.ndarray | None = None,
) -> dict[str, jnp.ndarray]:
  """Every metric of a prediction (and of the gray baseline), each [B].

  rgb_uint8: the true photos [B, H, W, 3]; targets: their target-space truth and pred the
  model's output for them (task.model_inputs, task.predict); pred_rgb: the prediction as
  RGB in [0, 1] (task.to_rgb), scored with its chroma on the photo's own luminance
  (`with_true_luminance`); gray: the gray baseline's target-space prediction
  (task.gray_prediction) for its mse and l1, scored under "gray/" (its image is the photo's
  L with zero chroma, the same for every colour space). Keys: psnr, ssim, ab_auc,
  colorfulness, delta_colorfulness, mse, l1 and colorfulness_true.
  """
  true_rgb = color.to_unit(rgb_uint8)
  true_colorfulness = colorfulness(quantize(true_rgb))
  out = {"colorfulness_true": true_colorfulness}
  predictions = [("", pred, pred_rgb, with_true_luminance(rgb_uint8, pred_rgb))]
  if gray is not None:
    predictions.append(("gray/", gray, None, with_true_luminance(rgb_uint8, None)))
  for prefix, prediction, raw_rgb, rgb in predictions:
    scores = _rgb_metrics(rgb, true_rgb, true_colorfulness) | space_metrics(prediction, targets)
    # Clipping hides an infinity and a NaN may score perfectly: judge the raw prediction.
    bad = nonfinite_examples(*(a for a in (prediction, raw_rgb, rgb) if a is not None))
    scores = {k: jnp.where(bad, WORST[k], v) if k in WORST else v for k, v in scores.items()}
    out |= {prefix + k: v for k, v in scores.items()}
  return out
