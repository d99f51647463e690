"""The package's shape: imports run one way (import-linter), every architecture file registers
itself and declares its metadata, and the key-pattern detection is each architecture's own."""
import os
import pkgutil
import re
import subprocess
import sys

import pytest
import torch

import srkit.archs
from conftest import ROOT
from srkit.archs.detect import detect_arch, identify
from srkit.archs.util import Arch
from srkit.registry import ARCH_REGISTRY


def test_layer_contracts_hold():
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'lint-imports'), '--no-cache'],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:]
    kept = re.search(r'Contracts: (\d+) kept, 0 broken\.', r.stdout)
    assert kept and int(kept.group(1)) >= 5, r.stdout[-3000:]  # layers, config, degradations, cli, basicsr


def test_every_arch_module_registers_and_declares_its_metadata():
    registered = {ARCH_REGISTRY.get(n).__module__ for n in ARCH_REGISTRY.keys()}
    for m in pkgutil.iter_modules(srkit.archs.__path__):
        if m.name in ('util', 'detect'):
            continue
        assert f'srkit.archs.{m.name}' in registered, f'srkit/archs/{m.name}.py registers no architecture'
    for name in ARCH_REGISTRY.keys():
        cls = ARCH_REGISTRY.get(name)
        if name.startswith('_') and not hasattr(cls, 'upstream'):
            continue  # the tests' own
        cls = getattr(cls, 'target', cls)  # a preset (srkit.archs.presets) builds an architecture
        assert issubclass(cls, Arch), name
        lo, hi = cls.value_range
        assert lo < hi


GENERATORS = [
    {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 2, 'upscale': 3},
    {'type': 'SRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 2, 'upscale': 8},
    {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'num_feat': 8, 'num_block': 2,
     'num_grow_ch': 4},
    {'type': 'DSGANGenerator', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 3},
    {'type': 'UnetGenerator', 'input_nc': 3, 'output_nc': 1, 'num_downs': 6, 'ngf': 4, 'norm': 'instance',
     'use_dropout': True},
    {'type': 'ResnetGenerator', 'input_nc': 3, 'output_nc': 3, 'ngf': 4, 'n_blocks': 2, 'norm': 'batch',
     'use_dropout': False},
    {'type': 'CGANGenerator', 'latent_dim': 8, 'n_classes': 3, 'img_channels': 1, 'img_size': 8},
]


@pytest.mark.parametrize('cfg', GENERATORS, ids=lambda c: c['type'])
def test_each_generator_is_found_by_its_own_detect(cfg):
    from srkit.archs import build_network
    net = build_network(cfg)
    sd = net.state_dict()
    assert detect_arch(sd) == cfg
    claims = [n for n in ARCH_REGISTRY.keys()
              if getattr(ARCH_REGISTRY.get(n), 'detect', lambda sd: None)(sd) is not None]
    assert claims == [cfg['type']]  # no other architecture takes its keys
    scale = cfg.get('upscale', cfg.get('scale', 1))
    assert net.scale == scale


def test_key_converters_apply_to_their_own_architecture_only(tmp_path):
    """KAIR's RRDB layout converts for RRDBNet (detection and pretrain loading); a MSRResNet
    file that happens to hold a `model.` key is not touched by RRDBNet's converters."""
    from srkit.archs import build_network
    from srkit.utils.checkpoint import load_network
    net = build_network({'type': 'RRDBNet', 'scale': 4, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4})
    kair = {}
    for k, v in net.state_dict().items():
        k = k.replace('conv_body', 'trunk_conv').replace('body.', 'RRDB_trunk.').replace('rdb', 'RDB')
        k = k.replace('conv_up1', 'upconv1').replace('conv_up2', 'upconv2').replace('conv_hr', 'HRconv')
        kair[k] = v
    cfg, own = identify(kair)
    assert cfg['type'] == 'RRDBNet' and set(own) == set(net.state_dict())
    torch.save(kair, tmp_path / 'BSRGAN.pth')
    other = build_network({'type': 'RRDBNet', 'scale': 4, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4})
    assert load_network(other, str(tmp_path / 'BSRGAN.pth'), None) == 'raw'
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    msr = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}).state_dict()
    assert identify(msr)[1] is msr
