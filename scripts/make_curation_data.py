"""The demo's raw training set for srkit-dataset: the demo's training photos, and bad copies of
them as a scraped set has them.

Usage: python scripts/make_curation_data.py HR_TRAIN_DIR OUT_DIR

For the photos in sorted order (i = 0, 1, ...): each photo as it is; a fake "HR" copy of every
one (a third of the size, bicubic-upscaled back: its x2 LR looks like any other, its target is
blurred, as upscaled images in scraped sets are); a JPEG q10 copy of two in three (i % 3 != 2);
and a near duplicate (90% size, JPEG q90) of every other one (i % 2 == 0).  Deterministic.
"""
from __future__ import annotations

import os
import sys


def main(argv=None) -> int:
    import cv2
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    src, out = args
    os.makedirs(out, exist_ok=True)
    names = sorted(f for f in os.listdir(src) if f.endswith('.png'))
    for i, f in enumerate(names):
        img = cv2.imread(os.path.join(src, f))
        stem = os.path.join(out, f[:-4])
        cv2.imwrite(f'{stem}.png', img)
        if i % 3 != 2:
            cv2.imwrite(f'{stem}_q10.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 10])
        h, w = img.shape[:2]
        small = cv2.resize(img, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
        cv2.imwrite(f'{stem}_upscaled.png', cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
        if i % 2 == 0:
            small = cv2.resize(img, (w * 9 // 10, h * 9 // 10), interpolation=cv2.INTER_AREA)
            cv2.imwrite(f'{stem}_copy.jpg', small, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f'raw training set in {out}: {len(os.listdir(out))} images ({len(names)} photos and bad copies of them)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
