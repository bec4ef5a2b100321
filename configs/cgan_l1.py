"""The birds study's conditional GAN with an L1 term: configs/cgan.py + 100 x L1.

Reproduces: the cgan_cnn generator and dcgan discriminator of
configs/cgan.py (RGB in [-1, 1], batch 32, 400 epochs, Adam 2e-4 / 0.5),
with the generator's loss BCE + 100 x L1. The weight is pix2pix's: the
study gives none, and L1 on [-1, 1] pixels is small next to the
adversarial BCE, so a weight near 1 would leave the adversarial term in
charge (pix2pix's ablation: 100 balances sharpness and faithful colours).

Run:
  python launch.py --config=configs/cgan_l1.py --workdir=runs/cgan_l1 \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  # Another weight or term: --config.loss=l1:10  or  --config.loss=l2:100

Variants:
  configs/cgan_l1.py:smoke  tiny networks and data: seconds, for tests.

Expected result: val L1 falls like a regression model's while the
adversarial term keeps colours more saturated than MSE's sepia; val L1
well below configs/cgan.py's.

Measured results: RESULTS.md, row `cgan_l1`.
"""

from colorize_jax.config import base as config_base
from colorize_jax.config import gan as config_gan

VARIANTS = {"": ("the study's recipe", None), "smoke": ("tests", config_gan.make_smoke)}


def get_config(arg=None):
  c = config_base.sibling(__file__, "cgan").recipe()
  c.loss = "l1:100"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/cgan_l1.py")
