"""A diverged run saves nothing of itself (issue 23, point 2): only checkpoints whose parameters
and metrics are finite and whose parameter norm stayed within checkpoint.divergence_factor of its
initial norm are kept; optimizer.skip_nonfinite_updates skips and counts non-finite updates."""

import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import load_config

from colorize_jax import registry, tasks
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.tasks import base
from colorize_jax.train import checkpoint, hooks, optim, trainer


@registry.register("schedule", "test_jump")
def _jump(lr: float, total_steps: int):
  """`lr` for the first update, then 1e6: a run that is fine at step 1 and diverges at step 2."""
  del total_steps
  return lambda count: jnp.where(count >= 1, 1e6, lr)


def _config(**overrides):
  config = load_config("unet", "smoke")  # 3 steps an epoch.
  config.update(
    dict(
      num_epochs=2,
      checkpoint=dict(every_steps=1),
      early_stopping=dict(enabled=False, restore_best=False),
    )
  )
  config.update(overrides)
  return config


def _steps(workdir):
  return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())


def test_a_run_that_diverges_at_step_2_keeps_step_1_as_its_last_good_checkpoint(tmp_path):
  config = _config()
  config.optimizer.schedule = "test_jump"
  # Adam moves every weight by about the learning rate: 1e6 at step 2. Finite, and the loss
  # may stay finite (sigmoid saturates), so only the parameter norm shows it.
  with pytest.raises(trainer.NonFiniteLossError, match="diverged at step 2") as error:
    trainer.train_and_evaluate(config, str(tmp_path))
  assert "last good checkpoint is step 1" in str(error.value)
  assert "checkpoint.divergence_factor=1000" in str(error.value)
  assert _steps(tmp_path) == [1]
  # Step 1's weights are near the initial ones, not around the learning rate.
  run = trainer.Trainer(config, str(tmp_path))
  state, _ = run.init_or_restore(run.data.train_iterator())
  assert int(state.step) == 1
  norm = float(optax.tree.norm(state.params))
  assert np.isfinite(norm) and norm < 2 * run.initial_param_norms["model"]


def test_step_checks():
  ckpts = types.SimpleNamespace(latest_step=lambda: 4, directory="/run/checkpoints")
  ok = {"loss": 0.5, "opt/model/param_norm": 20.0, "opt/model/update_norm": 0.1}
  hooks.check_step(5, ok, {"model": 10.0}, 1e3, ckpts)
  with pytest.raises(hooks.NonFiniteLossError, match="non-finite training metrics at step 5"):
    hooks.check_step(5, ok | {"loss": float("nan")}, {"model": 10.0}, 1e3, ckpts)
  with pytest.raises(hooks.NonFiniteLossError, match=r"diverged at step 5.*1e\+04 times"):
    hooks.check_step(5, ok | {"opt/model/param_norm": 1e5}, {"model": 10.0}, 1e3, ckpts)
  hooks.check_step(5, ok | {"opt/model/param_norm": 1e5}, {"model": 10.0}, 0.0, ckpts)  # Off.
  # Skipping: a skipped step's NaN loss and gradient norm are allowed, a NaN state is not.
  skipped = ok | {"loss": float("nan"), "opt/model/grad_norm": float("nan")}
  skipped["opt/model/skipped_updates"] = 1.0
  hooks.check_step(5, skipped, {"model": 10.0}, 1e3, ckpts)
  with pytest.raises(hooks.NonFiniteLossError, match="param_norm"):
    hooks.check_step(5, skipped | {"opt/model/param_norm": float("nan")}, {}, 1e3, ckpts)
  none_saved = types.SimpleNamespace(latest_step=lambda: None, directory="/run/checkpoints")
  with pytest.raises(hooks.NonFiniteLossError, match="no checkpoint was saved before it"):
    hooks.check_step(1, ok | {"loss": float("inf")}, {}, 1e3, none_saved)


def test_a_checkpoint_with_nonfinite_evaluation_metrics_is_not_saved():
  saved = []
  ckpts = types.SimpleNamespace(
    latest_step=lambda: 3, directory="/run/checkpoints", save=lambda *a, **k: saved.append(a)
  )
  saver = hooks.SaveCheckpoint(ckpts, train_iter=None, monitor="val/loss")
  progress = checkpoint.Progress(epoch=2)
  record = {"train/loss": 0.1, "val/loss": float("inf"), "val/psnr": 0.0, "time/x": 1.0}
  with pytest.raises(hooks.NonFiniteLossError, match=r"evaluation metrics at step 6.*val/loss"):
    saver(hooks.EpochEnd(None, 6, progress, record, last=False))
  assert not saved
  saver(hooks.EpochEnd(None, 6, progress, dict(record, **{"val/loss": 0.2}), last=False))
  assert len(saved) == 1


def _nan_gradients_at_step(monkeypatch, bad_step: int):
  """Every optimizer's gradients are NaN for the update that starts at `bad_step`."""
  original = base.apply_gradients

  def apply(state, grads, name, **changes):
    grads = jax.tree.map(lambda g: jnp.where(state.step == bad_step, jnp.nan, g), grads)
    return original(state, grads, name, **changes)

  monkeypatch.setattr(base, "apply_gradients", apply)


def test_skipped_updates_leave_the_state_and_are_counted_in_the_log(tmp_path, monkeypatch):
  _nan_gradients_at_step(monkeypatch, 1)  # The second update.
  config = _config(log_every_steps=1)
  config.optimizer.skip_nonfinite_updates = 3
  result = trainer.train_and_evaluate(config, str(tmp_path))
  steps = [r for r in read_metrics(str(tmp_path)) if r["kind"] == "step"]
  skipped = {r["step"]: r["train/opt/model/skipped_updates"] for r in steps}
  assert skipped == {1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0, 6: 1.0}
  by_step = {r["step"]: r for r in steps}
  assert by_step[2]["train/opt/model/update_norm"] == 0.0  # Nothing applied at step 2.
  assert by_step[2]["train/opt/model/param_norm"] == by_step[1]["train/opt/model/param_norm"]
  assert by_step[3]["train/opt/model/update_norm"] > 0.0
  assert np.isfinite(result["val"]["loss"]) and _steps(tmp_path)[-1] == 6


def test_without_skipping_the_same_run_stops(tmp_path, monkeypatch):
  _nan_gradients_at_step(monkeypatch, 1)
  config = _config(log_every_steps=1)
  with pytest.raises(trainer.NonFiniteLossError, match="step 2.*last good checkpoint is step 1"):
    trainer.train_and_evaluate(config, str(tmp_path))


def test_a_skipped_update_keeps_batchnorm_statistics_and_a_finite_ema(monkeypatch):
  """A non-finite forward pass gives NaN gradients and NaN BatchNorm statistics: the skipped
  update keeps the statistics as they were, so the EMA (inference weights) stays finite."""
  original = base.apply_gradients

  def apply(state, grads, name, **changes):
    nan = lambda tree: jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), tree)  # noqa: E731
    return original(state, nan(grads), name, **{k: nan(v) for k, v in changes.items()})

  monkeypatch.setattr(base, "apply_gradients", apply)
  config = load_config("unet", "smoke")
  config.optimizer.skip_nonfinite_updates = 3
  config.ema_decay = 0.9
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=4)
  state = task.init_state(jax.random.key(0), 32, optimizers)
  assert state.batch_stats  # The smoke U-Net normalises with BatchNorm.
  batch = {"image": np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), np.uint8)}
  after, metrics = jax.jit(task.train_step)(state, batch, jax.random.key(1))
  assert float(metrics["opt/model/skipped_updates"]) == 1.0
  leaves = lambda tree: jax.tree.leaves(tree)  # noqa: E731
  assert all(
    bool(jnp.all(a == b)) for a, b in zip(leaves(state.batch_stats), leaves(after.batch_stats))
  )
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves(after.ema))


def test_each_gan_optimizer_skips_and_counts_on_its_own(monkeypatch):
  _nan_gradients_at_step(monkeypatch, 0)
  config = load_config("pix2pix", "smoke")
  config.optimizer.skip_nonfinite_updates = 1
  config.d_optimizer.skip_nonfinite_updates = 1
  config.optimizer.schedule = "linear_decay"
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=4)
  state = task.init_state(jax.random.key(0), 32, optimizers)
  batch = {"image": np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), np.uint8)}
  step = jax.jit(task.train_step)
  first, m1 = step(state, batch, jax.random.key(1))
  second, m2 = step(first, batch, jax.random.key(2))
  for name in ("g", "d"):
    assert float(m1[f"opt/{name}/skipped_updates"]) == 1.0
    assert float(m1[f"opt/{name}/update_norm"]) == 0.0
    assert float(m2[f"opt/{name}/skipped_updates"]) == 1.0
    assert float(m2[f"opt/{name}/update_norm"]) > 0.0
    before, after = getattr(state, name).params, getattr(first, name).params
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), before, after)))
  # The schedule waits for the skipped update: the rate applied at step 2 is the schedule's first.
  schedule = optimizers["g"].schedule
  assert float(m2["opt/g/lr"]) == pytest.approx(float(schedule(0)))
