"""Tiled inference: bounded device memory, blended seams.

``tiled_forward`` keeps the image and the output on the CPU and moves one tile at a
time to the device.  As in Real-ESRGAN, ``tile`` is the step between tiles and each tile
the network sees is ``tile + overlap`` pixels, so a ``tile``-sized image needs one tile
and a 2·``tile`` one four.  Neighbouring tiles overlap by at least ``overlap`` input pixels
and are blended with a window that is 0 in the outer 3/8 of the overlap (where a tile's
output lacks context), rises as a raised cosine across the middle quarter, and is 1
beyond; the two windows of a shared overlap sum to 1.  So when 3/8 of the overlap
covers the network's receptive-field radius, every pixel that gets weight is computed
with full context and the result equals the untiled output up to float rounding.  (A
wider blend would only average in pixels computed with less context.)
"""
from __future__ import annotations

import math

import torch

GUARD = 3 / 8  # share of the overlap, at each tile edge, that gets no weight

def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> torch.Tensor:
    """1-D weights over ``n`` output pixels; ``lead``/``trail``: that side borders another tile."""
    w = torch.ones(n, dtype=torch.float64)
    if overlap <= 0:
        return w
    d = torch.arange(n, dtype=torch.float64) + 0.5  # distance from the leading edge, pixel centres
    guard, width = overlap * GUARD, overlap * (1 - 2 * GUARD)

    def rise(dist):
        t = ((dist - guard) / width).clamp(0, 1)
        return 0.5 - 0.5 * torch.cos(math.pi * t)
    if lead:
        w = w * rise(d)
    if trail:
        w = w * rise(n - d)
    return w


def _starts(size: int, span: int, stride: int) -> list[int]:
    """Tile origins: every ``stride`` pixels, the last flush with the end; ``span``: tile size."""
    if size <= span:
        return [0]
    starts = list(range(0, size - span, stride)) + [size - span]
    return sorted(set(starts))


def _window_sums(size: int, starts: list[int], span: int, overlap: int, scale: int) -> torch.Tensor:
    """The sum of the blending windows over each output pixel of one axis (float64)."""
    total = torch.zeros(size * scale, dtype=torch.float64)
    for start in starts:
        n = min(span, size - start)
        total[start * scale:(start + n) * scale] += _ramp(n * scale, overlap * scale, start > 0, start + n < size)
    return total


@torch.no_grad()
def tiled_forward(fn, x: torch.Tensor, tile: int, overlap: int, device=None, dtype=None,
                  multiple: int = 1, progress=None, sink=None):
    """``fn`` over ``x (1,C,H,W)`` (CPU) in tiles of ``tile + overlap`` pixels a side, one every
    ``tile`` pixels; returns ``(1,C',H·s,W·s)`` float32 on the CPU, ``s`` being the
    network's scale (read off the first tile).

    ``multiple``: tile sizes and positions are multiples of it (e.g. 4 for pixel-unshuffle ×1
    models); ``x`` must already be padded to it.  ``device``/``dtype``: where and in what
    precision each tile runs.  ``progress(done, total)`` is called after each tile.

    ``sink(row, block)``: instead of returning the output, hand it over in finished rows, top to
    bottom: ``block (1,C',n,W·s)`` float32 holds output rows ``row`` to ``row + n``.  The tiles
    run a row of tiles at a time, so only one row of tiles' output (``(tile + overlap)·s`` rows)
    is held in float, whatever the image's size; the caller may store or write each block as it
    comes (srkit-infer keeps 8-bit rows).
    """
    _, _, h, w = x.shape
    if tile <= 0 or (h <= tile + overlap and w <= tile + overlap):
        y = fn(x.to(device=device, dtype=dtype)).float().cpu()
        if progress:
            progress(1, 1)
        if sink is None:
            return y
        sink(0, y)
        return None
    if h % multiple or w % multiple:
        raise ValueError(f'image {h}x{w} is not padded to a multiple of {multiple}')
    stride = max(multiple, tile // multiple * multiple)
    overlap = overlap // multiple * multiple
    tile = stride + overlap
    tops, lefts = _starts(h, tile, stride), _starts(w, tile, stride)
    out = band = carry = sy = sx = None
    scale = band0 = 0
    total, done = len(tops) * len(lefts), 0
    for i, top in enumerate(tops):
        th = min(tile, h - top)
        for left in lefts:
            tw = min(tile, w - left)
            # contiguous: x may be a view of an (H,W,C) array, and some networks view() their input
            y = fn(x[..., top:top + th, left:left + tw].to(device=device, dtype=dtype).contiguous()).float().cpu()
            if sy is None:
                scale = y.shape[-1] // tw
                # the windows are wy(top) x wx(left) over a grid of tops and lefts, so their
                # sum is (sum of wy) x (sum of wx): two vectors rather than another image
                sy = _window_sums(h, tops, tile, overlap, scale).float()
                sx = _window_sums(w, lefts, tile, overlap, scale).float()
                if sink is None:
                    out = torch.empty((1, y.shape[1], h * scale, w * scale))
            if band is None:
                # float32 accumulators: at most four tiles meet at a pixel.  A band spans this
                # row of tiles; the rows the row above left unfinished (its overlap) carry over.
                band, band0 = torch.zeros((1, y.shape[1], th * scale, w * scale)), top * scale
                if carry is not None:
                    band[..., :carry.shape[-2], :] = carry
            wy = _ramp(th * scale, overlap * scale, top > 0, top + th < h)
            wx = _ramp(tw * scale, overlap * scale, left > 0, left + tw < w)
            win = (wy[:, None] * wx[None, :])[None, None].float()
            band[..., :, left * scale:(left + tw) * scale] += y.mul_(win)  # y is this tile's own
            done += 1
            if progress:
                progress(done, total)
        # no later tile reaches above the next row of tiles: the rows above it are finished
        end = tops[i + 1] * scale if i + 1 < len(tops) else h * scale
        rows = band[..., :end - band0, :]
        rows.div_(sy[band0:end].view(1, 1, -1, 1)).div_(sx.view(1, 1, 1, -1))
        if sink is None:
            out[..., band0:end, :] = rows
        else:
            sink(band0, rows)
        carry = band[..., end - band0:, :].clone() if i + 1 < len(tops) else None
        band = None
    return out
