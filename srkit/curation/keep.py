"""The ``keep`` rules of a curation: ``name<value``, ``name>value`` (also ``<=``, ``>=``), where the value
is a number or a percentile of that score over every tile of the run (``sharpness>p10``)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
import numpy as np

from ..errors import UserError
from ..utils.naming import name

_EXPR = re.compile(r'^\s*([A-Za-z_][\w\-]*)\s*(<=|>=|<|>)\s*(p?)([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$')


@dataclass(frozen=True)
class Rule:
    """One parsed expression: ``score op value``, the value a ``percentile`` of the score when set."""

    text: str
    score: str
    op: str
    value: float
    percentile: bool

    def threshold(self, values: np.ndarray) -> float:
        """The number the rule compares with, given every tile's value of its score (NaN: undefined)."""
        if not self.percentile:
            return self.value
        defined = values[~np.isnan(values)]
        return float(np.percentile(defined, self.value)) if defined.size else math.nan

    def passes(self, v: float, threshold: float) -> bool:
        if math.isnan(v) or math.isnan(threshold):
            return False
        return {'<': v < threshold, '>': v > threshold, '<=': v <= threshold, '>=': v >= threshold}[self.op]

    def reason(self, v: float, threshold: float) -> str:
        """Why a tile failed this rule, in one phrase."""
        if math.isnan(v):
            return f'{self.score} undefined for this tile'
        bound = f'p{self.value:g} = {threshold:.4g}' if self.percentile else f'{threshold:g}'
        return f'{self.score} {v:.4g} fails {self.score}{self.op}{bound}'


def parse_rule(text: str, scores: list[str]) -> Rule:
    """One ``keep`` rule, checked against the ``scores`` the run computes."""
    m = _EXPR.match(text)
    if not m:
        raise UserError(f'{name("keep")} {text!r}: expected NAME<VALUE or NAME>VALUE (VALUE a number or a '
                        'percentile such as p10)')
    score, op, pct, value = m.group(1), m.group(2), bool(m.group(3)), float(m.group(4))
    if score not in scores:
        known = ', '.join(scores) if scores else 'none'
        raise UserError(f'{name("keep")} {text!r}: {score} is not among the scores of {name("score")} ({known})')
    if not math.isfinite(value):
        raise UserError(f'{name("keep")} {text!r}: the value must be a finite number')
    if pct and not 0 <= value <= 100:
        raise UserError(f'{name("keep")} {text!r}: a percentile is between p0 and p100')
    return Rule(text.strip(), score, op, value, pct)


def decide(rules: list[Rule], scores: list[dict]) -> tuple[list[bool], list[str], dict[str, float]]:
    """Each tile's decision and reason (``''`` when kept) under ``rules``, the first rule a tile
    fails giving the reason; percentiles are taken over every tile where the score is defined.
    Returns ``(kept, reasons, thresholds)``, each rule's resolved number by its text."""
    thresholds = {}
    for r in rules:
        thresholds[r.text] = r.threshold(np.array([s.get(r.score, math.nan) for s in scores], dtype=np.float64))
    kept, reasons = [], []
    for s in scores:
        why = ''
        for r in rules:
            v = float(s.get(r.score, math.nan))
            if not r.passes(v, thresholds[r.text]):
                why = r.reason(v, thresholds[r.text])
                break
        kept.append(not why)
        reasons.append(why)
    return kept, reasons, thresholds
