"""The seam between the loop and the tasks: a new task plugs in without touching the loop,
checkpoints written before the protocol changed still restore, and the monitored metric
is checked and tracked in its own direction."""

import functools
import json
import logging
import re
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, load_config

from colorize_jax import color, inference, registry, tasks
from colorize_jax.outputs import metric_names
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.tasks import base
from colorize_jax.train import optim, trainer

OLD = ROOT / "tests" / "data"  # Written by commit a279776, before the task protocol changed.


class _MeanColor(nn.Module):
  """Predicts one learned colour for every pixel: the smallest model that can beat gray."""

  channels: int

  @nn.compact
  def __call__(self, gray, *, train: bool):
    del train
    bias = self.param("bias", nn.initializers.zeros, (self.channels,))
    return jnp.zeros(gray.shape[:-1] + (self.channels,)) + bias


@registry.register("task", "toy_mean_color")
class MeanColorTask(base.BaseTask):
  """A task that states only what differs from tasks/base.py's BaseTask."""

  monitor = "val/l1"
  plot_panels = {"L1": ["train/loss", "val/loss"]}

  def __init__(self, config):
    self.color_space = color.get_color_space(config.data)
    self.generator = _MeanColor(self.color_space.target_channels)

  def init_state(self, rng, image_size, optimizers):
    variables = self.generator.init(rng, self.example_inputs(image_size), train=False)
    return base.TrainState.create(
      apply_fn=self.generator.apply, params=variables["params"], tx=optimizers["model"]
    )

  def loss_terms(self, pred, target, aux=None):
    del aux
    l1 = jnp.mean(jnp.abs(pred - target).reshape(pred.shape[0], -1), axis=1)
    return {"loss": l1, "loss/l1": l1}

  def train_step(self, state, batch, rng):
    del rng
    inputs, targets = self.model_inputs(batch)
    loss = lambda p: self.loss_terms(state.apply_fn({"params": p}, inputs, train=True), targets)[
      "loss"
    ].mean()
    value, grads = jax.value_and_grad(loss)(state.params)
    return state.apply_gradients(grads=grads), {"loss": value}


def test_a_new_task_trains_evaluates_and_restores_through_the_loop(tmp_path):
  config = load_config("unet", "smoke")
  config.task = "toy_mean_color"
  config.num_epochs = 3
  config.optimizer.learning_rate = 0.05
  config.early_stopping.monitor = "val/psnr"  # Higher is better: tracked as a maximum.
  result = trainer.train_and_evaluate(config, str(tmp_path))

  epochs = [r for r in read_metrics(str(tmp_path)) if r["kind"] == "epoch"]
  assert len(epochs) == 3 and result["params"] == {"model": 3}
  for key in ("val/loss", "val/l1", "val/psnr", "val/ssim", "val/delta_colorfulness", "val/ab_auc"):
    assert all(np.isfinite(r[key]) for r in epochs), key
  # The gray baseline is recorded once per run, with the first validation.
  assert [bool(r.get("val/gray/psnr")) for r in epochs] == [True, False, False]
  assert epochs[-1]["train/loss"] < epochs[0]["train/loss"]
  best = max(epochs, key=lambda r: r["val/psnr"])
  assert result["best_step"] == best["step"] and result["monitor"] == "val/psnr"
  for path in ("plots/loss.png", "plots/quality.png", "samples/final.png"):
    assert (tmp_path / path).exists(), path
  # Inference restores the new task's checkpoint like any other.
  colorizer = inference.from_workdir(str(tmp_path), "best")
  assert colorizer.step == best["step"]
  assert colorizer.predict_rgb(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 32, 32, 3)


def test_an_unknown_monitor_is_rejected_before_compiling_with_the_valid_names(tmp_path):
  config = load_config("unet", "smoke")
  config.early_stopping.monitor = "val/psnrr"
  compiled = []

  class _Compiles(logging.Handler):  # jax_log_compiles names each function XLA compiles.
    def emit(self, record):
      compiled.extend(re.findall(r"XLA compilation of jit\((\w+)\)", record.getMessage()))

  def canary(x):  # A new function object: compiled afresh, whatever ran before.
    return x + 1

  handler = _Compiles()
  logging.getLogger("jax").addHandler(handler)
  try:
    with jax.log_compiles(True):
      with pytest.raises(
        ValueError, match=r"'val/psnrr'.*valid: .*val/loss.*val/psnr.*val/ssim"
      ) as info:
        trainer.train_and_evaluate(config, str(tmp_path))
      jax.jit(canary)(np.float32(0))
  finally:
    logging.getLogger("jax").removeHandler(handler)
  assert "val/colorfulness," not in str(info.value)  # No direction: not a monitor.
  assert "canary" in compiled, f"this test would not see a compilation: {compiled}"
  assert not {"init_state", "train_step", "per_example"} & set(compiled), compiled
  assert not (tmp_path / "checkpoints").exists()


def test_metric_directions_and_old_names():
  assert [
    metric_names.direction(k)
    for k in (
      "val/loss",
      "val/loss/ssim",
      "psnr",
      "val/ab_auc",
      "val/delta_colorfulness",
      "colorfulness",
    )
  ] == ["min", "min", "max", "max", "min", None]
  assert metric_names.improved("val/psnr", 21.0, 20.0) and not metric_names.improved(
    "val/loss", 2.0, 1.0
  )
  assert metric_names.improved("val/psnr", 1.0, None)
  assert (
    metric_names.signed("val/psnr", 20.0) == -20.0 and metric_names.signed("val/l1", 0.5) == 0.5
  )
  old = {
    "val/mae": 0.1,
    "train/mae": 0.2,
    "gray/auc": 0.8,
    "colorfulness_diff": -3.0,
    "task/loss": 1.5,
    "val/loss/mae": 0.3,
    "g/l1": 0.4,
  }
  assert metric_names.rename_old_values(old) == {
    "val/l1": 0.1,
    "train/l1": 0.2,
    "gray/ab_auc": 0.8,
    "delta_colorfulness": 3.0,
    "loss": 1.5,
    "val/loss/l1": 0.3,
    "g/l1": 0.4,
  }


def test_old_metrics_and_eval_reports_are_read_in_the_new_names(tmp_path):
  from colorize_jax.outputs.rundir import RunDir

  (tmp_path / "metrics.jsonl").write_text(
    json.dumps({"step": 3, "kind": "epoch", "epoch": 1, "val/mae": 0.2, "train/mae": 0.3}) + "\n"
  )
  assert read_metrics(str(tmp_path))[0] == {
    "step": 3,
    "kind": "epoch",
    "epoch": 1,
    "val/l1": 0.2,
    "train/l1": 0.3,
  }
  per_image = [
    {"index": 0, "mae": 0.1, "colorfulness_diff": -4.0, "task/loss": 1.0},
    {"index": 1, "mae": 0.3, "colorfulness_diff": 2.0, "task/loss": 2.0},
  ]
  report = {
    "name": "test",
    "metrics": {"mae": 0.2, "auc": 0.9, "colorfulness_diff": -1.0, "task/loss": 1.5},
    "gray_baseline": {"mae": 0.5, "auc": 0.7},
    "per_image": per_image,
  }
  (tmp_path / "eval").mkdir()
  (tmp_path / "eval" / "test.json").write_text(json.dumps(report))
  read = RunDir(tmp_path).reports()["test"]
  assert read["metrics"] == {"l1": 0.2, "ab_auc": 0.9, "delta_colorfulness": 3.0, "loss": 1.5}
  assert read["gray_baseline"] == {"l1": 0.5, "ab_auc": 0.7}


def _tree_lines(name, state):
  return [
    f"{name}\t{jax.tree_util.keystr(p)}\t{tuple(x.shape)}\t{x.dtype}"
    for p, x in jax.tree_util.tree_flatten_with_path(state)[0]
  ]


def test_state_trees_are_those_of_checkpoints_written_before_the_protocol_change():
  expected = (OLD / "state_trees_a279776.tsv").read_text().splitlines()
  lines = []
  for name, ema in (("unet", None), ("pix2pix", None), ("cgan_l1", 0.5)):
    config = load_config(name, "smoke")
    if ema:
      config.gan.ema_decay = ema
    task = tasks.build(config)
    optimizers = optim.build_all(config, task.optimizers, total_steps=10)
    init = functools.partial(task.init_state, image_size=32, optimizers=optimizers)
    lines += _tree_lines(name + ("_ema" if ema else ""), jax.eval_shape(init, jax.random.key(0)))
  assert lines == expected


@pytest.mark.parametrize("name", ["unet", "cgan_l1_ema"])
def test_a_checkpoint_written_before_the_protocol_change_restores(tmp_path, name):
  workdir = tmp_path / name
  shutil.copytree(OLD / "checkpoint_a279776" / name, workdir)
  # Stored under another name, so the repository holds no folder that looks like a run's output.
  (workdir / "saved_steps").rename(workdir / "checkpoints")
  config = inference.workdir_config(str(workdir))
  task, state, step = inference.restore_state(config, str(workdir), "last")
  assert step == 3
  # It was a fresh init at key 0 (threefry, not partitionable: conftest's setting), equal up to
  # the float rounding of the compilation (written at XLA's default optimisation level, where
  # the suite compiles at level 0: conftest.QUICK_COMPILE_FLAGS).
  optimizers = optim.build_all(config, task.optimizers, total_steps=10)
  fresh = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
    jax.device_get(task.inference_variables(state)),
    jax.device_get(task.inference_variables(fresh)),
  )
  colorizer = inference.from_workdir(str(workdir), "last")
  assert colorizer.predict_rgb(np.zeros((1, 32, 32, 3), np.uint8)).shape == (1, 32, 32, 3)


def test_a_split_without_validation_images_still_trains(load_config, tmp_path, caplog):
  from PIL import Image

  photos = tmp_path / "photos"
  photos.mkdir()
  for i in range(10):
    Image.new("RGB", (40, 40), (20 * i, 100, 200 - 15 * i)).save(photos / f"{i}.png")
  config = load_config("unet", "smoke")
  config.data.source, config.data.path = "folder", str(photos)
  config.data.split_fractions = (1.0, 0.0, 0.0)
  config.num_epochs = 2
  with caplog.at_level("WARNING"):
    result = trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["epochs"] == 2 and result["val"] == {} and result["best_step"] is None
  skipped = [r for r in caplog.records if "val split has no images" in r.getMessage()]
  assert len(skipped) == 1
  epochs = [r for r in read_metrics(str(tmp_path / "run")) if r["kind"] == "epoch"]
  assert len(epochs) == 2 and not any(k.startswith("val/") for r in epochs for k in r)


def test_evaluator_scores_each_real_example_once_and_stops_at_max_examples():
  from colorize_jax.evaluators.evaluator import Evaluator

  config = load_config("unet", "smoke")
  config.task = "toy_mean_color"
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), 32, optim.build_all(config, task.optimizers, None))
  rng = np.random.default_rng(0)
  batches = [
    {"image": rng.integers(0, 256, (8, 32, 32, 3), np.uint8), "mask": np.arange(8) < n}
    for n in (8, 8, 3)
  ]  # The last batch is padded.
  evaluator = Evaluator(task)
  every = evaluator.evaluate(state, iter(batches), with_gray=True)
  assert every.count == 19 and every.positions[-1] == 18 and len(every.values["psnr"]) == 19
  assert "gray/psnr" in every.values and every.means()["examples"] == 19
  first = evaluator.evaluate(state, iter(batches), max_examples=10)  # Two global batches hold 10.
  assert first.count == 16 and "gray/psnr" not in first.values
  np.testing.assert_allclose(first.values["l1"], every.values["l1"][:16])
