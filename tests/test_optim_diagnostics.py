"""Each optimizer's learning rate and global gradient, update and parameter norms are step
metrics (opt/<optimizer>/...), computed inside the jitted step."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from colorize_jax import tasks
from colorize_jax.tasks import base
from colorize_jax.train import optim


def _batch(n=8, size=32, seed=0):
  return {"image": np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)}


def test_regression_steps_report_the_scheduled_rate_and_the_true_gradient_norm(load_config):
  config = load_config("unet", "smoke")  # No dropout: the gradient is a function of the batch.
  config.optimizer.schedule = "cosine"
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=4)
  state = task.init_state(jax.random.key(0), 32, optimizers)
  step = jax.jit(task.train_step)
  batch, rng = _batch(), jax.random.key(1)

  def loss(params):
    inputs, targets = task.model_inputs(batch)
    pred, _ = base.apply_training(state, params, inputs, rng)
    return task.loss_terms(pred, targets)["loss"].mean()

  expected_grad_norm = optax.tree.norm(jax.grad(loss)(state.params))
  new, metrics = step(state, batch, rng)
  _, metrics2 = step(new, batch, rng)

  schedule = optimizers["model"].schedule
  assert float(metrics["opt/model/lr"]) == pytest.approx(float(schedule(0)))
  assert float(metrics2["opt/model/lr"]) == pytest.approx(float(schedule(1)))
  assert float(metrics2["opt/model/lr"]) < float(metrics["opt/model/lr"])  # Cosine decays.
  np.testing.assert_allclose(metrics["opt/model/grad_norm"], expected_grad_norm, rtol=1e-4)
  np.testing.assert_allclose(
    metrics["opt/model/param_norm"], optax.tree.norm(new.params), rtol=1e-5
  )
  delta = jax.tree.map(lambda a, b: a - b, new.params, state.params)
  np.testing.assert_allclose(metrics["opt/model/update_norm"], optax.tree.norm(delta), rtol=1e-5)
  assert 0 < float(metrics["opt/model/update_norm"]) < float(metrics["opt/model/param_norm"])


def test_a_gan_step_reports_each_optimizer(load_config):
  config = load_config("pix2pix", "smoke")
  config.d_optimizer.learning_rate = 3e-4
  task = tasks.build(config)
  state = task.init_state(
    jax.random.key(0), 32, optim.build_all(config, task.optimizers, total_steps=10)
  )
  _, metrics = jax.jit(task.train_step)(state, _batch(), jax.random.key(1))
  for name in ("g", "d"):
    for what in ("lr", "grad_norm", "update_norm", "param_norm"):
      value = float(metrics[f"opt/{name}/{what}"])
      assert np.isfinite(value) and value > 0, (name, what)
  assert float(metrics["opt/g/lr"]) == pytest.approx(config.optimizer.learning_rate)
  assert float(metrics["opt/d/lr"]) == pytest.approx(3e-4)


def test_an_optimizer_built_elsewhere_reports_norms_without_a_rate(load_config):
  config = load_config("unet", "smoke")
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), 32, {"model": optax.sgd(0.1)})
  _, metrics = jax.jit(task.train_step)(state, _batch(), jax.random.key(1))
  assert "opt/model/grad_norm" in metrics and "opt/model/lr" not in metrics


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_warmup_ramps_linearly_then_hands_over_to_the_schedule(schedule):
  """optimizer.warmup_steps (issue 22): lr/N, 2 lr/N, ..., lr over N updates, then the
  schedule timed by the steps after the warm-up (cosine reaches 0 at the last step)."""
  opt_cfg = ml_collections.ConfigDict(
    {"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "schedule": schedule, "warmup_steps": 4}
  )
  tx = optim.build(opt_cfg, total_steps=104)
  rates = [float(optim.learning_rate(tx, jnp.asarray(t))) for t in range(105)]
  np.testing.assert_allclose(rates[:5], [2.5e-4, 4.375e-4, 6.25e-4, 8.125e-4, 1e-3], rtol=1e-5)
  if schedule == "cosine":
    assert rates[54] == pytest.approx(5e-4, rel=1e-3) and rates[104] == pytest.approx(0, abs=1e-9)
  else:
    assert rates[104] == pytest.approx(1e-3)
  opt_cfg.warmup_steps = -1
  with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
    optim.build(opt_cfg, total_steps=10)
