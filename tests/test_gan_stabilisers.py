"""GAN stabilisers: feature matching, spectral norm (and its state in checkpoints),
R1 against finite differences, multi-scale PatchGAN, TTUR, bad switches, and
configs/pix2pix_fm_sn.py:smoke's exact resume."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import assert_same_run, killed_then_resumed

from colorize_jax import models, tasks
from colorize_jax.losses import gan
from colorize_jax.models import discriminators
from colorize_jax.train import checkpoint, optim, preflight, trainer


def _build(config):
  """(task, optimizers) as the training loop builds them, for a 10-step schedule."""
  task = tasks.build(config)
  return task, optim.build_all(config, task.optimizers, total_steps=10)


def _d(**options):
  cfg = ml_collections.ConfigDict(
    {"name": "patchgan", "base_features": 4, "n_layers": 2, **options}
  )
  return models.build(cfg, out_channels=1, kind="discriminator")


def _pair(seed, size=32):
  keys = jax.random.split(jax.random.key(seed))
  return (
    jax.random.uniform(keys[0], (2, size, size, 1), minval=-1, maxval=1),
    jax.random.uniform(keys[1], (2, size, size, 2), minval=-1, maxval=1),
  )


def _features(model, variables, gray, color):
  _, mutated = model.apply(
    variables, gray, color, train=True, mutable=["batch_stats", "intermediates"]
  )
  return jax.tree.leaves(mutated["intermediates"])


def test_feature_matching_is_zero_when_fake_equals_real():
  model = _d(num_scales=2)
  gray, real = _pair(0)
  variables = model.init(jax.random.key(0), gray, real, train=False)
  real_features = _features(model, variables, gray, real)
  assert len(real_features) == 2 * 3  # Two scales, n_layers + 1 activations each.
  np.testing.assert_array_equal(gan.feature_matching(real_features, real_features), [0.0, 0.0])
  fake_features = _features(model, variables, gray, real + 0.1)
  fm = gan.feature_matching(fake_features, real_features)
  assert fm.shape == (2,) and np.all(fm > 0)
  # 4 x the mean over the maps of the per-example mean |fake - real|.
  expected = 4 * np.mean(
    [
      np.abs(np.asarray(f) - np.asarray(r)).reshape(2, -1).mean(1)
      for f, r in zip(fake_features, real_features)
    ],
    axis=0,
  )
  np.testing.assert_allclose(fm, expected, rtol=1e-5)


def _sn_kernels(params, stats):
  """(kernel as a matrix [-1, C_out], stored sigma) of every spectrally normalised layer."""
  out = []
  for sn_name, entries in stats.items():
    if not sn_name.startswith("SpectralNorm"):
      continue
    for key, sigma in entries.items():
      if key.endswith("/sigma"):
        layer = key.split("/")[0]
        kernel = np.asarray(params[layer]["kernel"])
        out.append((kernel.reshape(-1, kernel.shape[-1]), float(sigma)))
  return out


def test_spectral_norm_bounds_the_top_singular_value_near_1():
  model = _d(spectral_norm=True, norm="none")
  gray, color = _pair(1)
  variables = model.init(jax.random.key(0), gray, color, train=False)
  stats = variables["batch_stats"]

  @jax.jit
  def power_iteration(stats):
    _, mutated = model.apply(
      {"params": variables["params"], "batch_stats": stats},
      gray,
      color,
      train=True,
      mutable=["batch_stats"],
    )
    return mutated["batch_stats"]

  for _ in range(30):
    stats = power_iteration(stats)
  kernels = _sn_kernels(variables["params"], stats)
  assert len(kernels) == 4  # Every conv of the n_layers=2 PatchGAN.
  for matrix, sigma in kernels:
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    # The layer uses W / sigma: its largest singular value is near 1.
    assert top / sigma == pytest.approx(1.0, abs=0.02), (top, sigma)


def test_spectral_norm_state_survives_a_checkpoint_round_trip(load_config, tmp_path):
  task, optimizers = _build(load_config("pix2pix_fm_sn", "smoke"))
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  gray, color = _pair(2)
  # One power iteration, as D's update runs it: the u vectors move away from their init.
  _, stats = jax.jit(task._discriminate)(state.d.params, state.d.batch_stats, gray, color)
  assert any(
    np.any(a != b) for a, b in zip(jax.tree.leaves(stats), jax.tree.leaves(state.d.batch_stats))
  )
  state = state.replace(d=state.d.replace(batch_stats=stats))
  u_vectors = {
    k: v
    for k, v in jax.tree_util.tree_flatten_with_path(state.d.batch_stats)[0]
    if "/u" in jax.tree_util.keystr(k)
  }
  assert u_vectors, "spectral norm's u vectors should be in D's batch_stats"
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(tmp_path / "state", state)
  checkpointer.wait_until_finished()
  restored = checkpointer.restore(tmp_path / "state", checkpoint.abstract_like(state))
  jax.tree.map(np.testing.assert_array_equal, restored.d.batch_stats, state.d.batch_stats)
  jax.tree.map(np.testing.assert_array_equal, restored.d.params, state.d.params)


def _critic(x):
  w = jnp.linspace(-1.0, 2.0, x[0].size).reshape(x.shape[1:])
  return jnp.sum(jnp.tanh(x * w) + 0.3 * x**2, axis=(1, 2, 3))


def test_r1_matches_finite_differences():
  real = np.asarray(
    jax.random.uniform(jax.random.key(3), (2, 3, 3, 2), minval=-1.0, maxval=1.0), np.float64
  )
  r1 = gan.r1_penalty(_critic, jnp.asarray(real, jnp.float32))
  w = np.linspace(-1.0, 2.0, 18).reshape(3, 3, 2)
  critic64 = lambda x: np.sum(np.tanh(x * w) + 0.3 * x**2)
  h = 1e-6
  for b in range(2):
    grad = np.zeros(real[b].shape)
    for idx in np.ndindex(real[b].shape):
      step = np.zeros(real[b].shape)
      step[idx] = h
      grad[idx] = (critic64(real[b] + step) - critic64(real[b] - step)) / (2 * h)
    assert float(r1[b]) == pytest.approx(np.sum(grad**2), rel=1e-4)


def test_multi_scale_discriminator_sums_the_losses_of_scales_of_pooled_inputs():
  model = _d(num_scales=2)
  gray, color = _pair(4)
  variables = model.init(jax.random.key(0), gray, color, train=False)
  logits = model.apply(variables, gray, color, train=False)
  assert [x.shape for x in logits] == [(2, 6, 6, 1), (2, 2, 2, 1)]
  # Scale 1 is a PatchGAN of its own on 2x average-pooled inputs.
  single = _d()
  scale_1 = {k: v["scale_1"] for k, v in variables.items()}
  expected = single.apply(
    scale_1, discriminators.downsample(gray), discriminators.downsample(color), train=False
  )
  np.testing.assert_allclose(logits[1], expected, rtol=1e-5, atol=1e-6)
  loss = gan.build("lsgan")
  total, terms = gan.over_scales(loss.d_loss, logits, logits)
  per_scale = [loss.d_loss(x, x)[0] for x in logits]
  # Summed over scales, as pix2pixHD sums its D losses (issue 25, point 10; was the mean).
  np.testing.assert_allclose(total, per_scale[0] + per_scale[1], rtol=1e-6)
  accuracy = gan.over_scales(loss.accuracy, logits, logits, mean=True)
  assert 0.0 <= float(accuracy["acc_real"].max()) <= 1.0
  np.testing.assert_allclose(gan.critic_score(logits), sum(gan.per_example_mean(x) for x in logits))
  assert terms["real"].shape == (2,)


def test_stabilisers_in_one_step_with_ttur(load_config):
  config = load_config("pix2pix_fm_sn", "smoke")
  config.discriminator.num_scales, config.discriminator.n_layers = 2, 1
  config.gan.r1_gamma = 10.0
  config.d_optimizer.learning_rate = 0.0  # TTUR: D's optimizer is its own.
  task, optimizers = _build(config)
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  images = {"image": np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), np.uint8)}
  new, metrics = jax.jit(task.train_step)(state, images, jax.random.key(2))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert metrics["g/fm"] > 0 and metrics["d/r1"] > 0
  np.testing.assert_allclose(
    metrics["d/total"],
    0.5 * (metrics["d/real"] + metrics["d/fake"]) + 5.0 * metrics["d/r1"],
    rtol=1e-5,
  )
  np.testing.assert_allclose(
    metrics["g/total"], metrics["g/adv"] + 100 * metrics["g/l1"] + 10 * metrics["g/fm"], rtol=1e-5
  )
  jax.tree.map(np.testing.assert_array_equal, new.d.params, state.d.params)
  assert any(
    np.any(a != b) for a, b in zip(jax.tree.leaves(new.g.params), jax.tree.leaves(state.g.params))
  )
  # The u vectors still move (power iteration runs in train mode).
  assert any(
    np.any(a != b)
    for a, b in zip(jax.tree.leaves(new.d.batch_stats), jax.tree.leaves(state.d.batch_stats))
  )


@pytest.mark.parametrize(
  "change, message",
  [
    ({"gan.r1_gamma": 10.0, "gan_loss": "wgan_gp"}, "gan.r1_gamma > 0 with gan_loss 'wgan_gp'"),
    ({"gan.feature_matching": -1.0}, "gan.feature_matching is a weight"),
    ({"discriminator.num_scales": 0}, "discriminator.num_scales must be >= 1"),
  ],
)
def test_conflicting_switches_fail_before_anything_is_written(
  load_config, tmp_path, change, message
):
  config = load_config("pix2pix_fm_sn", "smoke")
  config.update_from_flattened_dict(change)
  with pytest.raises(ValueError, match=message) as built:
    tasks.build(config)
  with pytest.raises(preflight.ConfigError, match=message) as checked:
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
  assert str(checked.value) == str(built.value)  # One error, not one per place that trips on it.


def test_too_many_scales_for_the_image_is_a_clear_error(load_config):
  model = _d(num_scales=3, n_layers=3)
  gray, color = _pair(5)
  with pytest.raises(ValueError, match="num_scales=3: scale 1 sees 16 px inputs"):
    jax.eval_shape(lambda: model.init(jax.random.key(0), gray, color, train=False))
  # Checked with the config, before training: the smoke D (n_layers 3) fits 32 px at 1 scale only.
  config = load_config("pix2pix_fm_sn", "smoke")
  preflight.check(config, num_devices=8)
  config.discriminator.num_scales = 2
  with pytest.raises(
    preflight.ConfigError,
    match="discriminator 'patchgan' does not fit "
    "data.image_size=32: .*num_scales=2: scale 1 sees 16 px",
  ):
    preflight.check(config, num_devices=8)
  config.data.image_size = 64
  preflight.check(config, num_devices=8)


def test_smoke_config_trains_and_resumes_exactly(load_config, tmp_path, monkeypatch):
  config = load_config("pix2pix_fm_sn", "smoke")
  resumed = killed_then_resumed(config, str(tmp_path / "resumed"), monkeypatch)
  straight = trainer.train_and_evaluate(config, str(tmp_path / "straight"))
  assert_same_run(resumed, straight)
  assert resumed["epochs"] == 2


@pytest.mark.parametrize(
  "change, message",
  [
    ({"gan_loss": "wgan_gp"}, "gan_loss 'wgan_gp' penalises D's per-example gradient"),
    ({"gan.r1_gamma": 10.0}, r"gan.r1_gamma > 0 penalises D's per-example gradient"),
  ],
)
def test_gradient_penalties_through_a_batchnorm_critic_are_refused(load_config, change, message):
  """Issue 25, point 2: pix2pix's default PatchGAN has BatchNorm."""
  config = load_config("pix2pix", "smoke")
  assert config.discriminator.norm == "batch"
  config.update_from_flattened_dict(change)
  with pytest.raises(ValueError, match=message + r".*discriminator.norm=instance"):
    tasks.build(config)
  config.discriminator.norm = "instance"
  tasks.build(config)


def _r1_of_example_0(task, state, seed):
  """R1 of example 0 as the task's D update computes it, for a batch whose examples 1..7 vary
  with `seed`."""
  images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), np.uint8)
  images[1:] = np.random.default_rng(seed).integers(0, 256, (7, 32, 32, 3), np.uint8)
  inputs, target = task.model_inputs({"image": jnp.asarray(images)})
  d = state.d
  critic = lambda x: gan.per_example_mean(task._discriminate(d.params, d.batch_stats, inputs, x)[0])
  return float(jax.jit(lambda t: gan.r1_penalty(critic, t))(target)[0])


@pytest.mark.parametrize("norm, per_example", [("instance", True), ("batch", False)])
def test_r1_of_one_example_does_not_depend_on_the_others(load_config, norm, per_example):
  config = load_config("pix2pix", "smoke")
  config.discriminator.norm = norm
  task, optimizers = _build(config)
  state = jax.jit(lambda k: task.init_state(k, 32, optimizers))(jax.random.key(0))
  a, b = _r1_of_example_0(task, state, 1), _r1_of_example_0(task, state, 2)
  assert a > 0
  if per_example:  # What the accepted norms give.
    assert a == pytest.approx(b, rel=1e-5)
  else:  # Why batch norm is refused.
    assert abs(a - b) > 1e-4 * a
