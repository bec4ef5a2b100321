#!/usr/bin/env bash
# Wheels that bench/accelerator_check.sh installs on a GPU host with no package index.
#
#   bash bench/fetch_wheels.sh            # here, where pip reaches an index: writes .whl/
#   bash bench/accelerator_check.sh ...   # there, with .whl/ beside the checkout's files
#
# The accelerator host's image (see DESIGN.md) has jax, flax, optax, orbax-checkpoint,
# absl-py, chex, etils, protobuf, pyyaml, cloudpickle, psutil, opencv and pillow, but not
# the packages below; they are fetched for its Python (3.12, x86-64 manylinux), without
# dependencies, pinned to the versions this project is tested with. .whl/ is ignored by git
# (.gitignore) and travels with the tree only when named (the device tool's `carry`).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${WHEEL_DIR:-.whl}"
PYTHON_VERSION="${PYTHON_VERSION:-3.12}"
PACKAGES=(
  grain==0.2.18 array-record==0.8.6 portpicker==1.6.0  # the input pipeline (train.py imports it)
  ml-collections==1.1.0                                 # configs
  dm-pix==0.4.5                                         # SSIM / PSNR metrics
  tensorboardX==2.6.5                                   # the run writer
  simplejpeg==1.9.0                                     # JPEG decoding
)
mkdir -p "$DEST"
python3 -m pip download --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform any -d "$DEST" "${PACKAGES[@]}"
ls -l "$DEST"
