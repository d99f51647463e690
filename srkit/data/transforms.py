"""Crops and dihedral augmentation on ``(H,W,C)`` numpy images, driven by an explicit RNG."""
from __future__ import annotations

import numpy as np

from ..errors import DataError


def check_pair(gt: np.ndarray, lq: np.ndarray, scale: int, gt_name: str, lq_name: str) -> np.ndarray:
    """Check LQ*scale matches GT, tolerating a GT that was not mod-cropped; return the GT cropped."""
    hg, wg = gt.shape[:2]
    hl, wl = lq.shape[:2]
    if not (hl * scale <= hg < hl * scale + scale and wl * scale <= wg < wl * scale + scale):
        raise DataError(f'{lq_name}: LQ size {hl}x{wl} times scale {scale} does not match '
                        f'GT {gt_name} size {hg}x{wg}')
    return gt[: hl * scale, : wl * scale]


def paired_random_crop(gt: np.ndarray, lq: np.ndarray, gt_size: int, scale: int,
                       rng: np.random.Generator, gt_name: str = 'gt', lq_name: str = 'lq'):
    """Crop aligned patches: GT ``gt_size`` and LQ ``gt_size // scale`` at the matching place."""
    gt = check_pair(gt, lq, scale, gt_name, lq_name)
    lq_size = gt_size // scale
    hl, wl = lq.shape[:2]
    if hl < lq_size or wl < lq_size:
        raise DataError(f'{gt_name}: image {gt.shape[0]}x{gt.shape[1]} is smaller than gt_size {gt_size}')
    top = int(rng.integers(0, hl - lq_size + 1))
    left = int(rng.integers(0, wl - lq_size + 1))
    lq = lq[top: top + lq_size, left: left + lq_size]
    gt = gt[top * scale: (top + lq_size) * scale, left * scale: (left + lq_size) * scale]
    return gt, lq


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator, name: str = 'image',
                key: str = 'gt_size') -> np.ndarray:
    return joint_crop([img], size, rng, name, key)[0]


def joint_crop(imgs: list[np.ndarray], size: int, rng: np.random.Generator, name: str = 'image',
               key: str = 'crop_size', load_size: int | None = None) -> list[np.ndarray]:
    """The same random ``size`` crop of every image; a one-line error naming ``name`` and
    the option ``key`` when the images are too small."""
    h, w = imgs[0].shape[:2]
    if h < size or w < size:
        after = f' after resizing to load_size {load_size}' if load_size else ''
        raise DataError(f'{name}: image {h}x{w}{after} is smaller than {key} {size}')
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return [im[top: top + size, left: left + size] for im in imgs]


def augment(imgs: list[np.ndarray], hflip: bool, rot: bool, rng: np.random.Generator):
    """The same random flip/rot90 on every image (BasicSR's ``augment``).

    Returns the images and the drawn ``(hflip, vflip, rot90)`` flags.
    """
    flags = rng.random(3) < 0.5
    do_h = bool(hflip and flags[0])
    do_v = bool(rot and flags[1])
    do_t = bool(rot and flags[2])
    out = []
    for im in imgs:
        if do_h:
            im = im[:, ::-1]
        if do_v:
            im = im[::-1]
        if do_t:
            im = im.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(im))
    return out, (do_h, do_v, do_t)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


# MATLAB's rgb2ycbcr for [0,1] images: Y = (65.481 R + 128.553 G + 24.966 B + 16) / 255
_Y = np.array([65.481, 128.553, 24.966], np.float32) / 255


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """``(H,W,3) RGB float32 in [0,1]`` -> ``(H,W,1)`` BT.601 luma in [16/255, 235/255], as MATLAB's
    ``rgb2ycbcr`` (and BasicSR's ``color: y``) computes it."""
    return (img.astype(np.float32) @ _Y + np.float32(16 / 255))[..., None]
