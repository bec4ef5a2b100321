"""Config values are checked before anything is written: one message naming each bad value."""

import pytest
from conftest import load_config

from colorize_jax.train import preflight, trainer


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("data.image_size", 0, r"data.image_size=0 must be a positive integer"),
    (
      "data.image_size",
      30,
      r"data.image_size=30 does not fit model 'unet'.*multiple of 4, e.g. 28, 32",
    ),
    ("num_epochs", -1, r"num_epochs=-1 must be an integer >= 1"),
    ("num_epochs", 0, r"num_epochs=0 must be an integer >= 1"),
    (
      "batch_size",
      -8,
      r"batch_size=-8 must be a positive multiple of the 8 device\(s\), e.g. 8 or 16",
    ),
    ("checkpoint.keep", 0, r"checkpoint.keep=0 must be an integer >= 1"),
    ("eval.every_epochs", 0, r"eval.every_epochs=0 must be an integer >= 1"),
    ("eval.max_examples", -1, r"eval.max_examples=-1 must be an integer >= 0"),
  ],
)
def test_bad_values_are_named_with_what_would_work(field, value, message):
  config = load_config("unet", "smoke")
  config.update_from_flattened_dict({field: value})
  with pytest.raises(preflight.ConfigError, match=message):
    preflight.check(config, num_devices=8)


def test_every_problem_is_listed_at_once():
  config = load_config("unet", "smoke")
  config.num_epochs, config.batch_size = -1, -8
  with pytest.raises(preflight.ConfigError, match="num_epochs=-1.*; batch_size=-8"):
    preflight.check(config, num_devices=8)


def test_image_size_follows_the_models_downsamplings(load_config):
  config = load_config("pix2pix", "smoke")  # 5 downsamplings.
  config.data.image_size = 48
  with pytest.raises(preflight.ConfigError, match="multiple of 32, e.g. 32, 64"):
    preflight.check(config, num_devices=8)
  config.data.image_size = 64
  preflight.check(config, num_devices=8)


def test_split_fractions_are_checked_for_folders_and_flagged_as_ignored_for_sample(
  caplog, tmp_path
):
  config = load_config("unet", "smoke")
  config.data.split_fractions = (0.0, 0.5, 0.5)
  with caplog.at_level("WARNING"):
    preflight.check(config, num_devices=8)  # source=sample: not an error, but not silent.
  assert "does not apply to data.source='sample'" in caplog.text
  config.data.source, config.data.path = "folder", str(tmp_path)
  with pytest.raises(preflight.ConfigError, match=r"split_fractions=\(0.0, 0.5, 0.5\).*train > 0"):
    preflight.check(config, num_devices=8)


def test_training_checks_before_writing_anything(tmp_path):
  config = load_config("unet", "smoke")
  config.data.image_size = 0
  with pytest.raises(preflight.ConfigError):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
  "overrides, message",
  [
    (
      {"data.color_space": "lab"},
      r"model.output_activation='sigmoid' gives values in \[0, 1\] but the targets of "
      r"data.color_space='lab' lie in \[-1, 1\]; use --config.model.output_activation=tanh",
    ),
    (
      {"data.value_range": (-1.0, 1.0)},
      r"'sigmoid'.*data.color_space='rgb' with data.value_range=\(-1.0, 1.0\) lie in \[-1, 1\]; "
      r"use --config.model.output_activation=tanh",
    ),
    (
      {"data.value_range": (-2.0, 2.0), "model.output_activation": "tanh"},
      r"'tanh' gives values in \[-1, 1\].*use --config.model.output_activation=linear",
    ),
    ({"data.color_space": "lab", "model.output_activation": "relu"}, r"\[0, inf\]"),
  ],
)
def test_an_output_activation_that_misses_the_target_range_is_refused(overrides, message):
  """Issue 25, point 1: a sigmoid on Lab ab/110 (or value_range (-1, 1)) never predicts < 0."""
  config = load_config("unet", "smoke")
  config.update_from_flattened_dict(overrides)
  with pytest.raises(preflight.ConfigError, match=message):
    preflight.check(config, num_devices=8)


@pytest.mark.parametrize(
  "recipe, overrides",
  [
    ("unet", {}),
    ("unet", {"data.color_space": "lab", "model.output_activation": "tanh"}),
    ("unet", {"data.color_space": "lab", "model.output_activation": "linear"}),
    ("pix2pix", {}),
    ("classification", {}),  # Its head's logits are not the target: not checked.
  ],
)
def test_output_activations_that_reach_the_targets_pass(load_config, recipe, overrides):
  config = load_config(recipe, "smoke")
  config.update_from_flattened_dict(overrides)
  preflight.check(config, num_devices=8)
