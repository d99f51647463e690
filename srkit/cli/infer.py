"""srkit-infer: upscale images with a generator checkpoint.

  srkit-infer --model net_g.pth --input FILE|DIR --output DIR [--tile 256] [--tile-overlap 32]
              [--precision fp32|fp16|bf16] [--device cpu|cuda]
  srkit-infer --model EXPERIMENT_DIR --net g_a|g_b ...   (CycleGAN: pick the direction)

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
import os
import sys

from tqdm import tqdm

from ..errors import DataError, UserError, cli_entry
from ..utils.fileio import check_apart, make_output_dir


def _output_path(output: str, input_file: str) -> str:
    return os.path.join(output, os.path.splitext(os.path.basename(input_file))[0] + '.png')


def _inputs(path: str) -> list[str]:
    from ..utils.imgio import images_by_stem
    if os.path.isdir(path):
        try:
            files = [os.path.join(path, f) for f in images_by_stem(path).values()]
        except DataError as e:
            raise UserError(str(e)) from None
        if not files:
            raise UserError(f'{path}: no images found')
        return files
    if not os.path.exists(path):
        raise UserError(f'{path}: no such file or directory')
    return [path]


def pick_network_file(model: str, net: str | None) -> str:
    """``model`` itself, or with ``net``: the newest ``net_<net>_<iter>.pth`` (or
    ``.safetensors``) of an experiment folder (or its ``models/``), pytorch-CycleGAN-and-pix2pix's
    ``latest_net_<NET>.pth`` (else the newest ``<epoch>_net_<NET>.pth``) in its checkpoint
    folder, or the sibling of a ``net_<x>_<iter>.pth`` file."""
    import glob
    import re
    if os.path.isdir(model):
        if net is None:
            raise UserError(f'{model}: a folder; name the network with --net (g, g_a, g_b ...)')
        folder = os.path.join(model, 'models') if os.path.isdir(os.path.join(model, 'models')) else model
        found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(folder, f'net_{net}_*'))
                 if (m := re.fullmatch(rf'net_{re.escape(net)}_(\d+)\.(pth|safetensors)', os.path.basename(p)))]
        if found:
            return max(found)[1]
        ref = net.upper()  # the reference's names: G, G_A, D_B ...
        latest = os.path.join(folder, f'latest_net_{ref}.pth')
        if os.path.exists(latest):
            return latest
        epochs = [(int(m.group(1)), p) for p in glob.glob(os.path.join(folder, f'*_net_{ref}.pth'))
                  if (m := re.fullmatch(rf'(\d+)_net_{re.escape(ref)}\.pth', os.path.basename(p)))]
        if epochs:
            return max(epochs)[1]
        raise UserError(f'{folder}: no net_{net}_<iter>.pth, latest_net_{ref}.pth or <epoch>_net_{ref}.pth files')
    if net is None:
        return model
    m = re.fullmatch(r'net_(\w+?)_(\d+)\.(pth|safetensors)', os.path.basename(model))
    if m is None:
        raise UserError(f'{model}: --net {net} needs an experiment folder or a net_<name>_<iter>.pth file')
    sibling = os.path.join(os.path.dirname(model), f'net_{net}_{m.group(2)}.{m.group(3)}')
    if not os.path.exists(sibling):
        raise UserError(f'{sibling}: no such checkpoint (--net {net})')
    return sibling


def _dni(a, model: str):
    """``(B, alpha)`` from --dni-model/--dni or --denoise-strength, or None."""
    if a.denoise_strength is not None:
        if a.dni_model or a.dni is not None:
            raise UserError('--denoise-strength: give it or --dni-model/--dni, not both')
        if not 0 <= a.denoise_strength <= 1:
            raise UserError(f'--denoise-strength: must be in [0, 1], got {a.denoise_strength}')
        name = os.path.basename(model)
        if 'realesr-general-x4v3' not in name:
            raise UserError(f'--denoise-strength: {model} is not realesr-general-x4v3 (use --dni-model/--dni)')
        wdn = os.path.join(os.path.dirname(model), name.replace('realesr-general-x4v3', 'realesr-general-wdn-x4v3'))
        if not os.path.exists(wdn):
            raise UserError(f'--denoise-strength: put realesr-general-wdn-x4v3 beside the model, at {wdn}')
        return wdn, 1.0 - a.denoise_strength
    if (a.dni_model is None) != (a.dni is None):
        raise UserError('--dni-model and --dni go together')
    if a.dni_model is None:
        return None
    if not 0 <= a.dni <= 1:
        print(f'srkit-infer: warning: --dni {a.dni} is outside [0, 1]: extrapolating', file=sys.stderr)
    return a.dni_model, a.dni


@cli_entry('srkit-infer')
def main(argv=None):
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
    ap.add_argument('--inference-mode', choices=('eval', 'train'), default='eval',
                    help='eval (default): dropout off, BatchNorm running stats; train: the pix2pix/CycleGAN '
                         "reference's test.py behaviour without --eval")
    a = ap.parse_args(argv)
    import torch
    from ..inference import check_precision, describe, image_channels, load_generator, read_input, upscale_image
    from ..utils.device import pick_device
    from ..utils.imgio import write_image
    device = pick_device(a.device)
    if a.tile < 0 or a.tile_overlap < 0:
        raise UserError('--tile and --tile-overlap: must be >= 0')
    if a.tile and a.tile_overlap >= a.tile:
        raise UserError(f'--tile-overlap {a.tile_overlap}: must be smaller than --tile {a.tile}')
    if a.precision == 'fp16' and device.type == 'cpu':
        raise UserError('--precision fp16: needs a GPU (--device cuda); use bf16 or fp32 on the CPU')
    dtype = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}[a.precision]
    if a.model == 'bicubic':
        if not a.scale:
            raise UserError('--scale is required with --model bicubic')
        net, scale = None, a.scale
    else:
        model = pick_network_file(a.model, a.net)
        arch = {'use_dropout': a.use_dropout == 'true'} if a.use_dropout is not None else None
        dni = _dni(a, model)
        net, cfg, scale = load_generator(model, a.param_key, device, channels_last=True, dni=dni,
                                         arch_overrides=arch)
        if hasattr(net, 'n_classes') and hasattr(net, 'latent_dim'):
            raise UserError(f'{a.model}: a {cfg["type"]} draws images from labels; use srkit-sample')
        print(f'{model}: {describe(cfg, scale)}' + (f', interpolated with {dni[0]}' if dni else ''))
        check_precision(net, dtype)
        image_channels(net, model)  # one it cannot feed stops here, not at the first image
        net.train(a.inference_mode == 'train')
        net.to(dtype)
    files = _inputs(a.input)
    if os.path.isdir(a.input):
        check_apart(a.output, [a.input])
    elif os.path.realpath(_output_path(a.output, a.input)) == os.path.realpath(a.input):
        raise UserError(f'--output {a.output}: would overwrite the input {a.input}; write to another folder')
    make_output_dir(a.output)
    failed = []
    # with tiles, a second bar follows the current image's tiles (a large image takes minutes on a CPU)
    tiles_bar = tqdm(total=1, desc='tiles', unit='tile', leave=False, disable=None, position=1) if a.tile else None

    def tile_progress(done, total):
        if done == 1:
            tiles_bar.reset(total=total)
        tiles_bar.update(1)
    for f in tqdm(files, desc='infer', unit='img', disable=None, position=0):
        try:
            img = read_input(f)
            out, alpha = upscale_image(net, img, scale, device, a.tile, a.tile_overlap, dtype,
                                       tile_progress if tiles_bar is not None else None)
            write_image(_output_path(a.output, f), out,
                        bit_depth=16 if img.bit_depth == 16 else 8, alpha=alpha)
        except DataError as e:
            failed.append(str(e))
            print(f'srkit-infer: skipped: {e}', file=sys.stderr)
    if tiles_bar is not None:
        tiles_bar.close()
    print(f'{len(files) - len(failed)} image(s) written to {a.output}' +
          (f'; {len(failed)} failed' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    main()
