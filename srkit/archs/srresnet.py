"""SRResNet family: BasicSR's MSRResNet and the original SRResNet (Ledig et al. 2017).

Input ``(B,C,H,W)`` float in [0,1] (RGB for C=3); output ``(B,C,H*s,W*s)``.
"""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..registry import ARCH_REGISTRY
import math

from .util import Arch, ResidualBlockNoBN, default_init_weights, make_layer, max_index


@ARCH_REGISTRY.register()
class MSRResNet(Arch):
    """Modified SRResNet (BasicSR): residual blocks without BN, LeakyReLU 0.1 head,
    pixel-shuffle upsampling, and a bilinear upsampling of the input added to
    the output.  State-dict keys equal BasicSR's, so its checkpoints load.

    Args:
        num_in_ch, num_out_ch: image channels (3 for RGB).
        num_feat: feature channels (64).
        num_block: residual blocks (16).
        upscale: 2, 3 or 4.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f'MSRResNet supports upscale 2, 3 or 4, got {upscale}')
        self.upscale = upscale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat)
        if upscale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        default_init_weights([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if upscale == 4:
            default_init_weights(self.upconv2, 0.1)

    @property
    def scale(self) -> int:
        return self.upscale

    @classmethod
    def detect(cls, sd):
        if not all(k in sd for k in ('conv_first.weight', 'body.0.conv1.weight', 'conv_hr.weight', 'upconv1.weight')):
            return None
        nf, cin = sd['conv_first.weight'].shape[:2]
        up = 4 if 'upconv2.weight' in sd else int(round(math.sqrt(sd['upconv1.weight'].shape[0] / nf)))
        return {'num_in_ch': int(cin), 'num_out_ch': int(sd['conv_last.weight'].shape[0]), 'num_feat': int(nf),
                'num_block': max_index(sd, 'body.'), 'upscale': up}

    def forward(self, x):
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.upscale, mode='bilinear', align_corners=False)


class _BNResidualBlock(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.prelu = nn.PReLU(num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class _Upsample(nn.Module):
    def __init__(self, num_feat: int):
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU(num_feat)

    def forward(self, x):
        return self.prelu(self.shuffle(self.conv(x)))


@ARCH_REGISTRY.register()
class SRResNet(Arch):
    """The original SRResNet / SRGAN generator: 9x9 head, residual blocks with
    BN and PReLU, a BN'd body conv with a long skip, x2 pixel-shuffle stages
    (upscale 2, 4 or 8), and a 9x9 tail.

    Args:
        num_in_ch, num_out_ch: image channels (3).
        num_feat: feature channels (64).
        num_block: residual blocks (16).
        upscale: 2, 4 or 8.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4):
        super().__init__()
        if upscale not in (2, 4, 8):
            raise ValueError(f'SRResNet supports upscale 2, 4 or 8, got {upscale}')
        self.upscale = upscale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 9, 1, 4)
        self.prelu_first = nn.PReLU(num_feat)
        self.body = nn.Sequential(*[_BNResidualBlock(num_feat) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn_body = nn.BatchNorm2d(num_feat)
        self.upsample = nn.Sequential(*[_Upsample(num_feat) for _ in range(upscale.bit_length() - 1)])
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 9, 1, 4)

    @property
    def scale(self) -> int:
        return self.upscale

    @classmethod
    def detect(cls, sd):
        if 'prelu_first.weight' not in sd or 'conv_body.weight' not in sd:
            return None
        nf, cin = sd['conv_first.weight'].shape[:2]
        return {'num_in_ch': int(cin), 'num_out_ch': int(sd['conv_last.weight'].shape[0]), 'num_feat': int(nf),
                'num_block': max_index(sd, 'body.'), 'upscale': 2 ** max_index(sd, 'upsample.')}

    def forward(self, x):
        feat = self.prelu_first(self.conv_first(x))
        out = self.bn_body(self.conv_body(self.body(feat))) + feat
        return self.conv_last(self.upsample(out))
