"""pix2pix / CycleGAN networks: U-Net and ResNet generators, PatchGAN and pixel discriminators.

State-dict keys are those of pytorch-CycleGAN-and-pix2pix (``model.model.0.weight`` for
the U-Net, ``model.1.weight`` for the ResNet generator, ``model.0.weight`` for PatchGAN,
``net.0.weight`` for the pixel D), so its ``latest_net_G.pth`` files load as they are.

Like the reference, these networks work on ``(B,C,H,W)`` images in **[-1, 1]** (tanh
output); ``value_range = (-1, 1)`` says so, and srkit's models and ``srkit-infer`` map
srkit's [0, 1] images to and from it.  Constructor arguments are the reference's
options: ``norm`` (batch / instance / none), ``use_dropout``, ``init_type`` and
``init_gain``.
"""
from __future__ import annotations

import re
from typing import Literal

import torch
from torch import nn
from torch.nn import init

from ..registry import ARCH_REGISTRY
from .util import Arch

Norm = Literal['batch', 'instance', 'none']
Init = Literal['normal', 'xavier', 'kaiming', 'orthogonal']


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """The reference's norms: BN with running stats, IN without affine or stats, or none."""
    if kind == 'batch':
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == 'instance':
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == 'none':
        return nn.Identity()
    raise ValueError(f'norm must be batch, instance or none, got {kind!r}')


def conv_bias(kind: Norm) -> bool:
    # the reference gives convs a bias only before InstanceNorm (BN has its own shift;
    # with no norm it also drops the bias, and its checkpoints have no bias keys then)
    return kind == 'instance'


@torch.no_grad()
def init_weights(net: nn.Module, init_type: Init = 'normal', gain: float = 0.02) -> nn.Module:
    """The reference's ``init_weights``: conv/linear weights by ``init_type``, biases 0,
    BatchNorm weights N(1, gain)."""
    for m in net.modules():
        name = type(m).__name__
        if hasattr(m, 'weight') and ('Conv' in name or 'Linear' in name):
            if init_type == 'normal':
                init.normal_(m.weight, 0.0, gain)
            elif init_type == 'xavier':
                init.xavier_normal_(m.weight, gain=gain)
            elif init_type == 'kaiming':
                init.kaiming_normal_(m.weight, a=0, mode='fan_in')
            elif init_type == 'orthogonal':
                init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f'init_type must be normal, xavier, kaiming or orthogonal, got {init_type!r}')
            if getattr(m, 'bias', None) is not None:
                init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            init.normal_(m.weight, 1.0, gain)
            init.zeros_(m.bias)
    return net


def _norm_of(sd: dict, prefix: str) -> str:
    """instance (the reference gives convs a bias only then; old files may still carry IN
    running stats), else batch (running stats) or none."""
    if f'{prefix}1.bias' in sd:
        return 'instance'
    return 'batch' if any(k.startswith(prefix) and k.endswith('running_mean') for k in sd) else 'none'


_IN_STATS = re.compile(r'\.(running_mean|running_var|num_batches_tracked)$')


class TranslationNet(Arch):
    """Base of the reference-layout networks: the value range and old-checkpoint fixes.

    Args:
        input_nc: channels of the input image (3; a pix2pix PatchGAN sees A and B: 6).
        output_nc: channels of the output image (3).
        ngf: the generator's channels at its first layer (64).
        ndf: the discriminator's channels at its first layer (64).
        norm: ``batch`` (BatchNorm with running statistics), ``instance`` (InstanceNorm without
            affine or statistics) or ``none``.
        init_type: weight initialisation: ``normal`` (default), ``xavier``, ``kaiming`` or
            ``orthogonal``.
        init_gain: the scale of ``normal``, ``xavier`` and ``orthogonal`` init (0.02).
    """

    value_range = (-1.0, 1.0)

    def adapt_state_dict(self, sd: dict) -> dict:
        """Drop InstanceNorm running statistics that checkpoints from PyTorch < 0.4 carry
        (the reference's ``patch_instance_norm_state_dict``)."""
        own = self.state_dict()
        return {k: v for k, v in sd.items() if k in own or not _IN_STATS.search(k)}


class ResnetBlock(nn.Module):
    """reflect-pad, conv3, norm, ReLU, (dropout), reflect-pad, conv3, norm; plus the input."""

    def __init__(self, dim: int, norm: Norm, use_dropout: bool, padding: str = 'reflect'):
        super().__init__()
        bias = conv_bias(norm)

        def pad():
            if padding == 'reflect':
                return [nn.ReflectionPad2d(1)], 0
            if padding == 'replicate':
                return [nn.ReplicationPad2d(1)], 0
            return [], 1
        p1, w1 = pad()
        p2, w2 = pad()
        layers = p1 + [nn.Conv2d(dim, dim, 3, padding=w1, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += p2 + [nn.Conv2d(dim, dim, 3, padding=w2, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


@ARCH_REGISTRY.register()
class ResnetGenerator(TranslationNet):
    """CycleGAN's generator (``resnet_9blocks`` / ``resnet_6blocks``).

    conv7 (ngf), two stride-2 conv3 (2ngf, 4ngf), ``n_blocks`` residual blocks, two
    stride-2 transposed conv3, conv7, tanh.  ``(B,input_nc,H,W)`` in [-1,1] ->
    ``(B,output_nc,H,W)`` in [-1,1]; H and W should be multiples of 4.

    Args:
        norm: ``instance`` (default, CycleGAN's), ``batch`` or ``none``.
        use_dropout: dropout 0.5 inside each residual block (default false).
        n_blocks: residual blocks, >= 0 (9 = ``resnet_9blocks``, 6 = ``resnet_6blocks``).
        padding_type: the residual blocks' padding: ``reflect`` (default), ``replicate`` or ``zero``.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: Norm = 'instance',
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = 'reflect',
                 init_type: Init = 'normal', init_gain: float = 0.02):
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f'n_blocks must be >= 0, got {n_blocks}')
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias),
                  norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            m = 2 ** i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, ngf * m * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout, padding_type) for _ in range(n_blocks)]
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       norm_layer(norm, ngf * m // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.size_multiple = 4
        init_weights(self, init_type, init_gain)

    @classmethod
    def detect(cls, sd):
        """pytorch-CycleGAN-and-pix2pix's keys (``model.N.conv_block.M``)."""
        if 'model.1.weight' not in sd or not any('.conv_block.' in k for k in sd):
            return None
        blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r'model\.(\d+)\.conv_block\.', k))})
        first = f'model.{blocks[0]}.conv_block.' if blocks else ''
        convs = sorted(w for k in sd if k.startswith(first) and (w := k[len(first):]).endswith('.weight')
                       and sd[k].ndim == 4)
        last = max(int(k.split('.')[1]) for k in sd if k.startswith('model.') and sd[k].ndim == 4)
        ngf, cin = sd['model.1.weight'].shape[:2]
        return {'input_nc': int(cin), 'output_nc': int(sd[f'model.{last}.weight'].shape[0]), 'ngf': int(ngf),
                'n_blocks': len(blocks), 'norm': _norm_of(sd, 'model.'),
                'use_dropout': bool(convs) and convs[-1].startswith('6.')}

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down (LReLU, conv4 s2, norm), the inner levels, up (ReLU, convT4 s2,
    norm), then the input concatenated to the output (except at the outermost level)."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule=None,
                 outermost: bool = False, innermost: bool = False, norm: Norm = 'batch',
                 use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), up, norm_layer(norm, outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc), submodule,
                      nn.ReLU(True), up, norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@ARCH_REGISTRY.register()
class UnetGenerator(TranslationNet):
    """pix2pix's generator: ``num_downs`` stride-2 levels (8 = ``unet_256``, 7 = ``unet_128``).

    Dropout 0.5 sits in the ``num_downs - 5`` innermost 8·ngf levels when ``use_dropout``.
    ``(B,input_nc,H,W)`` in [-1,1] -> ``(B,output_nc,H,W)`` in [-1,1]; H and W must be
    multiples of ``2 ** num_downs``.

    Args:
        num_downs: stride-2 levels, >= 5 (8 = ``unet_256``, 7 = ``unet_128``).
        norm: ``batch`` (default, pix2pix's), ``instance`` or ``none``.
        use_dropout: dropout 0.5 in the innermost levels (default true, as pix2pix trains).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: Norm = 'batch', use_dropout: bool = True, init_type: Init = 'normal',
                 init_gain: float = 0.02):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f'num_downs must be >= 5, got {num_downs}')
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)
        self.num_downs = num_downs
        self.size_multiple = 2 ** num_downs
        init_weights(self, init_type, init_gain)

    @classmethod
    def detect(cls, sd):
        """pytorch-CycleGAN-and-pix2pix's keys (``model.model.1.model.3...``).  The keys cannot
        tell whether it was trained with dropout: assumed on (the pix2pix default)."""
        if 'model.model.0.weight' not in sd or 'model.model.1.model.1.weight' not in sd:
            return None
        depth, prefix = 1, 'model.model.1.'
        while f'{prefix}model.3.model.1.weight' in sd:
            depth, prefix = depth + 1, prefix + 'model.3.'
        ngf, cin = sd['model.model.0.weight'].shape[:2]
        return {'input_nc': int(cin), 'output_nc': int(sd['model.model.3.weight'].shape[1]), 'num_downs': depth + 1,
                'ngf': int(ngf), 'norm': _norm_of(sd, 'model.model.1.model.'), 'use_dropout': True}

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f'UnetGenerator(num_downs={self.num_downs}) needs sizes that are multiples of '
                             f'{self.size_multiple}; got {h}x{w}')
        return self.model(x)


@ARCH_REGISTRY.register()
class NLayerDiscriminator(TranslationNet):
    """PatchGAN: conv4 s2 (ndf, no norm), ``n_layers - 1`` more s2 convs with norm (channels
    doubling up to 8·ndf), one s1 conv with norm, then a s1 conv to 1 channel.

    ``n_layers = 3`` is the 70×70 PatchGAN (a 30×30 logit map for 256 inputs).
    ``(B,input_nc,H,W)`` in [-1,1] -> ``(B,1,h,w)`` raw logits.

    Args:
        n_layers: stride-2 conv layers (3: the 70×70 PatchGAN; each more doubles the patch).
        norm: ``batch`` (default), ``instance`` or ``none``.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: Norm = 'batch',
                 init_type: Init = 'normal', init_gain: float = 0.02):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
                   norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers
        init_weights(self, init_type, init_gain)

    def forward(self, x):
        return self.model(x)

    def receptive_field(self) -> int:
        """Input pixels seen by one output logit (70 for n_layers = 3)."""
        rf = 1
        for m in reversed(self.model):
            if isinstance(m, nn.Conv2d):
                rf = (rf - 1) * m.stride[0] + m.kernel_size[0]
        return rf


@ARCH_REGISTRY.register()
class PixelDiscriminator(TranslationNet):
    """1×1 PatchGAN (``pixel``): per-pixel real/fake logits ``(B,1,H,W)``.

    Args:
        norm: ``batch`` (default), ``instance`` or ``none``.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: Norm = 'batch', init_type: Init = 'normal',
                 init_gain: float = 0.02):
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))
        init_weights(self, init_type, init_gain)

    def forward(self, x):
        return self.net(x)

