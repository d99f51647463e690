"""Write image folders to LMDB in BasicSR's layout, resumably.

Layout: ``NAME.lmdb/data.mdb``, ``lock.mdb`` and ``meta_info.txt`` whose lines
read ``name.png (h,w,c) compress_level``; keys are file stems and values are
PNG bytes.  While a build runs, ``NAME.lmdb/.srkit-incomplete`` records what
is being built; readers refuse such an LMDB, and a re-run with the same input
resumes it (records are committed in chunks, so every committed key is whole).
``meta_info.txt`` is written last, atomically.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Callable, Optional

import cv2

from ..errors import DataError, UserError
from ..utils.fileio import atomic_write_text, make_output_dir, read_jsonl, safe_name
from ..utils.imgio import imdecode, is_regular, list_images, looks_truncated, quiet_cv2, read_bytes
from .storage import INCOMPLETE_MARKER, read_meta_info


@dataclass
class Record:
    key: str
    name: str
    png: bytes
    shape: tuple  # (h, w, c)


def encode_record(args) -> Record:
    """Read and re-encode one image as PNG (runs in worker processes)."""
    path, level = args
    quiet_cv2()
    data = read_bytes(path)
    img = imdecode(data, path)
    if img is None:
        raise DataError(f'{path}: cannot decode image (unreadable, truncated or not an image)')
    if looks_truncated(data):
        raise DataError(f'{path}: truncated image (JPEG without end marker)')
    ok, buf = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise DataError(f'{path}: cannot encode as PNG')
    h, w = img.shape[:2]
    c = 1 if img.ndim == 2 else img.shape[2]
    name = os.path.basename(path)
    return Record(os.path.splitext(name)[0], name, buf.tobytes(), (h, w, c))


def check_key_name(name: str, folder: str) -> None:
    """Keys are UTF-8 file stems, one per meta_info line: a name that is not valid UTF-8 (a
    file system may hold any bytes) or holds a line break cannot be a key; refuse it by name."""
    try:
        name.encode('utf-8')
    except UnicodeEncodeError:
        shown = name.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')
        raise DataError(f'{os.path.join(folder, shown)}: the file name is not valid UTF-8; '
                        'rename it (LMDB keys and meta_info.txt are UTF-8)') from None
    if '\n' in name or '\r' in name:
        raise DataError(f'{os.path.join(folder, name)!r}: a line break in the file name cannot be a '
                        'meta_info.txt line; rename it')


def _put_growing(env, items: list[tuple[bytes, bytes]]) -> None:
    """Commit ``items`` in one transaction (and sync it), doubling the map until they fit.  A
    commit the disk refuses (full: LMDB says ``Input/output error``) is one line; the keys
    committed before stay, and a re-run resumes after them."""
    import lmdb
    while True:
        try:
            with env.begin(write=True) as txn:
                for k, v in items:
                    txn.put(k, v)
            env.sync(True)
            return
        except lmdb.MapFullError:
            env.set_mapsize(env.info()['map_size'] * 2)
        except lmdb.Error as e:
            import shutil
            folder = env.path()
            if shutil.disk_usage(folder).free < sum(len(v) for _, v in items) + (64 << 20):
                raise UserError(f'no space left on {folder} (an LMDB commit failed: {e}); free some space '
                                'and run the same command again to resume') from None
            raise UserError(f'{folder}: an LMDB commit failed ({e})') from None


def make_lmdb(input_dir: str, output: str, workers: int = 1, compress_level: int = 1,
              chunk: int = 16, progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Build (or resume building) ``output`` from the images in ``input_dir``.

    Returns ``{'written': n_new, 'skipped': n_already_there, 'total': n, 'not_files': [path]}``,
    the last the image-named entries that are no regular file (devices, FIFOs), left out.
    Raises :class:`UserError` if ``output`` is a finished LMDB or belongs to
    another build, and :class:`DataError` naming the first unreadable image.
    """
    import lmdb
    names = list_images(input_dir)
    # a device, FIFO or socket named like an image would block or never end: skipped, and reported
    special = [n for n in names if not is_regular(os.path.join(input_dir, n))]
    names = [n for n in names if n not in special]
    if not names:
        raise DataError(f'{input_dir}: no images found')
    stems = {}
    for n in names:
        check_key_name(n, input_dir)
        s = os.path.splitext(n)[0]
        if s in stems:
            raise DataError(f'{input_dir}: two images share the key {s!r} ({stems[s]} and {n})')
        stems[s] = n
    if not output.endswith('.lmdb'):
        raise UserError(f'{output}: the output name must end with .lmdb')
    marker = os.path.join(output, INCOMPLETE_MARKER)
    job = {'input': os.path.abspath(input_dir), 'compress_level': compress_level}
    if os.path.exists(output):
        if os.path.exists(marker):
            with open(marker) as f:
                prev = json.load(f)
            if prev.get('input') != job['input'] or prev.get('compress_level') != compress_level:
                raise UserError(f'{output}: an interrupted build of {prev.get("input")} '
                                f'(compress level {prev.get("compress_level")}) is there; '
                                'remove it or re-run with the same input and options')
        elif os.listdir(output):
            raise UserError(f'{output}: already exists; remove it first')
    make_output_dir(output)
    atomic_write_text(marker, json.dumps(job))

    # A first guess from the input size; _put_growing doubles it when needed.
    total_bytes = sum(os.path.getsize(os.path.join(input_dir, n)) for n in names)
    env = lmdb.open(output, map_size=max(64 << 20, total_bytes * 4), meminit=False, map_async=False)
    try:
        with env.begin() as txn:
            done = {k.decode('utf-8') for k, _ in txn.cursor()} if txn.stat()['entries'] else set()
        shapes_path = os.path.join(output, '.srkit-shapes.jsonl')
        shapes = {d['key']: (d['name'], tuple(d['shape'])) for d in read_jsonl(shapes_path) if d['key'] in done}
        # a key whose shape line was lost is simply re-encoded
        todo = [n for n in names if os.path.splitext(n)[0] not in shapes]
        skipped = len(names) - len(todo)
        jobs = [(os.path.join(input_dir, n), compress_level) for n in todo]
        ctx = get_context('fork' if os.name == 'posix' else 'spawn')
        pool = ctx.Pool(workers) if workers > 1 else None
        it = pool.imap(encode_record, jobs, chunksize=4) if pool else map(encode_record, jobs)
        batch: list[Record] = []
        count = skipped
        try:
            with open(shapes_path, 'a') as shape_log:
                def flush():
                    _put_growing(env, [(r.key.encode('utf-8'), r.png) for r in batch])
                    for r in batch:
                        shape_log.write(json.dumps({'key': r.key, 'name': r.name, 'shape': r.shape}) + '\n')
                        shapes[r.key] = (r.name, r.shape)
                    shape_log.flush()
                    batch.clear()

                for rec in it:
                    batch.append(rec)
                    count += 1
                    if progress:
                        progress(count, len(names))
                    if len(batch) >= chunk:
                        flush()
                if batch:
                    flush()
        finally:
            if pool:
                pool.terminate()
        lines = []
        for n in names:
            name, (h, w, c) = shapes[os.path.splitext(n)[0]]
            lines.append(f'{name} ({h},{w},{c}) {compress_level}\n')
        atomic_write_text(os.path.join(output, 'meta_info.txt'), ''.join(lines))
    finally:
        env.close()
    os.unlink(os.path.join(output, '.srkit-shapes.jsonl'))
    os.unlink(marker)
    return {'written': len(todo), 'skipped': skipped, 'total': len(names),
            'not_files': [os.path.join(input_dir, n) for n in special]}


def verify_lmdb(path: str, progress: Optional[Callable[[int, int], None]] = None) -> list[str]:
    """Decode every record of a finished LMDB; return one message per bad record."""
    import lmdb
    meta = os.path.join(path, 'meta_info.txt')
    if not os.path.exists(meta):
        raise DataError(f'{path}: no meta_info.txt (not a finished BasicSR-layout LMDB)')
    bad = []
    entries = read_meta_info(meta)
    env = lmdb.open(path, readonly=True, lock=False, readahead=False)
    try:
        with env.begin() as txn:
            for i, (key, line) in enumerate(entries):
                try:
                    safe_name(key, 'key')
                except DataError as e:
                    bad.append(str(e))
                    continue
                buf = txn.get(key.encode('utf-8'))
                if progress:
                    progress(i + 1, len(entries))
                if buf is None:
                    bad.append(f'{key}: missing record')
                    continue
                try:
                    img = imdecode(bytes(buf), key)
                except DataError as e:
                    bad.append(str(e))
                    continue
                if img is None:
                    bad.append(f'{key}: record does not decode')
                    continue
                c = 1 if img.ndim == 2 else img.shape[2]
                shape = f'({img.shape[0]},{img.shape[1]},{c})'
                if shape not in line:
                    bad.append(f'{key}: decoded shape {shape} differs from meta_info ({line})')
    finally:
        env.close()
    return bad
