"""Small CNN colorizer of the birds study (gray -> RGB, MSE, Adam).

Reproduces: 128x128 gray input; encoder 64 and 128 (3x3 conv, BatchNorm, ReLU,
each followed by 2x2 max pooling); bottleneck 3x3 conv 128; decoder of nearest
upsampling and 3x3 convs; 1x1 conv to 3 channels with sigmoid. No skip
connections (~0.44 M parameters). MSE loss, MAE metric, Adam lr 1e-3, batch
32, up to 200 epochs with early stopping on validation loss (patience 10, best
weights restored), 70/10/20 split, the same augmentation as configs/unet.py.

Deviations: the study's decoder ("upsampling, then two 3x3 convs") would end at
half resolution after two poolings; we upsample before each of the two convs
(upsample -> conv 128 -> upsample -> conv 64) so the output is full size.
The study does not give its patience; we use 10.

Run:
  python launch.py --config=configs/cnn.py --workdir=runs/cnn \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  configs/cnn.py:short  quick run on the embedded photos (64x64, 3 epochs).
  configs/cnn.py:smoke  tiny model and data: seconds, for tests.

Expected result: validation MSE between the dense baseline's and the U-Net's;
outputs keep the shapes but are blurrier than the U-Net's (no skips carry the
fine detail) and desaturated towards sepia, the MSE regression to the mean.

Measured results: RESULTS.md, row `cnn`.
"""

import ml_collections

from colorize_jax.config import base as config_base


def _short(c):
  config_base.make_short(c)
  c.batch_size = 16


def _smoke(c):
  config_base.make_smoke(c)
  c.model.features = (8, 16)
  c.model.bottleneck = 16
  c.model.decoder_features = (16, 8)


VARIANTS = {
  "": ("the study's recipe", None),
  "short": ("quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.model = ml_collections.ConfigDict(
    {
      "name": "cnn",
      "features": (64, 128),
      "bottleneck": 128,
      "decoder_features": (128, 64),
      "norm": "batch",
      "activation": "relu",
      "dropout": 0.0,
      "output_activation": "sigmoid",
    }
  )
  c.loss = "mse"
  return config_base.apply_variant(c, arg, VARIANTS, "configs/cnn.py")
