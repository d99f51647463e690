#!/usr/bin/env bash
# `make demo`: the main job end to end on built-in photos, on CPU.
#   1. build a small photo set from images bundled with scikit-image (nothing is downloaded)
#   2. write the training photos to LMDB (srkit-lmdb)
#   3. SRResNet x2: train (LQ made on the fly by bicubic degradation), infer, evaluate vs bicubic;
#      then three modern architectures (spandrel's SPAN, RealPLKSR and SwinIR) on the same data
#   4. ESRGAN x4: PSNR-oriented RRDBNet, then the GAN stage from it, then a network
#      interpolation sweep (srkit-interp)
#   5. realistic degradations: BSRGAN and Real-ESRGAN LR sets (srkit-degrade) and a
#      picture of them; Real-ESRNet, Real-ESRGAN and BSRNet fine-tuned from stage 4's
#      PSNR model, scored on the realistic LR against the bicubic-trained model
#   6. DSGAN: learn a "camera" (noisy LR photos) from unpaired data, make an LR set with it,
#      and compare its noise level with the camera's and bicubic's
#   7. image translation on the same engine: pix2pix (edges -> photo), CycleGAN (an unpaired
#      colour cast) and a conditional GAN on scikit-learn's digits (srkit-sample)
#   8. the report (srkit-eval --out): bicubic, the PSNR model, the interpolated models and the
#      GAN model on the held-out photos, in demo_out/report/report.html
#   9. curation (srkit-dataset): the training photos with bad copies injected (fake HR upscaled from
#      a third of the size, JPEG q10, near duplicates), curated; stage 3's small model trained on
#      the raw set and on the curated one, scored on the held-out photos
# Stages 3, 6 and 7 need nothing from 4 and 5, so they run beside them (3's RealPLKSR in the
# main job, which has less to do): two jobs of one CPU
# thread each (these small networks gain about 15% from a second thread, a second job nearly
# 100%).  Their output goes to demo_out/logs/stages_3_6_7.log and is shown after stage 5.
# The summary at the end puts every stage's model against its baseline.
# DEMO_SEED=S trains every stage with manual_seed S instead of its recipe's (0), to see how far each
# figure moves with the seed (scripts/bench/demo_spread.py compares such runs).
# Re-running reuses the data and finished trainings (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo_out
DATA=$OUT/data
EXPS=$OUT/experiments
PY=${PYTHON:-python}
export SRKIT_OFFLINE=1  # the demo never downloads; missing VGG19 weights are reported instead
START=$SECONDS
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per job; see above
stage() { local t=$((SECONDS - START)); echo "== $* [$((t / 60))m$((t % 60))s]"; }

last_ckpt() {  # newest net_g_<iter>.pth of an experiment
  ls "$EXPS/$1"/models/net_g_*.pth | sed 's/.*net_g_\([0-9]*\)\.pth/\1/' | sort -n | tail -1 \
    | sed "s#.*#$EXPS/$1/models/net_g_&.pth#"
}

train() {  # train an experiment unless it already reached its last iteration (then: srkit-train's --force ...)
  local opt=$1 name=$2 total=$3
  if compgen -G "$EXPS/$name/models/net_g*_$total.pth" >/dev/null; then
    echo "$name: already trained ($total iterations)"
  else
    srkit-train -opt "$opt" --auto_resume ${DEMO_SEED:+--force manual_seed=$DEMO_SEED} "${@:4}"
  fi
}

partial_ok() {  # srkit-eval's exit 3: a report without a metric whose weights are not cached (offline)
  local rc=0
  "$@" || rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 3 ]
}

# demo_out made by other recipes (an older srkit) is moved aside, not resumed: a changed recipe
# would stop --auto_resume, and old data would be scored as new
RECIPES=$(LC_ALL=C; (cat options/demo_*.yml scripts/make_demo_data.py scripts/make_translation_data.py \
  scripts/make_curation_data.py; [ -z "${DEMO_SEED:-}" ] || echo "seed $DEMO_SEED") | cksum | cut -d' ' -f1)
if [ -d "$OUT" ] && [ "$(cat "$OUT/.recipes" 2>/dev/null)" != "$RECIPES" ]; then
  OLD="$OUT.old-$(date +%Y%m%d-%H%M%S)"
  mv "$OUT" "$OLD"
  echo "demo: $OUT was made by other demo recipes; moved it to $OLD and starting afresh"
fi
mkdir -p "$OUT"
echo "$RECIPES" > "$OUT/.recipes"

stage "1. demo photos (scikit-image's bundled images)"
[ -d "$DATA/lr_val_x4" ] || "$PY" scripts/make_demo_data.py "$DATA" --scales 2,4

stage "2. LMDB"
if [ -f "$DATA/hr_train.lmdb/meta_info.txt" ] && [ ! -f "$DATA/hr_train.lmdb/.srkit-incomplete" ]; then
  echo "$DATA/hr_train.lmdb exists"
else
  srkit-lmdb --input "$DATA/hr_train" --output "$DATA/hr_train.lmdb" --workers 2 --verify
fi

side_stages() {  # 3, 6 and 7
  stage "3. SRResNet x2 (CPU, a few minutes)"
  train options/demo_srresnet_x2.yml demo_srresnet_x2 1000
  srkit-infer --model "$(last_ckpt demo_srresnet_x2)" --input "$DATA/lr_val_x2" --output "$OUT/sr_srresnet_x2"
  srkit-eval --sr "SRResNet=$OUT/sr_srresnet_x2" --gt "$DATA/hr_val" --lq "$DATA/lr_val_x2" --scale 2 \
    --json "$OUT/eval_srresnet_x2.json"

  stage "3b. modern architectures on the same data: SPAN and a small SwinIR (spandrel's classes)"
  train options/demo_span_x2.yml demo_span_x2 800
  train options/demo_swinir_x2.yml demo_swinir_x2 800

  stage "6a. DSGAN: a 'camera' domain (bicubic LR + sensor noise sigma 8), then learn it from unpaired photos"
  srkit-degrade --input "$DATA/hr_train" --output "$DATA/camera_lr_x4" --preset dsgan_sensor_noise --scale 4 --seed 1
  train options/demo_dsgan_x4.yml demo_dsgan_x4 800
  stage "6b. a DSGAN LR set of the held-out photos (srkit-degrade --method dsgan), and what it learned"
  srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_dsgan_x4" --method dsgan \
    --model "$(last_ckpt demo_dsgan_x4)" --scale 4
  srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_camera_x4" --preset dsgan_sensor_noise --scale 4 --seed 2
  "$PY" scripts/bench/dsgan.py --measure "$DATA/lr_val_x4" "$DATA/lr_val_camera_x4" "$DATA/lr_val_dsgan_x4"
  stage "7. image translation: pix2pix, CycleGAN and CGAN (scikit-image photos, scikit-learn digits)"
  T=$OUT/translation
  [ -d "$T/digits/9" ] || "$PY" scripts/make_translation_data.py "$T"
  train options/demo_pix2pix_edges.yml demo_pix2pix_edges 1500
  srkit-infer --model "$EXPS/demo_pix2pix_edges/models/net_g_1500.pth" --input "$T/edges2photo/val_edges" \
    --output "$OUT/pix2pix_photos" >/dev/null
  echo "pix2pix edges -> photo on held-out pairs (RGB):"
  srkit-eval --sr "pix2pix=$OUT/pix2pix_photos" --gt "$T/edges2photo/val_photos" --scale 1 --color-space rgb \
    --crop-border 0 --json "$OUT/eval_pix2pix.json"
  train options/demo_cyclegan_colour.yml demo_cyclegan_colour 2400
  srkit-infer --model "$EXPS/demo_cyclegan_colour" --net g_a --input "$T/colour/valA" --output "$OUT/cyclegan_a2b" >/dev/null
  echo "CycleGAN G_A against the true cast ('bicubic' at scale 1: A unchanged):"
  srkit-eval --sr "CycleGAN=$OUT/cyclegan_a2b" --gt "$T/colour/valB" --lq "$T/colour/valA" --scale 1 --color-space rgb \
    --crop-border 0 --json "$OUT/eval_cyclegan.json"
  train options/demo_cgan_digits.yml demo_cgan_digits 1500
  srkit-sample --model "$EXPS/demo_cgan_digits/models/net_g_1500.pth" --per-label 10 --seed 0 --out "$OUT/cgan_digits.png"
  # 100 per label for the summary, which labels them with a classifier fitted on the real digits
  srkit-sample --model "$EXPS/demo_cgan_digits/models/net_g_1500.pth" --per-label 100 --seed 1 \
    --out "$OUT/cgan_samples/grid.png" --out-dir "$OUT/cgan_samples" >/dev/null
}

mkdir -p "$OUT/logs"
SIDE_LOG=$OUT/logs/stages_3_6_7.log
set -m  # the side job gets a process group of its own, so that it can be stopped whole
side_stages > "$SIDE_LOG" 2>&1 &
SIDE=$!
set +m
# whatever ends this script (Ctrl-C, a failed stage) ends the side job and its trainings too
trap 'exit 130' INT TERM
trap 'kill -- -$SIDE 2>/dev/null || true' EXIT
echo "stages 3, 6 and 7 run beside 4 and 5 ($SIDE_LOG; shown after stage 5)"

stage "4a. ESRGAN story, stage 1: PSNR-oriented RRDBNet x4"
train options/demo_rrdb_psnr_x4.yml demo_rrdb_psnr_x4 1000
stage "4b. stage 2: the GAN stage, initialised from stage 1"
train options/demo_esrgan_x4.yml demo_esrgan_x4 300
stage "4c. network interpolation sweep: (1-a)*PSNR + a*GAN"
srkit-interp "$(last_ckpt demo_rrdb_psnr_x4)" "$(last_ckpt demo_esrgan_x4)" \
  --alphas 0,0.2,0.4,0.6,0.8,1 --out-dir "$OUT/interp"
stage "5a. realistic LR sets from the held-out photos (srkit-degrade), and a picture of them"
for p in bsrgan realesrgan; do
  srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_${p}_x4" --preset $p --scale 4 --seed 0
done
"$PY" scripts/degradation_panel.py --hr "$DATA/hr_val" --lr "bicubic=$DATA/lr_val_x4" \
  --lr "bsrgan=$DATA/lr_val_bsrgan_x4" --lr "realesrgan=$DATA/lr_val_realesrgan_x4" --scale 4 \
  --out "$OUT/degradations_panel.png"
stage "5b. Real-ESRNet: stage 4's PSNR model on Real-ESRGAN degradations, made per batch"
train options/demo_realesrnet_x4.yml demo_realesrnet_x4 400
stage "5c. Real-ESRGAN: the GAN stage from 5b"
train options/demo_realesrgan_x4.yml demo_realesrgan_x4 200
stage "5d. BSRNet: stage 4's PSNR model on BSRGAN degradations, made per sample in the workers"
train options/demo_bsrnet_x4.yml demo_bsrnet_x4 400
echo "realistic x4 LR, held-out photos: the bicubic-trained PSNR model against those trained on each degradation"
srkit-eval --model "bicubic-trained=$(last_ckpt demo_rrdb_psnr_x4)" --model "Real-ESRNet=$(last_ckpt demo_realesrnet_x4)" \
  --model "Real-ESRGAN=$(last_ckpt demo_realesrgan_x4)" --lq "$DATA/lr_val_realesrgan_x4" --gt "$DATA/hr_val" \
  --metrics psnr,ssim,niqe --out "$OUT/eval_realesrgan_lr"
srkit-eval --model "bicubic-trained=$(last_ckpt demo_rrdb_psnr_x4)" --model "BSRNet=$(last_ckpt demo_bsrnet_x4)" \
  --lq "$DATA/lr_val_bsrgan_x4" --gt "$DATA/hr_val" --metrics psnr,ssim,niqe --out "$OUT/eval_bsrgan_lr"
R=$OUT/eval_realesrgan_lr/sr
"$PY" scripts/degradation_panel.py --hr "$DATA/hr_val" --lr "realesrgan=$DATA/lr_val_realesrgan_x4" \
  --sr "bicubic-trained=$R/bicubic-trained" --sr "Real-ESRNet=$R/Real-ESRNet" \
  --sr "Real-ESRGAN=$R/Real-ESRGAN" --scale 4 --crop 128 --out "$OUT/realworld_panel.png"

stage "3c. RealPLKSR on the same data (stage 3b's third modern architecture)"
train options/demo_realplksr_x2.yml demo_realplksr_x2 600

stage "9. curation: the training photos with bad copies, curated by srkit-dataset; stage 3's model on each set"
[ -d "$DATA/raw_train" ] || "$PY" scripts/make_curation_data.py "$DATA/hr_train" "$DATA/raw_train"
srkit-dataset --input "$DATA/raw_train" --output "$DATA/curated_train" --tile 96 --score blockiness,sharpness \
  --keep 'blockiness<30' --keep 'sharpness>p30' --dedup
train options/demo_curation_x2.yml demo_raw_x2 600
train options/demo_curation_x2.yml demo_curated_x2 600 --force name=demo_curated_x2 \
  --force "datasets.train.dataroot_gt=$DATA/curated_train"
echo "the same model trained on the raw set and on the curated set, held-out photos x2:"
srkit-eval --model "curated=$(last_ckpt demo_curated_x2)" --model "raw=$(last_ckpt demo_raw_x2)" \
  --lq "$DATA/lr_val_x2" --gt "$DATA/hr_val" --scale 2 --json "$OUT/eval_curation_x2.json"

if ! wait $SIDE; then
  cat "$SIDE_LOG"
  echo "demo: stages 3, 6 or 7 failed (above; $SIDE_LOG)" >&2
  exit 1
fi
cat "$SIDE_LOG"
echo "stage 3's modern architectures on the held-out photos, x2:"
srkit-eval --model "SPAN=$(last_ckpt demo_span_x2)" --model "RealPLKSR=$(last_ckpt demo_realplksr_x2)" \
  --model "SwinIR=$(last_ckpt demo_swinir_x2)" --lq "$DATA/lr_val_x2" --gt "$DATA/hr_val" --scale 2 \
  --json "$OUT/eval_archs_x2.json"
stage "8. the report: bicubic, the PSNR model, the interpolation sweep and the GAN model (x4, held-out photos)"
I=$OUT/interp
partial_ok srkit-eval --model "RRDB-PSNR=$(ls "$I"/*_alpha0.pth)" --model "interp-0.2=$(ls "$I"/*_alpha0.2.pth)" \
  --model "interp-0.4=$(ls "$I"/*_alpha0.4.pth)" --model "interp-0.6=$(ls "$I"/*_alpha0.6.pth)" \
  --model "interp-0.8=$(ls "$I"/*_alpha0.8.pth)" --model "ESRGAN=$(ls "$I"/*_alpha1.pth)" \
  --lq "$DATA/lr_val_x4" --gt "$DATA/hr_val" --metrics psnr,ssim,lpips,niqe --out "$OUT/report"
stage "summary: each stage's model against its baseline (held-out data)"
"$PY" scripts/demo_summary.py "$OUT" --seconds $((SECONDS - START))
echo "demo done: models in $EXPS/*/models, TensorBoard logs in $EXPS/*/tb_logger, results in $OUT"
echo "           the report: $OUT/report/report.html (and report.md, metrics.csv, crops/)"
echo "           the degradations side by side: $OUT/degradations_panel.png; the models on them: $OUT/realworld_panel.png"
echo "           translation: $OUT/pix2pix_photos, $OUT/cyclegan_a2b, $OUT/cgan_digits.png"
echo "           curation: $DATA/curated_train/report.html (what was kept and dropped, and why)"
