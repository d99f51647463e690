"""``report.html`` (one self-contained file) and ``report.md`` (pictures in ``report_files/``)
of a curation: counts kept and dropped per reason, each score's histogram with its
thresholds, tiles at score percentiles, and duplicate groups side by side."""
from __future__ import annotations

import base64
import html
import math
import os
from typing import Optional

import numpy as np

from ..report import _png_bytes, histogram_svg
from ..utils.fileio import atomic_write_bytes, atomic_write_text

PERCENTILES = (0, 10, 25, 50, 75, 90, 100)
THUMB = 96
MAX_GROUPS = 12
MAX_IN_GROUP = 6


def _thumb(dirs: list[str], tile: str) -> Optional[np.ndarray]:
    """A ``THUMB`` px RGB uint8 picture of a tile, from the first of ``dirs`` holding it
    (``None`` when none can read it)."""
    import cv2
    from ..utils.imgio import read_image
    from ..errors import DataError
    path = next((os.path.join(d, tile) for d in dirs if os.path.isfile(os.path.join(d, tile))), None)
    if path is None:
        return None
    try:
        img = read_image(path)
    except DataError:
        return None
    h, w = img.shape[:2]
    s = THUMB / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    pad = np.full((THUMB, THUMB, 3), 1.0, np.float32)
    pad[:small.shape[0], :small.shape[1]] = small
    return np.clip(np.rint(pad * 255), 0, 255).astype(np.uint8)


def _strip(thumbs: list[np.ndarray]) -> np.ndarray:
    gap = np.full((THUMB, 4, 3), 255, np.uint8)
    parts = []
    for t in thumbs:
        parts += [t, gap]
    return np.concatenate(parts[:-1], axis=1)


def _category(line: dict) -> str:
    if line['kept']:
        return 'kept'
    return 'duplicate' if 'duplicate_of' in line else line['reason'].split(' ', 1)[0]


def write_report(out: str, lines: list[dict], tile_dirs: list[str], req, thresholds: dict[str, float],
                 ends: dict[str, dict]) -> str:
    """Write both reports into ``out`` (pictures from the tiles in ``tile_dirs``); returns
    the HTML's path."""
    files = os.path.join(out, 'report_files')
    os.makedirs(files, exist_ok=True)
    e = html.escape
    pictures: list[tuple[str, bytes]] = []  # (file name, png)

    def picture(fname: str, thumbs: list[np.ndarray]) -> Optional[str]:
        if not thumbs:
            return None
        png = _png_bytes(_strip(thumbs))
        atomic_write_bytes(os.path.join(files, fname), png)
        pictures.append((fname, png))
        return fname

    counts: dict[str, int] = {}
    for ln in lines:
        c = _category(ln)
        counts[c] = counts.get(c, 0) + 1
    failed = sorted(x['failed'] for x in ends.values() if 'failed' in x)  # not in the order shards ran
    skipped = sorted(x['skipped'] for x in ends.values() if 'skipped' in x)
    settings = [f'inputs: {", ".join(req.input)}',
                ('tiles: ' + (f'{req.tile} px every {req.step or req.tile} px (BasicSR extract_subimages grid, '
                              f'thresh_size {req.thresh_size})' if req.tile else
                              f'the most complex {req.best_tile} px tile of each image' if req.best_tile
                              else 'whole images')),
                f'scores: {", ".join(req.score) or "none"}', f'keep: {"; ".join(req.keep) or "all"}',
                f'dedup: {req.dedup or "off"}']
    md = ['# srkit-dataset report', ''] + [f'- {s}' for s in settings] + ['', '## Counts', '',
                                                                         '| | tiles |', '|---|---|']
    md += [f'| {k} | {v} |' for k, v in sorted(counts.items(), key=lambda kv: (kv[0] != 'kept', kv[0]))]
    md += [f'| total | {len(lines)} |', '']
    if failed or skipped:
        md += [f'{len(failed)} unreadable and {len(skipped)} too small images or videos, left out:', '']
        md += [f'- {x}' for x in (failed + skipped)[:50]] + ['']
    h = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>srkit-dataset report</title><style>'
         'body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}'
         'td,th{border:1px solid #ccc;padding:3px 8px}img{image-rendering:pixelated}</style></head><body>',
         '<h1>srkit-dataset report</h1><ul>'] + [f'<li>{e(s)}</li>' for s in settings] + ['</ul><h2>Counts</h2>']
    h.append('<table><tr><th></th><th>tiles</th></tr>' + ''.join(
        f'<tr><td>{e(k)}</td><td>{v}</td></tr>' for k, v in sorted(counts.items(), key=lambda kv: (kv[0] != 'kept',
                                                                                                kv[0])))
             + f'<tr><td>total</td><td>{len(lines)}</td></tr></table>')
    if failed or skipped:
        h.append('<p>Left out:</p><ul>' + ''.join(f'<li>{e(x)}</li>' for x in (failed + skipped)[:50]) + '</ul>')

    def img_html(fname):
        data = base64.b64encode(dict(pictures)[fname]).decode()
        return f'<img alt="{e(fname)}" src="data:image/png;base64,{data}">'

    for s in req.score:
        values = [ln['scores'].get(s) for ln in lines]
        defined = [(v, ln) for v, ln in zip(values, lines) if v is not None and math.isfinite(v)]
        marks = [(t, x) for t, x in thresholds.items() if _rule_score(t) == s]
        svg = histogram_svg([v for v, _ in defined], [(f'{t} ({x:.4g})', x) for t, x in marks], s)
        atomic_write_text(os.path.join(files, f'hist_{s}.svg'), svg)
        md += [f'## {s}', '', f'![{s} histogram](report_files/hist_{s}.svg)', '']
        h += [f'<h2>{e(s)}</h2>', svg]
        if defined:
            defined.sort(key=lambda p: (p[0], p[1]['name']))
            picks = [defined[min(int(round(p / 100 * (len(defined) - 1))), len(defined) - 1)] for p in PERCENTILES]
            thumbs = [t for t in (_thumb(tile_dirs, ln['name']) for _, ln in picks) if t is not None]
            fname = picture(f'percentiles_{s}.png', thumbs)
            caption = ', '.join(f'p{p}: {v:.4g}' for p, (v, _) in zip(PERCENTILES, picks))
            if fname:
                md += [f'Tiles at percentiles ({caption}):', '', f'![{s} percentiles](report_files/{fname})', '']
                h += [f'<p>Tiles at percentiles ({e(caption)}):</p>', img_html(fname)]
    groups: dict[str, list[str]] = {}
    for ln in lines:
        if 'duplicate_of' in ln:
            groups.setdefault(ln['duplicate_of'], []).append(ln['name'])
    if groups:
        md += ['## Duplicate groups', '', f'{len(groups)} groups; the first tile of each is the one kept.', '']
        h += ['<h2>Duplicate groups</h2>', f'<p>{len(groups)} groups; the first tile of each is the one kept.</p>']
        for k, (keep, dups) in enumerate(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:MAX_GROUPS]):
            names = [keep] + sorted(dups)[:MAX_IN_GROUP - 1]
            thumbs = [t for t in (_thumb(tile_dirs, nm) for nm in names) if t is not None]
            fname = picture(f'duplicates_{k}.png', thumbs)
            md += [f'{", ".join(names)}' + (f' (+{len(dups) + 1 - len(names)} more)' if len(dups) + 1 > len(names)
                                            else ''), '']
            h.append(f'<p>{e(", ".join(names))}</p>')
            if fname:
                md += [f'![duplicates {k}](report_files/{fname})', '']
                h.append(img_html(fname))
    h.append('</body></html>')
    atomic_write_text(os.path.join(out, 'report.md'), '\n'.join(md) + '\n')
    path = os.path.join(out, 'report.html')
    atomic_write_text(path, '\n'.join(h) + '\n')
    return path


def _rule_score(text: str) -> str:
    import re
    return re.split(r'[<>=]', text, 1)[0].strip()
