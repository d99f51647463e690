"""srkit-dataset against its peers, in one run: tiling against BasicSR's extract_subimages.py,
scoring against a plain pyiqa loop, and deduplicating 100,000 hashes.

  python scripts/bench/dataset.py [--images 12] [--side 1200] [--tile 480 --step 240] [--hashes 100000]

- **Tiles/s.** The same photos (bundled photos resized to ``--side``), BasicSR's own script
  (``tests/fixtures/basicsr/extract_subimages.py``, its ``worker`` called per image, PNG level 1 as
  OpenCV writes srkit's) against ``srkit-dataset --tile --step`` (one process each, no scores;
  srkit also hashes every tile and writes its manifest).  The order alternates over the rounds;
  the median time counts.
- **Scoring.** NIQE and PIQE of the same 256 px tiles: a plain loop over pyiqa's metrics (one
  tile at a time, torch's threads, as a script would) against ``srkit-dataset --score niqe,piqe`` on
  the tiles as whole images, which also hashes each one, writes it and its manifest line;
  ``--workers 1`` and ``2`` (one thread per worker), tiles/s.
- **Dedup.** ``--hashes`` 64-bit pHashes (random, 10% of them near copies within 4 bits):
  srkit's banded index at the default distance, seconds, and the copies it found.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)
PHOTOS = ['astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field', 'retina',
          'camera', 'coins', 'brick']


def make_photos(folder: str, n: int, side: int) -> None:
    import cv2
    import skimage.data
    os.makedirs(folder)
    for i in range(n):
        img = getattr(skimage.data, PHOTOS[i % len(PHOTOS)])()
        img = np.stack([img] * 3, -1) if img.ndim == 2 else img[..., :3]
        img = cv2.resize(img, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        if i >= len(PHOTOS):
            img = img[:, ::-1]
        cv2.imwrite(os.path.join(folder, f'{i:04d}.png'), np.ascontiguousarray(img[..., ::-1]))


def basicsr_worker():
    from srkit.compat import import_basicsr
    import_basicsr('basicsr.utils')  # its import of basicsr needs srkit's torchvision shim
    spec = importlib.util.spec_from_file_location(
        'extract_subimages', os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', 'extract_subimages.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.worker


def time_tiling(photos: str, work: str, tile: int, step: int, rounds: int) -> dict:
    from srkit.curation import CurateRequest, curate
    worker = basicsr_worker()
    files = sorted(os.path.join(photos, f) for f in os.listdir(photos))
    times: dict[str, list[float]] = {'BasicSR extract_subimages': [], 'srkit-dataset --tile': []}
    counts = {}
    for r in range(rounds):
        order = list(times) if r % 2 == 0 else list(times)[::-1]
        for who in order:
            out = os.path.join(work, f'tiles_{r}')
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            if who.startswith('BasicSR'):
                os.makedirs(out)
                for f in files:
                    worker(f, {'crop_size': tile, 'step': step, 'thresh_size': 0, 'save_folder': out,
                               'compression_level': 1})
            else:
                curate(CurateRequest([photos], out, tile=tile, step=step, report=False))
            times[who].append(time.perf_counter() - t0)
            counts[who] = len([f for f in os.listdir(out) if f.endswith('.png')])
            shutil.rmtree(out)
    return {who: (counts[who] / statistics.median(t), statistics.median(t)) for who, t in times.items()}


def time_scoring(photos: str, work: str, side: int) -> dict:
    import cv2
    import pyiqa
    import torch
    from srkit.curation import CurateRequest, curate
    from srkit.metrics.iqa import _basicsr_niqe_mat
    tiles_dir = os.path.join(work, 'score_tiles')
    os.makedirs(tiles_dir)
    for f in sorted(os.listdir(photos)):
        img = cv2.imread(os.path.join(photos, f))
        for k, (t, left) in enumerate([(0, 0), (0, side), (side, 0), (side, side)]):
            cv2.imwrite(os.path.join(tiles_dir, f'{f[:-4]}_{k}.png'), img[t:t + side, left:left + side])
    files = sorted(os.listdir(tiles_dir))
    out = {}
    niqe = pyiqa.create_metric('niqe', pretrained_model_path=_basicsr_niqe_mat(), color_space='ycbcr', device='cpu')
    piqe = pyiqa.create_metric('piqe', device='cpu')
    with torch.no_grad():  # first calls (lazy set-up) outside the timing, on both sides
        warm = torch.rand(1, 3, side, side)
        float(niqe(warm)), float(piqe(warm))
    os.makedirs(os.path.join(work, 'warm_in'))
    shutil.copy(os.path.join(tiles_dir, files[0]), os.path.join(work, 'warm_in'))
    curate(CurateRequest([os.path.join(work, 'warm_in')], os.path.join(work, 'warm'), score=['niqe', 'piqe'],
                         report=False))
    t0 = time.perf_counter()
    with torch.no_grad():
        for f in files:
            x = torch.from_numpy(cv2.imread(os.path.join(tiles_dir, f))[..., ::-1].astype(np.float32) / 255)
            x = x.permute(2, 0, 1)[None]
            float(niqe(x)), float(piqe(x))
    out['plain pyiqa loop (niqe, piqe)'] = len(files) / (time.perf_counter() - t0)
    for workers in (1, 2):
        t0 = time.perf_counter()
        curate(CurateRequest([tiles_dir], os.path.join(work, f'scored{workers}'), score=['niqe', 'piqe'],
                             report=False, workers=workers))
        out[f'srkit-dataset --score niqe,piqe --workers {workers}'] = len(files) / (time.perf_counter() - t0)
    return out


def time_dedup(n: int) -> tuple[float, int, int]:
    from srkit.curation.dedup import DEFAULT_DISTANCE, keep_best
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2 ** 63, n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    copies = rng.choice(n, n // 10, replace=False)
    targets = rng.choice(np.setdiff1d(np.arange(n), copies), n // 10, replace=False)
    for c, t in zip(copies, targets):
        flips = rng.choice(64, int(rng.integers(1, 5)), replace=False)
        base[c] = base[t] ^ np.uint64(sum(1 << int(b) for b in flips))
    hashes = [int(h) for h in base]
    exact = [f'{h:016x}' for h in hashes]
    t0 = time.perf_counter()
    dup = keep_best(list(range(n)), exact, hashes, DEFAULT_DISTANCE)
    return time.perf_counter() - t0, len(dup), n // 10


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=12)
    ap.add_argument('--side', type=int, default=1200)
    ap.add_argument('--tile', type=int, default=480)
    ap.add_argument('--step', type=int, default=240)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--score-tile', type=int, default=256)
    ap.add_argument('--hashes', type=int, default=100_000)
    a = ap.parse_args(argv)
    import torch
    print(f'{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads')
    with tempfile.TemporaryDirectory() as work:
        photos = os.path.join(work, 'photos')
        make_photos(photos, a.images, a.side)
        res = time_tiling(photos, work, a.tile, a.step, a.rounds)
        base = res['BasicSR extract_subimages'][0]
        print(f'\ntiling {a.images} photos of {a.side}x{a.side * 3 // 4}, tile {a.tile} step {a.step} '
              f'(median of {a.rounds}):')
        for who, (rate, secs) in res.items():
            print(f'  {who:28s} {rate:8.1f} tiles/s  {secs:6.2f} s  {rate / base:5.2f}x')
        scores = time_scoring(photos, work, a.score_tile)
        base = scores['plain pyiqa loop (niqe, piqe)']
        print(f'\nscoring {a.score_tile} px tiles with NIQE and PIQE:')
        for who, rate in scores.items():
            print(f'  {who:46s} {rate:8.2f} tiles/s  {rate / base:5.2f}x')
    secs, found, planted = time_dedup(a.hashes)
    print(f'\ndedup of {a.hashes} pHashes (phash:6, banded index): {secs:.2f} s; {found} duplicates found '
          f'({planted} near copies planted, within 4 bits)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
