"""Every config file and variant loads as launch.py loads it, every name in it
resolves, and every regression `*smoke` variant learns on a fixed batch."""

import importlib.util
import pathlib

import jax
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from colorize_jax import color, losses, models, parallel, registry, tasks

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.glob("*.py"))


def _module(path):
  spec = importlib.util.spec_from_file_location(f"configs.{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


MODULES = {path.stem: _module(path) for path in FILES}
VARIANTS = [(name, v) for name, module in MODULES.items() for v in getattr(module, "VARIANTS", {"": None})]


def _distinct_smoke_variants():
  """(config, variant) for each `*smoke` variant, once per distinct config (`:smoke` is often `:a_smoke`)."""
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
  """Through config_flags, as `launch.py --config=configs/<name>.py:<variant> [--config.x=y ...]`."""
  path = str(CONFIGS / f"{name}.py") + (f":{variant}" if variant else "")
  argv = ["launch.py", f"--config={path}", *overrides]
  flag_values = flags.FlagValues()
  # config_flags finds the `--config.x=y` overrides in the argv it is given here.
  config_flags.DEFINE_config_file("config", flag_values=flag_values, sys_argv=argv)
  flag_values(argv)
  return flag_values.config


def _name(section):
  return section if isinstance(section, str) else section.name


def test_configs_are_found():
  assert {"dense", "cnn", "autoencoder", "unet"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_documents_variants_and_command(name):
  module = MODULES[name]
  assert isinstance(getattr(module, "VARIANTS", None), dict), f"configs/{name}.py needs a VARIANTS dict"
  assert "smoke" in module.VARIANTS
  assert f"--config=configs/{name}.py" in (module.__doc__ or ""), "the docstring should give the run command"


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_every_name_resolves(name, variant):
  c = _load(name, variant)
  task_cls = registry.get("task", c.task)
  registry.get("color_space", c.data.color_space)
  registry.get("source", c.data.source)
  registry.get("schedule", c.optimizer.schedule)
  space = color.get_color_space(c.data)
  model = models.build(c.model, out_channels=space.target_channels)
  # Tracing init at the config's own image size catches shape errors (divisibility) without the memory.
  size = c.data.image_size
  jax.eval_shape(lambda: model.init(jax.random.key(0), jax.numpy.zeros((1, size, size, 1)), train=False))
  if isinstance(c.get("loss"), str) and c.task != "classification":  # Its own spec: the task checks it.
    losses.parse_spec(c.loss)
    losses.Objective(c.loss, value_range=space.target_range, options=c.get("loss_options"))
  if "discriminator" in c:
    models.build(c.discriminator, out_channels=space.target_channels, kind="discriminator")
  if "gan_loss" in c:
    registry.get("gan_loss", _name(c.gan_loss))
  assert task_cls(c, 10) is not None
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
  c = _load("dense", "smoke", "--config.loss=mse:1,ssim:0.2", "--config.model.dropout=0.3",
            "--config.model.hidden=(16,)")
  assert c.model.dropout == 0.3 and tuple(c.model.hidden) == (16,)
  assert losses.parse_spec(c.loss) == {"mse": 1.0, "ssim": 0.2}
  with pytest.raises(Exception, match="dropuot"):
    _load("dense", "smoke", "--config.model.dropuot=0.3")


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
  task = tasks.build(c, total_steps=steps)
  mesh = parallel.make_mesh()
  replicated = parallel.replicated(mesh)
  # "rbg" keys: XLA:CPU compiles threefry slowly (seconds per init), rbg in well under one.
  key = lambda seed: jax.random.key(seed, impl="rbg")
  state = jax.jit(lambda k: task.init_state(k, 32), out_shardings=replicated)(key(0))
  batch = jax.device_put(_fixed_batch(), parallel.data_sharding(mesh))
  train_step = jax.jit(
      lambda s, b, k: task.train_step(s, b, jax.random.fold_in(k, s.step)), donate_argnums=(0,))
  losses_seen = []
  for _ in range(steps):
    state, metrics = train_step(state, batch, key(1))
    losses_seen.append(float(metrics["loss"]))
  assert np.all(np.isfinite(losses_seen))
  assert losses_seen[-1] < 0.9 * losses_seen[0], losses_seen
