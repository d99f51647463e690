"""Tiled inference: srkit-infer's tiling against Real-ESRGAN's ``RealESRGANer``, in one run,
with the same RRDBNet weights and the same image.  (srkit-infer's speed against Real-ESRGAN's ncnn
runtime on the released models: ``scripts/bench/infer_ncnn.py``.)

  python scripts/bench/infer.py [--device cpu|cuda] [--size 256] [--tile 128] [--overlap 32]
                                [--blocks 6] [--feat 32] [--repeat 3] [--weights RRDB.pth]

For each side, in its own process (so peak memory is its own):
- peak memory of its first tiled x4 upscale, from the memory in use once the network and the
  image are loaded: RSS on CPU (peak reset through /proc/self/clear_refs),
  ``torch.cuda.max_memory_allocated`` on GPU;
- wall time of the same upscale, best of --repeat further runs;
- seam error: max |tiled - untiled| over the image, both as 8-bit outputs, in 1/255 units.

The peer runs twice: as its users run it, ``RealESRGANer(tile=T, tile_pad=10, pre_pad=10)``
and ``enhance()`` on a BGR uint8 image, and with ``tile_pad = overlap / 2``, whose tiles are
the size srkit's are (``tile + overlap``), the like-for-like comparison.  srkit runs
``load_generator`` (channels_last) and ``run_generator(tile=T, overlap=O)`` as srkit-infer
does.  The untiled outputs of the two are compared too, as a check that both ran the same
network.  The peer is the realesrgan package (``pip install --no-deps realesrgan==0.3.0``
after srkit's requirements; it imports basicsr, so srkit.compat's alias comes first).

Without ``--weights`` the RRDBNet is random (seed 0) with its trunk woken up (RRDBNet's
training init leaves it near silent, and then every tiling is trivially exact), so the
receptive field matters as in a trained net; on CPU it is smaller than RealESRGAN_x4plus
(23 blocks, 64 features: the GPU default).
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


def _rss_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with open('/proc/self/clear_refs', 'w') as f:  # '5' resets VmHWM to the current RSS
        f.write('5')


def worker(a) -> None:
    """Runs one side; prints a JSON line; saves both outputs as .npy next to the weights."""
    import torch
    from srkit.compat import import_basicsr
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    device = torch.device(a.device)
    img = np.load(a.image)  # (H,W,3) BGR uint8
    if a.worker == 'srkit':
        from srkit.inference import load_generator, run_generator
        from srkit.utils.hostmem import keep_freed_memory
        keep_freed_memory()  # as srkit-infer does first (this worker's process only)
        net, _, _ = load_generator(a.weights, None, device, channels_last=True)
        net.eval()
        x = torch.from_numpy(img[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255)[None]

        def run(tile):
            with torch.no_grad():
                y = run_generator(net, x if tile else x.to(device), tile, a.overlap)
            # to 8-bit in place: the float output is the largest buffer, so no float copies of it
            y8 = y[0].clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            return y8.permute(1, 2, 0).numpy()[:, :, ::-1]
    else:
        import_basicsr('basicsr')  # realesrgan imports basicsr: the torchvision alias first
        from basicsr.archs.rrdbnet_arch import RRDBNet
        from realesrgan import RealESRGANer
        net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=a.feat, num_block=a.blocks, num_grow_ch=a.grow,
                      scale=4)
        ups = {t: RealESRGANer(scale=4, model_path=a.weights, model=net, tile=t, tile_pad=a.tile_pad, pre_pad=10,
                               half=False, device=device) for t in (0, a.tile)}

        def run(tile):
            out, _ = ups[tile].enhance(img, outscale=4)
            return out

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()
    # memory: the first upscale in this fresh process, counted from the RSS after loading (what
    # a one-off srkit-infer pays); after earlier runs, the allocator's cache would hide growth
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_kib('VmRSS')
        _reset_peak()
    tiled = run(a.tile)
    sync()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device.type == 'cuda' else \
        (_rss_kib('VmHWM') - base) / 1024
    times = []  # time: best of --repeat warm runs
    for _ in range(a.repeat):
        t = time.perf_counter()
        run(a.tile)
        sync()
        times.append(time.perf_counter() - t)
    whole = run(0)
    np.save(os.path.join(os.path.dirname(a.weights), f'{a.worker}_tiled.npy'), tiled)
    np.save(os.path.join(os.path.dirname(a.weights), f'{a.worker}_whole.npy'), whole)
    print(json.dumps({'time_s': min(times), 'peak_mib': peak}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default=None)
    ap.add_argument('--size', type=int, default=None, help='input side (default: 256 on CPU, 512 on GPU)')
    ap.add_argument('--tile', type=int, default=128)
    ap.add_argument('--overlap', type=int, default=32, help="srkit's tile overlap")
    ap.add_argument('--blocks', type=int, default=None, help='RRDB blocks (default: 6 on CPU, 23 on GPU)')
    ap.add_argument('--feat', type=int, default=None, help='features (default: 32 on CPU, 64 on GPU)')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--weights', default=None,
                    help='a BasicSR RRDBNet x4 file (params_ema/params), e.g. RealESRGAN_x4plus.pth or the demo\'s '
                         'demo_rrdb_psnr_x4 net; its num_feat/num_block are read from it (default: a random net)')
    ap.add_argument('--worker', choices=['srkit', 'realesrgan'], help=argparse.SUPPRESS)
    ap.add_argument('--tile-pad', type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument('--grow', type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument('--image', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return 0
    import torch
    a.device = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    gpu = a.device.startswith('cuda')
    a.size = a.size or (512 if gpu else 256)
    a.blocks = a.blocks or (23 if gpu else 6)
    a.feat = a.feat or (64 if gpu else 32)
    a.grow = a.feat // 2
    import skimage.data
    from srkit.archs import build_network
    work = tempfile.mkdtemp(prefix='srkit-bench-infer-')
    weights = os.path.join(work, 'rrdb.pth')
    if a.weights:
        from srkit.utils.checkpoint import extract_state_dict, load_checkpoint
        sd, _ = extract_state_dict(load_checkpoint(a.weights), 'params_ema', a.weights)
        a.feat = sd['conv_first.weight'].shape[0]
        a.blocks = 1 + max(int(k.split('.')[1]) for k in sd if k.startswith('body.'))
        a.grow = sd['body.0.rdb1.conv1.weight'].shape[0]
        torch.save({'params_ema': sd}, weights)
    else:
        torch.manual_seed(0)
        net = build_network({'type': 'RRDBNet', 'num_feat': a.feat, 'num_block': a.blocks,
                             'num_grow_ch': a.feat // 2, 'scale': 4})
        # RRDBNet's own init (x0.1, for training) leaves the trunk near silent and the output
        # near 0, where every tiling is exact; wake the trunk up so the receptive field matters
        # as in a trained net, and put the output in the image range
        with torch.no_grad():
            for n, m in net.named_modules():
                if isinstance(m, torch.nn.Conv2d) and n.startswith('body'):
                    torch.nn.init.kaiming_normal_(m.weight, a=0.2)
                    m.weight *= 2.0
            net.conv_last.weight *= 0.05
            net.conv_last.bias.fill_(0.5)
        torch.save({'params_ema': net.state_dict()}, weights)
    img = np.ascontiguousarray(skimage.data.astronaut()[:a.size, :a.size, ::-1])  # BGR uint8, as cv2 reads it
    image = os.path.join(work, 'img.npy')
    np.save(image, img)
    print(f'RRDBNet x4 ({a.blocks} blocks, {a.feat} features, {a.weights or "random"}), {a.size}x{a.size} input, '
          f'tile {a.tile}, device {a.device}; srkit overlap {a.overlap}; RealESRGANer pre_pad 10')
    # the peer twice: as its users run it (tile_pad 10), and with the tiles srkit runs
    # (tile + overlap pixels a side: tile_pad = overlap / 2), the like-for-like comparison
    runs = {'srkit': ('srkit', 0), 'RealESRGANer': ('realesrgan', 10),
            f'RealESRGANer pad {a.overlap // 2}': ('realesrgan', a.overlap // 2)}
    res = {}
    for name, (side, pad) in runs.items():
        cmd = [sys.executable, __file__, '--worker', side, '--weights', weights, '--image', image,
               '--device', a.device, '--tile', str(a.tile), '--overlap', str(a.overlap), '--blocks', str(a.blocks),
               '--feat', str(a.feat), '--grow', str(a.grow), '--repeat', str(a.repeat), '--tile-pad', str(pad)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
        if r.returncode:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
        res[name] = json.loads(r.stdout.strip().splitlines()[-1])
        tiled = np.load(os.path.join(work, f'{side}_tiled.npy')).astype(np.int16)
        whole = np.load(os.path.join(work, f'{side}_whole.npy')).astype(np.int16)
        res[name]['seam'] = int(np.abs(tiled - whole).max())
        res[name]['seam_mean'] = float(np.abs(tiled - whole).mean())
    # RealESRGANer reflect-pads the bottom and right by pre_pad before the network, which
    # changes the outputs near those edges; away from them both ran the same network
    edge = 4 * 4 * 10
    sw, pw = (np.load(os.path.join(work, f'{s}_whole.npy')).astype(np.int16) for s in ('srkit', 'realesrgan'))
    same = int(np.abs(sw - pw)[:-edge, :-edge].max())
    print(f'{"":22} {"time (s)":>9} {"peak (MiB)":>11} {"seam max":>9} {"seam mean":>10}   (seams in 1/255)')
    for name, r in res.items():
        print(f'{name:22} {r["time_s"]:9.3f} {r["peak_mib"]:11.1f} {r["seam"]:9d} {r["seam_mean"]:10.4f}')
    s = res['srkit']
    for name, p in list(res.items())[1:]:
        print(f'ratio srkit / {name}: time {s["time_s"] / p["time_s"]:.2f}x, peak memory '
              f'{s["peak_mib"] / max(p["peak_mib"], 1e-9):.2f}x, seam max {s["seam"]} vs {p["seam"]}')
    print(f'check: the untiled outputs differ by at most {same}/255 (more than {edge} output pixels from the '
          f'bottom/right edges, which RealESRGANer pads)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
