#!/usr/bin/env bash
# `make demo`: the main job end to end on built-in photos, on CPU, in minutes.
#   1. build a small photo set from images bundled with scikit-image
#   2. write the training photos to LMDB (srkit-lmdb)
#   3. train a small SRResNet x2 (srkit-train; LQ made on the fly by bicubic degradation)
#   4. upscale the held-out LR photos (srkit-infer) and score them against bicubic (srkit-eval)
# Re-running reuses the data and resumes/finishes the training (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo_out
DATA=$OUT/data
SCALE=2
PY=${PYTHON:-python}

echo "== 1. demo photos (scikit-image's bundled images)"
[ -d "$DATA/hr_val" ] || "$PY" scripts/make_demo_data.py "$DATA" --scale $SCALE

echo "== 2. LMDB"
if [ -f "$DATA/hr_train.lmdb/meta_info.txt" ] && [ ! -f "$DATA/hr_train.lmdb/.srkit-incomplete" ]; then
  echo "$DATA/hr_train.lmdb exists"
else
  srkit-lmdb --input "$DATA/hr_train" --output "$DATA/hr_train.lmdb" --workers 2 --verify
fi

echo "== 3. train SRResNet x$SCALE (CPU, a few minutes)"
srkit-train -opt options/demo_srresnet_x2.yml --auto_resume

echo "== 4. infer and evaluate on held-out photos"
EXP=$OUT/experiments/demo_srresnet_x2
LAST=$(ls "$EXP"/models/net_g_*.pth | sed 's/.*net_g_\([0-9]*\)\.pth/\1/' | sort -n | tail -1)
srkit-infer --model "$EXP/models/net_g_$LAST.pth" --input "$DATA/lr_val_x$SCALE" --output "$OUT/sr_srresnet"
srkit-eval --sr "$OUT/sr_srresnet" --gt "$DATA/hr_val" --lq "$DATA/lr_val_x$SCALE" --scale $SCALE \
  --json "$OUT/eval_srresnet.json"
echo "demo done: models in $EXP/models, TensorBoard logs in $EXP/tb_logger, results in $OUT"
