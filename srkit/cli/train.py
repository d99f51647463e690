"""srkit-train -opt OPTIONS.yml [--auto_resume] [--force key.path=value ...] | --print-schema

Runs under torchrun unchanged: ``torchrun --nproc_per_node N $(which srkit-train) -opt X.yml``.
"""
from __future__ import annotations

import argparse

from ..errors import cli_entry


def parser():
    p = argparse.ArgumentParser(prog='srkit-train', description=__doc__.split('\n')[0])
    p.add_argument('-opt', '--opt', help='options YAML (BasicSR schema)')
    p.add_argument('--print-schema', action='store_true',
                   help='print the options schema as JSON Schema (for editors: docs/options.schema.json) and exit')
    p.add_argument('--auto_resume', '--auto-resume', action='store_true',
                   help='continue from the newest training state of this experiment, if any')
    p.add_argument('--force', action='append', default=[], metavar='KEY.PATH=VALUE',
                   help="override an option, e.g. --force train.total_iter=100, or delete one: "
                        "--force '~val.metrics.niqe' (repeatable)")
    p.add_argument('--quiet', action='store_true', help='log to the file only')
    # torch<2 style launchers pass --local_rank; torchrun sets LOCAL_RANK in the environment
    p.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument('--launcher', default=None, help=argparse.SUPPRESS)
    return p


@cli_entry('srkit-train')
def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.print_schema:
        import json
        from ..options import json_schema
        print(json.dumps(json_schema(), indent=1, sort_keys=True))
        return 0
    if not args.opt:
        p.error('the following arguments are required: -opt/--opt')
    from ..options import load_options
    from ..trainer import train
    from ..utils.hostmem import keep_freed_memory
    from ..utils.naming import field_names
    from .common import flags
    keep_freed_memory()  # each step's activations reuse freed memory, not fresh pages (docs/benchmarks.md)
    with field_names(flags(p)):  # the library's messages name the fields as this command's flags
        return train(load_options(args.opt, args.force), auto_resume=args.auto_resume, quiet=args.quiet)


if __name__ == '__main__':
    main()
