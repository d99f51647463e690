"""The engine is not SRResNet-only: a G+D model (two networks, two optimizers,
BatchNorm and dropout in D) trains, checkpoints both networks and resumes exactly."""
import glob

import torch
from torch import nn
from torch.nn import functional as F

from srkit.trainer import Trainer
from srkit.models.base import BaseModel
from srkit.options import parse_options
from srkit.registry import ARCH_REGISTRY, MODEL_REGISTRY
from srkit.utils.checkpoint import load_checkpoint
from conftest import tiny_options


@ARCH_REGISTRY.register()
class _ToyDiscriminator(nn.Module):
    def __init__(self, num_feat: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, num_feat, 3, 2, 1), nn.BatchNorm2d(num_feat), nn.LeakyReLU(0.2),
                                  nn.Dropout(0.3), nn.Conv2d(num_feat, 1, 3, 1, 1))

    def forward(self, x):
        return self.body(x).mean(dim=(1, 2, 3))


@MODEL_REGISTRY.register()
class _ToyGANModel(BaseModel):
    network_names = ('g', 'd')  # what the options schema offers: network_d, optim_d
    optimizer_names = ('g', 'd')

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self.net_g = self.build_net('g')
        self.net_d = self.build_net('d')
        self.build_optimizer('g', self.nets['g'].parameters())
        self.build_optimizer('d', self.nets['d'].parameters())
        self.build_ema('g')

    def train_step(self, batch):
        lq, gt = batch['lq'], batch['gt']
        # G step, D frozen
        self.requires_grad(self.nets['d'], False)
        sr = self.net_g(lq)
        l_g = F.l1_loss(sr, gt) + 0.01 * F.softplus(-self.net_d(sr)).mean()
        self.step('g', l_g)
        # D step
        self.requires_grad(self.nets['d'], True)
        l_d = F.softplus(-self.net_d(gt)).mean() + F.softplus(self.net_d(sr.detach())).mean()
        self.step('d', l_d)
        return {'l_g': l_g.detach(), 'l_d': l_d.detach()}


def _opt(tmp_path, photos_dir, name, total):
    return parse_options(tiny_options(tmp_path, photos_dir, **{
        'name': name, 'model_type': '_ToyGANModel', 'network_d': {'type': '_ToyDiscriminator'},
        'train.optim_d': {'type': 'Adam', 'lr': 1e-3}, 'train.pixel_opt': None, 'train.total_iter': total,
        'datasets.train.num_worker_per_gpu': 0, 'logger.use_tb_logger': True}))


def test_g_plus_d_model_checkpoints_and_resumes_exactly(tmp_path, photos_dir):
    assert Trainer(_opt(tmp_path, photos_dir, 'straight', 12), quiet=True).fit() == 0
    assert Trainer(_opt(tmp_path, photos_dir, 'split', 6), quiet=True).fit() == 0
    assert Trainer(_opt(tmp_path, photos_dir, 'split', 12), auto_resume=True, quiet=True).fit() == 0
    a, b = tmp_path / 'exp' / 'straight', tmp_path / 'exp' / 'split'
    for net in ('net_g', 'net_d'):
        x = load_checkpoint(str(a / 'models' / f'{net}_12.pth'))
        y = load_checkpoint(str(b / 'models' / f'{net}_12.pth'))
        for key in x:
            if key == 'srkit':
                continue
            for k in x[key]:
                assert torch.equal(x[key][k], y[key][k]), f'{net}.{key}.{k}'
    d = load_checkpoint(str(a / 'models' / 'net_d_12.pth'))
    assert set(d) == {'params', 'srkit'} and 'body.1.running_mean' in d['params']
    st = load_checkpoint(str(a / 'training_states' / '12.state'))
    assert set(st['model']['optimizers']) == {'g', 'd'}
    # TensorBoard scalars and validation images were written
    assert glob.glob(str(a / 'tb_logger' / 'events.out.tfevents.*'))
