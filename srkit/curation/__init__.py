"""Curate a training set: tile, score, filter, deduplicate and pack (the work behind
``srkit-dataset``).  :func:`curate` takes a :class:`CurateRequest` and returns a
:class:`CurateResult`; nothing here prints.

The run has two phases, both safe to stop at any point (kill -9 included):

1. **Tiles and scores**, per image or video (a *unit*), in ``workers`` processes and in any
   number of shards (``shard``, or torchrun's RANK/WORLD_SIZE): each unit's tiles are written
   (atomically) into the staging folder ``.srkit-dataset/tiles`` and its records, then a line
   saying it is done, appended to the shard's ``scores*.jsonl``.  A rerun skips the units
   already done.
2. **Decisions**, once every unit is done, by a run without ``shard``: the ``keep`` rules (a
   percentile over every tile of the run), then duplicates among the tiles still kept (the best
   by score stays); the kept tiles go into the output folder (or an LMDB), with
   ``manifest.jsonl`` (one line per tile: ``name``, ``source``, ``box``, ``scores``, ``kept``,
   ``reason``), ``meta_info.txt``, ``report.html`` and ``report.md``; then the staging folder
   goes.  The manifest is written last, so its presence means the run is complete.

Every decision depends only on the tiles, never on how the work was split.  ``run.json``
keeps the settings; a rerun with other settings is refused.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Optional

import numpy as np

from ..errors import DataError, UserError
from ..utils.fileio import atomic_write_text, check_apart, folder_lock, make_output_dir
from ..utils.naming import name
from .dedup import DEFAULT_DISTANCE, MAX_DISTANCE
from .keep import Rule, decide, parse_rule
from .sources import FrameRule, Unit, flat, plan, read_unit

Progress = Callable[[str, int, int], None]

STAGING = '.srkit-dataset'
TOOL = 'srkit-dataset'
MAX_TILES_PER_IMAGE = 100_000
MIN_TILE = 8
MAX_TILE = 16384
MAX_OVERLAP = 16  # a step of at least tile/16: each pixel in at most 256 tiles


@dataclass
class CurateRequest:
    """What :func:`curate` does (``srkit-dataset``'s options).

    ``input``: folders (searched recursively), ``.lmdb`` folders or video files; ``output``: the
    curated folder, or an LMDB (``format='lmdb'``, or a name ending ``.lmdb``).
    ``tile``/``step``/``thresh_size``: BasicSR ``extract_subimages``' grid (``step`` defaults to
    ``tile``); ``best_tile``: instead, the one most complex tile of each image; neither: whole
    images.  ``score``: score names; ``keep``: rules such as ``sharpness>p10``; ``dedup``:
    ``exact``, ``phash`` or ``phash:DIST``.  ``frame_every``/``scene_change``: which video frames
    (default every 30th).  ``device``/``batch``: where and how many tiles at once the learned
    scorers run.  ``report``: write ``report.html`` and ``report.md``."""

    input: list[str]
    output: str
    format: Optional[str] = None
    tile: Optional[int] = None
    step: Optional[int] = None
    thresh_size: int = 0
    best_tile: Optional[int] = None
    score: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    dedup: Optional[str] = None
    frame_every: Optional[int] = None
    scene_change: Optional[float] = None
    workers: int = 1
    shard: Optional[str | tuple[int, int]] = None
    device: Optional[str] = None
    batch: int = 16
    report: bool = True


@dataclass
class CurateResult:
    """What :func:`curate` did.  ``units``: images and videos of the input; ``done_before``: units
    an earlier run (or another shard) had done; ``failed``: one line per unreadable unit;
    ``skipped``: one line per image too small for a tile; ``tiles``: tiles scored so far;
    ``finished``: the decisions are made and the output written (``kept`` tiles, ``dropped`` by
    reason); ``already_complete``: it was so before this run; ``waiting``: units no shard has done."""

    output: str
    shard: tuple[int, int] = (0, 1)
    units: int = 0
    done_before: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    tiles: int = 0
    finished: bool = False
    already_complete: bool = False
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    waiting: int = 0
    lmdb: bool = False
    report: Optional[str] = None

    @property
    def ok(self) -> bool:
        return not self.failed


# ---------------------------------------------------------------- the request, checked


def _check(req: CurateRequest) -> tuple[list[Rule], Optional[int], FrameRule, bool]:
    """``(keep rules, dedup distance (None: exact copies only), frame rule, lmdb output)``; every
    option checked before anything is read or written."""
    from .scoring import check_scores
    if not req.input:
        raise UserError(f'{name("input")} is required')
    if req.tile is not None and req.best_tile is not None:
        raise UserError(f'{name("tile")} and {name("best_tile")}: choose one')
    for key in ('tile', 'best_tile'):
        v = getattr(req, key)
        if v is not None and not MIN_TILE <= v <= MAX_TILE:
            raise UserError(f'{name(key)} {v}: must be between {MIN_TILE} and {MAX_TILE} pixels')
    if req.step is not None:
        if req.tile is None:
            raise UserError(f'{name("step")}: only with {name("tile")}')
        if not 1 <= req.step <= req.tile:
            raise UserError(f'{name("step")} {req.step}: must be between 1 and {name("tile")} ({req.tile})')
        if req.step * MAX_OVERLAP < req.tile:
            raise UserError(f'{name("step")} {req.step}: puts each pixel in over {MAX_OVERLAP ** 2} tiles; use a '
                            f'step of at least {name("tile")}/{MAX_OVERLAP}')
    if req.thresh_size < 0:
        raise UserError(f'{name("thresh_size")} {req.thresh_size}: must be >= 0')
    check_scores(req.score)
    rules = [parse_rule(k, req.score) for k in req.keep]
    distance: Optional[int] = None
    if req.dedup is not None:
        kind, _, d = req.dedup.partition(':')
        if kind == 'exact' and not d:
            distance = None
        elif kind == 'phash':
            try:
                distance = int(d) if d else DEFAULT_DISTANCE
            except ValueError:
                distance = -1
            if not 0 <= distance <= MAX_DISTANCE:
                raise UserError(f'{name("dedup")} {req.dedup}: the distance is 0 to {MAX_DISTANCE} bits of 64')
        else:
            raise UserError(f'{name("dedup")} {req.dedup}: expected exact, phash or phash:DIST')
    if req.frame_every is not None and req.frame_every < 1:
        raise UserError(f'{name("frame_every")} {req.frame_every}: must be >= 1')
    if req.scene_change is not None and not 0 < req.scene_change < 255:
        raise UserError(f'{name("scene_change")} {req.scene_change}: a mean change in 8-bit levels, 0 to 255')
    every = req.frame_every if req.frame_every or req.scene_change is not None else 30
    if req.workers < 1 or req.workers > 256:
        raise UserError(f'{name("workers")} {req.workers}: must be between 1 and 256')
    if not 1 <= req.batch <= 4096:
        raise UserError(f'{name("batch")} {req.batch}: must be between 1 and 4096')
    _device(req)  # a bad device is one line here, whatever the scores
    from ..utils.imgio import max_pixels
    try:
        max_pixels()  # a bad SRKIT_MAX_PIXELS is the run's error, not each image's
    except DataError as e:
        raise UserError(str(e)) from None
    fmt = req.format or ('lmdb' if req.output.rstrip('/').endswith('.lmdb') else 'folder')
    if fmt not in ('folder', 'lmdb'):
        raise UserError(f'{name("format")} {req.format}: folder or lmdb')
    if fmt == 'lmdb' and not req.output.rstrip('/').endswith('.lmdb'):
        raise UserError(f'{name("output")} {req.output}: an LMDB\'s name ends with .lmdb (BasicSR\'s layout)')
    return rules, distance, FrameRule(every, req.scene_change), fmt == 'lmdb'


def _settings(req: CurateRequest, units: list[Unit], lmdb: bool, distance: Optional[int]) -> dict:
    """What decides the result (not ``workers``, ``shard``, ``device`` or ``batch``)."""
    dedup = None if req.dedup is None else 'exact' if distance is None else f'phash:{distance}'
    return {'tool': TOOL, 'version': 1, 'input': [os.path.abspath(i) for i in req.input], 'units': len(units),
            'tile': req.tile, 'step': req.step or req.tile if req.tile else None, 'thresh_size': req.thresh_size,
            'best_tile': req.best_tile, 'score': list(req.score), 'keep': [k.strip() for k in req.keep],
            'dedup': dedup, 'frame_every': req.frame_every, 'scene_change': req.scene_change,
            'format': 'lmdb' if lmdb else 'folder'}


def _read_json_file(path: str) -> dict:
    from ..utils.fileio import read_file
    try:
        data = json.loads(read_file(path, 1 << 24).decode('utf-8'))
    except (DataError, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get('tool') != TOOL:
        raise UserError(f'{path}: not the run settings {TOOL} writes; remove it or choose another {name("output")}')
    return data


def _check_settings(path: str, now: dict, out: str) -> None:
    if not os.path.lexists(path):
        atomic_write_text(path, json.dumps(now, indent=1, sort_keys=True) + '\n')
        return
    before = _read_json_file(path)
    for k in list(now) + sorted(set(before) - set(now)):  # the settings in their order: the first that differs
        if before.get(k) != now.get(k):
            raise UserError(f'{out}: holds a curation made with another {k} ({before.get(k)!r}, now '
                            f'{now.get(k)!r}); use another {name("output")} or delete that one')


def _check_output(out: str, lmdb: bool, inputs: list[str]) -> None:
    """The output may be new, empty, or one this tool wrote (its ``run.json``), never an input."""
    check_apart(out, inputs)
    for inp in inputs:  # nor may an input lie inside the output (its files would be counted as tiles)
        r, o = os.path.realpath(inp), os.path.realpath(out)
        if r.startswith(o.rstrip(os.sep) + os.sep):
            raise UserError(f'{name("output")} {out}: holds the input {inp}; write elsewhere')
    from ..data.storage import INCOMPLETE_MARKER
    for folder in ([out, out + '.parts'] if lmdb else [out]):
        if os.path.lexists(folder) and (os.path.islink(folder) or not os.path.isdir(folder)):
            raise UserError(f'{name("output")} {folder}: exists and is not a folder')
        # an LMDB being packed is ours when its staging folder is (a kill may fall between pack and run.json)
        ours = ('run.json', INCOMPLETE_MARKER) if folder == out and lmdb else ('run.json',)
        if os.path.isfile(os.path.join(folder, 'run.json')):
            _read_json_file(os.path.join(folder, 'run.json'))  # another tool's settings: refused here
        staged = (lmdb and folder == out and os.path.isfile(os.path.join(out + '.parts', 'run.json'))
                  and os.path.isdir(os.path.join(out + '.parts', 'kept')))
        if os.path.isdir(folder) and os.listdir(folder) and not staged and not any(
                os.path.isfile(os.path.join(folder, m)) for m in ours):
            raise UserError(f'{name("output")} {folder}: an existing folder {TOOL} did not write (no run.json of '
                            'its own); give a new or empty folder')


# ---------------------------------------------------------------- phase 1: tiles and scores


def tile_boxes(h: int, w: int, req: CurateRequest, img: Optional[np.ndarray] = None) -> list[tuple]:
    """The boxes ``(top, left, height, width)`` cut from an ``h x w`` image."""
    from .tiles import best_tile, count_starts, grid
    if req.tile is not None:
        step = req.step or req.tile
        n = count_starts(h, req.tile, step, req.thresh_size) * count_starts(w, req.tile, step, req.thresh_size)
        if n > MAX_TILES_PER_IMAGE:  # counted before the list is built: a flat 16k PNG is a few hundred KB
            raise DataError(f'{h}x{w} image: {n} tiles (over {MAX_TILES_PER_IMAGE}); use a larger step')
        return grid(h, w, req.tile, step, req.thresh_size)
    if req.best_tile is not None:
        from ..metrics.noref import complexity
        found = best_tile(img, req.best_tile, complexity)
        return [found[0]] if found else []
    return [(0, 0, h, w)]


def _tile_name(unit: Unit, frame: Optional[int], index: int, req: CurateRequest) -> str:
    stem = flat(unit.key) + (f'_f{frame:06d}' if frame is not None else '')
    return f'{stem}_s{index:03d}.png' if req.tile is not None else f'{stem}.png'


_SCORERS: dict = {}
_STORAGES: dict = {}


def _device(req: CurateRequest):
    """Where the learned scorers run: ``device``, else a GPU when there is one (the weights-free
    scores are numpy, on the CPU)."""
    from ..utils.device import pick_device
    return pick_device(req.device, name('device'))


def _scorers(req: CurateRequest) -> list:
    from .scoring import build_scorer
    key = (tuple(req.score), req.device, req.batch)
    if key not in _SCORERS:
        _SCORERS.clear()
        _SCORERS[key] = [build_scorer(s, _device(req), req.batch) for s in req.score]
    return _SCORERS[key]


def _unit_records(unit: Unit, req: CurateRequest, rule: FrameRule, tiles_dir: str, hashes: bool) -> list[dict]:
    """Cut, score, hash and stage the tiles of one unit; its records.  Raises DataError."""
    from .dedup import content_hash, phash
    storage = _STORAGES.get(unit.input)
    scorers = _scorers(req)
    records = []
    for frame, img, depth in read_unit(unit, storage, rule):
        h, w = img.shape[:2]
        try:
            boxes = tile_boxes(h, w, req, img)
        except DataError as e:
            raise DataError(f'{unit.ref}: {e}') from None
        tiles = [img[t:t + bh, left:left + bw] for t, left, bh, bw in boxes]
        values = {s.name: s(tiles) for s in scorers}
        where = unit.ref if unit.video else storage.describe(unit.ref)
        # the file's own levels, once per image: every tile is a view of them (BGR, as cv2 writes)
        top = 65535 if depth == 16 else 255
        bgr = np.clip(np.rint(img[..., ::-1] * top), 0, top).astype(np.uint16 if depth == 16 else np.uint8)
        for i, (t, left, bh, bw) in enumerate(boxes):
            nm = _tile_name(unit, frame, i + 1, req)
            tile = bgr[t:t + bh, left:left + bw]
            rec = {'name': nm, 'unit': unit.key, 'source': where + (f'#frame={frame}' if frame is not None else ''),
                   'box': [int(t), int(left), int(bh), int(bw)],
                   'scores': {k: (round(float(v[i]), 6) if math.isfinite(v[i]) else None) for k, v in values.items()},
                   'sha256': content_hash(tile)}
            if hashes:
                rgb8 = (tile[..., ::-1] >> 8 if depth == 16 else tile[..., ::-1]).astype(np.uint8)
                rec['phash'] = f'{phash(rgb8):016x}'
            _write_tile(os.path.join(tiles_dir, nm), tile)
            records.append(rec)
    return records


def _write_tile(path: str, bgr: np.ndarray) -> None:
    """A staged tile, atomically (a temporary name, then a rename).  Not through
    :func:`srkit.utils.fileio.atomic_write_bytes`, which scans the folder for dead temporary files
    on every write: in a folder of 100,000 tiles that makes the run quadratic.  Temporary files
    of killed runs are removed once, when a run starts (:func:`_remove_dead_temps`)."""
    from ..utils.imgio import _encoded
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'wb') as f:
            f.write(_encoded(bgr, '.png'))
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        from ..utils.fileio import write_failure
        line = write_failure(e, os.path.dirname(path), path)  # a full disk: one line, as every srkit write
        if line:
            raise UserError(line) from None
        raise


def _remove_dead_temps(tiles_dir: str) -> None:
    from ..utils.fileio import pid_alive
    for f in os.listdir(tiles_dir):
        if f.endswith('.tmp'):
            pid = f[:-4].rsplit('.', 1)[-1]
            if not pid.isdigit() or not pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(tiles_dir, f))


def _work(args) -> tuple[str, list[dict], Optional[str], Optional[str]]:
    """``(unit key, records, failure, skip)`` of one unit (in a worker process)."""
    unit, req, rule, tiles_dir, hashes = args
    try:
        recs = _unit_records(unit, req, rule, tiles_dir, hashes)
    except DataError as e:
        return unit.key, [], str(e), None
    except (RuntimeError, ValueError) as e:  # a scorer or decoder that cannot take this one
        detail = (str(e).strip().splitlines() or [''])[0][:200]
        return unit.key, [], f'{unit.ref}: cannot be tiled or scored ({type(e).__name__}: {detail})', None
    except MemoryError:  # not this unit's fault: reported, and tried again by the next run
        return unit.key, None, f'{unit.ref}: out of memory (tried again by the next run)', None
    if not recs:
        size = req.tile or req.best_tile
        return unit.key, [], None, f'{unit.ref}: smaller than the {size} px tile'
    return unit.key, recs, None, None


def _init_worker():
    import torch
    torch.set_num_threads(1)  # the processes are the parallelism


def _lines(path: str):
    """A text file's lines, one at a time (a log of millions of tiles is never held as one string)."""
    with open(path, encoding='utf-8', errors='replace') as f:
        yield from f


def _read_scores(work: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(records by tile name, end line by unit key)`` from every shard's ``scores*.jsonl``;
    lines a kill tore are skipped, and a unit without its end line is not done."""
    from ..utils.imgio import is_regular
    recs: dict[str, dict] = {}
    ends: dict[str, dict] = {}
    for f in sorted(os.listdir(work)):
        if not (f.startswith('scores') and f.endswith('.jsonl')):
            continue
        path = os.path.join(work, f)
        if not is_regular(path):  # this tool's own file; anything else is not read (a FIFO would block)
            raise UserError(f'{path}: not a regular file; remove {work} to start over')
        for line in _lines(path):
            line = line.strip().strip('\0')
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue  # torn by a kill
            if not isinstance(d, dict) or not isinstance(d.get('unit'), str):
                raise UserError(f'{path}: a line that is not a tile record; remove {work} to start over')
            if 'end' in d:
                ends[d['unit']] = d
            elif isinstance(d.get('name'), str):
                recs[d['name']] = d
    return recs, ends


def _score_units(todo: list[Unit], req: CurateRequest, rule: FrameRule, work: str, log: str, hashes: bool,
                 result: CurateResult, progress: Optional[Progress]) -> None:
    tiles_dir = os.path.join(work, 'tiles')
    os.makedirs(tiles_dir, exist_ok=True)
    _remove_dead_temps(tiles_dir)
    jobs = [(u, req, rule, tiles_dir, hashes) for u in todo]
    from ..metrics.noref import SCORES
    # CUDA does not survive a fork: torch scorers (NIQE, PIQE, pyiqa's) on a GPU run in this process, in batches
    on_gpu = _device(req).type == 'cuda' and any(s not in SCORES for s in req.score)
    if req.workers > 1 and len(jobs) > 1 and not on_gpu:
        pool = get_context('fork').Pool(req.workers, initializer=_init_worker)
        results = pool.imap(_work, jobs)
    else:
        pool, results = None, map(_work, jobs)
    try:
        with open(log, 'a') as f:
            if f.tell():
                f.write('\n')  # a kill may have torn the last line
            if progress:
                progress('tiles', 0, len(jobs))
            for k, (key, recs, failure, skip) in enumerate(results, 1):
                if recs is None:  # out of memory: no end line, so the unit is redone
                    result.failed.append(failure)
                    continue
                end = {'unit': key, 'end': len(recs)}
                if failure:
                    end['failed'] = failure
                    result.failed.append(failure)
                if skip:
                    end['skipped'] = skip
                    result.skipped.append(skip)
                # one write: a kill leaves the unit either done or to redo
                f.write(''.join(json.dumps(r) + '\n' for r in recs) + json.dumps(end) + '\n')
                f.flush()
                result.tiles += len(recs)
                if progress:
                    progress('tiles', k, len(jobs))
    finally:
        if pool:
            pool.terminate()


# ---------------------------------------------------------------- phase 2: decisions and output


def _quality_order(names: list[str], records: dict[str, dict], scorers: dict[str, bool]) -> list[int]:
    """Tile indices best first: the mean, over the run's scores, of each tile's rank in the
    better direction (a score a tile lacks counts as its worst); ties by name."""
    n = len(names)
    if not scorers or not n:
        return list(range(n))
    total = np.zeros(n)
    for s, lower_better in scorers.items():
        v = np.array([records[nm]['scores'].get(s) for nm in names], dtype=np.float64)
        v = np.where(np.isnan(v), np.inf if lower_better else -np.inf, v)
        order = np.argsort(v if lower_better else -v, kind='stable')
        rank = np.empty(n)
        rank[order] = np.arange(n)
        total += rank
    return sorted(range(n), key=lambda i: (total[i], names[i]))


def _decide(records: dict[str, dict], rules: list[Rule], dedup: Optional[str], distance: Optional[int],
            lower_better: dict[str, bool]) -> tuple[list[dict], dict[str, float]]:
    """The manifest's lines (sorted by name) with ``kept``/``reason`` (and ``duplicate_of``)."""
    from .dedup import keep_best
    names = sorted(records)
    scores = [{k: (math.nan if v is None else v) for k, v in records[nm]['scores'].items()} for nm in names]
    kept, reasons, thresholds = decide(rules, scores)
    lines = [dict(records[nm], kept=k, reason=r or 'kept') for nm, k, r in zip(names, kept, reasons)]
    if dedup is not None:
        order = [i for i in _quality_order(names, records, lower_better) if kept[i]]
        exact = [records[nm]['sha256'] for nm in names]
        hashes = [int(records[nm]['phash'], 16) for nm in names] if distance is not None else None
        for t, (orig, d) in keep_best(order, exact, hashes, distance or 0).items():
            lines[t].update(kept=False, duplicate_of=names[orig],
                            reason=f'duplicate of {names[orig]}' + (' (same pixels)' if exact[t] == exact[orig]
                                                                    else f' (phash distance {d})'))
    for ln in lines:
        ln.pop('unit', None)
    return lines, thresholds


def _finish(req: CurateRequest, out: str, work: str, lmdb: bool, rules: list[Rule], distance: Optional[int],
            records: dict[str, dict], ends: dict[str, dict], result: CurateResult,
            progress: Optional[Progress]) -> None:
    from .scoring import lower_better
    lines, thresholds = _decide(records, rules, req.dedup, distance, lower_better(req.score))
    result.thresholds = thresholds
    result.kept = sum(ln['kept'] for ln in lines)
    for ln in lines:
        if not ln['kept']:
            why = 'duplicate' if 'duplicate_of' in ln else ln['reason'].split(' ', 1)[0]
            result.dropped[why] = result.dropped.get(why, 0) + 1
    tiles_dir = os.path.join(work, 'tiles')
    kept = [ln['name'] for ln in lines if ln['kept']]
    if lmdb:
        from ..data.lmdb_writer import make_lmdb
        kept_dir = os.path.join(work, 'kept')
        os.makedirs(kept_dir, exist_ok=True)
        for i, nm in enumerate(kept):
            if os.path.exists(os.path.join(tiles_dir, nm)):
                os.replace(os.path.join(tiles_dir, nm), os.path.join(kept_dir, nm))
        if progress:
            progress('pack', 0, 1)
        from ..data.storage import INCOMPLETE_MARKER
        packed = os.path.isfile(os.path.join(out, 'meta_info.txt')) and not os.path.exists(
            os.path.join(out, INCOMPLETE_MARKER))
        if kept and not packed:  # resumes an interrupted pack of the same folder
            make_lmdb(kept_dir, out)
        make_output_dir(out)
        shutil.copyfile(os.path.join(work, 'run.json'), os.path.join(out, 'run.json'))
        if progress:
            progress('pack', 1, 1)
        where = [tiles_dir, kept_dir]
    else:
        where = [tiles_dir, out]  # a finish killed half-way has moved some kept tiles already
    if req.report:
        from .report import write_report
        result.report = write_report(out, lines, where, req, thresholds, ends)
    if not lmdb:
        for i, nm in enumerate(kept):
            src = os.path.join(tiles_dir, nm)
            if os.path.exists(src):
                os.replace(src, os.path.join(out, nm))
            if progress:
                progress('keep', i + 1, len(kept))
        # Real-ESRGAN's meta_info: one path per line, relative to the folder
        atomic_write_text(os.path.join(out, 'meta_info.txt'), ''.join(nm + '\n' for nm in kept))
    left = sorted((e for e in ends.values() if 'failed' in e or 'skipped' in e), key=lambda e: e['unit'])
    atomic_write_text(os.path.join(out, 'left_out.jsonl'), ''.join(json.dumps(e) + '\n' for e in left))
    atomic_write_text(os.path.join(out, 'manifest.jsonl'), ''.join(json.dumps(ln) + '\n' for ln in lines))
    shutil.rmtree(work, ignore_errors=True)
    result.finished = True


def _complete_counts(out: str, result: CurateResult) -> None:
    from ..utils.fileio import read_jsonl
    if os.path.isfile(os.path.join(out, 'left_out.jsonl')):  # a rerun reports what the run left out, again
        left = read_jsonl(os.path.join(out, 'left_out.jsonl'))
        result.failed = [e['failed'] for e in left if 'failed' in e]
        result.skipped = [e['skipped'] for e in left if 'skipped' in e]
    lines = read_jsonl(os.path.join(out, 'manifest.jsonl'))
    result.kept = sum(bool(ln.get('kept')) for ln in lines)
    result.tiles = len(lines)
    for ln in lines:
        if not ln.get('kept'):
            why = 'duplicate' if 'duplicate_of' in ln else str(ln.get('reason', '')).split(' ', 1)[0]
            result.dropped[why] = result.dropped.get(why, 0) + 1


def _check_no_shard_running(out: str) -> None:
    """The decisions wait for every shard: a shard still holding its lock beside ``out`` (on this
    host and alive, or on another host) would add tiles to a finished output."""
    import glob
    import socket
    from ..utils.fileio import _lock_holder, pid_alive
    base = os.path.basename(os.path.abspath(out))
    for lock in glob.glob(os.path.join(os.path.dirname(os.path.abspath(out)), f'.{glob.escape(base)}.shard-*.lock')):
        holder = _lock_holder(lock) or {}
        pid, host = holder.get('pid'), holder.get('host')
        alive = host != socket.gethostname() or (isinstance(pid, int) and pid_alive(pid))
        if holder and alive:
            raise UserError(f'{out}: a shard (pid {pid} on {host}) is still running; run this again when it is done')


def curate(req: CurateRequest, progress: Optional[Progress] = None) -> CurateResult:
    """Curate ``req.input`` into ``req.output`` (see the module and :class:`CurateRequest`).

    An unreadable image or video is reported in ``failed`` and left out; a bad request raises
    :class:`UserError` before anything is written."""
    from ..degrading import parse_shard, shard_keys
    rules, distance, rule, lmdb = _check(req)
    out = req.output.rstrip('/') or req.output
    _check_output(out, lmdb, req.input)
    units, storages = plan(req.input)
    i, n = parse_shard(req.shard)
    _scorers(req)  # a missing weight file is one line here, before anything is written
    result = CurateResult(out, (i, n), len(units), lmdb=lmdb)
    settings = _settings(req, units, lmdb, distance)
    work = out + '.parts' if lmdb else os.path.join(out, STAGING)
    tag = f'.shard-{i}-of-{n}' if n > 1 else ''
    with folder_lock(out, TOOL, tag):
        if os.path.isfile(os.path.join(out, 'manifest.jsonl')):  # complete: only the settings to compare
            _check_settings(os.path.join(out, 'run.json'), settings, out)
            shutil.rmtree(work, ignore_errors=True)  # a run killed while removing its staging folder
            result.finished = result.already_complete = True
            _complete_counts(out, result)
            return result
        if not lmdb:
            make_output_dir(out)
        make_output_dir(work)
        if not lmdb:
            _check_settings(os.path.join(out, 'run.json'), settings, out)
        _check_settings(os.path.join(work, 'run.json'), settings, out)
        records, ends = _read_scores(work)
        result.done_before = len(ends)
        mine = set(shard_keys([u.key for u in units], i, n))
        todo = [u for u in units if u.key in mine and u.key not in ends]
        _STORAGES.clear()
        _STORAGES.update(storages)
        log = os.path.join(work, 'scores.jsonl' if n == 1 else f'scores.{i}-of-{n}.jsonl')
        _score_units(todo, req, rule, work, log, distance is not None, result, progress)
        records, ends = _read_scores(work)
        result.failed = sorted({e['failed'] for e in ends.values() if 'failed' in e})
        result.skipped = sorted({e['skipped'] for e in ends.values() if 'skipped' in e})
        done = {u.key for u in units} & set(ends)
        result.waiting = len(units) - len(done)
        counted = done & mine if n > 1 else done  # a shard reports its own part
        result.tiles = sum(1 for r in records.values() if r['unit'] in counted)
        if n > 1 or result.waiting:
            return result
        _check_no_shard_running(out)
        records = {k: r for k, r in records.items() if r['unit'] in done}
        _finish(req, out, work, lmdb, rules, distance, records, ends, result, progress)
        return result
