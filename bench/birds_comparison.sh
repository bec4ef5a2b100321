#!/usr/bin/env bash
# Equal-budget comparison of every recipe on the birds photos, then a report.
#
#   bash bench/birds_comparison.sh                      # all recipes, 64 steps x 16 images each
#   STEPS=400 RECIPES="unet pix2pix" bash bench/birds_comparison.sh
#
# Trains each recipe at 128x128 on birds/train (90% train, 10% for per-epoch
# validation), evaluates the final weights on birds/val (disjoint photos) and
# on kodak24 (other scenes), and writes OUT/report/{report.md,report.csv,
# val_loss.png,grid.png}. Needs ../shared/data (not part of the project).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/birds_comparison}
STEPS=${STEPS:-64}
BATCH=${BATCH:-16}
RECIPES=${RECIPES:-"dense cnn autoencoder:a autoencoder:b unet cgan cgan_l1 cgan_unet_patchgan pix2pix"}

common=(--config.data.source=folder "--config.data.path=$DATA/birds/train"
        "--config.data.split_fractions=(0.9,0.1,0.0)" "--config.batch_size=$BATCH"
        "--config.max_train_steps=$STEPS" --config.log_every_steps=8
        --config.early_stopping.restore_best=false)
runs=()
for recipe in $RECIPES; do
  file=${recipe%%:*}
  variant=${recipe#"$file"}
  name=${file}${variant/:/_}
  workdir=$OUT/$name
  echo "=== $recipe -> $workdir"
  python launch.py "--config=configs/$file.py$variant" "--workdir=$workdir" "${common[@]}"
  for target in birds/val kodak24; do
    python launch.py "--config=configs/$file.py$variant" "--workdir=$workdir" --mode=eval \
        "${common[@]}" --config.eval.checkpoint=last "--config.eval.path=$DATA/$target"
  done
  runs+=("$workdir")
done
python -m colorize_jax.compare "${runs[@]}" "--output=$OUT/report"
echo "report: $OUT/report/report.md"
