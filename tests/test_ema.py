"""config.ema_decay for every task (issue 22): the warmed-up average of the weights is what
evaluation, colorize and export read, and a run with it resumes exactly."""

import jax
import numpy as np
import pytest
from conftest import assert_same_run, killed_then_resumed, load_config

from colorize_jax import tasks
from colorize_jax.tasks import base
from colorize_jax.train import optim, trainer


def _batch(n=8, size=32, seed=0):
  return {"image": np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)}


@pytest.mark.parametrize("recipe", ["unet", "classification", "hints"])
def test_every_task_averages_its_weights_with_the_warm_up(recipe):
  config = load_config(recipe, "smoke")
  config.ema_decay = 0.9
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=10)
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  step = jax.jit(task.train_step)
  one, _ = step(state, _batch(), jax.random.key(1))
  two, _ = step(one, _batch(seed=1), jax.random.key(2))
  # Update t moves the average by 1 - min(0.9, (1 + t) / (10 + t)): 0.9 at t=0, 9/11 at t=1.
  expected = jax.tree.map(lambda e, p: 0.1 * e + 0.9 * p, state.params, one.params)
  expected = jax.tree.map(lambda e, p: (9 / 11) * p + (2 / 11) * e, expected, two.params)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), two.ema["params"], expected
  )
  assert task.inference_variables(two) is two.ema
  leaves = jax.tree.leaves(
    jax.tree.map(lambda a, b: np.abs(a - b).max(), two.ema["params"], two.params)
  )
  assert max(float(x) for x in leaves) > 0  # not a copy of the weights


def test_ema_is_off_by_default_and_out_of_range_is_refused():
  config = load_config("unet", "smoke")
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=10)
  state = jax.eval_shape(lambda: task.init_state(jax.random.key(0), 32, optimizers))
  assert getattr(state, "ema", None) is None  # a TrainState without the field: old checkpoints
  config.ema_decay = 1.0
  with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\).*got 1.0"):
    tasks.build(config)


def test_a_gans_ema_is_the_same_field_under_both_names():
  config = load_config("pix2pix", "smoke")
  config.gan.ema_decay = 0.99
  assert config.ema_decay == 0.99 and base.ema_decay_of(config) == 0.99


def test_a_regression_run_with_ema_resumes_exactly(tmp_path, monkeypatch):
  config = load_config("unet", "smoke")
  config.ema_decay = 0.9
  resumed = killed_then_resumed(config, str(tmp_path / "resumed"), monkeypatch)
  assert_same_run(resumed, trainer.train_and_evaluate(config, str(tmp_path / "straight")))
