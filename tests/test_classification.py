"""ab classification: bins, soft encoding, rebalancing prior, annealed mean,
the loss, the head, the task's step on 1 and 8 devices, and the smoke run's exact resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import (
  assert_same_run,
  killed_then_resumed,
  load_bench,
  load_config,
  step_on_1_and_8_devices,
)
from PIL import Image

from colorize_jax import color, registry, tasks
from colorize_jax.color import ab_bins, ab_prior, spaces
from colorize_jax.losses import classification as cls_losses
from colorize_jax.models import heads
from colorize_jax.train import optim, trainer

Q = 262


def _lab_to_linear_rgb(lab):
  """Unclipped inverse of color.rgb_to_lab (an independent path, float64)."""
  fy = (lab[..., 0] + 16.0) / 116.0
  f = np.stack([lab[..., 1] / 500.0 + fy, fy, fy - lab[..., 2] / 200.0], axis=-1)
  xyz = np.where(f**3 > 0.008856, f**3, (f - 16.0 / 116.0) / 7.787) * spaces._D65_WHITE
  linear = xyz @ np.linalg.inv(np.asarray(spaces._RGB_TO_XYZ, np.float64)).T
  return linear


def test_bins_are_in_gamut_and_their_count_is_stable():
  bins = ab_bins.centres()
  assert bins.shape == (Q, 2) and ab_bins.num_bins() == Q
  assert np.all(np.mod(bins, 10) == 0) and len({tuple(b) for b in bins}) == Q
  # Sampling the gamut twice as finely finds the same bins.
  np.testing.assert_array_equal(ab_bins.centres(1024), bins)
  # Each bin's cell (ab within 5 of its centre) holds a displayable colour at some L.
  offsets = np.linspace(-5.0, 5.0, 11)
  da, db, lightness = np.meshgrid(offsets, offsets, np.linspace(0.0, 100.0, 201), indexing="ij")
  for centre in bins:
    lab = np.stack([lightness, centre[0] + da, centre[1] + db], axis=-1)
    linear = _lab_to_linear_rgb(lab)
    assert np.any(np.all((linear >= -1e-4) & (linear <= 1 + 1e-4), axis=-1)), centre
  # Every 8-bit colour's ab rounds to a kept bin.
  rgb = np.random.default_rng(0).integers(0, 256, (100_000, 3)).astype(np.float32) / 255
  rgb = np.concatenate([rgb, np.array(np.meshgrid(*[[0.0, 1.0]] * 3)).reshape(3, -1).T])
  ab = np.asarray(color.rgb_to_lab(jnp.asarray(rgb)))[:, 1:]
  rounded = {tuple(p) for p in np.round(ab / 10) * 10}
  assert rounded <= {tuple(b) for b in bins}


def _photo_ab(shape, seed):
  """ab of random sRGB colours (what photos hold), [*shape, 2]."""
  rgb = np.random.default_rng(seed).uniform(0.0, 1.0, (*shape, 3)).astype(np.float32)
  return color.rgb_to_lab(jnp.asarray(rgb))[..., 1:]


def test_soft_encoding_sums_to_one_with_its_largest_weight_on_the_nearest_bin():
  ab = _photo_ab((4, 5, 6), 0)
  indices, weights = ab_bins.soft_encode(ab)
  assert indices.shape == weights.shape == (4, 5, 6, 5)
  np.testing.assert_allclose(jnp.sum(weights, -1), 1.0, rtol=1e-6)
  distances = np.linalg.norm(np.asarray(ab)[..., None, :] - ab_bins.centres(), axis=-1)
  np.testing.assert_array_equal(indices[..., 0], np.argmin(distances, axis=-1))
  np.testing.assert_array_equal(jnp.argmax(weights, -1), 0)
  assert np.all(np.diff(np.asarray(weights), axis=-1) <= 1e-7)  # Nearer bins weigh more.
  dense = ab_bins.dense_encoding(indices, weights, Q)
  np.testing.assert_allclose(jnp.sum(dense, -1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(jnp.argmax(dense, -1), indices[..., 0])
  # A value exactly on a centre: Gaussian weights exp(-d^2 / 50) for the neighbours at 10 and 14.1.
  centre = ab_bins.centres()[100]
  _, w = ab_bins.soft_encode(jnp.asarray(centre)[None])
  assert w[0, 0] > 0.5 and w[0, 1] == pytest.approx(w[0, 0] * np.exp(-2.0), rel=1e-5)


def test_soft_encoding_equals_the_5_nearest_of_all_bins():
  # The encoding looks at the 5 x 5 grid cells around each value; against all Q bins:
  ab = np.concatenate([np.asarray(_photo_ab((20_000,), 1)), ab_bins.centres() + [4.9, -2.3]])
  ab = ab[
    np.isin(np.round(ab / 10) * 10, ab_bins.centres()).all(-1)
  ]  # Shifted centres left in a kept cell.
  indices, weights = ab_bins.soft_encode(jnp.asarray(ab))
  d2 = np.sum(np.square(ab[:, None] - ab_bins.centres()[None].astype(np.float64)), -1)
  nearest5 = np.argsort(d2, axis=-1, kind="stable")[:, :5]
  expected = np.exp(-(np.take_along_axis(d2, nearest5, -1) - d2.min(-1, keepdims=True)) / 50.0)
  expected /= expected.sum(-1, keepdims=True)
  dense = np.zeros(d2.shape)
  np.put_along_axis(dense, nearest5, expected, -1)
  np.testing.assert_allclose(ab_bins.dense_encoding(indices, weights, Q), dense, atol=2e-5)
  np.testing.assert_array_equal(ab_bins.nearest(jnp.asarray(ab)), np.argmin(d2, -1))


def test_rebalancing_weights_have_expectation_one_under_the_prior():
  counts = np.random.default_rng(1).poisson(np.linspace(0.0, 50.0, Q) ** 2)
  prior = ab_bins.smoothed_prior(counts, sigma=5.0)
  assert prior.shape == (Q,) and prior.sum() == pytest.approx(1.0) and np.all(prior > 0)
  weights = ab_bins.rebalancing_weights(prior, mix=0.5)
  assert np.sum(prior * weights) == pytest.approx(1.0, rel=1e-6)
  # Rare colours weigh more; the mix bounds the ratio by (1 - mix + mix) / (mix / Q) scaled.
  assert weights[np.argmin(prior)] > 1.0 > weights[np.argmax(prior)]
  np.testing.assert_allclose(ab_bins.rebalancing_weights(prior, mix=1.0), 1.0, rtol=1e-6)
  with pytest.raises(ValueError, match="prior_mix must be in"):
    ab_bins.rebalancing_weights(prior, mix=0.0)


def test_annealed_mean_is_the_mode_as_t_goes_to_0_and_the_mean_at_t_1():
  logits = jax.random.normal(jax.random.key(2), (3, 4, Q)) * 3.0
  centres = ab_bins.centres()
  mode = centres[np.argmax(np.asarray(logits), -1)]
  np.testing.assert_allclose(ab_bins.annealed_mean(logits, 1e-3), mode, atol=1e-3)
  mean = np.asarray(jax.nn.softmax(logits, -1)) @ centres
  np.testing.assert_allclose(ab_bins.annealed_mean(logits, 1.0), mean, rtol=1e-5, atol=1e-4)


def test_classification_loss_is_per_example_with_finite_gradients():
  logits = jax.random.normal(jax.random.key(3), (3, 4, 4, Q))
  target_ab = _photo_ab((3, 4, 4), 4)
  weights = jnp.asarray(np.random.default_rng(5).uniform(0.5, 2.0, Q).astype(np.float32))
  loss_fn = registry.get("ab_loss", "ab_ce")()
  loss = loss_fn(logits, target_ab, weights)
  assert loss.shape == (3,) and np.all(np.isfinite(loss))
  # Against the dense formula: -v(nearest) sum_q z_q log p_q, averaged over pixels.
  indices, soft = ab_bins.soft_encode(target_ab)
  z = ab_bins.dense_encoding(indices, soft, Q)
  dense = (
    -np.sum(np.asarray(z) * np.asarray(jax.nn.log_softmax(logits)), -1)
    * np.asarray(weights)[indices[..., 0]]
  )
  np.testing.assert_allclose(loss, dense.reshape(3, -1).mean(1), rtol=1e-5)
  grads = jax.grad(lambda x: loss_fn(x, target_ab, weights).sum())(logits)
  assert np.all(np.isfinite(grads)) and float(jnp.abs(grads).max()) > 0


def test_loss_spec_mixes_classification_and_regression_by_weight():
  objective = cls_losses.ClassificationObjective("ab_ce:1,l1:10", value_range=(-1.0, 1.0))
  logits = jax.random.normal(jax.random.key(6), (2, 4, 4, Q))
  target = jax.random.uniform(jax.random.key(7), (2, 4, 4, 2), minval=-0.5, maxval=0.5)
  pred = heads.decode(logits, 0.38)
  total, terms = objective(logits, pred, target, jnp.ones(Q))
  assert set(terms) == {"ab_ce", "l1"}
  np.testing.assert_allclose(total, terms["ab_ce"] + 10 * terms["l1"], rtol=1e-6)
  np.testing.assert_allclose(terms["l1"], jnp.abs(pred - target).reshape(2, -1).mean(1), rtol=1e-6)


@pytest.mark.parametrize(
  "change, message",
  [
    ({"loss": "l1"}, "has no ab classification term"),
    ({"loss": "ab_ce,percep"}, "unknown loss 'percep'; valid loss names: ab_ce, huber, l1"),
    (
      {"model.name": "dense"},
      "model 'dense' cannot take the ab classification head: its output layer is dense",
    ),
    ({"data.color_space": "rgb"}, "needs data.color_space='lab'"),
    ({"classification.prior_mix": 0.0}, "prior_mix must be in"),
    ({"classification.temperature": 0.0}, "temperature must be > 0"),
  ],
)
def test_conflicting_switches_fail_before_anything_is_written(
  load_config, tmp_path, change, message
):
  config = load_config("classification", "smoke")
  config.update_from_flattened_dict(change)
  with pytest.raises((ValueError, registry.UnknownNameError), match=message):
    tasks.build(config)
  with pytest.raises(ValueError, match=message):  # config_check's ConfigError, before the workdir.
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def _batch(n=8, size=32, seed=0):
  return {"image": np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)}


def _build(config):
  """(task, optimizers) as the training loop builds them, for a 10-step schedule."""
  task = tasks.build(config)
  return task, optim.build_all(config, task.optimizers, total_steps=10)


def test_step_on_8_devices_equals_step_on_1_device(load_config):
  task, optimizers = _build(load_config("classification", "smoke"))
  task.class_weights = np.linspace(0.5, 2.0, Q).astype(np.float32)  # Weights that matter.
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  (state1, metrics1), (state8, metrics8) = step_on_1_and_8_devices(
    task.train_step, state, _batch(), jax.random.key(1)
  )
  assert int(state8.step) == int(state1.step) == 1
  # Adam's first update is lr * g / (|g| + eps): where |g| is near eps, the sums' rounding moves
  # it by a fraction of lr (1e-3), so parameters agree to 0.1 lr; the metrics, to rounding.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-4), state1, state8)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), metrics1, metrics8
  )
  assert {"loss", "loss/ab_ce", "l1", "mse"} <= set(metrics8)


def test_predict_gives_the_decoded_ab_and_eval_outputs_the_logits_for_the_loss(load_config):
  config = load_config("classification", "smoke")
  config.classification.temperature = 0.2
  task, optimizers = _build(config)
  task.class_weights = np.linspace(0.5, 2.0, Q).astype(np.float32)
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  gray, target = task.color_space.split(jnp.asarray(_batch(2)["image"]))
  pred = task.predict(state, gray)
  logits = task.generator.apply(task.inference_variables(state), gray, train=False, method="logits")
  assert pred.shape == (2, 32, 32, 2) and logits.shape == (2, 32, 32, Q)
  np.testing.assert_allclose(pred, ab_bins.annealed_mean(logits, 0.2) / 110.0, rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(pred).max()) <= 1.0
  # The evaluator's one pass: the same prediction, and the logits and weights the loss needs.
  eval_pred, aux = task.eval_outputs(state, gray)
  np.testing.assert_allclose(eval_pred, pred, rtol=1e-6, atol=1e-7)
  terms = task.loss_terms(eval_pred, target, aux)
  expected = registry.get("ab_loss", "ab_ce")()(logits, target * 110.0, state.class_weights)
  assert set(terms) == {"loss", "loss/ab_ce"} and terms["loss"].shape == (2,)
  np.testing.assert_allclose(terms["loss"], expected, rtol=1e-5)
  with pytest.raises(ValueError, match="needs the per-bin logits"):
    task.loss_terms(eval_pred, target)


class _Source:
  """A random-access source of solid colours: 10 red, 10 green, 10 blue images."""

  def __len__(self):
    return 30

  def __getitem__(self, i):
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., i // 10] = 200
    return {"image": image, "valid": True}

  def __repr__(self):
    return "_Source()"


def test_prior_is_counted_once_and_reused_from_the_workdir(tmp_path, monkeypatch):
  class Data:
    def source(self, split):
      assert split == "train"
      return _Source()

  counts = ab_prior.for_training(Data(), str(tmp_path), max_images=6)
  record = json.loads((tmp_path / ab_prior.PRIOR_FILE).read_text())
  assert record["images"] == 6 and record["pixels"] == 6 * 16 == counts.sum()
  # Spread over the split: both red, green and blue images were counted, each to its bin.
  red, green, blue = np.asarray(
    color.rgb_to_lab(jnp.asarray([[200, 0, 0], [0, 200, 0], [0, 0, 200]]) / 255.0)
  )
  for lab in (red, green, blue):
    assert counts[int(ab_bins.nearest(jnp.asarray(lab[1:])))] == 2 * 16
  monkeypatch.setattr(
    ab_prior, "estimate", lambda *a: pytest.fail("the workdir's prior must be reused")
  )
  np.testing.assert_array_equal(ab_prior.for_training(Data(), str(tmp_path), max_images=6), counts)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
  """The smoke config trained once, uninterrupted: (its final metrics, its workdir)."""
  workdir = str(tmp_path_factory.mktemp("classification") / "straight")
  return trainer.train_and_evaluate(load_config("classification", "smoke"), workdir), workdir


def test_smoke_config_trains_and_resumes_exactly(load_config, straight_run, tmp_path, monkeypatch):
  config = load_config("classification", "smoke")
  resumed = killed_then_resumed(config, str(tmp_path / "resumed"), monkeypatch)
  straight, straight_dir = straight_run
  assert_same_run(resumed, straight)
  assert resumed["epochs"] == 2
  prior_file = tmp_path / "resumed" / ab_prior.PRIOR_FILE
  assert np.isfinite(resumed["val"]["loss/ab_ce"]) and resumed["params"].keys() == {"model"}
  with open(f"{straight_dir}/{ab_prior.PRIOR_FILE}") as f:
    assert prior_file.read_text() == f.read()


def test_temperature_sweep_decodes_one_run_at_each_temperature(straight_run, tmp_path, capsys):
  """bench/temperature_sweep.py: the annealed-mean temperature only decodes the trained logits,
  so --mode=eval takes it as a test-time field; each report records it and colder decoding
  changes the colours (towards each pixel's most likely bin)."""
  sweep = load_bench("temperature_sweep")
  _, workdir = straight_run
  photos = tmp_path / "photos"
  photos.mkdir()
  for i in range(3):
    Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), np.uint8)).save(
      photos / f"{i}.png"
    )
  results = sweep.sweep(workdir, [0.05, 1.0], [f"other={photos}"], "last")
  assert set(results) == {"val", "other"} and set(results["other"]) == {0.05, 1.0}
  for name, reports in results.items():
    for temperature, report in reports.items():
      assert report["name"] == sweep.report_name(name, temperature)
      assert report["test_time"]["classification.temperature"] == temperature
  assert results["other"][1.0]["examples"] == 3
  cold, warm = (results["val"][t]["metrics"] for t in (0.05, 1.0))
  assert cold["colorfulness"] != pytest.approx(warm["colorfulness"], rel=1e-4)
  assert cold["psnr"] != pytest.approx(warm["psnr"], rel=1e-5)
  rows = sweep.table_rows(results["val"])
  assert [row.split("|")[1].strip() for row in rows] == ["0.05", "1"]
  for row, temperature in zip(rows, (0.05, 1.0)):
    model, gray = (results["val"][temperature][k] for k in ("metrics", "gray_baseline"))
    met = (
      model["psnr"] >= gray["psnr"] + 0.5
      and model["ab_auc"] >= gray["ab_auc"] + 0.01
      and model["delta_colorfulness"] <= 10
    )
    assert row.endswith("| yes |" if met else "| no |")
    assert f"| {model['delta_colorfulness']:.1f} |" in row
