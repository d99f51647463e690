"""The Real-ESRGAN model zoo and the ecosystem's formats: SRVGGNetCompact against basicsr's class,
safetensors in every tool, network interpolation (dni), ONNX export against onnxruntime, and
spandrel in both directions."""
import os

import numpy as np
import pytest
import torch

from conftest import call_cli
from srkit.archs import build_network
from srkit.compat import import_basicsr
from srkit.inference import load_generator, run_generator
from srkit.utils.checkpoint import load_checkpoint, network_meta, save_checkpoint
from srkit.utils.imgio import read_image

COMPACT = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 3, 'upscale': 4,
           'act_type': 'prelu'}


# --------------------------------------------------------------------- compact models


@pytest.mark.parametrize('kw', [
    {'num_feat': 16, 'num_conv': 4, 'upscale': 4, 'act_type': 'prelu'},
    {'num_feat': 8, 'num_conv': 2, 'upscale': 2, 'act_type': 'prelu'},
    {'num_in_ch': 1, 'num_out_ch': 1, 'num_feat': 8, 'num_conv': 2, 'upscale': 3, 'act_type': 'prelu'},
    {'num_feat': 8, 'num_conv': 3, 'upscale': 4, 'act_type': 'leakyrelu'},
    {'num_feat': 8, 'num_conv': 3, 'upscale': 4, 'act_type': 'relu'},
])
def test_compact_equals_basicsr_and_is_found_from_its_keys(tmp_path, kw):
    ref_cls = import_basicsr('basicsr.archs.srvgg_arch').SRVGGNetCompact
    torch.manual_seed(0)
    ref = ref_cls(**kw).eval()
    torch.save({'params': ref.state_dict()}, tmp_path / 'realesr.pth')  # Real-ESRGAN's release layout
    net, cfg, scale = load_generator(str(tmp_path / 'realesr.pth'))
    want = {'num_in_ch': 3, 'num_out_ch': 3, **kw}
    if kw['act_type'] == 'relu':  # ReLU and LeakyReLU hold no weights: the keys cannot tell them apart
        want['act_type'] = 'leakyrelu'
    assert cfg == {'type': 'SRVGGNetCompact', **want} and scale == kw['upscale']
    x = torch.rand(2, kw.get('num_in_ch', 3), 12, 10)
    with torch.no_grad():
        mine = build_network({'type': 'SRVGGNetCompact', **kw})
        mine.load_state_dict(ref.state_dict())
        assert torch.equal(mine(x), ref(x))
        if kw['act_type'] != 'relu':
            assert torch.equal(net(x), ref(x))


# --------------------------------------------------------------------- safetensors


@pytest.fixture
def compact_files(tmp_path):
    torch.manual_seed(0)
    net = build_network(COMPACT)
    torch.manual_seed(1)
    ema = build_network(COMPACT)
    content = {'params': net.state_dict(), 'params_ema': ema.state_dict(), 'srkit': network_meta(net, 4, 10)}
    save_checkpoint(content, str(tmp_path / 'g.pth'))
    save_checkpoint(content, str(tmp_path / 'g.safetensors'))
    return tmp_path, net, ema


def test_safetensors_holds_the_ema_and_the_metadata_and_never_unpickles(compact_files, monkeypatch):
    from safetensors import safe_open
    d, net, ema = compact_files
    with safe_open(str(d / 'g.safetensors'), framework='pt') as f:
        meta = f.metadata()
        assert meta['param_key'] == 'params_ema' and set(f.keys()) == set(ema.state_dict())
    monkeypatch.setattr(torch, 'load', lambda *a, **k: pytest.fail('a safetensors file went through torch.load'))
    c = load_checkpoint(str(d / 'g.safetensors'))
    assert c['srkit']['arch'] == COMPACT and c['srkit']['scale'] == 4
    for k, v in ema.state_dict().items():
        assert torch.equal(c['params_ema'][k], v)
    g, cfg, scale = load_generator(str(d / 'g.safetensors'))
    assert cfg == COMPACT and scale == 4


def test_every_tool_reads_safetensors(compact_files, photos_dir):
    d, _, _ = compact_files
    lq = photos_dir / 'lr_x2'
    for ext in ('pth', 'safetensors'):
        r = call_cli('infer', '--model', d / f'g.{ext}', '--input', lq, '--output', d / f'sr_{ext}')
        assert r.returncode == 0, r.stderr
        assert 'SRVGGNetCompact x4 (' in r.stdout
    for f in sorted(os.listdir(d / 'sr_pth')):
        assert np.array_equal(read_image(str(d / 'sr_pth' / f)), read_image(str(d / 'sr_safetensors' / f)))
    r = call_cli('interp', d / 'g.pth', d / 'g.safetensors', '--alpha', '0.5', '--out', d / 'mid.safetensors')
    assert r.returncode == 0, r.stderr
    mid = load_checkpoint(str(d / 'mid.safetensors'))
    assert mid['srkit']['arch'] == COMPACT
    x2 = build_network(dict(COMPACT, upscale=2))
    save_checkpoint({'params': x2.state_dict(), 'srkit': network_meta(x2, 2, 1)}, str(d / 'x2.safetensors'))
    r = call_cli('eval', '--model', f'st={d / "x2.safetensors"}', '--gt', photos_dir / 'hr', '--lq', lq,
                '--metrics', 'psnr', '--no-bicubic', '--out', d / 'report')
    assert r.returncode == 0, r.stderr
    assert (d / 'report' / 'metrics.json').exists()
    dsgan = build_network({'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 1})
    save_checkpoint({'params': dsgan.state_dict(), 'srkit': network_meta(dsgan, 1, 1)}, str(d / 'ds.safetensors'))
    r = call_cli('degrade', '--input', photos_dir / 'hr', '--output', d / 'lr_ds', '--method', 'dsgan', '--model',
                d / 'ds.safetensors', '--scale', '2')
    assert r.returncode == 0, r.stderr
    assert len([f for f in os.listdir(d / 'lr_ds') if f.endswith('.png')]) == 6
    cgan = build_network({'type': 'CGANGenerator', 'latent_dim': 8, 'n_classes': 3, 'img_size': 8})
    save_checkpoint({'params': cgan.state_dict(), 'srkit': network_meta(cgan, 1, 1)}, str(d / 'cg.safetensors'))
    r = call_cli('sample', '--model', d / 'cg.safetensors', '--out', d / 'grid.png', '--per-label', '2')
    assert r.returncode == 0, r.stderr
    assert read_image(str(d / 'grid.png')).shape[:2] == (3 * 10 + 2, 2 * 10 + 2)


def test_pretrained_and_training_in_safetensors_resume_bitwise(tmp_path, photos_dir):
    from conftest import tiny_options
    from srkit.options import parse_options
    from srkit.trainer import Trainer
    pre = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    save_checkpoint({'params': pre.state_dict()}, str(tmp_path / 'pre.safetensors'))
    o = tiny_options(tmp_path, photos_dir, **{'logger.save_format': 'safetensors', 'train.total_iter': 6,
                                              'path.pretrain_network_g': str(tmp_path / 'pre.safetensors')})
    o.pop('val')
    assert Trainer(parse_options(o), quiet=True).fit() == 0
    exp = tmp_path / 'exp' / 'tiny'
    assert sorted(os.listdir(exp / 'models')) == [f'net_g_{i}.safetensors' for i in (3, 6, 'latest')]
    ref = load_checkpoint(str(exp / 'models' / 'net_g_6.safetensors'))
    raw = load_checkpoint(str(exp / 'training_states' / '6.state'))['raw_params']['g']
    for f in ('training_states/6.state', 'models/net_g_6.safetensors'):
        os.unlink(exp / f)
    assert Trainer(parse_options(o), auto_resume=True, quiet=True).fit() == 0
    got = load_checkpoint(str(exp / 'models' / 'net_g_6.safetensors'))
    raw2 = load_checkpoint(str(exp / 'training_states' / '6.state'))['raw_params']['g']
    for k, v in ref['params_ema'].items():
        assert torch.equal(v, got['params_ema'][k]), k
        assert torch.equal(raw[k], raw2[k]), k


# --------------------------------------------------------------------- network interpolation


def test_dni_in_interp_and_infer(tmp_path, photos_dir):
    torch.manual_seed(0)
    a = build_network(COMPACT)
    torch.manual_seed(1)
    b = build_network(COMPACT)
    save_checkpoint({'params': a.state_dict()}, str(tmp_path / 'realesr-general-x4v3.pth'))
    save_checkpoint({'params': b.state_dict()}, str(tmp_path / 'realesr-general-wdn-x4v3.pth'))
    r = call_cli('interp', tmp_path / 'realesr-general-x4v3.pth', tmp_path / 'realesr-general-wdn-x4v3.pth',
                '--alpha', '0.3', '--out', tmp_path / 'mix.pth')
    assert r.returncode == 0, r.stderr
    mix = load_checkpoint(str(tmp_path / 'mix.pth'))['params']
    for k, v in a.state_dict().items():
        torch.testing.assert_close(mix[k], (0.7 * v.double() + 0.3 * b.state_dict()[k].double()).float())
    lq = photos_dir / 'lr_x2'
    runs = {'file': ['--model', tmp_path / 'mix.pth'],
            'dni': ['--model', tmp_path / 'realesr-general-x4v3.pth', '--dni-model',
                    tmp_path / 'realesr-general-wdn-x4v3.pth', '--dni', '0.3'],
            'strength': ['--model', tmp_path / 'realesr-general-x4v3.pth', '--denoise-strength', '0.7']}
    for name, args in runs.items():
        r = call_cli('infer', *args, '--input', lq, '--output', tmp_path / name)
        assert r.returncode == 0, r.stderr
    for f in sorted(os.listdir(tmp_path / 'file')):
        ref = read_image(str(tmp_path / 'file' / f))
        assert np.array_equal(ref, read_image(str(tmp_path / 'dni' / f)))
        # 1 - 0.7 is not 0.3 in floating point: a pixel may round the other way
        assert np.abs(ref - read_image(str(tmp_path / 'strength' / f))).max() <= 1 / 255 + 1e-6
    os.unlink(tmp_path / 'realesr-general-wdn-x4v3.pth')
    r = call_cli('infer', '--model', tmp_path / 'realesr-general-x4v3.pth', '--denoise-strength', '0.5',
                '--input', lq, '--output', tmp_path / 'x')
    assert r.returncode == 2 and 'put realesr-general-wdn-x4v3 beside the model' in r.stderr


# --------------------------------------------------------------------- ONNX


@pytest.mark.parametrize('cfg', [
    {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 2, 'upscale': 4},
    {'type': 'RRDBNet', 'scale': 2, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8},
    {'type': 'RRDBNet', 'scale': 1, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 8},
    COMPACT,
    {'type': 'UnetGenerator', 'num_downs': 5, 'ngf': 4, 'norm': 'batch'},
    {'type': 'ResnetGenerator', 'ngf': 4, 'n_blocks': 2},
], ids=lambda c: f'{c["type"]}{c.get("scale", "")}')
def test_onnx_export_matches_pytorch_in_onnxruntime(tmp_path, photos_dir, cfg):
    import onnx
    import onnxruntime as ort
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, net.scale, 1)}, str(tmp_path / 'g.pth'))
    img = sorted((photos_dir / 'hr').iterdir())[0]
    r = call_cli('export', '--model', tmp_path / 'g.pth', '--out', tmp_path / 'g.onnx', '--dynamic', '--input', img)
    assert r.returncode == 0, r.stderr
    assert 'onnxruntime vs PyTorch' in r.stdout and 'max difference' in r.stdout
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / 'g.onnx')).metadata_props}
    assert int(meta['scale']) == net.scale
    # dynamic axes: another size and batch than the traced one, against srkit's own path
    x = torch.rand(2, 3, 64, 96)
    got = ort.InferenceSession(str(tmp_path / 'g.onnx'), providers=['CPUExecutionProvider']).run(
        None, {'input': x.numpy()})[0]
    with torch.no_grad():
        want = run_generator(net, x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_onnx_fp16_and_a_failed_check_writes_nothing(tmp_path):
    torch.manual_seed(0)
    net = build_network(COMPACT)
    save_checkpoint({'params': net.state_dict()}, str(tmp_path / 'g.pth'))
    r = call_cli('export', '--model', tmp_path / 'g.pth', '--out', tmp_path / 'h.onnx', '--fp16')
    assert r.returncode == 0, r.stderr
    assert 'fp16' in r.stdout and os.path.getsize(tmp_path / 'h.onnx') > 0
    r = call_cli('export', '--model', tmp_path / 'g.pth', '--out', tmp_path / 'bad.onnx', '--fp16',
                '--tolerance', '1e-12')
    assert r.returncode == 2 and 'onnxruntime differs from PyTorch' in r.stderr
    assert not (tmp_path / 'bad.onnx').exists() and not any(f.endswith('.tmp') for f in os.listdir(tmp_path))


# --------------------------------------------------------------------- spandrel


@pytest.mark.parametrize('cfg', [
    {'type': 'RRDBNet', 'scale': 2, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 32},
    {'type': 'RRDBNet', 'scale': 4, 'num_feat': 8, 'num_block': 2, 'num_grow_ch': 32},
    COMPACT,
], ids=lambda c: f'{c["type"]}{c.get("scale", "")}')
def test_spandrel_loads_what_srkit_writes(tmp_path, cfg):
    from spandrel import ModelLoader
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    torch.manual_seed(1)
    ema = build_network(cfg).eval()
    content = {'params': net.state_dict(), 'params_ema': ema.state_dict(), 'srkit': network_meta(net, net.scale, 5)}
    x = torch.rand(1, 3, 16, 20)
    for ext in ('pth', 'safetensors'):
        save_checkpoint(content, str(tmp_path / f'g.{ext}'))
        d = ModelLoader().load_from_file(str(tmp_path / f'g.{ext}')).eval()
        assert d.scale == net.scale
        with torch.no_grad():
            assert torch.equal(d(x), ema(x).clamp(0, 1)), ext  # spandrel takes the EMA, as srkit does


def _spandrel_nets():
    from spandrel.architectures.PLKSR import RealPLKSR
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR
    torch.manual_seed(0)
    return {'SPAN': SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2),
            'RealPLKSR': RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2, kernel_size=7),
            'SwinIR': SwinIR(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                             upsampler='pixelshuffledirect', mlp_ratio=2.0)}


@pytest.mark.parametrize('name', ['SPAN', 'RealPLKSR', 'SwinIR'])
def test_srkit_reads_what_spandrel_reads(tmp_path, photos_dir, name):
    from spandrel import ModelLoader
    net = _spandrel_nets()[name].eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'm.pth')
    d = ModelLoader().load_from_file(str(tmp_path / 'm.pth')).eval()
    g, cfg, scale = load_generator(str(tmp_path / 'm.pth'))
    assert cfg['type'].startswith('spandrel:') and scale == 2
    x = torch.rand(1, 3, 23, 30)  # not a multiple of SwinIR's window: padded, then cropped
    with torch.no_grad():
        torch.testing.assert_close(run_generator(g, x).clamp(0, 1), d(x), atol=1e-6, rtol=0)
        # the tiling path too (tile + overlap within the image)
        tiled = run_generator(g, x, tile=16, overlap=4).clamp(0, 1)
    assert tiled.shape == d(x).shape
    r = call_cli('infer', '--model', tmp_path / 'm.pth', '--input', photos_dir / 'lr_x2', '--output', tmp_path / 'sr')
    assert r.returncode == 0, r.stderr
    assert f'{cfg["type"]} x2' in r.stdout
    f = sorted(os.listdir(tmp_path / 'sr'))[0]
    lq = torch.from_numpy(read_image(str(photos_dir / 'lr_x2' / f)).transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        want = d(lq)[0].permute(1, 2, 0).numpy()
    assert np.abs(read_image(str(tmp_path / 'sr' / f)) - np.rint(want * 255) / 255).max() <= 1 / 255 + 1e-6


def test_unknown_keys_name_srkit_and_spandrel(tmp_path):
    torch.save({'params': {'foo.weight': torch.zeros(2, 2)}}, tmp_path / 'x.pth')
    r = call_cli('infer', '--model', tmp_path / 'x.pth', '--input', tmp_path, '--output', tmp_path / 'o')
    assert r.returncode == 2
    assert r.stderr.strip().endswith('first keys: foo.weight; spandrel does not know it either')


# --------------------------------------------------------------------- fine-tuning a compact model


@pytest.mark.slow
def test_compact_model_fine_tunes_from_a_release_file_on_cpu(tmp_path, photos_dir):
    """Real-ESRGAN's compact recipe in miniature: a released-layout file (``params``, no srkit
    metadata) as pretrain_network_g, Real-ESRGAN's degradations on the fly, L1 + GAN, on CPU;
    the fine-tuned model scores higher PSNR than the file it started from on held-out realistic LR."""
    import subprocess
    import sys
    import yaml
    from conftest import ROOT
    from srkit.metrics import METRICS
    # realistic validation LR of the held-out photos
    hr = photos_dir / 'hr'
    r = call_cli('degrade', '--input', hr, '--output', tmp_path / 'lr_val', '--preset', 'realesrgan', '--scale', '2',
                '--seed', '1')
    assert r.returncode == 0, r.stderr
    torch.manual_seed(0)
    start = build_network({'type': 'SRVGGNetCompact', 'num_feat': 16, 'num_conv': 4, 'upscale': 2})
    torch.save({'params': start.state_dict()}, tmp_path / 'realesr-tiny.pth')
    opt = yaml.safe_load(open(os.path.join(ROOT, 'options', 'realesrgan_compact_x4.yml')))
    opt.update(name='compact', scale=2, gt_size=48, queue_size=8, num_gpu=0)
    opt['network_g'] = {'type': 'SRVGGNetCompact', 'num_feat': 16, 'num_conv': 4, 'upscale': 2}
    opt['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8}
    t = opt['datasets']['train']
    t.update(dataroot_gt=str(hr), io_backend={'type': 'disk'}, crop_pad_size=96, num_worker_per_gpu=1,
             batch_size_per_gpu=4, dataset_enlarge_ratio=50)
    opt['datasets']['val'].update(dataroot_gt=str(hr), dataroot_lq=str(tmp_path / 'lr_val'))
    opt['path'] = {'pretrain_network_g': str(tmp_path / 'realesr-tiny.pth'), 'param_key_g': 'params',
                   'experiments_root': str(tmp_path / 'exp')}
    opt['train'].update(total_iter=300, ema_decay=0.9, scheduler=None,
                        optim_g={'type': 'Adam', 'lr': 1e-3}, optim_d={'type': 'Adam', 'lr': 1e-4})
    opt['train']['losses'] = [opt['train']['losses'][0], {'type': 'GANLoss', 'gan_type': 'vanilla',
                                                          'loss_weight': 1e-3}]
    opt['val'] = {'val_freq': 300, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2}}}
    opt['logger'] = {'print_freq': 100, 'save_checkpoint_freq': 300, 'use_tb_logger': False,
                     'save_format': 'safetensors'}
    with open(tmp_path / 'c.yml', 'w') as f:
        yaml.safe_dump(opt, f)
    r = subprocess.run([sys.executable, '-m', 'srkit.cli.train', '-opt', str(tmp_path / 'c.yml'), '--quiet'],
                       capture_output=True, text=True, timeout=900, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT, SRKIT_OFFLINE='1'))
    assert r.returncode == 0, r.stderr[-3000:]

    def psnr(model_file):
        net, _, _ = load_generator(model_file)
        vals = []
        for f in sorted(os.listdir(hr)):
            lq = torch.from_numpy(read_image(str(tmp_path / 'lr_val' / f)).transpose(2, 0, 1).copy())[None]
            gt = torch.from_numpy(read_image(str(hr / f)).transpose(2, 0, 1).copy())[None]
            with torch.no_grad():
                sr = run_generator(net, lq).clamp(0, 1)
            vals.append(float(METRICS['psnr'](sr, gt[..., :sr.shape[-2], :sr.shape[-1]], 2, True)[0]))
        return float(np.mean(vals))
    before = psnr(str(tmp_path / 'realesr-tiny.pth'))
    after = psnr(str(tmp_path / 'exp' / 'compact' / 'models' / 'net_g_300.safetensors'))
    assert after > before + 1.0, (before, after)
