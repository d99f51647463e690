"""srkit-interp: network interpolation, theta = (1 - alpha) * A + alpha * B (ESRGAN).

  srkit-interp A.pth B.pth --alpha 0.8 --out C.pth
  srkit-interp PSNR.pth GAN.pth --alphas 0,0.2,0.4,0.6,0.8,1 --out-dir DIR

Every floating-point tensor is interpolated in ``params`` and ``params_ema``
(where both files have them); integer buffers are copied from A, and A's
srkit metadata is kept.  Accepts srkit, BasicSR and Real-ESRGAN files and raw
state dicts (ESRGAN's originals, whose layout is converted to BasicSR's).
alpha outside [0, 1] extrapolates, with a warning.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import UserError, cli_entry

PARAM_KEYS = ('params', 'params_ema')


def _weights(ckpt, path) -> dict[str, dict]:
    """``{param_key: state_dict}`` of a checkpoint; a raw dict counts as ``params``."""
    from ..archs.detect import identify
    from ..utils.checkpoint import extract_state_dict

    def own_keys(sd):  # another project's layout of a known architecture, in srkit's (BasicSR's) keys
        try:
            return identify(sd, path)[1]
        except UserError:
            return sd
    found = [k for k in PARAM_KEYS if isinstance(ckpt, dict) and isinstance(ckpt.get(k), dict)]
    if not found:
        return {'params': own_keys(extract_state_dict(ckpt, None, path)[0])}
    return {k: own_keys(extract_state_dict(ckpt, k, path)[0]) for k in found}


def interpolate_files(path_a: str, path_b: str, alphas: list[float]) -> list[dict]:
    from ..utils.checkpoint import interpolate, load_checkpoint
    ca, cb = load_checkpoint(path_a), load_checkpoint(path_b)
    wa, wb = _weights(ca, path_a), _weights(cb, path_b)
    keys = [k for k in PARAM_KEYS if k in wa and k in wb]
    if not keys:
        # one file has only params_ema, the other only params: pair what exists
        keys = ['params']
        wa = {'params': next(iter(wa.values()))}
        wb = {'params': next(iter(wb.values()))}
    outs = []
    for alpha in alphas:
        out = {k: interpolate(wa[k], wb[k], alpha, path_a, path_b) for k in keys}
        if isinstance(ca, dict) and isinstance(ca.get('srkit'), dict):
            out['srkit'] = dict(ca['srkit'], interpolation={'a': path_a, 'b': path_b, 'alpha': alpha})
        outs.append(out)
    return outs


@cli_entry('srkit-interp')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-interp', description=__doc__.split('\n')[0])
    ap.add_argument('a', help='checkpoint A (alpha = 0), e.g. the PSNR-oriented model')
    ap.add_argument('b', help='checkpoint B (alpha = 1), e.g. the GAN model')
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--alpha', type=float, help='one alpha; write --out')
    g.add_argument('--alphas', help='comma-separated alphas; write one file per alpha into --out-dir')
    ap.add_argument('--out', help='output file for --alpha')
    ap.add_argument('--out-dir', help='output folder for --alphas')
    a = ap.parse_args(argv)
    from ..utils.checkpoint import save_checkpoint
    from ..utils.fileio import check_replaceable
    if a.alpha is not None:
        if not a.out:
            raise UserError('--out is required with --alpha')
        alphas = [a.alpha]
    else:
        if not a.out_dir:
            raise UserError('--out-dir is required with --alphas')
        try:
            alphas = [float(x) for x in a.alphas.split(',') if x.strip()]
        except ValueError:
            raise UserError(f'--alphas: expected comma-separated numbers, got {a.alphas!r}') from None
    for al in alphas:
        if not 0.0 <= al <= 1.0:
            print(f'srkit-interp: warning: alpha {al} is outside [0, 1]: extrapolating', file=sys.stderr)
    stem, ext = os.path.splitext(os.path.basename(a.b))
    ext = ext if ext.lower() in ('.pth', '.safetensors') else '.pth'
    # the format follows the file name: --out x.safetensors writes safetensors
    paths = [a.out] if a.alpha is not None else [os.path.join(a.out_dir, f'{stem}_alpha{al:g}{ext}') for al in alphas]
    for path in paths:  # before any work: an output that is an input (or a device) is refused
        check_replaceable(path, (a.a, a.b), '--out' if a.alpha is not None else '--out-dir file')
    for al, out, path in zip(alphas, interpolate_files(a.a, a.b, alphas), paths):
        save_checkpoint(out, path)
        print(f'alpha {al:g}: {path}')
    return 0


if __name__ == '__main__':
    main()
