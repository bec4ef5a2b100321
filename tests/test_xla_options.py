"""Per-compilation XLA options: applied on CPU, dropped safely where rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import xla_options


@pytest.fixture(autouse=True)
def fresh_probe():
  xla_options._cpu_options_accepted.cache_clear()  # pylint: disable=protected-access
  yield
  xla_options._cpu_options_accepted.cache_clear()  # pylint: disable=protected-access


def _conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def test_cpu_gets_the_options_and_convolutions_leave_ynnpack():
  assert xla_options.compiler_options("cpu") == xla_options.CPU_OPTIONS
  assert xla_options.compiler_options("gpu") is None and xla_options.compiler_options("tpu") is None
  x, kernel = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
  compiled = xla_options.jit(_conv).lower(x, kernel).compile()
  assert "__ynn_fusion" not in compiled.as_text()
  np.testing.assert_allclose(compiled(x, kernel), _conv(x, kernel))


def test_rejected_options_are_dropped_with_a_warning(monkeypatch, caplog):
  monkeypatch.setattr(xla_options, "CPU_OPTIONS",
                      {"xla_cpu_experimental_ynn_fusion_type": "NOT_A_FUSION_TYPE"})
  with caplog.at_level("WARNING"):
    assert xla_options.compiler_options("cpu") is None
  assert "NOT_A_FUSION_TYPE" in caplog.text
  assert float(xla_options.jit(jnp.sum)(jnp.ones(3))) == 3.0
