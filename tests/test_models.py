"""Every registered model: shapes, output range, dropout and BatchNorm modes, dtype."""

import dataclasses
import functools
import importlib.util
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from colorize_jax import models, registry
from colorize_jax.models import layers

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
SIZE, BATCH, CHANNELS = 32, 2, 3
RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
# For models no smoke config uses (e.g. pix2pix's unet_256): depth and width
# small enough for 32 px and a fast test, applied where a model has the field.
TINY_FIELDS = {"base_features": 8, "num_downs": 5}
# Families whose `dropout` field must always reach a Dropout layer (others,
# like pix2pix's U-Net, place dropout only at depths a tiny model lacks).
ALWAYS_DROPS = {"dense", "cnn", "autoencoder", "unet"}


def key(seed: int) -> jax.Array:
  # XLA:CPU compiles threefry slowly (~7 s of CPU for one tiny model's init);
  # the "rbg" generator compiles in well under a second.
  return jax.random.key(seed, impl="rbg")


def _smoke_model_sections() -> dict[str, ml_collections.ConfigDict]:
  """model name -> the `model` section of the first `*smoke` variant that uses it."""
  sections = {}
  for path in sorted(CONFIGS.glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"configs.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for variant in getattr(module, "VARIANTS", {}):
      if "smoke" in variant:
        c = module.get_config(variant)
        sections.setdefault(c.model.name, c.model)
  return sections


SMOKE = _smoke_model_sections()
MODEL_NAMES = registry.names("model")


def _build(name: str, **overrides):
  """A tiny model: its smoke config's fields when a config uses it, else TINY_FIELDS."""
  if name in SMOKE:
    model = models.build(ml_collections.ConfigDict(SMOKE[name].to_dict()), out_channels=CHANNELS)
  else:
    model = models.build(ml_collections.ConfigDict({"name": name}), out_channels=CHANNELS)
    overrides = TINY_FIELDS | overrides
  fields = {f.name for f in dataclasses.fields(model)}
  return dataclasses.replace(model, **{k: v for k, v in overrides.items() if k in fields})


@functools.cache
def _compiled(name: str, overrides: tuple = ()):
  """(model, variables, eval forward, train forward), shared by the tests: compiling is most of
  their time."""
  model = _build(name, **dict(overrides))
  return model, _init(model), _forward(model, train=False), _forward(model, train=True)


def _modes_on(name: str) -> tuple:
  """Overrides that switch on dropout and BatchNorm where the tiny model has them off."""
  model, overrides = _build(name), {}
  if getattr(model, "dropout", None) == 0:
    overrides["dropout"] = 0.3
  if getattr(model, "norm", "batch") != "batch":
    overrides["norm"] = "batch"
  return tuple(sorted(overrides.items()))


def _gray(seed=0):
  return jax.random.uniform(key(seed), (BATCH, SIZE, SIZE, 1))


# Jitted, here and below: eager Flax compiles each op on its own, seconds per model.
def _init(model):
  init = jax.jit(lambda x: model.init({"params": key(0), "dropout": key(1)}, x, train=False))
  return init(_gray())


def _forward(model, *, train: bool):
  """Compiled once: (variables, gray, seed key) -> (output, batch_stats after the call)."""

  def fn(variables, gray, key):
    out, mutated = model.apply(
      variables, gray, train=train, rngs={"dropout": key}, mutable=["batch_stats"]
    )
    return out, mutated.get("batch_stats", {})

  return jax.jit(fn)


def _dropout_calls(model, variables) -> int:
  """How many Dropout layers with a non-zero rate run in train mode."""
  calls = []

  def spy(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.Dropout) and context.module.rate > 0:
      calls.append(context.module.name)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(spy):
    jax.eval_shape(
      lambda v: model.apply(
        v, _gray(), train=True, rngs={"dropout": key(0)}, mutable=["batch_stats"]
      ),
      variables,
    )
  return len(calls)


def test_every_model_is_covered():
  assert {"dense", "cnn", "autoencoder", "unet"} <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape_and_range(name):
  model, variables, evaluate, _ = _compiled(name)
  out, _ = evaluate(variables, _gray(), key(0))
  assert out.shape == (BATCH, SIZE, SIZE, CHANNELS)
  assert out.dtype == jnp.float32
  assert np.all(np.isfinite(out))
  low, high = RANGES.get(getattr(model, "output_activation", None), (-np.inf, np.inf))
  assert float(out.min()) >= low and float(out.max()) <= high


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_train_and_eval_modes(name):
  """Dropout draws from its rng only in train mode; BatchNorm statistics move only in train mode."""
  model, variables, evaluate, train = _compiled(name, _modes_on(name))
  gray = _gray(3) * 5.0 + 2.0  # Far from BatchNorm's initial statistics (mean 0, var 1).

  out1, eval_stats = evaluate(variables, gray, key(1))
  np.testing.assert_array_equal(out1, evaluate(variables, gray, key(2))[0])

  drops = _dropout_calls(model, variables)
  if name in ALWAYS_DROPS:
    assert drops > 0, f"{name}: dropout={model.dropout} reached no Dropout layer"
  out1, train_stats = train(variables, gray, key(1))
  if drops:
    assert not np.allclose(out1, train(variables, gray, key(2))[0])
    np.testing.assert_array_equal(out1, train(variables, gray, key(1))[0])

  if "batch_stats" in variables:
    moved = jax.tree.map(lambda a, b: not np.allclose(a, b), variables["batch_stats"], train_stats)
    assert all(jax.tree.leaves(moved))
    jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"], eval_stats)
  else:
    assert getattr(model, "norm", None) != "batch", f"{name}: norm='batch' made no BatchNorm"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bfloat16_compute_keeps_float32_params_and_output(name):
  model = _build(name, dtype="bfloat16")
  if "dtype" not in {f.name for f in dataclasses.fields(model)}:
    pytest.skip(f"{name} has no dtype field")
  variables = jax.eval_shape(lambda: model.init(key(0), _gray(), train=False))
  assert {p.dtype for p in jax.tree.leaves(variables["params"])} == {jnp.dtype(jnp.float32)}
  out = jax.eval_shape(lambda v: model.apply(v, _gray(), train=False), variables)
  assert out.dtype == jnp.float32 and out.shape == (BATCH, SIZE, SIZE, CHANNELS)


@pytest.mark.parametrize("kernel", [4, 3])
def test_conv_transpose_matches_flax(kernel):
  x = jax.random.normal(key(0), (2, 5, 6, 3))
  reference = nn.ConvTranspose(4, (kernel, kernel), strides=(2, 2), padding="SAME")
  params = reference.init(key(1), x)
  ours = layers.ConvTranspose(4, (kernel, kernel), strides=(2, 2))
  assert jax.tree.map(jnp.shape, ours.init(key(1), x)) == jax.tree.map(jnp.shape, params)
  expected = reference.apply(params, x)
  assert expected.shape == (2, 10, 12, 4)
  np.testing.assert_allclose(ours.apply(params, x), expected, atol=1e-5)


@pytest.mark.parametrize(
  "decoder, layer", [("upsample", layers.Conv), ("transpose", layers.ConvTranspose)]
)
def test_autoencoder_decoder_variants(decoder, layer):
  model = _build("autoencoder", decoder=decoder)
  seen = set()

  def spy(next_fun, args, kwargs, context):
    seen.add(type(context.module))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(spy):
    variables = jax.eval_shape(lambda: model.init(key(0), _gray(), train=False))
  assert layer in seen
  # The encoder convolves in both variants; only B's decoder transposes.
  assert (layers.ConvTranspose in seen) == (decoder == "transpose")
  out = jax.eval_shape(lambda v: model.apply(v, _gray(), train=False), variables)
  assert out.shape == (BATCH, SIZE, SIZE, CHANNELS)


def test_autoencoder_rejects_unknown_decoder():
  model = _build("autoencoder", decoder="pixel_shuffle")
  with pytest.raises(ValueError, match="upsample, transpose"):
    jax.eval_shape(lambda: model.init(key(0), _gray(), train=False))


@pytest.mark.parametrize("name", ["cnn", "autoencoder", "unet"])
def test_indivisible_image_size_is_a_clear_error(name):
  model = _build(name)
  with pytest.raises(ValueError, match="divisible"):
    jax.eval_shape(lambda: model.init(key(0), jnp.zeros((1, 34, 34, 1)), train=False))


def test_unknown_model_name_lists_valid_names():
  with pytest.raises(registry.UnknownNameError) as info:
    models.build(ml_collections.ConfigDict({"name": "resnet9000"}), out_channels=3)
  for name in ("dense", "cnn", "autoencoder", "unet"):
    assert name in str(info.value)


def test_unknown_model_option_is_a_clear_error():
  cfg = ml_collections.ConfigDict({"name": "dense", "hiden": (8,)})
  with pytest.raises(ValueError, match=r"no option\(s\) \['hiden'\].*hidden"):
    models.build(cfg, out_channels=3)


@pytest.mark.parametrize("kind, name", [("model", "unet_128"), ("discriminator", "patchgan")])
def test_pix2pix_init_draws_kernels_from_normal_0_02(kind, name):
  """Issue 25, point 11: pix2pix's init_weights('normal', 0.02), offered as weight_init=pix2pix."""
  from colorize_jax import models

  def kernels(init):
    cfg = ml_collections.ConfigDict({"name": name, "base_features": 8, "weight_init": init})
    if name == "unet_128":
      cfg.num_downs = 3
    net = models.build(cfg, out_channels=2 if kind == "model" else 1, kind=kind)
    gray, color = jnp.zeros((1, 32, 32, 1)), jnp.zeros((1, 32, 32, 2))
    args = (gray,) if kind == "model" else (gray, color)
    variables = net.init(jax.random.key(0), *args, train=False)
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])
    return [v for p, v in leaves if "kernel" in jax.tree_util.keystr(p) and v.size >= 1024]

  paper = kernels("pix2pix")
  assert paper and all(abs(float(jnp.std(k)) - 0.02) < 0.003 for k in paper)
  assert all(abs(float(jnp.mean(k))) < 0.003 for k in paper)
  assert any(abs(float(jnp.std(k)) - 0.02) > 0.01 for k in kernels("default"))
  with pytest.raises(ValueError, match="unknown weight_init 'xavier'; valid: default, pix2pix"):
    kernels("xavier")


def test_unet_attention_starts_as_identity_and_reaches_across_the_image():
  """model.attention_heads: a residual self-attention block after the bottleneck. Its output
  projection starts at zero (the U-Net's output is unchanged at init); once trained, a pixel
  in one corner changes the colour in the opposite corner, beyond the convolutions' reach."""
  from colorize_jax.models.unet import UNet

  net = UNet(features=(4, 8), decoder_features=(4,), attention_heads=2, norm="none")
  x = jax.random.uniform(key(0), (1, SIZE, SIZE, 1))
  variables = net.init(key(1), x, train=False)
  plain = UNet(features=(4, 8), decoder_features=(4,), norm="none")
  plain_params = {k: v for k, v in variables["params"].items() if k != "SelfAttention2D_0"}
  np.testing.assert_allclose(
    net.apply(variables, x, train=False), plain.apply({"params": plain_params}, x, train=False)
  )

  trained = jax.tree.map(lambda a: a, variables)
  out = trained["params"]["SelfAttention2D_0"]["MultiHeadDotProductAttention_0"]["out"]
  out["kernel"] = jax.random.normal(key(2), out["kernel"].shape)
  poked = x.at[0, 0, 0, 0].add(1.0)
  far = lambda v: v[0, -1, -1]
  assert (
    np.abs(
      far(plain.apply({"params": plain_params}, poked, train=False))
      - far(plain.apply({"params": plain_params}, x, train=False))
    ).max()
    == 0
  )  # the convolutions alone do not reach
  moved = far(net.apply(trained, poked, train=False)) - far(net.apply(trained, x, train=False))
  assert np.abs(moved).max() > 1e-6
  with pytest.raises(ValueError, match="8 channels do not split into 3 heads"):
    UNet(features=(4, 8), decoder_features=(4,), attention_heads=3).init(key(1), x, train=False)
