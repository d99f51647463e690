"""srkit-train -opt OPTIONS.yml [--auto_resume] [--force key.path=value ...]

Runs under torchrun unchanged: ``torchrun --nproc_per_node N $(which srkit-train) -opt X.yml``.
"""
from __future__ import annotations

import argparse

from ..errors import cli_entry


def parser():
    p = argparse.ArgumentParser(prog='srkit-train', description=__doc__.split('\n')[0])
    p.add_argument('-opt', '--opt', required=True, help='options YAML (BasicSR schema)')
    p.add_argument('--auto_resume', '--auto-resume', action='store_true',
                   help='continue from the newest training state of this experiment, if any')
    p.add_argument('--force', action='append', default=[], metavar='KEY.PATH=VALUE',
                   help='override an option, e.g. --force train.total_iter=100 (repeatable)')
    p.add_argument('--quiet', action='store_true', help='log to the file only')
    # torch<2 style launchers pass --local_rank; torchrun sets LOCAL_RANK in the environment
    p.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument('--launcher', default=None, help=argparse.SUPPRESS)
    return p


@cli_entry('srkit-train')
def main(argv=None):
    args = parser().parse_args(argv)
    from ..options import load_options
    opt = load_options(args.opt, args.force)
    from ..engine.trainer import train
    return train(opt, auto_resume=args.auto_resume, quiet=args.quiet)


if __name__ == '__main__':
    main()
