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


def gaussian_noise_pt(x, generator, sigma_range=(1.0, 30.0), gray_prob=0.4):
    """Per-sample Gaussian noise on ``(B,3,H,W)`` in [0,1]: sigma/255 ~ U(range), gray with
    ``gray_prob``; independent fields per sample.  Returns ``(noisy, {'sigma', 'gray'})`` as
    tensors on the batch's device (no host sync).  ``generator`` lives on that device."""
    import torch
    b, c, h, w = x.shape
    opts = {'device': x.device, 'dtype': x.dtype, 'generator': generator}
    sigma = torch.rand(b, **opts) * (sigma_range[1] - sigma_range[0]) + sigma_range[0]
    gray = (torch.rand(b, **opts) < gray_prob).to(x.dtype)
    color = torch.randn(b, c, h, w, **opts)
    mono = torch.randn(b, 1, h, w, **opts)
    g = gray.view(b, 1, 1, 1)
    noise = (color * (1 - g) + mono * g) * (sigma / 255.0).view(b, 1, 1, 1)
    return x + noise, {'sigma': sigma, 'gray': gray}


def poisson_noise_pt(x, generator, scale_range=(0.05, 3.0), gray_prob=0.4):
    """Per-sample Poisson noise (Real-ESRGAN's): counts at 2^ceil(log2(#8-bit levels)) levels,
    times ``scale``; the level count is computed on the device with a batched histogram."""
    import torch
    b, c, h, w = x.shape
    opts = {'device': x.device, 'dtype': x.dtype, 'generator': generator}
    scale = torch.rand(b, **opts) * (scale_range[1] - scale_range[0]) + scale_range[0]
    gray = (torch.rand(b, **opts) < gray_prob).to(x.dtype)

    def noise_of(img):
        q = torch.clamp((img * 255.0).round(), 0, 255)
        idx = q.long().reshape(b, -1) + 256 * torch.arange(b, device=x.device).view(b, 1)
        levels = (torch.bincount(idx.reshape(-1), minlength=256 * b).view(b, 256) > 0).sum(1).to(x.dtype)
        vals = torch.exp2(torch.ceil(torch.log2(levels))).view(b, 1, 1, 1)
        q = q / 255.0
        return torch.poisson(q * vals, generator=generator) / vals - q

    lum = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    g = gray.view(b, 1, 1, 1)
    noise = noise_of(x) * (1 - g) + noise_of(lum).expand(b, c, h, w) * g
    return x + noise * scale.view(b, 1, 1, 1), {'scale': scale, 'gray': gray}


class PairPool:
    """Real-ESRGAN's training-pair pool ("queue"), for any batch size.

    While filling, batches pass through unchanged and are stored; once full,
    each batch swaps places with ``b`` random stored pairs, which are returned,
    so a batch mixes degradations from many iterations.  ``state_dict`` holds
    the stored pairs for exact resume.
    """

    def __init__(self, size: int = 180):
        self.size = size
        self.lq = self.gt = None
        self.count = 0

    def __call__(self, lq, gt, generator):
        import torch
        b = lq.shape[0]
        if b > self.size:
            raise ValueError(f'batch {b} exceeds the pool size {self.size}')
        if self.lq is None:
            self.lq = lq.new_empty((self.size, *lq.shape[1:]))
            self.gt = gt.new_empty((self.size, *gt.shape[1:]))
        if self.count + b <= self.size:  # still filling
            self.lq[self.count: self.count + b] = lq
            self.gt[self.count: self.count + b] = gt
            self.count += b
            return lq, gt
        if self.count < self.size:  # top up the last free slots, then swap
            n = self.size - self.count
            self.lq[self.count:], self.gt[self.count:] = lq[:n], gt[:n]
            self.count = self.size
        idx = torch.randperm(self.size, generator=generator, device=generator.device)[:b].to(lq.device)
        out_lq, out_gt = self.lq[idx].clone(), self.gt[idx].clone()
        self.lq[idx], self.gt[idx] = lq, gt
        return out_lq, out_gt

    def state_dict(self) -> dict:
        if self.lq is None:
            return {'count': 0}
        return {'count': self.count, 'lq': self.lq[: self.count].cpu(), 'gt': self.gt[: self.count].cpu()}

    def load_state_dict(self, state: dict, device='cpu') -> None:
        self.count = int(state['count'])
        if self.count:
            lq, gt = state['lq'].to(device), state['gt'].to(device)
            self.lq = lq.new_empty((self.size, *lq.shape[1:]))
            self.gt = gt.new_empty((self.size, *gt.shape[1:]))
            self.lq[: self.count], self.gt[: self.count] = lq, gt
