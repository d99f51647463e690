"""Peak host memory of a tiled srkit-infer run, this tree against an earlier revision, in one run.

  python scripts/bench/infer_memory.py [--before REV] [--sizes 3000x2,2000x4] [--tile 512]

For each ``SIDExSCALE``: a SIDE x SIDE photo (a bundled photo, tiled), a small MSRResNet of that
scale with random weights (the host's buffers do not depend on the network; a small one keeps the
run short), and ``srkit-infer --tile`` on it under ``/usr/bin/time -v``, once with this tree's
srkit and once with ``REV``'s (a ``git worktree`` of it; default: d77b11440fa5, the last commit before
srkit-infer made its output a row of tiles at a time), and once more with this tree and
``SRKIT_KEEP_FREED_MEMORY=0`` (glibc's malloc as it comes: srkit-infer keeps freed memory for
reuse by default, faster, at some peak memory); the order alternates.  It prints each run's
maximum resident set size, the output's size in bytes (as uint8) and in float32, the ratios
of the peaks to the earlier revision's, and each run's wall seconds.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)


def peak_mb(tree: str, args: list[str], env: dict) -> tuple[float, float]:
    """Maximum resident set size of ``srkit-infer ARGS`` run from ``tree``'s sources, MiB, and
    its wall seconds (the whole process: imports and the image's reading too)."""
    cmd = ['/usr/bin/time', '-v', sys.executable, '-c',
           'import sys; from srkit.cli.infer import main; sys.exit(main(sys.argv[1:]))', *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, 'PYTHONPATH': tree}, cwd=tree)
    if r.returncode != 0:
        raise SystemExit(f'srkit-infer failed in {tree}:\n{r.stderr[-2000:]}')
    wall = re.search(r'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)', r.stderr).group(1)
    secs = sum(float(v) * 60 ** i for i, v in enumerate(reversed(wall.split(':'))))
    return int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', r.stderr).group(1)) / 1024, secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--before', default='d77b11440fa5', help='the revision to compare with (default: d77b11440fa5, '
                    'before srkit-infer wrote rows as they finished)')
    ap.add_argument('--sizes', default='3000x2,2000x4', help='SIDExSCALE, comma-separated')
    ap.add_argument('--tile', type=int, default=512)
    ap.add_argument('--overlap', type=int, default=32)
    a = ap.parse_args(argv)
    import torch
    from srkit.archs import build_network
    from srkit.utils.imgio import write_image
    from skimage import data
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    with tempfile.TemporaryDirectory() as tmp:
        before = os.path.join(tmp, 'before')
        subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', before, a.before], check=True,
                       capture_output=True)
        try:
            print(f'srkit-infer --tile {a.tile} --tile-overlap {a.overlap}, a small MSRResNet (random weights) | '
                  f'before: {a.before} | /usr/bin/time -v maximum resident set size')
            for i, spec in enumerate(a.sizes.split(',')):
                side, scale = map(int, spec.split('x'))
                photo = data.astronaut().astype(np.float32) / 255
                reps = -(-side // photo.shape[0])
                img = np.tile(photo, (reps, reps, 1))[:side, :side]
                src = os.path.join(tmp, f'in_{side}')
                write_image(os.path.join(src, 'photo.png'), img)
                torch.manual_seed(0)
                net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': scale})
                model = os.path.join(tmp, f'x{scale}.pth')
                torch.save({'params': net.state_dict()}, model)
                res = {}
                runs = ('before', 'after', 'after-glibc')
                for which in (runs if i % 2 == 0 else runs[::-1]):
                    out = os.path.join(tmp, f'out_{which}_{side}')
                    args = ['--model', model, '--input', src, '--output', out, '--tile', str(a.tile),
                            '--tile-overlap', str(a.overlap), '--device', 'cpu']
                    keep = {'SRKIT_KEEP_FREED_MEMORY': '0' if which == 'after-glibc' else '1'}
                    res[which] = peak_mb(before if which == 'before' else ROOT, args, {**env, **keep})
                out_px = (side * scale) ** 2 * 3
                (b, tb), (k, tk), (g, tg) = (res[w] for w in runs)
                print(f'{side}x{side} x{scale} -> {side * scale}x{side * scale}: output {out_px / 2**20:.0f} MiB '
                      f'as uint8, {4 * out_px / 2**20:.0f} MiB as float32 | peak before {b:.0f} MiB, after {k:.0f} '
                      f'MiB (with SRKIT_KEEP_FREED_MEMORY=0: {g:.0f}) | after/before {k / b:.2f} ({g / b:.2f}) | '
                      f'wall s before {tb:.1f}, after {tk:.1f} ({tg:.1f})', flush=True)
        finally:
            subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', before], capture_output=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
