"""One file per plug-in: a new task and a new model, each one new file in a copy of the
repository (nothing else edited), train, evaluate and colorize through the commands users run.

The toy task's network reads more than the gray image (a coarse red hint built from the
batch, hidden from half the photos in training), so every path that builds model inputs
(training, validation, --mode=eval, export, colorize, the pre-flight shape check) must go
through the task's `model_inputs`: one that handed the network the gray image alone would
meet a 2-channel kernel and fail.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, load_config, xla_flags
from PIL import Image

from colorize_jax import color, inference, registry, tasks
from colorize_jax.tasks import base
from colorize_jax.train import optim

TASK_FILE = '''
"""A toy task: the gray image and a coarse red hint in, the colour space's target out."""

import jax
import jax.numpy as jnp

from colorize_jax import color, models, registry
from colorize_jax.tasks import base


@registry.register("task", "toy_coarse_hint")
class CoarseHintTask(base.BaseTask):
  input_layout = (("gray", 1), ("coarse_red", 1))

  def __init__(self, config):
    self.color_space = color.get_color_space(config.data)
    self.generator = models.build(config.model, out_channels=self.color_space.target_channels)

  def model_inputs(self, batch, rng=None):
    gray, targets = self.color_space.split(batch["image"])
    red = batch["image"][..., :1].astype(jnp.float32) / 255.0
    b, h, w, _ = red.shape
    coarse = red.reshape(b, h // 8, 8, w // 8, 8, 1).mean(axis=(2, 4))
    coarse = jnp.repeat(jnp.repeat(coarse, 8, axis=1), 8, axis=2)
    if rng is not None:  # Training hides the hint from about half the photos.
      coarse = coarse * jax.random.bernoulli(rng, 0.5, (b, 1, 1, 1))
    return jnp.concatenate([gray, coarse], axis=-1), targets

  def init_state(self, rng, image_size, optimizers):
    inputs = self.example_inputs(image_size)
    return base.new_state(self.generator, optimizers["model"], rng, inputs)

  def loss_terms(self, pred, target, aux=None):
    del aux
    l1 = jnp.mean(jnp.abs(pred - target).reshape(pred.shape[0], -1), axis=1)
    return {"loss": l1, "loss/l1": l1}

  def train_step(self, state, batch, rng):
    inputs, targets = self.model_inputs(batch, base.inputs_key(rng))

    def objective(params):
      pred, mutated = base.apply_training(state, params, inputs, rng)
      return self.loss_terms(pred, targets), mutated

    return base.gradient_step(state, objective)
'''

MODEL_FILE = '''
"""A toy generator: two 3x3 convolutions, sigmoid output."""

import flax.linen as nn

from colorize_jax import registry


@registry.register("model", "toy_net")
class ToyNet(nn.Module):
  out_channels: int = 3
  features: int = 8

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    del train
    x = nn.relu(nn.Conv(self.features, (3, 3))(inputs))
    return nn.sigmoid(nn.Conv(self.out_channels, (3, 3))(x))
'''

CONFIG_FILE = '''
"""Toy plug-in recipe: task toy_coarse_hint with model toy_net (tests/test_plugins.py)."""

import ml_collections

from colorize_jax.config import base as config_base


def get_config(arg=None):
  del arg
  c = config_base.base_config()
  config_base.make_smoke(c)
  c.task = "toy_coarse_hint"
  c.model = ml_collections.ConfigDict({"name": "toy_net", "features": 8})
  c.loss = "l1"
  c.optimizer.learning_rate = 0.01
  return c
'''


def _copy_with_plugins(root):
  """The repository's package, recipes and launcher, plus the three new files."""
  ignore = shutil.ignore_patterns("__pycache__")
  shutil.copytree(ROOT / "colorize_jax", root / "colorize_jax", ignore=ignore)
  shutil.copytree(ROOT / "configs", root / "configs", ignore=ignore)
  shutil.copy(ROOT / "launch.py", root / "launch.py")
  for path, text in (
    ("colorize_jax/tasks/toy_coarse_hint.py", TASK_FILE),
    ("colorize_jax/models/toy_net.py", MODEL_FILE),
    ("configs/toy_plugin.py", CONFIG_FILE),
  ):
    (root / path).write_text(textwrap.dedent(text).lstrip())


def _run(root, *args):
  done = subprocess.run(
    [sys.executable, *args],
    cwd=root,
    env=os.environ
    | {
      "PYTHONPATH": str(root),  # The copy's package, not the installed one.
      "XLA_FLAGS": xla_flags(8),
      "JAX_PLATFORMS": "cpu",
    },
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  return done


@pytest.mark.slow
def test_a_task_and_a_model_as_one_file_each_train_evaluate_and_colorize(tmp_path):
  root = tmp_path / "repo"
  _copy_with_plugins(root)
  workdir, bundle, out = tmp_path / "run", tmp_path / "bundle", tmp_path / "out"
  config = "--config=configs/toy_plugin.py"

  _run(root, "launch.py", config, f"--workdir={workdir}")
  final = json.loads((workdir / "final_metrics.json").read_text())
  assert final["params"] == {"model": 3 * 3 * 2 * 8 + 8 + 3 * 3 * 8 * 3 + 3}  # 2 input channels.
  assert np.isfinite(final["test"]["psnr"]) and final["test"]["examples"] > 0
  steps = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  steps = [r for r in steps if r["kind"] == "step"]
  assert steps and all(
    r["train/opt/model/lr"] == pytest.approx(0.01) and r["train/opt/model/grad_norm"] > 0
    for r in steps
  )

  _run(root, "launch.py", config, f"--workdir={workdir}", "--mode=eval")
  report = json.loads((workdir / "eval" / "test.json").read_text())
  assert report["examples"] > 0 and np.isfinite(report["metrics"]["loss"])
  assert (workdir / "eval" / "test.png").exists()

  _run(root, "-m", "colorize_jax.export", f"--workdir={workdir}", f"--output={bundle}")
  meta = json.loads((bundle / "bundle.json").read_text())
  assert meta["inputs"] == [{"name": "gray", "channels": 1}, {"name": "coarse_red", "channels": 1}]

  photo = np.random.default_rng(0).integers(0, 256, (37, 50, 3), np.uint8)
  Image.fromarray(photo).save(tmp_path / "photo.png")
  _run(
    root, "-m", "colorize_jax.colorize", f"--bundle={bundle}", str(tmp_path / "photo.png"),
    f"--output={out}",
  )  # fmt: skip
  assert Image.open(out / "photo.png").size == (50, 37)


# -- the seam in process: extra batch keys, a layout that lies -------------------------------


class _Tint(nn.Module):
  """A 1x1 convolution with every weight 1: its output moves with every input channel."""

  @nn.compact
  def __call__(self, inputs, *, train: bool):
    del train
    return nn.sigmoid(nn.Conv(3, (1, 1), kernel_init=nn.initializers.ones)(inputs))


@registry.register("task", "toy_tinted")
class TintedTask(base.BaseTask):
  """Reads a per-photo "tint" from the batch when the caller gives one (0 otherwise)."""

  input_layout = (("gray", 1), ("tint", 1))

  def __init__(self, config):
    del config
    self.color_space = color.RgbSpace()
    self.generator = _Tint()

  def model_inputs(self, batch, rng=None):
    gray, targets = self.color_space.split(batch["image"])
    tint = batch.get("tint")
    tint = jnp.zeros(gray.shape[0]) if tint is None else tint.astype(gray.dtype)
    tint = jnp.broadcast_to(tint[:, None, None, None], gray.shape)
    return jnp.concatenate([gray, tint], axis=-1), targets

  def init_state(self, rng, image_size, optimizers):
    return base.new_state(self.generator, optimizers["model"], rng, self.example_inputs(image_size))


def _tinted():
  config = load_config("unet", "smoke")
  config.task = "toy_tinted"
  task = tasks.build(config)
  state = task.init_state(jax.random.key(0), 32, optim.build_all(config, task.optimizers, None))
  return config, task, state


def test_colorizer_hands_the_task_the_extra_batch_keys_a_caller_gives():
  config, task, state = _tinted()
  colorizer = inference.Colorizer(config, task, task.inference_variables(state))
  photos = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), np.uint8)
  plain = colorizer.predict_rgb(photos)
  tinted = colorizer.predict_rgb(photos, tint=np.array([0.0, 1.0, 2.0], np.float32))
  np.testing.assert_allclose(tinted[0], plain[0], atol=1e-6)  # Tint 0 is the default.
  assert np.all(tinted[1:] > plain[1:] + 1e-3)
  with pytest.raises(ValueError, match="extra input 'tint' holds 2 item"):
    colorizer.predict_rgb(photos, tint=np.zeros(2, np.float32))


def test_a_layout_that_does_not_match_the_inputs_fails_at_init():
  config, task, _ = _tinted()
  task.input_layout = (("gray", 1),)
  with pytest.raises(ValueError, match=r"gives 2 channel\(s\) but its input_layout"):
    task.init_state(jax.random.key(0), 32, optim.build_all(config, task.optimizers, None))
