"""How far each figure of ``make demo``'s summary moves between runs: seeds, threads, machines.

  python scripts/bench/demo_spread.py LABEL=DEMO_OUT [LABEL=DEMO_OUT ...] [--markdown]

Each ``DEMO_OUT`` is the output folder of one ``make demo`` (its ``summary.json``, which
``scripts/demo_summary.py`` writes).  Runs with other seeds come from ``DEMO_SEED``, which
trains every stage with that ``manual_seed``; the recipes write to ``demo_out`` in the working
tree, so each seed runs in a clone of its own::

  git clone . /tmp/spread/s1 && (cd /tmp/spread/s1 && PATH=$PWD/.venv/bin:$PATH DEMO_SEED=1 bash scripts/demo.sh)
  python scripts/bench/demo_spread.py seed0=demo_out seed1=/tmp/spread/s1/demo_out ...

For every row of the summary (stage, model, measure) it prints each run's value, the spread
(largest minus smallest), the worst run's margin over the baseline, and how many runs beat the
baseline.  It exits 1 when a row lost in any run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
from demo_summary import _fmt  # noqa: E402


def load(runs: list[tuple[str, str]]) -> tuple[list[tuple], dict]:
    """``(keys in the first run's order, {key: {label: row}})``; key = (stage, model, measure)."""
    keys, table = [], {}
    for label, folder in runs:
        with open(os.path.join(folder, 'summary.json')) as f:
            for row in json.load(f)['rows']:
                key = (row['stage'], row['model'], row['measure'])
                if key not in table:
                    keys.append(key)
                    table[key] = {}
                table[key][label] = row
    return keys, table


def spread_rows(runs: list[tuple[str, str]]) -> list[dict]:
    """One dict per summary row: ``values`` by run label, ``spread``, ``worst_margin`` (the worst
    run's distance past its baseline, positive when it won) and ``won`` (runs that won)."""
    keys, table = load(runs)
    out = []
    for key in keys:
        rows = table[key]
        vals = {k: r['value'] for k, r in rows.items() if r['value'] is not None}
        margins = [(r['value'] - r['baseline_value']) * (1 if r['higher_is_better'] else -1)
                   for r in rows.values() if r['value'] is not None and r['baseline_value'] is not None]
        out.append({'stage': key[0], 'model': key[1], 'measure': key[2], 'values': vals,
                    'spread': max(vals.values()) - min(vals.values()) if vals else None,
                    'worst_margin': min(margins) if margins else None,
                    'won': sum(bool(r['won']) for r in rows.values()), 'runs': len(rows)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('runs', nargs='+', metavar='LABEL=DEMO_OUT')
    ap.add_argument('--markdown', action='store_true', help='print a Markdown table')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    runs = []
    for spec in a.runs:
        label, sep, folder = spec.partition('=')
        runs.append((label, folder) if sep else (os.path.basename(os.path.dirname(os.path.abspath(spec))), spec))
    rows = spread_rows(runs)
    labels = [lab for lab, _ in runs]
    head = ['stage', 'model', 'measure', *labels, 'spread', 'worst margin', 'won']
    lines = []
    for r in rows:
        m = r['measure']
        lines.append([r['stage'], r['model'], m, *(_fmt(r['values'].get(lab), m) for lab in labels),
                      _fmt(r['spread'], m), _fmt(r['worst_margin'], m), f'{r["won"]}/{r["runs"]}'])
    if a.markdown:
        print('| ' + ' | '.join(head) + ' |\n|' + '---|' * len(head))
        for ln in lines:
            print('| ' + ' | '.join(ln) + ' |')
    else:
        w = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
        for ln in [head, *lines]:
            print('  '.join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(ln)).rstrip())
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r['won'] == r['runs'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
