"""srkit-infer: upscale images with a generator checkpoint.

  srkit-infer --model net_g.pth --input FILE|DIR --output DIR [--tile 256] [--tile-overlap 32]
              [--precision fp32|fp16|bf16] [--device cpu|cuda]
  srkit-infer --model EXPERIMENT_DIR --net g_a|g_b ...   (CycleGAN: pick the direction)
  srkit-infer --model model.onnx ...                     (srkit-export's file, in onnxruntime)

The architecture comes from the checkpoint's srkit metadata, or is recognised
from BasicSR, old ESRGAN, BSRGAN, DSGAN or pytorch-CycleGAN-and-pix2pix key
names.  Translation generators (pix2pix, CycleGAN) run in eval mode unless
``--inference-mode train`` asks for the reference's test-time dropout and batch
statistics.

``--tile N`` keeps each image on the CPU and sends tiles to the device one at a
time, one every N pixels (as Real-ESRGAN's ``--tile`` counts), each ``--tile-overlap``
pixels larger, blended across the overlap (seamless when 3/8 of
the overlap covers the network's receptive-field radius).  Output files are
``OUTPUT/<input stem>.png``; 16-bit inputs give 16-bit outputs, gray inputs
gray-looking RGB, and an alpha channel is upscaled (bicubic) and kept.  JPEG/TIFF/WebP
EXIF orientation is applied, so outputs stand the way viewers show the inputs.  ``--model bicubic --scale N`` gives the
MATLAB-bicubic baseline.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import cli_entry


def __getattr__(attr: str):
    """``pick_network_file``, which lived here before ``srkit.inference.upscale_folder`` (loaded
    lazily: ``--help`` does not wait for torch)."""
    if attr == 'pick_network_file':
        from ..inference import pick_network_file
        return pick_network_file
    raise AttributeError(f'module {__name__!r} has no attribute {attr!r}')


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-infer', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help="generator checkpoint (.pth), or 'bicubic'")
    ap.add_argument('--input', required=True, help='an image or a folder of images')
    ap.add_argument('--output', required=True, help='output folder')
    ap.add_argument('--scale', type=int, default=None, help="scale for --model bicubic")
    ap.add_argument('--param-key', default=None, help='params_ema (default, falls back to params) or params')
    ap.add_argument('--device', default=None, help='cpu, cuda, cuda:1 ... (default: cuda if available)')
    ap.add_argument('--tile', type=int, default=0, help='tile step in input pixels; each tile is N + overlap pixels (0: the whole image at once)')
    ap.add_argument('--tile-overlap', type=int, default=32, help='overlap of neighbouring tiles, input pixels')
    ap.add_argument('--precision', choices=('fp32', 'fp16', 'bf16'), default='fp32',
                    help='the network\'s precision (fp16 needs a GPU)')
    ap.add_argument('--net', default=None,
                    help='which network of an experiment (g, g_a, g_b): with a folder as --model, or to switch '
                         'a net_<name>_<iter>.pth file to its sibling')
    ap.add_argument('--dni-model', default=None, metavar='B.pth',
                    help='network interpolation: run (1 - DNI) * MODEL + DNI * B (same architecture)')
    ap.add_argument('--dni', type=float, default=None, help='the weight of --dni-model, in [0, 1]')
    ap.add_argument('--denoise-strength', type=float, default=None,
                    help="Real-ESRGAN's realesr-general-x4v3 denoise strength in [0, 1]: interpolates with the "
                         'realesr-general-wdn-x4v3 file beside --model (1: the model alone, 0: the wdn model)')
    ap.add_argument('--use-dropout', choices=('true', 'false'), default=None,
                    help='U-Net/ResNet translation generators read from bare keys: whether the network was trained '
                         "with dropout (the keys cannot tell; CycleGAN's default is --no_dropout, pix2pix's dropout); "
                         'matters with --inference-mode train')
    ap.add_argument('--backend', choices=('auto', 'torch', 'onnxruntime'), default='auto',
                    help='auto (default): onnxruntime for .onnx files of srkit-export, PyTorch for checkpoints '
                         '(measured as fast on the CPU, without an export at load); onnxruntime: a checkpoint '
                         'exported in memory')
    ap.add_argument('--inference-mode', choices=('eval', 'train'), default='eval',
                    help='eval (default): dropout off, BatchNorm running stats; train: the pix2pix/CycleGAN '
                         "reference's test.py behaviour without --eval")
    return ap


@cli_entry('srkit-infer')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..utils.hostmem import keep_freed_memory
    keep_freed_memory()  # large tensors reuse freed memory, not fresh pages (docs/benchmarks.md)
    from ..inference import UpscaleRequest, upscale_folder
    from ..utils.naming import field_names
    from .common import Bars, flags
    a.use_dropout = None if a.use_dropout is None else a.use_dropout == 'true'
    # with tiles, a second bar follows the current image's tiles (a large image takes minutes on a CPU)
    bars = Bars(infer={'position': 0}, tiles={'unit': 'tile', 'leave': False, 'position': 1})
    with field_names(flags(ap)), bars:  # messages name the flags
        r = upscale_folder(UpscaleRequest(**vars(a)), bars)
    for w in r.warnings:
        print(f'srkit-infer: warning: {w}', file=sys.stderr)
    if r.network:
        print(f'{r.network}: {r.description}' + (f', interpolated with {r.interpolated_with}'
                                                 if r.interpolated_with else ''))
    for e in r.failed:
        print(f'srkit-infer: skipped: {e}', file=sys.stderr)
    print(f'{len(r.written)} image(s) written to {a.output}' + (f'; {len(r.failed)} failed' if r.failed else ''))
    return 0 if r.ok else 1


if __name__ == '__main__':
    main()
