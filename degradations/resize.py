"""MATLAB-style ``imresize`` (bicubic, antialiased when shrinking).

The resize along one axis is a fixed linear map, so we build it once as a
dense ``(out, in)`` matrix (symmetric boundary folded in) and apply it with a
matrix product: exact, vectorised, and the same code on numpy and torch.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution with a = -0.5, as MATLAB's imresize uses
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=256)
def resize_weights(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix of MATLAB's bicubic resize along one axis."""
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if shrink else _cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    i0 = idx.astype(np.int64) - 1  # 0-based, may fall outside [0, in_len)
    # symmetric padding, as MATLAB's imresize: -1 -> 0, -2 -> 1, n -> n-1, ...
    period = 2 * in_len
    m = np.mod(i0, period)
    i0 = np.where(m >= in_len, period - 1 - m, m)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), i0.ravel()), w.ravel())
    return mat


def _out_len(n: int, scale: float) -> int:
    return int(math.ceil(n * scale - 1e-9))


def imresize(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """Resize ``(H,W,C)`` or ``(H,W)`` float image by ``scale`` like MATLAB's ``imresize``.

    Output size is ``ceil(H*scale), ceil(W*scale)``; values are not clipped
    (bicubic overshoots), and the dtype is float32.
    """
    h, w = img.shape[:2]
    oh, ow = _out_len(h, scale), _out_len(w, scale)
    wh = resize_weights(h, oh, float(scale), antialias).astype(np.float32)
    ww = resize_weights(w, ow, float(scale), antialias).astype(np.float32)
    x = img.astype(np.float32, copy=False)
    if x.ndim == 2:
        return wh @ x @ ww.T
    out = np.einsum('oh,hwc->owc', wh, x, optimize=True)
    out = np.einsum('pw,owc->opc', ww, out, optimize=True)
    return np.ascontiguousarray(out)


def imresize_torch(x, scale: float, antialias: bool = True):
    """Resize ``(B,C,H,W)`` or ``(C,H,W)`` float tensor like MATLAB's ``imresize``.

    Runs on the tensor's device and dtype; output ``ceil(H*scale), ceil(W*scale)``.
    """
    import torch
    h, w = x.shape[-2:]
    wh = _weights_on(h, _out_len(h, scale), float(scale), antialias, str(x.device), x.dtype)
    ww = _weights_on(w, _out_len(w, scale), float(scale), antialias, str(x.device), x.dtype)
    return torch.matmul(torch.matmul(wh, x), ww.T)


@lru_cache(maxsize=64)  # bounded: inference sees many image sizes
def _weights_on(n, out, scale, antialias, device, dtype):
    """The resize matrix on ``device``, built and copied once per size: a training step
    that resizes every batch (DSGAN's) must not rebuild it or wait on a host copy."""
    import torch
    return torch.from_numpy(resize_weights(n, out, scale, antialias)).to(device, dtype)
