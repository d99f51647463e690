"""Pixel losses on ``(B,C,H,W)`` tensors, each scaled by ``loss_weight``."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import LOSS_REGISTRY

Reduction = Literal['mean', 'sum', 'none']


class _PixelLoss(nn.Module):
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
    def forward(self, pred, target, weight=None):
        if weight is None and self.reduction != 'none':
            return self.loss_weight * F.l1_loss(pred, target, reduction=self.reduction)
        return self.loss_weight * self._reduce((pred - target).abs(), weight)


@LOSS_REGISTRY.register()
class MSELoss(_PixelLoss):
    def forward(self, pred, target, weight=None):
        if weight is None and self.reduction != 'none':
            return self.loss_weight * F.mse_loss(pred, target, reduction=self.reduction)
        return self.loss_weight * self._reduce((pred - target) ** 2, weight)


@LOSS_REGISTRY.register()
class CharbonnierLoss(_PixelLoss):
    """sqrt((pred - target)^2 + eps): a differentiable L1 (eps 1e-12, as BasicSR)."""

    def __init__(self, loss_weight: float = 1.0, reduction: Reduction = 'mean', eps: float = 1e-12):
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def forward(self, pred, target, weight=None):
        return self.loss_weight * self._reduce(torch.sqrt((pred - target) ** 2 + self.eps), weight)
