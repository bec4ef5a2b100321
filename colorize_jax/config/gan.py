"""Defaults every adversarial recipe starts from: base_config() plus the
discriminator, its optimizer, the GAN objective and generator EMA.

The defaults are pix2pix's (unet_128 + 70x70 PatchGAN, vanilla GAN + 100 L1,
Adam 2e-4 with betas 0.5/0.999 for both networks); recipes change the rest.

Stabilisers, all off by default (see configs/pix2pix_fm_sn.py for a recipe):
  --config.gan.feature_matching=10           pix2pixHD's feature matching on D's layers
  --config.discriminator.spectral_norm=true  spectral normalisation of every D weight
  --config.gan.r1_gamma=10                   R1 penalty on reals (not with wgan_gp)
  --config.discriminator.num_scales=2        pix2pixHD's multi-scale PatchGAN, 2-3 scales
  --config.d_optimizer.learning_rate=4e-4    TTUR (Heusel et al.): D and G have their own
                                             optimizers (config.optimizer is G's), e.g.
                                             D at 4e-4 and G at 1e-4 with b1=0, b2=0.9
"""

from __future__ import annotations

import ml_collections

from colorize_jax.config import base as config_base


def gan_config() -> ml_collections.ConfigDict:
  c = config_base.base_config()
  c.task = "adversarial"
  c.model = unet_128_generator(output_activation="tanh")
  c.discriminator = discriminator(name="patchgan", base_features=64, n_layers=3, norm="batch")

  # The generator's reconstruction term, the pixel-loss spec of base_config
  # ('l1:100', 'l2:100', 'mse:1,ssim:0.2', ...); '' or 'none' for none.
  c.loss = "l1:100"
  # vanilla | lsgan | hinge | wgan_gp (see colorize_jax/losses/gan.py).
  c.gan_loss = "vanilla"
  # Options of the gan_loss by name, e.g. {"wgan_gp": {"gp_weight": 10.0}}; defaults otherwise.
  c.gan_loss_options = config_base.GanLossOptions()
  c.gan = ml_collections.ConfigDict(
    {
      "adv_weight": 1.0,  # G's objective: adv_weight x adversarial + reconstruction.
      # EMA of G's weights for evaluation and export; 0 = off, e.g. 0.999. The same field as
      # config.ema_decay (a reference: setting either sets both; tasks/base.py).
      "ema_decay": c.get_ref("ema_decay"),
      # Weight of pix2pixHD's feature matching in G's loss; 0 = off, e.g. 10.
      "feature_matching": 0.0,
      "r1_gamma": 0.0,  # R1 penalty gamma/2 E||grad D(real)||^2 in D's loss; 0 = off, e.g. 10.
      # How G runs at test time (tasks/adversarial.py): running_average (dropout off,
      # BatchNorm's running averages; deterministic) | paper (Isola et al.: dropout on, each
      # photo normalised by itself; a new test_time_seed gives another colorization).
      "test_time": "running_average",
      "test_time_seed": 0,
    }
  )

  c.optimizer = ml_collections.ConfigDict(
    {
      "learning_rate": 2e-4,
      "b1": 0.5,
      "b2": 0.999,
      "schedule": "constant",
      "warmup_steps": 0,
      "grad_clip_norm": 0.0,
      "skip_nonfinite_updates": 0,  # config/base.py
    }
  )
  c.d_optimizer = ml_collections.ConfigDict(c.optimizer.to_dict())

  # A GAN's validation loss does not fall steadily: train for the set epochs.
  c.early_stopping.enabled = False
  c.early_stopping.restore_best = False
  c.data.color_space = "lab"
  c.data.value_range = (-1.0, 1.0)  # Used by the RGB space: matches G's tanh.
  return c


def unet_128_generator(output_activation: str) -> ml_collections.ConfigDict:
  """pix2pix's generator: a U-Net of 7 halvings (128 px -> 1 px), 64 base features,
  BatchNorm and dropout 0.5."""
  return ml_collections.ConfigDict(
    {
      "name": "unet_128",
      "base_features": 64,
      "num_downs": 7,
      "norm": "batch",
      "dropout": 0.5,
      "output_activation": output_activation,
    }
  )


def discriminator(**fields) -> ml_collections.ConfigDict:
  """A config.discriminator section: `fields` plus the stabiliser switches every
  discriminator has, off unless given (spectral_norm False, num_scales 1), so
  `--config.discriminator.spectral_norm=true` works on every adversarial recipe."""
  return ml_collections.ConfigDict(
    {
      **fields,
      "spectral_norm": fields.get("spectral_norm", False),
      "num_scales": fields.get("num_scales", 1),
    }
  )


def make_smoke(c: ml_collections.ConfigDict) -> None:
  """config_base.make_smoke plus tiny networks that fit 32x32 images."""
  config_base.make_smoke(c)
  c.model.base_features = 4
  c.discriminator.base_features = 4
