"""Degradation throughput: srkit against the reference code, same inputs, one run.

  python scripts/bench/degrade.py [--images 32] [--batches 6] [--batch-size 8] [--device cpu|cuda]

1. BSRGAN: ``degradations.bsrgan.degrade`` vs the ``bsrgan`` package's
   ``degradation_bsrgan`` (KAIR's code; ``pip install --no-deps bsrgan==0.1.5``).
   Its two SciPy calls removed since SciPy 1.14 are patched here (``interp2d``
   -> a linear grid interpolator, ``scipy.finfo`` -> ``numpy.finfo``).  Both get
   the same 320 px HR patches, sf 4, lq_patchsize 72 (KAIR's training setting).
2. Real-ESRGAN second order, one training batch of 400 px GT crops with their
   kernels: ``degradations.realesrgan.Degrader`` vs a harness chaining basicsr's
   ``_pt`` functions (USMSharp, filter2D, DiffJPEG, the noise functions,
   paired_random_crop) in Real-ESRGAN's ``feed_data`` order.

Random draws differ between the implementations, so each side runs over many
images and batches; the op mix converges to the same distribution.  Prints
images/s (batches/s) of each and the ratio srkit / reference.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _photos(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random ``size`` crops of scikit-image's bundled photos, RGB float32 [0,1]."""
    import skimage.data
    srcs = []
    for name in ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field'):
        img = getattr(skimage.data, name)()
        if img.ndim == 3 and min(img.shape[:2]) >= size:
            srcs.append(img[..., :3].astype(np.float32) / 255.0)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = srcs[i % len(srcs)]
        t, l = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        out.append(np.ascontiguousarray(img[t:t + size, l:l + size]))
    return out


def _patch_scipy_for_kair():
    """Give KAIR's code the two SciPy calls it needs back (removed in SciPy 1.14)."""
    import scipy
    import scipy.interpolate
    from scipy.interpolate import RegularGridInterpolator

    def interp2d(x, y, z, kind='linear'):
        f = RegularGridInterpolator((np.asarray(y), np.asarray(x)), np.asarray(z), method='linear',
                                    bounds_error=False, fill_value=None)

        def at(xn, yn):
            yy, xx = np.meshgrid(np.atleast_1d(yn), np.atleast_1d(xn), indexing='ij')
            return f(np.stack([yy, xx], -1))
        return at

    scipy.interpolate.interp2d = interp2d
    scipy.finfo = np.finfo


def bench_bsrgan(n: int, rounds: int) -> tuple[float, float]:
    _patch_scipy_for_kair()
    from bsrgan.utils import utils_blindsr as kair

    from degradations.bsrgan import degrade
    patches = _photos(n, 320)

    def ours():
        rng = np.random.default_rng(0)
        for p in patches:
            degrade(p, 4, rng, lq_patchsize=72)

    def ref():
        random.seed(0)
        np.random.seed(0)
        for p in patches:
            kair.degradation_bsrgan(p.copy(), sf=4, lq_patchsize=72)

    return _time(ours, rounds, n), _time(ref, rounds, n)


def _time(fn, rounds: int, items: int) -> float:
    """Best of ``rounds`` runs (after a warm-up), as items per second."""
    fn()
    best = min(_once(fn) for _ in range(rounds))
    return items / best


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t


def _reference_feed_data(gt, k1, k2, sinc, bs, jpeger, usm, scale=4, gt_size=256):
    """Real-ESRGAN's ``RealESRGANModel.feed_data`` degradation, written with basicsr's functions."""
    from torch.nn import functional as F
    deg = bs['degradations']
    filter2D = bs['img_process_util'].filter2D
    opt = dict(resize_prob=[0.2, 0.7, 0.1], resize_range=[0.15, 1.5], gaussian_noise_prob=0.5, noise_range=[1, 30],
               poisson_scale_range=[0.05, 3], gray_noise_prob=0.4, jpeg_range=[30, 95], second_blur_prob=0.8,
               resize_prob2=[0.3, 0.4, 0.3], resize_range2=[0.3, 1.2], gaussian_noise_prob2=0.5,
               noise_range2=[1, 25], poisson_scale_range2=[0.05, 2.5], gray_noise_prob2=0.4, jpeg_range2=[30, 95])
    gt_usm = usm(gt)
    ori_h, ori_w = gt.shape[2:4]
    out = filter2D(gt_usm, k1)

    def resize(out, probs, rng_, size=None):
        kind = random.choices(['up', 'down', 'keep'], probs)[0]
        s = np.random.uniform(1, rng_[1]) if kind == 'up' else np.random.uniform(rng_[0], 1) if kind == 'down' else 1
        mode = random.choice(['area', 'bilinear', 'bicubic'])
        if size is None:
            return F.interpolate(out, scale_factor=s, mode=mode)
        return F.interpolate(out, size=(int(ori_h / scale * s), int(ori_w / scale * s)), mode=mode)

    def noise(out, gp, nr, pr, gray):
        if np.random.uniform() < gp:
            return deg.random_add_gaussian_noise_pt(out, sigma_range=nr, clip=True, rounds=False, gray_prob=gray)
        return deg.random_add_poisson_noise_pt(out, scale_range=pr, gray_prob=gray, clip=True, rounds=False)

    def jpeg(out, rng_):
        q = out.new_zeros(out.size(0)).uniform_(*rng_)
        # DiffJPEG returns a cropped view; basicsr's filter2D .view()s it and fails on torch 2.x without this
        return jpeger(torch.clamp(out, 0, 1), quality=q).contiguous()

    out = resize(out, opt['resize_prob'], opt['resize_range'])
    out = noise(out, opt['gaussian_noise_prob'], opt['noise_range'], opt['poisson_scale_range'],
                opt['gray_noise_prob'])
    out = jpeg(out, opt['jpeg_range'])
    if np.random.uniform() < opt['second_blur_prob']:
        out = filter2D(out, k2)
    out = resize(out, opt['resize_prob2'], opt['resize_range2'], size=True)
    out = noise(out, opt['gaussian_noise_prob2'], opt['noise_range2'], opt['poisson_scale_range2'],
                opt['gray_noise_prob2'])
    mode = random.choice(['area', 'bilinear', 'bicubic'])
    if np.random.uniform() < 0.5:
        out = filter2D(F.interpolate(out, size=(ori_h // scale, ori_w // scale), mode=mode), sinc)
        out = jpeg(out, opt['jpeg_range2'])
    else:
        out = jpeg(out, opt['jpeg_range2'])
        out = filter2D(F.interpolate(out, size=(ori_h // scale, ori_w // scale), mode=mode), sinc)
    lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.
    (gt, gt_usm), lq = bs['transforms'].paired_random_crop([gt, gt_usm], lq, gt_size, scale)
    return lq, gt, usm(gt)


def bench_realesrgan(batches: int, bsize: int, device: str, rounds: int) -> tuple[float, float]:
    from srkit.compat import import_basicsr
    from degradations.realesrgan import Degrader, sample_kernels
    bs = {m: import_basicsr(f'basicsr.{p}.{m}') for p, m in
          (('data', 'degradations'), ('utils', 'img_process_util'), ('utils', 'diffjpeg'), ('data', 'transforms'))}
    dev = torch.device(device)
    rng = np.random.default_rng(0)
    data = []
    for b in range(batches):
        gt = torch.from_numpy(np.stack(_photos(bsize, 400, seed=b))).permute(0, 3, 1, 2).contiguous().to(dev)
        k = torch.from_numpy(np.stack([sample_kernels(rng)[0] for _ in range(bsize)])).to(dev)
        data.append((gt, k[:, 0], k[:, 1], k[:, 2]))
    # the pool only moves tensors; both sides skip it (basicsr has no pool function)
    deg = Degrader(4, 256, queue_size=0, device=dev, seed=0)
    jpeger = bs['diffjpeg'].DiffJPEG(differentiable=False).to(dev)
    usm = bs['img_process_util'].USMSharp().to(dev)

    def ours():
        for gt, k1, k2, s in data:
            deg(gt, k1, k2, s)

    def ref():
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        with torch.no_grad():
            for gt, k1, k2, s in data:
                _reference_feed_data(gt, k1, k2, s, bs, jpeger, usm)

    return _time(ours, rounds, batches), _time(ref, rounds, batches)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=32, help='BSRGAN: HR patches per round')
    ap.add_argument('--batches', type=int, default=6, help='Real-ESRGAN: batches per round')
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--only', choices=['bsrgan', 'realesrgan'], default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import cv2
    cv2.setNumThreads(a.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}')
    if a.only in (None, 'bsrgan'):
        o, r = bench_bsrgan(a.images, a.rounds)
        print(f'BSRGAN (320 px HR, sf 4, lq 72): srkit {o:.2f} img/s | bsrgan package (KAIR) {r:.2f} img/s '
              f'| ratio {o / r:.2f}x')
    if a.only in (None, 'realesrgan'):
        o, r = bench_realesrgan(a.batches, a.batch_size, a.device, a.rounds)
        print(f'Real-ESRGAN second order (batch {a.batch_size} x 400 px, {a.device}): srkit {o:.2f} batch/s | '
              f'basicsr _pt chain {r:.2f} batch/s | ratio {o / r:.2f}x')


if __name__ == '__main__':
    main()
