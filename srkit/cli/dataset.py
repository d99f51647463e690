"""srkit-dataset: curate an SR training set: tile, score, filter, deduplicate, pack.

  srkit-dataset --input DIR|X.lmdb|VIDEO [--input ...] --output DIR|Y.lmdb [--format folder|lmdb]
                [--tile SIZE [--step STEP] [--thresh-size T] | --best-tile SIZE]
                [--score blockiness,sharpness,niqe,...] [--keep 'sharpness>p10' ...]
                [--dedup exact|phash|phash:DIST] [--frame-every N] [--scene-change T]
                [--workers N] [--shard i/n] [--device cpu|cuda] [--batch 16] [--no-report]

- ``--tile``: BasicSR ``extract_subimages``' grid (the last row and column flush with the
  border when more than ``--thresh-size`` pixels are left); ``--best-tile``: the one most
  complex tile of each image; neither: whole images.
- Scores without weights: blockiness, sharpness, noise, colourfulness, clipping, complexity,
  niqe, piqe; with their weights in the cache, any pyiqa no-reference metric by its pyiqa name.
- ``--keep`` (repeatable): ``name<value``, ``name>value``, ``name>p10`` (a percentile over all
  tiles).  ``--dedup``: exact copies, and near copies within DIST bits of a 64-bit pHash
  (default 6); the best-scored tile of each group stays.
- ``OUT/manifest.jsonl`` has one line per tile (name, source, box, scores, kept, reason);
  ``run.json`` the settings (a rerun with others is refused); ``report.html``/``report.md``.
- Safe to stop: the same command resumes.  Shards (``--shard i/n`` or torchrun's
  RANK/WORLD_SIZE) tile and score; a final run without ``--shard`` decides and writes.
  The result does not depend on ``--workers`` or the shards.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import cli_entry


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-dataset', description=__doc__.split('\n')[0])
    ap.add_argument('--input', action='append', required=True,
                    help='a folder (searched recursively), an .lmdb or a video; repeatable')
    ap.add_argument('--output', required=True, help='the curated folder, or Y.lmdb')
    ap.add_argument('--format', choices=['folder', 'lmdb'], default=None,
                    help='folder (image files) or lmdb (BasicSR layout); default: lmdb when --output ends .lmdb')
    ap.add_argument('--tile', type=int, default=None, help='tile size: BasicSR extract_subimages grid')
    ap.add_argument('--step', type=int, default=None, help='the grid step (default: --tile)')
    ap.add_argument('--thresh-size', type=int, default=0,
                    help='the last row/column flush with the border when more than this is left (BasicSR)')
    ap.add_argument('--best-tile', type=int, default=None, help='instead: the most complex tile of this size')
    ap.add_argument('--score', default='', help='comma-separated score names')
    ap.add_argument('--keep', action='append', default=[], help="e.g. 'blockiness<30' or 'sharpness>p10'; repeatable")
    ap.add_argument('--dedup', nargs='?', const='phash', default=None,
                    help='exact, phash or phash:DIST (Hamming bits of 64; default 6)')
    ap.add_argument('--frame-every', type=int, default=None, help='videos: every N-th frame (default 30)')
    ap.add_argument('--scene-change', type=float, default=None,
                    help='videos: also each frame changing by more than T mean 8-bit levels')
    ap.add_argument('--workers', type=int, default=1)
    ap.add_argument('--shard', default=None, help='i/n: tile and score every n-th image from the i-th')
    ap.add_argument('--device', default=None, help='where learned scorers run (default: a GPU if any)')
    ap.add_argument('--batch', type=int, default=16, help='tiles per batch of a learned scorer')
    ap.add_argument('--no-report', dest='report', action='store_false', help='skip report.html/report.md')
    return ap


def lines(r) -> list[str]:
    """What srkit-dataset prints for a :class:`srkit.curation.CurateResult`."""
    what = 'LMDB' if r.lmdb else 'folder'
    if r.already_complete:
        out = [f'{r.output}: already complete ({r.kept} of {r.tiles} tiles kept); nothing to do']
    elif r.finished:
        out = [f'{r.output}: {r.kept} of {r.tiles} tiles kept ({what}), from {r.units} images/videos'
               + (f' ({r.done_before} done by an earlier run)' if r.done_before else '')]
    else:
        i, n = r.shard
        out = [f'shard {i}/{n}: {r.tiles} tiles scored; {r.waiting} images/videos not done yet by any shard']
        if not r.waiting:
            out.append('every shard is done: run the same command without --shard to decide and write the output')
    if r.dropped:
        out.append('dropped: ' + ', '.join(f'{k} {v}' for k, v in sorted(r.dropped.items())))
    for t, v in r.thresholds.items():
        out.append(f'  {t}: threshold {v:.4g}')
    if r.skipped:
        out.append(f'{len(r.skipped)} images smaller than the tile, left out')
    if r.report:
        out.append(f'report: {r.report}')
    return out


@cli_entry('srkit-dataset')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..utils.hostmem import keep_freed_memory
    keep_freed_memory()  # the learned scorers' batches reuse freed memory (before the worker pool forks)
    from ..curation import CurateRequest, curate
    from ..utils.device import cap_workers
    from ..utils.naming import field_names
    from .common import Bars, flags
    a.workers, note = cap_workers(a.workers, '--workers')  # the result does not depend on the count
    if note:
        print(f'srkit-dataset: {note}', file=sys.stderr)
    a.score = [s.strip() for s in a.score.split(',') if s.strip()]
    with field_names(flags(ap)), Bars('unit') as bars:  # messages name the flags
        r = curate(CurateRequest(**vars(a)), bars)
    print('\n'.join(lines(r)))
    for f in r.failed:
        print(f'  {f}', file=sys.stderr)
    return 0 if r.ok else 1


if __name__ == '__main__':
    main()
