"""Evaluation metrics against scikit-image and small hand-computed cases."""

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from skimage import metrics as skm

from colorize_jax import color, inference
from colorize_jax.evaluators import metrics


# Jitted as evaluation runs them (and one compilation beats hundreds of eager ops).
@functools.partial(jax.jit, static_argnums=0)
def _image_metrics(space, rgb, pred):
  """image_metrics of a prediction and of the gray baseline, made RGB as BaseTask.to_rgb does."""
  inputs, targets = space.split(rgb)
  gray = space.gray_target(inputs)
  return metrics.image_metrics(rgb, targets, pred, space.merge(inputs, pred), gray=gray)


def _pair(seed=0, n=3, size=32):
  rng = np.random.default_rng(seed)
  true = rng.integers(0, 256, (n, size, size, 3)).astype(np.float32)
  pred = np.clip(true + rng.normal(0, 20, true.shape), 0, 255).round().astype(np.float32)
  return pred, true


def test_psnr_and_ssim_match_scikit_image():
  pred, true = _pair()
  psnr = np.asarray(jax.jit(metrics.psnr)(pred, true))
  ssim = np.asarray(jax.jit(metrics.ssim)(pred, true))
  for i in range(len(pred)):
    want_psnr = skm.peak_signal_noise_ratio(true[i], pred[i], data_range=255)
    want_ssim = skm.structural_similarity(
      true[i],
      pred[i],
      channel_axis=-1,
      data_range=255,
      gaussian_weights=True,
      sigma=1.5,
      use_sample_covariance=False,
    )
    assert psnr[i] == pytest.approx(want_psnr, abs=1e-3)
    assert ssim[i] == pytest.approx(want_ssim, abs=1e-4)


def test_identical_images_get_the_capped_psnr_not_infinity():
  _, true = _pair()
  assert np.all(np.asarray(metrics.psnr(jnp.asarray(true), jnp.asarray(true))) == metrics.PSNR_CAP)


def test_colorfulness_hand_cases():
  gray = np.full((1, 4, 4, 3), 77.0, np.float32)
  red = np.zeros((1, 4, 4, 3), np.float32)
  red[..., 0] = 255.0
  half = np.zeros((1, 4, 4, 3), np.float32)
  half[:, :2, :, 0] = 255.0  # Half red, half black.
  got = np.asarray(metrics.colorfulness(jnp.asarray(np.concatenate([gray, red, half]))))
  # Uniform red: rg = 255, yb = 127.5, no spread -> 0.3 * |(255, 127.5)|.
  # Half red: rg and yb each have mean = std = half of red's values.
  np.testing.assert_allclose(
    got, [0.0, 0.3 * 255 * math.sqrt(1.25), 1.3 * 127.5 * math.sqrt(1.25)], rtol=1e-5
  )


def test_auc_hand_cases():
  errors = np.array(
    [
      np.zeros(4),  # All exact.
      np.full(4, 75.0),  # Curve steps from 0 to 1 between t=74 and t=75: area 0.5 + 75.
      np.full(4, 200.0),  # All beyond the last threshold.
      [0.0, 0.0, 200.0, 200.0],  # Half exact, half never.
    ],
    np.float32,
  )
  got = np.asarray(metrics.auc_of_errors(jnp.asarray(errors)))
  np.testing.assert_allclose(got, [1.0, 75.5 / 150, 0.0, 0.5], atol=1e-6)


def test_auc_equals_the_direct_definition_on_random_errors():
  errors = np.random.default_rng(1).uniform(0, 180, (2, 500)).astype(np.float32)
  thresholds = np.linspace(0, 150, 151)
  curve = (errors[:, :, None] <= thresholds).mean(axis=1)
  want = np.trapezoid(curve, thresholds, axis=1) / 150
  np.testing.assert_allclose(
    np.asarray(metrics.auc_of_errors(jnp.asarray(errors))), want, atol=1e-5
  )


def test_ab_error_auc_is_one_for_a_perfect_prediction_and_lower_otherwise():
  pred, true = _pair(seed=2)
  auc = jax.jit(metrics.ab_error_auc)
  perfect, noisy = np.asarray(auc(true / 255, true / 255)), np.asarray(auc(pred / 255, true / 255))
  np.testing.assert_allclose(perfect, 1.0, atol=1e-6)
  assert np.all(noisy < 0.99)


def _space(name):
  return color.get_color_space(
    ml_collections.ConfigDict({"color_space": name, "value_range": (0.0, 1.0)})
  )


@pytest.mark.parametrize("space_name", ["rgb", "lab"])
def test_gray_baseline_is_the_zero_chroma_prediction(space_name):
  space = _space(space_name)
  rgb = jnp.asarray(np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3)), jnp.uint8)
  inputs, targets = space.split(rgb)
  # Zero chroma: an all-zero ab prediction for Lab, the gray image in every channel for RGB.
  zero_chroma = {"lab": jnp.zeros(inputs.shape[:-1] + (2,)), "rgb": jnp.repeat(inputs, 3, axis=-1)}[
    space_name
  ]
  scores = _image_metrics(space, rgb, zero_chroma)
  for key in ("psnr", "ssim", "ab_auc", "colorfulness", "delta_colorfulness", "mse", "l1"):
    # RGB's gray (luma in every channel) has |ab| < 0.01 (the sRGB matrix's rows vs D65), so
    # on the photo's L a rounded pixel moves here and there: close to the baseline, not exact.
    np.testing.assert_allclose(scores[key], scores["gray/" + key], rtol=1e-3, atol=0.1, err_msg=key)
  assert np.all(np.asarray(scores["gray/colorfulness"]) < 1.0)  # Gray has (almost) no colour.
  # A real prediction (the truth itself) scores differently from the floor.
  perfect = _image_metrics(space, rgb, targets)
  assert np.all(np.asarray(perfect["ab_auc"]) > np.asarray(perfect["gray/ab_auc"]))
  np.testing.assert_allclose(
    perfect["delta_colorfulness"], 0.0, atol=1e-4
  )  # |CF(pred) - CF(true)|.
  # Gray has (almost) no colour, so its |delta| is (almost) all of the photo's colourfulness.
  np.testing.assert_allclose(
    perfect["gray/delta_colorfulness"], perfect["colorfulness_true"], atol=1.0
  )
  assert np.all(np.asarray(perfect["psnr"]) > np.asarray(perfect["gray/psnr"]) + 3)


def test_metrics_compare_the_saved_uint8_image():
  space = _space("rgb")
  # Mid-range colours: their chroma on their own L stays inside the gamut, nothing clips.
  rgb = jnp.asarray(np.random.default_rng(4).integers(64, 192, (2, 32, 32, 3)), jnp.uint8)
  _, targets = space.split(rgb)
  # Off by less than half a level: rounds back to the true photo exactly.
  scores = _image_metrics(space, rgb, targets + 0.4 / 255)
  assert np.all(np.asarray(scores["psnr"]) == metrics.PSNR_CAP)
  assert np.all(np.asarray(scores["l1"]) > 0)  # The output-space error still sees the offset.


def test_every_colour_space_is_scored_as_colorize_saves_it_on_the_photos_own_luminance():
  """One scoring path (issue 25, point 6): the predicted chroma on the true L, rounded."""
  rgb = jnp.asarray(np.random.default_rng(5).integers(64, 192, (2, 32, 32, 3)), jnp.uint8)
  rgb_space, lab_space = _space("rgb"), _space("lab")
  _, rgb_targets = rgb_space.split(rgb)
  _, lab_targets = lab_space.split(rgb)
  by_rgb = _image_metrics(rgb_space, rgb, rgb_targets)
  by_lab = _image_metrics(lab_space, rgb, lab_targets)
  # The gray baseline is one number per photo set, whatever the colour space.
  for key in ("psnr", "ssim", "ab_auc", "colorfulness", "delta_colorfulness"):
    np.testing.assert_array_equal(by_rgb["gray/" + key], by_lab["gray/" + key], err_msg=key)
  np.testing.assert_array_equal(by_rgb["gray/colorfulness"], 0.0)  # Exactly neutral.
  # An RGB model with the photo's colour but a wrong luminance is not charged for the
  # luminance: colorize puts its chroma on the photo's own L.
  lab = color.rgb_to_lab(color.to_unit(rgb))
  darker = color.lab_to_rgb(lab * jnp.array([0.9, 1.0, 1.0]))
  scores = _image_metrics(rgb_space, rgb, darker)
  for key in ("psnr", "ssim", "ab_auc", "delta_colorfulness"):
    np.testing.assert_allclose(scores[key], by_lab[key], rtol=1e-5, atol=1e-5, err_msg=key)
  assert np.all(np.asarray(scores["l1"]) > 0.01)  # The target-space error still sees it.
  # What is scored is what colorize saves: inference.recombine of the predicted chroma.
  noisy = jnp.clip(
    rgb_targets + jax.random.normal(jax.random.key(0), rgb_targets.shape) * 0.1, 0, 1
  )
  scores = _image_metrics(rgb_space, rgb, noisy)
  saved = inference.recombine(rgb, color.rgb_to_lab(noisy)[..., 1:])
  want = metrics.psnr(saved.astype(jnp.float32), rgb.astype(jnp.float32))
  np.testing.assert_allclose(scores["psnr"], want, rtol=1e-5)
  assert np.all(np.asarray(scores["psnr"]) < 40)


def test_set_level_delta_colorfulness_is_the_literatures_beside_the_per_image_mean():
  """Issue 25, point 7: two photos, one coloured too much and one too little. Per image both
  are 20 off; as a set (the literature's ΔCF: |mean CF(preds) - mean CF(photos)|) none is."""
  from colorize_jax.evaluators.evaluator import Scores

  values = {
    "colorfulness": np.array([10.0, 30.0]),
    "colorfulness_true": np.array([30.0, 10.0]),
    "delta_colorfulness": np.array([20.0, 20.0]),
    "gray/colorfulness": np.array([0.0, 0.0]),
  }
  sets = metrics.set_metrics(values)
  assert sets == {"delta_colorfulness_set": 0.0, "gray/delta_colorfulness_set": 20.0}
  means = Scores([0, 1], values, sets).means()
  assert means["delta_colorfulness"] == 20.0 and means["delta_colorfulness_set"] == 0.0
  assert means["examples"] == 2
  assert metrics.set_metrics({}) == {}
