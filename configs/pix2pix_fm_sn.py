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
  # The other stabilisers, each a switch (see colorize_jax/config_gan.py):
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
matching) falls with g/l1. Not yet measured here: the reference study
(RESULTS.md) runs :short beside pix2pix's.
"""

from colorize_jax import config_base, config_gan

VARIANTS = {"": "pix2pix + feature matching + spectral norm, 128x128",
            "short": "pix2pix:short's size and budget", "smoke": "tests"}


def get_config(arg=None):
  variant = config_base.variant(arg, VARIANTS, "configs/pix2pix_fm_sn.py")
  c = config_gan.gan_config()
  c.model.name, c.model.num_downs = "unet_128", 7
  c.discriminator.name, c.discriminator.n_layers = "patchgan", 3
  c.discriminator.norm = "none"
  c.discriminator.spectral_norm = True
  c.gan.feature_matching = 10.0
  c.gan_loss = "vanilla"
  c.loss = "l1:100"
  c.batch_size = 16
  c.num_epochs = 200
  c.optimizer.schedule = "linear_decay"
  c.d_optimizer.schedule = "linear_decay"
  c.data.image_size = 128
  c.data.color_space = "lab"
  if variant == "short":  # As configs/pix2pix.py:short.
    config_base.make_short(c, epochs=10)
    c.data.sample_crops_per_photo = 64
    c.model.num_downs = 6
    c.model.base_features = 32
    c.discriminator.base_features = 32
  elif variant == "smoke":
    config_gan.make_smoke(c)
    c.model.num_downs = 5
  return c
