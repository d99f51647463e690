"""RRDBNet (ESRGAN's generator) with BasicSR's key names, and converters for the
other RRDBNet key layouts in the wild (old ESRGAN ``model.N``, BSRGAN/KAIR
``RRDB_trunk``).

Input ``(B,C,H,W)`` float in [0,1]; output ``(B,C_out,H*scale,W*scale)``.
"""
from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import ARCH_REGISTRY
from .util import Arch, default_init_weights, make_layer, max_index


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs, LeakyReLU 0.2, residual scaled by 0.2."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        g = num_grow_ch
        self.conv1 = nn.Conv2d(num_feat, g, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + g, g, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * g, g, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * g, g, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * g, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Three residual dense blocks with a residual scaled by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


@ARCH_REGISTRY.register()
class RRDBNet(Arch):
    """ESRGAN's Residual-in-Residual Dense Block network.

    Scales 1 and 2 pixel-unshuffle the input by 4 and 2 first (Real-ESRGAN's
    x1/x2 models); scale 4 uses two nearest-x2 + conv stages, scale 8 three
    (``conv_up3``, as BSRGAN's x8).  ``pixel_unshuffle: false`` at scale 2 is the
    original ESRGAN's and KAIR's (BSRGANx2's) x2 network: no unshuffle and one
    upsampling stage (``conv_up1`` only).

    Args:
        num_in_ch, num_out_ch: image channels (3).
        scale: 1, 2, 4 or 8.
        num_feat: trunk channels (64).
        num_block: RRDB blocks (23).
        num_grow_ch: dense growth channels (32).
        pixel_unshuffle: scale 2 only; false for ESRGAN's and BSRGAN's x2 files.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32, pixel_unshuffle: bool = True):
        super().__init__()
        if scale not in (1, 2, 4, 8):
            raise ValueError(f'RRDBNet supports scale 1, 2, 4 or 8, got {scale}')
        if not pixel_unshuffle and scale != 2:
            raise ValueError(f'pixel_unshuffle: false is for scale 2 (got scale {scale})')
        self.scale = scale
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1) if pixel_unshuffle else 1
        n_up = {1: 2, 2: 2 if pixel_unshuffle else 1, 4: 2, 8: 3}[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(1, n_up + 1):
            setattr(self, f'conv_up{i}', nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.ups = [getattr(self, f'conv_up{i}') for i in range(1, n_up + 1)]
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    @property
    def size_multiple(self) -> int:
        """Input height/width must be a multiple of this (pixel-unshuffle)."""
        return self.unshuffle

    @classmethod
    def detect(cls, sd):
        if not all(k in sd for k in ('conv_first.weight', 'body.0.rdb1.conv1.weight', 'conv_up1.weight')):
            return None
        nf, cin = sd['conv_first.weight'].shape[:2]
        cout = int(sd['conv_last.weight'].shape[0])
        extra = {}
        if 'conv_up3.weight' in sd:
            scale = 8
        elif 'conv_up2.weight' not in sd:  # one upsampling stage: ESRGAN's / BSRGAN's x2
            scale, extra = 2, {'pixel_unshuffle': False}
        else:  # pixel-unshuffle multiplies the input channels by 4 (x2) or 16 (x1)
            scale = {1: 4, 4: 2, 16: 1}.get(int(cin) // cout, 4)
        unshuffle = {1: 4, 2: 2}.get(scale, 1) if not extra else 1
        return {'num_in_ch': int(cin) // unshuffle ** 2, 'num_out_ch': cout, 'scale': scale, 'num_feat': int(nf),
                'num_block': max_index(sd, 'body.'), 'num_grow_ch': int(sd['body.0.rdb1.conv1.weight'].shape[0]),
                **extra}

    @classmethod
    def convert_keys(cls, sd):
        """The original ESRGAN's and KAIR's (BSRGAN's) layouts to BasicSR's keys; others unchanged."""
        if is_old_esrgan(sd):
            return convert_old_esrgan(sd)
        if is_kair_rrdb(sd):
            return convert_kair_rrdb(sd)
        return sd

    def forward(self, x):
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for up in self.ups:
            feat = self.lrelu(up(F.interpolate(feat, scale_factor=2, mode='nearest')))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


# --------------------------------------------------------------------------
# other key layouts

_KAIR_TOP = {'trunk_conv': 'conv_body', 'upconv1': 'conv_up1', 'upconv2': 'conv_up2',
             'upconv3': 'conv_up3', 'HRconv': 'conv_hr'}


def is_old_esrgan(sd: dict) -> bool:
    return 'model.0.weight' in sd and any('.sub.' in k for k in sd)


def is_kair_rrdb(sd: dict) -> bool:
    return any(k.startswith('RRDB_trunk.') for k in sd)


def convert_old_esrgan(sd: dict) -> dict:
    """Original ESRGAN (``model.0``, ``model.1.sub.N.RDB1.conv1.0``, ...) -> BasicSR keys."""
    n_block = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r'model\.1\.sub\.(\d+)\.RDB', k)))
    # the tail convs: model.3 up1, model.6 up2, (model.9 up3,) then HR conv and last conv
    tails = sorted({int(m.group(1)) for k in sd if (m := re.match(r'model\.(\d+)\.weight$', k))} - {0})
    tail_names = ['conv_up1', 'conv_up2', 'conv_up3'][: len(tails) - 2] + ['conv_hr', 'conv_last']
    tail_of = dict(zip(tails, tail_names))
    out = {}
    for k, v in sd.items():
        if (m := re.match(r'model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$', k)):
            b, r, c, t = m.groups()
            out[f'body.{b}.rdb{r}.conv{c}.{t}'] = v
        elif (m := re.match(r'model\.1\.sub\.(\d+)\.(weight|bias)$', k)) and int(m.group(1)) == n_block:
            out[f'conv_body.{m.group(2)}'] = v
        elif (m := re.match(r'model\.(\d+)\.(weight|bias)$', k)):
            idx = int(m.group(1))
            out[f'{"conv_first" if idx == 0 else tail_of[idx]}.{m.group(2)}'] = v
        else:
            raise KeyError(f'unexpected key {k!r} in an old-ESRGAN checkpoint')
    return out


def convert_kair_rrdb(sd: dict) -> dict:
    """BSRGAN/KAIR (``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``, ``HRconv`` ...) -> BasicSR keys."""
    out = {}
    for k, v in sd.items():
        if (m := re.match(r'RRDB_trunk\.(\d+)\.RDB(\d)\.(conv\d)\.(weight|bias)$', k)):
            b, r, c, t = m.groups()
            out[f'body.{b}.rdb{r}.{c}.{t}'] = v
        else:
            head, tail = k.split('.', 1)
            out[f'{_KAIR_TOP.get(head, head)}.{tail}'] = v
    return out
