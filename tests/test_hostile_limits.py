"""Hostile options and files that would exhaust the machine or end in a traceback (issue 20): every
size is bounded before anything is built, read or forked, and each case is one line naming the key
or file, with a non-zero exit."""
from __future__ import annotations

import json
import os
import time

import pytest
import torch

from conftest import call_cli, run_cli, tiny_options, write_yaml


def _one_line(r, *needles):
    assert r.returncode not in (0, None) and 'Traceback' not in r.stderr, r.stderr[-1500:]
    assert r.stderr.count('\n') == 1, r.stderr[-1500:]
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


# --------------------------------------------------------------------------- network sizes


def test_a_safetensors_file_asking_for_a_billion_convolutions_is_refused_at_once(tmp_path, photos_dir):
    """Metadata ``num_conv: 1e9`` in a 3.6 KB file kept srkit-infer busy for 174 s and 2.9 GB before
    a bad_alloc: the network was built on the meta device before any size check.  Now the bound of
    the key refuses it before anything is built (a subprocess, so a regression is bounded)."""
    from safetensors.torch import save_file
    from srkit.archs import build_network
    net = build_network({'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 1, 'upscale': 2})
    meta = {'arch': {'type': 'SRVGGNetCompact', 'num_feat': 4, 'num_conv': 1e9, 'upscale': 2}, 'scale': 2}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / 'g.safetensors'),
              metadata={'format': 'pt', 'param_key': 'params', 'srkit': json.dumps(meta)})
    assert os.path.getsize(tmp_path / 'g.safetensors') < 8192
    t = time.time()
    r = run_cli('infer', '--model', tmp_path / 'g.safetensors', '--input', photos_dir / 'lr_x2',
                '--output', tmp_path / 'o', timeout=120)
    _one_line(r, 'g.safetensors', 'num_conv', 'must be <= 1024')
    assert time.time() - t < 100  # not a timing claim: the old code needed 174 s and then crashed
    assert not (tmp_path / 'o').exists() or not os.listdir(tmp_path / 'o')


def test_a_network_within_each_bound_but_too_large_in_all_is_refused_before_it_is_built():
    """Bounded keys can still multiply into a network of billions of values: counted on the meta
    device (no memory) and refused by name."""
    from srkit.archs import MAX_NETWORK_PARAMS, build_network
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match=r'^network_g: a RRDBNet of (more than )?[\d,]+ values is over the limit'), \
            torch.device('meta'):  # were the check missing, the 47 GB of weights would not be allocated
        build_network({'type': 'RRDBNet', 'num_feat': 1024, 'num_block': 64, 'num_grow_ch': 512})
    assert MAX_NETWORK_PARAMS == 1 << 30


@pytest.mark.parametrize('override, says', [
    ('network_g.num_conv=1000000000', 'network_g.num_conv: must be <= 1024'),
    ('network_g.num_feat=1e29', 'network_g.num_feat: expected an integer'),
    ('network_g.num_feat=1.0e+29', 'network_g.num_feat: expected an integer of at most 64 bits'),
    ('network_g.num_feat=1000000', 'network_g.num_feat: must be <= 1024'),
    ('network_g.upscale=0', 'network_g: SRVGGNetCompact cannot be built (upscale must be >= 1, got 0)'),
    ('scale=0', 'scale: must be >= 1, got 0'),
    ('train.total_iter=1.0e+40', 'train.total_iter: expected an integer of at most 64 bits'),
    ('train.total_iter=1000000000000', 'train.total_iter: must be <= 10000000000'),
    ('device=cuda:99', 'device: cuda:99, but CUDA is not available here'),
    ('datasets.train.num_worker_per_gpu=100000', 'datasets.train.num_worker_per_gpu: must be <= 256'),
    ('train.grad_clip=.nan', 'train.grad_clip: expected a number, got NaN'),
    ('train.pixel_opt.loss_weight=-1', 'train.pixel_opt.loss_weight: must be a finite number >= 0, got -1'),
    ('datasets.train.gt_size=1000000', 'datasets.train.gt_size: must be <= 16384'),
])
def test_force_values_that_crashed_or_hung_are_one_line(tmp_path, photos_dir, override, says):
    """Each of these was a hang (num_conv), a ZeroDivisionError (scale), a C++ overflow dump
    (num_feat 1e29), a 36 TB allocation (num_feat 1e6), an OverflowError in the ETA (total_iter),
    'Found no NVIDIA driver' (cuda:99), a fork bomb (workers), or silently accepted (NaN clip,
    negative weight)."""
    if override.startswith('device') and torch.cuda.is_available():
        override, says = 'device=cuda:99', 'device: cuda:99, but this machine has'
    opt = tiny_options(tmp_path, photos_dir, **{
        'network_g': {'type': 'SRVGGNetCompact', 'num_feat': 8, 'num_conv': 2, 'upscale': 2}})
    yml = write_yaml(tmp_path / 'o.yml', opt)
    r = call_cli('train', '-opt', yml, '--force', override)
    _one_line(r, says)
    assert not (tmp_path / 'exp').exists()


def test_an_eta_of_any_length_prints():
    from srkit.trainer import format_eta
    assert format_eta(3661) == '01:01:01'
    assert format_eta(2 * 86400 + 5) == '2d 00:00:05'  # was shown as 00:00:05 (%H wraps at a day)
    assert format_eta(1e40) == '> 1e6 d' and format_eta(float('nan')) == '?'


@pytest.fixture
def two_cpus(monkeypatch):
    """The machine as CI's: 2 CPUs, whatever the host has."""
    from srkit.data import loader
    from srkit.utils import device
    monkeypatch.setattr(device, 'usable_cpus', lambda: 2)
    monkeypatch.setattr(loader, 'usable_cpus', lambda: 2)


def test_many_loader_workers_are_capped_at_the_cpus(tmp_path, photos_dir, two_cpus):
    """A recipe's 6 workers (BasicSR's) on a 2-core machine start 2, with a line in the log; the
    CLI tools' --workers too."""
    from srkit.data.loader import loader_workers
    from srkit.utils.device import cap_workers, usable_cpus
    assert loader_workers(10 ** 5) == usable_cpus() and loader_workers(0) == 0
    n, note = cap_workers(200, '--workers')
    assert n == usable_cpus() and f'--workers 200 capped at {usable_cpus()}' in note
    from srkit.errors import OptionError
    for bad in (0, 100000):
        with pytest.raises(OptionError, match='--workers: must be from 1 to 256'):
            cap_workers(bad, '--workers')
    r = call_cli('lmdb', '--input', photos_dir / 'hr', '--output', tmp_path / 'x.lmdb', '--workers', '100000')
    _one_line(r, '--workers: must be from 1 to 256, got 100000')
    assert not (tmp_path / 'x.lmdb').exists()


def test_the_trainer_logs_the_capped_worker_count(tmp_path, photos_dir, two_cpus):
    from srkit.utils.device import usable_cpus
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{
        'datasets.train.num_worker_per_gpu': 64, 'train.total_iter': 1, 'val': None}))
    r = call_cli('train', '-opt', yml, '--quiet')
    assert r.returncode == 0, r.stderr[-800:]
    log = next((tmp_path / 'exp' / 'tiny').glob('train_*.log')).read_text()
    assert f'num_worker_per_gpu: 64 capped at {usable_cpus()}' in log


# --------------------------------------------------------------------------- options files


def test_a_key_given_twice_is_an_error_naming_it(tmp_path, photos_dir):
    """PyYAML keeps the last of two ``total_iter`` lines without a word."""
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir))
    text = open(yml).read().replace('  total_iter: 12\n', '  total_iter: 12\n  total_iter: 500000\n')
    assert text.count('total_iter') == 2
    with open(yml, 'w') as f:
        f.write(text)
    r = call_cli('train', '-opt', yml)
    _one_line(r, 'o.yml', 'total_iter: given twice in one mapping')
    # a merge key's values may be set again: what YAML anchors are for
    from srkit.options import read_yaml
    with open(tmp_path / 'm.yml', 'w') as f:
        f.write('base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 5\n')
    assert read_yaml(str(tmp_path / 'm.yml'))['other'] == {'x': 5, 'y': 2}


def test_two_losses_with_one_name_are_refused(tmp_path, photos_dir):
    from srkit.errors import OptionError
    from srkit.options import parse_options
    opt = tiny_options(tmp_path, photos_dir, **{'train.pixel_opt': None})
    opt['train']['losses'] = [{'type': 'L1Loss', 'loss_weight': 1.0, 'name': 'l_pix'},
                              {'type': 'MSELoss', 'loss_weight': 1.0, 'name': 'l_pix'}]
    with pytest.raises(OptionError, match=r"^train.losses\[1\].name: 'l_pix' names another loss too"):
        parse_options(opt)


def test_an_options_file_that_is_a_device_or_huge_is_not_read(tmp_path):
    from test_hostile_outputs import bounded_call
    big = tmp_path / 'big.yml'
    with open(big, 'wb') as f:
        f.truncate(1 << 40)  # sparse: a terabyte that reading would take
    os.mkfifo(tmp_path / 'fifo.yml')
    for path, says in (('/dev/zero', '/dev/zero: not a regular file'), (tmp_path / 'fifo.yml', 'not a regular file'),
                       (big, 'big.yml: 1099511627776 bytes; an options file is at most')):
        out = bounded_call(f'from srkit.options import read_yaml\ntry:\n    read_yaml({str(path)!r})\n'
                           'except Exception as e:\n    print(e)')
        assert says in out, (path, out[-600:])


def test_degradation_sizes_are_bounded():
    """A preset's or recipe's kernel size of 10**9 would allocate a kernel of 10**18 values."""
    from srkit.config import check_degradation
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match=r'^degradation.size: must be <= 16384, got 1000000000$'):
        check_degradation('realesrgan', {'size': 10 ** 9}, 'degradation')
    check_degradation('realesrgan', {'size': 21}, 'degradation')
