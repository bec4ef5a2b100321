"""What the training loop, the evaluator and inference need from a task.

A task is a bundle of pure functions plus a few declarations; the loop jits
the functions, shards them and owns all I/O. A new task is one registered
class (`@registry.register("task", NAME)`) that satisfies `Task` below:
train.py reads nothing else, and a test adds a toy task without touching it
(tests/test_tasks.py).

Life of a task:
  task = tasks.build(config)                     # from the config alone: no data, no step count
  task.prepare(data, workdir)                    # training only: constants from the train split
  optimizers = optim.build_all(config, task.optimizers, total_steps)   # built by the loop
  state = task.init_state(rng, image_size, optimizers)
  state, metrics = task.train_step(state, batch, rng)                  # metrics: scalars
  pred = task.predict(state, inputs)                                   # inference, sample grids
  pred, aux = task.eval_outputs(state, inputs)                         # evaluation: one pass
  terms = task.loss_terms(pred, target, aux)                           # [B] 'loss', 'loss/<t>'

`eval_outputs` exists because a task's loss may need more of the forward
pass than the prediction: the classification task predicts the annealed-mean
ab but its loss is a cross-entropy over the per-bin logits (weighted by the
rebalancing weights in its state). It returns them as `aux`, so the evaluator
still runs the network once per batch; tasks whose loss reads the prediction
alone return `(self.predict(state, inputs), None)` and ignore `aux`.

Metric names follow one vocabulary (colorize_jax/evaluators/metrics.py): the evaluator
adds l1, mse, psnr, ssim, colorfulness, delta_colorfulness and ab_auc to the
task's loss terms; records are `train/<k>` and `val/<k>`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """Flax's TrainState plus BatchNorm statistics ({} for models without BN)."""

  batch_stats: Any = flax.struct.field(default_factory=dict)


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

  # How uint8 photos become model inputs and targets (colorize_jax.color).
  color_space: Any
  # The network that colorizes: `generator.apply(variables, inputs, train=False)`.
  generator: Any

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


def new_state(
  model, tx: optax.GradientTransformation, rng: jax.Array, image_size: int
) -> TrainState:
  """Initialise a single-input network (a generator or regression model)."""
  variables = model.init(
    {"params": rng, "dropout": rng}, jnp.zeros((1, image_size, image_size, 1)), train=False
  )
  return TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    tx=tx,
    batch_stats=variables.get("batch_stats", {}),
  )


def predicted_rgb(task, state, rgb_uint8):
  """RGB in [0, 1] of a task's inference-mode colorization of uint8 photos (jit-able)."""
  inputs, _ = task.color_space.split(rgb_uint8)
  return task.color_space.merge(inputs, task.predict(state, inputs))


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


def gradient_step(state: TrainState, objective) -> tuple[TrainState, dict]:
  """One optimizer step on the batch mean of `objective(params)`'s per-example "loss".

  `objective(params) -> (per-example metrics with "loss", mutated collections)`.
  Returns the new state (BatchNorm statistics updated) and the batch means of
  every per-example metric.
  """

  def loss_fn(params):
    per_example, mutated = objective(params)
    return per_example["loss"].mean(), (per_example, mutated)

  grads, (per_example, mutated) = jax.grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(
    grads=grads, batch_stats=mutated.get("batch_stats", state.batch_stats)
  )
  return state, {k: v.mean() for k, v in per_example.items()}
