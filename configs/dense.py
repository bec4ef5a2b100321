"""Fully connected baseline colorizer of the birds study (gray -> RGB, MSE, Adam).

Reproduces: 128x128 gray input flattened to 16,384 values; Dense 512, 1024,
2048 (ReLU, each followed by BatchNorm and Dropout); Dense 49,152 with
sigmoid, reshaped to 128x128x3 (~112 M parameters, nearly all in the output
layer). MSE loss, MAE metric, Adam lr 1e-3, batch 32, up to 200 epochs with
early stopping on validation loss (patience 10, best weights restored), 70/10/20
split, the same augmentation as configs/unet.py.

Deviations: the study does not give its dropout rate or patience; we use
dropout 0.2 (`--config.model.dropout=0.3` to change it) and patience 10.

Run:
  python launch.py --config=configs/dense.py --workdir=runs/dense \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  configs/dense.py:short  quick run on the embedded photos (64x64, 3 epochs).
  configs/dense.py:smoke  tiny model and data: seconds, for tests.

Expected result: the weakest model of the study. In the study its validation MSE
drops below the gray baseline but stays above the CNN's and U-Net's; outputs are blurry,
brownish/sepia images with little spatial detail, since every pixel is
predicted from the whole image without any notion of locality.

Measured results: RESULTS.md, row `dense`.
"""

import ml_collections

from colorize_jax.config import base as config_base


def _short(c):
  config_base.make_short(c)
  c.batch_size = 16


def _smoke(c):
  config_base.make_smoke(c)
  c.model.hidden = (32, 32)


VARIANTS = {
  "": ("the study's recipe", None),
  "short": ("quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.model = ml_collections.ConfigDict(
    {
      "name": "dense",
      "hidden": (512, 1024, 2048),
      "norm": "batch",
      "activation": "relu",
      "dropout": 0.2,
      "output_activation": "sigmoid",
    }
  )
  c.loss = "mse"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/dense.py")
