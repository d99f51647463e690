"""No-reference scores that need no learned weights, for curating training tiles.

Every function takes one image ``(H,W,3) RGB float32 in [0,1]`` (numpy) and returns a float;
luma is BT.601's ``0.299 R + 0.587 G + 0.114 B`` on the 0-255 scale.  :data:`SCORES` maps
each name to its function and whether lower is better.

- ``sharpness``: the variance of the Laplacian of luma (Pech-Pacheco et al. 2000; the usual
  blur detector), higher is sharper.
- ``noise``: the noise sigma in 8-bit levels, the median over 16x16-pixel blocks of Donoho's
  MAD estimate on the HH band of a one-level Haar transform (the DSGAN benchmark's measure).
- ``colourfulness``: Hasler and Suesstrunk's M (2003) on 0-255 RGB: ``std(rg, yb) + 0.3 mean(rg, yb)``.
- ``clipping``: the share of pixels with a channel at 0 or 255 (clipped shadows or highlights).
- ``complexity``: spatial information, ITU-T P.910's SI: the standard deviation of the Sobel
  gradient magnitude of luma.
- ``blockiness``: JPEG's 8x8 blocking, Bhardwaj and Pankajakshan's D (2018), as the DiverSeg
  code computes it (the measure of "blockiness < 30" in published SR dataset filtering):
  :func:`blockiness`.  0 to about 2 for clean photos, tens to hundreds for visible blocks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(img: np.ndarray) -> np.ndarray:
    """``(H,W) float32`` luma on 0-255 of an ``(H,W,3) RGB [0,1]`` image (a 2-D image is itself, scaled)."""
    if img.ndim == 2:
        return img.astype(np.float32) * 255
    return (img[..., :3].astype(np.float32) @ _LUMA) * 255


def sharpness(img: np.ndarray) -> float:
    import cv2
    return float(cv2.Laplacian(luma(img), cv2.CV_32F, ksize=1).astype(np.float64).var())


def _haar_hh(img: np.ndarray) -> np.ndarray:
    """The HH band of a one-level Haar transform of the image's mean over channels."""
    y = img.mean(-1) if img.ndim == 3 else img
    h, w = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    y = y[:h, :w]
    return (y[0::2, 0::2] - y[0::2, 1::2] - y[1::2, 0::2] + y[1::2, 1::2]) / 2


def noise_level(img: np.ndarray) -> float:
    """sigma estimate in 8-bit units from the Haar HH band (Donoho's MAD estimator)."""
    return float(np.median(np.abs(_haar_hh(img))) * 1.4826 * 255)


def local_noise_level(img: np.ndarray, tile: int = 8) -> float:
    """sigma estimate in 8-bit units: the median, over ``tile x tile`` blocks of the Haar HH band
    (16x16 pixels), of each block's MAD estimate.  On small images one median over the whole
    band moves in steps of half an 8-bit level and follows the share of smooth content; the
    median of local estimates reads the noise where the image has some, as a camera's sigma is
    meant (docs/benchmarks.md, "The demo's spread")."""
    hh = np.abs(_haar_hh(img))
    h, w = hh.shape[0] // tile * tile, hh.shape[1] // tile * tile
    if not h or not w:
        return noise_level(img)
    blocks = hh[:h, :w].reshape(h // tile, tile, w // tile, tile).transpose(0, 2, 1, 3).reshape(-1, tile * tile)
    return float(np.median(np.median(blocks, axis=1)) * 1.4826 * 255)


def colourfulness(img: np.ndarray) -> float:
    if img.ndim == 2:
        return 0.0
    rgb = img[..., :3].astype(np.float64) * 255
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def clipping(img: np.ndarray) -> float:
    u8 = np.rint(np.clip(img, 0, 1) * 255)
    at_end = (u8 == 0) | (u8 == 255)
    return float((at_end.any(-1) if img.ndim == 3 else at_end).mean())


def complexity(img: np.ndarray) -> float:
    import cv2
    y = luma(img)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    return float(np.hypot(gx, gy)[1:-1, 1:-1].astype(np.float64).std())


def _dct_matrix(n: int = 8) -> np.ndarray:
    """The orthonormal DCT-II basis, one frequency per row."""
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(k * np.pi * (2 * x + 1) / (2 * n))
    c[0] = 1 / np.sqrt(n)
    return c


_DCT8 = _dct_matrix()
BLOCKINESS_MIN_SIDE = 36  # four whole 8 px blocks after the margins


def _block_variation(grey: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """``(8,8)``: per DCT coefficient, the mean over inner blocks of how far the coefficient is
    from its horizontal and vertical neighbours' mean, ``sqrt((b+c-2a)^2 + (d+e-2a)^2)``."""
    blocks = grey[:hb * 8, :wb * 8].reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3)
    d = _DCT8 @ blocks @ _DCT8.T
    a = d[2:hb - 1, 2:wb - 1]
    v = np.sqrt((d[2:hb - 1, 1:wb - 2] + d[2:hb - 1, 3:wb] - 2 * a) ** 2
                + (d[1:hb - 2, 2:wb - 1] + d[3:hb, 2:wb - 1] - 2 * a) ** 2)
    return v.sum((0, 1)) / ((hb - 2) * (wb - 2))


def blockiness(img: np.ndarray) -> float:
    """Bhardwaj and Pankajakshan's JPEG blocking measure D on the 8-bit grey image (OpenCV's
    rounded ``COLOR_RGB2GRAY``): the DCT coefficients' block-to-block variation on the grid from
    the top-left corner against that on a grid shifted 4 px, ``sum |V_shifted - V| / V`` over
    the 64 coefficients.  Blocks must start at multiples of 8 from the image's corner to be seen
    (JPEG's grid).  ``nan`` for a flat image (no variation) or one under 36 px a side."""
    import cv2
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    grey = (cv2.cvtColor(u8[..., :3], cv2.COLOR_RGB2GRAY) if u8.ndim == 3 else u8).astype(np.float64)
    h, w = grey.shape
    # the margins leave at least 4 px for the shifted grid
    ch, cw = h - (h % 8 if h % 8 >= 4 else h % 8 + 8), w - (w % 8 if w % 8 >= 4 else w % 8 + 8)
    hb, wb = ch // 8, cw // 8
    if hb < 4 or wb < 4:
        return float('nan')
    v = _block_variation(grey, hb, wb)
    vs = _block_variation(grey[4:, 4:], hb, wb)
    with np.errstate(divide='ignore', invalid='ignore'):
        d = float(np.abs((vs - v) / v).sum())
    return d if np.isfinite(d) else float('nan')


@dataclass(frozen=True)
class Score:
    """One weights-free score: ``fn((H,W,3) RGB [0,1]) -> float``, ``lower_better``, and the
    smallest side it is defined on."""

    fn: Callable[[np.ndarray], float]
    lower_better: bool
    min_side: int = 1


SCORES: dict[str, Score] = {
    'blockiness': Score(blockiness, True, BLOCKINESS_MIN_SIDE),
    'sharpness': Score(sharpness, False, 3),
    'noise': Score(local_noise_level, True, 2),
    'colourfulness': Score(colourfulness, False),
    'clipping': Score(clipping, True),
    'complexity': Score(complexity, False, 3),
}
