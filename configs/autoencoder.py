"""Convolutional autoencoder colorizers of the autoencoder study (gray -> RGB).

Variant A (default, `:a`): encoder of 3x3 stride-2 convs 64/128/256 with
LeakyReLU and dropout 0.1; decoder of nearest upsampling (Keras'
UpSampling2D) + 3x3 conv, 128/64/32; 3x3 conv to 3 channels with sigmoid at
full resolution. MSE loss, MAE metric, Adam lr 1e-3, batch 16, up to 50
epochs, early stopping on validation loss with patience 5 restoring the best
weights, 60/20/20 split.

Variant B (`:b`): the same encoder without dropout, a decoder of stride-2
transposed convs (Keras' Conv2DTranspose), 300 epochs, no early stopping
(the last weights are kept).

Deviations: the study names the layer types but not every width; ours are the
ones above (~0.76 M parameters). LeakyReLU's slope is 0.2 (pix2pix's, shared by
every model here) rather than Keras' default 0.3. The study's own photo set is
not shipped; the commands below use the birds folder, at 128x128, with the
augmentation of configs/unet.py.

Run:
  python launch.py --config=configs/autoencoder.py:a --workdir=runs/autoencoder_a \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  python launch.py --config=configs/autoencoder.py:b --workdir=runs/autoencoder_b \
      --config.data.source=folder --config.data.path=../shared/data/birds/train

Variants:
  :a / :b              the study's two recipes ('' is :a).
  :short               variant A, quick run on the embedded photos (64x64, 3 epochs).
  :smoke / :a_smoke    variant A, tiny model and data: seconds, for tests.
  :b_smoke             variant B, likewise.

Expected result: both variants learn plausible but desaturated colours (MSE
regression to the mean); A stops early within the 50 epochs. B, trained 300
epochs without early stopping, reaches a lower training loss but its
validation loss rises again late in training (overfitting), which is why the
study adds dropout and early stopping in A. Transposed convs may leave faint
checkerboard patterns in B's outputs; nearest upsampling avoids them.

Measured results: RESULTS.md, rows `autoencoder_a` and `autoencoder_b`.
"""

import ml_collections

from colorize_jax.config import base as config_base


def _variant_a(c):
  c.model.decoder = "upsample"
  c.model.dropout = 0.1
  c.num_epochs = 50
  c.early_stopping.enabled = True
  c.early_stopping.patience = 5
  c.early_stopping.restore_best = True


def _variant_b(c):
  c.model.decoder = "transpose"
  c.model.dropout = 0.0
  c.num_epochs = 300
  c.early_stopping.enabled = False
  c.early_stopping.restore_best = False


def _smoke(c):
  config_base.make_smoke(c)
  c.model.features = (8, 16, 16)
  c.model.decoder_features = (16, 8, 8)


# Each variant is its recipe, then its size changes; '' and 'a' are the study's A.
VARIANTS = {
  "": ("variant A", _variant_a),
  "a": ("upsampling decoder, dropout, early stopping", _variant_a),
  "b": ("transposed-conv decoder, no dropout, 300 epochs", _variant_b),
  "short": ("variant A, quick run", config_base.chain(_variant_a, config_base.make_short)),
  "smoke": ("variant A, tests", config_base.chain(_variant_a, _smoke)),
  "a_smoke": ("variant A, tests", config_base.chain(_variant_a, _smoke)),
  "b_smoke": ("variant B, tests", config_base.chain(_variant_b, _smoke)),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.model = ml_collections.ConfigDict(
    {
      "name": "autoencoder",
      "features": (64, 128, 256),
      "decoder_features": (128, 64, 32),
      "decoder": "upsample",
      "kernel_size": 3,
      "norm": "none",
      "activation": "leaky_relu",
      "dropout": 0.1,
      "output_activation": "sigmoid",
    }
  )
  c.loss = "mse"
  c.batch_size = 16
  c.data.split_fractions = (0.6, 0.2, 0.2)
  return config_base.apply_variant(c, arg, VARIANTS, "configs/autoencoder.py")
