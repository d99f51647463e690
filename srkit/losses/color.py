"""Colour losses: traiNNer-redux's ``hsluvloss`` (hue, saturation and lightness in HSLuv).

HSLuv (hsluv.org) is CIELUV's LCh with the chroma rescaled to the largest the sRGB gamut holds at
that lightness and hue, so saturation runs 0 to 100 everywhere.  :func:`rgb_to_hsluv` is that
conversion in torch, checked against the reference ``hsluv`` package; its guards near the
singular colours (black, white, grey) are traiNNer-redux's, which the loss's values depend on.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import LOSS_REGISTRY

# sRGB (D65) <-> CIE XYZ, and CIELUV's white point, as the HSLuv reference defines them
_XYZ_TO_RGB = ((3.240969941904521, -1.537383177570093, -0.498610760293),
               (-0.96924363628087, 1.87596750150772, 0.041555057407175),
               (0.055630079696993, -0.20397695888897, 1.056971514242878))
_RGB_TO_XYZ = ((0.41239079926595, 0.35758433938387, 0.18048078840183),
               (0.21263900587151, 0.71516867876775, 0.072192315360733),
               (0.019330818715591, 0.11919477979462, 0.95053215224966))
_REF_U, _REF_V = 0.19783000664283, 0.46831999493879
_KAPPA, _EPSILON = 903.2962962, 0.0088564516
_GREY_CHROMA = 0.028972067  # below it a float32 colour is grey: its hue is 0 (traiNNer-redux's threshold)


def _safe(d: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """``d`` kept at least ``floor`` away from 0, its sign kept (0 becomes ``floor``)."""
    return torch.where(d == 0, torch.full_like(d, floor), torch.sign(d) * d.abs().clamp(min=floor))


def _max_chroma(light: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """The largest chroma in the sRGB gamut at ``light`` (0-100) and ``hue`` (degrees): the
    nearest of the six gamut edges along the hue's ray."""
    sub1 = (light + 16) ** 3 / 1560896
    sub2 = torch.where(sub1 > _EPSILON, sub1, light / _KAPPA)
    theta = torch.deg2rad(hue)
    lengths = []
    for m1, m2, m3 in _XYZ_TO_RGB:
        for t in (0, 1):
            top1 = (284517 * m1 - 94839 * m3) * sub2
            top2 = (838422 * m3 + 769860 * m2 + 731718 * m1) * light * sub2 - 769860 * t * light
            bottom = _safe((632260 * m3 - 126452 * m2) * sub2 + 126452 * t)
            slope, intercept = top1 / bottom, top2 / bottom
            lengths.append(intercept / _safe(torch.sin(theta) - slope * torch.cos(theta)))
    lengths = torch.stack(lengths)
    return torch.where(lengths >= 0, lengths, torch.full_like(lengths, math.inf)).min(0).values


def rgb_to_hsluv(rgb: torch.Tensor) -> torch.Tensor:
    """``(B,3,H,W) RGB float in [0,1]`` (sRGB) -> ``(B,3,H,W)`` hue (degrees, 0-360), saturation
    (0-100) and lightness (0-100), differentiable."""
    c = rgb.permute(0, 2, 3, 1).clamp(1e-12, 1)
    lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ torch.tensor(_RGB_TO_XYZ, dtype=lin.dtype, device=lin.device).T
    x, y, z = xyz.unbind(-1)
    light = torch.where(y > _EPSILON, 116 * y.pow(1 / 3) - 16, y * _KAPPA)
    div = (x + 15 * y + 3 * z).clamp(min=1e-6)
    u = torch.where(light < 1e-4, 0.0, 13 * light * (4 * x / div - _REF_U))
    v = torch.where(light < 1e-4, 0.0, 13 * light * (9 * y / div - _REF_V))
    # atan2 and sqrt have no gradient at (0, 0): nudge exact zeros by 1e-12, keeping the sign
    u = torch.where(u == 0, torch.full_like(u, 1e-12), u)
    v = torch.where(v == 0, torch.full_like(v, 1e-12), v)
    chroma = torch.sqrt(u ** 2 + v ** 2)
    hue = torch.rad2deg(torch.atan2(v, u))
    hue = torch.where(hue < 0, hue + 360, hue)
    hue = torch.where(chroma < _GREY_CHROMA, 0.0, hue)
    sat = chroma / _max_chroma(light, hue).clamp(min=1e-2) * 100
    sat = torch.where((light > 99.99) | (light < 0.01), 0.0, sat).clamp(0, 100)
    return torch.stack([hue, sat, light.clamp(0, 100)], 1)


@LOSS_REGISTRY.register()
class HSLuvLoss(nn.Module):
    """Hue, saturation and lightness differences in HSLuv for ``(B,3,H,W) RGB [0,1]`` images
    (traiNNer-redux's ``hsluvloss``), each times its weight and ``loss_weight``, returned as
    ``(hue, saturation, lightness)``.

    Hue is the shortest distance on the hue circle (0 to 1), none between two greys (saturation
    under 0.1) or two blacks or whites (lightness under 0.1, over 0.9), and the larger saturation
    between a grey and a colour; saturation differences count most at mid lightness.

    Args:
        loss_weight: the factor of all three terms, >= 0 (default 1.0).
        hue_weight: the hue term's factor (default 1/3).
        saturation_weight: the saturation term's factor (default 1/3).
        lightness_weight: the lightness term's factor (default 1/3).
        criterion: the saturation and lightness distance: ``l1`` (default), ``l2`` or
            ``charbonnier`` (eps 1e-12).
        downscale_factor: compare bicubic (antialiased) downscales by this factor, >= 1 (default 1:
            the images as they are).
        blur_strength: compare Gaussian blurs of this sigma (kernel 4 sigma + 1), >= 0 (default 0:
            none).
    """

    role = 'compare'
    outputs = ('hue', 'saturation', 'lightness')

    def __init__(self, loss_weight: float = 1.0, hue_weight: float = 1 / 3, saturation_weight: float = 1 / 3,
                 lightness_weight: float = 1 / 3, criterion: Literal['l1', 'l2', 'charbonnier'] = 'l1',
                 downscale_factor: int = 1, blur_strength: int = 0):
        super().__init__()
        self.loss_weight = loss_weight
        self.weights = (hue_weight, saturation_weight, lightness_weight)
        self.criterion = criterion
        self.downscale_factor, self.blur_strength = downscale_factor, blur_strength

    def _dist(self, a, b):
        if self.criterion == 'l1':
            return (a - b).abs()
        if self.criterion == 'l2':
            return (a - b) ** 2
        return torch.sqrt((a - b) ** 2 + 1e-12)

    def _hsl(self, x):
        if self.blur_strength:
            from torchvision.transforms.v2.functional import gaussian_blur
            x = gaussian_blur(x, [4 * self.blur_strength + 1] * 2, [float(self.blur_strength)] * 2)
        if self.downscale_factor > 1:
            x = F.interpolate(x, scale_factor=1 / self.downscale_factor, mode='bicubic', antialias=True).clamp(0, 1)
        h, s, l = rgb_to_hsluv(x).unbind(1)
        return h / 360, s / 100, l / 100

    def forward(self, x, ref):
        (xh, xs, xl), (yh, ys, yl) = self._hsl(x.float()), self._hsl(ref.float())
        eps = 0.1
        d = (xh - yh).abs()
        hue = torch.minimum(d, 1 - d) * 2
        grey_x, grey_y = xs < eps, ys < eps
        hue = torch.where(grey_x & grey_y, 0.0, hue)
        hue = torch.where((grey_x & (ys > eps)) | ((xs > eps) & grey_y), torch.maximum(xs, ys), hue)
        hue = torch.where(((xl < eps) & (yl < eps)) | ((xl > 1 - eps) & (yl > 1 - eps)), 0.0, hue)
        mid = torch.minimum(xl, 1 - xl).clamp(0, 0.5) + torch.minimum(yl, 1 - yl).clamp(0, 0.5)
        wh, ws, wl = self.weights
        k = self.loss_weight
        return (k * wh * hue.mean(), k * ws * (self._dist(xs, ys) * mid).mean(), k * wl * self._dist(xl, yl).mean())


def _ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(B,3,H,W) RGB [0,1]`` -> BT.601 YCbCr in [0,1] (MATLAB's ``rgb2ycbcr``, BasicSR's
    ``rgb2ycbcr_pt``)."""
    m = torch.tensor([[65.481, -37.797, 112.0], [128.553, -74.203, -93.786], [24.966, 112.0, -18.214]]).to(x)
    bias = torch.tensor([16., 128., 128.]).view(1, 3, 1, 1).to(x)
    return ((x.permute(0, 2, 3, 1) @ m).permute(0, 3, 1, 2) + bias) / 255


@LOSS_REGISTRY.register()
class ColorLoss(nn.Module):
    """``loss_weight * crit(pool(CbCr(x)), pool(CbCr(ref)))``: the chroma (BT.601 Cb and Cr) of
    ``(B,3,H,W) RGB [0,1]`` images averaged over ``scale``-pixel squares, so only the colour of
    areas counts, not of edges: traiNNer-redux's ``colorloss``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        criterion: ``l1`` (default), ``l2`` or ``charbonnier``.
        scale: the side of the averaged squares, >= 1 (default 4).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, criterion: Literal['l1', 'l2', 'charbonnier'] = 'l1',
                 scale: int = 4):
        super().__init__()
        from .pixel import criterion_fn
        self.loss_weight, self.scale, self.crit = loss_weight, scale, criterion_fn(criterion)

    def forward(self, x, ref):
        def uv(t):
            return F.avg_pool2d(_ycbcr(t)[:, 1:], self.scale)
        return self.loss_weight * self.crit(uv(x), uv(ref))


def rgb_to_lightness(x: torch.Tensor) -> torch.Tensor:
    """``(B,3,H,W) sRGB [0,1]`` -> ``(B,H,W)`` CIELAB lightness L* / 100 (D65), in [0,1], as
    traiNNer-redux's ``lumaloss`` computes it: CIELAB's above its linear segment (relative
    luminance over 216/24389, sRGB over about 0.093); below it, ``Y * (Y * 24389/27)`` where CIELAB
    has ``Y * 24389/27``, so the darkest tones weigh almost nothing."""
    c = x.permute(0, 2, 3, 1).clamp(1e-12, 1)
    lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = lin @ torch.tensor([0.2126, 0.7152, 0.0722]).to(lin)
    light = torch.where(y <= 216 / 24389, y * (y * (24389 / 27)), y.pow(1 / 3) * 116 - 16)
    return (light / 100).clamp(0, 1)


@LOSS_REGISTRY.register()
class LumaLoss(nn.Module):
    """``loss_weight * crit(L*(x), L*(ref))`` on CIELAB lightness (/100) of ``(B,3,H,W) RGB
    [0,1]`` images: traiNNer-redux's ``lumaloss``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        criterion: ``l1`` (default), ``l2`` or ``charbonnier``.
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, criterion: Literal['l1', 'l2', 'charbonnier'] = 'l1'):
        super().__init__()
        from .pixel import criterion_fn
        self.loss_weight, self.crit = loss_weight, criterion_fn(criterion)

    def forward(self, x, ref):
        return self.loss_weight * self.crit(rgb_to_lightness(x), rgb_to_lightness(ref))
