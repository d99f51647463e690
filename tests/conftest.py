import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault('OMP_NUM_THREADS', '2')
os.environ['SRKIT_OFFLINE'] = '1'  # nothing may download at test time, not even a failed attempt

from srkit.utils.hostmem import ENV, keep_freed_memory  # noqa: E402

os.environ.pop(ENV, None)  # the suite runs srkit's default, whatever the shell says
keep_freed_memory()  # as the tools set it first (call_cli runs them in this process; training tests too)


def photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as (H,W,3) RGB float32 in [0,1]."""
    import skimage.data
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return img[..., :3].astype(np.float32) / 255.0


@pytest.fixture(scope='session')
def photos_dir(tmp_path_factory):
    """Small HR photos (96x96 crops of bundled images) in a folder, plus x2 bicubic LR."""
    from degradations.pipelines import bicubic
    from srkit.utils.imgio import write_image
    root = tmp_path_factory.mktemp('photos')
    crops = [('astronaut', 0, 0), ('astronaut', 200, 150), ('coffee', 100, 200), ('rocket', 50, 300),
             ('chelsea', 60, 120), ('immunohistochemistry', 30, 30)]
    for i, (n, t, l) in enumerate(crops):
        hr = photo(n)[t:t + 96, l:l + 96]
        write_image(str(root / 'hr' / f'{n}_{i}.png'), hr)
        lr, _ = bicubic(np.rint(hr * 255) / 255, 2)
        write_image(str(root / 'lr_x2' / f'{n}_{i}.png'), lr)
    return root


def tiny_options(tmp_path, photos_dir, **over):
    """A tiny SRModel x2 config (MSRResNet 8 features, 1 block) as a dict."""
    opt = {
        'name': 'tiny', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 7,
        'datasets': {
            'train': {'name': 't', 'type': 'SingleHRDataset', 'dataroot_gt': str(photos_dir / 'hr'),
                      'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': True, 'use_rot': True,
                      'num_worker_per_gpu': 1, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1},
            'val': {'name': 'v', 'type': 'PairedImageDataset', 'dataroot_gt': str(photos_dir / 'hr'),
                    'dataroot_lq': str(photos_dir / 'lr_x2'), 'io_backend': {'type': 'disk'}},
        },
        'network_g': {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2},
        'path': {'experiments_root': str(tmp_path / 'exp')},
        'train': {'ema_decay': 0.9, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [6], 'gamma': 0.5},
                  'total_iter': 12, 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'val': {'val_freq': 6, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2}}},
        'logger': {'print_freq': 3, 'save_checkpoint_freq': 3, 'use_tb_logger': False},
    }
    for k, v in over.items():
        node = opt
        parts = k.split('.')
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if v is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = v
    return opt


def write_yaml(path, data) -> str:
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    return str(path)


def run_cli(module: str, *args, env=None, timeout=600):
    """Run ``python -m srkit.cli.<module> args`` in a subprocess; returns CompletedProcess."""
    e = dict(os.environ, **(env or {}))
    e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
    return subprocess.run([sys.executable, '-m', f'srkit.cli.{module}', *map(str, args)],
                          capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT)


def call_cli(module: str, *args, env=None):
    """``srkit-<module> args`` in this process (no 2-3 s of torch import per call), as
    :func:`run_cli` returns it: exit code, stdout and stderr; an uncaught exception becomes exit 1
    and its traceback on stderr, as in a subprocess.  For calls that need a process of their own
    (a kill, a PID, a locale), use :func:`run_cli`."""
    import contextlib
    import importlib
    import io
    import traceback
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    cwd = os.getcwd()
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    try:
        os.chdir(ROOT)
        main = importlib.import_module(f'srkit.cli.{module}').main
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main.run([str(a) for a in args])
            except SystemExit as e:  # argparse
                code = e.code if isinstance(e.code, int) else 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess([module, *map(str, args)], code, out.getvalue(), err.getvalue())


def kill_when(proc, ready) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` is true; wait for it to end."""
    import signal
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        try:
            proc.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            pass
    proc.wait()


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (torchrun starts each rank in its own session)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def run_torchrun(yaml_path, cwd, nproc: int = 2, timeout: int = 240):
    """``torchrun --standalone --nproc_per_node N -m srkit.cli.train -opt YAML --quiet`` on CPU;
    fails the test, showing what went wrong, unless the launch exits 0.

    These runs take seconds. If one hangs, each of its processes gets SIGABRT, so Python's
    faulthandler prints every thread's stack; nothing is left running. A launch that a signal
    ended (a rank aborted inside gloo, or hung) is run once more: the second run must pass,
    and the first one's report is kept as a warning in the test summary, so an intermittent
    failure stays visible without failing CI on a single occurrence.
    """
    first = _torchrun_once(yaml_path, cwd, nproc, timeout)
    if first is None:
        return
    report, by_signal = first
    if not by_signal:
        pytest.fail(report, pytrace=False)
    import shutil
    import warnings
    with open(yaml_path) as f:
        opt = yaml.safe_load(f)
    shutil.rmtree(os.path.join(opt['path']['experiments_root'], opt['name']), ignore_errors=True)  # afresh
    again = _torchrun_once(yaml_path, cwd, nproc, timeout)
    if again is not None:
        pytest.fail(f'{again[0]}\n\n=== the first attempt ===\n{report}', pytrace=False)
    msg = f'torchrun passed on a second attempt; the first:\n{report}'
    sys.__stderr__.write(f'\n{msg}\n')  # past pytest's capture, so CI's log keeps it
    warnings.warn(msg)


def _torchrun_once(yaml_path, cwd, nproc, timeout):
    """None when the launch exits 0, else (report, whether a signal ended it)."""
    import signal
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PYTHONFAULTHANDLER='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           str(nproc), '-m', 'srkit.cli.train', '-opt', str(yaml_path), '--quiet']
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=str(cwd))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs = _descendants(p.pid) + [p.pid]
        out = err = ''
        for sig in (signal.SIGABRT, signal.SIGKILL):
            for pid in procs:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
                for _ in range(100):  # one process at a time, so the stack dumps do not interleave
                    if sig == signal.SIGKILL or not os.path.exists(f'/proc/{pid}'):
                        break
                    try:
                        p.wait(timeout=0.02)
                    except subprocess.TimeoutExpired:
                        pass
            try:
                out, err = p.communicate(timeout=20)
                break
            except subprocess.TimeoutExpired:
                procs = _descendants(p.pid) + procs
        return f'torchrun hung for {timeout} s\n{_torchrun_report(out, err, cwd)}', True
    if p.returncode == 0:
        return None
    # torchrun's summary: the rank that failed first, and its exit code (negative: a signal)
    root = err.split('Root Cause', 1)[-1]
    by_signal = re.search(r'exitcode\s*:\s*-\d+', root) is not None
    return f'torchrun exited {p.returncode}\n{_torchrun_report(out, err, cwd)}', by_signal


def _torchrun_report(out: str, err: str, cwd) -> str:
    """What a failed launch said, without the noise: each rank's fatal-error stacks and Python
    tracebacks (faulthandler's list of extension modules and the launcher's own traceback
    dropped), then the tail of the training logs and of stdout."""
    import glob
    keep = []
    for line in err.splitlines():
        if line.startswith('Extension modules:'):
            continue
        if 'torch/distributed/run.py' in line or line.startswith('torch.distributed.elastic.multiprocessing.errors'):
            keep.append('[the launcher\'s own traceback follows; cut]')
            break
        keep.append(line)
    text = '\n'.join(keep)
    logs = ''.join(f'--- {os.path.relpath(f, str(cwd))}\n{open(f).read()[-1500:]}'
                   for f in glob.glob(os.path.join(str(cwd), '**', 'train_*.log'), recursive=True))
    return f'--- stderr (fatal stacks, tracebacks) ---\n{text[-12000:]}\n--- logs ---\n{logs}\n' \
           f'--- stdout ---\n{out[-1500:]}'


@pytest.fixture
def vgg_cache(tmp_path, monkeypatch):
    """A random-initialised VGG19 state dict at the torch hub cache path (TORCH_HOME)."""
    import torch
    from torchvision.models import vgg19
    from srkit.losses.perceptual import vgg19_cache_path
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    path, _ = vgg19_cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.manual_seed(0)
    net = vgg19(weights=None)
    torch.save(net.state_dict(), path)
    return net.eval()


@pytest.fixture
def lpips_cache(tmp_path, monkeypatch):
    """Random-initialised weight files where pyiqa's LPIPS (v0.1, AlexNet) looks for them:
    torchvision's AlexNet in the torch hub cache and pyiqa's linear layers in its cache.
    AlexNet's classifier (which LPIPS never runs) is stored as expanded zeros, so the file
    stays small while torchvision's strict load still sees every key and shape."""
    import torch
    from torchvision.models import alexnet
    from srkit.losses.perceptual import lpips_weight_paths
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    (alex_path, _), (lin_path, _) = lpips_weight_paths()
    import pyiqa.utils.download_util as dl  # pyiqa fixed its cache folder at import; follow TORCH_HOME
    monkeypatch.setattr(dl, 'DEFAULT_CACHE_DIR', os.path.dirname(lin_path))
    torch.manual_seed(0)
    sd = alexnet(weights=None).state_dict()
    sd = {k: (torch.zeros(1).expand(v.shape) if k.startswith('classifier') else v) for k, v in sd.items()}
    for p in (alex_path, lin_path):
        os.makedirs(os.path.dirname(p), exist_ok=True)
    torch.save(sd, alex_path)
    chns = [64, 192, 384, 256, 256]
    torch.save({f'lin{i}.model.1.weight': torch.rand(1, c, 1, 1) for i, c in enumerate(chns)}, lin_path)
    return alex_path, lin_path


@pytest.fixture
def fid_cache(tmp_path, monkeypatch):
    """A random-initialised FID Inception (pyiqa's architecture, its keys and shapes) where
    pyiqa's loader looks for pt_inception-2015-12-05-6726825d.pth under TORCH_HOME."""
    import torch
    import pyiqa.archs.inception as inc
    import pyiqa.utils.download_util as dl
    from srkit.metrics.iqa import fid_weight_path
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    path, _ = fid_weight_path()
    monkeypatch.setattr(dl, 'DEFAULT_CACHE_DIR', os.path.dirname(path))
    with monkeypatch.context() as m:  # only to build the random network: no weights loaded
        m.setattr(inc, 'load_pretrained_network', lambda net, url: None)
        torch.manual_seed(0)
        net = inc.fid_inception_v3()
    # torchvision's random init keeps the features well spread (a cheaper kernel-constant
    # scheme made them explode, and FID's matrix square root with them); the classifier,
    # which FID never runs, is stored as expanded zeros
    sd = {k: (torch.zeros(1).expand(v.shape) if k.startswith('fc.') else v) for k, v in net.state_dict().items()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(sd, path)
    return path


@pytest.fixture
def small_disk(tmp_path):
    """``make(kib)`` -> a folder on a file system of that size (a tmpfs, mounted here and unmounted
    after), where writes fail with ENOSPC once it is full, as on a full disk."""
    import subprocess
    mounts = []

    def make(kib: int, read_only: bool = False):
        d = tmp_path / f'disk{len(mounts)}'
        d.mkdir()
        opts = f'size={kib}k' + (',ro' if read_only else '')
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(d)], capture_output=True)
        assert r.returncode == 0, f'this test needs to mount a small tmpfs (root): {r.stderr}'
        mounts.append(d)
        return d
    yield make
    for d in mounts:
        subprocess.run(['umount', '-l', str(d)])


def png_bomb(path, side: int) -> int:
    """A PNG whose header declares ``side`` x ``side`` grey pixels, built from a few KB: the IDAT
    holds only the first rows (a decoder allocates the whole image before it finds out)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    rows = zlib.compress(b'\0' * ((side + 1) * 64), 9)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 8, 0, 0, 0, 0)) + \
        chunk(b'IDAT', rows) + chunk(b'IEND', b'')
    path.write_bytes(data)
    return len(data)
