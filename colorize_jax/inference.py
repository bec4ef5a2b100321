"""Loading a trained model for inference: from a run's workdir or an exported bundle.

Everything goes through the task protocol (tasks/base.py): the task is built
from the run's config exactly as train.py builds it, the state is restored
into an abstract target (`jax.eval_shape`), and only `task.inference_variables(state)`
is kept; photos become network inputs through `task.model_inputs` and predictions
become RGB through `task.to_rgb`, so every model and task (regression, adversarial,
a task that reads hints, ...) loads and colorizes the same way.

Bundle layout (written by colorize_jax/export.py):
  BUNDLE/config.json    the run's resolved config
  BUNDLE/bundle.json    format version, source workdir and step, image size, colour space,
                        and the network's input layout ("inputs": [{"name", "channels"}])
  BUNDLE/variables/     the generator's inference variables (Orbax StandardCheckpointer)

A bundle whose recorded input layout differs from what its task builds today is
refused in one line; bundles written before the layout was recorded load as before.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from colorize_jax import color, tasks
from colorize_jax.config import base as config_base
from colorize_jax.outputs import atomic
from colorize_jax.outputs.rundir import RunDir
from colorize_jax.runtime import parallel, xla_options
from colorize_jax.train import checkpoint, optim

BUNDLE_FORMAT = "colorize_jax.bundle/1"
BUNDLE_VARIABLES = "variables"


def _tuples(value: Any) -> Any:
  """JSON lists back to the tuples configs use (model features, value_range, ...)."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def config_from_json(path: str) -> ml_collections.ConfigDict:
  """A config.json written by train.py (or export) back as a ConfigDict.

  Blocks and fields added to base_config() after the run was trained (e.g.
  `eval`, `early_stopping.monitor`) are filled in with their defaults, so old
  runs keep loading.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f"no config at {path}: is this a run's workdir (or a bundle)?")
  with open(path) as f:
    data = _tuples(json.load(f))
  defaults = config_base.base_config()
  saved = dict(data)  # As written: the merge below makes new section dicts.
  for key in defaults:
    if isinstance(defaults[key], ml_collections.ConfigDict):
      data[key] = defaults[key].to_dict() | (data.get(key) or {})
  config = ml_collections.ConfigDict(data)
  config_base.apply_legacy_values(config, saved)  # e.g. the split of a run begun before a field.
  return config


def workdir_config(workdir: str) -> ml_collections.ConfigDict:
  return config_from_json(os.path.join(workdir, "config.json"))


def _init_for_restore(task, config, image_size: int):
  """`task.init_state` with optimizers built only for their state's shapes: no data, no step
  count."""
  optimizers = optim.build_all(config, task.optimizers, total_steps=None)
  return functools.partial(task.init_state, image_size=image_size, optimizers=optimizers)


def abstract_state(task, config, sharding) -> Any:
  """Shapes and dtypes of `task.init_state`, on `sharding`, without allocating it."""
  init = _init_for_restore(task, config, int(config.data.image_size))
  shapes = jax.eval_shape(init, jax.random.key(0))
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def checkpoints_dir(workdir: str) -> str:
  """WORKDIR/checkpoints, or a one-line FileNotFoundError when the workdir holds none."""
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  if not os.path.isdir(directory):
    raise FileNotFoundError(
      f"no checkpoints folder in {workdir}: train there first (launch.py --mode=train)"
    )
  return directory


def restore_state(config, workdir: str, which: str | int = "best", *, mesh=None):
  """(task, state, step) restored from a workdir's checkpoints: the state only, no data iterator;
  replicated on `mesh` (the caller's, made once; None makes one)."""
  directory = checkpoints_dir(workdir)
  task = tasks.build(config)
  replicated = parallel.replicated(parallel.make_mesh() if mesh is None else mesh)
  target = abstract_state(task, config, replicated)
  ckpts = checkpoint.Checkpoints(directory, async_save=False)
  try:
    step = ckpts.resolve(which)
    state, _ = ckpts.restore(step, target)
  finally:
    ckpts.close()
  return task, state, step


@dataclasses.dataclass(eq=False)
class Colorizer:
  """A task (built from `config`) with its generator's inference variables, replicated over
  every device.

  Batches go in as uint8 photos, sharded on the data axis (`shard`), so
  inference is data-parallel like training. The batch the task sees is
  {"image": photos} plus any `extra` arrays the caller gives (batch-first, e.g.
  a user's colour hints), which its `model_inputs` may read.

  Photos are S x S squares, S the model's `image_size` or any other side its
  network runs at (`size_error`: a fully convolutional network, e.g. a U-Net
  whose side is a multiple of 2^depth; not a fully connected one): a model
  trained at 128 px can colour a photo seen at 256 px, with finer chroma
  detail. jax.jit compiles once per input shape, so each size compiles on its
  first use and is cached after.
  """

  config: ml_collections.ConfigDict
  task: Any
  variables: Any
  step: int | None = None
  source: str = ""

  def __post_init__(self):
    self.color_space = self.task.color_space
    self.image_size = int(self.config.data.image_size)
    mesh = parallel.make_mesh()
    self.data_sharding = parallel.data_sharding(mesh)
    self.num_devices = mesh.size
    self.variables = jax.device_put(self.variables, parallel.replicated(mesh))
    self._predict_rgb = xla_options.jit(self._merged)
    self._chroma_ab = xla_options.jit(self._chroma)
    self._size_errors: dict[int, str | None] = {self.image_size: None}

  @property
  def input_layout(self) -> tuple[tuple[str, int], ...]:
    return self.task.input_layout

  def _merged(self, variables, rgb_uint8, extra=None):
    batch = {"image": rgb_uint8, **(extra or {})}
    inputs, _ = self.task.model_inputs(batch)
    pred = self.task.generate(variables, inputs)
    return self.task.to_rgb(batch, pred)

  def _chroma(self, variables, rgb_uint8, extra=None):
    # One path for every colour space: the chroma of the image the model's
    # output merges into (for Lab models this is their ab, clipped to the
    # displayable gamut at the predicted luminance).
    return color.rgb_to_lab(self._merged(variables, rgb_uint8, extra))[..., 1:]

  def size_error(self, size: int) -> str | None:
    """None when the network runs on size x size photos (predicting size x size), else why not,
    in one line. Traced once per size (no compile, no computation) and remembered."""
    size = int(size)
    if size not in self._size_errors:
      why = "the side must be >= 1" if size < 1 else self._shape_error(size)
      self._size_errors[size] = (
        None
        if why is None
        else f"{self.config.model.name} (trained at {self.image_size} px) cannot run at "
        f"{size}x{size}: {why}"
      )
    return self._size_errors[size]

  def _shape_error(self, size: int) -> str | None:
    photos = jax.ShapeDtypeStruct((1, size, size, 3), jnp.uint8)
    try:
      out = jax.eval_shape(self._merged, self.variables, photos).shape
    except Exception as e:  # pylint: disable=broad-except  (flax and XLA raise many types)
      first = (str(e).strip().splitlines() or [""])[0].split(" (https://")[0]
      return f"{type(e).__name__}: {first[:240]}"
    return None if out == (1, size, size, 3) else f"it predicts {out[1]}x{out[2]}"

  def shard(self, array: np.ndarray) -> jax.Array:
    """Pads a batch-first array to a multiple of the device count and shards it; slice
    results to len()."""
    array = np.asarray(array)
    pad = -len(array) % self.num_devices
    if pad:
      array = np.concatenate([array, np.zeros((pad,) + array.shape[1:], array.dtype)])
    return jax.device_put(array, self.data_sharding)

  def _sharded_extra(self, rgb_uint8: np.ndarray, extra: dict) -> dict | None:
    for name, value in extra.items():
      if len(value) != len(rgb_uint8):
        raise ValueError(
          f"extra input {name!r} holds {len(value)} item(s) for {len(rgb_uint8)} photo(s)"
        )
    return {name: self.shard(value) for name, value in extra.items()} or None

  def predict_rgb(self, rgb_uint8: np.ndarray, **extra) -> np.ndarray:
    """uint8 [B, S, S, 3] (and the task's extra inputs) -> predicted RGB in [0, 1], [B, S, S, 3].
    S: the model's image_size, or another side the network runs at (`size_error`)."""
    out = self._predict_rgb(
      self.variables, self.shard(rgb_uint8), self._sharded_extra(rgb_uint8, extra)
    )
    return np.asarray(out)[: len(rgb_uint8)]

  def chroma_ab(self, rgb_uint8: np.ndarray, **extra) -> np.ndarray:
    """uint8 [B, S, S, 3] (and the task's extra inputs) -> predicted Lab ab [B, S, S, 2]; S as for
    `predict_rgb`."""
    out = self._chroma_ab(
      self.variables, self.shard(rgb_uint8), self._sharded_extra(rgb_uint8, extra)
    )
    return np.asarray(out)[: len(rgb_uint8)]


def reported_step(workdir: str) -> int | None:
  """The step of the weights the run's end-of-run reports scored (final_metrics.json: its best
  with early_stopping.restore_best, else its last); None before the run has finished."""
  final = RunDir(workdir).final()
  return None if final is None else final.get("step")


def warn_if_not_the_reported_weights(
  workdir: str, which: str, step: int, flag: str = "--checkpoint", doing: str = "using"
) -> None:
  """One line when checkpoint `which` (step `step`) is not the one the run's own reports scored:
  e.g. the default 'best' of a run trained with restore_best off (the reference study's), whose
  eval/<name>.json, final_metrics.json and shipped bundle are of its last weights."""
  reported = reported_step(workdir)
  if reported is not None and reported != step:
    logging.warning(
      "%s checkpoint %s (step %d) of %s, but the run's own end-of-run reports scored step %d; "
      "%s=%d uses those weights",
      doing,
      which,
      step,
      workdir,
      reported,
      flag,
      reported,
    )


def from_workdir(workdir: str, which: str | int = "best") -> Colorizer:
  config = workdir_config(workdir)
  task, state, step = restore_state(config, workdir, which)
  warn_if_not_the_reported_weights(workdir, str(which), step)
  return Colorizer(
    config,
    task,
    task.inference_variables(state),
    step=step,
    source=os.path.abspath(workdir),
  )


def abstract_inference_variables(task, config, sharding) -> Any:
  """Shapes of `task.inference_variables(state)`: the export's restore target."""
  init = _init_for_restore(task, config, int(config.data.image_size))
  shapes = jax.eval_shape(lambda key: task.inference_variables(init(key)), jax.random.key(0))
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def write_bundle(colorizer: Colorizer, output: str) -> str:
  """Config + inference variables only: what `from_bundle` needs, nothing of the training state."""
  output = os.path.abspath(output)
  variables_dir = os.path.join(output, BUNDLE_VARIABLES)
  if os.path.exists(variables_dir):
    raise FileExistsError(f"{output} already holds a bundle; choose another --output or remove it")
  os.makedirs(output, exist_ok=True)
  atomic.write_text(
    os.path.join(output, "config.json"), colorizer.config.to_json_best_effort(indent=2)
  )
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(variables_dir, colorizer.variables)
  checkpointer.wait_until_finished()
  counts = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(colorizer.variables))
  meta = {
    "format": BUNDLE_FORMAT,
    "source_workdir": colorizer.source,
    "step": colorizer.step,
    "task": colorizer.config.task,
    "model": colorizer.config.model.name,
    "image_size": colorizer.image_size,
    "color_space": colorizer.color_space.name,
    "inputs": layout_to_json(colorizer.input_layout),
    "num_values": counts,
  }
  atomic.write_json(os.path.join(output, "bundle.json"), meta)
  return output


def from_bundle(bundle: str) -> Colorizer:
  bundle = os.path.abspath(bundle)
  meta_path = os.path.join(bundle, "bundle.json")
  if not os.path.exists(meta_path):
    raise FileNotFoundError(
      f"{bundle} is not an inference bundle (no bundle.json); "
      "write one with python -m colorize_jax.export"
    )
  with open(meta_path) as f:
    meta = json.load(f)
  if meta.get("format") != BUNDLE_FORMAT:
    raise ValueError(f"{bundle}: bundle format {meta.get('format')!r} is not {BUNDLE_FORMAT!r}")
  config = config_from_json(os.path.join(bundle, "config.json"))
  # The task only supplies the generator's definition; no state is allocated.
  task = tasks.build(config)
  check_layout(bundle, meta, task)
  replicated = parallel.replicated(parallel.make_mesh())
  target = abstract_inference_variables(task, config, replicated)
  variables = ocp.StandardCheckpointer().restore(os.path.join(bundle, BUNDLE_VARIABLES), target)
  return Colorizer(config, task, variables, step=meta.get("step"), source=bundle)


def layout_to_json(layout) -> list[dict]:
  return [{"name": str(name), "channels": int(channels)} for name, channels in layout]


def _describe(layout) -> str:
  return " + ".join(f"{name}({channels})" for name, channels in layout)


def check_layout(bundle: str, meta: dict, task) -> None:
  """Refuses a bundle whose network reads other inputs than its task builds; bundles written
  before the layout was recorded (no "inputs") are taken as they are."""
  saved = meta.get("inputs")
  if saved is None:
    return
  recorded = tuple((item["name"], int(item["channels"])) for item in saved)
  expected = tuple((str(name), int(channels)) for name, channels in task.input_layout)
  if recorded != expected:
    raise ValueError(
      f"{bundle}: its network reads inputs {_describe(recorded)} but task "
      f"{meta.get('task')!r} builds {_describe(expected)} in this version; export the run "
      "again with this version (python -m colorize_jax.export)"
    )


def load(
  workdir: str | None = None, bundle: str | None = None, which: str | int = "best"
) -> Colorizer:
  """Exactly one of a workdir (its `which` checkpoint) or a bundle."""
  if bool(workdir) == bool(bundle):
    raise ValueError(
      f"give exactly one of a workdir or a bundle, got workdir={workdir!r} bundle={bundle!r}"
    )
  return from_workdir(workdir, which) if workdir else from_bundle(bundle)


@jax.jit
def recombine(rgb_uint8: jax.Array, ab: jax.Array) -> jax.Array:
  """The input's own luminance L with chroma `ab`, as uint8 RGB: [..., H, W, 3] x [..., H, W, 2]."""
  lightness = color.rgb_to_lab(color.to_unit(rgb_uint8))[..., :1]
  rgb = color.lab_to_rgb(jnp.concatenate([lightness, ab.astype(jnp.float32)], axis=-1))
  return jnp.round(jnp.clip(rgb, 0.0, 1.0) * 255.0).astype(jnp.uint8)
