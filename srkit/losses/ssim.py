"""MS-SSIM as a loss: traiNNer-redux's ``mssimloss``, on pyiqa's SSIM (its window and filter).

traiNNer-redux's default leaves the luminance term out at the last scale too (``include_luminance:
false``: the score is the product of the five scales' contrast-structure terms), and it filters with
'same' padding instead of 'valid' at a scale narrower than the 11-pixel window (a 128-pixel crop is
8 pixels wide at the fifth), where pyiqa's ``ms_ssim`` has nothing left to filter.  With
``include_luminance: true`` on crops of 176 pixels or more the value is pyiqa's ``ms_ssim``.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import LOSS_REGISTRY

# Wang, Simoncelli and Bovik's five scale exponents (pyiqa's, traiNNer-redux's)
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float = 1.0,
               include_luminance: bool = True, downsample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ssim, cs)``, each ``(B,)``: SSIM and its contrast-structure term of ``(B,C,H,W)``
    images, pyiqa's ``ssim(get_cs=True)`` but for the filter's 'same' padding on images narrower
    than the window and, without ``include_luminance``, an SSIM of the cs term alone."""
    from pyiqa.matlab_utils import filter2
    shape = 'same' if x.shape[-1] < win.shape[-1] else 'valid'
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    f = max(1, round(min(x.shape[-2:]) / 256))
    if f > 1 and downsample:  # MATLAB's reference averages large images down first
        x, y = F.avg_pool2d(x, kernel_size=f), F.avg_pool2d(y, kernel_size=f)
    mu1, mu2 = filter2(x, win, shape), filter2(y, win, shape)
    mu1_sq, mu2_sq, mu12 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    s1 = filter2(x * x, win, shape) - mu1_sq
    s2 = filter2(y * y, win, shape) - mu2_sq
    s12 = filter2(x * y, win, shape) - mu12
    cs_map = F.relu((2 * s12 + c2) / (s1 + s2 + c2))  # non-negative, as pyiqa's
    lum = (2 * mu12 + c1) / (mu1_sq + mu2_sq + c1) if include_luminance else 1.0
    return (lum * cs_map).mean([1, 2, 3]), cs_map.mean([1, 2, 3])


@LOSS_REGISTRY.register()
class MSSIMLoss(nn.Module):
    """``loss_weight * (1 - clamp(mean MS-SSIM(x, ref), 0, 1))`` for ``(B,3,H,W) RGB [0,1]`` images,
    on their luma (YIQ's Y) by default: traiNNer-redux's ``mssimloss``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        channels: the images' channels, accepted for traiNNer-redux's recipes (default 3).
        downsample: average images of 512 pixels or more down first, as MATLAB's SSIM does
            (default false).
        test_y_channel: compare the luma of RGB images (default true); false: every channel.
        is_prod: combine the scales as a weighted product (default true), or a weighted sum.
        color_space: the luma's colour space: ``yiq`` (default), ``ycbcr`` or ``lhm``.
        include_luminance: the luminance term at the last scale too (default false, as
            traiNNer-redux; true: the original MS-SSIM, pyiqa's).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, channels: int = 3, downsample: bool = False,
                 test_y_channel: bool = True, is_prod: bool = True,
                 color_space: Literal['yiq', 'ycbcr', 'lhm'] = 'yiq', include_luminance: bool = False):
        super().__init__()
        self.loss_weight = loss_weight
        self.downsample, self.test_y_channel, self.is_prod = downsample, test_y_channel, is_prod
        self.color_space, self.include_luminance = color_space, include_luminance

    def score(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B,)`` MS-SSIM of ``(B,C,H,W)`` images in [0,1]."""
        from pyiqa.archs.func_util import preprocess_rgb
        from pyiqa.matlab_utils import fspecial
        x = preprocess_rgb(x, self.test_y_channel, 1.0, self.color_space)
        y = preprocess_rgb(y, self.test_y_channel, 1.0, self.color_space)
        win = fspecial(11, 1.5, x.shape[1]).to(x)
        weights = torch.tensor(MS_WEIGHTS).to(x)
        mcs = []
        for _ in MS_WEIGHTS:
            ssim, cs = ssim_terms(x, y, win, 1.0, self.include_luminance, self.downsample)
            mcs.append(cs)
            pad = (x.shape[2] % 2, x.shape[3] % 2)
            x, y = F.avg_pool2d(x, kernel_size=2, padding=pad), F.avg_pool2d(y, kernel_size=2, padding=pad)
        mcs = torch.stack(mcs)
        if self.is_prod:  # the last scale's term is its SSIM (with or without luminance)
            return torch.prod(mcs[:-1] ** weights[:-1, None], 0) * ssim ** weights[-1]
        w = weights / weights.sum()
        return (mcs[:-1] * w[:-1, None]).sum(0) + ssim * w[-1]

    def forward(self, x, ref):
        return self.loss_weight * (1 - self.score(x.float(), ref.float()).mean().clamp(0, 1))


@LOSS_REGISTRY.register()
class MSSSIML1Loss(nn.Module):
    """Zhao et al.'s mix of MS-SSIM and L1 ("Loss Functions for Image Restoration with Neural
    Networks", 2017), traiNNer-redux's ``msssiml1loss``: per pixel, ``alpha * (1 - l_M * prod_j
    cs_j) + (1 - alpha) * G(|x - ref|)``, the contrast-structure terms over Gaussian windows of
    the ``gaussian_sigmas`` (zero padding), ``l_M`` the luminance of the last three, ``G`` the
    largest window per channel; ``loss_weight`` times the mean.  Inputs ``(B,3,H,W) RGB [0,1]``.
    The windows are grouped as the published code groups them (one convolution, 3 groups): of
    the 3 x 5 windows, number ``j`` filters channel ``j // 5`` with sigma number ``j // 3``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        gaussian_sigmas: the windows' sigmas, in pixels (default [0.5, 1, 2, 4, 8]).
        data_range: the images' value range (default 1.0).
        k: SSIM's two stabilising constants (default [0.01, 0.03]).
        alpha: the MS-SSIM share of the mix, in [0, 1] (default 0.1).
        cuda_dev: traiNNer-redux's device index, accepted and unused (the loss runs on the
            images' device).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, gaussian_sigmas: Optional[list[float]] = None,
                 data_range: float = 1.0, k: tuple[float, float] = (0.01, 0.03), alpha: float = 0.1,
                 cuda_dev: int = 0):
        super().__init__()
        sigmas = list(gaussian_sigmas or [0.5, 1.0, 2.0, 4.0, 8.0])
        self.loss_weight, self.data_range, self.alpha = loss_weight, data_range, alpha
        self.c1, self.c2 = (k[0] * data_range) ** 2, (k[1] * data_range) ** 2
        self.pad = int(2 * sigmas[-1])
        size = int(4 * sigmas[-1] + 1)
        coords = torch.arange(size, dtype=torch.float32) - size // 2
        masks = []
        for s in sigmas:
            g = torch.exp(-coords ** 2 / (2 * s ** 2))
            g = g / g.sum()
            masks += [torch.outer(g, g)] * 3  # one per channel
        self.register_buffer('masks', torch.stack(masks)[:, None], persistent=False)

    def forward(self, x, ref):
        x, y = x.float(), ref.float()
        m = self.masks.to(x)

        def blur(t):
            return F.conv2d(t, m, groups=3, padding=self.pad)

        mux, muy = blur(x), blur(y)
        sx, sy, sxy = blur(x * x) - mux ** 2, blur(y * y) - muy ** 2, blur(x * y) - mux * muy
        lum = (2 * mux * muy + self.c1) / (mux ** 2 + muy ** 2 + self.c1)
        cs = (2 * sxy + self.c2) / (sx + sy + self.c2)
        ms_ssim = 1 - lum[:, -3:].prod(1) * cs.prod(1)
        l1 = F.conv2d((x - y).abs(), m[-3:], groups=3, padding=self.pad).mean(1)
        return self.loss_weight * (self.alpha * ms_ssim + (1 - self.alpha) * l1 / self.data_range).mean()
