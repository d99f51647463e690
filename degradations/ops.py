"""Per-image degradation primitives on ``(H,W,3) RGB float32 in [0,1]`` numpy images.

Each random op takes a ``numpy.random.Generator`` and returns ``(image, params)``
with every value it drew; noise ops draw a ``seed`` for their noise field, so
the params replay the op exactly through the deterministic functions here.
"""
from __future__ import annotations

import cv2
import numpy as np

from .resize import imresize

CV2_INTERP = {'linear': cv2.INTER_LINEAR, 'cubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA}


def filter_image(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with ``kernel`` (true convolution, mirror boundary as
    ``scipy.ndimage.convolve(mode='mirror')``), via cv2's separable-aware filter2D."""
    k = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)  # filter2D correlates
    return cv2.filter2D(img.astype(np.float32, copy=False), -1, k, borderType=cv2.BORDER_REFLECT_101)


def resize(img: np.ndarray, size_hw: tuple, mode: str) -> np.ndarray:
    """Resize to ``(h, w)`` with cv2 (``linear``, ``cubic``, ``area``) or ``matlab``
    (antialiased bicubic; the size must follow from one scale factor)."""
    h, w = size_hw
    if mode == 'matlab':
        out = imresize(img, h / img.shape[0])
        if out.shape[:2] != (h, w):
            raise ValueError(f'matlab resize needs one scale for both sides, got {img.shape[:2]} -> {(h, w)}')
        return out
    return cv2.resize(img, (w, h), interpolation=CV2_INTERP[mode])


def gaussian_noise(img: np.ndarray, sigma: float, kind: str, seed: int, cov: np.ndarray | None = None,
                   clip: bool = True) -> np.ndarray:
    """Add N(0, sigma) noise (sigma in [0,1] units): ``color`` per channel, ``gray``
    shared by the channels, or ``correlated`` with 3x3 covariance ``cov``; clips to [0,1]."""
    g = np.random.default_rng(seed)
    h, w = img.shape[:2]
    if kind == 'color':
        n = g.normal(0, sigma, (h, w, 3))
    elif kind == 'gray':
        n = g.normal(0, sigma, (h, w, 1))
    else:
        n = g.multivariate_normal(np.zeros(3), np.asarray(cov), (h, w))
    out = img + n.astype(np.float32)
    return np.clip(out, 0.0, 1.0) if clip else out


def speckle_noise(img: np.ndarray, sigma: float, kind: str, seed: int, cov: np.ndarray | None = None) -> np.ndarray:
    """Multiplicative noise ``img + img * n`` with ``n`` as in :func:`gaussian_noise`; clips to [0,1]."""
    img = np.clip(img, 0.0, 1.0)
    noisy = gaussian_noise(np.zeros_like(img), sigma, kind, seed, cov, clip=False)
    return np.clip(img + img * noisy, 0.0, 1.0)


def poisson_noise_at(img: np.ndarray, levels: float, gray: bool, seed: int) -> np.ndarray:
    """BSRGAN+'s Poisson noise: counts at ``levels`` (10^[2,4]) levels, colour or gray (BT.601 Y)."""
    g = np.random.default_rng(seed)
    img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.float32) / 255.0
    if not gray:
        return np.clip(g.poisson(img * levels).astype(np.float32) / levels, 0.0, 1.0)
    y = np.clip(np.rint((img @ np.array([0.299, 0.587, 0.114])) * 255.0), 0, 255) / 255.0
    noise = g.poisson(y * levels).astype(np.float32) / levels - y
    return np.clip(img + noise[..., None].astype(np.float32), 0.0, 1.0)


def poisson_noise(img: np.ndarray, scale: float, gray: bool, seed: int) -> np.ndarray:
    """Real-ESRGAN's Poisson noise: counts at 2^ceil(log2(#levels)) levels, times ``scale``."""
    g = np.random.default_rng(seed)
    src = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)[..., None] if gray else img
    src = np.clip(np.rint(src * 255.0), 0, 255) / 255.0
    vals = 2 ** np.ceil(np.log2(len(np.unique(src))))
    noise = (g.poisson(src * vals) / vals - src).astype(np.float32) * scale
    return np.clip(img + noise, 0.0, 1.0)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round to 8 bit and JPEG-encode/decode with cv2 at ``quality`` (RGB in, RGB out)."""
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def usm_sharpen(img: np.ndarray, weight: float = 0.5, radius: int = 50, threshold: float = 10) -> np.ndarray:
    """Unsharp mask with a soft mask (Real-ESRGAN's GT sharpening)."""
    if radius % 2 == 0:
        radius += 1
    blur = cv2.GaussianBlur(img, (radius, radius), 0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (radius, radius), 0)
    sharp = np.clip(img + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * img


def new_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 63 - 1))
