"""Train every traiNNer-redux template kept in tests/fixtures/trainner_redux for one iteration.

    python scripts/check_trainner_templates.py [--only SUBSTRING] [--start PATH] [--batch 2] [--lq 32]

Each template is read as a user runs it, with only its data paths changed (two folders of
photos cut to 256 px, with 64 px INTER_AREA LQ), its GAN templates' ``pretrain_network_g`` a
fresh network of the same type, and, for this CPU, one iteration at ``--batch`` images of
``--lq`` px LQ crops (for GRL, whose minimum is 33, one image of 48 px, each GRL template in a process of its
own: GRL_B peaks at about 15 GB, and a second in the same process ran out of 24 GB; a batch of at least 2
for DAT).  The
perceptual loss's VGG19 is random weights at a temporary TORCH_HOME: this checks that every
template trains, not what it learns.  Prints one line per template and a summary; exits non-zero
if any failed.  The suite (tests/test_trainner_redux.py) reads every template and trains the
smallest network of each family; this runs them all (about 20 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'trainner_redux')


def make_data(root: str) -> None:
    """Two folder pairs of 256 px photo crops and their 64 px LQ."""
    import cv2
    import numpy as np
    import skimage.data
    names = [('astronaut', 'coffee'), ('chelsea', 'rocket')]
    for part, pair in enumerate(names, 1):
        for kind in ('hr', 'lr'):
            os.makedirs(os.path.join(root, f'{kind}{part}'), exist_ok=True)
        for i, name in enumerate(pair):
            img = getattr(skimage.data, name)()[..., :3]
            h, w = img.shape[:2]
            hr = np.ascontiguousarray(img[(h - 256) // 2:(h + 256) // 2, (w - 256) // 2:(w + 256) // 2, ::-1])
            cv2.imwrite(os.path.join(root, f'hr{part}', f'img{i}.png'), hr)
            cv2.imwrite(os.path.join(root, f'lr{part}', f'img{i}.png'),
                        cv2.resize(hr, (64, 64), interpolation=cv2.INTER_AREA))


def random_vgg19(torch_home: str) -> None:
    import torch
    from torchvision.models import vgg19
    from srkit.losses.perceptual import vgg19_cache_path
    os.environ['TORCH_HOME'] = torch_home
    path, _ = vgg19_cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(vgg19(weights=None).state_dict(), path)


def run(rel: str, work: str, batch: int, lq: int) -> tuple[int, str]:
    import torch
    import yaml
    from srkit.archs import build_network
    from srkit.cli.train import main
    from srkit.options import read_yaml
    data = read_yaml(os.path.join(FIXTURES, rel))
    for ds in data['datasets'].values():
        ds['dataroot_gt'] = [os.path.join(work, 'data', 'hr1'), os.path.join(work, 'data', 'hr2')]
        if 'dataroot_lq' in ds:
            ds['dataroot_lq'] = [os.path.join(work, 'data', 'lr1'), os.path.join(work, 'data', 'lr2')]
    if 'pretrain_network_g' in data.get('path', {}):
        net = build_network({**data['network_g'], 'scale': data['scale']})
        torch.save({'params': net.state_dict()}, os.path.join(work, 'pre.pth'))
        data['path']['pretrain_network_g'] = os.path.join(work, 'pre.pth')
    opt = os.path.join(work, 'opt.yml')
    with open(opt, 'w') as f:
        yaml.safe_dump(data, f)
    if rel.startswith('GRL/'):  # at least 33 px; GRL_B's attention took over 21 GB at 2 x 48 px
        lq, batch = 48, 1
    batch = max(batch, 2) if rel.startswith('DAT/') else batch
    args = ['-opt', opt, '--quiet', '--force', 'train.total_iter=1', '--force', f'path.experiments_root={work}/exp',
            '--force', f'datasets.train.batch_size_per_gpu={batch}', '--force', f'datasets.train.lq_size={lq}']
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main.run(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # a traceback is a finding: report it
            code, _ = 1, err.write(f'{type(e).__name__}: {e}')
    shutil.rmtree(os.path.join(work, 'exp'), ignore_errors=True)  # each run's checkpoints: up to 600 MB
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip() and 'Warning' not in ln]
    return code, (lines[-1] if lines else '')


def run_alone(rel: str, args) -> tuple[int, str]:
    """One template in a fresh process of this script (memory freed when it ends)."""
    import subprocess
    r = subprocess.run([sys.executable, os.path.abspath(__file__), '--only', rel, '--batch', str(args.batch),
                        '--lq', str(args.lq)], capture_output=True, text=True)
    if r.returncode < 0:  # the kernel's OOM killer, most likely
        return 128 - r.returncode, f'killed by signal {-r.returncode}'
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(rel)]
    return r.returncode, (lines[-1][len(rel):].strip() if lines else r.stderr.strip()[-300:])


def main_(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', default='', help='run the templates whose path contains this')
    p.add_argument('--start', default='', help='skip the templates before this path (alphabetical), to go on')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--lq', type=int, default=32)
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    os.environ.setdefault('SRKIT_OFFLINE', '1')
    templates = sorted(os.path.relpath(t, FIXTURES) for t in glob.glob(os.path.join(FIXTURES, '*', '*.yml')))
    templates = [t for t in templates if args.only in t and t >= args.start]
    failed = []
    t_all = time.time()
    with tempfile.TemporaryDirectory() as work:
        make_data(os.path.join(work, 'data'))
        random_vgg19(os.path.join(work, 'torch_home'))
        for rel in templates:
            t0 = time.time()
            if rel.startswith('GRL/') and len(templates) > 1:
                code, last = run_alone(rel, args)
            else:
                code, last = run(rel, work, args.batch, args.lq)
            print(f'{rel:45s} {"ok" if code == 0 else f"EXIT {code}":7s} {time.time() - t0:6.1f} s'
                  + (f'  {last}' if code else ''), flush=True)
            if code:
                failed.append(rel)
    print(f'{len(templates) - len(failed)} of {len(templates)} templates trained an iteration '
          f'({time.time() - t_all:.0f} s){"; failed: " + ", ".join(failed) if failed else ""}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main_())
