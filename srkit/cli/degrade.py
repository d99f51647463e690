"""srkit-degrade: build an LR set from HR images with a degradation pipeline.

  srkit-degrade --input HR_DIR|X.lmdb --output OUT_DIR|Y.lmdb
                --method bicubic|bsrgan|bsrgan_plus|realesrgan|sensor_noise|jpeg|dsgan
                --scale 4 --seed S [--workers N] [--preset NAME|FILE.yml] [--shard i/n]
                [--model G.pth --mode sdsr|tdsr --tile 512] [--hr-output HR_DIR]

- Each image gets its own seed, derived from ``--seed`` and the image's name, so
  the output does not depend on ``--workers`` or ``--shard`` (nor on the thread
  count: the ops whose CPU result depends on it run on one thread).
- ``OUT_DIR/manifest.jsonl`` (``manifest.<i>-of-<n>.jsonl`` for a shard) holds
  one line per image: name, seed, and every drawn parameter;
  ``srkit.degrading.replay(line, hr)`` reproduces that image.
- A re-run skips images already in the manifest. Images are written
  atomically, so a killed run leaves no truncated file; a manifest line torn by
  a kill is redone. A ``run.json`` or manifest there that srkit-degrade did not
  write (empty, not JSON, a JSON list, ...) is refused in one line naming it,
  before anything is written.
- An unreadable input is reported and skipped; the exit status is then 1.
- Under torchrun, RANK/WORLD_SIZE pick the shard automatically.
- A ``.lmdb`` output is staged as images in ``Y.lmdb.parts/`` and packed into
  BasicSR's LMDB layout (with ``manifest.jsonl`` inside) when all images are
  done; shards stage, and a final unsharded run of the same command packs.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import cli_entry


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='srkit-degrade', description=__doc__.split('\n')[0])
    ap.add_argument('--input', required=True, help='HR folder or .lmdb')
    ap.add_argument('--output', required=True, help='LR folder, or Y.lmdb')
    ap.add_argument('--method', default=None,
                    help='bicubic, bsrgan, bsrgan_plus, realesrgan, sensor_noise, jpeg, dsgan')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=1)
    ap.add_argument('--preset', default=None,
                    help='a shipped preset (bicubic, bsrgan, bsrgan_plus, realesrgan, dsgan_sensor_noise, dsgan_jpeg) '
                         'or a YAML file {type: METHOD, option: value, ...}')
    ap.add_argument('--shard', default=None, help='i/n: process every n-th image from the i-th')
    ap.add_argument('--model', default=None, help='generator checkpoint for --method dsgan')
    ap.add_argument('--mode', choices=['sdsr', 'tdsr'], default=None,
                    help='dsgan: sdsr (HR = the input) or tdsr (HR = the input bicubic-downscaled by 2)')
    ap.add_argument('--tile', type=int, default=512, help='dsgan: tile size for large images')
    ap.add_argument('--hr-output', default=None,
                    help='also write the HR each LR pairs with here (needed for --mode tdsr, which changes it)')
    return ap


def lines(r, job) -> list[str]:
    """What srkit-degrade prints for a :class:`srkit.degrading.DegradeResult` (stdout)."""
    from ..report import degrade_lines
    out = ([f'{job.model}: {r.generator}'] if r.generator else []) + degrade_lines(r)
    i, n = r.shard
    if r.lmdb and not r.failed and n > 1 and r.already_complete is None:
        out.append(f'shard {i}/{n} staged in {r.out_dir}; when every shard has finished, run the same command '
                   f'without --shard to pack {r.lmdb}')
    return out


@cli_entry('srkit-degrade')
def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    from ..utils.hostmem import keep_freed_memory
    keep_freed_memory()  # large tensors reuse freed memory, not fresh pages (docs/benchmarks.md)
    from ..degrading import DegradeJob, degrade_folder
    from ..utils.device import cap_workers
    from ..utils.naming import field_names
    from .common import Bars, flags
    a.workers, note = cap_workers(a.workers, '--workers')  # the output does not depend on the count
    if note:
        print(f'srkit-degrade: {note}', file=sys.stderr)
    job = DegradeJob(**vars(a))
    with field_names(flags(ap)), Bars() as bars:  # messages name the flags
        r = degrade_folder(job, bars)
    print('\n'.join(lines(r, job)))
    for f in r.failed:
        print(f'  {f}', file=sys.stderr)
    return 0 if r.ok else 1


if __name__ == '__main__':
    main()
