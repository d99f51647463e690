"""The per-tile scores a curation asks for (``score``): the weights-free ones of :mod:`srkit.metrics.noref`,
NIQE and PIQE (:mod:`srkit.metrics.iqa`), IC9600's complexity (:mod:`srkit.metrics.ic9600`), and
pyiqa's learned no-reference metrics by name.

A :class:`Scorer` takes a list of tiles ``(H,W,3) RGB float32 in [0,1]`` and returns one
float per tile (``nan`` where the score is not defined, e.g. NIQE under 96 px); the learned
ones run in batches on their device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UserError
from ..metrics import noref
from ..utils.naming import name

WEIGHTS_FREE = ('blockiness', 'sharpness', 'noise', 'colourfulness', 'clipping', 'complexity', 'niqe', 'piqe')


@dataclass
class Scorer:
    """``fn(tiles) -> list[float]``; ``lower_better``; ``min_side``: smaller tiles score ``nan``."""

    name: str
    fn: Callable[[list[np.ndarray]], list[float]]
    lower_better: bool
    min_side: int = 1

    def __call__(self, tiles: list[np.ndarray]) -> list[float]:
        ok = [i for i, t in enumerate(tiles) if min(t.shape[:2]) >= self.min_side]
        out = [math.nan] * len(tiles)
        if ok:
            for i, v in zip(ok, self.fn([tiles[i] for i in ok])):
                out[i] = float(v)
        return out


def _per_tile(fn: Callable[[np.ndarray], float]) -> Callable[[list[np.ndarray]], list[float]]:
    return lambda tiles: [fn(t) for t in tiles]


BATCH_BYTES = 256 << 20  # one batch's float input at most: a big tile gets fewer companions


def _torch_metric(metric, batch: int, device) -> Callable[[list[np.ndarray]], list[float]]:
    """A pyiqa-style ``(B,3,H,W) -> (B,)`` metric over tiles, batched by equal size, at most ``batch``
    tiles and :data:`BATCH_BYTES` of input at once."""
    import torch

    def fn(tiles):
        out = [math.nan] * len(tiles)
        by_size: dict[tuple, list[int]] = {}
        for i, t in enumerate(tiles):
            by_size.setdefault(t.shape[:2], []).append(i)
        with torch.no_grad():
            for (h, w), idx in by_size.items():
                step = max(1, min(batch, BATCH_BYTES // (h * w * 3 * 4)))
                for a in range(0, len(idx), step):
                    part = idx[a:a + step]
                    x = torch.from_numpy(np.stack([tiles[i] for i in part])).permute(0, 3, 1, 2).to(device)
                    for i, v in zip(part, metric(x).reshape(-1).double().cpu().tolist()):
                        out[i] = v
        return out
    return fn


def build_scorer(score: str, device='cpu', batch: int = 16) -> Scorer:
    """The scorer named ``score``; one line when it is unknown, or its weights are missing."""
    if score in noref.SCORES:
        s = noref.SCORES[score]
        return Scorer(score, _per_tile(s.fn), s.lower_better, s.min_side)
    if score in ('niqe', 'piqe'):
        from ..metrics import iqa
        m = iqa.load(score, device=device)
        side = iqa.NIQE_MIN_SIDE if score == 'niqe' else iqa.PIQE_MIN_SIDE
        # hand-made features: a batch only adds memory (on the CPU, 16 tiles at once ran 25% slower)
        return Scorer(score, _torch_metric(m.fn, 1, device), True, side)
    if score == 'ic9600':
        from ..metrics import ic9600
        return Scorer(score, _torch_metric(ic9600.score_fn(ic9600.load(device)), batch, device), False)
    from ..metrics import iqa
    if score in iqa.pyiqa_no_reference():
        m = iqa.load_no_reference(score, device=device)
        return Scorer(score, _torch_metric(m.fn, batch, device), m.lower_better, m.min_side)
    raise UserError(f'{name("score")} {score}: unknown (weights-free: {", ".join(WEIGHTS_FREE)}; with weights: '
                    'ic9600, or a pyiqa no-reference metric by its pyiqa name, e.g. hyperiqa, topiq_nr, musiq, '
                    'clipiqa)')


def check_scores(scores: list[str]) -> None:
    """Refuse an unknown or repeated name before any work (weights are checked when built)."""
    seen = set()
    for s in scores:
        if s in seen:
            raise UserError(f'{name("score")} {s}: named twice')
        seen.add(s)
        if s in WEIGHTS_FREE or s == 'ic9600':
            continue
        from ..metrics import iqa
        if s not in iqa.pyiqa_no_reference():
            build_scorer(s)  # the one-line refusal


def lower_better(scores: list[str]) -> dict[str, bool]:
    """``{score: lower is better}`` of the named scores (without building the learned ones)."""
    out = {}
    for s in scores:
        if s in noref.SCORES:
            out[s] = noref.SCORES[s].lower_better
        elif s in ('niqe', 'piqe'):
            out[s] = True
        elif s == 'ic9600':
            out[s] = False
        else:
            from ..metrics import iqa
            out[s] = iqa.pyiqa_lower_better(s)
    return out
