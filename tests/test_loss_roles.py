"""Loss roles are declared on the loss classes, and every option check runs at parse time.

- No model family (``srkit/models/``) or the trainer names a loss or discriminator class: what a
  loss is to a family (``role``, ``outputs``) and the input size a discriminator takes
  (``input_size_key``) are read from the classes, through the registries.
- A test-only loss declaring ``role = 'adversarial'`` is the family's GAN loss; one declaring
  ``outputs`` logs each value under its own name.
- Each check that used to run while the model was built fails in ``parse_options``.
"""
import glob
import os
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from srkit.errors import OptionError
from srkit.options import parse_options
from srkit.registry import ARCH_REGISTRY, LOSS_REGISTRY
from conftest import ROOT, tiny_options


@LOSS_REGISTRY.register()
class _PlainAdversarial(nn.Module):
    """A least-squares GAN loss under another name: what makes it the adversarial loss is its role."""

    role = 'adversarial'
    use_gp = False

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight
        self.calls = 0

    def forward(self, pred, target_is_real: bool, is_disc: bool = False):
        self.calls += 1
        loss = F.mse_loss(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))
        return loss if is_disc else loss * self.loss_weight


@LOSS_REGISTRY.register()
class _TwoValues(nn.Module):
    """Returns ``(L1, 2 * L1)``, logged as declared in ``outputs``."""

    outputs = ('alpha', 'beta')

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, x, ref):
        d = F.l1_loss(x, ref) * self.loss_weight
        return d, 2 * d


# ------------------------------------------------------------------ (a) no class named


def _family_sources():
    files = glob.glob(os.path.join(ROOT, 'srkit', 'models', '*.py'))
    files += glob.glob(os.path.join(ROOT, 'srkit', 'trainer.py'))
    files += glob.glob(os.path.join(ROOT, 'srkit', 'trainer', '**', '*.py'), recursive=True)
    assert files
    return files


def _named_classes():
    import srkit.options  # noqa: F401  (registers everything)
    losses = [n for n in LOSS_REGISTRY.keys() if not n.startswith('_')]
    discriminators = [n for n in ARCH_REGISTRY.keys() if not n.startswith('_')
                      and ('Discriminator' in n or hasattr(ARCH_REGISTRY.get(n), 'input_size_key'))]
    assert 'GANLoss' in losses and 'PerceptualLoss' in losses
    assert {'VGGStyleDiscriminator', 'UNetDiscriminatorSN'} <= set(discriminators)
    return losses + discriminators


def test_no_loss_or_discriminator_class_is_named_in_the_families_or_the_trainer():
    names = _named_classes()
    found = []
    for path in _family_sources():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for name in names:
            for m in re.finditer(rf'\b{name}\b', text):
                found.append(f'{os.path.relpath(path, ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {name}')
    assert not found, 'loss or discriminator classes named:\n' + '\n'.join(found)


def test_the_classes_declare_their_roles():
    from srkit.models.base import LossTerm, loss_role
    assert loss_role('GANLoss') == 'adversarial' and loss_role('_PlainAdversarial') == 'adversarial'
    assert {loss_role(n) for n in ('L1Loss', 'MSELoss', 'CharbonnierLoss', 'PerceptualLoss', 'LPIPSLoss',
                                   '_TwoValues')} == {'compare'}
    spec = LOSS_REGISTRY.parse({'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1.0}}, 'x')
    assert LossTerm('x', spec, 'gt', 'l_g_percep').log_names == ('l_g_percep', 'l_g_style')
    assert LossTerm('x', spec, 'gt', 'l_percep').log_names == ('l_percep', 'l_style')
    assert LossTerm('x', spec, 'gt', 'l_vgg').log_names == ('l_vgg', 'l_vgg_style')
    l1 = LOSS_REGISTRY.parse({'type': 'L1Loss'}, 'x')
    assert LossTerm('x', l1, 'gt', 'l_pix').log_names == ('l_pix',)
    assert ARCH_REGISTRY.get('VGGStyleDiscriminator').input_size_key == 'input_size'


def test_named_losses_follow_the_targets():
    import srkit.options  # noqa: F401
    from srkit.registry import MODEL_REGISTRY
    want = {'SRModel': ('pixel_opt', 'perceptual_opt'), 'RealESRNetModel': ('pixel_opt', 'ldl_opt', 'perceptual_opt'),
            'SRGANModel': ('pixel_opt', 'perceptual_opt', 'gan_opt'),
            'ESRGANModel': ('pixel_opt', 'perceptual_opt', 'gan_opt'),
            'RealESRGANModel': ('pixel_opt', 'ldl_opt', 'perceptual_opt', 'gan_opt'),
            'DSGANModel': ('color_opt', 'perceptual_opt', 'gan_opt'),
            'Pix2PixModel': ('gan_opt',), 'CycleGANModel': ('gan_opt',), 'CGANModel': ('gan_opt',)}
    assert {n: MODEL_REGISTRY.get(n).named_losses for n in want} == want


# ------------------------------------------------------------------ (b) roles and outputs at work


def _esrgan(tmp_path, photos_dir, **over):
    return tiny_options(tmp_path, photos_dir, **{
        'model_type': 'SRGANModel', 'network_d': {'type': 'UNetDiscriminatorSN', 'num_feat': 4},
        'train.optim_d': {'type': 'Adam', 'lr': 1e-4}, 'datasets.train.num_worker_per_gpu': 0, **over})


def _model(opt):
    from srkit.engine.context import EngineContext
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    return build_model(opt, EngineContext(torch.device('cpu'), DistContext()))


def _batch(tmp_path, photos_dir):
    g = torch.Generator().manual_seed(0)
    return {'lq': torch.rand(2, 3, 16, 16, generator=g), 'gt': torch.rand(2, 3, 32, 32, generator=g)}


@pytest.mark.parametrize('where', ['gan_opt', 'losses'])
def test_a_loss_declaring_the_adversarial_role_is_the_gan_loss(tmp_path, photos_dir, where):
    over = ({'train.gan_opt': {'type': '_PlainAdversarial', 'loss_weight': 0.5}} if where == 'gan_opt' else
            {'train.losses': [{'type': 'L1Loss'}, {'type': '_PlainAdversarial', 'loss_weight': 0.5}]})
    opt = parse_options(_esrgan(tmp_path, photos_dir, **over))
    adv = [t for t in opt.loss_terms if t.adversarial]
    assert [(t.spec.type, t.name, t.target) for t in adv] == [('_PlainAdversarial', 'l_g_gan', None)]
    m = _model(opt)
    assert isinstance(m.cri_gan, _PlainAdversarial)
    assert all(not isinstance(fn, _PlainAdversarial) for _, _, fn in m.g_losses)
    m.current_iter = 1
    logs = m.train_step(m.prepare_batch(_batch(tmp_path, photos_dir)))
    assert {'l_g_gan', 'l_d_real', 'l_d_fake'} <= set(logs) and m.cri_gan.calls > 0
    assert torch.isfinite(logs['l_g_gan'])


def test_adversarial_role_is_refused_where_there_is_no_discriminator(tmp_path, photos_dir):
    o = tiny_options(tmp_path, photos_dir, **{'train.losses': [{'type': 'L1Loss'}, {'type': '_PlainAdversarial'}]})
    with pytest.raises(OptionError, match=r'^train.losses\[1\]: model_type SRModel has no discriminator for a '
                                          r'_PlainAdversarial$'):
        parse_options(o)
    o = _esrgan(tmp_path, photos_dir, **{'train.gan_opt': {'type': 'GANLoss'},
                                         'train.losses': [{'type': 'L1Loss'}, {'type': '_PlainAdversarial'}]})
    with pytest.raises(OptionError, match=r'^train.losses\[1\]: a second adversarial loss \(train.gan_opt is the '
                                          r'first\); one adversarial loss per family$'):
        parse_options(o)


def test_a_loss_declaring_outputs_logs_under_those_names(tmp_path, photos_dir):
    opt = parse_options(tiny_options(tmp_path, photos_dir, **{
        'datasets.train.num_worker_per_gpu': 0, 'train.pixel_opt': None,
        'train.losses': [{'type': '_TwoValues', 'name': 'l_alpha_x'}, {'type': '_TwoValues', 'loss_weight': 3.0}]}))
    assert [t.log_names for t in opt.loss_terms] == [('l_alpha_x', 'l_beta_x'),
                                                     ('l_g__twovalues_gt', 'l_g__twovalues_gt_beta')]
    m = _model(opt)
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    got = m.generator_losses({'gt': (x, y)})
    d = F.l1_loss(x, y)
    assert list(got) == ['l_alpha_x', 'l_beta_x', 'l_g__twovalues_gt', 'l_g__twovalues_gt_beta']
    torch.testing.assert_close(got['l_beta_x'], 2 * d)
    torch.testing.assert_close(got['l_g__twovalues_gt_beta'], 6 * d)


# ------------------------------------------------------------------ (c) every check at parse time


def _no_build(monkeypatch):
    """Building a model now would fail the test: each check must come from parse_options."""
    import srkit.models.base as base

    def refuse(*a, **k):
        raise AssertionError('a network was built')
    monkeypatch.setattr(base, 'build_network', refuse)


def _realesr(tmp_path, photos_dir, model='RealESRNetModel', **over):
    o = tiny_options(tmp_path, photos_dir, **{
        'model_type': model, 'scale': 2, 'gt_size': 32, 'queue_size': 6,
        'datasets.train.type': 'RealESRGANDataset', 'datasets.train.crop_pad_size': 64,
        'datasets.train.gt_size': None, 'datasets.train.use_rot': None, **over})
    return o


def _cases(tmp_path, photos_dir):
    cyc = tiny_options(tmp_path, photos_dir, **{
        'model_type': 'CycleGANModel', 'network_g': None, 'train': None, 'datasets': {},
        'network_g_a': {'type': 'ResnetGenerator', 'ngf': 8, 'n_blocks': 1}})
    cgan = tiny_options(tmp_path, photos_dir, **{
        'model_type': 'CGANModel', 'scale': 1, 'datasets': {}, 'val': None, 'train.pixel_opt': None,
        'network_g': {'type': 'CGANGenerator', 'latent_dim': 16, 'img_size': 8},
        'network_d': {'type': 'CGANDiscriminator', 'img_size': 8, 'n_classes': 7},
        'train.optim_d': {'type': 'Adam'}, 'train.gan_opt': {'type': 'GANLoss', 'gan_type': 'lsgan'}})
    dsgan = tiny_options(tmp_path, photos_dir, **{
        'model_type': 'DSGANModel', 'relativistic': True, 'datasets': {}, 'val': None, 'train.pixel_opt': None,
        'network_g': {'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 1},
        'network_d': {'type': 'DSGANDiscriminator', 'num_feat': 8}, 'train.optim_d': {'type': 'Adam'},
        'train.color_opt': {'type': 'L1Loss'}, 'train.gan_opt': {'type': 'GANLoss', 'gan_type': 'wgan-gp'}})
    return [
        (cyc, 'network_g_b: required by model_type CycleGANModel'),
        (tiny_options(tmp_path, photos_dir, **{'train.optim_g': None}), 'train.optim_g: required by model_type SRModel'),
        (tiny_options(tmp_path, photos_dir, **{'train.pixel_opt': None}),
         'train: model_type SRModel needs a loss (pixel_opt, perceptual_opt or train.losses)'),
        (_realesr(tmp_path, photos_dir, gt_size=33), 'gt_size: 33 is not divisible by scale 2'),
        (_realesr(tmp_path, photos_dir, queue_size=1), 'queue_size: 1 is smaller than the batch size 2'),
        (_esrgan(tmp_path, photos_dir, network_d={'type': 'VGGStyleDiscriminator', 'num_feat': 4},
                 **{'train.gan_opt': {'type': 'GANLoss'}}),
         'datasets.train.gt_size: 32 does not match network_d.input_size 128 (VGGStyleDiscriminator takes 128 or 256)'),
        (cgan, "network_d.n_classes: 7 differs from network_g's 10"),
        (dsgan, 'relativistic: RaGAN and wgan-gp do not combine; pick one'),
    ]


def test_each_moved_check_fails_at_parse_time(tmp_path, photos_dir, monkeypatch):
    _no_build(monkeypatch)
    for o, message in _cases(tmp_path, photos_dir):
        with pytest.raises(OptionError) as e:
            parse_options(o)
        assert str(e.value) == message
