"""traiNNer-redux's recipes as they are: its own templates (tests/fixtures/trainner_redux, copied
byte for byte) read with only their data paths changed, the translation of each key, and the pieces
the templates need (EMA warm-up against ema-pytorch, lists of dataroots, the esrgan and realcugan
presets against spandrel)."""
from __future__ import annotations

import copy
import glob
import os

import numpy as np
import pytest
import torch
import yaml

from conftest import call_cli, write_yaml
from srkit.errors import OptionError
from srkit.options import parse_options, read_yaml
from srkit.options.redux import translate

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'trainner_redux')


def _network(rel: str) -> str:
    """``SPAN/SPAN_S`` of ``SPAN/SPAN_S_OTF_gan.yml``: the network its four templates share."""
    return rel.removesuffix('.yml').removesuffix('_fidelity').removesuffix('_gan').removesuffix('_OTF')


# a network's four templates one after another (they share its parse-time build)
TEMPLATES = sorted((os.path.relpath(p, FIXTURES) for p in glob.glob(os.path.join(FIXTURES, '*', '*.yml'))),
                   key=lambda rel: (_network(rel), rel))
FIDELITY = [t for t in TEMPLATES if t.endswith('_fidelity.yml') and '_OTF_' not in t]
GAN = [t for t in TEMPLATES if t.endswith('_gan.yml') and '_OTF_' not in t]
OTF = [t for t in TEMPLATES if '_OTF_' in t]
# the smallest network of each family: what trains an iteration in the suite (the others are the
# same code at other sizes; each is built at its own size when its template is read)
SMALLEST = ['ATD/ATD_fidelity.yml', 'CRAFT/CRAFT_fidelity.yml', 'Compact/SuperUltraCompact_fidelity.yml',
            'DAT/DAT_light_fidelity.yml', 'DCTLSA/DCTLSA_fidelity.yml', 'DITN/DITN_Real_fidelity.yml',
            'DRCT/DRCT_fidelity.yml', 'ESRGAN/ESRGAN_lite_fidelity.yml', 'FDAT/FDAT_tiny_fidelity.yml',
            'GRL/GRL_T_fidelity.yml', 'HAT/HAT_S_fidelity.yml', 'MoESR/MoESR2_fidelity.yml',
            'MoSR/MoSR_T_fidelity.yml', 'OmniSR/OmniSR_fidelity.yml', 'PLKSR/PLKSR_Tiny_fidelity.yml',
            'RCAN/RCAN_fidelity.yml', 'RGT/RGT_S_fidelity.yml', 'RealCUGAN/RealCUGAN_fidelity.yml',
            'RealPLKSR/RealPLKSR_Tiny_fidelity.yml', 'SAFMN/SAFMN_fidelity.yml', 'SPAN/SPAN_S_fidelity.yml',
            'SeemoRe/SeemoRe_T_fidelity.yml', 'Swin2SR/Swin2SR_S_fidelity.yml', 'SwinIR/SwinIR_S_fidelity.yml']


@pytest.fixture(scope='module')
def x4_pairs(tmp_path_factory):
    """Two folder pairs of 256 px GT and their 64 px LQ (cv2 INTER_AREA), the same file names in
    both pairs, as a traiNNer-redux user's ``dataroot_gt: [hr, hr2]`` lists."""
    import cv2
    from conftest import photo
    root = tmp_path_factory.mktemp('redux')
    names = ['astronaut', 'coffee', 'chelsea', 'rocket']
    for part in ('1', '2'):
        (root / f'hr{part}').mkdir()
        (root / f'lr{part}').mkdir()
        for i, name in enumerate(names[:2] if part == '1' else names[2:]):
            img = photo(name)
            h, w = img.shape[:2]
            hr = (img[(h - 256) // 2:(h + 256) // 2, (w - 256) // 2:(w + 256) // 2] * 255).round().astype(np.uint8)
            cv2.imwrite(str(root / f'hr{part}' / f'img{i}.png'), hr[..., ::-1])
            lq = cv2.resize(hr, (64, 64), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(root / f'lr{part}' / f'img{i}.png'), lq[..., ::-1])
    return root


def template(rel: str, root) -> dict:
    """The template as a user runs it: its own keys, only the data paths changed."""
    data = read_yaml(os.path.join(FIXTURES, rel))
    for ds in data['datasets'].values():
        ds['dataroot_gt'] = [str(root / 'hr1'), str(root / 'hr2')]
        if 'dataroot_lq' in ds:
            ds['dataroot_lq'] = [str(root / 'lr1'), str(root / 'lr2')]
    return data


def train_template(data: dict, tmp_path, iters: int = 1, *force: str, pretrain: bool = False):
    """srkit-train on ``data`` for ``iters`` iterations at this CPU's size (batch 2, 32 px LQ crops),
    into ``tmp_path``; ``pretrain``: a fresh network of the recipe's ``network_g`` saved as its
    ``path.pretrain_network_g`` (a GAN template's starting point).  Returns the experiment
    folder and its log."""
    from safetensors.torch import save_file
    from srkit.archs import build_network
    if pretrain:  # as traiNNer-redux saves a network (save_checkpoint_format: safetensors): a bare state dict
        net = build_network({**data['network_g'], 'scale': data['scale']})
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / 'pre.safetensors')
        data['path']['pretrain_network_g'] = str(tmp_path / 'pre.safetensors')
    p = write_yaml(tmp_path / 'opt.yml', data)
    r = call_cli('train', '-opt', p, '--force', f'train.total_iter={iters}',
                 '--force', f'path.experiments_root={tmp_path}',
                 '--force', 'datasets.train.batch_size_per_gpu=2', '--force', 'datasets.train.lq_size=32', *force)
    assert r.returncode == 0, r.stderr[-2000:]
    exp = tmp_path / data['name']
    return exp, open(next(exp.glob('train_*.log'))).read()


def test_the_fixtures_are_traiNNer_redux_s_templates():
    assert len(TEMPLATES) == 204 and len(FIDELITY) == len(GAN) == 51 and len(OTF) == 102
    for rel in TEMPLATES:  # four per network: fidelity, gan and their OTF twins
        stem = _network(rel)
        assert {f'{stem}{k}.yml' for k in ('_fidelity', '_gan', '_OTF_fidelity', '_OTF_gan')} <= set(TEMPLATES)
    assert set(SMALLEST) <= set(FIDELITY)
    assert len({s.split('/')[0] for s in SMALLEST}) == len({t.split('/')[0] for t in TEMPLATES}) == 24


@pytest.mark.parametrize('rel', TEMPLATES)
def test_every_template_reads_as_srkit_options(rel, x4_pairs, tmp_path):
    """Each template with only its data paths changed (and a GAN template's pretrain_network_g,
    which must exist): its networks built at full size, its keys mapped as below."""
    raw = yaml.safe_load(open(os.path.join(FIXTURES, rel)))
    data = template(rel, x4_pairs)
    if 'pretrain_network_g' in data['path']:
        assert data['path']['pretrain_network_g'] == 'experiments/pretrained_models/pretrain.pth'
        data['path']['pretrain_network_g'] = str(tmp_path / 'pretrain.pth')  # a data path: the fidelity run's
        (tmp_path / 'pretrain.pth').touch()
    opt = parse_options(data)
    if '_OTF_' in rel:
        otf_template(rel, raw, opt)
    elif rel.endswith('_gan.yml'):
        gan_template(raw, opt)
    else:
        fidelity_template(raw, opt)


def fidelity_template(raw, opt):
    t, ds, rt = opt.train, opt.datasets['train'], raw['train']
    assert opt.model_type == 'SRModel' and opt.scale == raw['scale'] == 4
    assert opt.network_g.type == raw['network_g']['type']
    assert set(opt.datasets) == {'train'} and opt.val is None  # val_enabled: false
    assert ds.type == 'PairedImageDataset' and ds.gt_size == raw['datasets']['train']['lq_size'] * 4
    assert ds.batch_size_per_gpu == raw['datasets']['train']['batch_size_per_gpu']
    assert ds.use_hflip and ds.use_rot and len(ds.dataroot_gt) == len(ds.dataroot_lq) == 2
    assert ds.dataset_enlarge_ratio == 'auto'  # traiNNer-redux's default
    assert t.total_iter == rt['total_iter'] and t.warmup_iter == rt['warmup_iter']
    assert (t.ema_decay, t.ema_power) == (rt['ema_decay'], rt['ema_power']) == (0.999, 0.75)
    assert t.optim_g.type == 'AdamW' and t.optim_g.lr == rt['optim_g']['lr']
    assert list(t.optim_g.betas) == [0.9, 0.99] and t.optim_g.weight_decay == 0
    assert t.scheduler.type in ('MultiStepLR',) and list(t.scheduler.milestones) == rt['scheduler']['milestones']
    assert [(x.type, x.loss_weight) for x in t.losses] == [('CharbonnierLoss', 1.0)] and t.losses[0].eps == 1e-12
    assert t.grad_clip is None and t.accum_iter == 1
    assert t.amp == 'none' and t.channels_last is None  # this CPU: fp32, the network's own layout
    assert opt.logger.save_format == 'safetensors'
    assert any(n.startswith('use_amp: true: AMP is for NVIDIA GPUs') for n in opt.notes)


def gan_template(raw, opt):
    t, rt = opt.train, raw['train']
    assert opt.model_type == 'SRGANModel' and opt.network_d.type == 'DUnet' and opt.network_d.num_feat == 64
    assert (t.optim_d.type, t.optim_d.lr) == ('AdamW', rt['optim_d']['lr'])
    assert (t.ema_decay, t.ema_power) == (0.999, 10)  # traiNNer-redux's default power: no warm-up
    m, p, h, g = t.losses
    assert (m.type, m.loss_weight, m.include_luminance, m.test_y_channel) == ('MSSIMLoss', 0.5, False, True)
    assert (p.type, p.perceptual_weight, p.criterion, p.padding) == ('PerceptualLoss', 0.01, 'charbonnier', 'replicate')
    assert p.layer_weights == {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1, 'conv4_4': 1, 'conv5_4': 1}
    assert (h.type, h.loss_weight, h.criterion) == ('HSLuvLoss', 1.0, 'charbonnier')
    assert (g.type, g.loss_weight, g.gan_type) == ('GANLoss', 0.1, 'vanilla')
    assert ('train.losses: distsloss, ldlloss, ffloss, cosimloss, fliploss, sobeledgeloss at loss_weight 0: left '
            'out, as traiNNer-redux builds no loss at weight 0') in opt.notes


def otf_template(rel, raw, opt):
    """The OTF templates: srkit's Real-ESR families with traiNNer-redux's degradation (no first
    blur, JPEG always, its four resize modes, antialiased; no USM), its kernel ranges, its
    crop (GT + 32 px), the losses on the plain GT."""
    gan = rel.endswith('_gan.yml')
    assert opt.model_type == ('RealESRGANModel' if gan else 'RealESRNetModel')
    lq = raw['datasets']['train']['lq_size']
    assert opt.gt_size == lq * 4 and opt.queue_size == 120 and opt.high_order_degradation
    for key in ('resize_prob', 'resize_range', 'noise_range', 'poisson_scale_range', 'jpeg_range', 'resize_prob2',
                'resize_range2', 'jpeg_range2', 'resize_mode_list', 'resize_mode_prob', 'resize_mode_list3'):
        assert list(getattr(opt, key)) == raw[key], key
    assert (opt.blur_prob, opt.second_blur_prob, opt.jpeg_prob, opt.jpeg_prob2) == (0, 0, 1, 1)
    assert (opt.usm_lq, opt.resize_antialias, opt.l1_gt_usm, opt.percep_gt_usm, opt.gan_gt_usm) == (
        False, True, False, False, False)
    ds = opt.datasets['train']
    assert ds.type == 'RealESRGANDataset' and ds.crop_pad_size == lq * 4 + 32 and ds.blur_kernel_size == 21
    assert ds.kernel_range == ds.kernel_range2 == ds.final_kernel_range == [5, 17] and ds.final_sinc_prob == 0
    assert ds.use_hflip and ds.use_rot
    assert all(t.target == 'gt' for t in opt.train.losses if t.type != 'GANLoss')
    assert [t.type for t in opt.train.losses] == (['MSSIMLoss', 'PerceptualLoss', 'HSLuvLoss', 'GANLoss'] if gan
                                                  else ['CharbonnierLoss'])


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['fidelity', 'gan'])
def test_an_otf_template_trains_an_iteration(kind, x4_pairs, tmp_path, vgg_cache):
    """SPAN_S's OTF templates: each batch degraded on the fly as traiNNer-redux degrades it,
    at a CPU's batch and crop (from a SPAN_S file for the GAN's path.pretrain_network_g)."""
    exp, log = train_template(template(f'SPAN/SPAN_S_OTF_{kind}.yml', x4_pairs), tmp_path, 2, pretrain=kind == 'gan')
    assert ('| RealESRGANModel |' if kind == 'gan' else '| RealESRNetModel |') in log
    assert ' l_g_mssim_gt ' in log if kind == 'gan' else ' l_g_charbonnier_gt ' in log
    assert (exp / 'models' / 'net_g_2.safetensors').is_file()


def test_a_gan_template_trains_an_iteration(x4_pairs, tmp_path, vgg_cache):
    """SPAN_S_gan from a SPAN_S file (its path.pretrain_network_g): G and DUnet step once with
    MS-SSIM, VGG19 (charbonnier), HSLuv and the GAN loss, at a CPU's batch and crop."""
    exp, log = train_template(template('SPAN/SPAN_S_gan.yml', x4_pairs), tmp_path, pretrain=True)
    assert f'loaded network_g from {tmp_path / "pre.safetensors"}' in log and '| SRGANModel |' in log
    for term in ('l_g_mssim_gt', 'l_g_perceptual_gt', 'l_g_hsluv_gt', 'l_g_hsluv_gt_saturation',
                 'l_g_hsluv_gt_lightness', 'l_g_gan', 'l_d_real', 'l_d_fake'):
        assert f' {term} ' in log
    assert (exp / 'models' / 'net_g_1.safetensors').is_file() and (exp / 'models' / 'net_d_1.safetensors').is_file()


@pytest.mark.slow
@pytest.mark.parametrize('rel', SMALLEST)
def test_the_smallest_network_of_each_family_trains_an_iteration_from_its_template(rel, x4_pairs, tmp_path):
    # only the data paths differ from the template, and, for this 2-core CPU, the size of the one
    # iteration: its batch (the templates' 4 to 16 at 64-96 px LQ crops need a GPU: ATD's took
    # over 24 GB) and where it goes
    lq = 48 if rel.startswith('GRL/') else 32  # GRL takes at least 33 px
    batch = 2 if rel.startswith('DAT/') else 1  # DAT's BatchNorm needs more than one value per channel
    exp, log = train_template(template(rel, x4_pairs), tmp_path, 1, '--force',
                              f'datasets.train.batch_size_per_gpu={batch}', '--force', f'datasets.train.lq_size={lq}')
    assert 'use_amp: true: AMP is for NVIDIA GPUs; on the CPU this run trains in fp32' in log
    assert '| SRModel |' in log and '4 training images' in log  # both folders of the lists
    assert (exp / 'models' / 'net_g_1.safetensors').is_file()


def test_a_template_trains_exactly_as_it_is(x4_pairs, tmp_path):
    """SPAN_S_fidelity at its own batch (16) and crop (64 px LQ): only the data paths, the one
    iteration and where it goes differ; the saved EMA is the raw weights, as ema_power's first
    update copies them."""
    from srkit.utils.checkpoint import load_checkpoint
    data = template('SPAN/SPAN_S_fidelity.yml', x4_pairs)
    p = write_yaml(tmp_path / 'opt.yml', data)
    r = call_cli('train', '-opt', p, '--force', 'train.total_iter=1', '--force', f'path.experiments_root={tmp_path}')
    assert r.returncode == 0, r.stderr[-2000:]
    exp = tmp_path / '4x_SPAN_S'
    ema = load_checkpoint(str(exp / 'models' / 'net_g_1.safetensors'))
    state = torch.load(next((exp / 'training_states').glob('1.state')), weights_only=True)
    raw = state['raw_params']['g']
    sd = ema.get('params_ema', ema.get('params'))
    assert set(sd) == set(raw) and all(torch.equal(sd[k], raw[k]) for k in sd)


# ---------------------------------------------------------------- the translation, key by key


def _redux(**over) -> dict:
    base = {'name': 'x', 'scale': 4, 'num_gpu': 'auto', 'use_amp': True, 'amp_bf16': False,
            'use_channels_last': True, 'fast_matmul': False, 'network_g': {'type': 'span_s'},
            'path': {'param_key_g': None, 'strict_load_g': True, 'resume_state': None},
            'datasets': {'train': {'name': 't', 'type': 'pairedimagedataset', 'dataroot_gt': 'a', 'dataroot_lq': 'b',
                                   'lq_size': 32, 'batch_size_per_gpu': 2, 'accum_iter': 1}},
            'train': {'total_iter': 10, 'ema_decay': 0.999, 'optim_g': {'type': 'AdamW', 'lr': 1e-4},
                      'losses': [{'type': 'charbonnierloss', 'loss_weight': 1.0}]},
            'logger': {'print_freq': 1, 'save_checkpoint_freq': 5, 'use_tb_logger': False,
                       'save_checkpoint_format': 'safetensors'}}
    for key, value in over.items():
        node, parts = base, key.split('.')
        for part in parts[:-1]:
            node = node[part]
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return base


def test_gpu_switches_become_srkit_s_on_a_gpu_and_say_what_they_became_on_a_cpu():
    out, notes = translate(_redux(device='cuda'))
    assert (out['train']['amp'], out['train']['channels_last']) == ('fp16', True) and notes == [
        'manual_seed: not given; traiNNer-redux draws one at random, srkit seeds 0 (a run repeats)']
    out, notes = translate(_redux(device='cuda', **{'network_g.type': 'dat_light'}))
    assert out['train']['amp'] == 'bf16'  # traiNNer-redux's ARCHS_WITHOUT_FP16
    assert 'use_amp: dat_light runs in bf16, not fp16, as in traiNNer-redux (train.amp: bf16)' in notes
    out, _ = translate(_redux(device='cuda', amp_bf16=True, use_channels_last=False, fast_matmul=True))
    assert (out['train']['amp'], out['train']['channels_last'], out['train']['tf32']) == ('bf16', False, True)
    out, _ = translate(_redux(device='cuda', use_amp=False))
    assert 'amp' not in out['train'] and out['train']['channels_last'] is False  # only under AMP in traiNNer-redux
    out, notes = translate(_redux(num_gpu=0, fast_matmul=True, use_compile=True, compile_mode='max-autotune'))
    assert 'amp' not in out['train'] and 'channels_last' not in out['train'] and out['train']['compile']
    assert notes[1:] == [
        'use_amp: true: AMP is for NVIDIA GPUs; on the CPU this run trains in fp32 (train.amp: none); '
        'use_channels_last, which applies with AMP: the layout measured fastest for span_s on the CPU',
        'fast_matmul: true: TF32 is for NVIDIA GPUs; no effect on the CPU (train.tf32)',
        "compile_mode: max-autotune: srkit compiles in torch.compile's default mode"]
    for key in ('use_amp', 'amp_bf16', 'use_channels_last', 'fast_matmul', 'use_compile', 'compile_mode'):
        assert key not in out


def test_the_other_keys_map_onto_srkit_s():
    out, notes = translate(_redux(use_amp=False, **{
        'manual_seed': 5, 'datasets.train.accum_iter': 3, 'datasets.train.dataset_enlarge_ratio': 'auto',
        'datasets.train.persistent_workers': True, 'datasets.train.kernel_list': ['iso'],
        'datasets.train.use_rot': False, 'train.grad_clip': True, 'train.grad_clip_max_norm': 0.5,
        'train.ema_power': None, 'train.scheduler': {'type': 'multisteplr', 'milestones': [5], 'gamma': 0.5},
        'train.losses': [{'type': 'l1loss', 'loss_weight': 1.0}, {'type': 'distsloss', 'loss_weight': 0}],
        'val': {'val_enabled': True, 'save_img': False, 'tile_size': 64, 'tile_overlap': 8, 'metrics_enabled': True,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}}))
    t, ds = out['train'], out['datasets']['train']
    assert out['model_type'] == 'SRModel' and out['manual_seed'] == 5
    assert (t['accum_iter'], t['grad_clip'], t['ema_power']) == (3, 0.5, 10)  # traiNNer-redux's default power
    assert t['scheduler']['type'] == 'MultiStepLR' and t['losses'] == [{'type': 'L1Loss', 'loss_weight': 1.0}]
    assert (ds['gt_size'], ds['use_hflip'], ds['use_rot'], ds['dataset_enlarge_ratio']) == (128, True, False, 'auto')
    assert not {'lq_size', 'accum_iter', 'persistent_workers', 'kernel_list'} & set(ds)
    assert out['val'] == {'save_img': False, 'tile': 64, 'tile_overlap': 8,
                          'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': False}}}
    assert out['path'] == {'strict_load_g': True} and out['logger']['save_format'] == 'safetensors'
    assert notes == ['train.losses: distsloss at loss_weight 0: left out, as traiNNer-redux builds no loss at '
                     'weight 0']
    out, notes = translate(_redux(network_d={'type': 'dunet'}, **{'train.optim_d': {'type': 'AdamW', 'lr': 1e-4},
                                                                   'path.pretrain_network_d': None}))
    assert 'network_d' not in out and 'optim_d' not in out['train']
    assert 'network_d, train.optim_d: not used without a GAN loss (as in traiNNer-redux)' in notes


@pytest.mark.parametrize('over, line', [
    ({'deterministic': True}, "deterministic: True: srkit has no switch for torch's deterministic algorithms"),
    ({'train.use_moa': True}, "train.use_moa: True: traiNNer-redux's mixture of augmentations has no srkit"),
    ({'train.ema_switch_iter': 1000}, 'train.ema_switch_iter: 1000: srkit keeps the EMA beside the network'),
    ({'train.grad_clip': 'yes'}, "train.grad_clip: 'yes': true or false (the norm is grad_clip_max_norm)"),
    ({'network_g.type': 'artcnn_r8f64'}, 'network_g.type: artcnn_r8f64: not an architecture srkit trains'),
    ({'datasets.train.gt_size': 128}, 'datasets.train.lq_size: give lq_size or gt_size, not both'),
    ({'train.losses': [{'type': 'l1loss', 'loss_weight': -1}]}, "train.losses[0].loss_weight: -1: traiNNer-redux's "
                                                                'negative weight'),
    ({'path.pretrain_network_g_ema': 'x.pth'}, 'path.pretrain_network_g_ema: '),
    ({'rank': 3}, "rank: 3: set by traiNNer-redux's launcher"),
    ({'input_pixel_format': 'y'}, "input_pixel_format: 'y': srkit trains RGB networks only"),
    ({'train.losses': [{'type': 'fliploss', 'loss_weight': 1}]}, "train.losses[0].type: fliploss: traiNNer-redux's "
                                                                  'loss, not one srkit has yet'),
    ({'network_d': {'type': 'metagan3'}, 'train.optim_d': {'type': 'AdamW', 'lr': 1e-4},
      'train.losses': [{'type': 'l1loss', 'loss_weight': 1}, {'type': 'ganloss', 'loss_weight': 0.1}]},
     'network_d.type: metagan3: not an architecture srkit trains'),
    ({'train.optim_g': {'type': 'SOAP', 'lr': 1e-4}}, "train.optim_g.type: unknown optimizer type 'SOAP'"),
    ({'train.losses': [{'type': 'perceptualloss', 'criterion': 'fd', 'loss_weight': 1}]},
     "train.losses[0].criterion: fd: traiNNer-redux's pd and fd criteria"),
])
def test_a_key_srkit_cannot_honour_is_refused_in_one_line(over, line):
    with pytest.raises(OptionError) as e:
        parse_options(_redux(**over))
    assert str(e.value).startswith(line) and '\n' not in str(e.value)


def test_a_recipe_is_traiNNer_redux_s_only_without_model_type():
    from srkit.options.redux import is_redux
    assert is_redux(_redux()) and is_redux(_redux(use_amp=None, amp_bf16=None, use_channels_last=None,
                                                  fast_matmul=None))  # lq_size alone tells
    assert not is_redux({**_redux(), 'model_type': 'SRModel'}) and not is_redux({'name': 'x'})


# ---------------------------------------------------------------- the pieces the templates need


@pytest.mark.parametrize('power, after', [(0.75, 0), (10, 0), (2 / 3, 4)])
def test_ema_power_is_ema_pytorch_s_warm_up(power, after):
    """srkit's EMA with ema_power (and ema_update_after_step) against ema-pytorch's EMA, the
    class traiNNer-redux trains with, over 40 optimizer steps of a network with BatchNorm."""
    from ema_pytorch import EMA as Reference
    from srkit.engine.ema import EMA
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 3, 1))
    ours = EMA(net, 0.999, power, after)
    ref = Reference(net, beta=0.999, power=power, update_after_step=after, update_every=1)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for it in range(1, 41):
        net.train()
        net(torch.randn(2, 3, 8, 8)).square().mean().backward()
        opt.step()
        opt.zero_grad()
        ours.update(it)
        ref.update()
        want = ref.ema_model.state_dict()
        # every floating tensor, BatchNorm's statistics too; ema-pytorch leaves integer buffers
        # (num_batches_tracked) at their first value, srkit copies the network's count
        for k, v in ours.state_dict().items():
            if not v.is_floating_point():
                assert v == net.state_dict()[k]
                continue
            torch.testing.assert_close(v, want[k], rtol=0, atol=2e-7, msg=f'{k} at iteration {it}')
    assert ours.decay_at(10_000) == pytest.approx(min(0.999, 1 - (10_000 - after) ** -power))


def test_a_list_of_dataroots_pairs_folder_by_folder(x4_pairs, tmp_path):
    from srkit.data.datasets import PairedImageDataset
    from srkit.options import parse_section
    from srkit.utils.imgio import read_image
    roots = {'dataroot_gt': [str(x4_pairs / 'hr1'), str(x4_pairs / 'hr2')],
             'dataroot_lq': [str(x4_pairs / 'lr1'), str(x4_pairs / 'lr2')]}
    opt = parse_section(PairedImageDataset.Options, {**roots, 'scale': 4, 'phase': 'val'}, 'datasets.val')
    ds = PairedImageDataset(opt)
    assert ds.keys == ['0/img0', '0/img1', '1/img0', '1/img1']  # the same names in two folders: four images
    for i, key in enumerate(ds.keys):
        part, name = key.split('/')
        s = ds[i]
        gt = read_image(str(x4_pairs / f'hr{int(part) + 1}' / f'{name}.png'))
        lq = read_image(str(x4_pairs / f'lr{int(part) + 1}' / f'{name}.png'))
        assert np.array_equal(s['gt'].permute(1, 2, 0).numpy(), gt)
        assert np.array_equal(s['lq'].permute(1, 2, 0).numpy(), lq)
    bad = {**roots, 'dataroot_lq': roots['dataroot_lq'][:1]}
    with pytest.raises(OptionError, match=r'^datasets.val.dataroot_lq: the folders pair one to one, but '
                                          r'dataroot_gt: 2, dataroot_lq: 1 folders$'):
        parse_section(PairedImageDataset.Options, {**bad, 'scale': 4, 'phase': 'val'}, 'datasets.val')
    with pytest.raises(OptionError, match=r'^datasets.val.dataroot_gt\[1\]: no such file or directory'):
        gone = [roots['dataroot_gt'][0], str(tmp_path / 'no')]
        parse_section(PairedImageDataset.Options, {**roots, 'dataroot_gt': gone, 'scale': 4, 'phase': 'val'},
                      'datasets.val')
    meta = tmp_path / 'meta.txt'
    meta.write_text('img0.png\n')
    with pytest.raises(OptionError, match='meta_info_file: lists the images of one folder'):
        parse_section(PairedImageDataset.Options, {**roots, 'meta_info_file': str(meta), 'scale': 4, 'phase': 'val'},
                      'datasets.val')


def test_dataset_enlarge_ratio_auto_is_traiNNer_redux_s():
    from srkit.data.loader import enlarge_ratio
    from types import SimpleNamespace
    assert enlarge_ratio(SimpleNamespace(dataset_enlarge_ratio='auto', batch_size_per_gpu=16), 4) == 8000
    assert enlarge_ratio(SimpleNamespace(dataset_enlarge_ratio='auto', batch_size_per_gpu=8), 100_000) == 1
    assert enlarge_ratio(SimpleNamespace(dataset_enlarge_ratio=3, batch_size_per_gpu=8), 4) == 3
    # an epoch's order is held in memory: bounded, auto kept under the bound, a larger ratio refused
    assert enlarge_ratio(SimpleNamespace(dataset_enlarge_ratio='auto', batch_size_per_gpu=65536), 1) == 1 << 26
    with pytest.raises(OptionError, match=r'^datasets.train.dataset_enlarge_ratio: 1000000 times 1000 images is '
                                          r'1,000,000,000 samples an epoch, over the 67,108,864'):
        enlarge_ratio(SimpleNamespace(dataset_enlarge_ratio=1_000_000, batch_size_per_gpu=8), 1000)


@pytest.mark.parametrize('cfg, reference', [
    # traiNNer-redux's esrgan(): spandrel's ESRGAN, pixel-unshuffled input at scales 1 and 2
    ({'type': 'esrgan_lite', 'scale': 2}, dict(scale=4, in_nc=12, shuffle_factor=2, num_blocks=12, num_filters=32)),
    ({'type': 'esrgan', 'scale': 4, 'num_blocks': 2}, dict(scale=4, in_nc=3, num_blocks=2, num_filters=64)),
    ({'type': 'esrgan', 'scale': 4, 'num_blocks': 2, 'use_pixel_unshuffle': False},
     dict(scale=4, in_nc=3, num_blocks=2, num_filters=64)),
    ({'type': 'esrgan_lite', 'scale': 1, 'num_blocks': 1}, dict(scale=4, in_nc=48, shuffle_factor=4, num_blocks=1,
                                                                 num_filters=32)),
    # realcugan(): spandrel's UpCunet by scale and fast
    ({'type': 'realcugan', 'scale': 3, 'pro': True}, 'UpCunet3x'),
    ({'type': 'realcugan', 'scale': 2, 'fast': True}, 'UpCunet2x_fast'),
    ({'type': 'realcugan', 'scale': 4}, 'UpCunet4x'),
])
def test_the_esrgan_and_realcugan_presets_are_traiNNer_redux_s_networks(cfg, reference):
    """The network traiNNer-redux's preset function builds (spandrel's class) has the same
    parameters, shape for shape; spandrel reads srkit's file of it and runs it the same."""
    from spandrel import ModelLoader
    from spandrel.architectures import ESRGAN, RealCUGAN
    from srkit.archs import build_network
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    ref = ESRGAN.ESRGAN(**reference) if isinstance(reference, dict) else getattr(RealCUGAN, reference)(
        pro=cfg.get('pro', False)) if reference != 'UpCunet2x_fast' else RealCUGAN.UpCunet2x_fast()
    assert sorted(p.numel() for p in net.parameters()) == sorted(p.numel() for p in ref.parameters())
    loaded = ModelLoader().load_from_state_dict(copy.deepcopy(net.state_dict()))
    assert loaded.scale == cfg['scale']
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- the GAN templates' losses and discriminator


def _pair(size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_mssim_loss_is_pyiqa_s_ms_ssim_and_traiNNer_redux_s_variant():
    """With the luminance term, on crops whose fifth scale still fills the 11-pixel window,
    1 - pyiqa's ms_ssim; without it (traiNNer-redux's default), 1 - the product of pyiqa's
    contrast-structure terms at the five scales."""
    import torch.nn.functional as F
    from pyiqa.archs.func_util import preprocess_rgb
    from pyiqa.archs.ssim_arch import ms_ssim, ssim
    from srkit.losses.ssim import MS_WEIGHTS, MSSIMLoss
    x, y = _pair(192)
    want = 1 - ms_ssim(preprocess_rgb(x, True), preprocess_rgb(y, True), data_range=1.0).mean()
    torch.testing.assert_close(MSSIMLoss(include_luminance=True)(x, y), want, rtol=0, atol=1e-6)
    a, b, score = preprocess_rgb(x, True), preprocess_rgb(y, True), 1.0
    for w in MS_WEIGHTS:
        _, cs = ssim(a, b, get_cs=True, data_range=1.0)
        score = score * cs ** w
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    torch.testing.assert_close(MSSIMLoss(loss_weight=0.5)(x, y), 0.5 * (1 - score.mean()), rtol=0, atol=1e-6)
    assert MSSIMLoss()(x, x).item() == pytest.approx(0, abs=1e-6)
    # a 64 px crop is 4 px wide at the fifth scale: filtered with 'same' padding, finite and ordered
    small = [MSSIMLoss()(*_pair(64, s)) for s in range(2)]
    far = MSSIMLoss()(_pair(64)[0], torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(9)))
    assert all(torch.isfinite(v) and 0 < v < far for v in small)


def test_rgb_to_hsluv_is_the_reference_hsluv_conversion():
    """Against the ``hsluv`` package (hsluv.org's reference, float64) on random colours and a
    grey ramp; the hue is compared where the colour has one (saturation over 1)."""
    import hsluv
    from srkit.losses.color import rgb_to_hsluv
    g = torch.Generator().manual_seed(0)
    rgb = torch.cat([torch.rand(1, 3, 20, 20, generator=g).clamp(0.02, 0.98).reshape(1, 3, 400),
                     torch.linspace(0.05, 0.95, 10).repeat(3, 1)[None]], 2)[..., None]
    ours = rgb_to_hsluv(rgb)[0, :, :, 0].T
    for (r, gg, b), (h, s, l) in zip(rgb[0, :, :, 0].T.tolist(), ours.tolist()):
        rh, rs, rl = hsluv.rgb_to_hsluv([r, gg, b])
        assert l == pytest.approx(rl, abs=2e-3) and s == pytest.approx(rs, abs=2e-2)
        if rs > 1:
            assert min(abs(h - rh), 360 - abs(h - rh)) < 0.05
        else:
            assert s < 1.5


def test_hsluv_loss_terms():
    """traiNNer-redux's rules, on colours whose HSLuv the reference gives: no hue difference
    between two greys, the larger saturation between a grey and a colour, each term weighted."""
    import hsluv
    from srkit.losses.color import HSLuvLoss

    def img(*rgb):
        return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 4, 4)

    loss = HSLuvLoss()
    assert all(v.item() == 0 for v in loss(img(0.3, 0.6, 0.2), img(0.3, 0.6, 0.2)))
    hue, sat, light = loss(img(0.4, 0.4, 0.4), img(0.6, 0.6, 0.6))
    _, _, l1 = hsluv.rgb_to_hsluv([0.4] * 3)
    _, _, l2 = hsluv.rgb_to_hsluv([0.6] * 3)
    assert hue.item() == 0 and sat.item() == pytest.approx(0, abs=1e-5)
    assert light.item() == pytest.approx(abs(l1 - l2) / 100 / 3, abs=1e-4)
    _, s_col, l_col = hsluv.rgb_to_hsluv([0.8, 0.2, 0.2])
    hue, sat, _ = HSLuvLoss(loss_weight=2.0, criterion='l2')(img(0.5, 0.5, 0.5), img(0.8, 0.2, 0.2))
    assert hue.item() == pytest.approx(2.0 / 3 * s_col / 100, abs=1e-4)
    _, s_grey, l_grey = hsluv.rgb_to_hsluv([0.5] * 3)
    mid = min(l_grey / 100, 1 - l_grey / 100) + min(l_col / 100, 1 - l_col / 100)
    assert sat.item() == pytest.approx(2.0 / 3 * ((s_col - s_grey) / 100) ** 2 * mid, abs=1e-4)


def test_charbonnier_perceptual_loss_with_a_replicate_padded_vgg(vgg_cache):
    """srkit's PerceptualLoss as traiNNer-redux's perceptualloss (criterion charbonnier, its
    layer weights, a replicate-padded first convolution) against torchvision's VGG19 run by
    hand on the same weights."""
    from srkit.losses.perceptual import VGG19_NAMES, PerceptualLoss
    from srkit.options.redux import VGG19_CONV_LAYERS
    net = copy.deepcopy(vgg_cache)  # the weights at the cache path
    net.features[0].padding_mode = 'replicate'
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(img):
        h, out = (img - mean) / std, {}
        for name, layer in zip(VGG19_NAMES, net.features):
            h = layer(h.clone()) if isinstance(layer, torch.nn.ReLU) else layer(h)
            out[name] = h
        return out

    x, y = _pair(48)
    fx, fy = feats(x), feats(y)
    want = 0.01 * sum(w * torch.sqrt((fx[k] - fy[k]) ** 2 + 1e-12).mean() for k, w in VGG19_CONV_LAYERS.items())
    loss = PerceptualLoss(dict(VGG19_CONV_LAYERS), criterion='charbonnier', padding='replicate', perceptual_weight=0.01)
    torch.testing.assert_close(loss(x, y)[0], want, rtol=1e-5, atol=0)
    plain = PerceptualLoss(dict(VGG19_CONV_LAYERS), criterion='charbonnier', perceptual_weight=0.01)
    assert abs(plain(x, y)[0].item() - want.item()) > 1e-6  # zero padding: VGG's own, another value


def test_dunet_is_traiNNer_redux_s_discriminator():
    """traiNNer-redux's keys (spectral norm as a parametrization, spandrel's DySample in the
    decoder) and a per-pixel map; its outputs equalled traiNNer-redux's DUnet loaded with the
    same weights (a one-off probe against its checkout: 0.0 difference)."""
    from srkit.archs import build_network
    net = build_network({'type': 'DUnet', 'num_feat': 16})
    keys = list(net.state_dict())
    assert keys[:3] == ['in_to_dim.weight', 'in_to_dim.bias', 'e_x1.0.bias']
    assert {'e_x1.0.parametrizations.weight.original', 'e_x1.0.parametrizations.weight.0._u',
            'e_x1.0.parametrizations.weight.0._v', 'up1.0.offset.weight', 'up1.0.scope.weight', 'up1.0.init_pos',
            'up1.1.parametrizations.weight.original', 'end_conv.4.weight'} <= set(keys)
    assert net(torch.rand(2, 3, 32, 48)).shape == (2, 1, 32, 48)


# ---------------------------------------------------------------- the losses traiNNer-redux's recipes may switch on


def test_color_luma_cosim_and_sobel_losses_against_their_references():
    """ColorLoss on BasicSR's rgb2ycbcr_pt chroma; LumaLoss on CIELAB L* (scikit-image's rgb2lab)
    above its linear segment, traiNNer-redux's y * (y * 24389/27) / 100 below it; CosimLoss on
    torch's cosine similarity; SobelEdgeLoss on scipy's correlation of the BT.601 luma."""
    import numpy as np
    import torch.nn.functional as F
    from scipy.ndimage import correlate
    from skimage.color import rgb2lab
    from srkit.compat import import_basicsr
    from srkit.losses.color import ColorLoss, LumaLoss, rgb_to_lightness
    from srkit.losses.pixel import CosimLoss, SobelEdgeLoss
    rgb2ycbcr_pt = import_basicsr('basicsr.utils.color_util').rgb2ycbcr_pt
    x, y = _pair(32)
    cx, cy = (F.avg_pool2d(rgb2ycbcr_pt(t)[:, 1:], 4) for t in (x, y))
    torch.testing.assert_close(ColorLoss(loss_weight=2.0)(x, y), 2.0 * (cx - cy).abs().mean())
    torch.testing.assert_close(ColorLoss(criterion='l2', scale=2)(x, y), F.mse_loss(
        *(F.avg_pool2d(rgb2ycbcr_pt(t)[:, 1:], 2) for t in (x, y))))
    light = rgb_to_lightness(x)
    lab = torch.from_numpy(rgb2lab(x.permute(0, 2, 3, 1).double().numpy())[..., 0] / 100).float()
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    lum = (lin * torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)).sum(1)
    bright = lum > 216 / 24389
    assert bright.float().mean() > 0.5 and (~bright).any()
    torch.testing.assert_close(light[bright], lab[bright], rtol=0, atol=1e-4)
    torch.testing.assert_close(light[~bright], (lum * lum * 24389 / 27 / 100)[~bright], rtol=0, atol=1e-6)
    torch.testing.assert_close(LumaLoss(criterion='l2')(x, y), F.mse_loss(light, rgb_to_lightness(y)))
    sim = F.cosine_similarity(x.clamp(1e-12, 1), y.clamp(1e-12, 1), dim=1, eps=1e-20)
    torch.testing.assert_close(CosimLoss()(x, y), 5 * (1 - sim.mean()))
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 4

    def grads(t):
        luma = (0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]).double().numpy()
        return np.stack([[correlate(im, kk, mode='constant') for kk in (k, k.T)] for im in luma])

    want = ((grads(x) - grads(y)) ** 2).mean()
    assert SobelEdgeLoss()(x, y).item() == pytest.approx(want, rel=1e-5)


def test_ff_loss_is_the_published_focal_frequency_loss():
    """traiNNer-redux's ffloss: EndlessSora's FocalFrequencyLoss (the PyPI package) with the batch's
    mean spectrum and a factor of 50."""
    from focal_frequency_loss import FocalFrequencyLoss
    from srkit.losses.frequency import FFLoss
    x, y = _pair(32)
    x = torch.cat([x, x.flip(-1)])[:, :, :, :24]
    y = torch.cat([y, y.flip(-1)])[:, :, :, :24]
    for kw in ({}, {'alpha': 2.0, 'patch_factor': 2}, {'log_matrix': True, 'batch_matrix': True},
               {'ave_spectrum': False}):
        want = 50 * FocalFrequencyLoss(**{'ave_spectrum': True, **kw})(x, y)
        torch.testing.assert_close(FFLoss(**kw)(x, y), want, rtol=1e-6, atol=0)


def test_ms_ssim_l1_loss_is_zhao_et_al_s_mix():
    """MSSSIML1Loss against the formula evaluated with scipy (zero-padded Gaussian windows of the
    five sigmas grouped as the published code groups them, the luminance of the last three)."""
    import numpy as np
    from scipy.signal import correlate2d
    from srkit.losses.ssim import MSSSIML1Loss
    x, y = _pair(24)
    xs, ys = x.double().numpy(), y.double().numpy()
    sigmas, c1, c2, pad = [0.5, 1.0, 2.0, 4.0, 8.0], 1e-4, 9e-4, 16
    coords = np.arange(33) - 16

    def blur(a, s):
        g = np.exp(-coords ** 2 / (2 * s ** 2))
        g = np.outer(g / g.sum(), g / g.sum())
        return np.stack([[correlate2d(c, g, mode='full')[pad:pad + 24, pad:pad + 24] for c in im] for im in a])

    # the published code's grouped convolution: its 15 windows are the 5 sigmas x 3, and window j
    # filters input channel j // 5 with sigma j // 3
    cs_prod, lums = 1.0, []
    for j in range(15):
        c, s = j // 5, sigmas[j // 3]
        mx, my = blur(xs[:, c:c + 1], s)[:, 0], blur(ys[:, c:c + 1], s)[:, 0]
        sx = blur(xs[:, c:c + 1] ** 2, s)[:, 0] - mx ** 2
        sy = blur(ys[:, c:c + 1] ** 2, s)[:, 0] - my ** 2
        sxy = blur(xs[:, c:c + 1] * ys[:, c:c + 1], s)[:, 0] - mx * my
        cs_prod = cs_prod * (2 * sxy + c2) / (sx + sy + c2)
        lums.append((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1))
    lum = lums[-1] * lums[-2] * lums[-3]
    l1 = blur(np.abs(xs - ys), 8.0).mean(1)
    want = (0.1 * (1 - lum * cs_prod) + 0.9 * l1).mean()
    assert MSSSIML1Loss()(x, y).item() == pytest.approx(want, rel=1e-4)


def test_dists_loss_is_pyiqa_s_dists_and_says_which_files_are_missing(tmp_path, monkeypatch):
    import torchvision
    from pyiqa.archs.dists_arch import DISTS
    from srkit.losses.perceptual import DISTSLoss
    from srkit.pretrained import WeightsMissing, dists_weight_paths
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('SRKIT_OFFLINE', '1')
    (vgg, vgg_url), (ab, ab_url) = dists_weight_paths()
    assert os.path.basename(vgg_url) == 'vgg16-397923af.pth' and os.path.basename(ab_url) == 'DISTS_weights-f5e65c96.pth'
    with pytest.raises(WeightsMissing) as e:
        DISTSLoss()
    assert str(e.value) == (
        f'DISTS weights are missing: put vgg16-397923af.pth (from {vgg_url}) at {vgg}, DISTS_weights-f5e65c96.pth '
        f'(from {ab_url}) at {ab} (SRKIT_OFFLINE=1: no download attempted)')
    os.makedirs(os.path.dirname(vgg))
    os.makedirs(os.path.dirname(ab))
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16().state_dict(), vgg)
    torch.save({'alpha': torch.rand(1, 1475, 1, 1), 'beta': torch.rand(1, 1475, 1, 1)}, ab)
    x, y = _pair(64)
    ref = DISTS(pretrained=True, pretrained_model_path=ab)
    torch.testing.assert_close(DISTSLoss(loss_weight=0.3)(x, y), 0.3 * ref(x, y).mean(), rtol=1e-6, atol=0)


def test_cosine_annealing_warmup_is_traiNNer_redux_s_schedule():
    """Linear from 0 over the warmup, then a cosine from the initial lr to eta_min_ratio of it."""
    import math
    from srkit.engine.schedulers import CosineAnnealingWarmupLR
    o = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1e-3)
    s = CosineAnnealingWarmupLR(o, total_iters=50, warmup_iters=10, eta_min_ratio=0.2)
    lrs = []
    for _ in range(60):
        lrs.append(o.param_groups[0]['lr'])
        o.step()
        s.step()
    assert lrs[0] == 0 and lrs[5] == pytest.approx(5e-4) and lrs[10] == pytest.approx(1e-3)
    assert lrs[30] == pytest.approx(1e-3 * (0.2 + 0.8 * (1 + math.cos(math.pi * 0.5)) / 2))
    assert lrs[50] == lrs[59] == pytest.approx(2e-4)


def test_patchgan_discriminators_with_spectral_norm():
    """traiNNer-redux's keys and outputs (their forward equalled traiNNer-redux's classes loaded
    with the same weights in a one-off probe against its checkout: 0.0 difference)."""
    from srkit.archs import build_network
    d = build_network({'type': 'PatchGANDiscriminatorSN', 'ndf': 16})
    assert list(d.state_dict())[:3] == ['model.0.bias', 'model.0.weight_orig', 'model.0.weight_u']
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    m = build_network({'type': 'MultiscalePatchGANDiscriminatorSN', 'ndf': 16, 'num_d': 2})
    assert {k.split('.')[1] for k in m.state_dict()} == {'0', '1'} and m(torch.rand(2, 3, 128, 128)).shape == ()


@pytest.mark.slow
def test_a_recipe_with_every_switchable_loss_a_schedule_free_optimizer_and_a_multiscale_d(x4_pairs, tmp_path,
                                                                                          vgg_cache):
    """SPAN_S_gan with its zero-weight losses at the weights its comments give (but fliploss),
    traiNNer-redux's other losses, AdamWScheduleFree, CosineAnnealingWarmupLR and the multiscale
    PatchGAN: two iterations, and a resumed run reaches the same weights; the saved network is
    the optimizer's evaluated (averaged) point."""
    from safetensors.torch import load_file
    from srkit.pretrained import dists_weight_paths
    import torchvision
    (vgg16, _), (ab, _) = dists_weight_paths()
    os.makedirs(os.path.dirname(vgg16), exist_ok=True)
    os.makedirs(os.path.dirname(ab), exist_ok=True)
    torch.save(torchvision.models.vgg16().state_dict(), vgg16)
    torch.save({'alpha': torch.rand(1, 1475, 1, 1), 'beta': torch.rand(1, 1475, 1, 1)}, ab)
    data = template('SPAN/SPAN_S_gan.yml', x4_pairs)
    weights = {'distsloss': 0.3, 'ldlloss': 1.0, 'ffloss': 0.2, 'cosimloss': 1.0, 'sobeledgeloss': 1.0}
    for spec in data['train']['losses']:
        spec['loss_weight'] = weights.get(spec['type'], spec['loss_weight'])
    data['train']['losses'] += [{'type': 'colorloss', 'loss_weight': 1.0}, {'type': 'lumaloss', 'loss_weight': 1.0},
                                {'type': 'msssiml1loss', 'loss_weight': 1.0}]
    for net in ('g', 'd'):
        data['train'][f'optim_{net}'] = {'type': 'AdamWScheduleFree', 'lr': 1e-4, 'betas': [0.9, 0.99],
                                         'weight_decay': 0, 'warmup_steps': 1}
    data['train']['scheduler'] = {'type': 'CosineAnnealingWarmupLR', 'total_iters': 4, 'warmup_iters': 1}
    data['network_d'] = {'type': 'multiscalepatchgandiscriminatorsn', 'ndf': 16}
    data['logger']['save_checkpoint_freq'] = 1
    exp, log = train_template(data, tmp_path, 2, pretrain=True)
    for term in ('l_g_dists_gt', 'l_g_l1_ldl', 'l_g_ff_gt', 'l_g_cosim_gt', 'l_g_sobeledge_gt', 'l_g_color_gt',
                 'l_g_luma_gt', 'l_g_msssiml1_gt'):
        assert f' {term} ' in log, term
    straight = load_file(exp / 'models' / 'net_g_2.safetensors')
    # the same two iterations, stopped after one and resumed
    r = call_cli('train', '-opt', tmp_path / 'opt.yml', '--force', 'train.total_iter=2', '--force', 'name=b',
                 '--force', f'path.experiments_root={tmp_path}/b', '--force', 'datasets.train.batch_size_per_gpu=2',
                 '--force', 'datasets.train.lq_size=32', '--force', f'path.resume_state={exp}/training_states/1.state')
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = load_file(tmp_path / 'b' / 'b' / 'models' / 'net_g_2.safetensors')
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_average_bicubic_and_psnr_losses():
    """Closed forms: the distance of average-pooled and of antialiased bicubic downscales, and
    minus the mean PSNR (on RGB, or on BT.601 luma as BasicSR's rgb2ycbcr_pt gives it)."""
    import math
    import torch.nn.functional as F
    from srkit.compat import import_basicsr
    from srkit.losses.pixel import AverageLoss, BicubicLoss, PSNRLoss
    rgb2ycbcr_pt = import_basicsr('basicsr.utils.color_util').rgb2ycbcr_pt
    x, y = _pair(32)
    torch.testing.assert_close(AverageLoss(criterion='l2')(x, y), F.mse_loss(F.avg_pool2d(x, 4), F.avg_pool2d(y, 4)))
    down = [F.interpolate(t, size=(16, 16), mode='bicubic', antialias=True) for t in (x, y)]
    torch.testing.assert_close(BicubicLoss(scale=2)(x, y), (down[0] - down[1]).abs().mean())
    psnr = [10 * math.log10(1 / ((a - b) ** 2).mean().item()) for a, b in zip(x, y)]
    assert PSNRLoss()(x, y).item() == pytest.approx(-sum(psnr) / 2, rel=1e-5)
    xy, yy = rgb2ycbcr_pt(x, y_only=True), rgb2ycbcr_pt(y, y_only=True)
    psnr = [10 * math.log10(1 / ((a - b) ** 2).mean().item()) for a, b in zip(xy, yy)]
    assert PSNRLoss(loss_weight=0.5, to_y=True)(x, y).item() == pytest.approx(-0.25 * sum(psnr), rel=1e-5)


def test_metagan2_is_traiNNer_redux_s_discriminator(x4_pairs, tmp_path, vgg_cache):
    """Its keys (stem, downsamplings, gated blocks, head) and its channels-last logits; its output
    equalled traiNNer-redux's MetaGan2 loaded with the same weights in a one-off probe (0.0). A
    GAN template with ``network_d: {type: metagan2}`` (its comment's other choice) trains."""
    from srkit.archs import build_network
    d = build_network({'type': 'MetaGan2', 'dims': [8, 16, 16, 24], 'blocks': [1, 1, 2, 1]})
    keys = list(d.state_dict())
    assert keys[:4] == ['stages.0.down.conv1.bias', 'stages.0.down.conv1.weight_orig', 'stages.0.down.conv1.weight_u',
                        'stages.0.down.conv1.weight_v']
    assert {'stages.0.blocks.0.conv.conv.dwconv_hw.weight', 'stages.1.down.norm.weight', 'stages.3.blocks.0.gamma',
            'head.0.weight_orig', 'head.2.weight'} <= set(keys)
    assert d(torch.rand(2, 3, 64, 96)).shape == (2, 2, 3, 24)
    data = template('SPAN/SPAN_S_gan.yml', x4_pairs)
    data['network_d'] = {'type': 'metagan2', 'dims': [8, 16, 16, 24], 'blocks': [1, 1, 2, 1]}
    exp, log = train_template(data, tmp_path, pretrain=True)
    assert 'network_d: MetaGan2' in log and ' l_d_real ' in log
