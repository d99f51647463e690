"""DSGAN (Fritsche, Gu, Timofte, ICCVW 2019): frequency separation, the degradation
generator and the high-pass discriminator.

State-dict keys follow the authors' code (``block_input``, ``res_blocks.N.conv1`` ...),
so their generator files load as they are.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import ARCH_REGISTRY
from .util import Arch, max_index


class FilterLow(nn.Module):
    """Low-pass filter, stride 1, size kept: a ``kernel_size`` box (DSGAN: 5, ESRGAN-FS: 9)
    or, with ``gaussian``, a Gaussian with sigma = kernel_size / 6.

    ``(B,C,H,W) -> (B,C,H,W)``.  The box averages over the zero-padded window, as
    the authors' ``AvgPool2d(count_include_pad=True)`` does.
    """

    def __init__(self, kernel_size: int = 5, gaussian: bool = False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.kernel_size, self.gaussian = kernel_size, gaussian
        if gaussian:
            ax = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
            g = torch.exp(-ax ** 2 / (2 * (kernel_size / 6) ** 2))
            k = torch.outer(g, g)
            self.register_buffer('kernel', (k / k.sum()).float().view(1, 1, kernel_size, kernel_size),
                                 persistent=False)

    def forward(self, x):
        p = self.kernel_size // 2
        if not self.gaussian:
            return F.avg_pool2d(x, self.kernel_size, stride=1, padding=p, count_include_pad=True)
        c = x.shape[1]
        return F.conv2d(F.pad(x, (p,) * 4, mode='reflect'), self.kernel.to(x.dtype).expand(c, 1, -1, -1), groups=c)


class FilterHigh(nn.Module):
    """High-pass: ``x - FilterLow(x)``."""

    def __init__(self, kernel_size: int = 5, gaussian: bool = False):
        super().__init__()
        self.low = FilterLow(kernel_size, gaussian)

    def forward(self, x):
        return x - self.low(x)


class _ResidualBlock(nn.Module):
    """conv3 - PReLU - conv3, plus identity (no BN)."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(self.prelu(self.conv1(x)))


@ARCH_REGISTRY.register()
class DSGANGenerator(Arch):
    """The degradation generator, at LR resolution: ``(B,3,h,w) RGB [0,1]`` (a bicubic
    downscale of a clean image) -> ``(B,3,h,w)`` in [0,1] with the target's noise and
    artefacts.  conv3 + PReLU, ``num_block`` residual blocks, conv3, sigmoid
    (64 features and 8 blocks: 594k parameters, the paper's).

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: channels of the convs between input and output (64).
        num_block: residual blocks (8).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 8):
        super().__init__()
        self.block_input = nn.Sequential(nn.Conv2d(num_in_ch, num_feat, 3, padding=1), nn.PReLU())
        self.res_blocks = nn.ModuleList(_ResidualBlock(num_feat) for _ in range(num_block))
        self.block_output = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)

    @classmethod
    def detect(cls, sd):
        """The authors' keys (``block_input``, ``res_blocks``, ``block_output``)."""
        if 'block_input.0.weight' not in sd or 'block_output.weight' not in sd:
            return None
        nf, cin = sd['block_input.0.weight'].shape[:2]
        return {'num_in_ch': int(cin), 'num_out_ch': int(sd['block_output.weight'].shape[0]), 'num_feat': int(nf),
                'num_block': max_index(sd, 'res_blocks.')}

    def forward(self, x):
        h = self.block_input(x)
        for block in self.res_blocks:
            h = block(h)
        return torch.sigmoid(self.block_output(h))


@ARCH_REGISTRY.register()
class DSGANDiscriminator(Arch):
    """High-pass front end, then 5x5 convs (64, 128+BN, 256+BN; LeakyReLU 0.2) and a 1x1
    conv, all stride 1: ``(B,3,h,w)`` -> a per-pixel logit map ``(B,1,h,w)``.
    ``filter_size``/``gaussian`` pick the fixed high-pass (DSGAN: box 5).

    Args:
        num_in_ch: image channels (3).
        num_feat: channels of the first conv (64), doubling twice.
        filter_size: side of the high-pass filter's low-pass, an odd number (5).
        gaussian: a Gaussian low-pass (sigma = size / 6) instead of the box (false).
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, filter_size: int = 5, gaussian: bool = False):
        super().__init__()
        self.filter = FilterHigh(filter_size, gaussian)
        self.net = nn.Sequential(
            nn.Conv2d(num_in_ch, num_feat, 5, padding=2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat, num_feat * 2, 5, padding=2), nn.BatchNorm2d(num_feat * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat * 2, num_feat * 4, 5, padding=2), nn.BatchNorm2d(num_feat * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat * 4, 1, 1))

    def forward(self, x):
        return self.net(self.filter(x))


def receptive_field(num_block: int) -> int:
    """The generator's receptive field in pixels: 3x3 convs, 2 + 2 per block."""
    return 1 + 2 * (2 + 2 * num_block)

