"""srkit-eval's report folder: ``metrics.json``, ``metrics.csv``, ``report.md``, a
self-contained ``report.html`` (pictures inlined), ``crops/<image>.png`` side-by-side crops
and, when several methods are compared, ``pd_plot.svg`` (the perception-distortion plane).

``results`` is :func:`srkit.evaluation.score`'s dictionary.  Every file is written
atomically, so a report folder never holds half a file.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
import shutil

import numpy as np

from .utils.fileio import atomic_write_bytes, atomic_write_text

LABEL_H = 18  # pixels of caption strip above each crop panel


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 'n/a'
    return f'{v:.4f}'


def _columns(results: dict) -> list[str]:
    seen = []
    for m in results['models'].values():
        for k in m['mean']:
            if k not in seen:
                seen.append(k)
    return seen


# ---------------------------------------------------------------------------- crops
def pick_crop(outputs: list[np.ndarray], gt: np.ndarray, size: int) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square where the outputs disagree most: the largest
    windowed per-pixel standard deviation of their gray levels (with one output: its
    absolute difference from the GT).  Arrays are ``(H,W,3)`` RGB float in [0,1], same size."""
    import cv2
    h, w = gt.shape[:2]
    size = max(1, min(size, h, w))
    gray = [o.mean(axis=2) for o in outputs]
    if len(gray) > 1:
        diff = np.std(np.stack(gray), axis=0)
    else:
        diff = np.abs(gray[0] - gt.mean(axis=2))
    win = cv2.boxFilter(diff.astype(np.float32), -1, (size, size), normalize=True,
                        anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    win = win[: h - size + 1, : w - size + 1]
    top, left = np.unravel_index(int(np.argmax(win)), win.shape)
    return int(top), int(left), size


def _caption(panel: np.ndarray, text: str) -> np.ndarray:
    import cv2
    strip = np.full((LABEL_H, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text[: max(1, panel.shape[1] // 7)], (2, LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX,
                0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def crop_panel(panels: list[tuple[str, np.ndarray]], top: int, left: int, size: int, zoom: int = 1) -> np.ndarray:
    """``(H,W,3) uint8 RGB``: each ``(caption, (H,W,3) RGB [0,1] image)`` cropped at
    ``(top, left, size)``, enlarged ``zoom`` times (nearest), captioned, side by side."""
    gap = np.full((size * zoom + LABEL_H, 4, 3), 255, np.uint8)
    cols = []
    for name, img in panels:
        c = np.clip(img[top: top + size, left: left + size] * 255 + 0.5, 0, 255).astype(np.uint8)
        if zoom > 1:
            c = np.repeat(np.repeat(c, zoom, axis=0), zoom, axis=1)
        cols += [_caption(c, name), gap]
    return np.concatenate(cols[:-1], axis=1)


def _png_bytes(rgb_u8: np.ndarray) -> bytes:
    import cv2
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb_u8[:, :, ::-1]))
    assert ok
    return buf.tobytes()


class CropWriter:
    """``crops/<image>.png`` for every image: LQ (nearest-upscaled) | each method | GT,
    cropped where the methods differ most.  Called as ``score``'s ``on_image`` with the
    decoded images; ``paths`` maps each image to its file, relative to ``out_dir``.  The
    crops gather in a staging folder that :meth:`finish` moves to ``crops/``, so a run that
    fails half-way leaves an earlier report's crops as they were."""

    def __init__(self, out_dir: str, scale: int, lq: dict | None = None, size: int = 128):
        self.out_dir, self.scale, self.lq, self.size = out_dir, scale, lq, size
        self.paths: dict[str, str] = {}
        self.staging = os.path.join(out_dir, '.crops-incomplete')
        shutil.rmtree(self.staging, ignore_errors=True)
        os.makedirs(self.staging)

    def finish(self) -> dict[str, str]:
        final = os.path.join(self.out_dir, 'crops')
        shutil.rmtree(final, ignore_errors=True)
        os.rename(self.staging, final)
        return self.paths

    def __call__(self, key: str, gt: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        from .inference import read_input  # as srkit-eval reads it: EXIF orientation applied
        # outputs may differ by a pixel or two (a GT that was not mod-cropped): the common part
        h = min(o.shape[0] for o in outputs.values())
        w = min(o.shape[1] for o in outputs.values())
        outs = [(label, o[:h, :w]) for label, o in outputs.items()]
        g = gt[:h, :w]
        top, left, s = pick_crop([o for _, o in outs], g, self.size)
        panels = []
        if self.lq is not None:
            lo = read_input(self.lq[key]).rgb
            up = np.repeat(np.repeat(lo, self.scale, axis=0), self.scale, axis=1)[:h, :w]
            panels.append(('LQ (nearest)', up))
        panels += outs + [('GT', g)]
        zoom = 2 if s <= 96 else 1
        atomic_write_bytes(os.path.join(self.staging, f'{key}.png'), _png_bytes(crop_panel(panels, top, left, s, zoom)))
        self.paths[key] = os.path.join('crops', f'{key}.png')


# ------------------------------------------------------------------------- PD plot
def pd_plot_svg(points: list[tuple[str, float, float]], x_name: str, y_name: str = 'PSNR (dB)') -> str:
    """An SVG scatter of ``(label, x, y)`` points: the perception-distortion plane, with the
    perceptual metric (lower is better) across and PSNR (higher is better) up."""
    pts = [(lab, x, y) for lab, x, y in points if math.isfinite(x) and math.isfinite(y)]
    W, H, L, R, T, B = 560, 380, 70, 150, 20, 50
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}"></svg>'
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]

    def span(vals):
        lo, hi = min(vals), max(vals)
        pad = (hi - lo) * 0.1 or max(abs(hi) * 0.05, 1e-3)
        return lo - pad, hi + pad
    (x0, x1), (y0, y1) = span(xs), span(ys)

    def px(x):
        return L + (x - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return H - B - (y - y0) / (y1 - y0) * (H - T - B)
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             f'font-size="11">', f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
             f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for i in range(5):
        xv, yv = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        parts.append(f'<text x="{px(xv):.1f}" y="{H - B + 15}" text-anchor="middle">{xv:.3g}</text>')
        parts.append(f'<text x="{L - 5}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.2f}</text>')
    parts.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">{e(x_name)} '
                 f'(lower is better) &#8594;</text>')
    parts.append(f'<text x="15" y="{(T + H - B) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 15 {(T + H - B) / 2})">{e(y_name)} (higher is better)</text>')
    if len(pts) > 1:  # the methods in the order given (an interpolation sweep reads as a curve)
        path = ' '.join(f'{px(x):.1f},{py(y):.1f}' for _, x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#bbb" stroke-dasharray="3,3"/>')
    for lab, x, y in pts:
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="#1f77b4"/>')
        parts.append(f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}">{e(lab)}</text>')
    parts.append('</svg>')
    return '\n'.join(parts)


def histogram_svg(values: list[float], marks: list[tuple[str, float]], x_name: str, bins: int = 40) -> str:
    """An SVG histogram of ``values`` (NaN left out) with a vertical line and label per ``(label, x)``
    of ``marks`` (the thresholds a curation cut at)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    W, H, L, R, T, B = 560, 220, 60, 20, 20, 45
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             'font-size="11">', f'<rect width="{W}" height="{H}" fill="white"/>']
    if not v.size:
        return '\n'.join(parts + [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no values</text></svg>'])
    xs = [x for _, x in marks if math.isfinite(x)]
    # the 0.5th to 99.5th percentile (and every mark): one wild value would squeeze the rest into a bar
    lo, hi = min([float(np.percentile(v, 0.5)), *xs]), max([float(np.percentile(v, 99.5)), *xs])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    outside = int(((v < lo) | (v > hi)).sum())
    counts, edges = np.histogram(v[(v >= lo) & (v <= hi)], bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)

    def px(x):
        return L + (x - lo) / (hi - lo) * (W - L - R)
    bw = (W - L - R) / bins
    for c, e0 in zip(counts, edges[:-1]):
        h = c / top * (H - T - B)
        parts.append(f'<rect x="{px(e0):.1f}" y="{H - B - h:.1f}" width="{max(bw - 1, 1):.1f}" height="{h:.1f}" '
                     'fill="#1f77b4"/>')
    parts += [f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
              f'<text x="{L - 5}" y="{T + 4}" text-anchor="end">{top}</text>',
              f'<text x="{L - 5}" y="{H - B}" text-anchor="end">0</text>']
    for i in range(5):
        x = lo + (hi - lo) * i / 4
        parts.append(f'<text x="{px(x):.1f}" y="{H - B + 15}" text-anchor="middle">{x:.3g}</text>')
    beyond = f', {outside} beyond the axis' if outside else ''
    parts.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">{html.escape(x_name)} '
                 f'({v.size} tiles{beyond})</text>')
    for k, (label, x) in enumerate(marks):
        if math.isfinite(x):
            parts.append(f'<line x1="{px(x):.1f}" y1="{T}" x2="{px(x):.1f}" y2="{H - B}" stroke="#d62728" '
                         'stroke-width="2"/>')
            parts.append(f'<text x="{px(x) + 4:.1f}" y="{T + 12 + 12 * k}" fill="#d62728">{html.escape(label)}</text>')
    parts.append('</svg>')
    return '\n'.join(parts)


def perception_metric(results: dict) -> str | None:
    """The plot's across axis: LPIPS when it was computed, else NIQE, else PIQE, else none."""
    cols = _columns(results)
    return next((m for m in ('lpips', 'niqe', 'piqe') if m in cols), None)


# --------------------------------------------------------------------------- files
def to_json(results: dict) -> str:
    """``results`` as strict JSON: a value a metric could not give (NaN) is ``null``."""
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(results), indent=2, allow_nan=False)


def write_tables(results: dict, out_dir: str) -> None:
    """``metrics.json`` (everything) and ``metrics.csv`` (model, image, metrics; ``MEAN`` rows)."""
    atomic_write_text(os.path.join(out_dir, 'metrics.json'), to_json(results))
    cols = _columns(results)
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(['model', 'image'] + cols)
    for label, m in results['models'].items():
        for r in m['images']:
            wr.writerow([label, r['name']] + ['' if c not in r else f'{r[c]:.6f}' for c in cols])
        wr.writerow([label, 'MEAN'] + [f'{m["mean"][c]:.6f}' if c in m['mean'] else '' for c in cols])
    atomic_write_text(os.path.join(out_dir, 'metrics.csv'), buf.getvalue())


def _means_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    cols = _columns(results)
    from .metrics.iqa import LOWER_IS_BETTER
    head = ['method'] + [f'{c.upper()} {"↓" if LOWER_IS_BETTER.get(c) else "↑"}' for c in cols]
    rows = [[label] + [_fmt(m['mean'].get(c)) for c in cols] for label, m in results['models'].items()]
    return head, rows


def write_report(results: dict, out_dir: str, crops: dict[str, str], title: str = 'srkit-eval report') -> None:
    """``report.md`` and ``report.html`` (and ``pd_plot.svg`` for two or more methods)."""
    head, rows = _means_rows(results)
    pm = perception_metric(results)
    svg = None
    if pm and 'psnr' in _columns(results) and len(results['models']) > 1:
        svg = pd_plot_svg([(lab, m['mean'].get(pm, float('nan')), m['mean'].get('psnr', float('nan')))
                           for lab, m in results['models'].items()], pm.upper())
        atomic_write_text(os.path.join(out_dir, 'pd_plot.svg'), svg)
    n = len(next(iter(results['models'].values()))['images']) if results['models'] else 0
    notes = [f'{n} images, scale {results["scale"]}. Convention: {results["convention"]}.']
    if results.get('orientation'):
        notes.append(f'{results["orientation"]}.')
    notes += [f'{m.upper()}: {s}' for m, s in results['sources'].items() if m not in ('psnr', 'ssim')]
    notes += [f'**{m.upper()} unavailable**: {msg}' for m, msg in results['unavailable'].items()]
    notes += results.get('notes', [])
    if 'fid' in _columns(results) and n < 50:
        notes.append(f'FID from {n} images per set is a rough figure; it needs thousands to be stable.')

    md = [f'# {title}', ''] + [f'- {t}' for t in notes] + ['', '## Means', '']
    md += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    md += ['| ' + ' | '.join(r) + ' |' for r in rows]
    if svg:
        md += ['', f'## Perception-distortion ({pm.upper()} vs PSNR)', '', '![perception-distortion](pd_plot.svg)']
    md += ['', '## Per image', '']
    cols = [c for c in _columns(results) if c != 'fid']
    for label, m in results['models'].items():
        md += [f'### {label}', '', f'{m["kind"]}: `{m["source"]}`', '',
               '| image | ' + ' | '.join(cols) + ' |', '|---|' + '---|' * len(cols)]
        md += ['| ' + r['name'] + ' | ' + ' | '.join(_fmt(r.get(c)) for c in cols) + ' |' for r in m['images']]
        md.append('')
    if crops:
        md += ['## Crops (where the methods differ most)', '']
        md += [f'**{k}**\n\n![{k}]({p})\n' for k, p in crops.items()]
    atomic_write_text(os.path.join(out_dir, 'report.md'), '\n'.join(md) + '\n')

    e = html.escape

    def table(hd, body):
        return ('<table><tr>' + ''.join(f'<th>{e(h)}</th>' for h in hd) + '</tr>' +
                ''.join('<tr>' + ''.join(f'<td>{e(c)}</td>' for c in r) + '</tr>' for r in body) + '</table>')

    def md_inline(t):  # the notes' **bold** and `code`, escaped
        t = e(t)
        while t.count('**') >= 2:
            t = t.replace('**', '<b>', 1).replace('**', '</b>', 1)
        return t
    h = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>' + e(title) + '</title><style>'
         'body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}'
         'td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}'
         'img.crop{image-rendering:pixelated;max-width:100%}</style></head><body>', f'<h1>{e(title)}</h1><ul>']
    h += [f'<li>{md_inline(t)}</li>' for t in notes] + ['</ul><h2>Means</h2>', table(head, rows)]
    if svg:
        h += [f'<h2>Perception-distortion ({e(pm.upper())} vs PSNR)</h2>', svg]
    if crops:
        h.append('<h2>Crops (where the methods differ most)</h2>')
        for k, p in crops.items():
            with open(os.path.join(out_dir, p), 'rb') as f:
                data = base64.b64encode(f.read()).decode()
            h.append(f'<h3>{e(k)}</h3><img class="crop" alt="{e(k)}" src="data:image/png;base64,{data}">')
    h.append('<h2>Per image</h2>')
    for label, m in results['models'].items():
        h.append(f'<details><summary>{e(label)} ({e(m["kind"])}: {e(m["source"])})</summary>')
        h.append(table(['image'] + cols, [[r['name']] + [_fmt(r.get(c)) for c in cols] for r in m['images']]))
        h.append('</details>')
    h.append('</body></html>')
    atomic_write_text(os.path.join(out_dir, 'report.html'), '\n'.join(h))


# ----------------------------------------------------------------- printed lines
def means_table(results: dict) -> list[str]:
    """The lines ``srkit-eval`` prints: means per method, one row each; unavailable metrics,
    notes, and the convention last."""
    cols = _columns(results)
    width = max([12] + [len(k) for k in results['models']])
    lines = [f'{"method":<{width}} ' + ' '.join(f'{c:>10}' for c in cols)]
    for label, m in results['models'].items():
        vals = [m['mean'].get(c, float('nan')) for c in cols]
        lines.append(f'{label:<{width}} ' + ' '.join(f'{"n/a":>10}' if math.isnan(v) else f'{v:>10.4f}'
                                                     for v in vals))
    lines += [f'{m}: unavailable: {msg}' for m, msg in results['unavailable'].items()]
    lines += [f'note: {note}' for note in results.get('notes', [])]
    return lines + [f'convention: {results["convention"]}']


def degrade_lines(result) -> list[str]:
    """What a :class:`srkit.degrading.DegradeResult` says: the count written (or that its LMDB
    was complete already), and the LMDB packed."""
    r = result
    if r.already_complete is not None:
        return [f'{r.lmdb}: already complete ({r.already_complete} LR images)']
    i, n = r.shard
    which = f' (shard {i}/{n})' if n > 1 else ''
    lines = [f'{len(r.written)} LR image(s) written to {r.out_dir}{which}, '
             f'{r.already_done} already done' + (f', {len(r.failed)} failed:' if r.failed else '')]
    if r.packed is not None:
        lines.append(f'{r.lmdb}: {r.packed} LR images packed (BasicSR LMDB layout, manifest.jsonl inside)')
    return lines
