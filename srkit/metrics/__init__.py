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
    """SSIM of ``(B,3,H,W) RGB [0,1]`` tensors; ``(B,)`` float64."""
    _check(sr, gt)
    m = _metric('ssim', test_y_channel, int(crop_border), str(sr.device))
    return m(sr.float(), gt.float()).double().reshape(-1)


METRICS = {'psnr': psnr, 'ssim': ssim}


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round ``[0,1]`` images to 8-bit levels, as saving to PNG would."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0
