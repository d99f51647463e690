"""Training-step time of srkit's architectures in NCHW and channels-last layout, in one run: the
measurement behind ``train.channels_last``'s per-architecture default (``Arch.train_channels_last``).

  python scripts/bench/layout.py [--types span_s,realplksr_tiny,...] [--batch 2] [--lq 32] [--scale 2]

For each network type (a class or a traiNNer-redux preset; default: every preset), one forward
and backward pass of an L1-like loss on a random ``(batch, 3, lq, lq)`` input, in each layout; the
best of ``--repeat`` passes after one warm-up.  It prints both times, their ratio (channels-last /
NCHW: above 1, channels-last is slower), the layout srkit trains that type in by default, and
marks a type whose default is the slower layout by more than 20%.  Run it single-threaded
(``OMP_NUM_THREADS=1``) as the demo trains, or with the threads training will use.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))


def step_time(net: torch.nn.Module, x: torch.Tensor, channels_last: bool, repeat: int) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    best = float('inf')
    for i in range(repeat + 1):
        t = time.perf_counter()
        net(x).abs().mean().backward()
        if i:  # the first pass is a warm-up (oneDNN picks and caches its kernels)
            best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    from srkit.archs import build_network, trains_channels_last
    from srkit.archs.presets import PRESETS
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--types', default=','.join(sorted(PRESETS)), help='network types, comma-separated')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--lq', type=int, default=32, help='input side, pixels')
    ap.add_argument('--scale', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=2)
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore')  # spandrel's deprecation warnings
    print(f'threads {torch.get_num_threads()} | batch {a.batch} | input {a.lq}x{a.lq} | x{a.scale} | '
          f'best of {a.repeat}')
    print(f'{"type":20s} {"NCHW s":>8s} {"CL s":>8s} {"CL/NCHW":>8s}  default')
    for name in a.types.split(','):
        try:
            torch.manual_seed(0)
            spec = {'type': name, 'scale': a.scale} if name in PRESETS else {'type': name}
            net = build_network(spec, name)
            x = torch.rand(a.batch, 3, a.lq, a.lq)
            t = {cl: step_time(net, x, cl, a.repeat) for cl in (False, True)}
        except Exception as e:  # noqa: BLE001  (a preset that takes no x2, a size it refuses)
            print(f'{name:20s} skipped: {" ".join(str(e).split())[:100]}')
            continue
        default = trains_channels_last(spec)
        ratio = t[True] / t[False]
        slower = ratio > 1.2 if default else ratio < 1 / 1.2
        print(f'{name:20s} {t[False]:8.3f} {t[True]:8.3f} {ratio:8.2f}  {"channels-last" if default else "NCHW"}'
              + ('  <- the slower layout' if slower else ''), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
