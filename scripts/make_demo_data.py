"""Build the demo's HR photo set from images bundled with scikit-image (no download).

Usage: python scripts/make_demo_data.py OUT_DIR [--scales 2,4] [--max-side 480]

Writes OUT_DIR/hr_train/*.png (training photos), OUT_DIR/hr_val/*.png
(held-out photos, mod-cropped to every scale) and OUT_DIR/lr_val_x{s}/*.png
(their MATLAB-bicubic LR for each scale s).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

TRAIN = ['astronaut', 'coffee', 'rocket', 'immunohistochemistry', 'hubble_deep_field',
         'motorcycle_left', 'retina', 'brick', 'grass', 'gravel', 'moon', 'page']
VAL = ['chelsea', 'coins', 'camera']


def load(name: str) -> np.ndarray:
    """A bundled scikit-image photo: ``(H,W,3) RGB float32 in [0,1]``."""
    import skimage.data
    if name.startswith('motorcycle_'):  # the two views of skimage's stereo pair
        img = skimage.data.stereo_motorcycle()[0 if name == 'motorcycle_left' else 1]
    else:
        img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    return img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)


def shrink(img: np.ndarray, max_side: int) -> np.ndarray:
    from degradations import imresize
    s = max(img.shape[:2]) / max_side
    return np.clip(imresize(img, 1.0 / s), 0, 1) if s > 1 else img


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--scales', default='2,4')
    ap.add_argument('--max-side', type=int, default=480)
    a = ap.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
    from degradations.pipelines import bicubic
    from srkit.data.transforms import mod_crop
    from srkit.utils.imgio import write_image
    scales = [int(x) for x in a.scales.split(',')]
    mod = int(np.lcm.reduce(scales))
    for split, names in (('hr_train', TRAIN), ('hr_val', VAL)):
        for n in names:
            hr = mod_crop(shrink(load(n), a.max_side), mod)
            hr = np.rint(hr * 255) / 255.0
            write_image(os.path.join(a.out, split, f'{n}.png'), hr)
            if split == 'hr_val':
                for s in scales:
                    lr, _ = bicubic(hr, s)
                    write_image(os.path.join(a.out, f'lr_val_x{s}', f'{n}.png'), lr)
    print(f'demo photos in {a.out}: {len(TRAIN)} train, {len(VAL)} val (LR x{", x".join(map(str, scales))})')


if __name__ == '__main__':
    main()
