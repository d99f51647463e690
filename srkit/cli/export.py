"""srkit-export: a generator checkpoint to ONNX, checked in onnxruntime against PyTorch.

  srkit-export --model net_g.pth --out net_g.onnx [--opset 17] [--fp16] [--dynamic]
               [--input IMAGE] [--size 64] [--tolerance T]

The graph takes ``(B,C,H,W)`` in [0,1] (C: the network's channels, 3 for RGB) and returns the
upscaled image in [0,1], as srkit-infer does; ``--dynamic`` lets batch, height and width vary
(any height and width: a network that needs a size multiple pads inside the graph, as
srkit-infer does).  After writing, the model runs in onnxruntime (CPU) on an image
(``--input``, or a photo bundled with scikit-image) and the command prints the largest
difference from srkit-infer's PyTorch path; above the tolerance it fails and writes nothing.
``--out`` may not be the model or the image, nor a device, FIFO or folder.
"""
from __future__ import annotations

import argparse

from ..errors import cli_entry


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-export', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='generator checkpoint (.pth, .safetensors; any srkit-infer reads)')
    ap.add_argument('--out', required=True, help='the .onnx file to write')
    ap.add_argument('--opset', type=int, default=17, help='ONNX opset (11 to the highest the installed torch writes)')
    ap.add_argument('--fp16', action='store_true', help='half-precision weights and input')
    ap.add_argument('--dynamic', action='store_true', help='batch, height and width not fixed')
    ap.add_argument('--input', default=None, help='the image the check runs on (default: a bundled photo)')
    ap.add_argument('--size', type=int, default=64, help='the check image\'s crop, pixels (and the traced size)')
    ap.add_argument('--param-key', default=None, help='params or params_ema (default: params_ema if present)')
    ap.add_argument('--tolerance', type=float, default=None,
                    help='largest allowed difference on [0, 1] (default 1e-4, with --fp16 2e-2)')
    return ap


@cli_entry('srkit-export')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..export import ExportRequest, export_model
    from ..utils.naming import field_names
    from .common import flags
    with field_names(flags(ap)):  # messages name the flags
        r = export_model(ExportRequest(**vars(a)))
    print(f'{r.out}: {r.arch["type"]} x{r.scale}, {r.bytes / 1e6:.2f} MB, opset {r.opset}'
          f'{", fp16" if r.fp16 else ""}{", dynamic axes" if r.dynamic else ""}')
    sizes = ' and a '.join(f'{h}x{w}' for h, w in r.sizes)
    print(f'onnxruntime vs PyTorch on a {sizes} image: max difference {r.max_diff:.3g}, '
          f'mean {r.mean_diff:.3g} (tolerance {r.tolerance:g})')
    return 0


if __name__ == '__main__':
    main()
