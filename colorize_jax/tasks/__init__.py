"""Training tasks, registered under kind "task" and chosen by `config.task`."""

from colorize_jax import registry
from colorize_jax.tasks import adversarial  # noqa: F401
from colorize_jax.tasks import classification  # noqa: F401
from colorize_jax.tasks import regression  # noqa: F401


def build(config, total_steps: int):
  return registry.get("task", config.task)(config, total_steps)
