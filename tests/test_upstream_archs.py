"""Every SR architecture of spandrel and basicsr is a network type srkit trains (srkit.archs.upstream,
srkit.archs.presets): per family, two iterations of srkit-train at a small size; the saved file
in spandrel (the oracle) gives srkit's output; srkit-infer, srkit-eval and srkit-export (with its
onnxruntime check) run on it."""
import json
import os

import numpy as np
import pytest
import torch

from conftest import call_cli, tiny_options, write_yaml

# a small network of each family; values spandrel cannot read from the weights stay at what it assumes
TINY = {
    'ATD': dict(upscale=2, embed_dim=16, depths=[2], num_heads=[2], window_size=4, num_tokens=8, reducted_dim=4,
                img_size=16, upsampler='pixelshuffle'),
    'CRAFT': dict(upscale=2, embed_dim=48, depths=[1], num_heads=[2], window_size=16, split_size_0=2,
                  split_size_1=8),
    'DAT': dict(upscale=2, embed_dim=32, depth=[1], num_heads=[2], split_size=[2, 4], img_size=16),
    'DCTLSA': dict(upscale=2, nf=10, num_modules=6),
    'DITN_Real': dict(upscale=2, dim=12, ITL_blocks=1, SAL_blocks=1),
    'DRCT': dict(upscale=2, embed_dim=16, depths=[1], num_heads=[2], window_size=8, img_size=16, gc=8,
                 upsampler='pixelshuffle'),
    'FDAT': dict(scale=2, embed_dim=16, num_groups=1, depth_per_group=1, num_heads=2, window_size=4, mid_dim=8),
    'GRL': dict(upscale=2, embed_dim=16, depths=[1], num_heads_window=[2], num_heads_stripe=[2], window_size=32,
                stripe_size=[64, 64], stripe_shift=True, anchor_window_down_factor=4, upsampler='pixelshuffle'),
    'HAT': dict(upscale=2, embed_dim=16, depths=[1], num_heads=[2], window_size=4, img_size=16, num_feat=8,
                compress_ratio=4, squeeze_factor=4, upsampler='pixelshuffle'),
    'MoESR': dict(scale=2, dim=16, n_blocks=1, n_block=1, upsample_dim=8),
    'MoSR': dict(upscale=2, dim=16, n_block=1),
    'OmniSR': dict(up_scale=2, num_feat=16, window_size=4, res_num=1),
    'PLKSR': dict(upscaling_factor=2, dim=16, n_blocks=2, kernel_size=7),
    'RealPLKSR': dict(upscaling_factor=2, dim=16, n_blocks=2, kernel_size=7),
    'RGT': dict(upscale=2, embed_dim=32, depth=[1], num_heads=[2], split_size=[4, 8], img_size=16),
    'UpCunet2x': dict(),
    'UpCunet2x_fast': dict(),
    'SAFMN': dict(upscaling_factor=2, dim=8, n_blocks=1),
    'SeemoRe': dict(scale=2, embedding_dim=16, num_layers=1, num_experts=2),
    'SPAN': dict(upscale=2, num_in_ch=3, num_out_ch=3, feature_channels=8),
    'SwiftSRGAN': dict(upscale_factor=2, num_channels=8, num_blocks=1),
    'Swin2SR': dict(upscale=2, embed_dim=16, depths=[1], num_heads=[2], window_size=4, img_size=16,
                    upsampler='pixelshuffle'),
    'SwinIR': dict(upscale=2, embed_dim=16, depths=[1], num_heads=[2], window_size=4, img_size=16,
                   upsampler='pixelshuffle'),
    'rcan': dict(scale=2, n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4),
    'EDSR': dict(num_in_ch=3, num_out_ch=3, upscale=2, num_feat=16, num_block=1),
    'RCAN': dict(num_in_ch=3, num_out_ch=3, upscale=2, num_feat=16, num_group=1, num_block=1, squeeze_factor=4),
    'ECBSR': dict(num_in_ch=3, num_out_ch=3, num_block=1, num_channel=8, with_idt=False, act_type='prelu', scale=2),
}
BASICSR_ONLY = {'EDSR', 'RCAN', 'ECBSR'}  # layouts spandrel 0.4.2 does not read
NO_ONNX = {'ATD': 'ONNX export of operator Sort'}  # torch 2.14's exporters (TorchScript and dynamo) stop


def test_every_spandrel_sr_family_is_a_type():
    """Every architecture spandrel marks SR (or SR and restoration, by scale) has its classes
    registered, or is served by one of srkit's own (ESRGAN, Compact), or is listed here with why not."""
    import typing

    from spandrel import MAIN_REGISTRY
    from srkit.archs import upstream
    from srkit.registry import ARCH_REGISTRY
    served = {'ESRGAN': 'RRDBNet', 'Compact': 'SRVGGNetCompact'}
    not_trained = {  # spandrel's, but not single-image SR networks one trains from a recipe
        'GFPGAN', 'RestoreFormer',  # face restoration (FaceSR)
        'LaMa',  # inpainting
        'SCUNet', 'FBCNN', 'Uformer', 'KBNet', 'NAFNet', 'FFTformer', 'DRUNet', 'DnCNN', 'MixDehazeNet',
        'RetinexFormer', 'HVICIDNet', 'SAFMNBCIE',  # restoration only (their loaders never say SR)
        'IPT',  # a multi-task pretraining model whose scale is a list
        'MMRealSR',  # spandrel ships its test-time class only (MMRRDBNet_test)
        'AuraSR',  # a 600M-parameter GAN upsampler with its own style network
    }
    ours = {up.module.split('.')[2] for up in upstream.SPANDREL}
    for support in MAIN_REGISTRY.architectures():
        arch_id = support.architecture.id
        assert arch_id in ours or arch_id in served or arch_id in not_trained, f'spandrel family {arch_id} not covered'
        if arch_id in served:
            assert served[arch_id] in ARCH_REGISTRY
        if arch_id in ours:
            model = typing.get_args(type(support.architecture).__orig_bases__[0])[0]
            for cls in typing.get_args(model) or (model,):
                assert cls in {c.__mro__[1] for c in upstream.CLASSES.values()}, f'{arch_id}: {cls.__name__}'
    for name in ('EDSR', 'RCAN', 'ECBSR', 'SwinIR'):  # basicsr's SR classes srkit had none of
        assert name in ARCH_REGISTRY


def _gt_size(net, scale: int = 2) -> int:
    """The smallest training crop the network takes at ``scale``: its minimum input and size multiple."""
    lq = max(16, net.min_size)
    return scale * (-(-lq // net.size_multiple) * net.size_multiple)


@pytest.mark.parametrize('family', sorted(TINY))
def test_each_family_trains_and_runs_in_every_tool(family, tmp_path, photos_dir):
    _trains_and_runs_in_every_tool({'type': family, **TINY[family]}, 2, tmp_path, photos_dir)


@pytest.mark.parametrize('family, scale', [('UpCunet3x', 3), ('UpCunet4x', 4)])
def test_realcugan_x3_and_x4_train_and_run_in_every_tool(family, scale, tmp_path):
    """Real-CUGAN's x3 and x4 classes take 32 px and more: 96 and 128 px photos."""
    from degradations.pipelines import bicubic
    from srkit.utils.imgio import write_image
    from conftest import photo
    size = 32 * scale
    for i, (name, top, left) in enumerate((('astronaut', 0, 0), ('coffee', 100, 200), ('chelsea', 60, 120))):
        hr = photo(name)[top:top + size, left:left + size]
        write_image(str(tmp_path / 'photos' / 'hr' / f'{name}_{i}.png'), hr)
        write_image(str(tmp_path / 'photos' / f'lr_x{scale}' / f'{name}_{i}.png'),
                    bicubic(np.rint(hr * 255) / 255, scale)[0])
    _trains_and_runs_in_every_tool({'type': family}, scale, tmp_path, tmp_path / 'photos')


def _trains_and_runs_in_every_tool(cfg: dict, scale: int, tmp_path, photos_dir):
    """Two iterations of srkit-train at ``scale``; spandrel reads the file and gives srkit's output;
    srkit-infer, srkit-eval and srkit-export (its onnxruntime check) run on it."""
    from srkit.archs import build_network
    from srkit.inference import load_generator, run_generator
    family = cfg['type']
    probe = build_network(cfg)
    assert probe.caveat is None, probe.caveat
    gt = _gt_size(probe, scale)
    opt = tiny_options(tmp_path, photos_dir, network_g=cfg, scale=scale, **{
        'train.total_iter': 2, 'val.val_freq': 2, 'logger.save_checkpoint_freq': 2, 'logger.print_freq': 1,
        'datasets.train.gt_size': gt, 'train.scheduler': None,
        'datasets.val.dataroot_lq': str(photos_dir / f'lr_x{scale}'), 'val.metrics.psnr.crop_border': scale})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'o.yml', opt))
    assert r.returncode == 0, r.stderr[-3000:]
    models = tmp_path / 'exp' / 'tiny' / 'models'
    ckpt = models / 'net_g_2.pth'
    assert ckpt.is_file(), sorted(os.listdir(models))
    net, arch, got_scale = load_generator(str(ckpt))
    assert arch['type'] == family and got_scale == scale
    size = gt // scale  # a size the network takes unpadded, as spandrel runs it
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        ours = run_generator(net, x)
    assert ours.shape == (1, 3, scale * size, scale * size)
    if family not in BASICSR_ONLY:  # spandrel reads the file srkit wrote, and runs it the same
        from spandrel import ModelLoader
        sd = torch.load(ckpt, weights_only=True)
        d = ModelLoader().load_from_state_dict(sd['params_ema'])
        req = d.size_requirements  # srkit's are spandrel's, or stricter (GRL: see srkit.archs.upstream)
        assert d.scale == scale and net.min_size >= req.minimum and net.size_multiple % req.multiple_of == 0
        with torch.no_grad():
            theirs = d.model.eval()(x)
        assert float((ours - theirs).abs().max()) <= 1 / 255
    out = tmp_path / 'sr'
    lq = photos_dir / f'lr_x{scale}'
    r = call_cli('infer', '--model', ckpt, '--input', lq, '--output', out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(os.listdir(out)) == len(os.listdir(lq))
    r = call_cli('eval', '--model', f'{family}={ckpt}', '--lq', lq, '--gt', photos_dir / 'hr',
                 '--metrics', 'psnr', '--json', tmp_path / 'm.json', '--no-bicubic')
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / 'm.json').read_text())
    assert np.isfinite(res['models'][family]['mean']['psnr'])
    r = call_cli('export', '--model', ckpt, '--out', tmp_path / 'g.onnx', '--size', max(32, size))
    if family in NO_ONNX:  # one line saying why, nothing written
        assert r.returncode == 2 and NO_ONNX[family] in r.stderr and r.stderr.count('\n') == 1, r.stderr
        assert not (tmp_path / 'g.onnx').exists()
    else:
        assert r.returncode == 0, r.stderr[-2000:]
        assert 'max difference' in r.stdout and (tmp_path / 'g.onnx').is_file()


# ------------------------------------------------------------------ traiNNer-redux's presets

PRESET_VALUES = {  # traiNNer-redux's traiNNer/archs/*_arch.py, as its presets set them
    'span_s': ('SPAN', {'feature_channels': 48, 'norm': False, 'img_range': 255.0}),
    'realplksr_tiny': ('RealPLKSR', {'dim': 64, 'n_blocks': 12, 'kernel_size': 13, 'use_ea': False}),
    'dat_light': ('DAT', {'embed_dim': 60, 'depth': [18], 'num_heads': [6], 'resi_connection': '3conv'}),
    'dat_2': ('DAT', {'embed_dim': 180, 'split_size': [8, 32], 'expansion_factor': 2}),
    'hat_s': ('HAT', {'embed_dim': 144, 'compress_ratio': 24, 'squeeze_factor': 24, 'window_size': 16}),
    'hat_m': ('HAT', {'embed_dim': 180, 'compress_ratio': 3, 'squeeze_factor': 30}),
    'swinir_light': ('SwinIR', {'embed_dim': 60, 'depths': [6, 6, 6, 6], 'upsampler': 'pixelshuffledirect'}),
    'omnisr': ('OmniSR', {'num_feat': 64, 'res_num': 5, 'window_size': 8}),
}


@pytest.mark.parametrize('preset', sorted(PRESET_VALUES))
def test_named_presets_build_their_class_with_traiNNer_redux_values(preset):
    from srkit.archs import build_network
    from srkit.archs.upstream import CLASSES
    target, values = PRESET_VALUES[preset]
    with torch.device('meta'):  # the size only: these are full-size networks
        net = build_network({'type': preset, 'scale': 2})
    assert type(net) is CLASSES[target] and net.scale == 2
    spec = net.srkit_config
    assert spec['type'] == preset
    from srkit.registry import ARCH_REGISTRY
    defaults = ARCH_REGISTRY.spec(preset).model_fields
    for k, v in values.items():
        assert defaults[k].default == v, k


def test_a_preset_takes_the_top_level_scale_and_refuses_what_its_class_cannot_run(tmp_path, photos_dir):
    from srkit.errors import OptionError
    from srkit.options import parse_options
    opt = parse_options(tiny_options(tmp_path, photos_dir, network_g={'type': 'span_s', 'feature_channels': 8}))
    assert opt.network_g.kwargs() == {'feature_channels': 8, 'scale': 2}
    with pytest.raises(OptionError, match=r'network_g.num_blocks'):  # spandrel 0.4.2's SPAN has 6 blocks
        parse_options(tiny_options(tmp_path, photos_dir, network_g={'type': 'span_s', 'num_blocks': 8}))
    with pytest.raises(OptionError, match=r'network_g.upsampler'):
        parse_options(tiny_options(tmp_path, photos_dir, network_g={'type': 'realplksr_tiny', 'upsampler': 'conv'}))
    opt = parse_options(tiny_options(tmp_path, photos_dir, network_g={'type': 'realplksr_tiny', 'upsampler': 'dysample',
                                                                      'dim': 16, 'n_blocks': 1}))
    from srkit.archs import build_network
    # traiNNer-redux's upsampler key is spandrel's dysample flag
    assert type(build_network(opt.network_g).to_img).__name__ == 'DySample'


def test_a_preset_trains_and_spandrel_reads_its_file(tmp_path, photos_dir):
    """A traiNNer-redux ``network_g`` section as its recipes write it: the preset and its keys."""
    from spandrel import ModelLoader
    opt = tiny_options(tmp_path, photos_dir, network_g={'type': 'realplksr_tiny', 'dim': 16, 'n_blocks': 2},
                       **{'train.total_iter': 2, 'logger.save_checkpoint_freq': 2, 'val.val_freq': 2})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'o.yml', opt))
    assert r.returncode == 0, r.stderr[-2000:]
    ckpt = tmp_path / 'exp' / 'tiny' / 'models' / 'net_g_2.pth'
    sd = torch.load(ckpt, weights_only=True)
    assert sd['srkit']['arch'] == {'type': 'realplksr_tiny', 'dim': 16, 'n_blocks': 2, 'scale': 2}
    d = ModelLoader().load_from_state_dict(sd['params_ema'])
    assert d.architecture.id == 'PLKSR' and type(d.model).__name__ == 'RealPLKSR' and d.scale == 2


# ------------------------------------------------------------------ what the adapter adds


def test_training_crops_must_fit_the_network(tmp_path, photos_dir):
    from srkit.errors import OptionError
    from srkit.options import parse_options
    cfg = {'type': 'CRAFT', **TINY['CRAFT']}  # at least 16 and a multiple of 16
    with pytest.raises(OptionError, match=r'^datasets.train.gt_size: 48 gives 24-pixel LQ crops, but CRAFT takes '
                                          r'at least 16, a multiple of 16; use a gt_size of 64 or more$'):
        parse_options(tiny_options(tmp_path, photos_dir, network_g=cfg, **{'datasets.train.gt_size': 48}))
    parse_options(tiny_options(tmp_path, photos_dir, network_g=cfg, **{'datasets.train.gt_size': 64}))


@pytest.mark.parametrize('family', ['SwinIR', 'HAT', 'DAT'])
def test_gradient_checkpointing_gives_the_same_gradients(family):
    from srkit.archs import build_network
    cfg = {'type': family, **TINY[family], 'drop_path_rate': 0.0}
    torch.manual_seed(0)
    plain = build_network(cfg)
    torch.manual_seed(0)
    ckpt = build_network({**cfg, 'gradient_checkpointing': True})
    assert plain.state_dict().keys() == ckpt.state_dict().keys()  # the upstream's layout either way
    x = torch.rand(2, 3, 16, 16)
    grads = []
    for net in (plain, ckpt):
        net.train()
        net(x).square().mean().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_an_upstream_forward_never_changes_its_input():
    """spandrel's RCAN scales its input in place; srkit runs it on a copy (the batch, or the image a
    tile is a view of, stays as it was)."""
    from srkit.archs import build_network
    net = build_network({'type': 'rcan', **TINY['rcan']}).eval()
    x = torch.rand(1, 3, 16, 16)
    before = x.clone()
    with torch.no_grad():
        net(x)
    assert torch.equal(x, before)


def test_a_value_spandrel_cannot_read_is_said_once_in_the_log(tmp_path, photos_dir):
    cfg = {'type': 'CRAFT', **TINY['CRAFT'], 'window_size': 8, 'split_size_1': 8}
    opt = tiny_options(tmp_path, photos_dir, network_g=cfg, **{'train.total_iter': 1, 'val': None,
                                                                 'datasets.train.gt_size': 32})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'o.yml', opt))
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert log.count('CRAFT with window_size 8: spandrel (and chaiNNer) cannot read that from the weights and '
                     'assume window_size 16') == 1


def test_the_size_probe_leaves_the_random_streams_alone():
    """The parse-time build (small tensors on the CPU, large ones on the meta device) draws nothing
    from torch's generator: seeded runs give the weights they gave before upstream classes."""
    from srkit.archs import build_network
    torch.manual_seed(5)
    with torch.device('meta'):
        build_network({'type': 'SwinIR', **TINY['SwinIR']})
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))


def test_a_huge_upstream_network_is_refused_before_it_is_built():
    from srkit.archs import build_network
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match=r'network_g: a SwinIR of more than [\d,]+ values is over the limit'):
        build_network({'type': 'SwinIR', 'embed_dim': 1020, 'depths': [60] * 60, 'num_heads': [6] * 60,
                       'window_size': 8, 'upscale': 2, 'upsampler': 'pixelshuffle'})


def test_a_constructor_that_would_run_for_minutes_is_stopped(monkeypatch):
    """Many small blocks stay under the size limit but would take minutes to construct: the probe
    stops at MAX_PROBE_CALLS torch calls (here lowered, so the test takes no minutes itself)."""
    from srkit import archs
    from srkit.errors import OptionError
    monkeypatch.setattr(archs, 'MAX_PROBE_CALLS', 1000)
    with pytest.raises(OptionError, match=r'network_g: a SwinIR takes more than 1,000 operations to construct'):
        archs.build_network({'type': 'SwinIR', **TINY['SwinIR'], 'depths': [8] * 8, 'num_heads': [2] * 8})


def test_a_spandrel_format_file_is_a_pretrain(tmp_path, photos_dir):
    """A bare state dict of spandrel's own class (as chaiNNer's and traiNNer-redux's files are), as
    .safetensors, fine-tunes with the strict load BasicSR's recipes default to."""
    from safetensors.torch import save_file
    from spandrel.architectures.SPAN import SPAN
    torch.manual_seed(1)
    theirs = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).state_dict()
    save_file({k: v.contiguous() for k, v in theirs.items()}, str(tmp_path / 'span.safetensors'))
    opt = tiny_options(tmp_path, photos_dir, network_g={'type': 'SPAN', **TINY['SPAN']},
                       **{'train.total_iter': 1, 'val': None, 'train.optim_g.lr': 1e-9,
                          'path.pretrain_network_g': str(tmp_path / 'span.safetensors')})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'o.yml', opt))
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert f'loaded network_g from {tmp_path / "span.safetensors"} [' in log
    saved = torch.load(tmp_path / 'exp' / 'tiny' / 'models' / 'net_g_1.pth', weights_only=True)['params']
    assert saved.keys() == theirs.keys()
    assert max((saved[k].float() - v.float()).abs().max().item() for k, v in theirs.items()) < 1e-6


def test_tiled_validation_gives_the_untiled_figures(tmp_path, photos_dir):
    """``val.tile``: validation through srkit-infer's tiles; with an overlap wider than the
    network's receptive field the figures are the untiled ones."""
    import re
    psnr = {}
    for tile in (0, 16):
        run = tmp_path / f't{tile}'
        run.mkdir()
        opt = tiny_options(run, photos_dir, **{'train.total_iter': 2, 'val.val_freq': 2, 'val.tile': tile,
                                               'val.tile_overlap': 16, 'name': f't{tile}'})
        r = call_cli('train', '-opt', write_yaml(run / 'o.yml', opt))
        assert r.returncode == 0, r.stderr[-2000:]
        log = next((run / 'exp').glob('*/train_*.log')).read_text()
        psnr[tile] = float(re.search(r'\[val val @ 2\] psnr ([\d.]+)', log).group(1))
    assert psnr[16] == pytest.approx(psnr[0], abs=2e-4)


@pytest.mark.parametrize('cfg', [
    {'type': 'SwinIR', 'upscale': 2, 'embed_dim': 30, 'num_heads': [7], 'depths': [1], 'window_size': 8,
     'upsampler': 'pixelshuffle'},  # heads that do not divide the embedding
    {'type': 'DITN_Real', 'upscale': 2, 'dim': 12, 'ITL_blocks': 1, 'SAL_blocks': 1, 'patch_size': 0},
], ids=['heads', 'patch0'])
def test_hyperparameters_a_network_cannot_run_are_one_line(cfg, tmp_path, photos_dir):
    """Values each within bounds, accepted by the constructor, that its layers cannot run: one line
    naming the class, not a traceback from inside it."""
    opt = tiny_options(tmp_path, photos_dir, network_g=cfg, **{'train.total_iter': 1, 'val': None})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'o.yml', opt))
    assert r.returncode == 2, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f'srkit-train: error: {cfg["type"]} cannot run a (2, 3, 16, 16) input (')
    assert 'Traceback' not in r.stderr and last.endswith('check its hyperparameters')


@pytest.mark.parametrize('net, layout, expected', [
    ({'type': 'RealPLKSR', **TINY['RealPLKSR']}, None, False),   # its large kernels train slower so
    ({'type': 'realplksr_tiny'}, None, False),                     # a preset of it too
    ({'type': 'PLKSR', **TINY['PLKSR']}, None, False),
    ({'type': 'SPAN', **TINY['SPAN']}, None, True),
    ({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}, None, True),
    ({'type': 'RealPLKSR', **TINY['RealPLKSR']}, True, True),    # the recipe's word wins
    ({'type': 'SPAN', **TINY['SPAN']}, False, False),
])
def test_the_training_layout_is_the_architectures_unless_the_recipe_says(net, layout, expected, tmp_path,
                                                                        photos_dir):
    """channels_last is the default layout, except for networks whose gradients it slows (PLKSR's and
    RealPLKSR's large kernels: 9-12x on CPU, docs/benchmarks.md); the network and the batches agree."""
    from srkit.engine.context import DistContext, EngineContext
    from srkit.models import build_model
    from srkit.options import parse_options
    o = tiny_options(tmp_path, photos_dir, network_g=net, **{'train.channels_last': layout})
    model = build_model(parse_options(o), EngineContext(torch.device('cpu'), DistContext(), log=lambda m: None))
    assert model.channels_last is expected
    conv = next(m for m in model.nets['g'].modules() if isinstance(m, torch.nn.Conv2d)
                and m.kernel_size[0] > 1 and m.in_channels > 1)  # one whose layouts differ
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) is expected
    lq = model.prepare_batch({'lq': torch.rand(2, 3, 16, 16)})['lq']
    assert lq.is_contiguous(memory_format=torch.channels_last) is expected
