"""Optimizers and learning-rate schedules, built by the training loop and handed to the task.

`build_all(config, task.optimizers, total_steps)` builds one optimizer per
name a task declares, from the config section it names. Restoring for
inference or evaluation passes `total_steps=None`: a schedule changes no
array shape of the optimizer state, so any schedule restores the same tree.

Each optimizer carries its schedule (`Scheduled`), so a train step can log the
learning rate it applied (`learning_rate`) inside the jitted step. The rate is
not put into the optimizer state (as `optax.inject_hyperparams` would): the
state's tree stays that of checkpoints written before it was logged.

`skip_nonfinite_updates: N` (0: off) wraps the optimizer in `optax.apply_if_finite`: an update
whose gradients hold a NaN or an infinity is skipped (parameters and optimizer state unchanged,
so Adam's step count and the schedule's wait too), up to N in a row; the N+1th is applied, so a
run that cannot recover still stops (docs/DESIGN.md, "Divergence"). The skips are counted in
the optimizer state (`skipped_updates`), which resumes with it. It changes the state's tree, so
it is set when a run starts: a checkpoint written without it does not restore with it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from colorize_jax import registry


@registry.register("schedule", "constant")
def constant(lr: float, total_steps: int):
  del total_steps
  return optax.constant_schedule(lr)


@registry.register("schedule", "linear_decay")
def linear_decay(lr: float, total_steps: int):
  """pix2pix's: constant for the first half, then linear to zero."""
  half = max(total_steps // 2, 1)
  return optax.join_schedules(
    [optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, max(total_steps - half, 1))],
    [half],
  )


@registry.register("schedule", "cosine")
def cosine(lr: float, total_steps: int):
  return optax.cosine_decay_schedule(lr, max(total_steps, 1))


def with_warmup(schedule: optax.Schedule, lr: float, steps: int) -> optax.Schedule:
  """Linear warm-up from lr/steps to lr over `steps` updates, then `schedule` (timed by the
  steps after the warm-up): Goyal et al.'s, which keeps Adam's first, noisy moment estimates
  from taking full-size steps."""
  ramp = optax.linear_schedule(lr / steps, lr, steps)
  return optax.join_schedules([ramp, schedule], [steps])


@dataclasses.dataclass(frozen=True)
class Scheduled:
  """An optax transformation (`init`, `update`) with the learning-rate schedule it applies."""

  tx: optax.GradientTransformation
  schedule: optax.Schedule

  def init(self, params):
    return self.tx.init(params)

  def update(self, updates, state, params=None, **extra_args):
    return self.tx.update(updates, state, params, **extra_args)


def skipped_updates(opt_state) -> jax.Array | None:
  """How many non-finite updates `skip_nonfinite_updates` has skipped so far; None without it."""
  if isinstance(opt_state, optax.ApplyIfFiniteState):
    return opt_state.total_notfinite
  return None


def update_rejected(opt_state) -> jax.Array | None:
  """Whether `skip_nonfinite_updates` rejected the update that produced `opt_state` (its
  gradients were not finite); None without it. After too many in a row optax applies one
  anyway, and the run's divergence check stops it."""
  if isinstance(opt_state, optax.ApplyIfFiniteState):
    return jnp.logical_not(opt_state.last_finite)
  return None


def learning_rate(tx, step: jax.Array, opt_state=None) -> jax.Array | None:
  """The learning rate `tx` applies at the update that starts at `step` (the schedule's count
  before the update, as optax's scale_by_schedule reads it; skipped updates did not count,
  `skipped_updates(opt_state)`); None for an optimizer that was not built here (a test's plain
  optax.adam)."""
  schedule = getattr(tx, "schedule", None)
  if schedule is None:
    return None
  skipped = skipped_updates(opt_state)
  count = step if skipped is None else step - skipped
  return jnp.asarray(schedule(count), jnp.float32)


def build(opt_cfg, total_steps: int | None) -> Scheduled:
  """Adam (both studies' optimizer) with a schedule and optional clipping.

  total_steps=None: the state's shapes only (restoring a checkpoint for
  inference); the configured schedule is checked but a constant one stands in.
  """
  schedule_fn = registry.get("schedule", opt_cfg.schedule)
  if total_steps is None:
    schedule_fn = constant
  warmup = int(opt_cfg.get("warmup_steps", 0))
  if warmup < 0:
    raise ValueError(f"warmup_steps must be >= 0 (0 = off); got {warmup}")
  schedule = schedule_fn(opt_cfg.learning_rate, max((total_steps or 0) - warmup, 1))
  if warmup and total_steps is not None:
    schedule = with_warmup(schedule, opt_cfg.learning_rate, warmup)
  tx = optax.adam(schedule, b1=opt_cfg.b1, b2=opt_cfg.b2)
  if opt_cfg.get("grad_clip_norm"):
    tx = optax.chain(optax.clip_by_global_norm(opt_cfg.grad_clip_norm), tx)
  if opt_cfg.get("skip_nonfinite_updates"):  # Outermost: it judges the raw gradients.
    tx = optax.apply_if_finite(tx, max_consecutive_errors=int(opt_cfg.skip_nonfinite_updates))
  return Scheduled(tx, schedule)


def step_budget(
  config, num_train_examples: int, origin: tuple[int, int] = (0, 0)
) -> tuple[int, int]:
  """(steps per epoch, total steps): the train split in batches for num_epochs, counted from
  `origin` (step, epochs complete then; checkpoint.Progress's origin after a data change),
  capped by max_train_steps."""
  steps_per_epoch = num_train_examples // config.batch_size
  origin_step, origin_epoch = origin
  total = origin_step + max(config.num_epochs - origin_epoch, 0) * steps_per_epoch
  if config.get("max_train_steps"):
    total = min(total, config.max_train_steps)
  return steps_per_epoch, total


def build_all(config, sections: dict[str, str], total_steps: int | None) -> dict[str, Scheduled]:
  """{name: optimizer} for a task's `optimizers` ({name: config section})."""
  missing = sorted(section for section in sections.values() if section not in config)
  if missing:
    raise ValueError(f"task {config.task!r} needs config section(s) {missing} for its optimizers")
  return {name: build(config[section], total_steps) for name, section in sections.items()}
