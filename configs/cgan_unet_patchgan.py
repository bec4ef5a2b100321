"""The birds study's cGAN with a U-Net generator and a PatchGAN discriminator.

Reproduces: unet_small generator (cgan_cnn's 4x4 encoder-decoder, 64/128
down, 256 bottleneck, plus two encoder->decoder skip connections; tanh)
against the 70x70 PatchGAN (n_layers 3, BatchNorm, one logit per patch)
on gray + RGB, BCE + 100 x L1, Adam 2e-4 / 0.5 / 0.999, batch 32,
400 epochs, RGB normalised to [-1, 1].

Run:
  python launch.py --config=configs/cgan_unet_patchgan.py --workdir=runs/cgan_unet_patchgan \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  configs/cgan_unet_patchgan.py:smoke  tiny networks and data: seconds, for tests.

Expected result (the birds study's): the skips carry the gray image's edges
straight to the decoder and the PatchGAN judges local texture, so outputs are
sharper than cgan_l1's, with val L1 at or below it. At the reference budget
(64 px, 8 epochs) that did not hold: its val L1 ended above cgan_l1's and its
colours above the photos' colourfulness (RESULTS.md: its row, claim (ii)).

Measured results: RESULTS.md, row `cgan_unet_patchgan`.
"""

from colorize_jax.config import base as config_base
from colorize_jax.config import gan as config_gan

VARIANTS = {"": ("the study's recipe", None), "smoke": ("tests", config_gan.make_smoke)}


def get_config(arg=None):
  c = config_base.sibling(__file__, "cgan").recipe()
  c.model.name = "unet_small"
  c.discriminator = config_gan.discriminator(
    name="patchgan", base_features=64, n_layers=3, norm="batch"
  )
  c.loss = "l1:100"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/cgan_unet_patchgan.py")
