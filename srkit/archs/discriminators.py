"""Discriminators for SR GANs: ESRGAN's VGG-style D and Real-ESRGAN's U-Net D with
spectral norm.  Inputs are ``(B,C,H,W)`` float images in [0,1]."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from ..registry import ARCH_REGISTRY
from .util import Arch


@ARCH_REGISTRY.register()
class VGGStyleDiscriminator(Arch):
    """ESRGAN/SRGAN's D: stride-2 4x4 convs with BN down to 4x4, then linear 100 -> 1.

    Args:
        num_in_ch: image channels (3).
        num_feat: base channels (64).
        input_size: 128 or 256; training ``gt_size`` must equal it.
    Returns ``(B,1)`` raw logits.
    """

    # metadata read at parse time (a GAN family's check of its crop size): the constructor key that
    # fixes the one (square) input size a built network takes, and the sizes it can be built for
    input_size_key = 'input_size'
    input_sizes = (128, 256)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in self.input_sizes:
            raise ValueError(f'VGGStyleDiscriminator input_size must be 128 or 256, got {input_size}')
        self.input_size = input_size
        nf = num_feat
        self.conv0_0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
        chans = [(nf, nf * 2), (nf * 2, nf * 4), (nf * 4, nf * 8), (nf * 8, nf * 8)]
        if input_size == 256:
            chans.append((nf * 8, nf * 8))
        for i, (cin, cout) in enumerate(chans, start=1):
            setattr(self, f'conv{i}_0', nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
            setattr(self, f'bn{i}_0', nn.BatchNorm2d(cout, affine=True))
            setattr(self, f'conv{i}_1', nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
            setattr(self, f'bn{i}_1', nn.BatchNorm2d(cout, affine=True))
        self.n_stages = len(chans)
        self.linear1 = nn.Linear(nf * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f'VGGStyleDiscriminator(input_size={self.input_size}) got a '
                             f'{x.shape[-2]}x{x.shape[-1]} input; set gt_size to {self.input_size}')
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.n_stages + 1):
            feat = self.lrelu(getattr(self, f'bn{i}_0')(getattr(self, f'conv{i}_0')(feat)))
            feat = self.lrelu(getattr(self, f'bn{i}_1')(getattr(self, f'conv{i}_1')(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)


@ARCH_REGISTRY.register()
class UNetDiscriminatorSN(Arch):
    """Real-ESRGAN's U-Net discriminator with spectral norm; returns a per-pixel
    ``(B,1,H,W)`` logit map.  H and W must be multiples of 8.

    Args:
        num_in_ch: image channels (3).
        num_feat: base channels (64).
        skip_connection: add encoder features to the decoder (True).
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        nf = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x):
        def act(t):
            return F.leaky_relu(t, 0.2, inplace=True)

        def up(t):
            return F.interpolate(t, scale_factor=2, mode='bilinear', align_corners=False)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)


def _dysample(dim: int) -> nn.Module:
    # spandrel's DySample (the class traiNNer-redux's DUnet imports), x2, 4 groups, no end conv
    import importlib
    return importlib.import_module('spandrel.architectures.__arch_helpers.dysample').DySample(dim, dim, 2, 4, False)


class _DUnetDown(nn.Sequential):
    def __init__(self, dim: int):
        super().__init__(parametrized_sn(nn.Conv2d(dim, dim * 2, 3, 2, 1)), nn.Mish(True))


class _DUnetUp(nn.Sequential):
    def __init__(self, dim: int):
        super().__init__(_dysample(dim), parametrized_sn(nn.Conv2d(dim, dim // 2, 3, 1, 1)))


def parametrized_sn(conv: nn.Module) -> nn.Module:
    """torch's newer spectral norm (a parametrization: keys ``parametrizations.weight.original``),
    as traiNNer-redux's DUnet uses it."""
    from torch.nn.utils.parametrizations import spectral_norm as sn
    return sn(conv)


@ARCH_REGISTRY.register()
class DUnet(Arch):
    """traiNNer-redux's ``dunet``: a U-Net discriminator whose decoder upsamples with DySample
    (learned sampling offsets), spectral norm on its convolutions and Mish activations; returns a
    per-pixel ``(B,1,H,W)`` logit map.  H and W must be multiples of 8.  State-dict keys are
    traiNNer-redux's.

    Args:
        num_in_ch: image channels (3).
        num_feat: channels at full resolution, a multiple of 2 (64); 2, 4 and 8 times that below.
    """

    size_multiple = 8

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64):
        super().__init__()
        self.in_to_dim = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.e_x1 = _DUnetDown(num_feat)
        self.e_x2 = _DUnetDown(num_feat * 2)
        self.e_x3 = _DUnetDown(num_feat * 4)
        self.up1 = _DUnetUp(num_feat * 8)
        self.up2 = _DUnetUp(num_feat * 4)
        self.up3 = _DUnetUp(num_feat * 2)
        self.end_conv = nn.Sequential(
            parametrized_sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)), nn.Mish(True),
            parametrized_sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)), nn.Mish(True),
            nn.Conv2d(num_feat, 1, 3, 1, 1))

    def forward(self, x):
        x0 = self.in_to_dim(x)
        x1 = self.e_x1(x0)
        x2 = self.e_x2(x1)
        x3 = self.e_x3(x2)
        x = self.up1(x3) + x2
        x = self.up2(x) + x1
        x = self.up3(x) + x0
        return self.end_conv(x)


def _patchgan_sn(input_nc: int, ndf: int, n_layers: int, use_sigmoid: bool) -> nn.Sequential:
    """pix2pixHD's PatchGAN with spectral norm (traiNNer-redux's layout): stride-2 4x4
    convolutions doubling the channels up to 512, one stride-1, then a 1-channel map."""
    def conv(i, o, stride):
        return spectral_norm(nn.Conv2d(i, o, kernel_size=4, stride=stride, padding=1))

    layers, nf = [conv(input_nc, ndf, 2), nn.LeakyReLU(0.2, True)], ndf
    for _ in range(1, n_layers):
        layers += [conv(nf, min(nf * 2, 512), 2), nn.LeakyReLU(0.2, True)]
        nf = min(nf * 2, 512)
    layers += [conv(nf, min(nf * 2, 512), 1), nn.LeakyReLU(0.2, True), conv(min(nf * 2, 512), 1, 1)]
    if use_sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


@ARCH_REGISTRY.register()
class PatchGANDiscriminatorSN(Arch):
    """traiNNer-redux's ``patchgandiscriminatorsn``: pix2pixHD's PatchGAN with spectral norm on
    every convolution; returns a ``(B,1,h,w)`` map of patch logits.  Keys: ``model.N``.

    Args:
        input_nc: image channels (3).
        ndf: channels of the first convolution (64), doubled per layer up to 512.
        n_layers: stride-2 convolutions, 1 to 8 (3).
        use_sigmoid: a sigmoid on the map, for a loss that takes probabilities (false).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, use_sigmoid: bool = False):
        super().__init__()
        if not 1 <= n_layers <= 8:
            raise ValueError(f'n_layers: 1 to 8, got {n_layers}')
        self.model = _patchgan_sn(input_nc, ndf, n_layers, use_sigmoid)

    def forward(self, x):
        return self.model(x)


@ARCH_REGISTRY.register()
class MultiscalePatchGANDiscriminatorSN(Arch):
    """traiNNer-redux's ``multiscalepatchgandiscriminatorsn`` (pix2pixHD's multiscale D): ``num_d``
    PatchGANs with spectral norm, on the image and its 3x3 average-pooled halvings; returns the
    mean of their mean logits, one scalar.  Keys: ``layers.N.M``.

    Args:
        input_nc: image channels (3).
        ndf: channels of each PatchGAN's first convolution (64).
        n_layers: stride-2 convolutions per PatchGAN, 1 to 8 (3).
        use_sigmoid: a sigmoid on each map (false).
        num_d: PatchGANs, one per scale, 1 to 8 (3).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, use_sigmoid: bool = False,
                 num_d: int = 3):
        super().__init__()
        if not 1 <= n_layers <= 8 or not 1 <= num_d <= 8:
            raise ValueError(f'n_layers and num_d: 1 to 8, got {n_layers} and {num_d}')
        self.layers = nn.ModuleList(_patchgan_sn(input_nc, ndf, n_layers, use_sigmoid) for _ in range(num_d))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        out = []
        for i, d in enumerate(self.layers):
            out.append(d(x).mean())
            if i < len(self.layers) - 1:
                x = self.downsample(x)
        return torch.stack(out).mean()
