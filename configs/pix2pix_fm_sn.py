"""pix2pix with GAN stabilisers: feature matching (pix2pixHD, Wang et al. 2018)
and spectral normalisation of the discriminator (Miyato et al. 2018).

Reproduces configs/pix2pix.py (unet_128 G, 70x70 PatchGAN D, vanilla GAN +
100 x L1, Adam 2e-4 betas 0.5/0.999, Lab, 128x128, batch 16) plus:
  * feature matching, weight 10 (pix2pixHD's lambda_feat): G also matches D's
    intermediate activations on (gray, fake) to those on (gray, real), L1,
    every layer before the logits weighted 4 / L (gan.feature_matching);
  * spectral normalisation of every D weight, one power iteration per D call
    in train mode, the `u` vectors carried in the train state's batch_stats
    and so in checkpoints (discriminator.spectral_norm). D has no BatchNorm
    here (discriminator.norm=none): BatchNorm after a normalised conv rescales
    its output and undoes the Lipschitz bound, and SN-GAN's D has none.

Run:
  python launch.py --config=configs/pix2pix_fm_sn.py --workdir=runs/p2p_fm_sn \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  # The other stabilisers, each a switch (see colorize_jax/config/gan.py):
  python launch.py --config=configs/pix2pix_fm_sn.py --workdir=runs/p2p_hd \
      --config.discriminator.num_scales=2 --config.gan_loss=lsgan --config.loss=l1:10
  python launch.py --config=configs/pix2pix_fm_sn.py --workdir=runs/p2p_r1 \
      --config.gan.r1_gamma=10 --config.discriminator.spectral_norm=false
  # TTUR: D's learning rate apart from G's (config.d_optimizer is D's optimizer):
  python launch.py --config=configs/pix2pix_fm_sn.py --workdir=runs/p2p_ttur \
      --config.optimizer.learning_rate=1e-4 --config.d_optimizer.learning_rate=4e-4

Variants:
  configs/pix2pix_fm_sn.py:short  configs/pix2pix.py:short's size and budget (64x64,
                                  10 epochs of 24 steps on the embedded photos).
  configs/pix2pix_fm_sn.py:smoke  tiny networks and data: seconds, for tests.

Expected result: as pix2pix (G's L1 falls, D's accuracy stays away from 0
and 1) with D's loss moving less from epoch to epoch; g/fm (feature
matching) falls with g/l1.

Measured results: RESULTS.md, row `pix2pix_fm_sn`.
"""

from colorize_jax.config import base as config_base


def _pix2pix():
  """configs/pix2pix.py, which this recipe extends (loaded by path: any working directory)."""
  return config_base.sibling(__file__, "pix2pix")


def _pix2pix_variant(name):
  """configs/pix2pix.py's variant `name`: the two recipes differ by the stabilisers only."""

  def edit(c):
    _pix2pix().VARIANTS[name][1](c)

  return edit


VARIANTS = {
  "": ("pix2pix + feature matching + spectral norm, 128x128", None),
  "short": ("pix2pix:short's size and budget", _pix2pix_variant("short")),
  "smoke": ("tests", _pix2pix_variant("smoke")),
}


def get_config(arg=None):
  c = _pix2pix().get_config()
  c.discriminator.norm = "none"  # No BatchNorm after a spectrally normalised conv (see above).
  c.discriminator.spectral_norm = True
  c.gan.feature_matching = 10.0
  return config_base.apply_variant(c, arg, VARIANTS, "configs/pix2pix_fm_sn.py")
