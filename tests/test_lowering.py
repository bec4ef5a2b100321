"""Every recipe lowers for GPU and TPU, without either: `jax.export` for ("cuda", "tpu").

What a GPU or TPU build would reject fails here on a CPU-only host: a lowering rule that
exists only for the CPU, a CPU-only custom call (LAPACK, DUCC FFT, a host callback), a dtype
or collective the platform does not lower. For each recipe's :smoke variant, in float32 and
bfloat16, the train step (device augmentation and the task's update), the evaluation's forward
pass (`eval_outputs`) and inference (the Colorizer's model_inputs -> generator -> to_rgb) are
exported with the batch sharded over a 2-device data mesh, under the GPU/TPU formulation
(`conv.formulated_for`): stock XLA convolutions, no CPU formulations. Nothing is compiled:
export traces and lowers to StableHLO only, so the file runs in well under a minute.
"""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from colorize_jax import tasks
from colorize_jax.config import recipes
from colorize_jax.models import conv
from colorize_jax.runtime import parallel
from colorize_jax.train import optim, run_setup

PLATFORMS = ("cuda", "tpu")
# One trace serves both platforms: `formulation` / `transpose_formulation` give every
# non-CPU backend the same stock convolutions (tests/test_conv_backends.py holds them to it).
FORMULATED_FOR = "gpu"
DEVICES = 2
BATCH = 4  # Two examples a device.
RECIPES = [r.name for r in recipes.all_recipes()]

# Custom calls that a GPU and a TPU module may hold: sharding annotations and export's own
# shape checks. Anything else (lapack_*, ducc_*, *_cpu_callback, ...) would tie the module to
# one platform, or to the CPU.
PORTABLE_CUSTOM_CALLS = {
  "Sharding",
  "SPMDFullToShardShape",
  "SPMDShardToFullShape",
  "annotate_device_placement",
  "shape_assertion",
}
_CUSTOM_CALL = re.compile(r"custom_call\s*@([\w.$-]+)|call_target_name\s*=\s*\"([^\"]+)\"")


def custom_calls(exported) -> set[str]:
  """The custom-call targets in an exported module's StableHLO text."""
  return {a or b for a, b in _CUSTOM_CALL.findall(exported.mlir_module())}


def non_portable_calls(exported) -> set[str]:
  return custom_calls(exported) - PORTABLE_CUSTOM_CALLS


def _mesh():
  return jax.make_mesh(
    (DEVICES,),
    (parallel.DATA_AXIS,),
    axis_types=(jax.sharding.AxisType.Auto,),
    devices=jax.devices()[:DEVICES],
  )


def _abstract(tree, sharding):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def _export(fn, *args, in_shardings, out_shardings):
  jitted = jax.jit(fn, in_shardings=in_shardings, out_shardings=out_shardings)
  return jax.export.export(jitted, platforms=PLATFORMS)(*args)


def _check(exported, what: str, dtype: str) -> None:
  assert exported.platforms == PLATFORMS, what
  assert exported.nr_devices == DEVICES, what
  assert not non_portable_calls(exported), (what, non_portable_calls(exported))
  text = exported.mlir_module()
  # The batch really is split on the data axis (Shardy's or GSPMD's annotation).
  assert f'{{"{parallel.DATA_AXIS}"}}' in text or "devices=[2" in text, what
  if dtype == "bfloat16":  # The compute dtype reached the convolutions / matrix products.
    assert re.search(r"stablehlo\.(convolution|dot_general)[^\n]*bf16", text), what


def _recipe_exports(config, dtype: str) -> list[tuple[str, jax.export.Exported]]:
  config.dtype = dtype
  size = int(config.data.image_size)
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=10)
  mesh = _mesh()
  data, rep = NamedSharding(mesh, P(parallel.DATA_AXIS)), NamedSharding(mesh, P())
  key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
  images = jax.ShapeDtypeStruct((BATCH, size, size, 3), jnp.uint8, sharding=data)
  exports = []
  with conv.formulated_for(FORMULATED_FOR), conv.recorded() as choices:
    state = jax.eval_shape(
      functools.partial(task.init_state, image_size=size, optimizers=optimizers),
      jax.random.key(0),
    )
    state = _abstract(state, rep)
    train_step = run_setup.make_train_step(task, config)
    exports.append(
      (
        "train_step",
        _export(
          train_step,
          state,
          {"image": images},
          key,
          in_shardings=(rep, data, rep),
          out_shardings=(rep, rep),
        ),
      )
    )
    inputs, _ = jax.eval_shape(lambda im: task.model_inputs({"image": im}), images)
    inputs = jax.ShapeDtypeStruct(inputs.shape, inputs.dtype, sharding=data)
    exports.append(
      (
        "eval_outputs",
        _export(task.eval_outputs, state, inputs, in_shardings=(rep, data), out_shardings=None),
      )
    )
    variables = _abstract(jax.eval_shape(task.inference_variables, state), rep)

    def colorize(variables, rgb_uint8):  # The colorize CLI's computation (inference.Colorizer).
      batch = {"image": rgb_uint8}
      inputs, _ = task.model_inputs(batch)
      return task.to_rgb(batch, task.generator.apply(variables, inputs, train=False))

    exports.append(
      (
        "colorize",
        _export(colorize, variables, images, in_shardings=(rep, data), out_shardings=data),
      )
    )
  # Every convolution took the stock formulation (the dense recipe has none).
  assert choices or config.model.name == "dense"
  assert {c.how for c in choices} <= {"xla"}, choices
  return exports


@pytest.mark.portability
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_lowers_for_gpu_and_tpu(name, load_config):
  for dtype in ("float32", "bfloat16"):
    exports = _recipe_exports(load_config(name, "smoke"), dtype)
    assert [what for what, _ in exports] == ["train_step", "eval_outputs", "colorize"]
    for what, exported in exports:
      _check(exported, f"{name} {what} {dtype}", dtype)


def test_the_custom_call_check_sees_cpu_only_calls():
  """The check above is not vacuous: a CPU export of an eigendecomposition holds LAPACK."""
  eigh = jax.jit(lambda a: jnp.linalg.eigh(a)[0])
  spec = jax.ShapeDtypeStruct((4, 4), jnp.float32)
  on_cpu = jax.export.export(eigh, platforms=("cpu",))(spec)
  assert any(t.startswith("lapack_") for t in non_portable_calls(on_cpu))
  on_gpu = jax.export.export(eigh, platforms=("cuda",))(spec)
  assert non_portable_calls(on_gpu)  # cuSOLVER: legal on a GPU, but not portable to a TPU.
