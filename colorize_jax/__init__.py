"""colorize_jax: automatic colorization of grayscale photographs in JAX/Flax."""

import importlib.metadata
import re

__version__ = "0.1.0"

# The oldest JAX the project is tested with (pyproject.toml's jax>= says the same; a test holds
# them together). Older ones fail in ways that name nothing of this (missing jax.export
# features, mesh axis types), so importing the package says it in one line instead.
MIN_JAX = "0.10.2"


def _release(version: str) -> tuple[int, ...]:
  """'0.12.0.1' -> (0, 12, 0, 1); '0.10.2.dev20250101' or '0.11.0rc1' -> (0, 10, 2) / (0, 11, 0)."""
  match = re.match(r"\d+(?:\.\d+)*", version)
  return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def check_jax(found: str | None = None) -> None:
  """Raises ImportError, one line naming the JAX needed, when `found` (default: the installed
  jax's version, read without importing jax) is older than MIN_JAX."""
  if found is None:
    try:
      found = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
      return  # Not installed as a distribution (a source checkout): `import jax` speaks for it.
  if _release(found) < _release(MIN_JAX):
    raise ImportError(
      f"colorize_jax needs jax>={MIN_JAX}, found jax {found}: pip install -U 'jax>={MIN_JAX}'"
    )


check_jax()
