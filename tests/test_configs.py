"""Every config file and variant loads as launch.py loads it, every name in it
resolves, and every regression `*smoke` variant learns on a fixed batch."""

import importlib.util
import pathlib

import jax
import numpy as np
import pytest
from conftest import parse_config

from colorize_jax import color, losses, models, registry, tasks
from colorize_jax.losses import classification as cls_losses
from colorize_jax.runtime import parallel
from colorize_jax.train import optim

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.glob("*.py"))


def _module(path):
  spec = importlib.util.spec_from_file_location(f"configs.{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


MODULES = {path.stem: _module(path) for path in FILES}
VARIANTS = [
  (name, v) for name, module in MODULES.items() for v in getattr(module, "VARIANTS", {"": None})
]


def _distinct_smoke_variants():
  """(config, variant) for each `*smoke` variant, once per distinct config (`:smoke` is often
  `:a_smoke`)."""
  seen, out = set(), []
  for name, variant in VARIANTS:
    if "smoke" in variant:
      key = MODULES[name].get_config(variant).to_json_best_effort()
      if key not in seen:
        seen.add(key)
        out.append((name, variant))
  return out


SMOKE = _distinct_smoke_variants()


def _load(name, variant, *overrides):
  """As `launch.py --config=configs/<name>.py:<variant> [--config.x=y ...]`."""
  return parse_config(str(CONFIGS / f"{name}.py") + (f":{variant}" if variant else ""), *overrides)


def _name(section):
  return section if isinstance(section, str) else section.name


def test_configs_are_found():
  assert {"dense", "cnn", "autoencoder", "unet"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_documents_variants_and_command(name):
  module = MODULES[name]
  assert isinstance(getattr(module, "VARIANTS", None), dict), (
    f"configs/{name}.py needs a VARIANTS dict"
  )
  assert "smoke" in module.VARIANTS
  for variant, (description, edit) in module.VARIANTS.items():
    assert isinstance(description, str) and description, variant
    assert edit is None or callable(edit), variant
  assert f"--config=configs/{name}.py" in (module.__doc__ or ""), (
    "the docstring should give the run command"
  )


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_every_name_resolves(name, variant):
  c = _load(name, variant)
  task_cls = registry.get("task", c.task)
  registry.get("color_space", c.data.color_space)
  registry.get("source", c.data.source)
  registry.get("schedule", c.optimizer.schedule)
  space = color.get_color_space(c.data)
  model = models.build(c.model, out_channels=space.target_channels)
  # Tracing init at the config's own image size catches shape errors (divisibility) without the
  # memory.
  size = c.data.image_size
  jax.eval_shape(
    lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, size, size, 1)), train=False)
  )
  # The classification task's spec also names ab losses: the task checks it (task_cls(c) below).
  if isinstance(c.get("loss"), str) and c.task != "classification":
    losses.parse_spec(c.loss)
    losses.Objective(c.loss, value_range=space.target_range, options=c.get("loss_options"))
  if "discriminator" in c:
    models.build(c.discriminator, out_channels=space.target_channels, kind="discriminator")
  if "gan_loss" in c:
    registry.get("gan_loss", _name(c.gan_loss))
  task = task_cls(c)
  assert set(optim.build_all(c, task.optimizers, total_steps=10)) == set(task.optimizers)
  assert c.batch_size % 8 == 0, "batches must split over the 8 test devices"
  if "smoke" in variant:
    assert (c.batch_size, c.data.image_size) == (8, 32)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_unknown_variant_lists_valid_ones(name):
  with pytest.raises(ValueError) as info:
    MODULES[name].get_config("no_such_variant")
  for variant in MODULES[name].VARIANTS:
    if variant:
      assert repr(variant) in str(info.value)


def test_command_line_overrides_keep_types():
  c = _load(
    "dense",
    "smoke",
    "--config.loss=mse:1,ssim:0.2",
    "--config.model.dropout=0.3",
    "--config.model.hidden=(16,)",
  )
  assert c.model.dropout == 0.3 and tuple(c.model.hidden) == (16,)
  assert losses.parse_spec(c.loss) == {"mse": 1.0, "ssim": 0.2}
  with pytest.raises(Exception, match="dropuot"):
    _load("dense", "smoke", "--config.model.dropuot=0.3")


def test_loss_options_only_for_used_losses_and_still_overridable():
  for name, variant in VARIANTS:
    c = _load(name, variant)
    spec = c.loss.strip()  # The classification task's spec also names ab losses.
    used = set(losses.parse_spec(spec, cls_losses.KINDS)) if spec not in ("", "none") else set()
    assert set(c.loss_options) <= used, (name, variant, c.loss_options)
    assert "gan_loss" not in c or set(c.gan_loss_options) <= {c.gan_loss}, (name, variant)
  # A loss switched on the command line takes its options there too, typed and checked.
  c = _load("unet", "smoke", "--config.loss=huber", "--config.loss_options.huber.delta=2")
  assert c.loss_options.huber.delta == 2.0 and isinstance(c.loss_options.huber.delta, float)
  objective = losses.Objective(c.loss, value_range=(0.0, 1.0), options=c.loss_options)
  total, _ = objective(jax.numpy.full((1, 2, 2, 3), 1.5), jax.numpy.zeros((1, 2, 2, 3)))
  np.testing.assert_allclose(total, [0.5 * 1.5**2])  # Quadratic up to delta=2 (1.0 with delta 1).
  c = _load(
    "cgan", "smoke", "--config.gan_loss=wgan_gp", "--config.gan_loss_options.wgan_gp.gp_weight=5"
  )
  assert c.gan_loss_options.wgan_gp.gp_weight == 5.0
  with pytest.raises(Exception, match=r"hubr.*valid: huber, ssim"):
    _load("unet", "smoke", "--config.loss=huber", "--config.loss_options.hubr.delta=2")


def test_recipes_that_share_the_cgan_recipe_load_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  c = _load("cgan_unet_patchgan", "")
  assert (c.model.name, c.discriminator.name, c.loss, c.data.value_range) == (
    "unet_small",
    "patchgan",
    "l1:100",
    (-1.0, 1.0),
  )
  assert _load("cgan_l1", "smoke").model.base_features == 4


def _fixed_batch():
  """Smooth colour gradients whose colour depends on position: learnable, unlike noise."""
  y, x = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32), indexing="ij")
  images = [np.stack([x, y, (x + y) / 2], -1) ** (1 + i / 4) for i in range(8)]
  return {"image": (np.stack(images) * 255).astype(np.uint8)}


@pytest.mark.parametrize("name, variant", SMOKE)
def test_smoke_variant_learns_a_fixed_batch(name, variant):
  c = _load(name, variant)
  if c.task != "regression":
    pytest.skip("adversarial and classification configs are trained by their own tests")
  steps = 25
  task = tasks.build(c)
  optimizers = optim.build_all(c, task.optimizers, total_steps=steps)
  mesh = parallel.make_mesh()
  replicated = parallel.replicated(mesh)
  # "rbg" keys: XLA:CPU compiles threefry slowly (seconds per init), rbg in well under one.
  key = lambda seed: jax.random.key(seed, impl="rbg")
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers), out_shardings=replicated)(key(0))
  batch = jax.device_put(_fixed_batch(), parallel.data_sharding(mesh))
  train_step = jax.jit(
    lambda s, b, k: task.train_step(s, b, jax.random.fold_in(k, s.step)), donate_argnums=(0,)
  )
  losses_seen = []
  for _ in range(steps):
    state, metrics = train_step(state, batch, key(1))
    losses_seen.append(float(metrics["loss"]))
  assert np.all(np.isfinite(losses_seen))
  assert losses_seen[-1] < 0.9 * losses_seen[0], losses_seen
