"""The adversarial task: data-parallel step, D-then-G order, one G forward,
EMA, network shapes, and every GAN config's smoke run with resume."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import assert_same_run, killed_then_resumed, step_on_1_and_8_devices

from colorize_jax import losses, models, registry, tasks
from colorize_jax.models import layers
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.tasks import adversarial, base
from colorize_jax.train import optim, trainer

GAN_CONFIGS = ("cgan", "cgan_l1", "cgan_unet_patchgan", "pix2pix")
GENERATORS = {
  "cgan_cnn": 2,
  "unet_small": 2,
  "unet_128": 5,
  "unet_256": 5,
}  # name -> num_downs at 32 px.


def _batch(n=8, size=32, seed=0):
  return {"image": np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)}


def _build(config):
  """(task, optimizers) as the training loop builds them, for a 10-step schedule."""
  task = tasks.build(config)
  return task, optim.build_all(config, task.optimizers, total_steps=10)


def _init(task, optimizers, size=32):
  return jax.jit(lambda k: task.init_state(k, size, optimizers))(jax.random.key(0))


def _assert_trees_close(a, b, **tol):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **tol), a, b)


@pytest.mark.portability
def test_step_on_8_devices_equals_step_on_1_device(load_config):
  task, optimizers = _build(load_config("pix2pix", "smoke"))
  (state1, metrics1), (state8, metrics8) = step_on_1_and_8_devices(
    task.train_step, _init(task, optimizers), _batch(), jax.random.key(1)
  )

  assert int(state8.step) == int(state1.step) == 1
  # Both networks, their BatchNorm statistics and both optimizer states.
  _assert_trees_close(state1, state8, rtol=2e-4, atol=2e-5)
  _assert_trees_close(metrics1, metrics8, rtol=1e-4, atol=1e-6)
  for key in (
    "d/real",
    "d/fake",
    "d/total",
    "d/acc_real",
    "d/acc_fake",
    "g/adv",
    "g/l1",
    "g/total",
  ):
    assert key in metrics8, key


def test_generator_steps_against_the_updated_discriminator(load_config):
  # cgan_cnn has no dropout, so G's output is a function of its parameters alone.
  task, optimizers = _build(load_config("cgan_l1", "smoke"))
  state, batch = _init(task, optimizers), _batch(seed=3)
  new, metrics = jax.jit(task.train_step)(state, batch, jax.random.key(1))
  gray, target = task.color_space.split(jnp.asarray(batch["image"]))

  @jax.jit
  def g_loss(g_params, d_params):
    """pix2pix's G objective, computed directly: G forward, D, losses."""
    fake, _ = task.generator.apply(
      {"params": g_params, "batch_stats": state.g.batch_stats},
      gray,
      train=True,
      mutable=["batch_stats"],
    )
    logits = task.discriminator.apply({"params": d_params}, gray, fake, train=True)
    adv = task.gan_loss.g_loss(logits)
    return jnp.mean(adv + task.reconstruction(fake, target)[0]), adv.mean()

  np.testing.assert_allclose(metrics["g/adv"], g_loss(state.g.params, new.d.params)[1], rtol=1e-5)
  assert abs(float(metrics["g/adv"]) - float(g_loss(state.g.params, state.d.params)[1])) > 1e-4

  # The vjp through the one forward pass gives the gradient of the whole chain.
  grads = jax.jit(jax.grad(lambda p: g_loss(p, new.d.params)[0]))(state.g.params)
  expected = state.g.apply_gradients(grads=grads)
  _assert_trees_close(new.g.params, expected.params, rtol=1e-4, atol=1e-6)
  _assert_trees_close(new.g.opt_state, expected.opt_state, rtol=1e-4, atol=1e-7)


def test_wgan_gp_step_with_ema(load_config):
  # The one objective that runs D inside its loss; EMA in the same compile to save time.
  config = load_config("cgan_l1", "smoke")
  config.gan_loss = "wgan_gp"
  config.discriminator.norm = "none"
  config.gan.ema_decay = 0.75
  task, optimizers = _build(config)
  state = _init(task, optimizers)
  _assert_trees_close(state.ema["params"], state.g.params)
  new, metrics = jax.jit(task.train_step)(state, _batch(), jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert metrics["d/gp"] > 0 and int(new.step) == 1
  # The first update's decay is warmed up: min(0.75, 1/10) (issue 25, point 4).
  expected = jax.tree.map(lambda e, p: 0.1 * e + 0.9 * p, state.ema["params"], new.g.params)
  _assert_trees_close(new.ema["params"], expected, rtol=1e-5, atol=1e-7)
  assert task.inference_variables(new) is new.ema


def test_ema_is_off_by_default(load_config):
  task, optimizers = _build(load_config("cgan_l1", "smoke"))
  state = jax.eval_shape(lambda: task.init_state(jax.random.key(0), 32, optimizers))
  assert state.ema is None


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("out_channels", [2, 3])
def test_generator_output_shape(name, out_channels):
  model = models.build(
    ml_collections.ConfigDict({"name": name, "base_features": 4, "num_downs": GENERATORS[name]}),
    out_channels=out_channels,
  )
  out = jax.eval_shape(
    lambda: model.init_with_output(
      {"params": jax.random.key(0), "dropout": jax.random.key(1)},
      jnp.zeros((2, 32, 32, 1)),
      train=True,
    )[0]
  )
  assert out.shape == (2, 32, 32, out_channels) and out.dtype == jnp.float32


def _discriminator_logits(**fields) -> jax.ShapeDtypeStruct:
  """The shape of a registered discriminator's logits for 2 gray/colour pairs at 32 px."""
  model = models.build(ml_collections.ConfigDict(fields), out_channels=1, kind="discriminator")
  return jax.eval_shape(
    lambda: model.init_with_output(
      jax.random.key(0), jnp.zeros((2, 32, 32, 1)), jnp.zeros((2, 32, 32, 3)), train=True
    )[0]
  )


@pytest.mark.parametrize("name", registry.names("discriminator"))
def test_discriminator_gives_float32_logits_per_example(name):
  out = _discriminator_logits(name=name, base_features=4)
  assert out.shape[0] == 2 and out.shape[-1] == 1 and out.dtype == jnp.float32


@pytest.mark.parametrize(
  "name, n_layers, expected",
  [("dcgan", 2, (2, 1)), ("patchgan", 3, (2, 2, 2, 1)), ("patchgan", 1, (2, 14, 14, 1))],
)
def test_discriminator_output_shape(name, n_layers, expected):
  assert _discriminator_logits(name=name, base_features=4, n_layers=n_layers).shape == expected


def _param_count(model, *inputs):
  variables = jax.eval_shape(
    lambda: model.init(
      {"params": jax.random.key(0), "dropout": jax.random.key(0)}, *inputs, train=False
    )
  )
  return layers.count_params(variables["params"])


def test_pix2pix_networks_have_the_reference_sizes():
  # junyanz/pytorch-CycleGAN-and-pix2pix (3 -> 3 channels): unet_128 41.83 M, unet_256 54.41 M,
  # 70x70 PatchGAN on 6 channels 2.769 M parameters.
  x = jnp.zeros((1, 128, 128, 3))
  assert _param_count(registry.get("model", "unet_128")(out_channels=3), x) == 41_828_995
  assert (
    _param_count(registry.get("model", "unet_256")(out_channels=3), jnp.zeros((1, 256, 256, 3)))
    == 54_413_955
  )
  assert _param_count(registry.get("discriminator", "patchgan")(), x, x) == 2_768_705


def test_unet_size_that_does_not_divide_is_a_clear_error():
  model = registry.get("model", "unet_128")(base_features=4)
  with pytest.raises(
    ValueError, match=r"num_downs=7 needs an image size divisible by 2\^7 = 128; got 32"
  ):
    jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)), train=False))


def test_state_is_a_pytree_of_arrays(load_config):
  task, optimizers = _build(load_config("pix2pix", "smoke"))
  state = jax.eval_shape(lambda: task.init_state(jax.random.key(0), 32, optimizers))
  assert isinstance(state, adversarial.GanState)
  assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(state))


@pytest.mark.parametrize("name", GAN_CONFIGS)
def test_smoke_config_trains_and_resumes(load_config, tmp_path, monkeypatch, name):
  config = load_config(name, "smoke")
  resumed = killed_then_resumed(config, str(tmp_path / "resumed"), monkeypatch)
  steps_per_epoch = resumed["step"] // config.num_epochs
  assert resumed["epochs"] == config.num_epochs == 2 and steps_per_epoch > 0

  # Resumed: every step logged once, the second launch starting after the first's checkpoint.
  steps = [r["step"] for r in read_metrics(str(tmp_path / "resumed")) if r["kind"] == "step"]
  assert steps == list(range(1, 2 * steps_per_epoch + 1))
  val = resumed["val"]
  assert np.isfinite(val["l1"]) and set(resumed["params"]) == {"generator", "discriminator"}
  # eval's 'loss' is the reconstruction objective: weight x L1 in every GAN config.
  np.testing.assert_allclose(
    val["loss"], losses.parse_spec(config.loss)["l1"] * val["l1"], rtol=1e-5
  )
  for path in ("samples/final.png", "plots/loss.png", "final_metrics.json"):
    assert (tmp_path / "resumed" / path).exists(), path

  if name == "pix2pix":  # Exactness, on the config with dropout and BatchNorm in both networks.
    assert_same_run(resumed, trainer.train_and_evaluate(config, str(tmp_path / "straight")))


def test_ema_warm_up_leaves_under_one_percent_of_the_initialisation():
  """Issue 25, point 4: at decay 0.999 a fixed-decay EMA still holds 0.999^1344 = 26% of the
  random initialisation after 1,344 steps; warmed up, under 1% (after 10 steps already)."""
  decays = np.asarray(jax.vmap(lambda t: base.ema_decay_at(0.999, t))(jnp.arange(1344)))
  assert np.prod(decays) < 0.01 and np.prod(decays[:10]) < 0.01
  assert np.all(np.diff(decays) >= 0) and np.all(decays <= 0.999)
  assert float(base.ema_decay_at(0.999, 100_000)) == pytest.approx(0.999)


def test_paper_test_time_mode_samples_per_photo_and_the_default_stays_deterministic(load_config):
  """Issue 25, point 8: --config.gan.test_time=paper runs G as Isola et al. test (dropout on,
  each photo normalised by its own statistics): a photo's output does not depend on the other
  photos in the batch, a new seed gives another sample; the default is deterministic and
  uses BatchNorm's running averages."""
  config = load_config("pix2pix", "smoke")
  task, optimizers = _build(config)
  state = _init(task, optimizers)
  variables = task.inference_variables(state)
  inputs, _ = task.model_inputs(_batch(4))
  others, _ = task.model_inputs(_batch(4, seed=7))
  mixed = inputs.at[1:].set(others[1:])

  default = jax.jit(task.generate)
  np.testing.assert_array_equal(default(variables, inputs), default(variables, inputs))
  running = task.generator.apply(variables, inputs, train=False)
  np.testing.assert_allclose(default(variables, inputs), running, atol=1e-6)

  config.gan.test_time = "paper"
  paper_task = tasks.build(config)
  paper = jax.jit(paper_task.generate)
  first = np.asarray(paper(variables, inputs))
  np.testing.assert_allclose(first[0], np.asarray(paper(variables, mixed))[0], atol=1e-5)
  # Nor does its place in the batch: the sample is the photo's own.
  swapped = np.asarray(paper(variables, inputs[::-1]))[::-1]
  np.testing.assert_allclose(first, swapped, atol=1e-5)
  assert np.abs(first - np.asarray(running)).max() > 1e-3  # not the deterministic mode
  config.gan.test_time_seed = 1
  reseeded = np.asarray(jax.jit(tasks.build(config).generate)(variables, inputs))
  assert np.abs(first - reseeded).max() > 1e-3  # dropout: another sample

  config.gan.test_time = "dropout"
  with pytest.raises(ValueError, match="gan.test_time='dropout'.*'running_average', 'paper'"):
    tasks.build(config)
