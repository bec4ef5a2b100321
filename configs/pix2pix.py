"""pix2pix colorization (Isola et al. 2017, junyanz/pytorch-CycleGAN-and-pix2pix).

Reproduces: unet_128 generator (7 downsamplings, 64 base filters, BatchNorm,
dropout 0.5, tanh; 41.8 M parameters), 70x70 PatchGAN discriminator
(n_layers 3, BatchNorm) on (L, ab) pairs, vanilla GAN + 100 x L1, Adam 2e-4
with betas 0.5/0.999 for both, learning rate constant for the first half of
training and linear to zero over the second (pix2pix's 100 + 100 epochs),
Lab space (L/50 - 1 in, ab/110 out), 128x128.
The paper trains with batch 1. We use batch 16: the batch is split over the
devices (data parallel), and BatchNorm over a global batch of 1 would
normalise each image by itself; 16 is also what pix2pix's own speed figures
(docs/DESIGN.md, "Reference figures") use, so the two can be compared.
Initial weights: Flax's LeCun normal by default; --config.model.weight_init=pix2pix
--config.discriminator.weight_init=pix2pix draws every conv kernel from N(0, 0.02),
as pix2pix's init_weights (its BatchNorm scales N(1, 0.02) are not copied).
Test time: evaluation, sample grids, colorize and export run G with dropout
off and BatchNorm's running averages (Flax's train=False, as every model
here: deterministic, one output per photo). Isola et al. test with dropout on
and the test batch's own statistics (their test.py skips model.eval() unless
--eval), which makes outputs stochastic (dropout is their only noise source)
and, at batch 1, normalises each photo by itself: --config.gan.test_time=paper
runs G that way (each photo alone, dropout on; --config.gan.test_time_seed=N for
another sample). The default stays deterministic so that metrics, grids and
colorize give one answer per photo and runs compare without sampling noise.

Run:
  python launch.py --config=configs/pix2pix.py --workdir=runs/pix2pix \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  # RGB instead of Lab (G then outputs RGB in [-1, 1]):
  python launch.py --config=configs/pix2pix.py --workdir=runs/pix2pix_rgb \
      --config.data.color_space=rgb
  # Least squares GAN with an L2 reconstruction term:
  python launch.py --config=configs/pix2pix.py --workdir=runs/p2p_ls \
      --config.gan_loss=lsgan --config.loss=l2:100

Variants:
  configs/pix2pix.py:256    unet_256 at 256x256 (pix2pix's default size).
  configs/pix2pix.py:short  the README's quick run on the embedded photos:
                            64x64, num_downs 6, 32 base filters (G 7.3 M,
                            D 0.69 M parameters), 10 epochs of 24 steps;
                            its wall time: RESULTS.md, "Measured elsewhere".
  configs/pix2pix.py:smoke  tiny networks and data: seconds, for tests.

Expected result: G's L1 (train/g/l1, val/l1) falls steadily while D's loss
hovers around 0.5-0.7 (D accuracy neither 0 nor 1); colours are more
saturated than the MSE regression models' sepia.

Measured results: RESULTS.md, row `pix2pix`.
"""

from colorize_jax.config import base as config_base
from colorize_jax.config import gan as config_gan


def _256(c):
  c.model.name, c.model.num_downs = "unet_256", 8
  c.data.image_size = 256


def _short(c):
  config_base.make_short(c, epochs=10)
  c.data.sample_crops_per_photo = 64  # 24 steps an epoch at batch 16, as timed for the README.
  c.model.num_downs = 6
  c.model.base_features = 32
  c.discriminator.base_features = 32


def _smoke(c):
  config_gan.make_smoke(c)
  c.model.num_downs = 5  # 32 px -> 1 px at the bottom.


VARIANTS = {
  "": ("pix2pix at 128x128", None),
  "256": ("unet_256 at 256x256", _256),
  "short": ("README quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_gan.gan_config()
  c.model.name, c.model.num_downs = "unet_128", 7
  c.discriminator.name, c.discriminator.n_layers = "patchgan", 3
  c.gan_loss = "vanilla"
  c.loss = "l1:100"
  c.batch_size = 16
  c.num_epochs = 200
  c.optimizer.schedule = "linear_decay"
  c.d_optimizer.schedule = "linear_decay"
  c.data.image_size = 128
  c.data.color_space = "lab"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/pix2pix.py")
