"""What ``srkit-eval`` does: gather the compared outputs (SR folders, checkpoints run on the
LQ, the bicubic baseline), score each image with the chosen metrics, and hand the results
to :mod:`srkit.report`.  :func:`evaluate` does all of ``srkit-eval``: an :class:`EvalRequest`
in, an :class:`EvalResult` out, nothing printed (progress through an optional
``progress(stage, done, total)`` callback); messages name the request's fields, which a
command line maps to its flags (:func:`srkit.utils.naming.field_names`).

Images are matched by file stem.  Every image is ``(H,W,3) RGB float32 in [0,1]`` in memory
and ``(1,3,H,W)`` on the metric's device.  Full-reference metrics compare an output with
its GT (a GT that was not mod-cropped, up to ``scale - 1`` pixels larger, is cropped);
NIQE looks at the output alone; FID compares each output folder with the GT folder.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from .errors import DataError, UserError
from .utils.naming import name

if TYPE_CHECKING:
    from .degrading import DegradeResult

Progress = Callable[[str, int, int], None]  # (stage, done, total), e.g. a progress bar's update

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
    """``{stem: path}`` of the images directly in ``folder`` (``what``: the request field naming it)."""
    from .utils.imgio import images_by_stem
    if not os.path.isdir(folder):
        raise UserError(f'{name(what)} {folder}: not a directory')
    out = {stem: os.path.join(folder, f) for stem, f in images_by_stem(folder).items()}
    if not out:
        raise UserError(f'{name(what)} {folder}: no images found')
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
            raise UserError(f'{name(what)} {text}: empty label')
        if '/' in label or '\\' in label:  # labels name folders of the report
            raise UserError(f'{name(what)} {text}: the label {label!r} names a report folder; no "/" in it')
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


def degrade_lq(gt_dir: str, out_dir: str, method: str, scale: int, seed: int,
               progress: Optional[Progress] = None) -> 'DegradeResult':
    """The LQ of every GT image, made as ``srkit-degrade`` makes it (``method``: a method or a
    preset name) into ``out_dir``, with per-image seeds from ``seed``; resumable like it.
    Returns the :class:`srkit.degrading.DegradeResult`."""
    from degradations import PIPELINES, load_preset
    from .degrading import DegradeJob, degrade_folder
    if method not in PIPELINES:
        try:
            load_preset(method)  # a bad name fails here, in one line, before srkit-degrade runs
        except ValueError as e:
            raise UserError(f'{name("degrade")} {e} (methods: {", ".join(sorted(PIPELINES))})') from None
    how = {'method': method} if method in PIPELINES else {'preset': method}
    r = degrade_folder(DegradeJob(gt_dir, out_dir, scale=scale, seed=seed, **how), progress)
    if r.failed:
        raise UserError(f'{name("degrade")} {method}: srkit-degrade failed (exit 1): {"; ".join(r.failed[:3])}')
    return r


def run_bicubic(lq: dict[str, str], scale: int, out_dir: str, progress: Optional[Progress] = None) -> dict[str, str]:
    """MATLAB-bicubic upscales of the LQ images, written as 8-bit PNGs (what a user's SR
    folder holds), so every method is scored from the same kind of file."""
    from degradations import imresize
    from .utils.imgio import write_image
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for n, key in enumerate(sorted(lq)):
        if progress:
            progress('bicubic', n, len(lq))
        path = os.path.join(out_dir, f'{key}.png')
        write_image(path, np.clip(imresize(read_shown(lq[key]), scale), 0, 1))
        out[key] = path
    if progress:
        progress('bicubic', len(lq), len(lq))
    return out


def run_model(ckpt: str, lq: dict[str, str], out_dir: str, device, tile: int = 0, overlap: int = 32,
              progress: Optional[Progress] = None) -> tuple[dict[str, str], int]:
    """A generator checkpoint (any format ``srkit-infer`` reads) on each LQ image; outputs
    written as 8-bit PNGs into ``out_dir``.  Returns ``({stem: path}, scale)``."""
    from .inference import load_generator, read_input, upscale_image
    from .utils.imgio import write_encoded
    # as srkit-infer runs a checkpoint by default (--backend auto: PyTorch, channels_last)
    net, _, scale = load_generator(ckpt, None, device, channels_last=True)
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    stage = os.path.basename(out_dir)
    for n, key in enumerate(sorted(lq)):
        if progress:
            progress(stage, n, len(lq))
        img = read_input(lq[key])  # as srkit-infer reads it: EXIF orientation, alpha, 16 bit
        path = os.path.join(out_dir, f'{key}.png')
        write_encoded(path, upscale_image(net, img, scale, device, tile, overlap))
        out[key] = path
    if progress:
        progress(stage, len(lq), len(lq))
    return out, scale


def score(entries: list[Entry], gt: dict[str, str], scale: int, metrics: list[str], color_space: str = 'y',
          crop_border: int | None = None, device='cpu', fid_mode: str = 'clean', gt_dir: str | None = None,
          progress: Optional[Progress] = None, on_image=None) -> dict:
    """Per-image and mean values of ``metrics`` for every entry.

    Returns ``{'convention', 'scale', 'color_space', 'crop_border', 'metrics', 'sources',
    'unavailable', 'models': {label: {'kind', 'source', 'folder', 'images': [{'name', m...}],
    'mean': {m: v}}}, 'notes'}``.  A metric whose weights are missing is left out and listed in
    ``unavailable`` with the message naming the files; NaN marks a value a metric cannot give
    (NIQE on an image smaller than its 96-pixel block, FID that fails numerically), and
    ``notes`` says why for FID.  ``on_image(name, gt, {label: output})``, if given, sees every
    image once it is decoded (the report's crops), so nothing is read twice."""
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
    for n, key in enumerate(sorted(gt)):
        if progress:
            progress('score', n, len(gt))
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
    if progress:
        progress('score', len(gt), len(gt))
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


@dataclass
class EvalRequest:
    """What :func:`evaluate` scores (``srkit-eval``'s options).

    ``sr``: folders of outputs, ``model``: generator checkpoints run on the LQ first, each
    ``[LABEL=]PATH``; ``gt``: the ground truth; the LQ is ``lq``, or made from the GT by
    ``degrade`` (a method or preset) with ``seed``.  ``scale``: default the checkpoints', else
    GT size / LQ size, else 1.  ``metrics``: names of :data:`ALL_METRICS` (or ``'psnr,ssim'``);
    ``color_space``/``crop_border``/``fid_mode``: the convention.  ``no_bicubic``: leave the
    bicubic baseline out.  ``out``: the report folder (replaced whole; None: no report),
    ``crop_size`` its crops' side; ``json``: also write metrics.json there.  ``device``,
    ``tile``/``tile_overlap``: how checkpoints run."""

    gt: str
    sr: Sequence[str] = ()
    model: Sequence[str] = ()
    lq: Optional[str] = None
    degrade: Optional[str] = None
    seed: int = 0
    scale: Optional[int] = None
    metrics: str | Sequence[str] = ('psnr', 'ssim')
    color_space: str = 'y'
    crop_border: Optional[int] = None
    fid_mode: str = 'clean'
    no_bicubic: bool = False
    out: Optional[str] = None
    crop_size: int = 128
    json: Optional[str] = None
    device: Optional[str] = None
    tile: int = 0
    tile_overlap: int = 32


@dataclass
class EvalResult:
    """What :func:`evaluate` found: ``scores`` (:func:`score`'s dictionary, paths as they are
    after the run), ``generators`` (``(checkpoint, description)`` of each model run), ``degraded``
    (the :class:`srkit.degrading.DegradeResult` that made the LQ, if any) and ``report`` (the
    report.html written, if any).  ``partial``: a metric was unavailable (weights missing)."""

    scores: dict
    generators: list[tuple[str, str]] = field(default_factory=list)
    degraded: Optional['DegradeResult'] = None
    report: Optional[str] = None

    @property
    def partial(self) -> bool:
        return bool(self.scores['unavailable'])


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """The metric names (a comma-separated text or a list), each in :data:`ALL_METRICS`, once each."""
    text = metrics if isinstance(metrics, str) else ','.join(metrics)
    names = [m.strip().lower() for m in text.split(',') if m.strip()]
    bad = [m for m in names if m not in ALL_METRICS]
    if bad or not names:
        raise UserError(f'{name("metrics")} {text}: unknown {", ".join(bad) or "(empty)"} '
                        f'(known: {", ".join(ALL_METRICS)})')
    return list(dict.fromkeys(names))


def _check_request(r: EvalRequest) -> list[str]:
    """The request's own consistency, before any file is read; returns the metric names."""
    if not r.sr and not r.model and not (r.lq or r.degrade):
        raise UserError(f'nothing to score: give {name("sr")} DIR, {name("model")} G.pth, or an LQ '
                        f'({name("lq")}/{name("degrade")}) for bicubic')
    if r.lq and r.degrade:
        raise UserError(f'{name("lq")} and {name("degrade")}: give one ({name("degrade")} makes the LQ from the GT)')
    metrics = parse_metrics(r.metrics)
    if r.crop_size < 8:
        raise UserError(f'{name("crop_size")}: must be >= 8')
    return metrics


def evaluate(request: EvalRequest, progress: Optional[Progress] = None) -> EvalResult:
    """Score the request's outputs against its GT (and, with ``out``, write the report folder,
    built beside the old one and swapped in whole; only a folder srkit-eval wrote is replaced)."""
    from .utils.device import pick_device
    from .utils.fileio import check_apart, check_replaceable, staged_folder
    r = request
    metrics = _check_request(r)
    model_paths = [split_label(m, 'model')[1] for m in r.model]
    if r.json:  # before any work: a device or an input there is refused at the start, not the end
        check_replaceable(r.json, model_paths, name('json'))
    device = pick_device(r.device, name('device'))
    gt = index_images(r.gt, 'gt')
    if not r.out:
        work = tempfile.mkdtemp(prefix='srkit-eval-')
        try:
            return _evaluate(r, gt, metrics, device, work, progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    # the report folder is replaced whole: it must hold none of the inputs, nor lie in one
    inputs = [r.gt, r.lq] + [split_label(s, 'sr')[1] for s in r.sr] + model_paths
    check_apart(r.out, [p for p in inputs if p and os.path.isdir(p)], name('out'))
    with staged_folder(r.out, name('out'), reuse=_lq_folders(r.out), marker='.srkit-eval', inputs=inputs) as work:
        res = _evaluate(r, gt, metrics, device, work, progress)
    res.report = os.path.join(r.out, 'report.html')
    return res


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


def _models(r: EvalRequest) -> list[Entry]:
    models = []
    for text in r.model:
        label, path = split_label(text, 'model')
        if not os.path.isfile(path):
            raise UserError(f'{name("model")} {path}: no such file')
        models.append(Entry(label, 'model', path))
    return models


def _read_models(r: EvalRequest, models: list[Entry]) -> tuple[Optional[int], list[tuple[str, str]]]:
    """Every checkpoint read, and its scale checked, before any LQ or output is written:
    ``(scale, [(checkpoint, description)])``."""
    scale, described = r.scale, []
    if models:
        from .inference import describe, image_channels, load_generator
        for e in models:
            net, cfg, s = load_generator(e.source, None, 'cpu')
            image_channels(net, e.source)  # a network no image can feed is refused here, not at the first image
            if scale is not None and s != scale:
                raise UserError(f'{name("model")} {e.source}: a x{s} network, but '
                                f'{name("scale") + " is" if r.scale else "the others are"} x{scale}')
            scale = s
            described.append((e.source, describe(cfg, s)))
    return scale, described


def _evaluate(r: EvalRequest, gt: dict, metrics: list, device, work: str,
              progress: Optional[Progress]) -> EvalResult:
    """Everything :func:`evaluate` writes goes under ``work``; ``r.out``: where ``work`` ends up."""
    entries = []
    for text in r.sr:
        label, folder = split_label(text, 'sr')
        imgs = index_images(folder, 'sr')
        check_same_names(gt, imgs, f'{name("sr")} {folder}')
        entries.append(Entry(label, 'sr', folder, folder, imgs))
    models = _models(r)
    # labels name the output folders: make them unique before anything is written
    unique_labels(([Entry('bicubic', 'bicubic', '')] if not r.no_bicubic else []) + entries + models)
    if models and not (r.lq or r.degrade):
        raise UserError(f'{name("model")}: needs an LQ to run on ({name("lq")} DIR or {name("degrade")} METHOD)')
    scale, described = _read_models(r, models)
    lq, degraded = None, None
    if r.degrade:
        if scale is None:
            raise UserError(f'{name("degrade")}: give {name("scale")} (or a {name("model")} to read it from)')
        lq_dir = os.path.join(work, f'lq_{r.degrade}_x{scale}_seed{r.seed}')
        degraded = degrade_lq(r.gt, lq_dir, r.degrade, scale, r.seed, progress)
        lq = index_images(lq_dir, 'lq')
    elif r.lq:
        lq = index_images(r.lq, 'lq')
        lq_dir = r.lq
    if lq is not None:
        check_same_names(gt, lq, f'{name("lq")} {r.lq}' if r.lq else f'the {name("degrade")} output {lq_dir}')
        if scale is None:
            k = sorted(gt)[0]
            scale = max(1, round(read_shown(gt[k]).shape[0] / read_shown(lq[k]).shape[0]))
    for e in models:
        e.folder = os.path.join(work, 'sr', e.label)
        e.images, s = run_model(e.source, lq, e.folder, device, r.tile, r.tile_overlap, progress)
        if scale is not None and s != scale:
            raise UserError(f'{name("model")} {e.source}: a x{s} network, but the others are x{scale}')
        scale = s
        entries.append(e)
    scale = scale or 1
    if lq is not None and not r.no_bicubic:
        folder = os.path.join(work, 'sr', 'bicubic')
        entries.insert(0, Entry('bicubic', 'bicubic', f'MATLAB bicubic x{scale} of {lq_dir}', folder,
                                run_bicubic(lq, scale, folder, progress)))
    return EvalResult(_scored(r, entries, gt, lq, scale, metrics, device, work, progress), described, degraded)


def _scored(r: EvalRequest, entries: list[Entry], gt: dict, lq: Optional[dict], scale: int, metrics: list, device,
            work: str, progress: Optional[Progress]) -> dict:
    """:func:`score`'s results, written as the request asks (json, report folder)."""
    from . import report
    crops = report.CropWriter(work, scale, lq, r.crop_size) if r.out else None
    res = score(entries, gt, scale, metrics, r.color_space, r.crop_border, device, r.fid_mode, r.gt,
                progress=progress, on_image=crops)
    if r.out:
        res = _relocate(res, os.path.abspath(work), os.path.abspath(r.out))
    if r.json:
        from .utils.fileio import atomic_write_text
        atomic_write_text(r.json, report.to_json(res), [split_label(m, 'model')[1] for m in r.model], name('json'))
    if r.out:
        report.write_tables(res, work)
        report.write_report(res, work, crops.finish())
    return res
