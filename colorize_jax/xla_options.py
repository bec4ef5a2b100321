"""Per-compilation XLA options, for where XLA:CPU's defaults are slow on these models.

XLA:CPU (jaxlib 0.10) hands convolutions to YNNPACK by default. On the 2-core
development machine that was up to 4x slower than XLA's own Eigen kernels
(forward of a 2x2 conv, 16x33x33x256 -> 64 channels: 61 ms against 15 ms;
bench/conv_formulations.py prints both for every pix2pix layer), and the
pix2pix train step took 3.66 s with YNNPACK convolutions against 3.24 s
without. `jit` keeps YNNPACK for dots and reductions and takes convolutions
back.

Options go through `jax.jit(compiler_options=...)`, not XLA_FLAGS: an XLA
flag that a different jaxlib does not know aborts the process, while an
unknown compiler option is a Python error, caught once here (the options are
then dropped with a warning and everything still runs).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from absl import logging

CPU_OPTIONS = {
    # Default on jaxlib 0.10: INDIVIDUAL_DOT, REDUCE, INDIVIDUAL_CONVOLUTION.
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE",
}


@functools.cache
def _cpu_options_accepted() -> bool:
  try:
    jax.jit(jnp.sin, compiler_options=CPU_OPTIONS).lower(jnp.zeros(2)).compile()
    return True
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("this jaxlib rejects the CPU compiler options %s (%s); compiling with its "
                    "defaults", CPU_OPTIONS, e)
    return False


def compiler_options(backend: str | None = None) -> dict[str, str] | None:
  """The options for `backend` (default: JAX's default backend), or None."""
  if (backend or jax.default_backend()) != "cpu" or not _cpu_options_accepted():
    return None
  return dict(CPU_OPTIONS)


def jit(fn: Callable, **kwargs: Any):
  """`jax.jit` with this backend's compiler options."""
  return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
