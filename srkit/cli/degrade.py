"""srkit-degrade: build an LR set from HR images with a degradation pipeline.

  srkit-degrade --input HR_DIR|X.lmdb --output OUT_DIR --method bicubic|bsrgan|sensor_noise|jpeg
                --scale 4 --seed S [--workers N] [--preset FILE.yml] [--shard i/n]

- Each image gets its own seed, derived from ``--seed`` and the image's name, so
  the output does not depend on ``--workers`` or ``--shard``.
- ``OUT_DIR/manifest.jsonl`` (``manifest.<i>-of-<n>.jsonl`` for a shard) holds
  one line per image: name, seed, and every drawn parameter;
  ``srkit.cli.degrade.replay(line, hr)`` reproduces that image.
- A re-run skips images already in the manifest. Images are written
  atomically, so a killed run leaves no truncated file.
- An unreadable input is reported and skipped; the exit status is then 1.
- Under torchrun, RANK/WORLD_SIZE pick the shard automatically.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from multiprocessing import get_context

import numpy as np
from tqdm import tqdm

from ..errors import DataError, UserError, cli_entry


def image_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the run seed and the image name (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f'{seed}:{key}'.encode()).digest()[:8], 'little') >> 1


def parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        rank, world = int(os.environ.get('RANK', '0')), int(os.environ.get('WORLD_SIZE', '1'))
        return rank, world
    try:
        i, n = (int(x) for x in text.split('/'))
    except ValueError:
        raise UserError(f'--shard {text}: expected i/n, e.g. 0/4') from None
    if not 0 <= i < n:
        raise UserError(f'--shard {text}: need 0 <= i < n')
    return i, n


def shard_keys(keys: list[str], i: int, n: int) -> list[str]:
    """Every n-th key from i: the shards are disjoint and together cover all keys."""
    return sorted(keys)[i::n]


def _degrade_one(job):
    key, root, backend, method, scale, seed, kwargs, out_dir = job
    from degradations import build_pipeline
    from ..data.storage import open_storage
    from ..utils.imgio import write_image
    try:
        st = _STORAGE.get(root)
        if st is None:  # one storage handle per worker process
            st = _STORAGE[root] = open_storage(root, backend)
        hr = st.read(key)
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        if min(hr.shape[:2]) < scale:
            raise DataError(f'{st.describe(key)}: image {h}x{w} is smaller than the scale {scale}')
        s = image_seed(seed, key)
        lr, params = build_pipeline(method, **kwargs)(hr, scale, np.random.default_rng(s))
        write_image(os.path.join(out_dir, f'{key}.png'), np.clip(lr, 0, 1))
        return {'name': f'{key}.png', 'key': key, 'seed': s, 'hr_size': [int(hr.shape[0]), int(hr.shape[1])],
                'params': params}
    except DataError as e:
        return {'key': key, 'error': str(e)}


_STORAGE: dict = {}


def replay(line: dict, hr: np.ndarray, method: str | None = None, kwargs: dict | None = None) -> np.ndarray:
    """Rebuild one LR image from its manifest line and its HR ``(H,W,3) RGB float32``."""
    from degradations import build_pipeline
    method = method or line['params']['method']
    scale = line['params']['scale']
    h, w = line['hr_size']
    lr, _ = build_pipeline(method, **(kwargs or {}))(hr[:h, :w], scale, np.random.default_rng(line['seed']))
    return np.clip(lr, 0, 1)


def _read_manifest(path: str) -> dict[str, dict]:
    from ..utils.fileio import read_jsonl
    return {d['key']: d for d in read_jsonl(path)}  # an image whose line a kill tore is redone


@cli_entry('srkit-degrade')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-degrade', description=__doc__.split('\n')[0])
    ap.add_argument('--input', required=True, help='HR folder or .lmdb')
    ap.add_argument('--output', required=True, help='LR folder')
    ap.add_argument('--method', required=True, help='bicubic, bsrgan, sensor_noise, jpeg')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=1)
    ap.add_argument('--preset', default=None, help='YAML of pipeline keyword arguments')
    ap.add_argument('--shard', default=None, help='i/n: process every n-th image from the i-th')
    ap.add_argument('--model', default=None, help='generator checkpoint for --method dsgan')
    a = ap.parse_args(argv)
    if a.method == 'dsgan':
        raise UserError('--method dsgan: learned degradation is not available yet in this srkit version')
    if a.output.rstrip('/').endswith('.lmdb'):
        raise UserError(f'--output {a.output}: write LR images to a folder, then run srkit-lmdb on it')
    from degradations import PIPELINES
    from ..data.storage import open_storage
    from ..options import read_yaml
    if a.method not in PIPELINES:
        raise UserError(f'--method {a.method}: unknown (known: {", ".join(sorted(PIPELINES))})')
    if a.scale < 1:
        raise UserError('--scale: must be >= 1')
    kwargs = read_yaml(a.preset) if a.preset else {}
    i, n = parse_shard(a.shard)
    backend = 'lmdb' if a.input.rstrip('/').endswith('.lmdb') else 'disk'
    try:
        st = open_storage(a.input, backend)
    except DataError as e:
        raise UserError(str(e)) from None
    os.makedirs(a.output, exist_ok=True)
    mine = shard_keys(st.keys, i, n)
    # temp files of this shard's writes that a kill interrupted (other shards may be writing theirs)
    prefixes = tuple(f'.{k}.png.' for k in mine)
    for f in os.listdir(a.output):
        if f.endswith('.tmp') and f.startswith(prefixes):
            os.unlink(os.path.join(a.output, f))
    manifest = os.path.join(a.output, 'manifest.jsonl' if n == 1 else f'manifest.{i}-of-{n}.jsonl')
    done = _read_manifest(manifest)
    keys = [k for k in mine if k not in done]
    jobs = [(k, a.input, backend, a.method, a.scale, a.seed, kwargs, a.output) for k in keys]
    failed = []
    pool = get_context('fork').Pool(a.workers) if a.workers > 1 else None
    results = pool.imap(_degrade_one, jobs, chunksize=2) if pool else map(_degrade_one, jobs)
    try:
        with open(manifest, 'a') as mf:
            for r in tqdm(results, total=len(jobs), desc=f'degrade {a.method}', unit='img', disable=None):
                if 'error' in r:
                    failed.append(r['error'])
                    continue
                mf.write(json.dumps(r) + '\n')
                mf.flush()
    finally:
        if pool:
            pool.terminate()
    shard = f' (shard {i}/{n})' if n > 1 else ''
    print(f'{len(jobs) - len(failed)} LR image(s) written to {a.output}{shard}, '
          f'{len(done)} already done' + (f', {len(failed)} failed:' if failed else ''))
    for f in failed:
        print(f'  {f}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    main()
