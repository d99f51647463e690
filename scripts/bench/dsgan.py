"""DSGAN: does it learn a known degradation, and how fast does it train and apply?

  python scripts/bench/dsgan.py [--iters 600] [--target sensor_noise|jpeg] [--device cpu]

The target domain is bundled photos degraded by a known corruption (the DSGAN
paper's presets: sensor noise sigma 8/255, or JPEG q 30); the source domain is
other, clean bundled photos.  After a short training run it compares one
high-frequency statistic of the target, of bicubic downscales of the source, and
of DSGAN's outputs on them:

- sensor noise: the noise level, estimated as 1.4826 * median |HH| of a one-level
  Haar transform (robust to edges; HH of i.i.d. noise has the noise's sigma);
- JPEG: the blockiness, the mean jump across 8-px block borders over the mean
  jump elsewhere.

The domain gap is |statistic - target's|.  It exits 1 unless DSGAN's gap is at
most half of bicubic's.  It also reports training it/s and the LR images/s of
``srkit-degrade --method dsgan``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
from make_demo_data import load  # noqa: E402  (the bundled photos)
from srkit.metrics.noref import local_noise_level, noise_level  # noqa: E402  (srkit-dataset's noise score)

SOURCE = ['astronaut', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry']
TARGET = ['chelsea', 'motorcycle_left', 'motorcycle_right', 'retina', 'camera']


def blockiness(img: np.ndarray) -> float:
    """Mean |jump| across 8-px block borders over the mean |jump| inside blocks (1 = none)."""
    y = (img.mean(-1) if img.ndim == 3 else img) * 255
    dx = np.abs(np.diff(y, axis=1))
    border = dx[:, 7::8].mean()
    inside = np.delete(dx, np.s_[7::8], axis=1).mean()
    return float(border / max(inside, 1e-6))


STATISTICS = {'sensor_noise': noise_level, 'jpeg': blockiness, 'sensor_noise_local': local_noise_level}


def make_domains(root: str, target: str, scale: int = 4) -> None:
    """source/: clean HR photos; target/: other photos, bicubic-downscaled and corrupted."""
    from degradations import build_pipeline, load_preset
    from srkit.utils.imgio import write_image
    preset = load_preset({'jpeg': 'dsgan_jpeg'}.get(target, 'dsgan_sensor_noise'))
    pipe = build_pipeline(preset.pop('type'), **preset)
    from degradations import imresize
    for n in SOURCE:
        img = load(n)
        if max(img.shape[:2]) > 384:  # small files keep the data loader off the critical path
            img = np.clip(imresize(img, 384 / max(img.shape[:2])), 0, 1)
        h, w = img.shape[0] // scale * scale, img.shape[1] // scale * scale
        write_image(os.path.join(root, 'source', f'{n}.png'), img[:h, :w])
    for i, n in enumerate(TARGET):
        img = load(n)
        h, w = img.shape[0] // scale * scale, img.shape[1] // scale * scale
        lr, _, _ = pipe(img[:h, :w], scale, np.random.default_rng(i))
        write_image(os.path.join(root, 'target', f'{n}.png'), lr)


def options(root: str, iters: int, device: str, lr: float = 1e-3, gan_weight: float = 0.005,
            d_feat: int = 32) -> dict:
    return {
        'name': 'dsgan_gap', 'model_type': 'DSGANModel', 'scale': 4, 'manual_seed': 0, 'device': device,
        'datasets': {'train': {
            'type': 'UnpairedImageDataset', 'dataroot_a': os.path.join(root, 'source'),
            'dataroot_b': os.path.join(root, 'target'), 'crop_a': 128, 'crop_b': 32, 'use_hflip': True,
            'batch_size_per_gpu': 8, 'num_worker_per_gpu': 1, 'dataset_enlarge_ratio': 100}},
        'network_g': {'type': 'DSGANGenerator', 'num_feat': 32, 'num_block': 4},
        'network_d': {'type': 'DSGANDiscriminator', 'num_feat': d_feat},
        'path': {'experiments_root': os.path.join(root, 'experiments')},
        'train': {
            'optim_g': {'type': 'Adam', 'lr': lr, 'betas': [0.5, 0.999]},
            'optim_d': {'type': 'Adam', 'lr': lr, 'betas': [0.5, 0.999]},
            'scheduler': {'type': 'LinearDecayLR', 'decay_start': iters // 2, 'total_iter': iters},
            'total_iter': iters,
            'color_opt': {'type': 'L1Loss', 'loss_weight': 1.0},
            'perceptual_opt': {'type': 'LPIPSLoss', 'loss_weight': 0.01, 'optional': True},
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': gan_weight}},
        'logger': {'print_freq': max(1, iters // 4), 'save_checkpoint_freq': iters, 'use_tb_logger': False},
    }


def domain_gap(root: str, target: str = 'sensor_noise', iters: int = 600, device: str = 'cpu', **hyper) -> dict:
    """Train briefly, then the statistic of target, bicubic and DSGAN and the two gaps."""
    from degradations import imresize
    from srkit.degrading import load_dsgan_generator
    from srkit.trainer import Trainer
    from srkit.options import parse_options
    from srkit.utils.imgio import list_images, read_image
    import torch
    make_domains(root, target)
    t = Trainer(parse_options(options(root, iters, device, **hyper)), quiet=True)
    t0 = time.perf_counter()
    assert t.fit() == 0
    train_its = iters / (time.perf_counter() - t0)
    ckpt = os.path.join(root, 'experiments', 'dsgan_gap', 'models', f'net_g_{iters}.pth')
    g = load_dsgan_generator(ckpt)
    stat = STATISTICS[target]
    tgt = [stat(read_image(os.path.join(root, 'target', f))) for f in list_images(os.path.join(root, 'target'))]
    bic, gen = [], []
    for f in list_images(os.path.join(root, 'source')):
        x = np.clip(imresize(read_image(os.path.join(root, 'source', f)), 0.25), 0, 1)
        bic.append(stat(np.rint(x * 255) / 255))
        with torch.no_grad():
            y = g(torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0))[0].permute(1, 2, 0).numpy()
        gen.append(stat(np.rint(y * 255) / 255))
    out = {'target': float(np.mean(tgt)), 'bicubic': float(np.mean(bic)), 'dsgan': float(np.mean(gen)),
           'train_it_per_s': train_its, 'checkpoint': ckpt}
    out['gap_bicubic'] = abs(out['bicubic'] - out['target'])
    out['gap_dsgan'] = abs(out['dsgan'] - out['target'])
    return out


def degrade_speed(root: str, ckpt: str, workers: int) -> float:
    """LR images/s of ``srkit-degrade --method dsgan`` over the source photos, x4 SDSR."""
    out = os.path.join(root, f'lr_dsgan_w{workers}')
    n = len(os.listdir(os.path.join(root, 'source')))
    t = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'srkit.cli.degrade', '--input', os.path.join(root, 'source'),
                    '--output', out, '--method', 'dsgan', '--model', ckpt, '--scale', '4',
                    '--workers', str(workers)], check=True, env=dict(os.environ, PYTHONPATH=ROOT),
                   stdout=subprocess.DEVNULL)
    return n / (time.perf_counter() - t)


def folder_level(folder: str, target: str = 'sensor_noise_local') -> float:
    """The mean statistic over the images of ``folder`` (the demo's: the local noise level)."""
    from srkit.utils.imgio import list_images, read_image
    return float(np.mean([STATISTICS[target](read_image(os.path.join(folder, f))) for f in list_images(folder)]))


def gap_closed(levels: dict) -> float:
    """The share of bicubic's gap to the camera that DSGAN closes, from the statistic of each
    (``levels``: ``camera``, ``bicubic``, ``dsgan``); overshooting the camera counts as a gap too."""
    return 1 - abs(levels['dsgan'] - levels['camera']) / abs(levels['bicubic'] - levels['camera'])


def measure(folders: list[str], target: str) -> None:
    """Print the mean statistic of each image folder (``--measure``)."""
    from srkit.utils.imgio import list_images, read_image
    stat = STATISTICS[target]
    for d in folders:
        vals = [stat(read_image(os.path.join(d, f))) for f in list_images(d)]
        print(f'{d}: {"blockiness" if target == "jpeg" else "noise level (8-bit sigma)"} '
              f'{np.mean(vals):.3f} over {len(vals)} images')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--measure', nargs='+', metavar='DIR', help='only print the statistic of these folders')
    ap.add_argument('--iters', type=int, default=600)
    # sensor_noise_local: the demo's measure (--measure only; the benchmark's figures use sensor_noise)
    ap.add_argument('--target', choices=sorted(STATISTICS), default='sensor_noise')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--lr', type=float, default=1e-3, help='the paper: 2e-4 over ~65k iterations')
    ap.add_argument('--gan-weight', type=float, default=0.005)
    ap.add_argument('--d-feat', type=int, default=32, help='discriminator width (the paper: 64)')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    if a.measure:
        measure(a.measure, a.target)
        return 0
    os.environ.setdefault('SRKIT_OFFLINE', '1')
    with tempfile.TemporaryDirectory() as root:
        r = domain_gap(root, a.target, a.iters, a.device, lr=a.lr, gan_weight=a.gan_weight, d_feat=a.d_feat)
        r['degrade_img_per_s'] = degrade_speed(root, r['checkpoint'], a.workers)
    ok = r['gap_dsgan'] <= 0.5 * r['gap_bicubic']
    print(f'DSGAN ({a.target}, {a.iters} iterations, {a.device}): training {r["train_it_per_s"]:.2f} it/s; '
          f'srkit-degrade --method dsgan {r["degrade_img_per_s"]:.2f} img/s ({a.workers} workers)')
    print(f'statistic: target {r["target"]:.3f} | bicubic {r["bicubic"]:.3f} (gap {r["gap_bicubic"]:.3f}) | '
          f'DSGAN {r["dsgan"]:.3f} (gap {r["gap_dsgan"]:.3f}) -> DSGAN gap / bicubic gap = '
          f'{r["gap_dsgan"] / max(r["gap_bicubic"], 1e-9):.2f} ({"PASS" if ok else "FAIL"}: must be <= 0.5)')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(r, f, indent=1)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
