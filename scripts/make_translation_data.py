"""Build the translation demos' data from images bundled with scikit-image and scikit-learn (no download).

Usage: python scripts/make_translation_data.py OUT_DIR

- OUT_DIR/edges2photo/{train,val}/*.png: pix2pix pairs, Canny edges | photo, 64 px crops
  (train from the left 70% of each photo, val from the held-out right 30%), and the
  held-out inputs and targets alone in val_edges/ and val_photos/;
- OUT_DIR/colour/{trainA,trainB,valA,valB}: CycleGAN domains, photo crops and a warm colour
  cast (per-channel gains) of *other* crops, never a pair; valA/valB are aligned
  pairs from two held-out photos (30 crops) to score the learned mapping;
- OUT_DIR/digits/<0..9>/*.png: scikit-learn's 1,797 handwritten digits (8x8), one folder per class.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TRAIN_PHOTOS = ['astronaut', 'coffee', 'rocket', 'immunohistochemistry', 'motorcycle_left', 'retina',
                'hubble_deep_field', 'page', 'brick']
HELD_OUT = ['chelsea', 'motorcycle_right']


def photo(name: str, max_side: int = 256) -> np.ndarray:
    """A bundled photo, shrunk to ``max_side``: ``(H,W,3) RGB float32 in [0,1]``."""
    from make_demo_data import load, shrink
    return shrink(load(name), max_side)


def edges(img: np.ndarray) -> np.ndarray:
    """Canny edges (thresholds 80/160 on 8-bit) as a white-on-black RGB image."""
    import cv2
    e = cv2.Canny(np.rint(img * 255).astype(np.uint8), 80, 160)
    return np.repeat(e[:, :, None], 3, 2).astype(np.float32) / 255


GAINS = np.array([1.0, 0.6, 0.3], np.float32)


def recolour(img: np.ndarray) -> np.ndarray:
    """The colour domains' true mapping A -> B: a warm cast, per-channel gains R 1.0, G 0.6, B 0.3."""
    return img * GAINS


def crops(img: np.ndarray, size: int, step: int):
    h, w = img.shape[:2]
    for t in range(0, h - size + 1, step):
        for l in range(0, w - size + 1, step):
            yield img[t:t + size, l:l + size]


def edge_pair_photos():
    """``(name, train part, held-out part)``: each photo split at 70% of its width, so the
    held-out pairs are pixels never seen in training."""
    for name in TRAIN_PHOTOS + HELD_OUT:
        img = photo(name)
        cut = int(img.shape[1] * 0.7)
        yield name, img[:, :cut], img[:, cut:]


def write_edge_pairs(root: str) -> None:
    from srkit.utils.imgio import write_image
    for name, train, val in edge_pair_photos():
        for split, part, step in (('train', train, 32), ('val', val, 64)):
            for i, c in enumerate(crops(part, 64, step)):
                write_image(os.path.join(root, split, f'{name}_{i}.png'), np.concatenate([edges(c), c], 1))
                if split == 'val':  # the inputs and targets alone, for srkit-infer and srkit-eval
                    write_image(os.path.join(root, 'val_edges', f'{name}_{i}.png'), edges(c))
                    write_image(os.path.join(root, 'val_photos', f'{name}_{i}.png'), c)


def write_colour_domains(root: str) -> None:
    from srkit.utils.imgio import write_image
    n = 0
    for name in TRAIN_PHOTOS:
        for c in crops(photo(name), 64, 48):
            # alternate crops go to A or, recoloured, to B: no pair is ever seen
            if n % 2 == 0:
                write_image(os.path.join(root, 'trainA', f'{n}.png'), c)
            else:
                write_image(os.path.join(root, 'trainB', f'{n}.png'), recolour(c))
            n += 1
    # held-out natural photos only: on a synthetic image such as the colour wheel (saturated hues
    # no training crop has, mostly black, where A unchanged is already almost B) the test would
    # be of extrapolation, not of the mapping
    for name in HELD_OUT:
        for i, c in enumerate(crops(photo(name), 64, 48)):
            write_image(os.path.join(root, 'valA', f'{name}_{i}.png'), c)
            write_image(os.path.join(root, 'valB', f'{name}_{i}.png'), recolour(c))


def write_digits(root: str) -> None:
    from sklearn.datasets import load_digits
    from srkit.utils.imgio import write_image
    d = load_digits()
    for i, (img, y) in enumerate(zip(d.images, d.target)):
        write_image(os.path.join(root, str(y), f'{i}.png'), np.repeat(img[:, :, None] / 16, 3, 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out')
    a = ap.parse_args(argv)
    write_edge_pairs(os.path.join(a.out, 'edges2photo'))
    write_colour_domains(os.path.join(a.out, 'colour'))
    write_digits(os.path.join(a.out, 'digits'))
    print(f'translation demo data in {a.out}: edges2photo, colour, digits')


if __name__ == '__main__':
    main()
