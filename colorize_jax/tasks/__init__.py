"""Training tasks, registered under kind "task" and chosen by `config.task`.

The protocol every task satisfies is `colorize_jax.tasks.base.Task`. The registry imports
every module in this folder, so a new task is one new file.
"""

from colorize_jax import registry


def build(config):
  """The task `config.task` names, built from the config alone (no data, no step count)."""
  return registry.get("task", config.task)(config)
