"""Per-compilation XLA options, for where XLA:CPU's defaults are slow on these models.

XLA:CPU (jaxlib 0.10) hands convolutions to YNNPACK by default, which was
several times slower than XLA's own Eigen kernels on pix2pix's layers
(bench/conv_formulations.py prints both per layer; figures in the README's
benchmark section). `jit` keeps YNNPACK for dots and reductions and takes
convolutions back.

Options go through `jax.jit(compiler_options=...)`, not XLA_FLAGS: an XLA
flag that a different jaxlib does not know aborts the process, while an
unknown compiler option is a Python error, caught once here (the options are
then dropped with a warning and everything still runs).

`out_of_memory_hint` turns a device out-of-memory error of a compiled step
into one line that names the batch size and what to change.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

CPU_OPTIONS = {
  # Default on jaxlib 0.10: INDIVIDUAL_DOT, REDUCE, INDIVIDUAL_CONVOLUTION.
  "xla_cpu_experimental_ynn_fusion_type": (
    "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
  ),
}


@functools.cache
def _cpu_options_accepted() -> bool:
  try:
    jax.jit(jnp.sin, compiler_options=CPU_OPTIONS).lower(jnp.zeros(2)).compile()
    return True
  except Exception as e:  # pylint: disable=broad-except
    logging.warning(
      "this jaxlib rejects the CPU compiler options %s (%s); compiling with its defaults",
      CPU_OPTIONS,
      e,
    )
    return False


def compiler_options(backend: str | None = None) -> dict[str, str] | None:
  """The options for `backend` (default: JAX's default backend), or None."""
  if (backend or jax.default_backend()) != "cpu" or not _cpu_options_accepted():
    return None
  return dict(CPU_OPTIONS)


def jit(fn: Callable, **kwargs: Any):
  """`jax.jit` with this backend's compiler options."""
  return jax.jit(fn, compiler_options=compiler_options(), **kwargs)


class DeviceOutOfMemoryError(RuntimeError):
  """A step did not fit in device memory; the message names the batch size and what to try."""


def is_out_of_memory(error: BaseException) -> bool:
  text = str(error)
  return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def _smaller_batch(batch_size: int) -> int:
  devices = jax.device_count()
  return max(devices, batch_size // 2 // devices * devices)


@contextlib.contextmanager
def out_of_memory_hint(batch_size: int, dtype: str, what: str = "the train step") -> Iterator[None]:
  """Inside: a device out-of-memory error (XLA's RESOURCE_EXHAUSTED, typically while
  compiling) becomes a DeviceOutOfMemoryError with one actionable line, not a traceback wall."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if not is_out_of_memory(e):
      raise
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    detail = next((line for line in lines if "memory" in line.lower()), lines[0] if lines else "")
    advice = [f"a smaller batch, e.g. --config.batch_size={_smaller_batch(batch_size)}"]
    if str(dtype) != "bfloat16":
      advice.append("bfloat16 compute (--config.dtype=bfloat16)")
    device = jax.devices()[0]
    raise DeviceOutOfMemoryError(
      f"{what} does not fit in the memory of {device.platform}:{device.device_kind} at "
      f"batch_size={batch_size}, dtype {dtype} ({detail[:200]}); try {' or '.join(advice)}"
    ) from None
