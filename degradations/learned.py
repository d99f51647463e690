"""Learned degradations: apply a trained generator (DSGAN's) to make LR images.

The generator is any ``(1,3,h,w) -> (1,3,h,w)`` torch module in eval mode, run on
the tensor's device.  Big images go through :func:`run_tiled`: each tile is
processed with ``margin`` pixels of context on every side and only its centre
kept, so with ``margin`` at least the receptive radius the result equals the
untiled one (up to float rounding) at bounded memory.
"""
from __future__ import annotations

import numpy as np

from .resize import imresize


def run_tiled(fn, x, tile: int = 512, margin: int = 20):
    """``fn`` over ``x (1,C,H,W)`` in ``tile`` x ``tile`` pieces with ``margin`` context."""
    import torch
    _, _, h, w = x.shape
    if h <= tile + 2 * margin and w <= tile + 2 * margin:
        return fn(x)
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(0, top - margin), max(0, left - margin)
            t1, l1 = min(h, top + tile + margin), min(w, left + tile + margin)
            y = fn(x[..., t0:t1, l0:l1])
            if out is None:
                out = torch.empty((1, y.shape[1], h, w), dtype=y.dtype, device=y.device)
            th, tw = min(tile, h - top), min(tile, w - left)
            out[..., top:top + th, left:left + tw] = y[..., top - t0:top - t0 + th, left - l0:left - l0 + tw]
    return out


def dsgan(hr: np.ndarray, scale: int, rng=None, *, generator=None, mode: str = 'sdsr', tile: int = 512,
          margin: int = 20):
    """DSGAN's SR pairs from ``hr (H,W,3) RGB float32 [0,1]``; returns ``(lr, hr, params)``.

    ``sdsr``: HR = the source, LR = G(bicubic down by ``scale``).  ``tdsr``: HR =
    bicubic down by 2 of the source (a clean-up that suppresses its noise), LR =
    G(bicubic down of that HR).  G draws nothing, so ``rng`` is unused; the LR is
    rounded to 8 bit.

    Args:
        generator: the trained DSGAN generator (an ``nn.Module``); required.
        mode: ``sdsr`` (default) or ``tdsr``, as above.
        tile: the side of the tiles G runs on, in LR pixels (512).
        margin: the overlap each tile gets on every side, in pixels (20).
    """
    import torch
    if generator is None:
        raise ValueError('dsgan: a generator is required (srkit-degrade --model G.pth)')
    if mode not in ('sdsr', 'tdsr'):
        raise ValueError(f'dsgan: mode must be sdsr or tdsr, got {mode!r}')
    m = scale * (2 if mode == 'tdsr' else 1)
    h, w = hr.shape[:2]
    hr = np.ascontiguousarray(hr[: h - h % m, : w - w % m], dtype=np.float32)
    if min(hr.shape[:2]) < m:
        raise ValueError(f'image {h}x{w} is smaller than {m} px')
    if mode == 'tdsr':
        hr = np.clip(imresize(hr, 0.5), 0, 1).astype(np.float32)
    x = np.clip(imresize(hr, 1.0 / scale), 0, 1)
    dev = next(generator.parameters()).device
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).unsqueeze(0).to(dev)
        y = run_tiled(generator, t, tile, margin)
    lr = np.rint(np.clip(y[0].permute(1, 2, 0).float().cpu().numpy(), 0, 1) * 255.0).astype(np.float32) / 255.0
    return lr, hr, {'method': 'dsgan', 'mode': mode, 'scale': scale}
