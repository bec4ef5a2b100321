"""Every convolution formulation computes flax's convolution: outputs and both gradients."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.models import conv

# (input [B, H, W, C], kernel (kh, kw), features, strides, padding)
CASES = [
  ((2, 16, 16, 3), (4, 4), 5, (2, 2), ((1, 1), (1, 1))),  # pix2pix's down conv
  ((2, 4, 4, 6), (4, 4), 5, (2, 2), ((1, 1), (1, 1))),  # an inner block: 2x2 out
  ((2, 2, 2, 6), (4, 4), 5, (2, 2), ((1, 1), (1, 1))),  # the innermost: 1x1 out
  ((1, 9, 11, 4), (3, 3), 2, (2, 2), ((1, 2), (0, 1))),  # odd sizes, asymmetric pads
  ((1, 10, 10, 3), (3, 3), 4, (3, 3), ((1, 1), (1, 1))),  # stride 3
  ((1, 9, 9, 2), (1, 1), 3, (2, 2), ((0, 0), (0, 0))),  # stride wider than the kernel
  ((2, 8, 8, 4), (4, 4), 3, (1, 1), ((1, 2), (1, 2))),  # PatchGAN's stride-1 conv
  ((2, 7, 7, 3), (2, 2), 4, (1, 1), ((0, 0), (0, 0))),  # a transposed conv's phase
]


def _reference(x, kernel, strides, padding):
  return jax.lax.conv_general_dilated(
    x, kernel, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
  )


def _value_and_grads(fn, x, kernel, probe):
  y, pull_back = jax.vjp(fn, x, kernel)
  return (y, *pull_back(probe))


@pytest.mark.parametrize("how", ["patches", "subpixel_grad", "xla"])
@pytest.mark.parametrize("x_shape, kernel_hw, features, strides, padding", CASES)
def test_formulation_matches_lax_with_gradients(
  how, x_shape, kernel_hw, features, strides, padding
):
  x = jax.random.normal(jax.random.key(0), x_shape)
  kernel = jax.random.normal(jax.random.key(1), (*kernel_hw, x_shape[-1], features))
  probe = jax.random.normal(jax.random.key(2), _reference(x, kernel, strides, padding).shape)
  expected = _value_and_grads(lambda a, k: _reference(a, k, strides, padding), x, kernel, probe)
  ours = jax.jit(
    lambda a, k: _value_and_grads(
      lambda a2, k2: conv.conv2d(a2, k2, strides, padding, how=how), a, k, probe
    )
  )(x, kernel)
  for name, got, want in zip(("output", "dx", "dkernel"), ours, expected):
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4, err_msg=f"{how} {name}")


def test_formulation_choices_for_pix2pix_shapes():
  down = lambda size, c: conv.formulation(
    (16, size, size, c), (4, 4, c, c), (2, 2), ((1, 1), (1, 1)), backend="cpu"
  )
  assert down(64, 64) == "subpixel_grad" and down(32, 128) == "subpixel_grad"
  assert down(128, 3) == "xla"  # Too few input channels to gain.
  assert down(16, 256) == "xla"  # 8x8 output: XLA's own is as fast.
  assert down(8, 512) == "patches" and down(2, 512) == "patches"
  for backend in ("gpu", "tpu"):
    for size in (64, 2):
      assert (
        conv.formulation(
          (16, size, size, 64), (4, 4, 64, 64), (2, 2), ((1, 1), (1, 1)), backend=backend
        )
        == "xla"
      )
    assert conv.transpose_formulation((2, 2), 2, backend) == "xla"
  assert conv.transpose_formulation((2, 2), 2, "cpu") == "merged"
  assert conv.transpose_formulation((2, 2), 64, "cpu") == "phases"


def test_formulated_for_overrides_the_default_backend_while_tracing():
  x, kernel = jnp.zeros((1, 4, 4, 2)), jnp.zeros((4, 4, 2, 3))  # 2x2 output: patches on CPU.
  for backend, expected in (("cpu", "patches"), ("gpu", "xla")):
    with conv.formulated_for(backend), conv.recorded() as choices:
      jax.make_jaxpr(lambda a, k: conv.conv2d(a, k, (2, 2), ((1, 1), (1, 1))))(x, kernel)
    assert [(c.backend, c.how) for c in choices] == [(backend, expected)]
  assert conv.target_backend() == jax.default_backend()


def test_unknown_formulation_names_the_valid_ones():
  with pytest.raises(ValueError, match="patches, subpixel_grad, xla"):
    conv.conv2d(
      jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), (1, 1), ((1, 1), (1, 1)), how="fft"
    )
  with pytest.raises(ValueError, match="phases, merged, xla"):
    conv.conv_transpose2d(jnp.zeros((1, 4, 4, 1)), jnp.zeros((4, 4, 1, 1)), (2, 2), how="fft")


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((1, 1), (1, 1))])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_conv_layer_matches_flax(padding, strides):
  x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
  reference = nn.Conv(4, (4, 4), strides, padding=padding)
  params = reference.init(jax.random.key(1), x)
  ours = conv.Conv(4, (4, 4), strides, padding=padding)
  assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
  np.testing.assert_allclose(
    ours.apply(params, x), reference.apply(params, x), rtol=1e-5, atol=1e-5
  )


@pytest.mark.parametrize("how", ["phases", "merged", "xla"])
@pytest.mark.parametrize("kernel, stride", [(4, 2), (3, 2), (2, 2), (5, 3), (3, 1)])
def test_conv_transpose_formulations_match_flax_with_gradients(how, kernel, stride):
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
  reference = nn.ConvTranspose(
    4, (kernel, kernel), strides=(stride, stride), padding="SAME", use_bias=False
  )
  params = reference.init(jax.random.key(1), x)["params"]
  probe = jax.random.normal(jax.random.key(2), reference.apply({"params": params}, x).shape)
  expected = _value_and_grads(
    lambda a, k: reference.apply({"params": {"kernel": k}}, a), x, params["kernel"], probe
  )
  ours = _value_and_grads(
    lambda a, k: conv.conv_transpose2d(a, k, (stride, stride), how=how), x, params["kernel"], probe
  )
  for name, got, want in zip(("output", "dx", "dkernel"), ours, expected):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4, err_msg=f"{how} {name}")


def test_conv_transpose_picks_merged_only_for_few_outputs():
  seen = []
  x = jnp.zeros((1, 8, 8, 8))  # 64 output pixels per phase: XLA's conv, not patches.
  for features in (2, 16, 17):
    jaxpr = jax.make_jaxpr(lambda a, k: conv.conv_transpose2d(a, k, (2, 2)))(
      x, jnp.zeros((4, 4, 8, features))
    )
    seen.append(sum(e.primitive.name == "conv_general_dilated" for e in jaxpr.eqns))
  assert seen == [1, 1, 4]  # 4 x 2 and 4 x 16 outputs merge; 4 x 17 = 68 > 64 does not.
