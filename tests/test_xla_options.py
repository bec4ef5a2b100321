"""Per-compilation XLA options: applied on CPU, dropped safely where rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.runtime import xla_options


@pytest.fixture(autouse=True)
def fresh_probe():
  xla_options._cpu_options_accepted.cache_clear()  # pylint: disable=protected-access
  yield
  xla_options._cpu_options_accepted.cache_clear()  # pylint: disable=protected-access


def _conv(x, kernel):
  return jax.lax.conv_general_dilated(
    x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )


@pytest.mark.portability
def test_cpu_gets_the_options_and_convolutions_leave_ynnpack():
  assert xla_options.compiler_options("cpu") == xla_options.CPU_OPTIONS
  assert xla_options.compiler_options("gpu") is None and xla_options.compiler_options("tpu") is None
  x, kernel = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
  compiled = xla_options.jit(_conv).lower(x, kernel).compile()
  assert "__ynn_fusion" not in compiled.as_text()
  np.testing.assert_allclose(compiled(x, kernel), _conv(x, kernel))


def test_rejected_options_are_dropped_with_a_warning(monkeypatch, caplog):
  monkeypatch.setattr(
    xla_options, "CPU_OPTIONS", {"xla_cpu_experimental_ynn_fusion_type": "NOT_A_FUSION_TYPE"}
  )
  with caplog.at_level("WARNING"):
    assert xla_options.compiler_options("cpu") is None
  assert "NOT_A_FUSION_TYPE" in caplog.text
  assert float(xla_options.jit(jnp.sum)(jnp.ones(3))) == 3.0


_XLA_OOM = (
  "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 81604378624 bytes.\n"
  "BufferAssignment OOM Debugging.\n" + "\n".join(f"value {i}: ..." for i in range(500))
)


class _FakeXlaError(RuntimeError):
  """Stands in for jaxlib's XlaRuntimeError (not constructible from Python)."""


@pytest.mark.parametrize("dtype, suggests_bf16", [("float32", True), ("bfloat16", False)])
def test_out_of_memory_names_the_batch_size_and_what_to_try(dtype, suggests_bf16):
  with pytest.raises(xla_options.DeviceOutOfMemoryError) as caught:
    with xla_options.out_of_memory_hint(256, dtype):
      raise _FakeXlaError(_XLA_OOM)
  message = str(caught.value)
  assert "batch_size=256" in message and "--config.batch_size=128" in message
  assert ("--config.dtype=bfloat16" in message) == suggests_bf16
  assert "81604378624 bytes" in message and len(message) < 600  # One line, not XLA's dump.
  assert caught.value.__cause__ is None and caught.value.__suppress_context__  # No chained wall.


def test_other_errors_pass_through_the_out_of_memory_hint():
  with pytest.raises(ValueError, match="shapes"):
    with xla_options.out_of_memory_hint(8, "float32"):
      raise ValueError("shapes do not match")
