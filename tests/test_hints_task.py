"""The hints task (tasks/hints.py): its inputs, its hint-count evaluation and a smoke run of
configs/hints.py, and a synthetic set where colour is knowable only from the hints."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import load_config
from PIL import Image

from colorize_jax import color, tasks
from colorize_jax.color import spaces
from colorize_jax.evaluators import hint_counts, specs
from colorize_jax.evaluators.evaluator import Evaluator


def _photos(batch=8, size=16, seed=0):
  return np.asarray(
    jax.random.randint(jax.random.key(seed), (batch, size, size, 3), 0, 256), np.uint8
  )


@pytest.fixture(scope="module")
def task():
  return tasks.build(load_config("hints", "smoke"))


def test_inputs_are_lightness_hints_and_mask(task):
  photos = _photos()
  assert task.input_layout == (("L", 1), ("hint_ab", 2), ("hint_mask", 1))
  automatic, targets = task.model_inputs({"image": photos})
  lightness, ab = task.color_space.split(photos)
  assert automatic.shape == (8, 16, 16, 4)
  np.testing.assert_allclose(automatic[..., :1], lightness)
  np.testing.assert_allclose(targets, ab)
  assert not np.any(automatic[..., 1:])  # No hints in the batch: automatic colorization.

  sampled, _ = task.model_inputs({"image": photos}, jax.random.key(3))
  mask = np.asarray(sampled[..., 3:])
  assert set(np.unique(mask)) <= {0.0, 1.0} and mask.any()
  assert not np.any(np.asarray(sampled[..., 1:3])[mask[..., 0] == 0])  # ab only under the mask.

  hint_ab = np.full((8, 16, 16, 2), 55.0, np.float32)
  hint_mask = np.zeros((8, 16, 16, 1), np.float32)
  hint_mask[:, 4:6, 4:6] = 1
  given, _ = task.model_inputs({"image": photos, "hint_ab": hint_ab, "hint_mask": hint_mask})
  np.testing.assert_allclose(given[..., 1:3], hint_ab / spaces.AB_SCALE * hint_mask, rtol=1e-6)
  np.testing.assert_array_equal(given[..., 3:], hint_mask)


def test_the_hints_task_needs_lab(load_config):
  config = load_config("hints", "smoke")
  config.data.color_space = "rgb"
  with pytest.raises(ValueError, match="needs data.color_space='lab'"):
    tasks.build(config)


def test_hint_counts_are_checked_in_one_line(load_config):
  spec = specs.from_entry("val", {"hint_counts": (10, 0, 10)})
  assert spec.hint_counts == (0, 10)
  with pytest.raises(ValueError, match=r"evals.val.hint_counts=.*integers >= 0"):
    specs.from_entry("val", {"hint_counts": (1, -2)})
  regression = tasks.build(load_config("unet", "smoke"))
  with pytest.raises(ValueError, match=r"hint_counts=\(0, 10\) needs a task that reads colour"):
    hint_counts.check(spec, regression)


def test_the_curve_table_orders_counts_numerically():
  means = {"hints_10/psnr": 3.0, "hints_2/psnr": 2.0, "hints_0/psnr": 1.0, "psnr": 9.0}
  assert hint_counts.curve(means) == {"psnr": {"0": 1.0, "2": 2.0, "10": 3.0}}


def test_smoke_run_reports_the_hint_curve(tmp_path):
  from colorize_jax import evaluate
  from colorize_jax.train import trainer

  config = load_config("hints", "smoke")
  workdir = str(tmp_path / "run")
  result = trainer.train_and_evaluate(config, workdir)
  val = result["val"]
  for n in (0, 10):
    for metric in hint_counts.METRICS:
      assert np.isfinite(val[f"hints_{n}/{metric}"])
  # No hints is the plain (automatic) scoring.
  assert val["hints_0/psnr"] == pytest.approx(val["psnr"])
  assert val["hints_10/psnr"] != pytest.approx(val["psnr"])
  with open(os.path.join(workdir, "eval", "val.json")) as f:
    report = json.load(f)
  assert set(report["hint_curve"]["psnr"]) == {"0", "10"}
  assert os.path.getsize(os.path.join(workdir, "plots", "hints_val.png")) > 1000
  # The photos with their hints drawn: (gray + hints | prediction) at 0 and 10 hints, then true.
  size = config.data.image_size
  grid = np.asarray(Image.open(report["hints_grid"]))
  assert grid.shape[1] == 5 * (size + 2) - 2 and (grid.shape[0] + 2) % (size + 2) == 0
  tile = lambda j: grid[:size, j * (size + 2) : j * (size + 2) + size].astype(int)
  chroma = lambda t: np.abs(t - t.mean(-1, keepdims=True)).sum()
  assert chroma(tile(0)) == 0 and chroma(tile(2)) > 0  # hints drawn in colour on the gray input
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert any("val/hints_10/ssim" in r for r in records)

  config.eval.split = "val"
  config.eval.name = "again"
  report = evaluate.evaluate_run(config, workdir)
  assert report["metrics"]["hints_10/psnr"] == pytest.approx(val["hints_10/psnr"], abs=1e-4)
  assert os.path.exists(os.path.join(workdir, "plots", "hints_again.png"))


# -- colour knowable only from the hints -----------------------------------------------------


def _colours(count: int, lightness: float, rng) -> np.ndarray:
  """`count` random colours of one Lab L, as uint8 RGB [count, 3]."""
  angle, radius = rng.uniform(0, 2 * np.pi, count), rng.uniform(10, 30, count)
  lab = np.stack([np.full(count, lightness), radius * np.cos(angle), radius * np.sin(angle)], -1)
  rgb = np.asarray(color.lab_to_rgb(jnp.asarray(lab, jnp.float32)))
  return np.round(rgb * 255).astype(np.uint8)


def flat_photos(count: int, size: int, seed: int) -> np.ndarray:
  """Flat photos of one random colour each, all of the same Lab L (so gray says nothing)."""
  rgb = _colours(count, 60.0, np.random.default_rng(seed))
  return np.broadcast_to(rgb[:, None, None, :], (count, size, size, 3)).copy()


def quadrant_photos(count: int, size: int, seed: int) -> np.ndarray:
  """Photos of four quadrants, each its own random colour; the quadrants' L differ (so gray
  shows where they are) but say nothing of their colours: one hint tells one quadrant."""
  rng = np.random.default_rng(seed)
  photos, half = np.zeros((count, size, size, 3), np.uint8), size // 2
  for lightness, (top, left) in zip((45.0, 60.0, 75.0, 90.0), ((0, 0), (0, 1), (1, 0), (1, 1))):
    rows, cols = slice(top * half, (top + 1) * half), slice(left * half, (left + 1) * half)
    photos[:, rows, cols] = _colours(count, lightness, rng)[:, None, None, :]
  return photos


def train_on_colours(photos=flat_photos, size=16, steps=150, seed=0):
  """configs/hints.py:smoke, smaller, trained on `photos(16, size, seed)` batches."""
  config = load_config("hints", "smoke")
  config.model.features = (8, 16)
  config.model.decoder_features = (8,)
  task = tasks.build(config)
  state = task.init_state(jax.random.key(seed), size, {"model": optax.adam(3e-3)})
  step = jax.jit(task.train_step)
  for i in range(steps):
    batch = {"image": photos(16, size, seed=1000 + i)}
    state, _ = step(state, batch, jax.random.key(i))
  return config, task, state


def train_on_flat_colours(size=16, steps=150, seed=0):
  return train_on_colours(flat_photos, size, steps, seed)


def test_more_hints_lower_the_error_where_only_hints_know_the_colour():
  """Four quadrants of unknown colours: 2 hints tell at most two of them, 20 nearly all. (On
  flat photos the recipe's attention spreads 2 hints over the whole photo, so 20 add little.)"""
  _, task, state = train_on_colours(quadrant_photos, steps=250)
  photos = quadrant_photos(32, 16, seed=7)
  batches = [{"image": photos, "mask": np.ones(len(photos), bool)}]
  evaluator = Evaluator(task)
  l1 = {
    n: evaluator.evaluate(
      state, batches, transform=hint_counts.WithHints(n, task.hint_scheme)
    ).means()["l1"]
    for n in (0, 2, 20)
  }
  assert l1[2] < 0.9 * l1[0], l1
  assert l1[20] < 0.8 * l1[2], l1


def test_the_classification_loss_trains_on_hints_too(load_config):
  config = load_config("hints", "smoke")
  config.task = "hints_classification"
  config.loss = "ab_ce:1,l1:10"  # The reference's objective.
  task = tasks.build(config)
  assert task.input_layout == (("L", 1), ("hint_ab", 2), ("hint_mask", 1))
  state = task.init_state(jax.random.key(0), 16, {"model": optax.adam(1e-3)})
  state, metrics = jax.jit(task.train_step)(state, {"image": _photos()}, jax.random.key(1))
  assert int(state.step) == 1
  assert np.isfinite(metrics["loss"]) and metrics["loss/ab_ce"] > 0 and metrics["loss/l1"] > 0


def test_the_hints_grid_shows_automatic_about_ten_and_the_most_hints():
  assert hint_counts.grid_counts((0, 1, 2, 5, 10, 20, 50, 100)) == (0, 10, 100)
  assert hint_counts.grid_counts((0, 10)) == (0, 10)
  assert hint_counts.grid_counts((3,)) == (3,)
