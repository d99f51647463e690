"""Real-ESRGAN's second-order degradation: the per-sample part (kernels, drawn in
dataset workers) and the batched tensor ops it runs on the training device.

``sample_kernels(rng)`` returns the three ``(21, 21)`` kernels Real-ESRGAN draws
per training sample and the parameters behind them.  ``filter2d`` applies a
kernel per sample to a ``(B,C,H,W)`` batch on whatever device the batch is on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kernels import KERNEL_KINDS, kernel_from_params, pad_kernel, random_mixed_kernel, random_sinc_kernel


@dataclass
class KernelConfig:
    """The kernel fields of Real-ESRGAN's x4plus recipe (defaults = the paper's)."""

    kernel_range: tuple = tuple(range(7, 22, 2))  # odd sizes 7..21
    kernel_list: tuple = KERNEL_KINDS
    kernel_prob: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: tuple = (0.2, 3.0)
    betag_range: tuple = (0.5, 4.0)
    betap_range: tuple = (1.0, 2.0)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple = (0.2, 1.5)
    betag_range2: tuple = (0.5, 4.0)
    betap_range2: tuple = (1.0, 2.0)
    final_sinc_prob: float = 0.8
    size: int = 21  # every kernel is zero-padded to this


def _blur(rng, cfg: KernelConfig, second: bool):
    k = int(rng.choice(cfg.kernel_range))
    if rng.uniform() < (cfg.sinc_prob2 if second else cfg.sinc_prob):
        ker, p = random_sinc_kernel(rng, k)
    else:
        sigma = cfg.blur_sigma2 if second else cfg.blur_sigma
        ker, p = random_mixed_kernel(rng, cfg.kernel_list, cfg.kernel_prob, k, sigma_x_range=sigma,
                                     sigma_y_range=sigma, rotation_range=(-math.pi, math.pi),
                                     betag_range=cfg.betag_range2 if second else cfg.betag_range,
                                     betap_range=cfg.betap_range2 if second else cfg.betap_range)
    p['pad_to'] = cfg.size
    return pad_kernel(ker, cfg.size), p


def sample_kernels(rng: np.random.Generator, cfg: KernelConfig | None = None):
    """Draw (kernel1, kernel2, final sinc) as ``(3, size, size)`` float32 and their params."""
    cfg = cfg or KernelConfig()
    k1, p1 = _blur(rng, cfg, second=False)
    k2, p2 = _blur(rng, cfg, second=True)
    if rng.uniform() < cfg.final_sinc_prob:
        k3, p3 = random_sinc_kernel(rng, int(rng.choice(cfg.kernel_range)), cutoff_range=(math.pi / 3, math.pi),
                                    pad_to=cfg.size)
    else:
        p3 = {'kind': 'pulse', 'size': cfg.size}
        k3 = kernel_from_params(p3)
    return np.stack([k1, k2, k3]).astype(np.float32), {'kernel1': p1, 'kernel2': p2, 'sinc': p3}


def filter2d(x, kernels):
    """Correlate each sample of ``x (B,C,H,W)`` with its own odd kernel.

    ``kernels`` is ``(B,k,k)`` (or ``(k,k)`` for all); reflect padding keeps the
    size.  Runs on ``x``'s device and dtype as one grouped convolution.
    """
    from torch.nn import functional as F
    b, c, h, w = x.shape
    kernels = kernels.to(x.device, x.dtype)
    if kernels.ndim == 2:
        kernels = kernels.expand(b, *kernels.shape)
    k = kernels.shape[-1]
    if k % 2 != 1:
        raise ValueError(f'kernel size must be odd, got {k}')
    xp = F.pad(x, (k // 2,) * 4, mode='reflect')
    weight = kernels.reshape(b, 1, k, k).repeat_interleave(c, dim=0)
    out = F.conv2d(xp.reshape(1, b * c, *xp.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, h, w)
