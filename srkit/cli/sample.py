"""srkit-sample: draw images from a conditional GAN generator, one row per label.

  srkit-sample --model net_g.pth --labels 0,1,2 --per-label 8 --out grid.png [--seed S]

The same seed gives the same grid on any device (the noise is drawn on the CPU).
``--out-dir`` also writes each sample as ``<label>_<n>.png``.
"""
from __future__ import annotations

import argparse

from ..errors import cli_entry
from .common import comma_list


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-sample', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='CGAN generator checkpoint (net_g_<iter>.pth)')
    ap.add_argument('--labels', default=None, help='comma-separated labels (default: every class)')
    ap.add_argument('--per-label', type=int, default=8, help='samples per label (the grid columns)')
    ap.add_argument('--out', required=True, help='grid image to write (.png)')
    ap.add_argument('--out-dir', default=None, help='also write every sample here')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--param-key', default=None, help='params_ema (default, falls back to params) or params')
    ap.add_argument('--device', default=None, help='cpu, cuda ... (default: cuda if available)')
    return ap


def labels(text: str | None) -> list[int] | None:
    """``--labels``' integers; None (every class) when it is not given."""
    return comma_list(text, '--labels', int) if text else None


@cli_entry('srkit-sample')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..utils.hostmem import keep_freed_memory
    keep_freed_memory()  # large tensors reuse freed memory, not fresh pages (docs/benchmarks.md)
    from ..inference import SampleRequest, sample_labels
    from ..utils.naming import field_names
    from .common import flags
    a.labels = labels(a.labels)
    with field_names(flags(ap)):  # messages name the flags
        r = sample_labels(SampleRequest(**vars(a)))
    print(f'{r.grid}: {len(r.labels)} label(s) x {r.per_label} samples (seed {r.seed})')
    return 0


if __name__ == '__main__':
    main()
