"""MetaGan2: traiNNer-redux's ``metagan2`` discriminator, a MambaOut-style network of gated CNN
blocks (Yu and Wang, 2024) with spectral norm, in traiNNer-redux's state-dict keys.

Four stages, each a downsampling (a two-convolution stem by 4, then strided convolutions by 2)
and gated CNN blocks whose token mixer is an Inception depthwise convolution on part of the
channels; features stay channels-last between layers, as the blocks' linear layers and RMS
norms take them.  Input ``(B,3,H,W)`` in [0,1]; output ``(B,H/32,W/32,dims[-1])`` logits (each
position and channel scored; the GAN loss averages them).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.init import trunc_normal_
from torch.nn.utils import spectral_norm

from ..registry import ARCH_REGISTRY
from .util import Arch


def _sn_conv(cin: int, cout: int, stride: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, 3, stride, 1))


class _InceptionDW(nn.Module):
    """Depthwise 3x3, 1x11 and 11x1 convolutions on three slices of ``branch_ratio`` of the
    channels; the rest pass unchanged.  ``(B,C,H,W)``."""

    def __init__(self, channels: int, branch_ratio: float = 0.125):
        super().__init__()
        gc = int(channels * branch_ratio)
        self.dwconv_hw = nn.Conv2d(gc, gc, 3, padding=1, groups=gc)
        self.dwconv_w = nn.Conv2d(gc, gc, (1, 11), padding=(0, 5), groups=gc)
        self.dwconv_h = nn.Conv2d(gc, gc, (11, 1), padding=(5, 0), groups=gc)
        self.split = [channels - 3 * gc, gc, gc, gc]

    def forward(self, x):
        keep, hw, w, h = torch.split(x, self.split, dim=1)
        return torch.cat((keep, self.dwconv_hw(hw), self.dwconv_w(w), self.dwconv_h(h)), dim=1)


class _ChannelsFirst(nn.Module):
    """Runs a ``(B,C,H,W)`` module on ``(B,H,W,C)`` features."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.conv = module

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class _GatedBlock(nn.Module):
    """A gated CNN block on ``(B,H,W,C)``: RMS norm, a spectral-normed linear to a gate, an
    identity part and a convolved part, the product back to ``dim``, scaled by ``gamma`` (1e-6
    at first) and added to the input."""

    def __init__(self, dim: int, expansion_ratio: float = 8 / 3):
        super().__init__()
        hidden = int(expansion_ratio * dim)
        self.norm = nn.RMSNorm(dim, eps=1e-6)
        self.fc1 = spectral_norm(nn.Linear(dim, hidden * 2))
        self.act = nn.SiLU()
        self.split = [hidden, hidden - dim, dim]
        self.conv = _ChannelsFirst(_InceptionDW(dim))
        self.fc2 = spectral_norm(nn.Linear(hidden, dim))
        self.gamma = nn.Parameter(torch.ones(dim) * 1e-6)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not hasattr(m, 'weight_orig'):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        g, i, c = torch.split(self.fc1(self.norm(x)), self.split, dim=-1)
        return x + self.fc2(self.act(g) * torch.cat((i, self.conv(c)), dim=-1)) * self.gamma


class _Stem(nn.Module):
    """Down by 4: two stride-2 spectral-normed convolutions, SiLU between, RMS norm after;
    ``(B,C,H,W)`` in, ``(B,H/4,W/4,out)`` out."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _sn_conv(cin, cout // 2, 2)
        self.act = nn.SiLU()
        self.conv2 = _sn_conv(cout // 2, cout, 2)
        self.norm2 = nn.RMSNorm(cout, eps=1e-6)

    def forward(self, x):
        return self.norm2(self.conv2(self.act(self.conv1(x))).permute(0, 2, 3, 1))


class _Down(nn.Module):
    """Down by 2 on ``(B,H,W,C)``: RMS norm, then a stride-2 spectral-normed convolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm = nn.RMSNorm(cin)
        self.conv = _sn_conv(cin, cout, 2)

    def forward(self, x):
        return self.conv(self.norm(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class _Stage(nn.Module):
    def __init__(self, cin: int, cout: int, blocks: int, down: int):
        super().__init__()
        self.down = _Down(cin, cout) if down == 2 else _Stem(cin, cout)
        self.blocks = nn.Sequential(*[_GatedBlock(cout) for _ in range(blocks)])

    def forward(self, x):
        return self.blocks(self.down(x))


@ARCH_REGISTRY.register()
class MetaGan2(Arch):
    """traiNNer-redux's ``metagan2`` discriminator (see the module's docstring); keys are its own.

    Args:
        in_ch: image channels (3).
        n_class: traiNNer-redux's key, unused by its network (1).
        dims: each stage's channels ([32, 64, 128, 192]).
        blocks: each stage's gated blocks ([3, 3, 15, 3]).
        downs: each stage's downsampling, 4 (the first: a stem) or 2 ([4, 2, 2, 2]).
    """

    def __init__(self, in_ch: int = 3, n_class: int = 1, dims: list[int] = (32, 64, 128, 192),
                 blocks: list[int] = (3, 3, 15, 3), downs: list[int] = (4, 2, 2, 2)):
        super().__init__()
        if not len(dims) == len(blocks) == len(downs) or any(d not in (2, 4) for d in downs):
            raise ValueError('dims, blocks and downs: one entry per stage, downs of 2 or 4')
        chans = [in_ch, *dims]
        self.stages = nn.Sequential(*[_Stage(chans[i], chans[i + 1], blocks[i], downs[i]) for i in range(len(blocks))])
        self.head = nn.Sequential(spectral_norm(nn.Linear(chans[-1], chans[-1] * 4)), nn.Mish(True),
                                  nn.Linear(chans[-1] * 4, chans[-1]))

    def forward(self, x):
        return self.head(self.stages(x))
