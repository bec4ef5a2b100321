#!/usr/bin/env bash
# One command for an accelerator host: correctness against the CPU, pix2pix train and inference
# throughput (float32 and bfloat16), and the PyTorch reference on the same device, in one table
# (bench/accelerator_check.py says what each row is). Under 8 minutes on one H100/H200.
#
#   bash bench/accelerator_check.sh --peak_tflops=989    # one H100/H200 (dense bf16 peak)
#   bash bench/accelerator_check.sh --quick              # CPU, tiny shapes (what CI runs)
#
# On a GPU host that has jax, flax, optax and orbax-checkpoint but no grain, ml_collections,
# dm-pix, tensorboardX or simplejpeg, and no package index:
#   1. where pip reaches an index, in the checkout: bash bench/fetch_wheels.sh   (writes .whl/,
#      Python 3.12 x86-64 wheels, ~5 MB; set PYTHON_VERSION=3.11 etc. for another Python);
#   2. copy the checkout with .whl/ to the GPU host (the device tool: carry [".whl"]);
#   3. there: bash bench/accelerator_check.sh --peak_tflops=989
# This script installs the wheels from .whl/ into $COLORIZE_SITE (default /tmp/colorize_site)
# with pip --no-index --no-deps when those packages do not import, and runs the check with
# the checkout itself on PYTHONPATH (no pip install of the project needed). torch is used for
# the reference rows when it imports (no torch: those columns stay empty).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
SITE="${COLORIZE_SITE:-/tmp/colorize_site}"
NEEDED="import grain, ml_collections, dm_pix, tensorboardX, simplejpeg"
if ! "$PYTHON" -c "$NEEDED" 2>/dev/null; then
  if ! ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
    echo "missing packages ($NEEDED) and no wheels in $ROOT/.whl: run bench/fetch_wheels.sh" \
         "where pip reaches an index, and bring .whl/ along" >&2
    exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$ROOT"/.whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# JAX grows its GPU memory as needed instead of taking 75% up front: torch shares the device.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
export PYTHONUNBUFFERED=1
if [[ " $* " == *" --quick "* ]]; then
  # The quick check times code paths, not kernels: unoptimised CPU code halves its compiles.
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
fi
exec "$PYTHON" "$ROOT/bench/accelerator_check.py" "$@"
