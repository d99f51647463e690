"""Conditional GAN networks (Mirza & Osindero 2014): MLP and DCGAN-style convolutional forms.

Generators take ``z (B,latent_dim)`` and ``labels (B,) int64`` and return
``(B,C,S,S)`` images in [-1, 1]; discriminators take such images and the labels and
return ``(B,1)`` raw scores.  The MLP pair follows the common PyTorch recipe (its key
names too), including ``BatchNorm1d(n, 0.8)``, which sets eps = 0.8: a quirk kept as
``bn_eps`` because trained weights depend on it.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import ARCH_REGISTRY
from .translation import init_weights
from .util import Arch


class _Conditional(Arch):
    """A conditional network: images in [-1, 1] and one class label per image.

    Args:
        latent_dim: length of the generator's noise vector z (100).
        n_classes: the number of class labels (10).
        img_channels: channels of the images (1: grey; 3: RGB).
        img_size: side of the square images in pixels (32).
        ngf: the generator's channels after its linear layer (128).
        ndf: the discriminator's channels at its first conv (16), doubling up to 8·ndf.
        init_type: weight initialisation: ``normal`` (default), ``xavier``, ``kaiming`` or
            ``orthogonal``.
        init_gain: the scale of ``normal``, ``xavier`` and ``orthogonal`` init (0.02).
    """

    value_range = (-1.0, 1.0)

    def _check(self, labels: torch.Tensor) -> None:
        if labels.dtype not in (torch.int64, torch.int32) or labels.ndim != 1:
            raise ValueError(f'labels must be a 1-D integer tensor, got {labels.dtype} {tuple(labels.shape)}')


@ARCH_REGISTRY.register()
class CGANGenerator(_Conditional):
    """MLP: concat(Embedding(labels), z) -> 128 -> 256 -> 512 -> 1024 (BN + LReLU 0.2 on all
    but the first) -> C·S·S, tanh.

    Args:
        bn_eps: BatchNorm's eps (0.8: the recipe's ``BatchNorm1d(n, 0.8)``, which trained
            weights depend on).
    """

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, img_channels: int = 1, img_size: int = 32,
                 bn_eps: float = 0.8):
        super().__init__()
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.img_shape = (img_channels, img_size, img_size)
        self.label_emb = nn.Embedding(n_classes, n_classes)

        def block(cin, cout, normalize=True):
            layers = [nn.Linear(cin, cout)]
            if normalize:
                layers.append(nn.BatchNorm1d(cout, bn_eps))
            return layers + [nn.LeakyReLU(0.2, inplace=True)]
        self.model = nn.Sequential(
            *block(latent_dim + n_classes, 128, normalize=False), *block(128, 256), *block(256, 512),
            *block(512, 1024), nn.Linear(1024, math.prod(self.img_shape)), nn.Tanh())

    @classmethod
    def detect(cls, sd):
        """The MLP generator (PyTorch-GAN's keys: ``label_emb``, ``model.N``)."""
        if 'label_emb.weight' not in sd or 'model.0.weight' not in sd:
            return None
        n_classes = int(sd['label_emb.weight'].shape[0])
        out = int(sd[f'model.{max(int(k.split(".")[1]) for k in sd if k.startswith("model."))}.weight'].shape[0])
        ch = 1 if math.isqrt(out) ** 2 == out else 3
        return {'latent_dim': int(sd['model.0.weight'].shape[1]) - n_classes, 'n_classes': n_classes,
                'img_channels': ch, 'img_size': math.isqrt(out // ch)}

    def forward(self, z, labels):
        self._check(labels)
        x = torch.cat([self.label_emb(labels), z], 1)
        return self.model(x).view(z.shape[0], *self.img_shape)


@ARCH_REGISTRY.register()
class CGANDiscriminator(_Conditional):
    """MLP: concat(flattened image, Embedding(labels)) -> 512 -> 512 -> 512 (Dropout 0.4) -> 1.

    Args:
        dropout: the dropout probability after the hidden layers, in [0, 1) (0.4).
    """

    def __init__(self, n_classes: int = 10, img_channels: int = 1, img_size: int = 32, dropout: float = 0.4):
        super().__init__()
        self.n_classes = n_classes
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(
            nn.Linear(n_classes + img_channels * img_size * img_size, 512), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512), nn.Dropout(dropout), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1))

    def forward(self, img, labels):
        self._check(labels)
        return self.model(torch.cat([img.flatten(1), self.label_embedding(labels)], 1))


@ARCH_REGISTRY.register()
class CGANConvGenerator(_Conditional):
    """DCGAN form: concat(z, Embedding(labels)) -> linear to ngf×(S/4)² -> BN -> two
    (upsample ×2, conv3, BN, LReLU) stages -> conv3 to C, tanh.  ``img_size`` % 4 == 0."""

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, img_channels: int = 1, img_size: int = 32,
                 ngf: int = 128, init_type: str = 'normal', init_gain: float = 0.02):
        super().__init__()
        if img_size % 4:
            raise ValueError(f'img_size must be a multiple of 4, got {img_size}')
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.init_size, self.ngf = img_size // 4, ngf
        self.label_emb = nn.Embedding(n_classes, latent_dim)
        self.l1 = nn.Linear(2 * latent_dim, ngf * self.init_size ** 2)
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(ngf),
            nn.Upsample(scale_factor=2), nn.Conv2d(ngf, ngf, 3, padding=1), nn.BatchNorm2d(ngf, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2), nn.Conv2d(ngf, ngf // 2, 3, padding=1), nn.BatchNorm2d(ngf // 2, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ngf // 2, img_channels, 3, padding=1), nn.Tanh())
        init_weights(self, init_type, init_gain)

    def forward(self, z, labels):
        self._check(labels)
        x = self.l1(torch.cat([z, self.label_emb(labels)], 1))
        return self.conv_blocks(x.view(z.shape[0], self.ngf, self.init_size, self.init_size))


@ARCH_REGISTRY.register()
class CGANConvDiscriminator(_Conditional):
    """DCGAN form: the image plus one-hot label maps (C + n_classes channels) -> stride-2
    conv3 blocks (LReLU 0.2, Dropout 0.25, BN after the first) down to 2×2 -> linear to 1."""

    def __init__(self, n_classes: int = 10, img_channels: int = 1, img_size: int = 32, ndf: int = 16,
                 init_type: str = 'normal', init_gain: float = 0.02):
        super().__init__()
        n_blocks = int(math.log2(img_size)) - 1
        if img_size < 4 or 2 ** (n_blocks + 1) != img_size:
            raise ValueError(f'img_size must be a power of two >= 4, got {img_size}')
        self.n_classes = n_classes
        layers, cin = [], img_channels + n_classes
        for i in range(n_blocks):
            cout = ndf * 2 ** min(i, 3)
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if i > 0:
                layers.append(nn.BatchNorm2d(cout, 0.8))
            cin = cout
        self.model = nn.Sequential(*layers)
        self.adv_layer = nn.Linear(cin * 4, 1)
        init_weights(self, init_type, init_gain)

    def forward(self, img, labels):
        self._check(labels)
        maps = F.one_hot(labels, self.n_classes).to(img.dtype)[:, :, None, None].expand(-1, -1, *img.shape[-2:])
        return self.adv_layer(self.model(torch.cat([img, maps], 1)).flatten(1))
