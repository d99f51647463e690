"""LDL's artifact map (Liang et al., "Details or Artifacts: A Locally Discriminative Learning
Approach to Realistic Image Super-Resolution", CVPR 2022), which weights a pixel loss towards the
pixels where the generator makes artifacts: BasicSR's ``ldl_opt`` compares ``map * output`` with
``map * gt``."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def local_variance(residual: torch.Tensor, ksize: int) -> torch.Tensor:
    """``(B,1,H,W)``: the unbiased variance of ``residual (B,1,H,W)`` over each pixel's
    ``ksize x ksize`` window (reflect-padded at the borders)."""
    pad = (ksize - 1) // 2
    windows = F.pad(residual, [pad] * 4, mode='reflect').unfold(2, ksize, 1).unfold(3, ksize, 1)
    return windows.var(dim=(-1, -2), unbiased=True)


def artifact_map(gt: torch.Tensor, output: torch.Tensor, ema_output: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """``(B,1,H,W)`` weights from ``(B,C,H,W)`` images in [0,1]: where the output's absolute
    residual (summed over channels) is no smaller than the EMA generator's, the residual's local
    variance times its image-level variance to the power 1/5; elsewhere 0 (the EMA model, being
    stabler, tells details from artifacts).  Differentiable in ``output``, as in LDL's code."""
    residual_ema = (gt - ema_output).abs().sum(1, keepdim=True)
    residual = (gt - output).abs().sum(1, keepdim=True)
    image_level = residual.var(dim=(-1, -2, -3), keepdim=True) ** (1 / 5)
    weight = image_level * local_variance(residual, ksize)
    return weight.masked_fill(residual < residual_ema, 0)
