"""What the training loop, the evaluator and inference need from a task.

A task is a bundle of pure functions plus a few declarations; the loop jits
the functions, shards them and owns all I/O. A new task is one registered
class (`@registry.register("task", NAME)`) that satisfies `Task` below,
usually by extending `BaseTask`, which supplies the defaults the built-in
tasks share, so a task states only what differs. Nothing outside the task's
own file reads more of it (tests/test_plugins.py adds a task and a model as
one file each and trains, evaluates and colorizes with them).

The batch-level seam (docs/DESIGN.md, "Contracts worth keeping"): a task builds
its network's inputs and its targets from the batch, `model_inputs(batch, rng)`.
The batch is a dict with at least "image" (uint8 RGB [B, H, W, 3]); other keys
may carry more (e.g. colour hints a user gives at colorize time). Training,
validation, `--mode=eval`, colorize/Colorizer, export and the pre-flight shape
check all go through it; nothing else splits a photo into model inputs, so a
task whose network reads more than the gray image (hints, a reference, a mask)
needs no edit outside its file. `input_layout` names the channels the inputs
hold; a bundle records it and colorize refuses a bundle whose layout differs.

Life of a task:
  task = tasks.build(config)                     # from the config alone: no data, no step count
  task.prepare(data, workdir)                    # training only: constants from the train split
  optimizers = optim.build_all(config, task.optimizers, total_steps)   # built by the loop
  state = task.init_state(rng, image_size, optimizers)
  state, metrics = task.train_step(state, batch, rng)                  # metrics: scalars
  inputs, targets = task.model_inputs(batch)                           # rng only when sampling
  pred = task.predict(state, inputs)                                   # inference, sample grids
  pred, aux = task.eval_outputs(state, inputs)                         # evaluation: one pass
  terms = task.loss_terms(pred, targets, aux)                          # [B] 'loss', 'loss/<t>'
  rgb = task.to_rgb(batch, pred)                                       # RGB in [0, 1]
  gray = task.gray_prediction(batch)                                   # the gray baseline

`eval_outputs` exists because a task's loss may need more of the forward
pass than the prediction: the classification task predicts the annealed-mean
ab but its loss is a cross-entropy over the per-bin logits (weighted by the
rebalancing weights in its state). It returns them as `aux`, so the evaluator
still runs the network once per batch; tasks whose loss reads the prediction
alone return `(self.predict(state, inputs), None)` and ignore `aux`.

Metric names follow one vocabulary (colorize_jax/evaluators/metrics.py): the evaluator
adds l1, mse, psnr, ssim, colorfulness, delta_colorfulness and ab_auc to the
task's loss terms; records are `train/<k>` and `val/<k>`. Train steps also
return each optimizer's diagnostics, `opt/<optimizer>/{lr, grad_norm,
update_norm, param_norm}` (`apply_gradients`), computed inside the jitted step.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from colorize_jax.models import layers
from colorize_jax.train import optim

# What the one input channel of the built-in tasks is, per colour space (input_layout).
_LUMINANCE_CHANNEL = {"rgb": "gray", "lab": "L"}

# fold_in constant of the key `model_inputs` draws from in a train step: the step's own key
# keeps feeding dropout and penalties exactly as before tasks could sample inputs.
_INPUTS_STREAM = 0x1B9E7


class TrainState(train_state.TrainState):
  """Flax's TrainState plus BatchNorm statistics ({} for models without BN)."""

  batch_stats: Any = flax.struct.field(default_factory=dict)


class EmaTrainState(TrainState):
  """A TrainState with, when config.ema_decay > 0, the exponential moving average of the
  variables ({"params", "batch_stats"}) that evaluation, sample grids, colorize and export
  read. A class of its own, so checkpoints of runs without EMA keep their tree (and those
  written before EMA existed restore)."""

  ema: Any = None


# EMA warm-up: the decay at update t is min(decay, (1 + t) / (EMA_WARMUP + t)), as
# tf.train.ExponentialMovingAverage's num_updates. A fixed 0.999 from step 0 leaves
# 0.999^N of the random initialisation in the averaged weights (26% after 1,344 steps);
# with the warm-up the first update keeps 1/10 of it and the share falls below 1% within
# a few steps, while the decay still reaches its configured value (after ~9,000 steps for 0.999).
EMA_WARMUP = 10.0


def ema_decay_at(decay: float, step) -> jax.Array:
  """The EMA decay of the update that starts at `step` (0-based): warmed up, capped at `decay`."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (EMA_WARMUP + step))


def ema_update(ema, variables, decay: float, step):
  """The EMA after one update that started at `step`, towards `variables`."""
  rate = 1.0 - ema_decay_at(decay, step)
  return jax.tree.map(lambda e, v: e + rate * (v - e), ema, variables)


def ema_decay_of(config) -> float:
  """config.ema_decay (every task; 0 = off), checked. Runs saved before it existed carry a
  GAN's as gan.ema_decay."""
  decay = config.get("ema_decay")
  if decay is None:
    decay = (config.get("gan") or {}).get("ema_decay", 0.0)
  decay = float(decay)
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"ema_decay must be in [0, 1) (0 = off, e.g. 0.999); got {decay}")
  return decay


class Task(Protocol):
  """Everything the loop, the evaluator, the outputs and inference read from a task."""

  # Optimizer name -> the config section that configures it ({"model": "optimizer"};
  # a GAN: {"g": "optimizer", "d": "d_optimizer"}). The loop builds one optax
  # optimizer per name, with the run's schedule, and passes them to init_state.
  optimizers: ClassVar[dict[str, str]]
  # The validation metric early stopping and "best" checkpoints track when
  # config.early_stopping.monitor is '' (e.g. "val/loss"); its direction comes
  # from metrics.direction().
  monitor: ClassVar[str]
  # Training metrics (keys of train_step's metrics) on the console's progress line.
  console_keys: ClassVar[tuple[str, ...]]
  # plots/loss.png: panel title -> metrics.jsonl keys ("train/...", "val/...").
  plot_panels: ClassVar[dict[str, list[str]]]

  # How uint8 photos become RGB targets and back (colorize_jax.color): `to_rgb` merges a
  # prediction with the photo's luminance through it.
  color_space: Any
  # The network that colorizes: `generate(variables, inputs)` (by default
  # `generator.apply(variables, inputs, train=False)`) with `inputs` from `model_inputs` and
  # the variables of `inference_variables`.
  generator: Any
  # The channels of `model_inputs`' inputs, in order: ((meaning, count), ...), e.g.
  # (("L", 1),) or (("L", 1), ("hint_ab", 2), ("hint_mask", 1)). Bundles record it.
  input_layout: tuple[tuple[str, int], ...]

  def model_inputs(self, batch: dict, rng: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(network inputs [B, H, W, C], targets [B, H, W, T]) of a batch (jit-able).

    `batch["image"]` is uint8 RGB; other keys may carry extra inputs (a user's hints).
    `rng` is given in training, where a task may sample (hints, masks); evaluation and
    inference pass None, and a task that samples then draws deterministically or reads
    the batch. C is the sum of `input_layout`'s counts."""

  def to_rgb(self, batch: dict, pred: jax.Array) -> jax.Array:
    """RGB in [0, 1] [B, H, W, 3] of a prediction for `batch` (e.g. the photo's own luminance
    with the predicted ab)."""

  def gray_prediction(self, batch: dict) -> jax.Array:
    """The prediction that colours nothing (target space): the gray baseline of the metrics."""

  def prepare(self, data: Any, workdir: str) -> None:
    """Called by the training loop once, before init_state, with the run's DataPipeline and
    workdir: constants the task learns from the train split (the classification task's ab
    prior), to be carried in the train state. A no-op for most tasks; inference and evaluation
    never call it (they restore the state)."""

  def init_state(
    self, rng: jax.Array, image_size: int, optimizers: dict[str, optax.GradientTransformation]
  ) -> Any:
    """A fresh train state; `state.step` (int32 scalar) is the only field the loop reads."""

  def train_step(self, state: Any, batch: dict, rng: jax.Array) -> tuple[Any, dict]:
    """One update on a batch of uint8 images: (new state, {name: scalar})."""

  def predict(self, state: Any, inputs: jax.Array) -> jax.Array:
    """Model outputs (target space) for model inputs, in inference mode."""

  def eval_outputs(self, state: Any, inputs: jax.Array) -> tuple[jax.Array, Any]:
    """One inference-mode forward pass: (the prediction `predict` gives, `aux` for loss_terms:
    whatever else the loss needs from the pass, or None)."""

  def loss_terms(self, pred: jax.Array, target: jax.Array, aux: Any = None) -> dict[str, jax.Array]:
    """Per-example ([B]) evaluation objective of a prediction: 'loss' and 'loss/<term>'.
    `aux` is eval_outputs' (tasks that need none accept and ignore it)."""

  def inference_variables(self, state: Any) -> dict:
    """The generator's variables for inference and export (EMA weights when a task keeps them)."""

  def param_counts(self, state: Any) -> dict[str, int]:
    """Parameters per network, for the log and the final report."""


class BaseTask:
  """The defaults of `Task`: one optimizer, the photo's luminance in, the colour space's
  target out, inference through `generator` with the state's variables.

  A subclass sets `self.color_space` and `self.generator` in `__init__` and writes
  `init_state`, `train_step` and `loss_terms`; it overrides `model_inputs` and
  `input_layout` when its network reads more than the luminance (and `to_rgb` /
  `gray_prediction` when its prediction is not the colour space's target).
  """

  optimizers: ClassVar[dict[str, str]] = {"model": "optimizer"}
  monitor: ClassVar[str] = "val/loss"
  console_keys: ClassVar[tuple[str, ...]] = ("loss",)
  plot_panels: ClassVar[dict[str, list[str]]] = {"loss": ["train/loss", "val/loss"]}

  color_space: Any
  generator: Any

  # -- the batch seam -----------------------------------------------------------

  @property
  def input_layout(self) -> tuple[tuple[str, int], ...]:
    name = self.color_space.name
    return ((_LUMINANCE_CHANNEL.get(name, f"{name}_luminance"), 1),)

  def model_inputs(self, batch: dict, rng: jax.Array | None = None):
    del rng  # Nothing sampled: the photo's luminance in, its colour out.
    return self.color_space.split(batch["image"])

  def luminance(self, batch: dict) -> jax.Array:
    """The colour space's input of the photo (what `to_rgb` merges a prediction with)."""
    return self.color_space.split(batch["image"])[0]

  def to_rgb(self, batch: dict, pred: jax.Array) -> jax.Array:
    return self.color_space.merge(self.luminance(batch), pred)

  def gray_prediction(self, batch: dict) -> jax.Array:
    return self.color_space.gray_target(self.luminance(batch))

  def example_inputs(self, image_size: int) -> jax.Array:
    """`model_inputs` of one black photo [1, S, S, 3]: what init traces the networks with.
    Checked against `input_layout`, so a layout that lies fails here, not in a bundle."""
    inputs, _ = self.model_inputs(example_batch(image_size))
    expected = sum(count for _, count in self.input_layout)
    if inputs.shape[-1] != expected:
      raise ValueError(
        f"{type(self).__name__}.model_inputs gives {inputs.shape[-1]} channel(s) but its "
        f"input_layout {self.input_layout} declares {expected}"
      )
    return inputs

  # -- defaults -------------------------------------------------------------------

  def prepare(self, data, workdir: str) -> None:
    del data, workdir  # Nothing learned from the data before training.

  def inference_variables(self, state) -> dict:
    ema = getattr(state, "ema", None)
    return ema if ema is not None else variables_of(state)

  def generate(self, variables, inputs):
    """The generator at test time: the one call evaluation, sample grids, colorize and export
    make (`predict`, inference.Colorizer). Deterministic (train=False) unless a task offers
    another test-time mode (tasks/adversarial.py: pix2pix's)."""
    return self.generator.apply(variables, inputs, train=False)

  def predict(self, state, inputs):
    return self.generate(self.inference_variables(state), inputs)

  def eval_outputs(self, state, inputs):
    return self.predict(state, inputs), None

  def param_counts(self, state) -> dict[str, int]:
    return {"model": layers.count_params(state.params)}


def example_batch(image_size: int, batch_size: int = 1) -> dict:
  """A batch of black photos, as the pipeline ships them (uint8 RGB)."""
  return {"image": jnp.zeros((batch_size, image_size, image_size, 3), jnp.uint8)}


def inputs_key(rng: jax.Array) -> jax.Array:
  """The key a train step hands `model_inputs` (a stream of its own: see _INPUTS_STREAM)."""
  return jax.random.fold_in(rng, _INPUTS_STREAM)


def new_state(
  model, tx: optax.GradientTransformation, rng: jax.Array, inputs, ema_decay: float = 0.0
) -> TrainState:
  """Initialise a single-input network (a generator or regression model) on example `inputs`
  (`BaseTask.example_inputs`), with an EMA of its variables when `ema_decay` > 0."""
  variables = model.init({"params": rng, "dropout": rng}, inputs, train=False)
  fields = {
    "apply_fn": model.apply,
    "params": variables["params"],
    "tx": tx,
    "batch_stats": variables.get("batch_stats", {}),
  }
  if not ema_decay:
    return TrainState.create(**fields)
  state = EmaTrainState.create(**fields)
  return state.replace(ema=variables_of(state))


def predicted_rgb(task, state, rgb_uint8, **extra):
  """RGB in [0, 1] of a task's inference-mode colorization of uint8 photos (jit-able); `extra`:
  the batch's other keys (e.g. hints)."""
  batch = {"image": rgb_uint8, **extra}
  inputs, _ = task.model_inputs(batch)
  return task.to_rgb(batch, task.predict(state, inputs))


def variables_of(state: TrainState) -> dict:
  variables = {"params": state.params}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  return variables


def with_prefix(prefix: str, terms: dict) -> dict:
  """{'l1': x} -> {'loss/l1': x}: an objective's terms under one prefix."""
  return {f"{prefix}/{k}": v for k, v in terms.items()}


def apply_training(state: TrainState, params, inputs, rng, **kwargs):
  """`state`'s network on `inputs` in train mode with `params`: (output, mutated
  collections). Dropout draws from `rng`; BatchNorm statistics come back updated."""
  return state.apply_fn(
    {"params": params, "batch_stats": state.batch_stats},
    inputs,
    train=True,
    rngs={"dropout": rng},
    mutable=["batch_stats"],
    **kwargs,
  )


def optimizer_metrics(name: str, before: TrainState, after: TrainState, grads) -> dict:
  """One update's diagnostics, computed in the step (no host sync): `opt/<name>/lr` (the
  schedule's value at the step; absent for optimizers not built by train/optim.py), the
  global norms of the gradient (before any clipping), of the applied update and of the
  parameters after it; with `skip_nonfinite_updates`, `skipped_updates` (so far, resumed with
  the state). A diverging run shows inf or NaN here, or a parameter norm far beyond its
  initial one, which the loop's check stops (train/hooks.py, StepLog)."""
  update = jax.tree.map(jnp.subtract, after.params, before.params)
  out = {
    "grad_norm": optax.tree.norm(grads),
    "update_norm": optax.tree.norm(update),
    "param_norm": optax.tree.norm(after.params),
  }
  lr = optim.learning_rate(before.tx, before.step, before.opt_state)
  if lr is not None:
    out["lr"] = lr
  skipped = optim.skipped_updates(after.opt_state)
  if skipped is not None:
    out["skipped_updates"] = skipped.astype(jnp.float32)
  return {f"opt/{name}/{k}": v for k, v in out.items()}


def kept_if_rejected(opt_state, old, new):
  """`new`, or `old` when the update that produced `opt_state` was rejected as non-finite
  (skip_nonfinite_updates): a skipped step also leaves BatchNorm's statistics, which a
  non-finite forward pass would fill with NaN, as they were (docs/DESIGN.md, "Divergence")."""
  rejected = optim.update_rejected(opt_state)
  if rejected is None:
    return new
  return jax.tree.map(lambda o, n: jnp.where(rejected, o, n), old, new)


def apply_gradients(state: TrainState, grads, name: str, **changes) -> tuple[TrainState, dict]:
  """`state.apply_gradients(grads=grads, **changes)` and the update's `optimizer_metrics`; a
  rejected non-finite update keeps the state's BatchNorm statistics too."""
  new = state.apply_gradients(grads=grads, **changes)
  if "batch_stats" in changes:
    kept = kept_if_rejected(new.opt_state, state.batch_stats, new.batch_stats)
    new = new.replace(batch_stats=kept)
  return new, optimizer_metrics(name, state, new, grads)


def gradient_step(
  state: TrainState, objective, name: str = "model", ema_decay: float = 0.0
) -> tuple[TrainState, dict]:
  """One step of optimizer `name` on the batch mean of `objective(params)`'s per-example "loss".

  `objective(params) -> (per-example metrics with "loss", mutated collections)`.
  Returns the new state (BatchNorm statistics updated, its EMA moved when `ema_decay` > 0)
  and the batch means of every per-example metric, with the optimizer's diagnostics
  (`optimizer_metrics`).
  """

  def loss_fn(params):
    per_example, mutated = objective(params)
    return per_example["loss"].mean(), (per_example, mutated)

  grads, (per_example, mutated) = jax.grad(loss_fn, has_aux=True)(state.params)
  new, diagnostics = apply_gradients(
    state, grads, name, batch_stats=mutated.get("batch_stats", state.batch_stats)
  )
  if ema_decay and getattr(state, "ema", None) is not None:
    new = new.replace(ema=ema_update(state.ema, variables_of(new), ema_decay, state.step))
  return new, {k: v.mean() for k, v in per_example.items()} | diagnostics
