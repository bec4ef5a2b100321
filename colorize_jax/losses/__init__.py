"""Losses: per-example pixel losses and their weighted composition."""

from colorize_jax.losses.objective import Objective, parse_spec  # noqa: F401
