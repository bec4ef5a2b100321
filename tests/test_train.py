"""The training loop: data parallelism, early stopping, failures and outputs."""

import json
import math
import os

import grain
import jax
import numpy as np
import pytest
from conftest import step_on_1_and_8_devices, train_until_first_checkpoint

from colorize_jax import tasks
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.train import checkpoint, hooks, optim, trainer


def _batch(n=8, size=32, seed=0):
  return {"image": np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)}


@pytest.mark.portability
def test_step_on_8_devices_equals_step_on_1_device(load_config):
  config = load_config("unet", "smoke")
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), 32, optim.build_all(config, task.optimizers, 10))
  (state1, metrics1), (state8, metrics8) = step_on_1_and_8_devices(
    task.train_step, state, _batch(), jax.random.key(1)
  )

  # Equal BatchNorm statistics show they are global-batch, not per-device.
  for a, b in zip(
    jax.tree.leaves((state1.params, state1.batch_stats)),
    jax.tree.leaves((state8.params, state8.batch_stats)),
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(metrics1["loss"], metrics8["loss"], rtol=1e-5)


def test_batch_the_devices_cannot_split_fails_before_compiling(load_config, tmp_path):
  config = load_config("unet", "smoke")
  config.batch_size = 12
  with pytest.raises(
    ValueError, match=r"batch_size=12 cannot be split evenly over 8 devices.*e\.g\. 8, 16"
  ):
    trainer.Trainer(config, str(tmp_path))


def test_early_stopping_restores_the_best_weights(load_config, tmp_path):
  config = load_config("unet", "smoke")
  config.num_epochs = 6
  config.early_stopping.patience = 1
  # No later epoch can beat the first by this much, so epoch 1 stays the best.
  config.early_stopping.min_delta = 1e9
  result = trainer.train_and_evaluate(config, str(tmp_path))

  steps_per_epoch = result["best_step"]
  assert result["stopped_early"] and result["epochs"] == 2
  assert result["step"] == steps_per_epoch  # The final state is epoch 1's.
  epochs = [r for r in read_metrics(str(tmp_path)) if r["kind"] == "epoch"]
  assert [r["epoch"] for r in epochs] == [1, 2]
  assert epochs[0]["val/loss"] != epochs[1]["val/loss"]
  np.testing.assert_allclose(result["val"]["loss"], epochs[0]["val/loss"], rtol=1e-5)


def test_best_checkpoint_is_the_epoch_early_stopping_counted_best_with_min_delta(
  load_config, tmp_path
):
  config = load_config("unet", "smoke")
  config.num_epochs = 3
  config.early_stopping.patience = 5
  config.early_stopping.min_delta = 1e9  # Only epoch 1 counts as an improvement.
  config.checkpoint.keep = 1  # Later epochs push epoch 1 out unless it is kept as the best.
  result = trainer.train_and_evaluate(config, str(tmp_path))
  epoch_steps = [r["step"] for r in read_metrics(str(tmp_path)) if r["kind"] == "epoch"]
  assert len(epoch_steps) == 3 and result["best_step"] == epoch_steps[0]
  saved = checkpoint.Checkpoints(str(tmp_path / "checkpoints"))
  assert saved.best_step() == epoch_steps[0]
  assert sorted(saved.all_steps()) == [epoch_steps[0], epoch_steps[2]]
  saved.close()


def test_only_the_epoch_early_stopping_counts_as_best_is_offered_to_orbax_as_best():
  saved = []

  class Recorder:
    def save(self, step, state, data_iterator, progress, monitor=None):
      saved.append((step, monitor))

  hook = hooks.SaveCheckpoint(Recorder(), None, "val/psnr")
  progress = checkpoint.Progress(best_value=30.0, best_step=3)
  for step, psnr in ((3, 30.0), (6, 30.5)):  # 30.5 beat 30.0, but not by min_delta.
    hook(hooks.EpochEnd(None, step, progress, {}, last=False, monitor=psnr))
  assert saved == [(3, -30.0), (6, None)]  # Signed: Orbax keeps the lowest.


def test_nan_loss_stops_with_a_clear_error_and_saves_nothing_bad(load_config, tmp_path):
  config = load_config("unet", "smoke")
  config.optimizer.learning_rate = math.nan
  # The learning rate is a training metric (opt/model/lr), so the run stops at step 1, where
  # the NaN rate is applied, before the loss it makes NaN (step 2) is computed.
  with pytest.raises(
    trainer.NonFiniteLossError,
    match=r"non-finite training metrics at step 1: \{'opt/model/lr': nan",
  ):
    trainer.train_and_evaluate(config, str(tmp_path))
  assert not [d for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]


@pytest.mark.portability
def test_outputs_of_a_run(load_config, tmp_path):
  config = load_config("unet", "smoke")
  config.num_epochs = 1
  result = trainer.train_and_evaluate(config, str(tmp_path))
  for path in (
    "config.json",
    "metrics.jsonl",
    "final_metrics.json",
    "samples/final.png",
    "samples/epoch_0001.png",
    "plots/loss.png",
  ):
    assert (tmp_path / path).exists(), path
  assert any(
    name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tensorboard")
  )
  records = read_metrics(str(tmp_path))
  assert {r["kind"] for r in records} == {"step", "epoch", "final"}
  assert all("perf/images_per_sec" in r for r in records if r["kind"] == "step")
  assert all(r["time/epoch_seconds"] > 0 for r in records if r["kind"] == "epoch")
  assert (
    json.loads((tmp_path / "final_metrics.json").read_text())["test"]["examples"]
    == result["test"]["examples"]
    > 0
  )
  # Relaunching a finished run does not train again.
  again = trainer.train_and_evaluate(config, str(tmp_path))
  assert again["step"] == result["step"]


def test_a_step_budget_ends_mid_epoch_with_a_validated_partial_epoch(load_config, tmp_path):
  config = load_config("unet", "smoke")
  config.num_epochs = 3  # 3 steps per epoch: 9 steps without the budget.
  config.max_train_steps = 4
  config.early_stopping.restore_best = False
  result = trainer.train_and_evaluate(config, str(tmp_path))
  assert result["step"] == 4
  epochs = [r for r in read_metrics(str(tmp_path)) if r["kind"] == "epoch"]
  assert [(r["epoch"], r["step"]) for r in epochs] == [(1, 3), (2, 4)]
  # A raised budget finishes epoch 2 as epoch 2 (it was labelled 3, and the run's last 4 of 3).
  config.max_train_steps = 0
  result = trainer.train_and_evaluate(config, str(tmp_path))
  epochs = [r for r in read_metrics(str(tmp_path)) if r["kind"] == "epoch"]
  assert [(r["epoch"], r["step"]) for r in epochs] == [(1, 3), (2, 4), (2, 6), (3, 9)]
  assert result["step"] == 9 and result["epochs"] == 3


@pytest.mark.parametrize("name", ["unet", "pix2pix"])
def test_bfloat16_keeps_parameters_in_float32_and_the_loss_curve_close(load_config, name):
  curves, dtypes = {}, {}
  for dtype in ("float32", "bfloat16"):
    config = load_config(name, "smoke")
    config.dtype = dtype
    task = tasks.build(config)
    state = task.init_state(jax.random.key(0), 32, optim.build_all(config, task.optimizers, 20))
    step = jax.jit(trainer.make_train_step(task, config))
    batch, key = _batch(), jax.random.key(1)
    losses = []
    for _ in range(12):
      state, metrics = step(state, batch, key)
      losses.append(float(metrics["loss" if "loss" in metrics else "g/total"]))
    curves[dtype] = np.array(losses)
    dtypes[dtype] = {x.dtype for x in jax.tree.leaves(state)}
  assert dtypes["bfloat16"] <= {np.dtype(np.float32), np.dtype(np.int32)}
  assert np.all(np.isfinite(curves["bfloat16"]))
  # bf16 keeps ~3 significant digits: the curves agree to a few percent, not exactly.
  np.testing.assert_allclose(curves["bfloat16"], curves["float32"], rtol=0.1)
  assert not np.array_equal(curves["bfloat16"], curves["float32"])  # bf16 really was used.


def test_config_json_records_absolute_data_paths(load_config, tmp_path, monkeypatch):
  from PIL import Image

  photos = tmp_path / "photos"
  photos.mkdir()
  for i in range(20):
    Image.new("RGB", (40, 40), (12 * i, 100, 200 - 8 * i)).save(photos / f"{i}.png")
  monkeypatch.chdir(tmp_path)
  config = load_config("unet", "smoke")
  config.num_epochs = 1
  config.data.source, config.data.path = "folder", "photos"
  config.data.split_fractions = (0.8, 0.1, 0.1)
  trainer.train_and_evaluate(config, "run")
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  assert saved["data"]["path"] == str(photos)


def test_saves_not_ranked_as_the_best_log_no_orbax_warning(tmp_path, caplog):
  """Every epoch but the best saves without metrics, by design; Orbax warned at each one."""
  iterator = iter(grain.MapDataset.range(4).to_iter_dataset())
  saved = checkpoint.Checkpoints(str(tmp_path / "checkpoints"), keep=1, async_save=False)
  with caplog.at_level("INFO"):
    saved.save(1, {"x": np.zeros(2)}, iterator, checkpoint.Progress())
    saved.save(2, {"x": np.ones(2)}, iterator, checkpoint.Progress(), monitor=-1.0)
    saved.save(3, {"x": np.ones(2)}, iterator, checkpoint.Progress())
    saved.wait()
  assert saved.best_step() == 2 and sorted(saved.all_steps()) == [2, 3]
  assert "checkpoint" in caplog.text.lower()  # Orbax's own logging is still captured...
  assert "did not provide metrics" not in caplog.text  # ...less the warning about no metrics.
  saved.close()


def test_a_run_resumed_past_its_new_budget_finishes(load_config, tmp_path, monkeypatch):
  """Stopped at step 2 of a longer budget, relaunched with a budget of 1 step: nothing more to
  train, and the restored step is already saved (Orbax never overwrites one), so the run only
  writes its final reports (it failed before, on every relaunch, asking to free disk space)."""
  config = load_config("unet", "smoke")
  config.num_epochs = 3
  config.checkpoint.every_steps = 2
  train_until_first_checkpoint(config, str(tmp_path), monkeypatch)  # Step 2.
  config.max_train_steps = 1
  result = trainer.train_and_evaluate(config, str(tmp_path))
  assert result["step"] == 2 and (tmp_path / "final_metrics.json").exists()


def test_an_evaluator_batch_the_devices_cannot_split_fails_before_training(load_config, tmp_path):
  config = load_config("unet", "smoke")
  with config.evals.unlocked():
    config.evals.val.batch_size = 3  # 8 devices in the tests.
  with pytest.raises(ValueError, match=r"evals.val.batch_size=3 cannot be split evenly over 8"):
    trainer.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / "checkpoints").exists() or not os.listdir(tmp_path / "checkpoints")
