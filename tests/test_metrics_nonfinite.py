"""A diverged model's NaN or infinite prediction scores the worst value of every metric, never a
perfect one (issue 23, point 2c)."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import load_config

from colorize_jax import color, tasks
from colorize_jax.evaluators import evaluator, metrics


def _space(name):
  return color.get_color_space(
    ml_collections.ConfigDict({"color_space": name, "value_range": (0.0, 1.0)})
  )


@functools.partial(jax.jit, static_argnums=0)
def _image_metrics(space, rgb, pred):
  inputs, targets = space.split(rgb)
  return metrics.image_metrics(
    rgb, targets, pred, space.merge(inputs, pred), gray=space.gray_target(inputs)
  )


def test_auc_of_nan_errors_is_zero_not_one():
  errors = jnp.asarray(
    [[np.nan] * 4, [0.0, 0.0, np.nan, np.nan], [np.inf] * 4, [0.0] * 4], jnp.float32
  )
  got = np.asarray(jax.jit(metrics.auc_of_errors)(errors))
  # Before: NaN errors fell into the first bin, so an all-NaN prediction scored a perfect 1.0.
  np.testing.assert_allclose(got, [0.0, 0.5, 0.0, 1.0], atol=1e-6)


def test_psnr_and_ssim_of_nan_images_are_their_floors():
  true = jnp.full((2, 16, 16, 3), 100.0)
  pred = true.at[0].set(jnp.nan).at[1, 3, 4, 0].set(jnp.nan)  # All NaN; one NaN pixel.
  np.testing.assert_array_equal(np.asarray(metrics.psnr(pred, true)), metrics.PSNR_FLOOR)
  np.testing.assert_array_equal(np.asarray(metrics.ssim(pred, true)), metrics.SSIM_FLOOR)


@pytest.mark.parametrize("space_name", ["rgb", "lab"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nonfinite_prediction_scores_the_worst_value_of_each_metric(space_name, bad):
  space = _space(space_name)
  rgb = jnp.asarray(np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)), jnp.uint8)
  _, targets = space.split(rgb)
  # Example 0: all bad; example 1: one bad value; example 2: the truth itself.
  pred = targets.at[0].set(bad).at[1, 5, 7, 0].set(bad)
  scores = {k: np.asarray(v) for k, v in _image_metrics(space, rgb, pred).items()}
  for i in (0, 1):
    assert scores["psnr"][i] == 0.0
    assert scores["ssim"][i] == -1.0
    assert scores["ab_auc"][i] == 0.0
    assert scores["colorfulness"][i] == 0.0
    assert scores["delta_colorfulness"][i] == pytest.approx(metrics.COLORFULNESS_BOUND)
    assert scores["mse"][i] == np.inf and scores["l1"][i] == np.inf
  # Worse than the gray baseline on every directed metric, and than the perfect example.
  for i in (0, 1):
    assert scores["psnr"][i] < scores["gray/psnr"][i] < scores["psnr"][2]
    assert scores["ssim"][i] < scores["gray/ssim"][i] <= scores["ssim"][2]
    assert scores["ab_auc"][i] < scores["gray/ab_auc"][i] < scores["ab_auc"][2]
    assert scores["delta_colorfulness"][i] > scores["gray/delta_colorfulness"][i]
  assert scores["ab_auc"][2] > 0.99 and np.isfinite(scores["mse"][2])
  assert all(np.all(np.isfinite(v)) for k, v in scores.items() if k.startswith("gray/"))


def test_the_evaluator_scores_a_nan_model_as_worst_and_its_loss_as_inf():
  config = load_config("unet", "smoke")
  task = tasks.build(config)
  from colorize_jax.train import optim

  size = config.data.image_size
  state = task.init_state(jax.random.key(0), size, optim.build_all(config, task.optimizers, None))
  state = state.replace(params=jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), state.params))
  images = np.random.default_rng(1).integers(0, 256, (8, size, size, 3), np.uint8)
  scores = evaluator.Evaluator(task).evaluate(
    state, [{"image": images, "mask": np.ones(8, bool)}], with_gray=True
  )
  means = scores.means()
  assert means["ab_auc"] == 0.0 and means["psnr"] == 0.0 and means["ssim"] == -1.0
  assert means["loss"] == np.inf and means["mse"] == np.inf
  assert means["gray/ab_auc"] > 0.5 and np.isfinite(means["gray/psnr"])
