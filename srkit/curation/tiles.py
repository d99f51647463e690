"""Where tiles are cut: BasicSR's ``extract_subimages`` grid, and the one most complex tile.

Boxes are ``(top, left, height, width)`` in pixels of the source image.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def grid_starts(length: int, size: int, step: int, thresh: int = 0) -> list[int]:
    """The tile starts along one side, as BasicSR's ``extract_subimages`` puts them: every
    ``step`` from 0 while a whole tile fits, then one more flush with the border when more
    than ``thresh`` pixels are left over.  ``[]`` when the side is shorter than ``size``
    (where BasicSR's script fails)."""
    if length < size:
        return []
    starts = list(range(0, length - size + 1, step))
    if length - (starts[-1] + size) > thresh:
        starts.append(length - size)
    return starts


def count_starts(length: int, size: int, step: int, thresh: int = 0) -> int:
    """``len(grid_starts(...))`` by arithmetic, before any list is built."""
    if length < size:
        return 0
    n = (length - size) // step + 1
    return n + (length - ((n - 1) * step + size) > thresh)


def grid(h: int, w: int, size: int, step: int, thresh: int = 0) -> list[tuple[int, int, int, int]]:
    """The boxes of an ``h x w`` image, row by row (BasicSR's ``_s001``, ``_s002`` ... order)."""
    return [(t, left, size, size) for t in grid_starts(h, size, step, thresh)
            for left in grid_starts(w, size, step, thresh)]


def best_tile(img: np.ndarray, size: int, score: Callable[[np.ndarray], float]) -> tuple[tuple, float] | None:
    """The box of the ``size`` tile with the highest ``score`` among the tiles of a half-overlapping
    grid (step ``size // 2``, the last flush with the border), and its score; the first on ties.
    ``None`` when the image is smaller than ``size``."""
    best = None
    for box in grid(img.shape[0], img.shape[1], size, max(size // 2, 1)):
        t, left, h, w = box
        s = score(img[t:t + h, left:left + w])
        if best is None or s > best[1]:
            best = (box, s)
    return best
