"""BSRGAN's degradation model (Zhang et al., ICCV 2021; KAIR ``degradation_bsrgan``).

``degrade(hr, sf, rng)`` takes ``(H,W,3) RGB float32 in [0,1]`` and returns
``(lr, hq, params)``.  ``hq`` is the mod-cropped HR (changed only by an ISP
hook); ``lr`` is exactly ``hq`` / sf, or an aligned ``lq_patchsize`` crop
with its HR crop.  ``params`` lists every op in order with everything it drew.
``degrade_plus`` is BSRGAN+ (KAIR ``degradation_bsrgan_plus``), same interface.

Unlike KAIR's code this runs on current SciPy (no ``interp2d``, no
``scipy.finfo``) and filters with cv2 instead of float64 ``ndimage.convolve``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import cv2
import numpy as np
from scipy.linalg import orth

from .kernels import gaussian_kernel
from .ops import (CV2_INTERP, filter_image, gaussian_noise, jpeg, new_seed, poisson_noise_at, speckle_noise,
                  usm_sharpen)
from .resize import imresize

INTERPS = ('linear', 'cubic', 'area')  # KAIR's random.choice([1, 2, 3])


def shift_kernel(k: np.ndarray, sf: int) -> np.ndarray:
    """Shift a kernel by (sf-1)/2 px towards the upper left with bilinear
    interpolation (KAIR's ``shift_pixel``, which needed SciPy's removed interp2d)."""
    h, w = k.shape
    s = (sf - 1) * 0.5
    xs = np.clip(np.arange(w) + s, 0, w - 1)
    ys = np.clip(np.arange(h) + s, 0, h - 1)
    rows = np.stack([np.interp(xs, np.arange(w), r) for r in k])  # along x
    return np.stack([np.interp(ys, np.arange(h), c) for c in rows.T], axis=1)  # along y


def blur_kernel(rng: np.random.Generator, sf: int):
    """KAIR's ``add_blur`` draw: 7..25 px, anisotropic (p .5) or isotropic Gaussian."""
    size = 2 * int(rng.integers(2, 12)) + 3
    if rng.random() < 0.5:
        wd2 = 4.0 + sf
        l1, l2 = wd2 * rng.random(), wd2 * rng.random()
        theta = rng.random() * math.pi
        # Sigma = R diag(l1, l2) R^T: variances l1, l2, so sigmas are their roots
        k = gaussian_kernel(size, math.sqrt(max(l1, 1e-12)), math.sqrt(max(l2, 1e-12)), theta)
        return k, {'op': 'blur', 'kind': 'aniso', 'size': size, 'l1': l1, 'l2': l2, 'theta': theta}
    sigma = (2.0 + 0.2 * sf) * rng.random()
    k = gaussian_kernel(size, max(sigma, 1e-6))
    return k, {'op': 'blur', 'kind': 'iso', 'size': size, 'sigma': sigma}


def add_blur(img, rng, sf):
    k, p = blur_kernel(rng, sf)
    return filter_image(img, k), p


def downsample_a(img, rng, sf):
    """Downsample-A: cv2 resize by 1/U(1, 2sf) (p .75) or shifted 25x25 Gaussian then stride sf."""
    h, w = img.shape[:2]
    if rng.random() < 0.75:
        sf1 = float(rng.uniform(1, 2 * sf))
        mode = INTERPS[int(rng.integers(3))]
        out = cv2.resize(img, (int(w / sf1), int(h / sf1)), interpolation=CV2_INTERP[mode])
        p = {'op': 'down_a', 'kind': 'resize', 'sf1': sf1, 'mode': mode}
    else:
        sigma = float(rng.uniform(0.1, 0.6 * sf))
        k = shift_kernel(gaussian_kernel(25, sigma), sf)
        out = filter_image(img, k / k.sum())[0::sf, 0::sf]
        p = {'op': 'down_a', 'kind': 'strided_gaussian', 'sigma': sigma}
    return np.clip(out, 0.0, 1.0), p


def downsample_b(img, rng, size_hw):
    mode = INTERPS[int(rng.integers(3))]
    h, w = size_hw
    out = cv2.resize(img, (w, h), interpolation=CV2_INTERP[mode])
    return np.clip(out, 0.0, 1.0), {'op': 'down_b', 'mode': mode, 'size': [h, w]}


def _draw_noise(rng, level_range=(2, 25)):
    """sigma = randint(2,25)/255; colour p .4, gray p .4, cross-channel correlated p .2."""
    level = int(rng.integers(level_range[0], level_range[1] + 1))
    r = rng.random()
    seed = new_seed(rng)
    p = {'level': level, 'seed': seed}
    if r > 0.6:
        p['kind'] = 'color'
    elif r < 0.4:
        p['kind'] = 'gray'
    else:
        L = level_range[1] / 255.0
        D = np.diag(rng.random(3))
        U = orth(rng.random((3, 3)))
        p.update(kind='correlated', cov=np.abs(L ** 2 * (U.T @ D @ U)).tolist())
    return p


def add_gaussian_noise(img, rng, level_range=(2, 25)):
    p = _draw_noise(rng, level_range)
    sigma = 0.0 if p['kind'] == 'correlated' else p['level'] / 255.0
    return gaussian_noise(img, sigma, p['kind'], p['seed'], p.get('cov')), {'op': 'gaussian_noise', **p}


def add_speckle_noise(img, rng, level_range=(2, 25)):
    """BSRGAN+'s speckle noise: the Gaussian draw, multiplied by the image."""
    p = _draw_noise(rng, level_range)
    sigma = 0.0 if p['kind'] == 'correlated' else p['level'] / 255.0
    return speckle_noise(img, sigma, p['kind'], p['seed'], p.get('cov')), {'op': 'speckle_noise', **p}


def add_poisson_noise(img, rng):
    """BSRGAN+'s Poisson noise: 10^U(2,4) levels, colour or gray with p .5."""
    levels = float(10 ** (2 * rng.random() + 2.0))
    gray = bool(rng.random() >= 0.5)
    seed = new_seed(rng)
    return poisson_noise_at(img, levels, gray, seed), {'op': 'poisson_noise', 'levels': levels, 'gray': gray,
                                                       'seed': seed}


def add_resize(img, rng, sf):
    """BSRGAN+'s random resize: up U(1,2) (p .2), down U(0.5/sf, 1) (p .7), else keep."""
    r = rng.random()
    if r > 0.8:
        sf1 = float(rng.uniform(1, 2))
    elif r < 0.7:
        sf1 = float(rng.uniform(0.5 / sf, 1))
    else:
        sf1 = 1.0
    mode = INTERPS[int(rng.integers(3))]
    h, w = img.shape[:2]
    size = (max(1, int(sf1 * h)), max(1, int(sf1 * w)))
    return np.clip(cv2.resize(img, size[::-1], interpolation=CV2_INTERP[mode]), 0.0, 1.0), \
        {'op': 'resize', 'sf1': sf1, 'mode': mode}


def add_jpeg(img, rng, q_range=(30, 95)):
    q = int(rng.integers(q_range[0], q_range[1] + 1))
    return jpeg(img, q), {'op': 'jpeg', 'quality': q}


def degrade(hr: np.ndarray, sf: int, rng: np.random.Generator, lq_patchsize: Optional[int] = None,
            isp_model: Optional[Callable] = None, scale2_prob: float = 0.25, jpeg_prob: float = 0.9,
            isp_prob: float = 0.25):
    """BSRGAN degradation; see the module docstring.  ``isp_model(img, hq) -> (img, hq)``.

    Args:
        lq_patchsize: crop an aligned ``lq_patchsize`` LR patch (and its HR) at the end, in LR
            pixels; default: the whole image.
        isp_model: a camera ISP noise model ``(img, hq) -> (img, hq)``; default: none (that op
            is skipped).
        scale2_prob: probability, in [0, 1], that a x4 degradation first halves the image (0.25).
        jpeg_prob: probability, in [0, 1], of the JPEG op inside the shuffled sequence (0.9); a
            final JPEG always follows.
        isp_prob: probability, in [0, 1], of the ISP op when ``isp_model`` is given (0.25).
    """
    sf_ori = sf
    hq = _mod_crop(hr, sf, lq_patchsize)
    h, w = hq.shape[:2]
    img = hq.copy()
    ops = []
    if sf == 4 and rng.random() < scale2_prob:
        if rng.random() < 0.5:
            mode = INTERPS[int(rng.integers(3))]
            img = cv2.resize(img, (w // 2, h // 2), interpolation=CV2_INTERP[mode])
            ops.append({'op': 'prehalve', 'mode': mode})
        else:
            img = imresize(img, 0.5)
            ops.append({'op': 'prehalve', 'mode': 'matlab_bicubic'})
        img = np.clip(img, 0.0, 1.0)
        sf = 2
    order = [int(i) for i in rng.permutation(7)]
    ia, ib = order.index(2), order.index(3)
    if ia > ib:  # downsample-A always runs before downsample-B
        order[ia], order[ib] = order[ib], order[ia]
    size_before_a = None
    for i in order:
        if i in (0, 1):
            img, p = add_blur(img, rng, sf)
        elif i == 2:
            size_before_a = img.shape[:2]
            img, p = downsample_a(img, rng, sf)
        elif i == 3:
            img, p = downsample_b(img, rng, (size_before_a[0] // sf, size_before_a[1] // sf))
        elif i == 4:
            img, p = add_gaussian_noise(img, rng)
        elif i == 5:
            if rng.random() >= jpeg_prob:
                continue
            img, p = add_jpeg(img, rng)
        else:
            if isp_model is None or rng.random() >= isp_prob:
                continue
            img, hq = isp_model(img.copy(), hq)
            p = {'op': 'isp'}
        ops.append(p)
    img, p = add_jpeg(img, rng)
    ops.append(p)
    return _finish(img, hq, rng, sf_ori, lq_patchsize, {'method': 'bsrgan', 'scale': sf_ori, 'ops': ops})


def _mod_crop(hr, sf, lq_patchsize):
    h, w = hr.shape[:2]
    hq = np.ascontiguousarray(hr[: h - h % sf, : w - w % sf], dtype=np.float32)
    h, w = hq.shape[:2]
    if lq_patchsize is not None and (h < lq_patchsize * sf or w < lq_patchsize * sf):
        raise ValueError(f'image {h}x{w} is smaller than lq_patchsize*sf = {lq_patchsize * sf}')
    return hq


def _finish(img, hq, rng, sf, lq_patchsize, params):
    """The aligned crop (LR top-left (t, l), HR (t*sf, l*sf)) when ``lq_patchsize`` is set."""
    if lq_patchsize is not None:
        top = int(rng.integers(0, img.shape[0] - lq_patchsize + 1))
        left = int(rng.integers(0, img.shape[1] - lq_patchsize + 1))
        img = img[top: top + lq_patchsize, left: left + lq_patchsize]
        hq = hq[top * sf: (top + lq_patchsize) * sf, left * sf: (left + lq_patchsize) * sf]
        params['crop'] = [top, left]
    return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(hq), params


def degrade_plus(hr: np.ndarray, sf: int, rng: np.random.Generator, lq_patchsize: Optional[int] = None,
                 isp_model: Optional[Callable] = None, shuffle_prob: float = 0.5, use_sharp: bool = True,
                 poisson_prob: float = 0.1, speckle_prob: float = 0.1, isp_prob: float = 0.1):
    """BSRGAN+ (KAIR ``degradation_bsrgan_plus``): same interface as :func:`degrade`.

    USM-sharpened HQ (``use_sharp``); 13 ops, two rounds of [blur, resize, Gaussian,
    Poisson, speckle, ISP] with JPEG between; a full shuffle with ``shuffle_prob``,
    else only each round's noise ops are shuffled; then resize to HR/sf, JPEG, crop.

    Args:
        lq_patchsize: crop an aligned ``lq_patchsize`` LR patch (and its HR) at the end, in LR
            pixels; default: the whole image.
        isp_model: a camera ISP noise model ``(img, hq) -> (img, hq)``; default: none (that op
            is skipped).
        shuffle_prob: probability, in [0, 1], of shuffling all 13 ops (0.5).
        use_sharp: USM-sharpen the HQ first, which is returned as the HR (default true).
        poisson_prob: probability, in [0, 1], of each round's Poisson noise (0.1).
        speckle_prob: probability, in [0, 1], of each round's speckle noise (0.1).
        isp_prob: probability, in [0, 1], of each round's ISP op when ``isp_model`` is given (0.1).
    """
    hq = _mod_crop(hr, sf, lq_patchsize)
    if use_sharp:
        hq = usm_sharpen(hq)
    img = hq.copy()
    if rng.random() < shuffle_prob:
        order = [int(i) for i in rng.permutation(13)]
    else:
        order = list(range(13))
        order[2:6] = [int(i) for i in rng.permutation(order[2:6])]
        order[9:13] = [int(i) for i in rng.permutation(order[9:13])]
    ops = []
    for i in order:
        j = i - 7 if i >= 7 else i  # ops 7..12 repeat 0..5; 6 is the JPEG between the rounds
        if i == 6:
            img, p = add_jpeg(img, rng)
        elif j == 0:
            img, p = add_blur(img, rng, sf)
        elif j == 1:
            img, p = add_resize(img, rng, sf)
        elif j == 2:
            img, p = add_gaussian_noise(img, rng)
        elif j == 3:
            if rng.random() >= poisson_prob:
                continue
            img, p = add_poisson_noise(img, rng)
        elif j == 4:
            if rng.random() >= speckle_prob:
                continue
            img, p = add_speckle_noise(img, rng)
        else:
            if rng.random() >= isp_prob or isp_model is None:
                continue
            img, hq = isp_model(img.copy(), hq)
            p = {'op': 'isp'}
        ops.append(p)
    mode = INTERPS[int(rng.integers(3))]
    img = np.clip(cv2.resize(img, (hq.shape[1] // sf, hq.shape[0] // sf), interpolation=CV2_INTERP[mode]), 0, 1)
    ops.append({'op': 'resize_to_lr', 'mode': mode})
    img, p = add_jpeg(img, rng)
    ops.append(p)
    return _finish(img, hq, rng, sf, lq_patchsize, {'method': 'bsrgan_plus', 'scale': sf, 'use_sharp': use_sharp,
                                                    'ops': ops})
