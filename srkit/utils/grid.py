"""Image grids for sample sheets (CGAN validation, ``srkit-sample``)."""
from __future__ import annotations

import torch


def make_grid(imgs: torch.Tensor, ncol: int, pad: int = 2, fill: float = 1.0) -> torch.Tensor:
    """``(N,C,H,W)`` in [0,1] -> ``(3,rows·(H+pad)+pad, ncol·(W+pad)+pad)``, row-major, gray
    images repeated to RGB, ``pad`` pixels of ``fill`` between and around the cells."""
    n, c, h, w = imgs.shape
    if c == 1:
        imgs = imgs.expand(-1, 3, -1, -1)
    rows = -(-n // ncol)
    out = torch.full((3, rows * (h + pad) + pad, ncol * (w + pad) + pad), fill, dtype=imgs.dtype,
                     device=imgs.device)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        out[:, top: top + h, left: left + w] = imgs[i, :3]
    return out
