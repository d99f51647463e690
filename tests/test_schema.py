"""The options schema (one pydantic schema, unknown keys refused everywhere), the loss list
every family reads, gradient clipping and accumulation, and the editor's JSON Schema."""
import copy
import glob
import json
import os

import pytest
import torch
from torch.nn import functional as F

from conftest import ROOT, call_cli, tiny_options
from srkit.errors import OptionError
from srkit.options import parse_options


def _err(opt: dict) -> str:
    with pytest.raises(OptionError) as e:
        parse_options(opt)
    return str(e.value)


# ------------------------------------------------------------------ unknown keys


@pytest.mark.parametrize('force, line', [
    ('train.perceptal_opt={type: PerceptualLoss, layer_weights: {conv5_4: 1}}',
     'srkit-train: error: train.perceptal_opt: unknown key (known: accum_iter, amp, channels_last, compile, '
     'ema_decay, ema_power, ema_update_after_step, gan_opt, grad_clip, losses, net_d_init_iters, net_d_iters, '
     'nonfinite, optim_d, optim_g, perceptual_opt, pixel_opt, scheduler, tf32, total_iter, warmup_iter)'),
    ('train.optim_q={type: Adam, lr: 1e-4}', 'srkit-train: error: train.optim_q: unknown key (known: accum_iter,'),
    ('network_g.num_blockz=3', 'srkit-train: error: network_g.num_blockz: unknown key (known: num_block, '
                               'num_feat, num_grow_ch, num_in_ch, num_out_ch, pixel_unshuffle, scale, type)'),
])
def test_the_costly_typos_stop_the_run_with_one_line(force, line):
    r = call_cli('train', '-opt', os.path.join(ROOT, 'options', 'demo_esrgan_x4.yml'), '--force', force)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), lines


@pytest.mark.parametrize('over, expect', [
    ({'datasets.train.gt_size': 'big'}, "datasets.train.gt_size: expected an integer, got str 'big'"),  # Optional[int]
    ({'datasets.train.gt_size': 32.5}, 'datasets.train.gt_size: expected an integer, got float 32.5'),
    ({'val.suffix': 5}, 'val.suffix: expected a string, got int 5'),  # Optional[str]
    ({'num_gpu': 'all'}, "num_gpu: expected an integer or one of 'auto', got str 'all'"),  # int | 'auto'
    ({'train.losses': [{'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1}, 'vgg_weights': 3}]},
     'train.losses[0].vgg_weights: expected a string, got int 3'),  # a constructor's `Optional[str]`
    ({'train.optim_g.betas': [1.5, 0.99]}, 'train.optim_g: Invalid beta parameter at index 0: 1.5'),
    ({'train.optim_g.momentum': 0.9}, 'train.optim_g.momentum: unknown key (known: amsgrad, betas, eps, lr, '
                                      'type, weight_decay)'),
    ({'train.optim_g.type': 'Adamm'}, "train.optim_g.type: unknown optimizer type 'Adamm' (known: Adagrad, Adam,"),
    ({'train.scheduler.milestone': [6]}, 'train.scheduler.milestone: unknown key'),
    ({'datasets.train.degradation': {'type': 'bicubic', 'round_to_unit8': True}},
     "datasets.train.degradation: bicubic: unknown option 'round_to_unit8'"),
    ({'datasets.train.degradation': {'type': 'sensor_noise', 'sigma': 'loud'}},
     "datasets.train.degradation.sigma: expected a number, got str 'loud'"),
    ({'datasets.train.degradation': {'type': 'bsrgan', 'lq_patchsize': 7.5}},
     'datasets.train.degradation.lq_patchsize: expected an integer, got float 7.5'),
    ({'val.metrics.psnr.crop_bordre': 2}, 'val.metrics.psnr.crop_bordre: unknown key'),
    ({'logger.print_frq': 2}, 'logger.print_frq: unknown key'),
    ({'path.pretrain_network_d': 'x.pth'}, 'path.pretrain_network_d: unknown key'),  # SRModel has no D
    ({'network_d': {'type': 'UNetDiscriminatorSN'}}, 'network_d: unknown key'),
    ({'val.val_freq': 0}, 'val.val_freq: must be >= 1, got 0'),
    ({'train.accum_iter': 0}, 'train.accum_iter: must be >= 1, got 0'),
    ({'train.grad_clip': -1}, 'train.grad_clip: must be > 0'),
    ({'manual_seed': -1}, 'manual_seed: must be in [0, 2**32), got -1'),
    ({'model_type': 'ESRGANModel', 'network_d': {'type': 'UNetDiscriminatorSN'}},
     'train.optim_d: required by model_type ESRGANModel'),
    ({'model_type': 'ESRGANModel'}, 'network_d: required by model_type ESRGANModel'),
    ({'device': 'tpu'}, "device: expected cpu, cuda or cuda:N, got 'tpu'"),
    ({'train.scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': []}},
     'train.scheduler: periods and restart_weights differ in length'),
])
def test_every_section_is_typed(tmp_path, photos_dir, over, expect):
    msg = _err(tiny_options(tmp_path, photos_dir, **over))
    assert msg.startswith(expect), msg
    assert '\n' not in msg


def test_a_preset_file_is_typed_too(tmp_path, photos_dir):
    (tmp_path / 'p.yml').write_text('type: sensor_noise\nsigma: loud\n')
    r = call_cli('degrade', '--input', photos_dir / 'hr', '--output', tmp_path / 'lr', '--preset', tmp_path / 'p.yml')
    assert r.returncode == 2 and not (tmp_path / 'lr').exists()
    assert r.stderr.strip() == f"srkit-degrade: error: --preset {tmp_path / 'p.yml'}: sigma: expected a number, got str 'loud'"


def test_basicsr_scalars_still_load(tmp_path, photos_dir):
    o = tiny_options(tmp_path, photos_dir, **{'train.total_iter': 12.0, 'train.optim_g.lr': '2e-4',
                                              'train.scheduler.milestones': [6.0], 'val.suffix': None})
    opt = parse_options(o)
    assert opt.train.total_iter == 12 and isinstance(opt.train.total_iter, int)
    assert opt.train.optimizers['g'].lr == pytest.approx(2e-4) and opt.val.suffix is None


# ------------------------------------------------------------------ the loss list


def _gan(o, model_type, d):
    o['model_type'] = model_type
    o['network_d'] = d
    o['train']['optim_d'] = {'type': 'Adam', 'lr': 1e-4}
    return o


def _family(tmp_path, photos_dir, family):
    """(options with the family's BasicSR keys / defaults, the same losses as a list, a batch)."""
    o = tiny_options(tmp_path, photos_dir)
    o.pop('val')
    sr_batch = {'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 32, 32)}
    gan = {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 5e-3}
    unet_d = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 8}
    if family == 'SRModel':
        named = copy.deepcopy(o)
        o['train'].pop('pixel_opt')
        o['train']['losses'] = [{'type': 'L1Loss', 'loss_weight': 1.0, 'name': 'l_pix'}]
        return named, o, sr_batch
    if family in ('ESRGANModel', 'RealESRGANModel'):
        o = _gan(o, family, unet_d)
        o['train']['pixel_opt'] = {'type': 'L1Loss', 'loss_weight': 1e-2}
        o['train']['perceptual_opt'] = {'type': 'PerceptualLoss', 'layer_weights': {'conv1_2': 0.5, 'conv2_2': 1},
                                        'style_weight': 0.1}
        o['train']['gan_opt'] = gan
        target = 'gt'
        batch = dict(sr_batch)
        if family == 'RealESRGANModel':
            o.update(high_order_degradation=False, queue_size=0, gt_size=32)
            target = 'gt_usm'
            batch['gt_usm'] = torch.rand(2, 3, 32, 32)
        named = copy.deepcopy(o)
        t = o['train']
        t['losses'] = [dict(t.pop('pixel_opt'), target=target, name='l_g_pix'),
                       dict(t.pop('perceptual_opt'), target=target, name='l_g_percep'), t.pop('gan_opt')]
        return named, o, batch
    if family == 'DSGANModel':
        o = _gan(o, family, {'type': 'DSGANDiscriminator', 'num_feat': 8})
        o['network_g'] = {'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 1}
        o['train'].pop('pixel_opt')
        o['train']['color_opt'] = {'type': 'L1Loss', 'loss_weight': 1.0}
        o['train']['gan_opt'] = gan
        named = copy.deepcopy(o)
        t = o['train']
        t['losses'] = [dict(t.pop('color_opt'), target='input_lowpass', name='l_g_color'), t.pop('gan_opt')]
        return named, o, {'lq': torch.rand(2, 3, 16, 16), 'b': torch.rand(2, 3, 16, 16)}
    pair = {'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)}
    unet = {'type': 'UnetGenerator', 'num_downs': 5, 'ngf': 8, 'use_dropout': True}
    patch = {'type': 'NLayerDiscriminator', 'ndf': 8, 'n_layers': 2}
    o['scale'] = 1
    o['train'].pop('pixel_opt')
    o['train']['gan_opt'] = {'type': 'GANLoss', 'gan_type': 'lsgan'}
    if family == 'Pix2PixModel':
        o = _gan(o, family, dict(patch, input_nc=6))
        o['network_g'] = unet
        named = copy.deepcopy(o)
        o['train']['losses'] = [{'type': 'L1Loss', 'loss_weight': 100.0, 'target': 'gt', 'name': 'l_g_l1'}]
        return named, o, pair
    assert family == 'CycleGANModel'
    o['model_type'] = family
    o.pop('network_g')
    o.update(network_g_a=unet, network_g_b=unet, network_d_a=patch, network_d_b=patch)
    o['train']['optim_d'] = {'type': 'Adam', 'lr': 1e-4}
    named = copy.deepcopy(o)
    o['train']['losses'] = [
        {'type': 'L1Loss', 'loss_weight': 5.0, 'target': 'identity_a', 'name': 'l_idt_a'},
        {'type': 'L1Loss', 'loss_weight': 5.0, 'target': 'identity_b', 'name': 'l_idt_b'},
        {'type': 'L1Loss', 'loss_weight': 10.0, 'target': 'cycle_a', 'name': 'l_cycle_a'},
        {'type': 'L1Loss', 'loss_weight': 10.0, 'target': 'cycle_b', 'name': 'l_cycle_b'}]
    return named, o, {'a': pair['lq'], 'b': pair['gt']}


def _model(o):
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    torch.manual_seed(0)
    return build_model(parse_options(o), EngineContext(torch.device('cpu'), DistContext(), log=lambda m: None))


def _step(model, batch, seed=1):
    model.current_iter = 1
    torch.manual_seed(seed)
    b = {k: v.clone().contiguous(memory_format=torch.channels_last) for k, v in batch.items()}
    return model.train_step(b)


FAMILIES = ['SRModel', 'ESRGANModel', 'RealESRGANModel', 'DSGANModel', 'Pix2PixModel', 'CycleGANModel']


@pytest.mark.parametrize('family', FAMILIES)
def test_the_loss_list_is_the_basicsr_keys_in_every_family(tmp_path, photos_dir, vgg_cache, family):
    named, listed, batch = _family(tmp_path, photos_dir, family)
    a, b = _model(named), _model(listed)
    assert [(t.name, t.target) for t in a.opt.loss_terms] == [(t.name, t.target) for t in b.opt.loss_terms]
    la, lb = _step(a, batch), _step(b, batch)
    assert la.keys() == lb.keys() and la
    for k in la:
        assert torch.equal(la[k], lb[k]), k
    for name in a.nets:
        for (k, va), vb in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().values()):
            assert torch.equal(va, vb), (name, k)


@pytest.mark.parametrize('family, target, expect', [
    ('SRModel', 'gt', lambda x, y, b, m: (x, b['gt'])),
    ('ESRGANModel', 'gt', lambda x, y, b, m: (x, b['gt'])),
    ('RealESRGANModel', 'gt_usm', lambda x, y, b, m: (x, b['gt_usm'])),
    ('DSGANModel', 'input_lowpass', lambda x, y, b, m: (m.low(x), m.low(b['lq']))),
    ('DSGANModel', 'input', lambda x, y, b, m: (x, b['lq'])),
    ('Pix2PixModel', 'gt', None),
    ('CycleGANModel', 'cycle_b', None),
])
def test_new_terms_through_the_list(tmp_path, photos_dir, family, target, expect):
    """An MSE term and a Charbonnier term no family had, on a target it offers: logged under
    their own names, and equal to the functions on the target's tensors."""
    _, o, batch = _family(tmp_path, photos_dir, family)
    o['train']['losses'] = [t for t in o['train']['losses'] if t['type'] == 'GANLoss'] + [
        {'type': 'MSELoss', 'loss_weight': 0.5, 'target': target},
        {'type': 'CharbonnierLoss', 'loss_weight': 2.0, 'target': target, 'name': 'l_char'}]
    m = _model(o)
    names = [t.name for t in m.opt.loss_terms if not t.adversarial]
    assert names == [f'l_g_mse_{target}', 'l_char']
    logs = _step(m, batch)
    assert set(names) <= set(logs)
    if expect is None:
        return
    x = torch.rand_like(batch.get('gt', batch.get('b')))
    pairs = m.loss_pairs(x, batch) if hasattr(m, 'loss_pairs') else None
    if family == 'DSGANModel':
        pairs = {'input_lowpass': lambda: (m.low(x), m.low(batch['lq'])), 'input': (x, batch['lq'])}
    got = m.generator_losses(pairs)
    pred, ref = expect(x, None, batch, m)
    torch.testing.assert_close(got[f'l_g_mse_{target}'], 0.5 * F.mse_loss(pred, ref))
    torch.testing.assert_close(got['l_char'], 2.0 * torch.sqrt((pred - ref) ** 2 + 1e-12).mean())


@pytest.mark.parametrize('family, losses, expect', [
    ('SRModel', [{'type': 'L1Loss', 'target': 'gt_usm'}],
     "train.losses[0].target: model_type SRModel offers no target 'gt_usm' (offered: gt, ldl)"),
    ('CycleGANModel', [{'type': 'L1Loss'}],
     'train.losses[0].target: required (model_type CycleGANModel offers cycle_a, cycle_b, identity_a, identity_b)'),
    ('SRModel', [{'type': 'L1Los'}], "train.losses[0].type: unknown loss type 'L1Los' (known: "),
    ('SRModel', [{'type': 'L1Loss', 'loss_wieght': 1}], 'train.losses[0].loss_wieght: unknown key (known: '),
    ('SRModel', [{'type': 'GANLoss'}], 'train.losses[0]: model_type SRModel has no discriminator for a GANLoss'),
    ('ESRGANModel', [{'type': 'L1Loss'}], 'train.gan_opt: required by model_type ESRGANModel'),
    ('ESRGANModel', [{'type': 'GANLoss', 'target': 'gt'}], 'train.losses[0].target: the adversarial loss'),
    ('ESRGANModel', [{'type': 'L1Loss', 'target': 'lowpass'}],
     "train.losses[0].target: model_type ESRGANModel offers no target 'lowpass' (offered: gt, ldl)"),
])
def test_loss_list_errors_name_the_entry(tmp_path, photos_dir, family, losses, expect):
    _, o, _ = _family(tmp_path, photos_dir, family)
    o['train']['losses'] = losses
    o['train'].pop('gan_opt', None)
    assert _err(o).startswith(expect)


def test_family_weights_and_a_loss_list_do_not_mix(tmp_path, photos_dir):
    _, o, _ = _family(tmp_path, photos_dir, 'Pix2PixModel')
    o['lambda_l1'] = 50
    assert _err(o) == 'lambda_l1: give it or a train.losses entry on target gt, not both'


# --------------------------------------------------------- clipping and accumulation


def test_gradient_clipping_scales_the_global_norm(tmp_path, photos_dir):
    o = tiny_options(tmp_path, photos_dir, **{'train.optim_g': {'type': 'SGD', 'lr': 1.0},
                                              'train.grad_clip': 1e-3, 'train.ema_decay': 0})
    o['train'].pop('scheduler')
    m = _model(o)
    batch = {'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 32, 32)}
    net = m.nets['g']
    before = {k: v.clone() for k, v in net.named_parameters()}
    loss = F.l1_loss(net(batch['lq']), batch['gt'])
    grads = torch.autograd.grad(loss, list(net.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert norm > 1e-3  # so the clip acts
    _step(m, batch)
    for (k, p), g in zip(net.named_parameters(), grads):
        torch.testing.assert_close(p.detach(), before[k] - g * (1e-3 / (norm + 1e-6)), rtol=1e-5, atol=1e-7)


def test_accumulation_equals_the_large_batch(tmp_path, photos_dir):
    o = tiny_options(tmp_path, photos_dir, **{'train.optim_g': {'type': 'SGD', 'lr': 0.5}, 'train.ema_decay': 0,
                                              'train.accum_iter': 2})
    o['train'].pop('scheduler')
    a, b = _model(o), _model(o)
    lq, gt = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 32, 32)
    for k in range(2):
        a.micro = (k, 2)
        _step(a, {'lq': lq[2 * k:2 * k + 2], 'gt': gt[2 * k:2 * k + 2]})
        if k == 0:  # nothing applied before the last batch
            assert all(torch.equal(p, q) for p, q in zip(a.nets['g'].parameters(), b.nets['g'].parameters()))
    b.micro = (0, 1)
    _step(b, {'lq': lq, 'gt': gt})
    for p, q in zip(a.nets['g'].parameters(), b.nets['g'].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_clipped_accumulated_run_resumes_bitwise(tmp_path, photos_dir):
    from srkit.trainer import Trainer
    from srkit.utils.checkpoint import load_checkpoint
    o = tiny_options(tmp_path, photos_dir, **{'train.accum_iter': 2, 'train.grad_clip': 0.05,
                                              'train.total_iter': 6, 'datasets.train.dataset_enlarge_ratio': 4})
    o.pop('val')
    assert Trainer(parse_options(o), quiet=True).fit() == 0
    exp = tmp_path / 'exp' / 'tiny'
    state = load_checkpoint(str(exp / 'training_states' / '3.state'))
    assert state['sampler']['position'] % 2 == 0  # six batches of two consumed by three iterations
    ref = load_checkpoint(str(exp / 'models' / 'net_g_6.pth'))
    for f in ('training_states/6.state', 'models/net_g_6.pth'):
        os.unlink(exp / f)
    assert Trainer(parse_options(o), auto_resume=True, quiet=True).fit() == 0
    got = load_checkpoint(str(exp / 'models' / 'net_g_6.pth'))
    for k, v in ref['params'].items():
        assert torch.equal(v, got['params'][k]), k
        assert torch.equal(ref['params_ema'][k], got['params_ema'][k]), k


# ------------------------------------------------------------------ the editor's schema


def _yaml12(node):
    """PyYAML reads YAML 1.1, where ``1e-4`` is a string; editors read YAML 1.2, where it is a number."""
    if isinstance(node, dict):
        return {k: _yaml12(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_yaml12(v) for v in node]
    if isinstance(node, str):
        try:
            return float(node) if any(c.isdigit() for c in node) and node.strip() == node else node
        except ValueError:
            return node
    return node


def test_json_schema_is_current_and_validates_the_recipes():
    import jsonschema
    from srkit.options import json_schema, read_yaml
    schema = json_schema()
    with open(os.path.join(ROOT, 'docs', 'options.schema.json')) as f:
        assert json.load(f) == json.loads(json.dumps(schema)), \
            'docs/options.schema.json is stale: srkit-train --print-schema > docs/options.schema.json'
    validator = jsonschema.Draft202012Validator(schema)
    recipes = sorted(glob.glob(os.path.join(ROOT, 'options', '*.yml')))
    assert len(recipes) > 20
    for path in recipes:
        data = _yaml12(read_yaml(path))
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, (path, errors[:2])
    data = _yaml12(read_yaml(os.path.join(ROOT, 'options', 'demo_esrgan_x4.yml')))
    data['train']['perceptal_opt'] = data['train']['perceptual_opt']
    assert any('perceptal_opt' in e.message for e in validator.iter_errors(data))
    r = call_cli('train', '--print-schema')
    assert r.returncode == 0 and json.loads(r.stdout) == json.loads(json.dumps(schema))
