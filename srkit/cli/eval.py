"""srkit-eval: score SR outputs against ground truth, and compare methods in one report.

  srkit-eval --sr DIR --gt DIR [--scale 4] [--metrics psnr,ssim,lpips,niqe,piqe,fid]
             [--color-space y|rgb] [--crop-border N] [--out REPORT_DIR]
  srkit-eval --model A.pth [--model B.pth ...] --lq DIR --gt DIR ...
  srkit-eval --model A.pth --gt DIR --degrade bicubic|bsrgan|realesrgan|PRESET [--seed S] ...

``--sr`` and ``--model`` repeat and mix, each optionally as ``LABEL=PATH``; checkpoints
(any format srkit-infer reads) run on the LQ first.  With an LQ (``--lq``, or ``--degrade``
making it from the GT with a seed) the MATLAB-bicubic upscale is scored too, as the
baseline.  Files are matched by name (stem).

Metrics come from pyiqa.  PSNR and SSIM default to the SR papers' convention: Y of BT.601
YCbCr, crop_border = scale, MATLAB-style SSIM; ``--color-space rgb --crop-border 0`` gives
plain RGB values.  LPIPS and FID need pretrained files in the torch hub cache; when one is
missing offline, that metric is reported unavailable (naming the file and where it goes),
the others still run, and the exit status is 3 (a partial report).  NIQE works offline.

``--out REPORT_DIR`` writes metrics.json, metrics.csv, report.md, a self-contained
report.html, side-by-side crops where the methods differ most, and a perception-distortion
plot (PSNR vs LPIPS, or NIQE) for two or more methods.  Outputs of checkpoints and of
bicubic are kept in REPORT_DIR/sr/<label>/ (a temporary folder without --out).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile

from ..errors import UserError, cli_entry
from ..utils.fileio import check_apart, check_replaceable, staged_folder

PARTIAL = 3  # exit status: the report lacks a metric whose weights are missing


def _metrics(text: str) -> list[str]:
    from ..evaluation import ALL_METRICS
    names = [m.strip().lower() for m in text.split(',') if m.strip()]
    bad = [m for m in names if m not in ALL_METRICS]
    if bad or not names:
        raise UserError(f'--metrics {text}: unknown {", ".join(bad) or "(empty)"} (known: {", ".join(ALL_METRICS)})')
    return list(dict.fromkeys(names))


def print_table(res: dict) -> None:
    """Means per method, one row each; the convention last."""
    cols = []
    for m in res['models'].values():
        cols += [k for k in m['mean'] if k not in cols]
    width = max([12] + [len(k) for k in res['models']])
    print(f'{"method":<{width}} ' + ' '.join(f'{c:>10}' for c in cols))
    for label, m in res['models'].items():
        vals = [m['mean'].get(c, float('nan')) for c in cols]
        print(f'{label:<{width}} ' + ' '.join(f'{"n/a":>10}' if math.isnan(v) else f'{v:>10.4f}' for v in vals))
    for name, msg in res['unavailable'].items():
        print(f'{name}: unavailable: {msg}')
    for note in res.get('notes', []):
        print(f'note: {note}')
    print(f'convention: {res["convention"]}')


@cli_entry('srkit-eval')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-eval', description=__doc__.split('\n')[0])
    ap.add_argument('--sr', action='append', default=[], metavar='[LABEL=]DIR',
                    help='a folder of super-resolved images (repeatable)')
    ap.add_argument('--model', action='append', default=[], metavar='[LABEL=]G.pth',
                    help="a generator checkpoint, run on the LQ first (repeatable)")
    ap.add_argument('--gt', required=True, help='folder of ground-truth images (same names)')
    ap.add_argument('--lq', default=None, help='folder of LQ inputs (for --model, the bicubic baseline, crops)')
    ap.add_argument('--degrade', default=None, metavar='METHOD',
                    help='make the LQ from the GT: bicubic, bsrgan, bsrgan_plus, realesrgan or a preset')
    ap.add_argument('--seed', type=int, default=0, help='--degrade seed (per image: from the seed and the name)')
    ap.add_argument('--scale', type=int, default=None,
                    help="the SR scale, which also sets the default crop_border (default: the checkpoints', "
                         "else GT size / LQ size, else 1)")
    ap.add_argument('--metrics', default='psnr,ssim', help='comma-separated: psnr,ssim,lpips,niqe,piqe,fid')
    ap.add_argument('--color-space', choices=['y', 'rgb'], default='y')
    ap.add_argument('--crop-border', type=int, default=None, help='pixels cut from each side (default: scale)')
    ap.add_argument('--fid-mode', choices=['clean', 'legacy_pytorch', 'legacy_tensorflow'], default='clean')
    ap.add_argument('--no-bicubic', action='store_true', help='leave the bicubic baseline out')
    ap.add_argument('--out', default=None, help='report folder (metrics, report.md/html, crops, plot)')
    ap.add_argument('--crop-size', type=int, default=128, help='side of the report\'s crops, GT pixels')
    ap.add_argument('--json', default=None, help='also write metrics.json here')
    ap.add_argument('--device', default=None, help='cpu, cuda ... (default: cuda if available)')
    ap.add_argument('--tile', type=int, default=0, help='--model inference: tile step as in srkit-infer (0: whole images)')
    ap.add_argument('--tile-overlap', type=int, default=32)
    a = ap.parse_args(argv)
    if not a.sr and not a.model and not (a.lq or a.degrade):
        raise UserError('nothing to score: give --sr DIR, --model G.pth, or an LQ (--lq/--degrade) for bicubic')
    if a.lq and a.degrade:
        raise UserError('--lq and --degrade: give one (--degrade makes the LQ from the GT)')
    metrics = _metrics(a.metrics)
    if a.crop_size < 8:
        raise UserError('--crop-size: must be >= 8')
    from ..utils.device import pick_device
    from .. import evaluation as ev
    a.model_paths = [ev.split_label(m, 'model')[1] for m in a.model]
    if a.json:  # before any work: a device or an input there is refused at the start, not the end
        check_replaceable(a.json, a.model_paths, '--json')
    device = pick_device(a.device)
    gt = ev.index_images(a.gt, 'gt')
    if a.out:
        # the report folder is replaced whole: it must hold none of the inputs, nor lie in one
        inputs = [a.gt, a.lq] + [ev.split_label(s, 'sr')[1] for s in a.sr] + \
            [ev.split_label(m, 'model')[1] for m in a.model]
        check_apart(a.out, [p for p in inputs if p and os.path.isdir(p)])
        # built beside the old report and swapped in whole: a killed run loses nothing; only a
        # folder srkit-eval wrote (its marker) is ever replaced
        with staged_folder(a.out, '--out', reuse=_lq_folders(a.out), marker='.srkit-eval', inputs=inputs) as work:
            res = _run(a, ev, gt, metrics, device, work, a.out)
        print(f'report: {os.path.join(a.out, "report.html")}')
    else:
        work = tempfile.mkdtemp(prefix='srkit-eval-')
        try:
            res = _run(a, ev, gt, metrics, device, work, None)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return PARTIAL if res['unavailable'] else 0


def _lq_folders(out: str) -> tuple[str, ...]:
    """The degraded LQ sets of an earlier report (``lq_<method>_x<s>_seed<n>``), reused as they are."""
    return tuple(d for d in os.listdir(out) if d.startswith('lq_')) if os.path.isdir(out) else ()


def _relocate(obj, work: str, out: str):
    """Paths under the staging folder, as they will read once it is swapped in as ``out``."""
    if isinstance(obj, str):
        return out + obj[len(work):] if obj == work or obj.startswith(work + os.sep) else obj
    if isinstance(obj, dict):
        return {k: _relocate(v, work, out) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relocate(v, work, out) for v in obj]
    return obj


def _run(a, ev, gt: dict, metrics: list, device, work: str, out: str | None) -> dict:
    """Everything srkit-eval writes goes under ``work``; ``out``: where ``work`` ends up."""
    entries = []
    for text in a.sr:
        label, folder = ev.split_label(text, 'sr')
        imgs = ev.index_images(folder, 'sr')
        ev.check_same_names(gt, imgs, f'--sr {folder}')
        entries.append(ev.Entry(label, 'sr', folder, folder, imgs))
    models = []
    for text in a.model:
        label, path = ev.split_label(text, 'model')
        if not os.path.isfile(path):
            raise UserError(f'--model {path}: no such file')
        models.append(ev.Entry(label, 'model', path))
    # labels name the output folders: make them unique before anything is written
    ev.unique_labels(([ev.Entry('bicubic', 'bicubic', '')] if not a.no_bicubic else []) + entries + models)
    if models and not (a.lq or a.degrade):
        raise UserError('--model: needs an LQ to run on (--lq DIR or --degrade METHOD)')
    scale = a.scale
    if models:  # every checkpoint is read, and its scale checked, before any LQ or output is written
        from ..inference import image_channels, load_generator
        for e in models:
            net, _cfg, s = load_generator(e.source, None, 'cpu')
            image_channels(net, e.source)  # a network no image can feed is refused here, not at the first image
            if scale is not None and s != scale:
                raise UserError(f'--model {e.source}: a x{s} network, but '
                                f'{"--scale is" if a.scale else "the others are"} x{scale}')
            scale = s
    lq = None
    if a.degrade:
        if scale is None:
            raise UserError('--degrade: give --scale (or a --model to read it from)')
        lq_dir = ev.degrade_lq(a.gt, os.path.join(work, f'lq_{a.degrade}_x{scale}_seed{a.seed}'),
                               a.degrade, scale, a.seed)
        lq = ev.index_images(lq_dir, 'lq')
    elif a.lq:
        lq = ev.index_images(a.lq, 'lq')
        lq_dir = a.lq
    if lq is not None:
        ev.check_same_names(gt, lq, f'--lq {a.lq}' if a.lq else f'the --degrade output {lq_dir}')
        if scale is None:
            k = sorted(gt)[0]
            scale = max(1, round(ev.read_shown(gt[k]).shape[0] / ev.read_shown(lq[k]).shape[0]))
    if models and lq is None:
        raise UserError('--model: needs an LQ to run on (--lq DIR or --degrade METHOD)')
    for e in models:
        e.folder = os.path.join(work, 'sr', e.label)
        e.images, s = ev.run_model(e.source, lq, e.folder, device, a.tile, a.tile_overlap)
        if scale is not None and s != scale:
            raise UserError(f'--model {e.source}: a x{s} network, but the others are x{scale}')
        scale = s
        entries.append(e)
    scale = scale or 1
    if lq is not None and not a.no_bicubic:
        folder = os.path.join(work, 'sr', 'bicubic')
        entries.insert(0, ev.Entry('bicubic', 'bicubic', f'MATLAB bicubic x{scale} of {lq_dir}', folder,
                                   ev.run_bicubic(lq, scale, folder)))
    from .. import report
    crops = report.CropWriter(work, scale, lq, a.crop_size) if out else None
    res = ev.score(entries, gt, scale, metrics, a.color_space, a.crop_border, device, a.fid_mode, a.gt,
                   on_image=crops)
    print_table(res)
    if out:
        res = _relocate(res, os.path.abspath(work), os.path.abspath(out))
    if a.json:
        from ..utils.fileio import atomic_write_text
        atomic_write_text(a.json, report.to_json(res), a.model_paths, '--json')
    if out:
        report.write_tables(res, work)
        report.write_report(res, work, crops.finish())
    return res


if __name__ == '__main__':
    main()
