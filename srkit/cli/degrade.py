"""srkit-degrade: build an LR set from HR images with a degradation pipeline.

  srkit-degrade --input HR_DIR|X.lmdb --output OUT_DIR|Y.lmdb
                --method bicubic|bsrgan|bsrgan_plus|realesrgan|sensor_noise|jpeg|dsgan
                --scale 4 --seed S [--workers N] [--preset NAME|FILE.yml] [--shard i/n]
                [--model G.pth --mode sdsr|tdsr --tile 512] [--hr-output HR_DIR]

- Each image gets its own seed, derived from ``--seed`` and the image's name, so
  the output does not depend on ``--workers`` or ``--shard``.
- ``OUT_DIR/manifest.jsonl`` (``manifest.<i>-of-<n>.jsonl`` for a shard) holds
  one line per image: name, seed, and every drawn parameter;
  ``srkit.cli.degrade.replay(line, hr)`` reproduces that image.
- A re-run skips images already in the manifest. Images are written
  atomically, so a killed run leaves no truncated file.
- An unreadable input is reported and skipped; the exit status is then 1.
- Under torchrun, RANK/WORLD_SIZE pick the shard automatically.
- A ``.lmdb`` output is staged as images in ``Y.lmdb.parts/`` and packed into
  BasicSR's LMDB layout (with ``manifest.jsonl`` inside) when all images are
  done; shards stage, and a final unsharded run of the same command packs.
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


_GENERATORS: dict = {}  # checkpoint path -> generator, loaded once per process (forked workers share it)


def load_dsgan_generator(path: str):
    """A DSGAN generator for inference from any srkit or authors' checkpoint (CPU, eval mode)."""
    if path not in _GENERATORS:
        from ..archs.detect import load_generator
        net, cfg, _ = load_generator(path)
        if cfg['type'] != 'DSGANGenerator':
            raise UserError(f'--model {path}: a {cfg["type"]}, not a DSGAN generator (DSGANGenerator)')
        for p in net.parameters():
            p.requires_grad_(False)
        _GENERATORS[path] = net
    return _GENERATORS[path]


def _degrade_one(job):
    key, root, backend, method, scale, seed, kwargs, out_dir = job
    from degradations import build_pipeline
    from ..data.storage import open_storage
    from ..utils.imgio import write_image
    kwargs = dict(kwargs)
    hr_dir = kwargs.pop('hr_output', None)
    model = kwargs.pop('model', None)
    if model:  # a path in the job, the network from this process's cache
        kwargs['generator'] = load_dsgan_generator(model)
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
        try:
            lr, hr_out, params = build_pipeline(method, **kwargs)(hr, scale, np.random.default_rng(s))
        except ValueError as e:  # an image the pipeline cannot take (too small for its crop, ...)
            raise DataError(f'{st.describe(key)}: {e}') from None
        if model:
            params.update(model=os.path.abspath(model), tile=kwargs['tile'])
        if hr_dir:  # the HR the LR pairs with (DSGAN's TDSR cleans it up), written first
            write_image(os.path.join(hr_dir, f'{key}.png'), np.clip(hr_out, 0, 1))
        write_image(os.path.join(out_dir, f'{key}.png'), np.clip(lr, 0, 1))
        return {'name': f'{key}.png', 'key': key, 'seed': s, 'hr_size': [int(hr.shape[0]), int(hr.shape[1])],
                'params': params}
    except DataError as e:
        return {'key': key, 'error': str(e)}


_STORAGE: dict = {}


def _init_worker():
    # the processes are the parallelism; one torch thread each keeps them off each other's cores
    import torch
    torch.set_num_threads(1)


def replay(line: dict, hr: np.ndarray, method: str | None = None, kwargs: dict | None = None) -> np.ndarray:
    """Rebuild one LR image from its manifest line and its HR ``(H,W,3) RGB float32``."""
    from degradations import build_pipeline
    p = line['params']
    method = method or p['method']
    kwargs = dict(kwargs or {})
    if method == 'dsgan' and 'generator' not in kwargs:  # the manifest names the generator file
        kwargs.update(generator=load_dsgan_generator(p['model']), mode=p['mode'], tile=p['tile'])
    h, w = line['hr_size']
    lr, _, _ = build_pipeline(method, **kwargs)(hr[:h, :w], p['scale'], np.random.default_rng(line['seed']))
    return np.clip(lr, 0, 1)


def _read_manifest(path: str) -> dict[str, dict]:
    from ..utils.fileio import read_jsonl
    return {d['key']: d for d in read_jsonl(path)}  # an image whose line a kill tore is redone


@cli_entry('srkit-degrade')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-degrade', description=__doc__.split('\n')[0])
    ap.add_argument('--input', required=True, help='HR folder or .lmdb')
    ap.add_argument('--output', required=True, help='LR folder, or Y.lmdb')
    ap.add_argument('--method', default=None,
                    help='bicubic, bsrgan, bsrgan_plus, realesrgan, sensor_noise, jpeg, dsgan')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=1)
    ap.add_argument('--preset', default=None,
                    help='a shipped preset (bicubic, bsrgan, bsrgan_plus, realesrgan, dsgan_sensor_noise, dsgan_jpeg) '
                         'or a YAML file {type: METHOD, option: value, ...}')
    ap.add_argument('--shard', default=None, help='i/n: process every n-th image from the i-th')
    ap.add_argument('--model', default=None, help='generator checkpoint for --method dsgan')
    ap.add_argument('--mode', choices=['sdsr', 'tdsr'], default=None,
                    help='dsgan: sdsr (HR = the input) or tdsr (HR = the input bicubic-downscaled by 2)')
    ap.add_argument('--tile', type=int, default=512, help='dsgan: tile size for large images')
    ap.add_argument('--hr-output', default=None,
                    help='also write the HR each LR pairs with here (needed for --mode tdsr, which changes it)')
    a = ap.parse_args(argv)
    lmdb_out = a.output.rstrip('/') if a.output.rstrip('/').endswith('.lmdb') else None
    from degradations import PIPELINES, check_options, load_preset
    from ..data.storage import open_storage
    kwargs = {}
    if a.preset:
        try:
            kwargs = load_preset(a.preset)
        except ValueError as e:
            raise UserError(f'--preset {e}') from None
        method = kwargs.pop('type')
        if a.method not in (None, method):
            raise UserError(f'--method {a.method}: the preset {a.preset} is for {method}')
        a.method = method
    if a.method is None:
        raise UserError('--method or --preset is required')
    if a.method not in PIPELINES:
        raise UserError(f'--method {a.method}: unknown (known: {", ".join(sorted(PIPELINES))})')
    if a.method == 'dsgan':
        if not a.model:
            raise UserError('--method dsgan: --model G.pth (a trained DSGAN generator) is required')
        if (a.mode or 'sdsr') == 'tdsr' and not a.hr_output:
            raise UserError('--mode tdsr: the HR images change (bicubic x1/2), so give --hr-output DIR for them')
        load_dsgan_generator(a.model)  # a bad file fails here, once, before any work
        kwargs.update(mode=a.mode or 'sdsr', tile=a.tile)
    elif a.model or a.mode:
        raise UserError(f'--model/--mode: only for --method dsgan, not {a.method}')
    try:
        check_options(a.method, kwargs)
    except KeyError as e:
        raise UserError(f'--preset {e.args[0]}') from None
    if a.method == 'dsgan':
        kwargs['model'] = a.model
    if a.hr_output:
        os.makedirs(a.hr_output, exist_ok=True)
        kwargs['hr_output'] = a.hr_output
    if a.scale < 1:
        raise UserError('--scale: must be >= 1')
    i, n = parse_shard(a.shard)
    backend = 'lmdb' if a.input.rstrip('/').endswith('.lmdb') else 'disk'
    try:
        st = open_storage(a.input, backend)
    except DataError as e:
        raise UserError(str(e)) from None
    if lmdb_out and _lmdb_complete(lmdb_out, st.keys):
        _check_run_settings(lmdb_out, a.method, a.scale, a.seed, kwargs, record=False)
        print(f'{lmdb_out}: already complete ({len(st.keys)} LR images)')
        return 0
    out_dir = lmdb_out + '.parts' if lmdb_out else a.output  # LMDB output: stage images, then pack
    os.makedirs(out_dir, exist_ok=True)
    mine = shard_keys(st.keys, i, n)
    # temp files of this shard's writes that a kill interrupted (other shards may be writing theirs)
    prefixes = tuple(f'.{k}.png.' for k in mine)
    for f in os.listdir(out_dir):
        if f.endswith('.tmp') and f.startswith(prefixes):
            os.unlink(os.path.join(out_dir, f))
    _check_run_settings(out_dir, a.method, a.scale, a.seed, kwargs)
    manifest = os.path.join(out_dir, 'manifest.jsonl' if n == 1 else f'manifest.{i}-of-{n}.jsonl')
    # seeds do not depend on the shard, so an unsharded run counts what shards already made
    done = _read_manifests(out_dir) if n == 1 else _read_manifest(manifest)
    done = {k: v for k, v in done.items() if k in set(mine)}
    keys = [k for k in mine if k not in done]
    jobs = [(k, a.input, backend, a.method, a.scale, a.seed, kwargs, out_dir) for k in keys]
    failed = []
    pool = get_context('fork').Pool(a.workers, initializer=_init_worker) if a.workers > 1 else None
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
    print(f'{len(jobs) - len(failed)} LR image(s) written to {out_dir}{shard}, '
          f'{len(done)} already done' + (f', {len(failed)} failed:' if failed else ''))
    for f in failed:
        print(f'  {f}', file=sys.stderr)
    if lmdb_out and not failed:
        if n > 1:
            print(f'shard {i}/{n} staged in {out_dir}; when every shard has finished, run the same command '
                  f'without --shard to pack {lmdb_out}')
        else:
            _pack_lmdb(out_dir, lmdb_out)
    return 1 if failed else 0


def _run_settings(method, scale, seed, kwargs) -> dict:
    opts = {k: v for k, v in kwargs.items() if k not in ('hr_output', 'model')}
    out = {'method': method, 'scale': scale, 'seed': seed, 'options': json.loads(json.dumps(opts, sort_keys=True))}
    if kwargs.get('model'):  # the generator's bytes, not its path: a retrained file is another run
        with open(kwargs['model'], 'rb') as f:
            out['model_sha256'] = hashlib.sha256(f.read()).hexdigest()
    return out


def _check_run_settings(out_dir: str, method, scale, seed, kwargs, record: bool = True) -> None:
    """A resumed run must be the same run: the settings are kept in ``run.json``, and other
    settings are refused rather than mixed into the images already there."""
    from ..utils.fileio import atomic_write_bytes
    path = os.path.join(out_dir, 'run.json')
    now = _run_settings(method, scale, seed, kwargs)
    if os.path.exists(path):
        with open(path) as f:
            before = json.load(f)
        for k in ('method', 'scale', 'seed', 'options', 'model_sha256'):
            if before.get(k) != now.get(k):
                what = 'the --model file' if k == 'model_sha256' else f'{k} {before.get(k)!r} (now {now.get(k)!r})'
                raise UserError(f'{out_dir}: holds images made with another {what}; '
                                'use another --output or delete that one')
    elif record:
        atomic_write_bytes(path, json.dumps(now, indent=1, sort_keys=True).encode())


def _read_manifests(folder: str) -> dict[str, dict]:
    done: dict[str, dict] = {}
    for f in sorted(os.listdir(folder)):
        if f.startswith('manifest') and f.endswith('.jsonl'):
            done.update(_read_manifest(os.path.join(folder, f)))
    return done


def _lmdb_complete(path: str, keys) -> bool:
    from ..data.storage import INCOMPLETE_MARKER
    if not os.path.exists(os.path.join(path, 'meta_info.txt')) or os.path.exists(os.path.join(path, INCOMPLETE_MARKER)):
        return False
    m = os.path.join(path, 'manifest.jsonl')
    return os.path.exists(m) and set(keys) <= set(_read_manifest(m))


def _pack_lmdb(staging: str, lmdb_path: str) -> None:
    """Pack the staged LR images into a BasicSR-layout LMDB (resumable), put the
    manifest beside its meta_info.txt, then drop the staging folder."""
    import shutil
    from ..data.lmdb_writer import make_lmdb
    from ..utils.fileio import atomic_write_text
    stats = make_lmdb(staging, lmdb_path)
    lines = sorted(_read_manifests(staging).values(), key=lambda d: d['key'])
    atomic_write_text(os.path.join(lmdb_path, 'manifest.jsonl'), ''.join(json.dumps(d) + '\n' for d in lines))
    if os.path.exists(os.path.join(staging, 'run.json')):
        shutil.copyfile(os.path.join(staging, 'run.json'), os.path.join(lmdb_path, 'run.json'))
    shutil.rmtree(staging)
    print(f'{lmdb_path}: {stats["total"]} LR images packed (BasicSR LMDB layout, manifest.jsonl inside)')


if __name__ == '__main__':
    main()
