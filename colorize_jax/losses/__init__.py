"""Losses: per-example pixel losses and their weighted composition."""

from colorize_jax.losses import (
  classification,  # noqa: F401  (registers ab classification losses)
  gan,  # noqa: F401  (registers GAN objectives)
  pixel,  # noqa: F401  (registers pixel losses)
)
from colorize_jax.losses.objective import Objective, parse_spec  # noqa: F401
