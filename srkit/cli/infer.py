"""srkit-infer: upscale images with a generator checkpoint.

  srkit-infer --model net_g.pth --input FILE|DIR --output DIR [--device cpu|cuda]

The architecture comes from the checkpoint's srkit metadata, or is recognised
from BasicSR key names.  Output files are ``OUTPUT/<input stem>.png``; 16-bit
inputs give 16-bit outputs, gray inputs gray-looking RGB, and an alpha channel
is upscaled (bicubic) and kept.  ``--model bicubic --scale N`` gives the
MATLAB-bicubic baseline.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from tqdm import tqdm

from ..errors import DataError, UserError, cli_entry


def _inputs(path: str) -> list[str]:
    from ..utils.imgio import list_images
    if os.path.isdir(path):
        files = [os.path.join(path, f) for f in list_images(path)]
        if not files:
            raise UserError(f'{path}: no images found')
        return files
    if not os.path.exists(path):
        raise UserError(f'{path}: no such file or directory')
    return [path]


@cli_entry('srkit-infer')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-infer', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help="generator checkpoint (.pth), or 'bicubic'")
    ap.add_argument('--input', required=True, help='an image or a folder of images')
    ap.add_argument('--output', required=True, help='output folder')
    ap.add_argument('--scale', type=int, default=None, help="scale for --model bicubic")
    ap.add_argument('--param-key', default=None, help='params_ema (default, falls back to params) or params')
    ap.add_argument('--device', default=None, help='cpu, cuda, cuda:1 ... (default: cuda if available)')
    a = ap.parse_args(argv)
    import torch
    from degradations import imresize
    from ..utils.imgio import decode, img2tensor, read_bytes, tensor2img, write_image
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if a.model == 'bicubic':
        if not a.scale:
            raise UserError('--scale is required with --model bicubic')
        net, scale = None, a.scale
    else:
        from ..archs.detect import load_generator
        net, cfg, scale = load_generator(a.model, a.param_key, device)
    files = _inputs(a.input)
    os.makedirs(a.output, exist_ok=True)
    failed = []
    for f in tqdm(files, desc='infer', unit='img', disable=None):
        stem = os.path.splitext(os.path.basename(f))[0]
        try:
            img = decode(read_bytes(f), f)
            if net is None:
                out = np.clip(imresize(img.rgb, scale), 0, 1)
            else:
                with torch.no_grad():
                    x = img2tensor(img.rgb).unsqueeze(0).to(device)
                    out = tensor2img(net(x))
            alpha = None
            if img.alpha is not None:
                alpha = np.clip(imresize(img.alpha, scale), 0, 1)
            write_image(os.path.join(a.output, f'{stem}.png'), out,
                        bit_depth=16 if img.bit_depth == 16 else 8, alpha=alpha)
        except DataError as e:
            failed.append(str(e))
            print(f'srkit-infer: skipped: {e}', file=sys.stderr)
    print(f'{len(files) - len(failed)} image(s) written to {a.output}' +
          (f'; {len(failed)} failed' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    main()
