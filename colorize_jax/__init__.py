"""colorize_jax: automatic colorization of grayscale photographs in JAX/Flax."""

__version__ = "0.1.0"
