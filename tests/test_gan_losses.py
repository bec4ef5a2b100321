"""GAN objectives against hand-computed values; WGAN-GP's penalty against finite differences."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import registry
from colorize_jax.losses import gan

# Two examples of 2x2 "PatchGAN" logits: per-example values average the patches.
REAL = np.array([[2.0, -1.0], [0.5, 0.0]], np.float32).reshape(2, 2, 1, 1)
FAKE = np.array([[-3.0, 1.0], [0.25, 4.0]], np.float32).reshape(2, 2, 1, 1)


def _softplus(x):
  return math.log1p(math.exp(x))


def _per_example(fn, logits):
  return [float(np.mean([fn(float(v)) for v in row.ravel()])) for row in logits]


# name -> (D's loss on a real logit, D's loss on a fake logit, G's loss on a fake logit, D scale).
HAND = {
  "vanilla": (lambda x: _softplus(-x), lambda x: _softplus(x), lambda x: _softplus(-x), 0.5),
  "lsgan": (lambda x: (x - 1) ** 2, lambda x: x**2, lambda x: (x - 1) ** 2, 0.5),
  "hinge": (lambda x: max(0.0, 1 - x), lambda x: max(0.0, 1 + x), lambda x: -x, 0.5),
  "wgan_gp": (lambda x: -x, lambda x: x, lambda x: -x, 1.0),
}


def test_every_registered_objective_is_checked():
  assert set(registry.names("gan_loss")) == set(HAND)


@pytest.mark.parametrize("name", sorted(HAND))
def test_losses_match_hand_computed_values(name):
  on_real, on_fake, g_on_fake, scale = HAND[name]
  loss = gan.build(name)
  total, terms = loss.d_loss(jnp.asarray(REAL), jnp.asarray(FAKE))
  expected_real, expected_fake = _per_example(on_real, REAL), _per_example(on_fake, FAKE)
  np.testing.assert_allclose(terms["real"], expected_real, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(terms["fake"], expected_fake, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(total, scale * (np.array(expected_real) + expected_fake), rtol=1e-5)
  np.testing.assert_allclose(
    loss.g_loss(jnp.asarray(FAKE)), _per_example(g_on_fake, FAKE), rtol=1e-5, atol=1e-6
  )
  assert total.shape == (2,) and loss.g_loss(jnp.asarray(FAKE)).shape == (2,)


def test_accuracy_counts_patches_on_the_right_side():
  acc = gan.build("vanilla").accuracy(jnp.asarray(REAL), jnp.asarray(FAKE))
  np.testing.assert_allclose(acc["acc_real"], [0.5, 0.5])  # 2 > 0, -1; 0.5 > 0, 0 is not.
  np.testing.assert_allclose(acc["acc_fake"], [0.5, 0.0])
  # LSGAN's targets are 1 and 0, so its decision threshold is 0.5.
  acc = gan.build("lsgan").accuracy(jnp.asarray(REAL), jnp.asarray(FAKE))
  np.testing.assert_allclose(acc["acc_real"], [0.5, 0.0])


def _critic(x):
  """A smooth nonlinear critic: per-example score [B]."""
  w = jnp.linspace(-1.0, 2.0, x[0].size).reshape(x.shape[1:])
  return jnp.sum(jnp.tanh(x * w) + 0.3 * x**2, axis=(1, 2, 3))


def test_gradient_penalty_matches_finite_differences():
  real = jax.random.uniform(jax.random.key(0), (2, 3, 3, 2), minval=-1.0, maxval=1.0)
  fake = jax.random.uniform(jax.random.key(1), (2, 3, 3, 2), minval=-1.0, maxval=1.0)
  rng = jax.random.key(2)
  gp = gan.gradient_penalty(_critic, real, fake, rng)

  # The interpolates the penalty draws: eps per example, uniform in [0, 1).
  eps = np.asarray(jax.random.uniform(rng, (2, 1, 1, 1)))
  mixed = eps * np.asarray(real, np.float64) + (1 - eps) * np.asarray(fake, np.float64)
  critic64 = lambda x: np.sum(np.tanh(x * np.linspace(-1.0, 2.0, 18).reshape(3, 3, 2)) + 0.3 * x**2)
  h = 1e-5
  for b in range(2):
    grad = np.zeros(mixed[b].shape)
    for idx in np.ndindex(mixed[b].shape):
      up, down = mixed[b].copy(), mixed[b].copy()
      up[idx] += h
      down[idx] -= h
      grad[idx] = (critic64(up) - critic64(down)) / (2 * h)
    np.testing.assert_allclose(gp[b], (np.linalg.norm(grad) - 1.0) ** 2, rtol=1e-4)


def test_wgan_gp_penalty_is_weighted_and_named():
  loss = gan.build("wgan_gp", {"wgan_gp": {"gp_weight": 3.0}})
  real = jnp.ones((2, 2, 2, 1))
  total, terms = loss.penalty(_critic, real, -real, jax.random.key(0))
  np.testing.assert_allclose(total, 3.0 * terms["gp"], rtol=1e-6)
  # The other objectives add nothing.
  total, terms = gan.build("vanilla").penalty(_critic, real, -real, jax.random.key(0))
  assert terms == {} and np.all(total == 0)


def test_unknown_objective_and_option_are_clear_errors():
  with pytest.raises(registry.UnknownNameError, match="hinge.*lsgan.*vanilla"):
    gan.build("wasserstein")
  with pytest.raises(ValueError, match="gp_wieght"):
    gan.build("wgan_gp", {"wgan_gp": {"gp_wieght": 1.0}})


@pytest.mark.parametrize("spec", ["", "none", " None "])
def test_no_reconstruction_spec_contributes_zero(spec):
  recon = gan.reconstruction(spec, value_range=(-1.0, 1.0))
  total, terms = recon(jnp.ones((3, 4, 4, 2)), jnp.zeros((3, 4, 4, 2)))
  assert terms == {} and total.shape == (3,) and np.all(total == 0)


def test_reconstruction_spec_is_the_pixel_loss_spec():
  recon = gan.reconstruction("l1:100,mse:2", value_range=(-1.0, 1.0))
  total, terms = recon(jnp.full((1, 2, 2, 2), 0.5), jnp.zeros((1, 2, 2, 2)))
  np.testing.assert_allclose(terms["l1"], [0.5])
  np.testing.assert_allclose(total, [100 * 0.5 + 2 * 0.25])
