"""Image-quality metrics through pyiqa, in the SR papers' convention by default.

Convention (``y``): PSNR and SSIM on the Y channel of BT.601 YCbCr (the
MATLAB ``rgb2ycbcr`` formula, 16..235), ``crop_border`` pixels removed on
each side (= scale), SSIM with MATLAB's 11x11 Gaussian window (sigma 1.5).

Note on SSIM rounding: pyiqa's SSIM rounds Y to 8-bit levels before
comparing, as MATLAB's ``rgb2ycbcr`` does on uint8 images; BasicSR's
``calculate_ssim`` keeps Y unrounded.  The two differ by well under 0.0025 on
real photos (see ``tests/test_metrics.py``).  PSNR has no such rounding.

Inputs are ``(B,3,H,W) RGB float in [0,1]``; results are ``(B,)`` float64.
"""
from __future__ import annotations

import functools
from functools import lru_cache

import torch

CONVENTIONS = {
    'y': 'Y channel of BT.601 YCbCr (MATLAB rgb2ycbcr), crop_border={crop}',
    'rgb': 'RGB channels, crop_border={crop}',
}
_SSIM_WINDOW = {'y': ', SSIM 11x11 Gaussian window on 8-bit-rounded Y', 'rgb': ', SSIM 11x11 Gaussian window'}


def convention(space: str, crop, ssim: bool = True) -> str:
    """The one-line statement of how values were computed, as reports and logs print it."""
    return CONVENTIONS[space].format(crop=crop) + (_SSIM_WINDOW[space] if ssim else '')


@lru_cache(maxsize=32)
def _metric(name: str, y: bool, crop_border: int, device: str):
    import pyiqa
    return pyiqa.create_metric(name, test_y_channel=y, color_space='ycbcr',
                               crop_border=crop_border, device=torch.device(device))


def _check(sr, gt):
    if sr.shape != gt.shape:
        raise ValueError(f'shape mismatch: {tuple(sr.shape)} vs {tuple(gt.shape)}')


@torch.no_grad()
def psnr(sr: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, test_y_channel: bool = True) -> torch.Tensor:
    """PSNR in dB of ``(B,3,H,W) RGB [0,1]`` tensors; ``(B,)`` float64."""
    _check(sr, gt)
    m = _metric('psnr', test_y_channel, int(crop_border), str(sr.device))
    return m(sr.float(), gt.float()).double().reshape(-1)


@torch.no_grad()
def ssim(sr: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, test_y_channel: bool = True) -> torch.Tensor:
    """SSIM of ``(B,3,H,W) RGB [0,1]`` tensors; ``(B,)`` float64.

    pyiqa's SSIM (its crop, its Y conversion and its MATLAB Gaussian window) with the one
    change that puts it in the papers' convention: the contrast-structure term is not
    clamped at zero.  MATLAB's ``ssim`` and BasicSR's ``calculate_ssim`` keep negative local
    correlations; pyiqa's clamp reads higher on GAN outputs, where they occur.
    """
    from pyiqa.archs.func_util import preprocess_rgb
    from pyiqa.matlab_utils import filter2, fspecial
    _check(sr, gt)
    if crop_border:
        c = int(crop_border)
        sr, gt = sr[..., c:-c, c:-c], gt[..., c:-c, c:-c]
    x = preprocess_rgb(sr.float(), test_y_channel, 255, 'ycbcr').to(torch.float64)
    y = preprocess_rgb(gt.float(), test_y_channel, 255, 'ycbcr').to(torch.float64)
    win = fspecial(11, 1.5, x.shape[1]).to(x)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filter2(x, win, 'valid'), filter2(y, win, 'valid')
    sigma1 = filter2(x * x, win, 'valid') - mu1 ** 2
    sigma2 = filter2(y * y, win, 'valid') - mu2 ** 2
    sigma12 = filter2(x * y, win, 'valid') - mu1 * mu2
    cs = (2 * sigma12 + c2) / (sigma1 + sigma2 + c2)  # not clamped: MATLAB's and BasicSR's convention
    return (((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1)) * cs).mean([1, 2, 3]).reshape(-1)


METRICS = {'psnr': psnr, 'ssim': ssim}


def build_val_metrics(metrics: dict, device) -> dict:
    """``{name: fn(sr, gt) -> (B,) float64}`` for ``val.metrics``: PSNR and SSIM in the options'
    convention, NIQE (no reference; NaN below its size) and LPIPS through pyiqa.  A metric
    whose weights are missing raises the one message naming each file and where it goes."""
    from .iqa import load
    out = {}
    for name, m in metrics.items():
        if m.kind in METRICS:
            out[name] = functools.partial(_full_reference, METRICS[m.kind], m.crop_border, m.test_y_channel)
        else:
            metric = load(m.kind, m.crop_border, device)
            out[name] = functools.partial(_pyiqa, metric.fn, metric.reference)
    return out


def _full_reference(fn, crop_border, test_y_channel, sr, gt):
    return fn(sr, gt, crop_border, test_y_channel)


def _pyiqa(fn, reference: bool, sr, gt):
    return fn(sr, gt) if reference else fn(sr)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round ``[0,1]`` images to 8-bit levels, as saving to PNG would."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0
