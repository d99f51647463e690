#!/usr/bin/env bash
# `make demo`: the main job end to end on built-in photos, on CPU.
#   1. build a small photo set from images bundled with scikit-image (nothing is downloaded)
#   2. write the training photos to LMDB (srkit-lmdb)
#   3. SRResNet x2: train (LQ made on the fly by bicubic degradation), infer, evaluate vs bicubic
#   4. ESRGAN x4: PSNR-oriented RRDBNet, then the GAN stage from it, then a network
#      interpolation sweep (srkit-interp), each evaluated with srkit-eval
#   5. realistic degradations: BSRGAN and Real-ESRGAN LR sets (srkit-degrade) and a
#      picture of them; Real-ESRNet, Real-ESRGAN and BSRNet fine-tuned from stage 4's
#      PSNR model, scored on the realistic LR against the bicubic-trained model
#   6. DSGAN: learn a "camera" (noisy LR photos) from unpaired data, make an LR set with it,
#      and compare its noise level with the camera's and bicubic's
#   7. image translation on the same engine: pix2pix (edges -> photo), CycleGAN (an unpaired
#      colour cast) and a conditional GAN on scikit-learn's digits (srkit-sample)
# Re-running reuses the data and finished trainings (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo_out
DATA=$OUT/data
EXPS=$OUT/experiments
PY=${PYTHON:-python}
export SRKIT_OFFLINE=1  # the demo never downloads; missing VGG19 weights are reported instead

last_ckpt() {  # newest net_g_<iter>.pth of an experiment
  ls "$EXPS/$1"/models/net_g_*.pth | sed 's/.*net_g_\([0-9]*\)\.pth/\1/' | sort -n | tail -1 \
    | sed "s#.*#$EXPS/$1/models/net_g_&.pth#"
}

train() {  # train an experiment unless it already reached its last iteration
  local opt=$1 name=$2 total=$3
  if compgen -G "$EXPS/$name/models/net_g*_$total.pth" >/dev/null; then
    echo "$name: already trained ($total iterations)"
  else
    srkit-train -opt "$opt" --auto_resume
  fi
}

evaluate() {  # evaluate <label> <checkpoint> <scale> [LR folder, default lr_val_x<scale>]
  local lr=${4:-$DATA/lr_val_x$3}
  srkit-infer --model "$2" --input "$lr" --output "$OUT/sr_$1" >/dev/null
  srkit-eval --sr "$OUT/sr_$1" --gt "$DATA/hr_val" --lq "$lr" --scale "$3" --json "$OUT/eval_$1.json" \
    | tail -2 | head -1 | sed "s/^MEAN */$1: /"
}

echo "== 1. demo photos (scikit-image's bundled images)"
[ -d "$DATA/lr_val_x4" ] || "$PY" scripts/make_demo_data.py "$DATA" --scales 2,4

echo "== 2. LMDB"
if [ -f "$DATA/hr_train.lmdb/meta_info.txt" ] && [ ! -f "$DATA/hr_train.lmdb/.srkit-incomplete" ]; then
  echo "$DATA/hr_train.lmdb exists"
else
  srkit-lmdb --input "$DATA/hr_train" --output "$DATA/hr_train.lmdb" --workers 2 --verify
fi

echo "== 3. SRResNet x2 (CPU, a few minutes)"
train options/demo_srresnet_x2.yml demo_srresnet_x2 1500
srkit-infer --model "$(last_ckpt demo_srresnet_x2)" --input "$DATA/lr_val_x2" --output "$OUT/sr_srresnet_x2"
srkit-eval --sr "$OUT/sr_srresnet_x2" --gt "$DATA/hr_val" --lq "$DATA/lr_val_x2" --scale 2 \
  --json "$OUT/eval_srresnet_x2.json"

echo "== 4a. ESRGAN story, stage 1: PSNR-oriented RRDBNet x4"
train options/demo_rrdb_psnr_x4.yml demo_rrdb_psnr_x4 1000
echo "== 4b. stage 2: the GAN stage, initialised from stage 1"
train options/demo_esrgan_x4.yml demo_esrgan_x4 500
echo "== 4c. network interpolation sweep: (1-a)*PSNR + a*GAN"
srkit-interp "$(last_ckpt demo_rrdb_psnr_x4)" "$(last_ckpt demo_esrgan_x4)" \
  --alphas 0,0.2,0.4,0.6,0.8,1 --out-dir "$OUT/interp"
echo "x4 on held-out photos (Y, crop 4):   PSNR   SSIM   bicubic PSNR   bicubic SSIM"
for a in 0 0.2 0.4 0.6 0.8 1; do
  evaluate "interp_alpha$a" "$(ls "$OUT"/interp/*_alpha$a.pth)" 4
done

echo "== 5a. realistic LR sets from the held-out photos (srkit-degrade), and a picture of them"
for p in bsrgan realesrgan; do
  srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_${p}_x4" --preset $p --scale 4 --seed 0
done
"$PY" scripts/degradation_panel.py --hr "$DATA/hr_val" --lr "bicubic=$DATA/lr_val_x4" \
  --lr "bsrgan=$DATA/lr_val_bsrgan_x4" --lr "realesrgan=$DATA/lr_val_realesrgan_x4" --scale 4 \
  --out "$OUT/degradations_panel.png"
echo "== 5b. Real-ESRNet: stage 4's PSNR model on Real-ESRGAN degradations, made per batch"
train options/demo_realesrnet_x4.yml demo_realesrnet_x4 400
echo "== 5c. Real-ESRGAN: the GAN stage from 5b"
train options/demo_realesrgan_x4.yml demo_realesrgan_x4 200
echo "== 5d. BSRNet: stage 4's PSNR model on BSRGAN degradations, made per sample in the workers"
train options/demo_bsrnet_x4.yml demo_bsrnet_x4 400
echo "realistic x4 LR, held-out photos (Y, crop 4):   PSNR   SSIM   bicubic PSNR   bicubic SSIM"
evaluate realesrgan_lr_by_bicubic_trained "$(last_ckpt demo_rrdb_psnr_x4)" 4 "$DATA/lr_val_realesrgan_x4"
evaluate realesrgan_lr_by_realesrnet "$(last_ckpt demo_realesrnet_x4)" 4 "$DATA/lr_val_realesrgan_x4"
evaluate realesrgan_lr_by_realesrgan "$(last_ckpt demo_realesrgan_x4)" 4 "$DATA/lr_val_realesrgan_x4"
evaluate bsrgan_lr_by_bicubic_trained "$(last_ckpt demo_rrdb_psnr_x4)" 4 "$DATA/lr_val_bsrgan_x4"
evaluate bsrgan_lr_by_bsrnet "$(last_ckpt demo_bsrnet_x4)" 4 "$DATA/lr_val_bsrgan_x4"
"$PY" scripts/degradation_panel.py --hr "$DATA/hr_val" --lr "realesrgan=$DATA/lr_val_realesrgan_x4" \
  --sr "bicubic-trained=$OUT/sr_realesrgan_lr_by_bicubic_trained" --sr "Real-ESRNet=$OUT/sr_realesrgan_lr_by_realesrnet" \
  --sr "Real-ESRGAN=$OUT/sr_realesrgan_lr_by_realesrgan" --scale 4 --crop 128 --out "$OUT/realworld_panel.png"

echo "== 6a. DSGAN: a 'camera' domain (bicubic LR + sensor noise sigma 8), then learn it from unpaired photos"
srkit-degrade --input "$DATA/hr_train" --output "$DATA/camera_lr_x4" --preset dsgan_sensor_noise --scale 4 --seed 1
train options/demo_dsgan_x4.yml demo_dsgan_x4 800
echo "== 6b. a DSGAN LR set of the held-out photos (srkit-degrade --method dsgan), and what it learned"
srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_dsgan_x4" --method dsgan \
  --model "$(last_ckpt demo_dsgan_x4)" --scale 4
srkit-degrade --input "$DATA/hr_val" --output "$DATA/lr_val_camera_x4" --preset dsgan_sensor_noise --scale 4 --seed 2
"$PY" scripts/bench/dsgan.py --measure "$DATA/lr_val_x4" "$DATA/lr_val_camera_x4" "$DATA/lr_val_dsgan_x4"
echo "== 7. image translation: pix2pix, CycleGAN and CGAN (scikit-image photos, scikit-learn digits)"
T=$OUT/translation
[ -d "$T/digits/9" ] || "$PY" scripts/make_translation_data.py "$T"
train options/demo_pix2pix_edges.yml demo_pix2pix_edges 1500
srkit-infer --model "$EXPS/demo_pix2pix_edges/models/net_g_1500.pth" --input "$T/edges2photo/val_edges" \
  --output "$OUT/pix2pix_photos" >/dev/null
srkit-eval --sr "$OUT/pix2pix_photos" --gt "$T/edges2photo/val_photos" --scale 1 --color-space rgb --crop-border 0 \
  | tail -2 | head -1 | sed 's/^MEAN */pix2pix edges -> photo, held-out (RGB PSNR, SSIM): /'
train options/demo_cyclegan_colour.yml demo_cyclegan_colour 600
srkit-infer --model "$EXPS/demo_cyclegan_colour" --net g_a --input "$T/colour/valA" --output "$OUT/cyclegan_a2b" >/dev/null
srkit-eval --sr "$OUT/cyclegan_a2b" --gt "$T/colour/valB" --lq "$T/colour/valA" --scale 1 --color-space rgb --crop-border 0 \
  | tail -2 | head -1 | sed 's/^MEAN */CycleGAN G_A vs the true cast (PSNR SSIM, then unchanged A): /'
train options/demo_cgan_digits.yml demo_cgan_digits 1500
srkit-sample --model "$EXPS/demo_cgan_digits/models/net_g_1500.pth" --per-label 10 --seed 0 --out "$OUT/cgan_digits.png"
echo "demo done: models in $EXPS/*/models, TensorBoard logs in $EXPS/*/tb_logger, results in $OUT"
echo "           the degradations side by side: $OUT/degradations_panel.png; the models on them: $OUT/realworld_panel.png"
echo "           translation: $OUT/pix2pix_photos, $OUT/cyclegan_a2b, $OUT/cgan_digits.png"
