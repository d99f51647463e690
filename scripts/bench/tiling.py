"""Tiled against untiled inference on a trained deep RRDBNet x4, at several overlaps, srkit's
blend beside Real-ESRGAN's crop (``RealESRGANer``) at the same tile size, in one run.

  python scripts/bench/tiling.py [--blocks 23] [--feat 32] [--iters 300] [--size 192] [--tile 64]
                                 [--overlaps 0,8,16,24,32,48,64] [--weights RRDB.pth] [--save RRDB.pth]

Random weights are the wrong test: their receptive field is chaotic over the whole depth, and
RRDBNet's own x0.1 init is near silent, so neither says what a user's trained network does.
Without ``--weights`` the script trains an RRDBNet x4 briefly (L1, Adam 2e-4, bicubic pairs of
bundled scikit-image photos, 32-pixel LR crops), 23 blocks deep as RealESRGAN_x4plus is, with
``--feat`` features to fit a CPU (the depth sets the receptive field).  ``--weights`` takes any
BasicSR RRDBNet x4 file instead (e.g. RealESRGAN_x4plus.pth, ``params_ema`` or ``params``).

For each overlap it upscales a held-out photo (``coffee``, never trained on) untiled and
tiled (step ``--tile``, tiles of ``tile + overlap`` pixels) and reports, as 8-bit outputs in
1/255 units: the largest difference, the mean, and the share of pixels more than 1/255 off.
The peer runs with ``tile_pad = overlap / 2`` and ``pre_pad 0`` (tiles of the same size, and
its untiled output the same network call as srkit's).  The peer is the realesrgan package
(``pip install --no-deps realesrgan==0.3.0``; ``make bench`` installs it); without it only
srkit's rows are printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

TRAIN_PHOTOS = ('astronaut', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field', 'camera')


def _photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo, (H,W,3) RGB float32 in [0,1]."""
    import skimage.data
    img = getattr(skimage.data, name)()
    img = np.stack([img] * 3, -1) if img.ndim == 2 else img[..., :3]
    return img.astype(np.float32) / 255


def train(net, iters: int, seed: int = 0) -> float:
    """L1 on bicubic x4 pairs (MATLAB bicubic, as the SR papers' data); returns the last loss."""
    import torch
    from degradations.pipelines import bicubic
    g = np.random.default_rng(seed)
    pairs = []
    for name in TRAIN_PHOTOS:
        hr = _photo(name)
        hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
        pairs.append((torch.from_numpy(hr).permute(2, 0, 1), torch.from_numpy(bicubic(hr, 4)[0]).permute(2, 0, 1)))
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
    net.train()
    t0, loss = time.perf_counter(), float('nan')
    for it in range(1, iters + 1):
        lq, gt = [], []
        for _ in range(4):
            hr, lr = pairs[g.integers(len(pairs))]
            top, left = g.integers(lr.shape[1] - 32), g.integers(lr.shape[2] - 32)
            lq.append(lr[:, top:top + 32, left:left + 32])
            gt.append(hr[:, top * 4:top * 4 + 128, left * 4:left * 4 + 128])
        out = net(torch.stack(lq).clamp(0, 1))
        l1 = (out - torch.stack(gt)).abs().mean()
        opt.zero_grad()
        l1.backward()
        opt.step()
        loss = l1.item()
        if it % 25 == 0 or it == iters:
            print(f'  train iter {it}/{iters}: L1 {loss:.4f} ({time.perf_counter() - t0:.0f} s)', flush=True)
    net.eval()
    return loss


def stats(tiled: np.ndarray, whole: np.ndarray) -> tuple[int, float, float]:
    """(max, mean, % of values more than 1/255 off) of |tiled - untiled| in 1/255 units."""
    d = np.abs(tiled.astype(np.int16) - whole.astype(np.int16))
    return int(d.max()), float(d.mean()), float((d > 1).mean() * 100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--blocks', type=int, default=23)
    ap.add_argument('--feat', type=int, default=32)
    ap.add_argument('--iters', type=int, default=300)
    ap.add_argument('--size', type=int, default=192, help='held-out input side')
    ap.add_argument('--tile', type=int, default=64)
    ap.add_argument('--overlaps', default='0,8,16,24,32,48,64')
    ap.add_argument('--weights', help='a trained RRDBNet x4 file (BasicSR keys); skips training')
    ap.add_argument('--save', help='write the trained network here (params_ema), to rerun with --weights')
    a = ap.parse_args()
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(0)
    from srkit.archs import build_network
    from srkit.inference import run_generator
    from srkit.utils.checkpoint import extract_state_dict, load_checkpoint
    if a.weights:
        sd, _ = extract_state_dict(load_checkpoint(a.weights), 'params_ema', a.weights)
        a.feat = sd['conv_first.weight'].shape[0]
        a.blocks = 1 + max(int(k.split('.')[1]) for k in sd if k.startswith('body.'))
    net = build_network({'type': 'RRDBNet', 'num_feat': a.feat, 'num_block': a.blocks,
                         'num_grow_ch': a.feat // 2, 'scale': 4})
    print(f'RRDBNet x4, {a.blocks} blocks, {a.feat} features: '
          f'{a.weights or f"trained here for {a.iters} iterations"}', flush=True)
    if a.weights:
        net.load_state_dict(sd)
        net.eval()
    else:
        train(net, a.iters)
        if a.save:
            torch.save({'params_ema': net.state_dict()}, a.save)
    img = _photo('coffee')[:a.size, :a.size]  # held out: not among TRAIN_PHOTOS
    x = torch.from_numpy(img).permute(2, 0, 1)[None]

    def to8(y):
        return y[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with torch.no_grad():
        whole = to8(run_generator(net, x, 0))
    peer = None
    try:
        from srkit.compat import import_basicsr
        import_basicsr('basicsr')  # realesrgan imports basicsr: srkit.compat's alias first
        from realesrgan import RealESRGANer
        from srkit.compat import quiet_stdout
        peer_net = import_basicsr('basicsr.archs.rrdbnet_arch').RRDBNet(
            3, 3, num_feat=a.feat, num_block=a.blocks, num_grow_ch=a.feat // 2, scale=4)
        import tempfile
        weights = os.path.join(tempfile.mkdtemp(prefix='srkit-bench-tiling-'), 'rrdb.pth')
        torch.save({'params_ema': net.state_dict()}, weights)  # RealESRGANer loads from a file
        bgr = np.ascontiguousarray((img * 255).round().astype(np.uint8)[:, :, ::-1])

        def peer(tile, pad):
            with quiet_stdout():
                up = RealESRGANer(scale=4, model_path=weights, model=peer_net, tile=tile, tile_pad=pad, pre_pad=0,
                                  half=False, device=torch.device('cpu'))
                return up.enhance(bgr, outscale=4)[0][:, :, ::-1]
        peer_whole = peer(0, 0)
        print(f'check: srkit and RealESRGANer untiled outputs differ by at most '
              f'{stats(peer_whole, whole)[0]}/255')
    except ImportError:
        print('realesrgan is not installed (pip install --no-deps realesrgan==0.3.0): srkit rows only')
    print(f'held-out {a.size}x{a.size} input (coffee), tile step {a.tile}; |tiled - untiled| in 1/255, 8-bit')
    head = f'{"overlap":>7} | {"srkit max":>9} {"mean":>9} {">1 (%)":>7}'
    print(head + (f' | {"RealESRGANer max":>16} {"mean":>9} {">1 (%)":>7}' if peer else ''))
    for o in (int(v) for v in a.overlaps.split(',')):
        with torch.no_grad():
            s = stats(to8(run_generator(net, x, a.tile, o)), whole)
        line = f'{o:7d} | {s[0]:9d} {s[1]:9.2e} {s[2]:7.3f}'
        if peer:
            p = stats(peer(a.tile, o // 2), peer_whole)
            line += f' | {p[0]:16d} {p[1]:9.2e} {p[2]:7.3f}'
        print(line, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
