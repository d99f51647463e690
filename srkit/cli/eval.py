"""srkit-eval: PSNR/SSIM of SR images against ground truth, via pyiqa.

  srkit-eval --sr DIR --gt DIR --scale N [--lq DIR] [--json out.json]
             [--color-space y|rgb] [--crop-border N]

Default convention (the SR papers'): Y channel of BT.601 YCbCr, crop_border =
scale, MATLAB-style SSIM.  With ``--lq`` the MATLAB-bicubic upscale of the LQ
images is scored too, as the baseline.  Files are matched by name (stem).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from tqdm import tqdm

from ..errors import DataError, UserError, cli_entry


def _index(folder: str, what: str) -> dict[str, str]:
    from ..utils.imgio import list_images
    if not os.path.isdir(folder):
        raise UserError(f'--{what} {folder}: not a directory')
    out = {os.path.splitext(f)[0]: os.path.join(folder, f) for f in list_images(folder)}
    if not out:
        raise UserError(f'--{what} {folder}: no images found')
    return out


def _fit(img: np.ndarray, ref_hw: tuple, scale: int, name: str, ref_name: str) -> np.ndarray:
    h, w = ref_hw
    ih, iw = img.shape[:2]
    # a GT that was not mod-cropped is up to scale-1 pixels larger: crop it
    if h <= ih < h + scale and w <= iw < w + scale:
        return img[:h, :w]
    raise DataError(f'{name}: size {ih}x{iw} does not match {ref_name} ({h}x{w}) at scale {scale}')


def evaluate(sr_dir: str, gt_dir: str, scale: int, lq_dir: str | None = None, color_space: str = 'y',
             crop_border: int | None = None, device: str = 'cpu') -> dict:
    from degradations import imresize
    from .. import metrics
    from ..utils.imgio import img2tensor, read_image
    sr, gt = _index(sr_dir, 'sr'), _index(gt_dir, 'gt')
    missing = sorted(set(gt) - set(sr))
    extra = sorted(set(sr) - set(gt))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f'no SR image for {len(missing)} GT image(s): {", ".join(missing[:10])}')
        if extra:
            parts.append(f'no GT image for {len(extra)} SR image(s): {", ".join(extra[:10])}')
        raise DataError('mismatched file sets: ' + '; '.join(parts))
    lq = _index(lq_dir, 'lq') if lq_dir else None
    if lq is not None and set(lq) != set(gt):
        diff = sorted(set(gt) ^ set(lq))
        raise DataError(f'mismatched file sets: --lq and --gt differ in {len(diff)} name(s): {", ".join(diff[:10])}')
    crop = scale if crop_border is None else crop_border
    y = color_space == 'y'
    rows = []
    for key in tqdm(sorted(gt), desc='eval', unit='img', disable=None):
        s = read_image(sr[key])
        g = _fit(read_image(gt[key]), s.shape[:2], scale, gt[key], sr[key])
        st, gtt = img2tensor(s)[None].to(device), img2tensor(g)[None].to(device)
        row = {'name': key,
               'psnr': float(metrics.psnr(st, gtt, crop, y)[0]),
               'ssim': float(metrics.ssim(st, gtt, crop, y)[0])}
        if lq is not None:
            lo = read_image(lq[key])
            if lo.shape[0] * scale > g.shape[0] + scale or lo.shape[0] * scale < g.shape[0]:
                raise DataError(f'{lq[key]}: LQ size {lo.shape[0]}x{lo.shape[1]} times {scale} does not match GT')
            b = np.rint(np.clip(imresize(lo, scale), 0, 1) * 255) / 255.0
            bt = img2tensor(b[: g.shape[0], : g.shape[1]].astype(np.float32))[None].to(device)
            gtb = gtt[..., : bt.shape[-2], : bt.shape[-1]]
            row['bicubic_psnr'] = float(metrics.psnr(bt, gtb, crop, y)[0])
            row['bicubic_ssim'] = float(metrics.ssim(bt, gtb, crop, y)[0])
        rows.append(row)
    keys = [k for k in rows[0] if k != 'name']
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    return {'convention': metrics.convention(color_space, crop), 'scale': scale, 'images': rows, 'mean': mean}


@cli_entry('srkit-eval')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-eval', description=__doc__.split('\n')[0])
    ap.add_argument('--sr', required=True, help='folder of super-resolved images')
    ap.add_argument('--gt', required=True, help='folder of ground-truth images (same names)')
    ap.add_argument('--scale', type=int, required=True)
    ap.add_argument('--lq', default=None, help='folder of LQ inputs: also score their bicubic upscale')
    ap.add_argument('--color-space', choices=['y', 'rgb'], default='y')
    ap.add_argument('--crop-border', type=int, default=None, help='pixels cut from each side (default: scale)')
    ap.add_argument('--json', default=None, help='write per-image and mean values here')
    a = ap.parse_args(argv)
    res = evaluate(a.sr, a.gt, a.scale, a.lq, a.color_space, a.crop_border)
    cols = [k for k in res['images'][0] if k != 'name']
    width = max(12, max(len(r['name']) for r in res['images']))
    print(f'{"image":<{width}} ' + ' '.join(f'{c:>13}' for c in cols))
    for r in res['images'] + [{'name': 'MEAN', **res['mean']}]:
        print(f'{r["name"]:<{width}} ' + ' '.join(f'{r[c]:>13.4f}' for c in cols))
    print(f'convention: {res["convention"]}')
    if a.json:
        from ..utils.fileio import atomic_write_text
        atomic_write_text(a.json, json.dumps(res, indent=2))
    return 0


if __name__ == '__main__':
    main()
