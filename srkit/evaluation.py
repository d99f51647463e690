"""What ``srkit-eval`` does: gather the compared outputs (SR folders, checkpoints run on the
LQ, the bicubic baseline), score each image with the chosen metrics, and hand the results
to :mod:`srkit.report`.

Images are matched by file stem.  Every image is ``(H,W,3) RGB float32 in [0,1]`` in memory
and ``(1,3,H,W)`` on the metric's device.  Full-reference metrics compare an output with
its GT (a GT that was not mod-cropped, up to ``scale - 1`` pixels larger, is cropped);
NIQE looks at the output alone; FID compares each output folder with the GT folder.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import DataError, UserError

ALL_METRICS = ('psnr', 'ssim', 'lpips', 'niqe', 'piqe', 'fid')


@dataclass
class Entry:
    """One compared method: ``kind`` is ``sr`` (a folder given), ``model`` (a checkpoint
    run on the LQ) or ``bicubic``; ``folder`` holds its output images."""

    label: str
    kind: str
    source: str
    folder: str = ''
    images: dict[str, str] = field(default_factory=dict)


def read_shown(path: str) -> np.ndarray:
    """``(H,W,3) RGB float32 in [0,1]`` as viewers show the file: EXIF orientation applied.  GT,
    LQ and SR are all read this way (srkit-infer writes its outputs turned the same way), so a
    camera JPEG stored sideways compares with its upscale."""
    from .inference import read_input
    return read_input(path).rgb


def index_images(folder: str, what: str) -> dict[str, str]:
    """``{stem: path}`` of the images directly in ``folder``."""
    from .utils.imgio import images_by_stem
    if not os.path.isdir(folder):
        raise UserError(f'--{what} {folder}: not a directory')
    out = {stem: os.path.join(folder, f) for stem, f in images_by_stem(folder).items()}
    if not out:
        raise UserError(f'--{what} {folder}: no images found')
    return out


def check_same_names(gt: dict, other: dict, what: str) -> None:
    """A one-line :class:`DataError` listing the names one set has and the other lacks."""
    missing, extra = sorted(set(gt) - set(other)), sorted(set(other) - set(gt))
    if not (missing or extra):
        return
    parts = []
    if missing:
        parts.append(f'no image in {what} for {len(missing)} GT image(s): {", ".join(missing[:10])}'
                     + (' ...' if len(missing) > 10 else ''))
    if extra:
        parts.append(f'no GT image for {len(extra)} image(s) in {what}: {", ".join(extra[:10])}'
                     + (' ...' if len(extra) > 10 else ''))
    raise DataError('mismatched file sets: ' + '; '.join(parts))


def fit_gt(gt: np.ndarray, hw: tuple, scale: int, gt_path: str, other_path: str) -> np.ndarray:
    """``gt`` cropped to ``hw``: a GT that was not mod-cropped is up to ``scale - 1`` pixels larger."""
    h, w = hw
    gh, gw = gt.shape[:2]
    if h <= gh < h + max(scale, 1) and w <= gw < w + max(scale, 1):
        return gt[:h, :w]
    raise DataError(f'{gt_path}: size {gh}x{gw} does not match {other_path} ({h}x{w}) at scale {scale}')


def split_label(text: str, what: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` (label: the file or folder name)."""
    if '=' in text and not os.path.exists(text):
        label, path = text.split('=', 1)
        if not label:
            raise UserError(f'--{what} {text}: empty label')
        if '/' in label or '\\' in label:  # labels name folders of the report
            raise UserError(f'--{what} {text}: the label {label!r} names a report folder; no "/" in it')
        return label, path
    base = os.path.basename(os.path.normpath(text))
    return os.path.splitext(base)[0] if os.path.isfile(text) else base, text


def unique_labels(entries: list[Entry]) -> None:
    """``name``, ``name_2``, ``name_3`` ... where labels repeat (they name output folders)."""
    seen: dict[str, int] = {}
    for e in entries:
        n = seen.get(e.label, 0)
        seen[e.label] = n + 1
        if n:
            e.label = f'{e.label}_{n + 1}'


def degrade_lq(gt_dir: str, out_dir: str, method: str, scale: int, seed: int) -> str:
    """The LQ of every GT image, made by ``srkit-degrade`` (``method``: a method or a preset
    name) into ``out_dir``, with per-image seeds from ``seed``; resumable like it."""
    from degradations import PIPELINES, load_preset
    from .degrading import degrade_folder
    if method not in PIPELINES:
        try:
            load_preset(method)  # a bad name fails here, in one line, before srkit-degrade runs
        except ValueError as e:
            raise UserError(f'--degrade {e} (methods: {", ".join(sorted(PIPELINES))})') from None
    how = {'method': method} if method in PIPELINES else {'preset': method}
    code = degrade_folder(gt_dir, out_dir, scale=scale, seed=seed, **how)
    if code:
        raise UserError(f'--degrade {method}: srkit-degrade failed (exit {code})')
    return out_dir


def run_bicubic(lq: dict[str, str], scale: int, out_dir: str, progress: bool = True) -> dict[str, str]:
    """MATLAB-bicubic upscales of the LQ images, written as 8-bit PNGs (what a user's SR
    folder holds), so every method is scored from the same kind of file."""
    from tqdm import tqdm
    from degradations import imresize
    from .utils.imgio import write_image
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for key in tqdm(sorted(lq), desc='bicubic', unit='img', disable=None if progress else True):
        path = os.path.join(out_dir, f'{key}.png')
        write_image(path, np.clip(imresize(read_shown(lq[key]), scale), 0, 1))
        out[key] = path
    return out


def run_model(ckpt: str, lq: dict[str, str], out_dir: str, device, tile: int = 0, overlap: int = 32,
              progress: bool = True) -> tuple[dict[str, str], int]:
    """A generator checkpoint (any format ``srkit-infer`` reads) on each LQ image; outputs
    written as 8-bit PNGs into ``out_dir``.  Returns ``({stem: path}, scale)``."""
    from tqdm import tqdm
    from .inference import describe, load_generator, read_input, upscale_image
    from .utils.imgio import write_image
    net, cfg, scale = load_generator(ckpt, None, device, channels_last=True)
    if progress:
        print(f'{ckpt}: {describe(cfg, scale)}')
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for key in tqdm(sorted(lq), desc=os.path.basename(out_dir), unit='img', disable=None if progress else True):
        img = read_input(lq[key])  # as srkit-infer reads it: EXIF orientation, alpha, 16 bit
        y, alpha = upscale_image(net, img, scale, device, tile, overlap)
        path = os.path.join(out_dir, f'{key}.png')
        write_image(path, y, bit_depth=16 if img.bit_depth == 16 else 8, alpha=alpha)
        out[key] = path
    return out, scale


def score(entries: list[Entry], gt: dict[str, str], scale: int, metrics: list[str], color_space: str = 'y',
          crop_border: int | None = None, device='cpu', fid_mode: str = 'clean', gt_dir: str | None = None,
          progress: bool = True, on_image=None) -> dict:
    """Per-image and mean values of ``metrics`` for every entry.

    Returns ``{'convention', 'scale', 'color_space', 'crop_border', 'metrics', 'sources',
    'unavailable', 'models': {label: {'kind', 'source', 'folder', 'images': [{'name', m...}],
    'mean': {m: v}}}, 'notes'}``.  A metric whose weights are missing is left out and listed in
    ``unavailable`` with the message naming the files; NaN marks a value a metric cannot give
    (NIQE on an image smaller than its 96-pixel block, FID that fails numerically), and
    ``notes`` says why for FID.  ``on_image(name, gt, {label: output})``, if given, sees every
    image once it is decoded (the report's crops), so nothing is read twice."""
    from tqdm import tqdm
    from . import metrics as M
    from .metrics import iqa
    from .utils.imgio import img2tensor
    crop = scale if crop_border is None else crop_border
    y = color_space == 'y'
    loaded, sources, unavailable = {}, {}, {}
    for m in metrics:
        if m in ('psnr', 'ssim'):
            sources[m] = 'pyiqa'
        elif m in ('lpips', 'niqe', 'piqe'):
            try:
                loaded[m] = iqa.load(m, crop, device)
                sources[m] = loaded[m].source
            except iqa.MetricUnavailable as e:
                unavailable[m] = str(e)
        elif m == 'fid':
            try:
                loaded[m] = iqa.fid_model(device)
                sources[m] = f'pyiqa FID (Inception, {fid_mode} mode), each output folder vs the GT folder'
            except iqa.MetricUnavailable as e:
                unavailable[m] = str(e)
    per_image = [m for m in metrics if m != 'fid' and m not in unavailable]
    models, notes = {}, []
    rows: dict[str, list] = {e.label: [] for e in entries}
    for key in tqdm(sorted(gt), desc='score', unit='img', disable=None if progress else True):
        gt_img = read_shown(gt[key])  # once per image, whatever the number of methods
        outputs = {}
        for e in entries:
            outputs[e.label] = s = read_shown(e.images[key])
            g = fit_gt(gt_img, s.shape[:2], scale, gt[key], e.images[key])
            st, gtt = img2tensor(s)[None].to(device), img2tensor(g)[None].to(device)
            row = {'name': key}
            for m in per_image:
                if m == 'psnr':
                    row[m] = float(M.psnr(st, gtt, crop, y)[0])
                elif m == 'ssim':
                    row[m] = float(M.ssim(st, gtt, crop, y)[0])
                elif loaded[m].reference:
                    row[m] = float(loaded[m].fn(st, gtt)[0])
                else:
                    row[m] = float(loaded[m].fn(st)[0])
            rows[e.label].append(row)
        if on_image is not None:
            on_image(key, gt_img, outputs)
    for e in entries:
        rows_e = rows[e.label]
        mean = {}
        for m in per_image:
            vals = [r[m] for r in rows_e if not math.isnan(r[m])]
            mean[m] = float(np.mean(vals)) if vals else float('nan')
        if 'fid' in loaded:
            mean['fid'] = float('nan')
            if gt_dir is None or len(rows_e) < 2:
                notes.append(f'FID of {e.label}: needs at least 2 images')
            else:
                try:
                    mean['fid'] = iqa.fid(loaded['fid'], e.folder, gt_dir, fid_mode)
                except (ValueError, np.linalg.LinAlgError) as err:  # e.g. a complex matrix square root
                    notes.append(f'FID of {e.label}: not computed ({err}); a few images make a singular covariance')
        models[e.label] = {'kind': e.kind, 'source': e.source, 'folder': e.folder, 'images': rows_e, 'mean': mean}
    conv = M.convention(color_space, crop, ssim='ssim' in per_image)
    if 'niqe' in per_image:
        conv += f'; NIQE on Y, crop_border={crop}'
    if 'piqe' in per_image:
        conv += f'; PIQE on luminance, crop_border={crop}'
    return {'convention': conv, 'orientation': 'EXIF orientation applied to GT, LQ and SR alike (as viewers show them)',
            'scale': scale, 'color_space': color_space, 'crop_border': crop,
            'metrics': [m for m in metrics if m not in unavailable], 'sources': sources,
            'unavailable': unavailable, 'notes': notes, 'models': models}
