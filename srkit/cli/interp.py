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
import sys

from ..errors import UserError, cli_entry
from .common import comma_list


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-interp', description=__doc__.split('\n')[0])
    ap.add_argument('a', help='checkpoint A (alpha = 0), e.g. the PSNR-oriented model')
    ap.add_argument('b', help='checkpoint B (alpha = 1), e.g. the GAN model')
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--alpha', type=float, help='one alpha; write --out')
    g.add_argument('--alphas', help='comma-separated alphas; write one file per alpha into --out-dir')
    ap.add_argument('--out', help='output file for --alpha')
    ap.add_argument('--out-dir', help='output folder for --alphas')
    return ap


def alphas(a) -> list[float]:
    """The alphas of ``--alpha`` or ``--alphas``, each with its output flag given."""
    if a.alpha is not None:
        if not a.out:
            raise UserError('--out is required with --alpha')
        return [a.alpha]
    if not a.out_dir:
        raise UserError('--out-dir is required with --alphas')
    return comma_list(a.alphas, '--alphas')


@cli_entry('srkit-interp')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..inference import InterpRequest, interpolate_checkpoints
    from ..utils.naming import field_names
    from .common import flags
    one = a.alpha is not None
    request = InterpRequest(a.a, a.b, alphas(a), a.out if one else None, None if one else a.out_dir)
    with field_names(flags(ap)):  # messages name the flags
        r = interpolate_checkpoints(request)
    for al in r.extrapolated:
        print(f'srkit-interp: warning: alpha {al} is outside [0, 1]: extrapolating', file=sys.stderr)
    for al, path in r.files:
        print(f'alpha {al:g}: {path}')
    return 0


if __name__ == '__main__':
    main()
