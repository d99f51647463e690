"""Pixel losses on ``(B,C,H,W)`` tensors, each scaled by ``loss_weight``."""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import LOSS_REGISTRY

Reduction = Literal['mean', 'sum', 'none']


class _PixelLoss(nn.Module):
    """A per-pixel loss between the output and its target, ``(B,C,H,W)`` each.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        reduction: ``mean`` (default) or ``sum`` over all elements, or ``none`` (the per-pixel map).
    """

    role = 'compare'  # ``(output, reference)`` on a target the family offers
    outputs = ()      # one value, logged under the term's name

    def __init__(self, loss_weight: float = 1.0, reduction: Reduction = 'mean'):
        super().__init__()
        self.loss_weight = loss_weight
        self.reduction = reduction

    def _reduce(self, x, weight=None):
        if weight is not None:
            x = x * weight
        if self.reduction == 'mean':
            return x.mean()
        if self.reduction == 'sum':
            return x.sum()
        return x


@LOSS_REGISTRY.register()
class L1Loss(_PixelLoss):
    """The mean absolute error |pred - target|."""

    def forward(self, pred, target, weight=None):
        if weight is None and self.reduction != 'none':
            return self.loss_weight * F.l1_loss(pred, target, reduction=self.reduction)
        return self.loss_weight * self._reduce((pred - target).abs(), weight)


@LOSS_REGISTRY.register()
class MSELoss(_PixelLoss):
    """The mean squared error (pred - target)^2."""

    def forward(self, pred, target, weight=None):
        if weight is None and self.reduction != 'none':
            return self.loss_weight * F.mse_loss(pred, target, reduction=self.reduction)
        return self.loss_weight * self._reduce((pred - target) ** 2, weight)


@LOSS_REGISTRY.register()
class CharbonnierLoss(_PixelLoss):
    """sqrt((pred - target)^2 + eps): a differentiable L1 (eps 1e-12, as BasicSR).

    Args:
        eps: added under the square root, > 0, so the gradient exists at 0 (default 1e-12).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: Reduction = 'mean', eps: float = 1e-12):
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def forward(self, pred, target, weight=None):
        return self.loss_weight * self._reduce(torch.sqrt((pred - target) ** 2 + self.eps), weight)


def l1_entry(loss_weight: float, target: str, name: str) -> dict:
    """A ``train.losses`` entry: the mean absolute difference on ``target``, weighted and logged as
    ``name``; the terms pix2pix's and CycleGAN's ``lambda_*`` options stand for."""
    return {'type': L1Loss.__name__, 'loss_weight': loss_weight, 'target': target, 'name': name}


def criterion_fn(name: str):
    """The distance a traiNNer-redux loss's ``criterion`` names: ``l1``, ``l2`` (MSE) or
    ``charbonnier`` (eps 1e-12), each the mean over all elements."""
    if name == 'l1':
        return F.l1_loss
    if name == 'l2':
        return F.mse_loss
    return lambda a, b: torch.sqrt((a - b) ** 2 + 1e-12).mean()


Criterion = Literal['l1', 'l2', 'charbonnier']


@LOSS_REGISTRY.register()
class CosimLoss(nn.Module):
    """``loss_weight * cosim_lambda * (1 - mean cosine similarity)`` of the pixels' RGB vectors of
    ``(B,3,H,W) [0,1]`` images (both clamped to [1e-12, 1]): traiNNer-redux's ``cosimloss``, a
    penalty on colour direction.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        cosim_lambda: the penalty's scale (default 5).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, cosim_lambda: float = 5.0):
        super().__init__()
        self.loss_weight, self.cosim_lambda = loss_weight, cosim_lambda

    def forward(self, x, ref):
        sim = F.cosine_similarity(x.clamp(1e-12, 1), ref.clamp(1e-12, 1), dim=1, eps=1e-20)
        return self.loss_weight * self.cosim_lambda * (1 - sim.mean())


@LOSS_REGISTRY.register()
class SobelEdgeLoss(nn.Module):
    """``loss_weight *`` the mean squared difference of the Sobel gradients (/4, zero padding) of
    the BT.601 luma of ``(B,3,H,W) RGB [0,1]`` images: traiNNer-redux's ``sobeledgeloss``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight
        gx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]) / 4
        self.register_buffer('kernels', torch.stack([gx, gx.T])[:, None], persistent=False)

    def _grad(self, x):
        luma = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        return F.conv2d(luma, self.kernels.to(x), padding=1)

    def forward(self, x, ref):
        return self.loss_weight * F.mse_loss(self._grad(x), self._grad(ref))


@LOSS_REGISTRY.register()
class AverageLoss(nn.Module):
    """``loss_weight * crit(avgpool(x), avgpool(ref))`` over ``scale``-pixel squares of
    ``(B,C,H,W)`` images: a distance of the output's downscale (traiNNer-redux's ``averageloss``).

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        criterion: ``l1`` (default) or ``l2``.
        scale: the side of the averaged squares, >= 1 (default 4).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, criterion: Literal['l1', 'l2'] = 'l1', scale: int = 4):
        super().__init__()
        self.loss_weight, self.scale, self.crit = loss_weight, scale, criterion_fn(criterion)

    def forward(self, x, ref):
        return self.loss_weight * self.crit(F.avg_pool2d(x, self.scale), F.avg_pool2d(ref, self.scale))


@LOSS_REGISTRY.register()
class BicubicLoss(nn.Module):
    """``loss_weight * crit(down(x), down(ref))``, ``down`` an antialiased bicubic downscale by
    ``scale`` of ``(B,C,H,W)`` images (traiNNer-redux's ``bicubicloss``).

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        criterion: ``l1`` (default), ``l2`` or ``charbonnier``.
        scale: the downscale factor, >= 1 (default 4).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, criterion: Criterion = 'l1', scale: int = 4):
        super().__init__()
        self.loss_weight, self.scale, self.crit = loss_weight, scale, criterion_fn(criterion)

    def _down(self, t):
        return F.interpolate(t, scale_factor=1 / self.scale, mode='bicubic', antialias=True)

    def forward(self, x, ref):
        return self.loss_weight * self.crit(self._down(x), self._down(ref))


@LOSS_REGISTRY.register()
class PSNRLoss(nn.Module):
    """``loss_weight * mean over the batch of 10 log10(MSE + 1e-8)``: minus each image's PSNR (in
    dB, for images in [0,1]), NAFNet's and traiNNer-redux's ``psnrloss``.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        reduction: ``mean`` only (traiNNer-redux's key).
        to_y: compare the BT.601 luma (MATLAB's Y / 255) of RGB images (default false).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, reduction: Literal['mean'] = 'mean', to_y: bool = False):
        super().__init__()
        self.loss_weight, self.to_y = loss_weight, to_y

    def forward(self, x, ref):
        if self.to_y:
            coef = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1).to(x)
            x, ref = (((t * coef).sum(1, keepdim=True) + 16.0) / 255.0 for t in (x, ref))
        mse = ((x - ref) ** 2).mean((1, 2, 3))
        return self.loss_weight * (10 / math.log(10)) * torch.log(mse + 1e-8).mean()
