"""keep_freed_memory: a freed feature map's memory serves a later one, without the kernel
faulting it in again (the page faults are counted, not timed)."""
import os
import platform
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli

# A network's pattern: each layer makes a 64 MiB map (a 512x512 map of 64 float32 channels, above
# glibc's largest mmap threshold, 32 MiB) from the last, which is then freed.  It prints the page
# faults of the last eight layers, after the heap has settled.
PROBE = r'''
import os, resource, sys, torch
sys.path.insert(0, ROOT)
if sys.argv[1] == 'keep':
    from srkit.utils.hostmem import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()  # once per process; again is a no-op
elif sys.argv[1] == 'cli':
    from srkit.cli import infer
    from srkit.utils import hostmem
    assert infer.main.run(['--model', 'bicubic', '--scale', '2', '--input', sys.argv[2], '--output', sys.argv[3]]) == 0
    assert hostmem._done is (os.environ.get('SRKIT_KEEP_FREED_MEMORY', '1') == '1')
x = torch.empty(16 << 20).fill_(1.0)
for layer in range(24):
    if layer == 16:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = x + 1
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''.replace('ROOT', repr(ROOT))
PAGES = (64 << 20) // os.sysconf('SC_PAGE_SIZE')  # one map's pages

glibc = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='mallopt is set on glibc only')


def _faults(*args, **env) -> int:
    p = subprocess.run([sys.executable, '-c', PROBE, *map(str, args)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OMP_NUM_THREADS='1', **env))
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split()[-1])


@glibc
def test_a_freed_feature_map_is_reused_without_page_faults():
    assert _faults('default') > 7 * PAGES  # glibc as it comes: every map fresh from the kernel
    assert _faults('keep') <= PAGES  # kept: earlier maps' pages, already there (at most one new map)


@glibc
def test_the_tools_that_run_networks_set_it_first(tmp_path):
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 8, 3), 128, np.uint8))
    assert _faults('cli', tmp_path / 'a.png', tmp_path / 'out') <= PAGES
    assert (tmp_path / 'out' / 'a.png').exists()
    # SRKIT_KEEP_FREED_MEMORY=0: glibc as it comes (less peak memory, slower)
    assert _faults('cli', tmp_path / 'a.png', tmp_path / 'out0', SRKIT_KEEP_FREED_MEMORY='0') > 7 * PAGES
    assert (tmp_path / 'out0' / 'a.png').exists()


def test_a_bad_setting_is_one_line_naming_it(tmp_path):
    r = run_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', tmp_path, '--output', tmp_path / 'o',
                env={'SRKIT_KEEP_FREED_MEMORY': 'yes'})
    assert r.returncode == 2 and not (tmp_path / 'o').exists()
    assert r.stderr.strip().count('\n') == 0 and 'SRKIT_KEEP_FREED_MEMORY' in r.stderr and "'yes'" in r.stderr
