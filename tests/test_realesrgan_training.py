"""Real-ESRNet / Real-ESRGAN on the shared engine: the dataset's kernels, the on-device
data step, Real-ESRGAN's recipe keys, and exact resume with the pool and generators."""
import glob
import os
import signal
import subprocess
import sys

import pytest
import torch

from srkit.trainer import Trainer
from srkit.errors import DataError, OptionError
from srkit.options import parse_section as parse_dataclass, parse_options
from srkit.utils.checkpoint import load_checkpoint
from conftest import ROOT, kill_when, tiny_options, write_yaml


def _opt(tmp_path, photos_dir, model='RealESRNetModel', **over):
    o = tiny_options(tmp_path, photos_dir, **{
        'model_type': model, 'name': model, 'scale': 2, 'gt_size': 32, 'queue_size': 6,
        'datasets.train.type': 'RealESRGANDataset', 'datasets.train.crop_pad_size': 64,
        'datasets.train.gt_size': None, 'datasets.train.use_rot': None, 'datasets.train.num_worker_per_gpu': 0,
        **over})
    if model == 'RealESRGANModel':
        o['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8, 'skip_connection': True}
        o['train']['optim_d'] = {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]}
        o['train']['gan_opt'] = {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 0.1}
    return o


def test_dataset_gives_padded_crops_and_recipe_kernels(photos_dir):
    from srkit.data.datasets import RealESRGANDataset
    opt = parse_dataclass(RealESRGANDataset.Options, {
        'type': 'RealESRGANDataset', 'scale': 4, 'dataroot_gt': str(photos_dir / 'hr'), 'crop_pad_size': 128,
        'sinc_prob': 1.0, 'final_sinc_prob': 0.0}, 'datasets.train')
    ds = RealESRGANDataset(opt)
    s = ds[(0, 11)]
    assert s['gt'].shape == (3, 128, 128)  # 96 px photos, reflect-padded up to crop_pad_size
    # reflect-101 padding at the bottom/right: row 96 mirrors row 94 (of the possibly flipped image)
    assert torch.equal(s['gt'][:, 96], s['gt'][:, 94])
    for k in ('kernel1', 'kernel2', 'sinc_kernel'):
        assert s[k].shape == (21, 21) and abs(float(s[k].sum()) - 1) < 1e-5
    pulse = torch.zeros(21, 21)
    pulse[10, 10] = 1
    assert torch.equal(s['sinc_kernel'], pulse)  # final_sinc_prob 0: the identity pulse
    assert torch.equal(ds[(2, 5)]['kernel1'], ds[(2, 5)]['kernel1'])  # seeded per sample
    with pytest.raises(OptionError, match='kernel_prob: expected 6'):
        parse_dataclass(RealESRGANDataset.Options, {'type': 'RealESRGANDataset', 'dataroot_gt': str(photos_dir),
                                                    'kernel_prob': [1, 0]}, 'datasets.train')


@pytest.mark.parametrize('model', ['RealESRNetModel', 'RealESRGANModel'])
def test_trains_on_cpu_and_saves_degrader_state(tmp_path, photos_dir, model):
    assert Trainer(parse_options(_opt(tmp_path, photos_dir, model)), quiet=True).fit() == 0
    exp = tmp_path / 'exp' / model
    ck = load_checkpoint(str(exp / 'models' / 'net_g_12.pth'))
    assert {'params', 'params_ema'} <= set(ck)
    if model == 'RealESRGANModel':
        assert (exp / 'models' / 'net_d_12.pth').exists()
    st = load_checkpoint(str(exp / 'training_states' / '12.state'))
    deg = st['rank_model'][0]['degrader']
    assert deg['pool']['count'] == 6 and deg['pool']['gt']['u8'].shape == (6, 3, 32, 32)
    assert deg['pool']['lq']['u8'].shape == (6, 3, 16, 16)
    log = open(glob.glob(str(exp / f'train_{model}_*.log'))[0]).read()
    assert '[val val @ 12] psnr' in log
    assert 'rgb2ycbcr), crop_border=2)' in log  # PSNR only: no SSIM window in the stated convention


def test_data_step_targets_follow_the_usm_flags(tmp_path, photos_dir):
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    from srkit.data.loader import build_dataset
    opt = parse_options(_opt(tmp_path, photos_dir, 'RealESRGANModel', percep_gt_usm=False, queue_size=0))
    model = build_model(opt, EngineContext(torch.device('cpu'), DistContext()))
    ds = build_dataset(opt.datasets['train'])
    batch = torch.utils.data.default_collate([ds[(i, i)] for i in range(2)])
    b = model.prepare_batch(batch)
    assert b['lq'].shape == (2, 3, 16, 16) and b['gt'].shape == b['gt_usm'].shape == (2, 3, 32, 32)
    assert torch.equal(b['lq'], (b['lq'] * 255).round() / 255)  # 8-bit LQ, as saved images would be
    targets = {t.where: t.target for t in opt.loss_terms}
    assert targets['train.pixel_opt'] == 'gt_usm' and targets.get('train.perceptual_opt', 'gt') == 'gt'
    pairs = model.loss_pairs(b['gt'], b)
    assert pairs['gt_usm'][1] is b['gt_usm'] and pairs['gt'][1] is b['gt'] and model.d_real(b) is b['gt']
    assert not torch.equal(b['gt_usm'], b['gt'])


def test_recipe_keys_are_checked_and_wrong_dataset_is_one_line(tmp_path, photos_dir):
    with pytest.raises(OptionError, match=r'^resize_prob: expected 3'):
        parse_options(_opt(tmp_path, photos_dir, resize_prob=[0.5, 0.5]))
    with pytest.raises(OptionError, match=r'^jpeg_range2: JPEG qualities'):
        parse_options(_opt(tmp_path, photos_dir, jpeg_range2=[30, 120]))
    with pytest.raises(OptionError, match=r'^noise_rang: unknown key \(known: .*noise_range'):
        parse_options(_opt(tmp_path, photos_dir, noise_rang=[1, 2]))
    with pytest.raises(OptionError, match=r'^gt_size: unknown key'):  # SRModel has no top-level gt_size
        parse_options(tiny_options(tmp_path, photos_dir, gt_size=32))
    o = _opt(tmp_path, photos_dir)
    o['datasets']['train'] = tiny_options(tmp_path, photos_dir)['datasets']['train']  # HR + bicubic LQ
    o['datasets']['train']['num_worker_per_gpu'] = 0
    t = Trainer(parse_options(o), quiet=True)
    with pytest.raises(DataError, match='needs the kernels of RealESRGANDataset'):
        t.fit()


def test_killed_realesrnet_resumes_bitwise(tmp_path, photos_dir):
    ref = _opt(tmp_path, photos_dir, name='ref')
    assert Trainer(parse_options(ref), quiet=True).fit() == 0
    want = load_checkpoint(str(tmp_path / 'exp' / 'ref' / 'models' / 'net_g_12.pth'))
    y = write_yaml(tmp_path / 'k.yml', _opt(tmp_path, photos_dir, name='killed'))
    exp = tmp_path / 'exp' / 'killed'
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'srkit.cli.train', '-opt', y, '--auto_resume', '--quiet']
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(p, (exp / 'training_states' / '6.state').exists)  # the pool is full by then
    assert p.returncode == -signal.SIGKILL, p.stderr.read()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = load_checkpoint(str(exp / 'models' / 'net_g_12.pth'))
    for key in ('params', 'params_ema'):
        for k, v in want[key].items():
            assert torch.equal(v, got[key][k]), f'{key}.{k} differs after resume'


@pytest.mark.slow
def test_realesrgan_under_torchrun_keeps_each_ranks_pool(tmp_path, photos_dir):
    from conftest import run_torchrun
    y = write_yaml(tmp_path / 'd.yml', _opt(tmp_path, photos_dir, 'RealESRGANModel', name='ddp'))
    run_torchrun(y, tmp_path)
    st = load_checkpoint(str(tmp_path / 'exp' / 'ddp' / 'training_states' / '12.state'))
    pools = [s['degrader']['pool'] for s in st['rank_model']]
    assert len(pools) == 2 and all(p['count'] == 6 for p in pools)
    assert not torch.equal(pools[0]['gt']['u8'], pools[1]['gt']['u8'])  # each rank its own data and draws
    gens = [s['degrader']['generator'] for s in st['rank_model']]
    assert not torch.equal(gens[0], gens[1])


def test_paired_finetune_without_high_order_degradation(tmp_path, photos_dir):
    o = _opt(tmp_path, photos_dir, high_order_degradation=False, name='paired')
    o['datasets']['train'] = {'name': 'p', 'type': 'PairedImageDataset', 'dataroot_gt': str(photos_dir / 'hr'),
                              'dataroot_lq': str(photos_dir / 'lr_x2'), 'gt_size': 32, 'num_worker_per_gpu': 0,
                              'batch_size_per_gpu': 2}
    t = Trainer(parse_options(o), quiet=True)
    assert t.model.degrader is None
    batch = t.model.prepare_batch(next(iter(t.loader)))
    assert batch['lq'].shape == (2, 3, 16, 16)
    torch.testing.assert_close(batch['gt_usm'], usm_ref(batch['gt']), rtol=0, atol=1e-3)
    assert t.fit() == 0


def usm_ref(x):
    from srkit.compat import import_basicsr
    return import_basicsr('basicsr.utils.img_process_util').USMSharp()(x.contiguous())
