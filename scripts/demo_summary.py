"""The demo's last screen: every stage's model against its baseline, on the stage's measure.

  python scripts/demo_summary.py demo_out [--seconds N] [--json demo_out/summary.json]

It reads what the stages wrote under ``demo_out`` (srkit-eval's JSON, the LR sets, the
CGAN's samples), prints one table (stage, model, measure, the model's figure, the
baseline and its figure, won or LOST) and writes the same rows as JSON.  A stage whose
files are missing or unreadable is left out (an unreadable file is named on stderr).  The
exit code is 0 even when a stage lost: the demo ran, and the table says plainly what did not
work.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'bench'))

# DSGAN's bar: its LR set must close at least this share of bicubic's noise-level gap to the
# camera (the slow test and the benchmark ask the same)
DSGAN_SHARE = 0.5


def _eval(out: str, rel: str) -> dict | None:
    p = os.path.join(out, rel)
    if not os.path.isfile(p):
        return None
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f'demo_summary: {p}: unreadable ({e}); its stage is left out', file=sys.stderr)
        return None


def _mean(res: dict, label: str, metric: str) -> float:
    return res['models'][label]['mean'][metric]


MEASURES = {  # name shown, higher is better
    'psnr_y': ('PSNR Y (dB)', True), 'ssim_y': ('SSIM Y', True), 'psnr_rgb': ('PSNR RGB (dB)', True),
    'ssim_rgb': ('SSIM RGB', True), 'niqe': ('NIQE', False), 'gap_closed': ('noise gap closed', True),
    'accuracy': ('label accuracy', True)}


def row(stage, model, measure, value, baseline, base_value):
    """One line of the table; a figure a metric could not give (None: NaN in srkit-eval's JSON)
    counts as lost."""
    name, higher = MEASURES[measure]
    if value is None or base_value is None:
        won = False
    else:
        won = value > base_value if higher else value < base_value
    return {'stage': stage, 'model': model, 'measure': name, 'higher_is_better': higher, 'value': value,
            'baseline': baseline, 'baseline_value': base_value, 'won': bool(won)}


def sr_rows(out: str) -> list:
    rows = []
    r = _eval(out, 'eval_srresnet_x2.json')
    if r:
        rows.append(row('3 SR x2', 'SRResNet', 'psnr_y', _mean(r, 'SRResNet', 'psnr'), 'bicubic',
                        _mean(r, 'bicubic', 'psnr')))
    r = _eval(out, 'eval_archs_x2.json')
    for m in ('SPAN', 'RealPLKSR', 'SwinIR') if r else ():
        rows.append(row('3 SR x2', m, 'psnr_y', _mean(r, m, 'psnr'), 'bicubic', _mean(r, 'bicubic', 'psnr')))
    r = _eval(out, 'report/metrics.json')
    if r:
        rows.append(row('4 ESRGAN x4', 'RRDB-PSNR', 'psnr_y', _mean(r, 'RRDB-PSNR', 'psnr'), 'bicubic',
                        _mean(r, 'bicubic', 'psnr')))
        rows.append(row('4 ESRGAN x4', 'ESRGAN', 'niqe', _mean(r, 'ESRGAN', 'niqe'), 'bicubic',
                        _mean(r, 'bicubic', 'niqe')))
    for rel, models in (('eval_realesrgan_lr/metrics.json', ('Real-ESRNet', 'Real-ESRGAN')),
                        ('eval_bsrgan_lr/metrics.json', ('BSRNet',))):
        r = _eval(out, rel)
        for m in models if r else ():
            rows.append(row('5 realistic LR', m, 'ssim_y', _mean(r, m, 'ssim'), 'bicubic-trained',
                            _mean(r, 'bicubic-trained', 'ssim')))
    return rows


def curation_rows(out: str) -> list:
    r = _eval(out, 'eval_curation_x2.json')
    if not r:
        return []
    return [row('9 curation', 'SRResNet, curated set', 'psnr_y', _mean(r, 'curated', 'psnr'), 'SRResNet, raw set',
                _mean(r, 'raw', 'psnr'))]


def dsgan_rows(out: str) -> list:
    from dsgan import folder_level, gap_closed
    from srkit.utils.imgio import list_images
    d = os.path.join(out, 'data')
    sets = {k: os.path.join(d, f'lr_val_{k}_x4') for k in ('camera', 'dsgan')}
    sets['bicubic'] = os.path.join(d, 'lr_val_x4')
    if not all(os.path.isdir(p) and list_images(p) for p in sets.values()):
        return []
    lvl = {k: folder_level(p) for k, p in sets.items()}
    gap_bic, gap_ds = abs(lvl['bicubic'] - lvl['camera']), abs(lvl['dsgan'] - lvl['camera'])
    r = row('6 DSGAN camera', 'DSGAN', 'gap_closed', gap_closed(lvl), 'required', DSGAN_SHARE)
    r['detail'] = {'noise_sigma': lvl, 'gap_bicubic': gap_bic, 'gap_dsgan': gap_ds}
    return [r]


def translation_rows(out: str) -> list:
    from srkit.utils.imgio import list_images, read_image
    rows = []
    r = _eval(out, 'eval_pix2pix.json')
    t = os.path.join(out, 'translation', 'edges2photo')
    if r:
        from translation import mean_colour_psnr
        photos = os.path.join(t, 'val_photos')
        base = mean_colour_psnr(np.stack([read_image(os.path.join(photos, f)) for f in list_images(photos)]))
        rows.append(row('7 pix2pix edges', 'pix2pix', 'psnr_rgb', _mean(r, 'pix2pix', 'psnr'),
                        'held-out mean colour', base))
    r = _eval(out, 'eval_cyclegan.json')
    if r:
        for m, key in (('psnr', 'psnr_rgb'), ('ssim', 'ssim_rgb')):
            rows.append(row('7 CycleGAN cast', 'CycleGAN', key, _mean(r, 'CycleGAN', m), 'A unchanged',
                            _mean(r, 'bicubic', m)))
    samples = os.path.join(out, 'cgan_samples')
    files = [f for f in list_images(samples) if re.fullmatch(r'\d+_\d+\.png', f)] if os.path.isdir(samples) else []
    if files:
        from translation import digit_classifier
        clf, _ = digit_classifier()
        x = np.stack([read_image(os.path.join(samples, f))[..., 0].reshape(-1) for f in files])
        labels = np.array([int(f.split('_')[0]) for f in files])
        acc = float((clf.predict(x) == labels).mean())
        rows.append(row('7 CGAN digits', 'CGAN', 'accuracy', acc, 'chance', 0.1))
    return rows


def _fmt(v: float | None, measure: str) -> str:
    if v is None:
        return 'n/a'
    if measure in ('noise gap closed', 'label accuracy'):
        return f'{100 * v:.0f}%'
    return f'{v:.4f}' if measure.startswith('SSIM') else f'{v:.2f}'


def table(rows: list) -> str:
    head = ('stage', 'model', 'measure', 'model', 'baseline', 'baseline', 'result')
    lines = [(r['stage'], r['model'], r['measure'] + (' ↑' if r['higher_is_better'] else ' ↓'),
              _fmt(r['value'], r['measure']), r['baseline'], _fmt(r['baseline_value'], r['measure']),
              'won' if r['won'] else 'LOST') for r in rows]
    w = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    fmt = lambda cells: '  '.join(c.ljust(w[i]) if i in (0, 1, 2, 4) else c.rjust(w[i])  # noqa: E731
                                  for i, c in enumerate(cells)).rstrip()
    return '\n'.join([fmt(head), fmt(['-' * n for n in w]), *map(fmt, lines)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out', nargs='?', default='demo_out')
    ap.add_argument('--seconds', type=float, default=None, help='this run of the demo took so long')
    ap.add_argument('--json', default=None, help='also write the rows here (default: OUT/summary.json)')
    a = ap.parse_args(argv)
    rows = sr_rows(a.out) + dsgan_rows(a.out) + translation_rows(a.out) + curation_rows(a.out)
    print(table(rows))
    lost = [f'{r["model"]} ({r["measure"]})' for r in rows if not r['won']]
    won = len(rows) - len(lost)
    print(f'{won} of {len(rows)} beat their baseline' + (f'; LOST: {", ".join(lost)}' if lost else ''))
    if a.seconds is not None:
        print(f'this run of the demo: {a.seconds / 60:.1f} min')
    path = a.json or os.path.join(a.out, 'summary.json')
    from srkit.utils.fileio import atomic_path
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            json.dump({'rows': rows, 'seconds': a.seconds}, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
