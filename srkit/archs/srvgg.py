"""Real-ESRGAN's compact network, SRVGGNetCompact (realesr-general-x4v3, realesr-animevideov3).

Input ``(B,C,H,W)`` float in [0,1] (RGB for C=3); output ``(B,C,H*s,W*s)``.  State-dict
keys equal Real-ESRGAN's and basicsr's (``body.N``), so their released files load.
"""
from __future__ import annotations

import math
from typing import Literal

from torch import nn
from torch.nn import functional as F

from ..registry import ARCH_REGISTRY
from .util import Arch, max_index


def _activation(kind: str, num_feat: int) -> nn.Module:
    if kind == 'prelu':
        return nn.PReLU(num_parameters=num_feat)
    if kind == 'leakyrelu':
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    return nn.ReLU(inplace=True)


@ARCH_REGISTRY.register()
class SRVGGNetCompact(Arch):
    """A plain stack at LR resolution, upsampled only at the end: conv3 (``num_feat``) and an
    activation, ``num_conv`` more of them, a conv3 to ``num_out_ch * upscale**2`` channels and a
    pixel shuffle; the nearest-upsampled input is added, so the network learns a residual.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: feature channels (64).
        num_conv: body convolutions (16; realesr-general-x4v3 has 32).
        upscale: the scale factor.
        act_type: prelu (Real-ESRGAN's), relu or leakyrelu (slope 0.1).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4, act_type: Literal['prelu', 'relu', 'leakyrelu'] = 'prelu'):
        super().__init__()
        if upscale < 1:
            raise ValueError(f'upscale must be >= 1, got {upscale}')
        self.upscale = upscale
        layers = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    @property
    def scale(self) -> int:
        return self.upscale

    @classmethod
    def detect(cls, sd):
        """Released files: ``body.0`` a conv, then conv/activation pairs.  PReLU activations hold
        weights (``body.1.weight`` of ``num_feat`` values); ReLU and LeakyReLU hold none and
        cannot be told apart by keys: such a file is taken as LeakyReLU (srkit's own files
        record the activation)."""
        first = sd.get('body.0.weight')
        if first is None or first.ndim != 4 or any(not k.startswith('body.') for k in sd):
            return None
        nf, cin = first.shape[:2]
        last = max_index(sd, 'body.') - 1
        prelu = 'body.1.weight' in sd and sd['body.1.weight'].ndim == 1
        if not prelu and 'body.1.weight' in sd:
            return None
        step = 2  # conv and activation, whether or not the activation has weights
        num_conv = (last - step) // step
        out_ch = int(sd[f'body.{last}.weight'].shape[0])
        # num_out_ch * upscale**2: 3 (RGB) or 1 (gray) channels, the rest is the pixel shuffle
        cout = int(cin) if out_ch % int(cin) == 0 and math.isqrt(out_ch // int(cin)) ** 2 == out_ch // int(cin) \
            else (3 if out_ch % 3 == 0 else 1)
        up = math.isqrt(out_ch // cout)
        if up * up * cout != out_ch:
            return None
        return {'num_in_ch': int(cin), 'num_out_ch': cout, 'num_feat': int(nf), 'num_conv': num_conv,
                'upscale': up, 'act_type': 'prelu' if prelu else 'leakyrelu'}

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.upscale, mode='nearest')
