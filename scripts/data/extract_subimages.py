"""Crop large images into overlapping sub-images, as BasicSR prepares DIV2K.

  python scripts/data/extract_subimages.py --input DIV2K_train_HR --output DIV2K_train_HR_sub
  python scripts/data/extract_subimages.py --input DIV2K_train_LR_bicubic/X4 \
      --output DIV2K_train_LR_bicubic/X4_sub --crop 120 --step 60 --thresh 0

Defaults are BasicSR's for HR (crop 480, step 240, thresh 0); for x4 LR use
crop 120, step 60, so sub-image i of the HR and LR sets align.  Output names
are ``<stem>_s001.png``, ... in row-major order.  Existing outputs are kept
(re-runs resume) and writes are atomic.  ``srkit-dataset --tile 480 --step 240`` cuts the same
grid and also scores, filters and deduplicates; this script stays for aligned HR/LR pairs.
"""
from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))
from srkit.curation.tiles import grid_starts as starts  # noqa: E402  (srkit-dataset's grid, BasicSR's)


def crop_one(args):
    path, out_dir, crop, step, thresh, level = args
    import cv2
    from srkit.utils.fileio import atomic_write_bytes
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        return f'{path}: cannot decode image'
    h, w = img.shape[:2]
    if h < crop or w < crop:
        return f'{path}: image {h}x{w} is smaller than the crop {crop}'
    stem = os.path.splitext(os.path.basename(path))[0]
    i = 0
    for y in starts(h, crop, step, thresh):
        for x in starts(w, crop, step, thresh):
            i += 1
            out = os.path.join(out_dir, f'{stem}_s{i:03d}.png')
            if os.path.exists(out):
                continue
            ok, buf = cv2.imencode('.png', img[y:y + crop, x:x + crop], [cv2.IMWRITE_PNG_COMPRESSION, level])
            atomic_write_bytes(out, buf.tobytes())
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--input', required=True)
    ap.add_argument('--output', required=True)
    ap.add_argument('--crop', type=int, default=480)
    ap.add_argument('--step', type=int, default=240)
    ap.add_argument('--thresh', type=int, default=0)
    ap.add_argument('--compress-level', type=int, default=3)
    ap.add_argument('--workers', type=int, default=4)
    a = ap.parse_args(argv)
    from srkit.utils.imgio import list_images
    os.makedirs(a.output, exist_ok=True)
    jobs = [(os.path.join(a.input, f), a.output, a.crop, a.step, a.thresh, a.compress_level)
            for f in list_images(a.input)]
    with Pool(max(1, a.workers)) as pool:
        errors = [e for e in pool.imap_unordered(crop_one, jobs) if e]
    for e in errors:
        print(f'extract_subimages: skipped: {e}', file=sys.stderr)
    print(f'{len(jobs) - len(errors)} image(s) cropped into {a.output}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
