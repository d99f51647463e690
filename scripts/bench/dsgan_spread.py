"""The demo's DSGAN stage, repeated: how far its "noise gap closed" spreads over seeds and threads.

  python scripts/bench/dsgan_spread.py [--data demo_out/data] [--seeds 0 1 2] [--threads 1 2]
         [--jobs 2] [--force KEY=VALUE ...] [--out DIR] [--json FILE]

``make demo`` stage 6 trains ``options/demo_dsgan_x4.yml`` on its photos, makes the held-out
photos' LR set with ``srkit-degrade --method dsgan`` and measures the share of bicubic's
noise-level gap to the camera that the set closes (``scripts/demo_summary.py``).  A GAN's
outcome depends on the exact floating-point path: another CPU's instruction set, another thread
count or another seed gives another run.  This script repeats the stage for each seed (the
recipe's ``manual_seed``) and each thread count (``OMP_NUM_THREADS``), ``--jobs`` runs at a
time, on the data of an earlier ``make demo`` (``--data``), and prints each run's share, the
mean, the spread and the worst case.  ``--force`` passes recipe overrides to every run
(``train.gan_opt.loss_weight=0.006``) to compare recipes.  It exits 1 when the worst case
closes less than ``--bar`` of the gap.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dsgan import folder_level, gap_closed  # noqa: E402

RECIPE = os.path.join(ROOT, 'options', 'demo_dsgan_x4.yml')


def _tool(name: str) -> list[str]:
    return [sys.executable, '-m', f'srkit.cli.{name}']


def one_run(data: str, out: str, seed: int, threads: int, force: list[str]) -> dict:
    """Train the demo's DSGAN with ``seed`` on ``threads`` threads, make the held-out LR set and
    measure it: ``{'seed', 'threads', 'dsgan', 'closed'}`` (``dsgan``: its mean noise level)."""
    name = f'dsgan_s{seed}_t{threads}'
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), SRKIT_OFFLINE='1', PYTHONPATH=ROOT)
    over = [f'name={name}', f'manual_seed={seed}', f'path.experiments_root={out}',
            f'datasets.train.dataroot_a={os.path.join(data, "hr_train.lmdb")}',
            f'datasets.train.dataroot_b={os.path.join(data, "camera_lr_x4")}', 'logger.use_tb_logger=false',
            *force]
    log = open(os.path.join(out, f'{name}.log'), 'a')
    # --auto_resume: a run already trained (an earlier call with the same --out) is reused
    subprocess.run(_tool('train') + ['-opt', RECIPE, '--quiet', '--auto_resume'] +
                   [a for o in over for a in ('--force', o)], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    models = os.path.join(out, name, 'models')
    iters = [int(f[len('net_g_'):-len('.pth')]) for f in os.listdir(models)
             if f.startswith('net_g_') and f[len('net_g_'):-len('.pth')].isdigit()]
    last = f'net_g_{max(iters)}.pth'
    lr = os.path.join(out, f'lr_{name}')
    subprocess.run(_tool('degrade') + ['--input', os.path.join(data, 'hr_val'), '--output', lr, '--method', 'dsgan',
                                       '--model', os.path.join(models, last), '--scale', '4', '--workers', '1'],
                   env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    return {'seed': seed, 'threads': threads, 'dsgan': folder_level(lr)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.path.join(ROOT, 'demo_out', 'data'),
                    help="an earlier make demo's data folder (hr_train.lmdb, camera_lr_x4, hr_val, lr_val_*)")
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--jobs', type=int, default=2, help='runs at a time')
    ap.add_argument('--force', action='append', default=[], metavar='KEY=VALUE', help='recipe override, each run')
    ap.add_argument('--out', default=None, help='keep the runs here (default: a temporary folder)')
    ap.add_argument('--bar', type=float, default=0.7, help='the worst case must close this share')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    data = os.path.abspath(a.data)
    levels = {'camera': folder_level(os.path.join(data, 'lr_val_camera_x4')),
              'bicubic': folder_level(os.path.join(data, 'lr_val_x4'))}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.abspath(a.out or tmp)
        os.makedirs(out, exist_ok=True)
        runs = [(s, t) for s in a.seeds for t in a.threads]
        with ThreadPoolExecutor(a.jobs) as pool:
            results = list(pool.map(lambda st: one_run(data, out, st[0], st[1], a.force), runs))
    for r in results:
        r['closed'] = gap_closed({**levels, 'dsgan': r['dsgan']})
    closed = np.array([r['closed'] for r in results])
    print(f'recipe {os.path.relpath(RECIPE, ROOT)} {" ".join(a.force)} | camera {levels["camera"]:.3f}, '
          f'bicubic {levels["bicubic"]:.3f} (8-bit noise sigma, held-out photos)')
    for r in results:
        print(f'  seed {r["seed"]} threads {r["threads"]}: DSGAN {r["dsgan"]:.3f} -> {r["closed"]:.0%} of the gap closed')
    worst = float(closed.min())
    print(f'{len(closed)} runs: mean {closed.mean():.0%}, spread (max - min) {np.ptp(closed):.0%}, '
          f'worst {worst:.0%} ({"PASS" if worst >= a.bar else "FAIL"}: must be >= {a.bar:.0%})')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'levels': levels, 'force': a.force, 'runs': results}, f, indent=1)
    return 0 if worst >= a.bar else 1


if __name__ == '__main__':
    sys.exit(main())
