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

from ..errors import cli_entry

PARTIAL = 3  # exit status: the report lacks a metric whose weights are missing


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-eval', description=__doc__.split('\n')[0])
    ap.add_argument('--sr', action='append', default=[], metavar='[LABEL=]DIR',
                    help='a folder of super-resolved images (repeatable)')
    ap.add_argument('--model', action='append', default=[], metavar='[LABEL=]G.pth',
                    help="a generator checkpoint, or an .onnx file of srkit-export (onnxruntime), run on the LQ first "
                         "(repeatable)")
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
    return ap


def lines(res) -> list[str]:
    """What srkit-eval prints for a :class:`srkit.evaluation.EvalResult`."""
    from .. import report
    out = report.degrade_lines(res.degraded) if res.degraded is not None else []
    out += [f'{path}: {description}' for path, description in res.generators]
    out += report.means_table(res.scores)
    return out + ([f'report: {res.report}'] if res.report else [])


@cli_entry('srkit-eval')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..utils.hostmem import keep_freed_memory
    keep_freed_memory()  # large tensors reuse freed memory, not fresh pages (docs/benchmarks.md)
    from ..evaluation import EvalRequest, evaluate
    from ..utils.naming import field_names
    from .common import Bars, flags
    with field_names(flags(ap)), Bars() as bars:  # messages name the flags
        res = evaluate(EvalRequest(**vars(a)), bars)
    print('\n'.join(lines(res)))
    return PARTIAL if res.partial else 0


if __name__ == '__main__':
    main()
