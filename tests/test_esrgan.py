import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from srkit.archs import build_network
from srkit.archs.detect import detect_arch
from srkit.inference import load_generator
from srkit.compat import import_basicsr
from srkit.errors import OptionError
from srkit.losses import build_loss
from srkit.losses.gan import GANLoss, gradient_penalty
from srkit.losses.perceptual import WeightsMissing, vgg19_cache_path
from srkit.utils.checkpoint import load_network

TINY_RRDB = {'type': 'RRDBNet', 'num_feat': 8, 'num_block': 2, 'num_grow_ch': 4}


# ------------------------------------------------------------------ networks

@pytest.mark.parametrize('scale', [1, 2, 4])
def test_rrdbnet_matches_basicsr(tmp_path, scale):
    ref = import_basicsr('basicsr.archs.rrdbnet_arch').RRDBNet(3, 3, scale=scale, num_feat=8, num_block=2,
                                                               num_grow_ch=4).eval()
    p = str(tmp_path / 'r.pth')
    torch.save({'params_ema': ref.state_dict()}, p)  # Real-ESRGAN's layout
    net, cfg, s = load_generator(p)
    assert cfg == {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': scale, 'num_feat': 8,
                   'num_block': 2, 'num_grow_ch': 4}
    x = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)


def test_rrdbnet_x8_shape():
    net = build_network({**TINY_RRDB, 'scale': 8})
    assert net(torch.rand(1, 3, 5, 6)).shape == (1, 3, 40, 48)
    assert detect_arch(net.state_dict())['scale'] == 8


def _old_esrgan_keys(sd, n_block):
    out = {}
    tail = {'conv_up1': 3, 'conv_up2': 6, 'conv_hr': 8, 'conv_last': 10}
    for k, v in sd.items():
        parts = k.split('.')
        if parts[0] == 'conv_first':
            out[f'model.0.{parts[1]}'] = v
        elif parts[0] == 'body':
            out[f'model.1.sub.{parts[1]}.RDB{parts[2][-1]}.{parts[3]}.0.{parts[4]}'] = v
        elif parts[0] == 'conv_body':
            out[f'model.1.sub.{n_block}.{parts[1]}'] = v
        else:
            out[f'model.{tail[parts[0]]}.{parts[1]}'] = v
    return out


def _kair_keys(sd):
    ren = {'conv_body': 'trunk_conv', 'conv_up1': 'upconv1', 'conv_up2': 'upconv2', 'conv_hr': 'HRconv'}
    out = {}
    for k, v in sd.items():
        parts = k.split('.')
        if parts[0] == 'body':
            out[f'RRDB_trunk.{parts[1]}.RDB{parts[2][-1]}.{parts[3]}.{parts[4]}'] = v
        else:
            out[f'{ren.get(parts[0], parts[0])}.{parts[1]}'] = v
    return out


@pytest.mark.parametrize('layout', ['old_esrgan', 'kair'])
def test_other_rrdb_layouts_are_converted(tmp_path, layout):
    torch.manual_seed(1)
    src = build_network(TINY_RRDB).eval()
    sd = _old_esrgan_keys(src.state_dict(), 2) if layout == 'old_esrgan' else _kair_keys(src.state_dict())
    assert any(k.startswith(("model.", "RRDB_trunk.")) for k in sd)
    p = str(tmp_path / f'{layout}.pth')
    torch.save(sd, p)  # raw state dict, as the originals ship
    net, cfg, _ = load_generator(p)
    assert cfg['type'] == 'RRDBNet' and cfg['num_block'] == 2
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x), src(x), rtol=0, atol=0)
    dst = build_network(TINY_RRDB)
    assert load_network(dst, p, 'params', strict=True) == 'raw'


@pytest.mark.parametrize('size', [128, 256])
def test_vgg_discriminator_matches_basicsr(size):
    ref = import_basicsr('basicsr.archs.discriminator_arch').VGGStyleDiscriminator(3, 4, input_size=size).eval()
    ours = build_network({'type': 'VGGStyleDiscriminator', 'num_feat': 4, 'input_size': size}, 'network_d').eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='set gt_size to'):
        ours(torch.rand(1, 3, 96, 96))
    from srkit.errors import OptionError
    with pytest.raises(OptionError, match='^network_d: VGGStyleDiscriminator cannot be built .*input_size must be 128 or 256'):
        build_network({'type': 'VGGStyleDiscriminator', 'input_size': 192}, 'network_d')


def test_unet_discriminator_sn_matches_basicsr():
    torch.manual_seed(0)
    ref = import_basicsr('basicsr.archs.discriminator_arch').UNetDiscriminatorSN(3, 8).eval()
    ours = build_network({'type': 'UNetDiscriminatorSN', 'num_feat': 8}, 'network_d').eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert 'conv1.weight_orig' in ours.state_dict()  # spectral-norm keys as Real-ESRGAN's files have them
    x = torch.rand(2, 3, 32, 24)
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 1, 32, 24)


# -------------------------------------------------------------------- losses

def test_perceptual_loss_loads_from_torch_home_and_uses_pre_activation(vgg_cache):
    loss = build_loss({'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1.0, 'relu2_2': 0.5},
                       'perceptual_weight': 2.0})
    torch.manual_seed(1)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    feats = vgg_cache.features
    with torch.no_grad():
        # conv5_4 is features[34] (before its ReLU at 35); relu2_2 is features[8]
        fx = lambda t, n: feats[:n]((t - mean) / std)
        expect = 2.0 * (F.l1_loss(fx(x, 35), fx(y, 35)) + 0.5 * F.l1_loss(fx(x, 9), fx(y, 9)))
        percep, style = loss(x, y)
    torch.testing.assert_close(percep, expect)
    assert style is None
    assert not any(p.requires_grad for p in loss.parameters())


def test_perceptual_weights_missing_offline_says_which_file_goes_where(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty_home'))
    path, url = vgg19_cache_path()
    with pytest.raises(WeightsMissing) as e:
        build_loss({'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1.0}})
    assert f'put vgg19-dcbb9e9d.pth (from {url}) at {path}' in str(e.value)
    opt = build_loss({'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1.0}, 'optional': True})
    assert not opt.enabled and 'training continues without the perceptual loss' in opt.missing_message


def test_perceptual_explicit_path(tmp_path, vgg_cache, monkeypatch):
    p = str(tmp_path / 'my_vgg.pth')
    torch.save(vgg_cache.state_dict(), p)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'nothing_here'))
    loss = build_loss({'type': 'PerceptualLoss', 'layer_weights': {'conv1_2': 1.0}, 'vgg_weights': p})
    assert loss.enabled


@pytest.mark.parametrize('gan_type', ['vanilla', 'lsgan', 'wgan', 'hinge', 'wgan_softplus'])
def test_gan_losses_match_basicsr(gan_type):
    ref = import_basicsr('basicsr.losses.gan_loss').GANLoss(gan_type, loss_weight=0.1)
    ours = GANLoss(gan_type, loss_weight=0.1)
    pred = torch.randn(4, 1, 5, 5)
    for real in (True, False):
        for is_disc in (True, False):
            torch.testing.assert_close(ours(pred, real, is_disc), ref(pred, real, is_disc))


def test_ragan_against_hand_computed_values():
    gan = GANLoss('vanilla', loss_weight=1.0)
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0], [-1.0]])  # E real = 1, E fake = 0
    sp = lambda v: float(np.log1p(np.exp(v)))  # softplus
    # D: 1/2 mean BCE(real - 0, 1) + 1/2 mean BCE(fake - 1, 0)
    d = 0.5 * (sp(-2) + sp(0)) / 2 + 0.5 * (sp(0) + sp(-2)) / 2
    # G: 1/2 mean BCE(real - 0, 0) + 1/2 mean BCE(fake - 1, 1)
    g = 0.5 * (sp(2) + sp(0)) / 2 + 0.5 * (sp(0) + sp(2)) / 2
    assert gan.ragan_d(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert gan.ragan_g(real, fake).item() == pytest.approx(g, rel=1e-6)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # ||grad|| = 5 everywhere

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3))
    gp = gradient_penalty(critic, torch.rand(3, 2, 1, 1), torch.rand(3, 2, 1, 1))
    assert gp.item() == pytest.approx(16.0)


# --------------------------------------------------------------------- model

def test_esrgan_step_matches_basicsr_esrgan_model():
    """One training step of srkit's ESRGANModel and BasicSR's, from the same
    weights and batch, gives the same G and D parameters."""
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    from srkit.options import parse_options
    import logging
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    g_cfg = {'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 4}
    d_cfg = {'num_feat': 4, 'input_size': 128}
    train = {'optim_g': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
             'optim_d': {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]},
             'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5}, 'total_iter': 10,
             'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e-2, 'reduction': 'mean'},
             'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0,
                         'fake_label_val': 0.0, 'loss_weight': 5e-3},
             'net_d_iters': 1, 'net_d_init_iters': 0, 'ema_decay': 0}
    bopt = {'name': 'x', 'model_type': 'ESRGANModel', 'scale': 4, 'num_gpu': 0, 'is_train': True, 'dist': False,
            'rank': 0, 'world_size': 1,
            'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, **g_cfg},
            'network_d': {'type': 'VGGStyleDiscriminator', 'num_in_ch': 3, **d_cfg},
            'path': {'pretrain_network_g': None, 'param_key_g': 'params', 'strict_load_g': True,
                     'pretrain_network_d': None, 'resume_state': None},
            'train': {**train, 'warmup_iter': -1}, 'logger': {'print_freq': 1}, 'val': None}
    torch.manual_seed(0)
    ref = import_basicsr('basicsr.models.esrgan_model').ESRGANModel(copy.deepcopy(bopt))
    opt = parse_options({'name': 'x', 'model_type': 'ESRGANModel', 'scale': 4,
                         'network_g': {'type': 'RRDBNet', **g_cfg},
                         'network_d': {'type': 'VGGStyleDiscriminator', **d_cfg},
                         'train': {**train, 'channels_last': False}})
    ours = build_model(opt, EngineContext(torch.device('cpu'), DistContext(), lambda *_: None))
    ours.nets['g'].load_state_dict(ref.net_g.state_dict())
    ours.nets['d'].load_state_dict(ref.net_d.state_dict())
    ours.set_train(True)
    torch.manual_seed(1)
    batch = {'gt': torch.rand(2, 3, 128, 128), 'lq': torch.rand(2, 3, 32, 32)}
    for it in (1, 2):
        ref.feed_data(batch)
        ref.optimize_parameters(it)
        ours.current_iter = it
        logs = ours.train_step(ours.prepare_batch(batch))
    assert set(logs) == {'l_g_pix', 'l_g_gan', 'l_d_real', 'l_d_fake', 'out_d_real', 'out_d_fake'}
    for name, mine, theirs in (('g', ours.nets['g'], ref.net_g), ('d', ours.nets['d'], ref.net_d)):
        for (k, a), (_, b) in zip(mine.named_parameters(), theirs.named_parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=f'{name}.{k}')


def test_vgg_d_gt_size_mismatch_is_an_option_error(tmp_path, photos_dir):
    from srkit.options import parse_options
    from conftest import tiny_options
    o = tiny_options(tmp_path, photos_dir, **{
        'model_type': 'ESRGANModel', 'network_d': {'type': 'VGGStyleDiscriminator', 'num_feat': 4},
        'train.optim_d': {'type': 'Adam'}, 'train.gan_opt': {'type': 'GANLoss'}})
    with pytest.raises(OptionError, match=r'^datasets.train.gt_size: 32 does not match network_d.input_size 128 '
                                          r'\(VGGStyleDiscriminator takes 128 or 256\)$'):
        parse_options(o)  # at parse time, before any network is built
    o['datasets']['train']['gt_size'] = 128
    assert parse_options(o).networks['d'].input_size == 128
