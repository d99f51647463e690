"""DSGAN: frequency separation, the networks, the unpaired dataset, the training step and
srkit-degrade --method dsgan (SDSR/TDSR, tiles, manifest replay, the authors' files)."""
import json
import os

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from srkit.archs import build_network
from srkit.archs.dsgan import FilterHigh, FilterLow
from srkit import degrading as D
from srkit.cli import degrade as degrade_cli
from srkit.options import parse_dataclass, parse_options
from srkit.utils.imgio import read_image, write_image
from conftest import photo


def test_frequency_separation():
    x = torch.rand(2, 3, 20, 17)
    low = FilterLow(5)(x)
    ref = F.avg_pool2d(F.pad(x, (2, 2, 2, 2)), 5, stride=1)  # the authors' box: zero padding counted
    torch.testing.assert_close(low, ref)
    torch.testing.assert_close(FilterHigh(9)(x), x - FilterLow(9)(x))
    g = FilterLow(9, gaussian=True)
    assert float(g.kernel.sum()) == pytest.approx(1.0) and g(x).shape == x.shape
    flat = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(g(flat), flat)  # reflect padding: a flat image stays flat


def test_networks_match_the_paper():
    g = build_network({'type': 'DSGANGenerator'})
    assert sum(p.numel() for p in g.parameters()) == 594380  # the paper's "about 594k"
    with torch.no_grad():
        y = g(torch.rand(1, 3, 24, 20))
    assert y.shape == (1, 3, 24, 20) and 0 <= float(y.min()) and float(y.max()) <= 1
    d = build_network({'type': 'DSGANDiscriminator'})
    assert d(torch.rand(2, 3, 24, 20)).shape == (2, 1, 24, 20)  # stride 1: a per-pixel map
    flat = torch.full((1, 3, 24, 20), 0.7)
    d.eval()
    # the fixed high-pass front end: away from the zero-padded border, a flat image is all zero
    torch.testing.assert_close(d.filter(flat)[..., 2:-2, 2:-2], torch.zeros(1, 3, 20, 16), rtol=0, atol=1e-6)


@pytest.fixture(scope='module')
def domains(tmp_path_factory):
    from degradations import build_pipeline
    root = tmp_path_factory.mktemp('domains')
    for i, (n, t, l) in enumerate([('astronaut', 0, 0), ('coffee', 100, 200), ('rocket', 50, 300)]):
        write_image(str(root / 'src' / f'{n}_{i}.png'), photo(n)[t:t + 128, l:l + 128])
    for i, (n, t, l) in enumerate([('chelsea', 60, 120), ('astronaut', 200, 150)]):
        lr, _, _ = build_pipeline('sensor_noise')(photo(n)[t:t + 128, l:l + 128], 2, np.random.default_rng(i))
        write_image(str(root / 'tgt' / f'{n}_{i}.png'), lr)
    return root


def _dataset(domains, **over):
    from srkit.data.unpaired import UnpairedImageDataset
    cfg = {'type': 'UnpairedImageDataset', 'dataroot_a': str(domains / 'src'), 'crop_a': 64, 'crop_b': 32, **over}
    return UnpairedImageDataset(parse_dataclass(UnpairedImageDataset.Options, cfg, 'datasets.train'))


def test_unpaired_dataset_same_domain_and_target_domain(domains):
    same = _dataset(domains, use_hflip=False)
    s = same[(1, 7)]
    assert s['a'].shape == (3, 64, 64) and s['b'].shape == (3, 32, 32) and s['key_b'] == s['key_a']
    # same-domain mode: b is a native-resolution crop of a itself
    windows = s['a'].unfold(1, 32, 1).unfold(2, 32, 1)  # (3, 33, 33, 32, 32)
    assert (windows == s['b'][:, None, None]).flatten(3).all(-1).all(0).any()
    two = _dataset(domains, dataroot_b=str(domains / 'tgt'))
    assert len(two) == 3  # the larger domain sets the epoch
    keys_b = {two[(0, seed)]['key_b'] for seed in range(20)}
    assert keys_b == {'chelsea_0', 'astronaut_1'}  # B is drawn at random, unaligned
    assert torch.equal(two[(2, 5)]['b'], two[(2, 5)]['b'])
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match='crop_b: 96 is larger than crop_a 64'):
        _dataset(domains, crop_b=96)


def _options(tmp_path, domains, **over):
    o = {'name': 'ds', 'model_type': 'DSGANModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 0,
         'datasets': {'train': {'type': 'UnpairedImageDataset', 'dataroot_a': str(domains / 'src'),
                                'dataroot_b': str(domains / 'tgt'), 'crop_a': 64, 'crop_b': 32,
                                'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}},
         'network_g': {'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 2},
         'network_d': {'type': 'DSGANDiscriminator', 'num_feat': 8},
         'path': {'experiments_root': str(tmp_path / 'exp')},
         'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4, 'betas': [0.5, 0.999]},
                   'optim_d': {'type': 'Adam', 'lr': 2e-4, 'betas': [0.5, 0.999]},
                   'scheduler': {'type': 'LinearDecayLR', 'decay_start': 3, 'total_iter': 6},
                   'total_iter': 6, 'color_opt': {'type': 'L1Loss', 'loss_weight': 1.0},
                   'perceptual_opt': {'type': 'LPIPSLoss', 'loss_weight': 0.01, 'optional': True},
                   'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 0.005}},
         'logger': {'print_freq': 3, 'save_checkpoint_freq': 3, 'use_tb_logger': False}}
    o.update(over)
    return o


@pytest.mark.parametrize('relativistic', [False, True])
def test_generator_step_uses_the_updated_discriminator(tmp_path, domains, relativistic):
    from srkit.trainer import Trainer
    t = Trainer(parse_options(_options(tmp_path, domains, relativistic=relativistic)), quiet=True)
    m = t.model
    batch = m.prepare_batch(next(iter(t.loader)))
    assert batch['lq'].shape == (2, 3, 32, 32)
    g_before = {k: v.clone() for k, v in m.nets['g'].state_dict().items()}
    d_before = {k: v.clone() for k, v in m.nets['d'].state_dict().items()}
    m.current_iter = 1
    logs = m.train_step(batch)
    g = build_network(m.nets['g'].srkit_config)
    g.load_state_dict(g_before)
    fake = g(batch['lq'])
    d = m.nets['d']
    with torch.no_grad():
        if relativistic:
            want = m.cri_gan.ragan_g(d(batch['b']), d(fake))
        else:
            want = m.cri_gan(d(fake), True, is_disc=False)  # D after its update
    torch.testing.assert_close(logs['l_g_gan'], want, rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(v, d_before[k]) for k, v in d.state_dict().items() if v.is_floating_point())
    torch.testing.assert_close(logs['l_g_color'], m.loss_module('l_g_color')(m.low(fake), m.low(batch['lq'])).detach())


def test_trains_and_resumes_and_logs_the_perceptual_choice(tmp_path, domains):
    from srkit.trainer import Trainer
    from srkit.utils.checkpoint import load_checkpoint
    assert Trainer(parse_options(_options(tmp_path, domains)), quiet=True).fit() == 0
    exp = tmp_path / 'exp' / 'ds'
    log = open(next(exp.glob('train_ds_*.log'))).read()
    assert 'train.perceptual_opt (l_g_percep): disabled (LPIPS weights are missing: put alexnet' in log
    ref = load_checkpoint(str(exp / 'models' / 'net_g_6.pth'))
    assert ref['srkit']['arch']['type'] == 'DSGANGenerator'
    # resume from iteration 3 and land on the same weights
    os.unlink(exp / 'training_states' / '6.state')
    os.unlink(exp / 'models' / 'net_g_6.pth')
    os.unlink(exp / 'models' / 'net_d_6.pth')
    assert Trainer(parse_options(_options(tmp_path, domains)), auto_resume=True, quiet=True).fit() == 0
    got = load_checkpoint(str(exp / 'models' / 'net_g_6.pth'))
    for k, v in ref['params'].items():
        assert torch.equal(v, got['params'][k]), k


@pytest.fixture(scope='module')
def generator_file(tmp_path_factory):
    from srkit.utils.checkpoint import network_meta, save_checkpoint
    torch.manual_seed(0)
    g = build_network({'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 2})
    path = tmp_path_factory.mktemp('g') / 'net_g.pth'
    save_checkpoint({'params': g.state_dict(), 'srkit': network_meta(g, 4, 1)}, str(path))
    return path, g.eval()


def test_degrade_sdsr_tiles_and_replays(tmp_path, domains, generator_file):
    from degradations import imresize
    path, g = generator_file
    args = ['--input', str(domains / 'src'), '--method', 'dsgan', '--model', str(path), '--scale', '4']
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'whole')]) == 0
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'tiled'), '--tile', '8', '--workers', '2']) == 0
    whole, tiled = tmp_path / 'whole', tmp_path / 'tiled'
    for f in ('astronaut_0.png', 'coffee_1.png'):
        a, b = read_image(str(whole / f)), read_image(str(tiled / f))
        assert a.shape == (32, 32, 3)
        assert np.abs(a - b).max() <= 1 / 255 + 1e-6  # 8-px tiles with context give the same LR
    hr = read_image(str(domains / 'src' / 'coffee_1.png'))
    with torch.no_grad():
        x = torch.from_numpy(np.clip(imresize(hr, 0.25), 0, 1).transpose(2, 0, 1).copy()).unsqueeze(0)
        want = np.rint(g(x)[0].permute(1, 2, 0).numpy() * 255)
    got = read_image(str(whole / 'coffee_1.png')) * 255
    assert np.abs(np.rint(got) - want).max() <= 1  # LR = G(bicubic down of HR)
    line = next(json.loads(x) for x in open(whole / 'manifest.jsonl') if json.loads(x)['key'] == 'coffee_1')
    assert line['params']['mode'] == 'sdsr' and line['params']['model'] == str(path)
    np.testing.assert_array_equal(np.rint(D.replay(line, hr) * 255), np.rint(got))


def test_degrade_tdsr_writes_the_cleaned_hr(tmp_path, domains, generator_file):
    from degradations import imresize
    path, _ = generator_file
    base = ['--input', str(domains / 'src'), '--output', str(tmp_path / 'lr'), '--method', 'dsgan',
            '--model', str(path), '--scale', '2', '--mode', 'tdsr']
    assert degrade_cli.main.run(base) == 2  # it needs --hr-output
    assert degrade_cli.main.run(base + ['--hr-output', str(tmp_path / 'hr')]) == 0
    hr = read_image(str(tmp_path / 'hr' / 'rocket_2.png'))
    src = read_image(str(domains / 'src' / 'rocket_2.png'))
    np.testing.assert_allclose(hr, np.clip(imresize(src, 0.5), 0, 1), atol=0.5 / 255 + 1e-6)
    assert read_image(str(tmp_path / 'lr' / 'rocket_2.png')).shape == (32, 32, 3)  # HR 64 / 2


def test_degrade_loads_the_authors_files_and_refuses_others(tmp_path, domains, capsys):
    torch.manual_seed(1)
    g = build_network({'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 3})
    raw = tmp_path / 'authors.pth'
    torch.save(g.state_dict(), raw)  # the authors' code saves a bare state dict
    args = ['--input', str(domains / 'src'), '--method', 'dsgan', '--scale', '4']
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'o'), '--model', str(raw)]) == 0
    other = tmp_path / 'srresnet.pth'
    torch.save(build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}).state_dict(), other)
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'p'), '--model', str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'not a DSGAN generator' in err[0]
    assert not (tmp_path / 'p').exists()


def test_esrgan_fs_separates_frequencies(tmp_path, photos_dir):
    from conftest import tiny_options
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    o = tiny_options(tmp_path, photos_dir, model_type='ESRGANModel', fs_filter_size=9)
    o['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8}
    o['train']['optim_d'] = {'type': 'Adam', 'lr': 1e-4}
    o['train']['gan_opt'] = {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 5e-3}
    m = build_model(parse_options(o), EngineContext(torch.device('cpu'), DistContext()))
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    low = FilterLow(9)
    m.nets['d'].eval()  # spectral norm's power iteration would move the weights between the two calls
    torch.testing.assert_close(m.net_d(x), m.nets['d'](x - low(x)))  # D sees the high-pass only
    torch.testing.assert_close(m.generator_losses(m.loss_pairs(x, {'gt': y}))['l_g_pix'], F.l1_loss(low(x), low(y)))
    assert set(m.nets['d'].state_dict()) == set(build_network(o['network_d']).state_dict())  # D's keys unchanged
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match='fs_filter_size: must be a positive odd'):
        parse_options(tiny_options(tmp_path, photos_dir, model_type='ESRGANModel', fs_filter_size=8))


@pytest.mark.slow
def test_dsgan_learns_a_known_sensor_noise():
    """The domain-gap check: after a short CPU run, the noise level of DSGAN's outputs must be at
    least twice as close to the target camera's (sigma 8/255 sensor noise) as bicubic's is."""
    import subprocess
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'bench', 'dsgan.py'), '--iters', '800',
                        '--d-feat', '16', '--workers', '1'], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=1500)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert 'PASS' in r.stdout


def test_lpips_loss_loads_through_pyiqa_from_the_cache(lpips_cache):
    import pyiqa
    from srkit.losses.perceptual import LPIPSLoss
    loss = LPIPSLoss(loss_weight=0.01)
    assert loss.describe() == 'LPIPS (pyiqa, v0.1 AlexNet)'
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 32, 32, requires_grad=True), torch.rand(2, 3, 32, 32)
    ref = pyiqa.create_metric('lpips', as_loss=True, device='cpu')  # pyiqa's own metric, same files
    v = loss(x, y)
    torch.testing.assert_close(v, 0.01 * ref(x, y).mean(), rtol=1e-5, atol=1e-8)
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-7)
    v.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_lpips_loss_falls_back_to_vgg_features(vgg_cache, monkeypatch):
    from srkit.losses.perceptual import LPIPSLoss, PerceptualLoss
    loss = LPIPSLoss(loss_weight=0.5)
    assert loss.describe().startswith("VGG19 features ['conv5_4'] (LPIPS unavailable: LPIPS weights are missing")
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loss(x, y), 0.5 * PerceptualLoss({'conv5_4': 1.0})(x, y)[0])
    from srkit.losses.perceptual import WeightsMissing
    monkeypatch.setenv('TORCH_HOME', os.environ['TORCH_HOME'] + '_empty')  # neither LPIPS nor VGG19
    with pytest.raises(WeightsMissing, match='LPIPS weights are missing: put alexnet.*VGG19 weights .* missing'):
        LPIPSLoss()
