"""ab classification with class rebalancing (Zhang, Isola & Efros, "Colorful
Image Colorization", ECCV 2016; richzhang/colorization).

Reproduces the paper's objective on the birds study's U-Net (the network of
configs/unet.py, so the two compare at an equal budget): L/50 - 1 in, a
distribution over the ab bins out (ab grid of 10 kept where in the sRGB
gamut: 262 bins, see colorize_jax/color/ab_bins.py), trained with the multinomial
cross-entropy on targets soft-encoded over the 5 nearest bins (Gaussian,
sigma 5), each pixel weighted by its bin's rebalancing weight
((1 - 0.5) p~ + 0.5 / Q)^-1 with p~ the train split's bin distribution
(counted on up to 2,000 train images, smoothed by sigma 5, normalised to
E_p~[w] = 1; stored as <workdir>/ab_prior.json). Predictions are the
annealed mean at T = 0.38, in ab/110 like a Lab regression model, so eval,
colorize and export treat it as one. 128x128, batch 32.
Not the paper's: the network (Zhang's is a VGG-style net with dilated convs
predicting at 1/4 resolution) and the optimiser, which stays configs/unet.py's
(Adam 1e-3, early stopping on validation loss) so that only the objective
differs from the regression row; Zhang's own is Adam 3e-5, betas 0.9/0.99,
weight decay 1e-3, batch 40, for ~450k iterations:
  --config.optimizer.learning_rate=3e-5 --config.optimizer.b2=0.99 --config.batch_size=40

Run:
  python launch.py --config=configs/classification.py --workdir=runs/classification \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  # The head on another registered generator: pix2pix's unet_128 (any generator
  # with per-pixel outputs works: --config.model.name=NAME and its options):
  python launch.py --config=configs/classification.py:unet_128 --workdir=runs/cls_unet128
  # Classification + regression (L1 on the decoded ab), no rebalancing, another temperature:
  python launch.py --config=configs/classification.py --workdir=runs/cls_mix \
      --config.loss=ab_ce:1,l1:10 --config.classification.prior_mix=1 \
      --config.classification.temperature=0.2
  # The regression counterpart in the same Lab target space:
  python launch.py --config=configs/unet.py --workdir=runs/unet_lab --config.data.color_space=lab \
      --config.model.output_activation=tanh

Variants:
  configs/classification.py:unet_128  the head on pix2pix's unet_128 generator.
  configs/classification.py:recommended  + L1 (weight 10) on the decoded ab and an EMA (0.999)
                                      of the weights: RESULTS.md's recommended recipe
                                      (classification_l1_ema), the nearest to issue 22's goal.
  configs/classification.py:short     64x64, 3 epochs on the embedded photos
                                      (configs/unet.py:short's size).
  configs/classification.py:smoke     tiny model and data: seconds, for tests.

Expected result: more saturated colours than MSE regression (higher
colorfulness, smaller delta colorfulness) at some cost in L1/AuC, the paper's
trade-off; val/l1 (ab/110) falls below the gray (ab = 0) baseline.

Measured results: RESULTS.md, row `classification`.
"""

import ml_collections

from colorize_jax.config import base as config_base
from colorize_jax.config import gan as config_gan


def _unet_128(c):
  c.model = config_gan.unet_128_generator(output_activation="linear")


# The same U-Net sizes as configs/unet.py's variants, so only the objective differs.
_UNET = config_base.sibling(__file__, "unet")
_short = _UNET._short


def _smoke(c):
  _UNET._smoke(c)
  c.classification.prior_images = 16


def _recommended(c):
  """RESULTS.md's recommended recipe (classification_l1_ema): nearest to issue 22's goal on the
  held-out photos at the reference budget, among everything the study tried."""
  c.loss = "ab_ce:1,l1:10"
  c.ema_decay = 0.999


VARIANTS = {
  "": ("Zhang's objective on the study's U-Net, 128x128", None),
  "unet_128": ("the head on pix2pix's unet_128", _unet_128),
  "recommended": ("+ L1 on the decoded ab, EMA weights: RESULTS.md's pick", _recommended),
  "short": ("64x64 quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.task = "classification"
  c.model = _UNET.get_config().model  # configs/unet.py's network, under the head.
  c.model.output_activation = "linear"
  c.data.color_space = "lab"
  c.data.image_size = 128
  c.batch_size = 32
  # ab terms (ab_ce) and pixel terms on the decoded ab mix by weight: 'ab_ce:1,l1:10'.
  c.loss = "ab_ce"
  c.loss_options.ab_ce = {"neighbours": 5, "sigma": 5.0}  # Soft encoding: 5 nearest bins, sigma 5.
  c.classification = ml_collections.ConfigDict(
    {
      "temperature": 0.38,  # Annealed-mean decoding: 1 = the mean, -> 0 = the mode.
      "prior_mix": 0.5,  # lambda: weights from (1 - lambda) p~ + lambda / Q; 1 = no rebalancing.
      "prior_sigma": 5.0,  # Smoothing of the empirical bin distribution (ab units).
      # Train images counted for the prior (every pixel), spread over the split.
      "prior_images": 2000,
    }
  )
  return config_base.apply_variant(c, arg, VARIANTS, "configs/classification.py")
