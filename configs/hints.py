"""User-guided colorization (Zhang, Zhu, Isola, Geng, Lin, Yu & Efros, "Real-Time
User-Guided Image Colorization with Learned Deep Priors", SIGGRAPH 2017) on the
birds study's U-Net, with self-attention at its bottleneck (model.attention_heads) and a
cosine learning-rate schedule.

The network reads L/50 - 1, the hint ab (ab/110, zero where there is no hint)
and the hint mask, and predicts ab/110 (task "hints", colorize_jax/tasks/hints.py).
Hints are sampled in the jitted train step from the augmented photo
(colorize_jax/data/hints.py, the reference's scheme): the count is geometric
with P(0) = 1/8, so one photo in eight is colorized automatically; square
patches of 1-9 px whose value is the patch's mean ab; centres normal around the
image centre (sd a quarter of the free range). config.hints holds every
option; hints.automatic_fraction adds photos trained with no hint at all.
Loss: L1 on ab (regression; the reference uses ab classification + 10 x L1:
--config.task=hints_classification --config.loss=ab_ce:1,l1:10, with
configs/classification.py's `classification` block, which this recipe carries).

Validation also scores the photo with 0, 1, 2, 5, 10, 20, 50 and 100 hints
drawn deterministically from the true photo (data/hints.fixed, seed
evals.val.hint_seed): `val/hints_<n>/<metric>` in metrics.jsonl,
`hints_<n>/<metric>` in final_metrics.json and eval/<name>.json (with a
"hint_curve" table), and plots/hints_<evaluator>.png (metric against n).

Run:
  python launch.py --config=configs/hints.py --workdir=runs/hints \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  # The curve again on a checkpoint, or on a folder of photos:
  python launch.py --config=configs/hints.py --workdir=runs/hints --mode=eval \
      --config.data.source=folder --config.data.path=../shared/data/birds/train
  python launch.py --config=configs/hints.py --workdir=runs/hints --mode=eval \
      --config.eval.path=../shared/data/kodak24
  # Colorize with your own hints (points in the photo's pixels, or a scribble PNG):
  python -m colorize_jax.colorize --workdir=runs/hints photo.jpg --hints=points.json --output=out/

Variants:
  configs/hints.py:short  64x64, 3 epochs on the embedded photos (configs/unet.py:short's size).
  configs/hints.py:smoke  tiny model and data, two hint counts: seconds, for tests.

Expected result: at 0 hints about the Lab regression U-Net's numbers; PSNR and
AuC rise steadily with the number of hints (the reference, on 1,000 ImageNet
images: 24.43 / 25.37 / 28.42 / 31.13 dB at 0 / 1 / 10 / 100 hints).
"""

import ml_collections

from colorize_jax.config import base as config_base

_UNET = config_base.sibling(__file__, "unet")
_CLASSIFICATION = config_base.sibling(__file__, "classification")

# The evaluation curve's hint counts (the reference's figure, and a few between).
HINT_COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)


def _short(c):
  _UNET._short(c)


def _smoke(c):
  _UNET._smoke(c)
  c.classification.prior_images = 16
  c.evals.val.hint_counts = (0, 10)
  c.eval.hint_counts = (0, 10)
  c.optimizer.warmup_steps = 0  # A smoke run is shorter than the recipe's warm-up.


VARIANTS = {
  "": ("hints on the study's U-Net, 128x128", None),
  "short": ("64x64 quick run", _short),
  "smoke": ("tests", _smoke),
}


def get_config(arg=None):
  c = config_base.base_config()
  c.task = "hints"
  c.model = _UNET.get_config().model  # configs/unet.py's network, four input channels,
  # with self-attention at the bottleneck: the U-Net's 3x3 convolutions see about 25 px of a
  # 64 px photo, attention over the 16x16 bottleneck carries a hint across all of it
  # (docs/DESIGN.md, "The hints network", has the measurement that chose it).
  c.model.attention_heads = 4
  # Cosine decay after a short warm-up: at a constant rate the hint curve of the last weights
  # still moved from epoch to epoch, and many hints could score below a few (docs/DESIGN.md,
  # "The hints network").
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 100
  c.model.output_activation = "tanh"  # ab/110 in [-1, 1].
  c.data.color_space = "lab"
  c.data.image_size = 128
  c.batch_size = 32
  c.loss = "l1"
  c.hints = ml_collections.ConfigDict(
    {
      "geometric_p": 1.0 / 8.0,  # P(no hint); the count is geometric on {0, 1, 2, ...}.
      "max_points": 64,  # Cap on a photo's count.
      "min_patch": 1,  # Patch sides, uniform on min_patch..max_patch pixels.
      "max_patch": 9,
      "center_std": 0.25,  # Centres: normal, sd this share of the free range (<= 0: uniform).
      "automatic_fraction": 0.0,  # Extra share of photos trained with no hint at all.
    }
  )
  # For --config.task=hints_classification (ignored by the regression task).
  c.classification = _CLASSIFICATION.get_config().classification
  # Validation and --mode=eval score the photo at these hint counts (evaluators/hint_counts.py).
  c.evals.val.hint_counts = HINT_COUNTS
  c.evals.val.hint_seed = 0
  c.eval.hint_counts = HINT_COUNTS
  return config_base.apply_variant(c, arg, VARIANTS, "configs/hints.py")
