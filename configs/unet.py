"""U-Net regression colorizer of the birds study (gray -> RGB, MSE, Adam).

Reproduces: 128x128 gray input; encoder 64/128/256 (3x3 conv, BatchNorm,
ReLU, 2x2 max pooling); decoder 128/64 (nearest upsampling, 3x3 conv) with
skips from the first two encoder stages; 1x1 conv to 3 channels, sigmoid.
MSE loss, MAE metric, Adam lr 1e-3, batch 32, up to 200 epochs with early
stopping on validation loss (patience 10, best weights restored; the study
does not give its patience), 70/10/20 split, zoom 0.1 + rotation 10 degrees
+ horizontal flips.

Run:
  python launch.py --config=configs/unet.py --workdir=runs/unet \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  configs/unet.py:short  the README's quick run on the embedded photos
                         (64x64, 3 epochs, a few minutes on a 2-core CPU).
  configs/unet.py:smoke  tiny model and data: seconds, for tests.

Expected result: on birds at 128x128 validation MSE falls well below the gray
baseline within a few epochs; the output looks sepia/desaturated (MSE
regression to the mean colour), as the study reports.

Measured results: RESULTS.md, row `unet`.
"""

import ml_collections

from colorize_jax.config import base as config_base


def _short(c):
  config_base.make_short(c)
  c.batch_size = 16


def _smoke(c):
  config_base.make_smoke(c)
  c.model.features = (8, 16, 32)
  c.model.decoder_features = (16, 8)


VARIANTS = {
  "": ("the study's recipe", None),
  "short": ("README quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.model = ml_collections.ConfigDict(
    {
      "name": "unet",
      "features": (64, 128, 256),
      "decoder_features": (128, 64),
      "convs_per_block": 1,
      "norm": "batch",
      "activation": "relu",
      "dropout": 0.0,
      "output_activation": "sigmoid",
      "attention_heads": 0,  # A self-attention block after the bottleneck (issue 22's ablation).
    }
  )
  c.loss = "mse"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/unet.py")
