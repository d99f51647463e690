"""SRGAN/ESRGAN on the shared engine: they train, log, checkpoint G and D, resume
exactly, and run under DDP with BatchNorm in D."""
import glob
import os

import pytest
import torch

from srkit.trainer import Trainer
from srkit.options import parse_options
from srkit.utils.checkpoint import load_checkpoint
from conftest import run_torchrun, tiny_options, write_yaml

PERCEP = {'type': 'PerceptualLoss', 'layer_weights': {'conv1_2': 0.1, 'conv2_2': 1.0}, 'perceptual_weight': 1.0}


def gan_options(tmp_path, photos_dir, **over):
    base = {
        'model_type': 'ESRGANModel',
        'network_g': {'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 2},
        'network_d': {'type': 'UNetDiscriminatorSN', 'num_feat': 4},
        'train.optim_d': {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]},
        'train.pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e-2},
        'train.perceptual_opt': PERCEP,
        'train.gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 5e-3},
        'datasets.train.num_worker_per_gpu': 0,
    }
    base.update(over)
    return tiny_options(tmp_path, photos_dir, **base)


def test_esrgan_trains_and_resumes_exactly(tmp_path, photos_dir, vgg_cache):
    mk = lambda name, total: parse_options(gan_options(tmp_path, photos_dir, name=name, **{'train.total_iter': total}))
    assert Trainer(mk('straight', 12), quiet=True).fit() == 0
    assert Trainer(mk('split', 6), quiet=True).fit() == 0
    assert Trainer(mk('split', 12), auto_resume=True, quiet=True).fit() == 0
    a, b = tmp_path / 'exp' / 'straight', tmp_path / 'exp' / 'split'
    for net in ('net_g', 'net_d'):
        x, y = (load_checkpoint(str(p / 'models' / f'{net}_12.pth')) for p in (a, b))
        for key in set(x) - {'srkit'}:
            for k in x[key]:
                assert torch.equal(x[key][k], y[key][k]), f'{net}.{key}.{k}'
    d = load_checkpoint(str(a / 'models' / 'net_d_12.pth'))
    assert 'conv1.weight_orig' in d['params'] and 'conv1.weight_u' in d['params']
    log = open(glob.glob(str(a / 'train_straight_*.log'))[0]).read()
    for term in ('l_g_pix', 'l_g_percep', 'l_g_gan', 'l_d_real', 'l_d_fake', 'out_d_real'):
        assert term in log


@pytest.mark.parametrize('gan_type', ['lsgan', 'wgan-gp', 'hinge'])
def test_srgan_with_other_gan_losses(tmp_path, photos_dir, vgg_cache, gan_type):
    opt = parse_options(gan_options(tmp_path, photos_dir, model_type='SRGANModel', val=None, **{
        'train.total_iter': 4, 'train.gan_opt': {'type': 'GANLoss', 'gan_type': gan_type, 'loss_weight': 0.1},
        'train.net_d_init_iters': 2}))
    t = Trainer(opt, quiet=True)
    g0 = {k: v.clone() for k, v in t.model.nets['g'].state_dict().items()}
    t.model.set_train(True)
    batches = t._batches(0)
    # D alone for the first net_d_init_iters iterations: G must not move
    for it in (1, 2):
        t.model.current_iter = it
        logs = t.model.train_step(t.model.prepare_batch(next(batches)))
        assert 'l_g_gan' not in logs and torch.isfinite(logs['l_d_real'])
    assert all(torch.equal(g0[k], v) for k, v in t.model.nets['g'].state_dict().items())
    t.model.current_iter = 3
    logs = t.model.train_step(t.model.prepare_batch(next(batches)))
    assert {'l_g_pix', 'l_g_percep', 'l_g_gan'} <= set(logs)
    assert all(torch.isfinite(v) for v in logs.values())


def test_missing_vgg_weights_fail_the_run_with_the_place_to_put_them(tmp_path, photos_dir, monkeypatch):
    from conftest import call_cli
    y = write_yaml(tmp_path / 'g.yml', gan_options(tmp_path, photos_dir))
    r = call_cli('train', '-opt', y, env={'TORCH_HOME': str(tmp_path / 'no_weights')})
    assert r.returncode == 2
    assert r.stderr.count('\n') == 1 and 'put vgg19-dcbb9e9d.pth' in r.stderr
    assert str(tmp_path / 'no_weights' / 'hub' / 'checkpoints' / 'vgg19-dcbb9e9d.pth') in r.stderr


@pytest.mark.slow
def test_esrgan_ddp_with_batchnorm_discriminator(tmp_path, photos_dir, vgg_cache):
    from srkit.utils.imgio import read_image, write_image
    import numpy as np
    big = tmp_path / 'big'
    for i, name in enumerate(sorted(os.listdir(photos_dir / 'hr'))[:4]):
        img = read_image(str(photos_dir / 'hr' / name))
        write_image(str(big / f'{i}.png'), np.tile(img, (2, 2, 1)))  # 192x192 >= gt_size 128
    opt = gan_options(tmp_path, photos_dir, name='ddp_gan', val=None, **{
        'datasets.train.dataroot_gt': str(big), 'datasets.train.gt_size': 128,
        'datasets.train.batch_size_per_gpu': 1, 'datasets.val': None,
        'network_d': {'type': 'VGGStyleDiscriminator', 'num_feat': 4, 'input_size': 128},
        'train.total_iter': 4, 'logger.save_checkpoint_freq': 4, 'logger.print_freq': 2})
    y = write_yaml(tmp_path / 'd.yml', opt)
    run_torchrun(y, tmp_path)
    d = load_checkpoint(str(tmp_path / 'exp' / 'ddp_gan' / 'models' / 'net_d_4.pth'))
    assert 'bn0_1.running_mean' in d['params'] and not any(k.startswith('module.') for k in d['params'])
