"""Every registered pixel loss, and their weighted composition from a spec string."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import losses, registry

LOSS_NAMES = registry.names("pixel_loss")
RANGES = [(0.0, 1.0), (-1.0, 1.0)]


def _pair(value_range, seed=0):
  rng = np.random.default_rng(seed)
  draw = lambda: jnp.asarray(rng.uniform(*value_range, size=(4, 16, 16, 3)), jnp.float32)
  return draw(), draw()


def test_the_studies_losses_are_registered():
  assert {"mse", "l2", "l1", "mae", "huber", "ssim"} <= set(LOSS_NAMES)


@pytest.mark.parametrize("value_range", RANGES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_per_example_zero_at_target_finite_gradients(name, value_range):
  fn = registry.get("pixel_loss", name)(value_range=value_range)
  pred, target = _pair(value_range)
  value = fn(pred, target)
  assert value.shape == (4,)
  assert np.all(np.asarray(value) > 1e-3)
  np.testing.assert_allclose(fn(target, target), 0.0, atol=1e-5)
  for p in (pred, target):
    grad = jax.grad(lambda p: fn(p, target).sum())(p)
    assert grad.shape == p.shape and np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_examples_are_independent(name):
  """Changing one example changes only its own loss: no mixing across the batch."""
  fn = registry.get("pixel_loss", name)(value_range=(0.0, 1.0))
  pred, target = _pair((0.0, 1.0))
  moved = pred.at[1].set(target[1])
  before, after = fn(pred, target), fn(moved, target)
  np.testing.assert_allclose(after[np.array([0, 2, 3])], before[np.array([0, 2, 3])], rtol=1e-6)
  assert abs(float(after[1])) < 1e-5


@pytest.mark.parametrize(
  "name, expected", [("mse", 0.25), ("l2", 0.25), ("l1", 0.5), ("mae", 0.5), ("huber", 0.125)]
)
def test_known_values(name, expected):
  fn = registry.get("pixel_loss", name)(value_range=(0.0, 1.0))
  value = fn(jnp.zeros((2, 4, 4, 3)), jnp.full((2, 4, 4, 3), 0.5))
  np.testing.assert_allclose(value, [expected] * 2, rtol=1e-6)


def test_parse_spec():
  assert losses.parse_spec("mse") == {"mse": 1.0}
  assert losses.parse_spec("mse:1,ssim:0.2") == {"mse": 1.0, "ssim": 0.2}
  assert losses.parse_spec(" l1 : 2 , huber ") == {"l1": 2.0, "huber": 1.0}


def test_parse_spec_bad_weight():
  with pytest.raises(ValueError, match="must be a number"):
    losses.parse_spec("mse:lots")


def test_parse_spec_unknown_name_lists_valid_names():
  with pytest.raises(registry.UnknownNameError) as info:
    losses.parse_spec("mse:1,perceptual:0.1")
  assert "perceptual" in str(info.value)
  for name in ("mse", "l1", "ssim", "huber"):
    assert name in str(info.value)


def test_parse_spec_empty():
  with pytest.raises(ValueError, match="names no loss"):
    losses.parse_spec(" , ")


def test_objective_weights_terms():
  pred, target = _pair((0.0, 1.0))
  objective = losses.Objective("mse:2,l1:0.5,ssim:0.2", value_range=(0.0, 1.0))
  total, terms = objective(pred, target)
  assert set(terms) == {"mse", "l1", "ssim"}
  unit = lambda name: registry.get("pixel_loss", name)(value_range=(0.0, 1.0))(pred, target)
  for name in terms:
    np.testing.assert_allclose(terms[name], unit(name), rtol=1e-6)
  np.testing.assert_allclose(
    total, 2 * unit("mse") + 0.5 * unit("l1") + 0.2 * unit("ssim"), rtol=1e-6
  )


def test_objective_options_reach_the_loss():
  pred, target = jnp.zeros((2, 4, 4, 3)), jnp.full((2, 4, 4, 3), 0.5)
  total, _ = losses.Objective("huber", value_range=(0.0, 1.0), options={"huber": {"delta": 0.1}})(
    pred, target
  )
  np.testing.assert_allclose(total, 0.1 * (0.5 - 0.05), rtol=1e-6)  # Linear beyond delta.
  with pytest.raises(ValueError, match="no option"):
    losses.Objective("huber", value_range=(0.0, 1.0), options={"huber": {"delt": 0.1}})


def test_a_term_named_twice_is_rejected():
  with pytest.raises(ValueError, match="names 'mse' twice"):
    losses.parse_spec("mse,mse:2")
