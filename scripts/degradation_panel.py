"""A picture of what degradations (and models) do: for each HR image, an HR crop next to
the same region of each LR set, nearest-upscaled so single LR pixels stay visible, and of
each SR result.

  python scripts/degradation_panel.py --hr HR_DIR --lr bicubic=LR_DIR --lr bsrgan=LR_DIR2 \
      [--sr model=SR_DIR ...] --scale 4 --out panel.png [--crop 160]

Rows are images (names shared by all folders); columns are HR, each LR set, each SR set.
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from srkit.errors import UserError, cli_entry  # noqa: E402
from srkit.utils.imgio import list_images, read_image, write_image  # noqa: E402


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, tile.shape[1], 3), 255, np.uint8)  # cv2 draws text on 8-bit images only
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar.astype(np.float32) / 255.0, tile], 0)


@cli_entry('degradation_panel')
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--hr', required=True)
    ap.add_argument('--lr', action='append', default=[], metavar='LABEL=DIR', help='LR images (1/scale)')
    ap.add_argument('--sr', action='append', default=[], metavar='LABEL=DIR', help='SR results (HR size)')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--crop', type=int, default=160, help='HR crop side (a multiple of the scale)')
    ap.add_argument('--out', required=True)
    a = ap.parse_args(argv)
    sets = [item.split('=', 1) + [True] for item in a.lr] + [item.split('=', 1) + [False] for item in a.sr]
    if not sets or any(len(s) != 3 for s in sets):
        raise UserError('--lr/--sr: expected at least one LABEL=DIR')
    c, s = a.crop - a.crop % a.scale, a.scale
    rows = []
    for name in list_images(a.hr):
        hr = read_image(os.path.join(a.hr, name))
        h, w = hr.shape[:2]
        # a central crop, aligned to the LR grid
        top, left = (h - c) // 2 // s * s, (w - c) // 2 // s * s
        tiles = [_label(hr[top:top + c, left:left + c], 'HR')]
        for label, d, is_lr in sets:
            img = read_image(os.path.join(d, name))
            if is_lr:
                patch = img[top // s:(top + c) // s, left // s:(left + c) // s]
                tiles.append(_label(cv2.resize(patch, (c, c), interpolation=cv2.INTER_NEAREST), f'{label} LR x{s}'))
            else:
                tiles.append(_label(img[top:top + c, left:left + c], label))
        gap = np.ones((tiles[0].shape[0], 4, 3), np.float32)
        rows.append(np.concatenate([x for t in tiles for x in (t, gap)][:-1], 1))
    write_image(a.out, np.concatenate(rows, 0))
    print(f'{a.out}: {len(rows)} image(s) x (HR + {len(sets)} sets)')
    return 0


if __name__ == '__main__':
    main()
