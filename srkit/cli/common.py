"""What every command shares: its flags as names for the library's request fields, and
progress bars for the library's ``progress(stage, done, total)`` callbacks."""
from __future__ import annotations

import argparse

from tqdm import tqdm

from ..errors import UserError


def comma_list(text: str, flag: str, kind: type = float) -> list:
    """``flag``'s comma-separated values, each a ``kind`` (``'0,0.5,1'`` -> ``[0.0, 0.5, 1.0]``);
    empty items are skipped."""
    try:
        return [kind(t) for t in text.split(',') if t.strip()]
    except ValueError:
        words = 'integers' if kind is int else 'numbers'
        raise UserError(f'{flag}: expected comma-separated {words}, got {text!r}') from None


def flags(parser: argparse.ArgumentParser, **extra: str) -> dict[str, str]:
    """``{field: flag}``: each option's destination (a request field of the same name) and its
    long flag (``hr_output`` -> ``--hr-output``), for :func:`srkit.utils.naming.field_names`;
    ``extra`` maps fields that are not one option (``model_and_lq='--model with --lq'``)."""
    out = {}
    for action in parser._actions:
        long = [s for s in action.option_strings if s.startswith('--')]
        if long and action.dest != 'help':
            out[action.dest] = long[0]
    return {**out, **extra}


class Bars:
    """A ``progress(stage, done, total)`` callback drawing a bar per stage (on stderr, when it is
    a terminal, as the tools always drew them).  ``options``:
    tqdm arguments per stage (``{'tiles': {'leave': False, 'position': 1}}``); use it as a
    context manager so the bars close."""

    def __init__(self, unit: str = 'img', **options: dict):
        self.unit, self.options, self.bars = unit, options, {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            opts = {'unit': self.unit, 'disable': None, **self.options.get(stage, {})}
            bar = self.bars[stage] = tqdm(total=total, desc=stage, **opts)
        bar.total, bar.n = total, done
        bar.refresh()

    def __enter__(self) -> 'Bars':
        return self

    def __exit__(self, *exc) -> None:
        for bar in self.bars.values():
            bar.close()
