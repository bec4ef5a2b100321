"""The birds study's simple conditional GAN: gray -> RGB, adversarial loss only.

Reproduces: cgan_cnn generator (4x4 convs: 64 and 128 stride 2 with
BatchNorm + LeakyReLU, a 256-channel bottleneck, two transposed convs back,
tanh output; 1.3 M parameters at 128x128) against the dcgan discriminator
(two 4x4 stride-2 convs with LeakyReLU, one logit per image) that sees
gray + colour; binary cross-entropy only (`loss` is 'l1:0': L1 is
logged but weighs nothing; `--config.loss=none` drops the term), Adam
2e-4 / 0.5 / 0.999 for both, batch 32, 400 epochs, images normalised to [-1, 1] in RGB.

Run:
  python launch.py --config=configs/cgan.py --workdir=runs/cgan \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  configs/cgan.py:smoke  tiny networks and data: seconds, for tests.

Expected result: with nothing tying G to the true colours, G learns
plausible-looking but often wrong colours (and can drift or collapse); val
L1 (logged although not trained on) stays well above cgan_l1's. It is the
baseline that shows why pix2pix adds the L1 term.

Measured results: RESULTS.md, row `cgan`.
"""

import ml_collections

from colorize_jax.config import base as config_base
from colorize_jax.config import gan as config_gan

VARIANTS = {"": ("the study's recipe", None), "smoke": ("tests", config_gan.make_smoke)}


def recipe() -> ml_collections.ConfigDict:
  """The birds study's simple cGAN, shared by configs/cgan*.py: cgan_cnn G against
  the dcgan D, RGB normalised to [-1, 1] (tanh output), batch 32, 400 epochs."""
  c = config_gan.gan_config()
  c.model = ml_collections.ConfigDict(
    {
      "name": "cgan_cnn",
      "base_features": 64,
      "num_downs": 2,
      "norm": "batch",
      "output_activation": "tanh",
    }
  )
  c.discriminator = config_gan.discriminator(
    name="dcgan", base_features=64, n_layers=2, norm="none"
  )
  c.batch_size = 32
  c.num_epochs = 400
  c.data.image_size = 128
  c.data.color_space = "rgb"
  c.data.value_range = (-1.0, 1.0)
  c.loss = "l1:0"  # BCE only; a spec that parses everywhere (the config tests check it).
  return c


def get_config(arg=None):
  return config_base.apply_variant(recipe(), arg, VARIANTS, "configs/cgan.py")
