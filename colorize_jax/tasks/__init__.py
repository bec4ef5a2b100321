"""Training tasks, registered under kind "task" and chosen by `config.task`.

The protocol every task satisfies is `colorize_jax.tasks.base.Task`.
"""

from colorize_jax import registry
from colorize_jax.tasks import (
  adversarial,  # noqa: F401
  regression,  # noqa: F401
)


def build(config):
  """The task `config.task` names, built from the config alone (no data, no step count)."""
  return registry.get("task", config.task)(config)
