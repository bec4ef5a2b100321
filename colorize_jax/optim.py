"""Optimizers and learning-rate schedules from `config.optimizer`."""

from __future__ import annotations

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
      [optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, max(total_steps - half, 1))], [half])


@registry.register("schedule", "cosine")
def cosine(lr: float, total_steps: int):
  return optax.cosine_decay_schedule(lr, max(total_steps, 1))


def build(opt_cfg, total_steps: int) -> optax.GradientTransformation:
  """Adam (the studies' optimizer) with a schedule and optional clipping."""
  schedule = registry.get("schedule", opt_cfg.schedule)(opt_cfg.learning_rate, total_steps)
  tx = optax.adam(schedule, b1=opt_cfg.b1, b2=opt_cfg.b2)
  if opt_cfg.get("grad_clip_norm"):
    tx = optax.chain(optax.clip_by_global_norm(opt_cfg.grad_clip_norm), tx)
  return tx
