"""srkit-lmdb: write an image folder to LMDB in BasicSR's layout, or verify one.

  srkit-lmdb --input DIR --output NAME.lmdb [--workers N] [--compress-level 1] [--verify]
  srkit-lmdb --output NAME.lmdb --verify          (check an existing LMDB)

An interrupted build is resumed by re-running the same command; until it
finishes, srkit refuses to read the LMDB (BasicSR finds no meta_info.txt).
"""
from __future__ import annotations

import argparse
import sys

from ..errors import cli_entry


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-lmdb', description=__doc__.split('\n')[0])
    ap.add_argument('--input', help='folder of images (png, jpg, bmp, tif, webp)')
    ap.add_argument('--output', required=True, help='NAME.lmdb')
    ap.add_argument('--workers', type=int, default=1, help='processes reading and encoding images')
    ap.add_argument('--compress-level', type=int, default=1, choices=range(10), metavar='0-9',
                    help='PNG compression level stored in the LMDB (BasicSR uses 1)')
    ap.add_argument('--verify', action='store_true', help='decode every record afterwards and report bad ones')
    return ap


@cli_entry('srkit-lmdb')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..degrading import build_lmdb
    from ..utils.device import cap_workers
    from ..utils.naming import field_names
    from .common import Bars, flags
    workers, note = cap_workers(a.workers, '--workers') if a.input is not None else (a.workers, None)
    if note:
        print(f'srkit-lmdb: {note}', file=sys.stderr)
    with field_names(flags(ap)), Bars(lmdb={'dynamic_ncols': True}, verify={'dynamic_ncols': True}) as bars:
        r = build_lmdb(a.input, a.output, workers, a.compress_level, a.verify, bars)
    for path in r.not_files:
        print(f'srkit-lmdb: skipped {path}: not a regular file (a device, FIFO or socket)', file=sys.stderr)
    if r.total is not None:
        resumed = f', {r.resumed} already there (resumed)' if r.resumed else ''
        print(f'{a.output}: {r.total} images ({r.written} written{resumed})')
    for b in r.bad:
        print(f'bad record: {b}', file=sys.stderr)
    if r.bad:
        print(f'{a.output}: {len(r.bad)} bad record(s)', file=sys.stderr)
        return 1
    if r.verified:
        print(f'{a.output}: verified, every record decodes')
    return 0


if __name__ == '__main__':
    main()
