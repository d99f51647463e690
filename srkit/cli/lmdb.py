"""srkit-lmdb: write an image folder to LMDB in BasicSR's layout, or verify one.

  srkit-lmdb --input DIR --output NAME.lmdb [--workers N] [--compress-level 1] [--verify]
  srkit-lmdb --output NAME.lmdb --verify          (check an existing LMDB)

An interrupted build is resumed by re-running the same command; until it
finishes, srkit refuses to read the LMDB (BasicSR finds no meta_info.txt).
"""
from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from ..errors import cli_entry, UserError


def _bar(desc):
    bar = tqdm(desc=desc, unit='img', disable=None, dynamic_ncols=True)

    def cb(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()
    return bar, cb


@cli_entry('srkit-lmdb')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-lmdb', description=__doc__.split('\n')[0])
    ap.add_argument('--input', help='folder of images (png, jpg, bmp, tif, webp)')
    ap.add_argument('--output', required=True, help='NAME.lmdb')
    ap.add_argument('--workers', type=int, default=1, help='processes reading and encoding images')
    ap.add_argument('--compress-level', type=int, default=1, choices=range(10), metavar='0-9',
                    help='PNG compression level stored in the LMDB (BasicSR uses 1)')
    ap.add_argument('--verify', action='store_true', help='decode every record afterwards and report bad ones')
    a = ap.parse_args(argv)
    from ..data.lmdb_writer import make_lmdb, verify_lmdb
    from ..utils.device import cap_workers
    if a.input is None and not a.verify:
        raise UserError('--input is required (or --verify alone to check an existing LMDB)')
    if a.input is not None:
        workers, note = cap_workers(a.workers)
        if note:
            print(f'srkit-lmdb: {note}', file=sys.stderr)
        bar, cb = _bar('lmdb')
        try:
            stats = make_lmdb(a.input, a.output, workers=workers,
                              compress_level=a.compress_level, progress=cb)
        finally:
            bar.close()
        for path in stats['not_files']:
            print(f'srkit-lmdb: skipped {path}: not a regular file (a device, FIFO or socket)', file=sys.stderr)
        resumed = f', {stats["skipped"]} already there (resumed)' if stats['skipped'] else ''
        print(f'{a.output}: {stats["total"]} images ({stats["written"]} written{resumed})')
    if a.verify:
        bar, cb = _bar('verify')
        try:
            bad = verify_lmdb(a.output, progress=cb)
        finally:
            bar.close()
        if bad:
            for b in bad:
                print(f'bad record: {b}', file=sys.stderr)
            print(f'{a.output}: {len(bad)} bad record(s)', file=sys.stderr)
            return 1
        print(f'{a.output}: verified, every record decodes')
    return 0


if __name__ == '__main__':
    main()
