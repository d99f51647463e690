
import re

import numpy as np
import pytest
import torch

from srkit.archs import build_network
from srkit.archs.detect import detect_arch
from srkit.inference import load_generator
from srkit.compat import import_basicsr
from srkit.engine.ema import EMA
from srkit.engine.schedulers import build_scheduler
from srkit.errors import UserError
from srkit.losses import build_loss
from srkit.utils.checkpoint import load_checkpoint, load_network, save_checkpoint


@pytest.mark.parametrize('upscale', [2, 3, 4])
def test_msrresnet_loads_basicsr_checkpoint_and_matches(tmp_path, upscale):
    ref_cls = import_basicsr('basicsr.archs.srresnet_arch').MSRResNet
    torch.manual_seed(0)
    ref = ref_cls(num_feat=16, num_block=3, upscale=upscale).eval()
    path = str(tmp_path / 'basicsr.pth')
    torch.save({'params': ref.state_dict()}, path)  # BasicSR's file layout
    ours = build_network({'type': 'MSRResNet', 'num_feat': 16, 'num_block': 3, 'upscale': upscale}).eval()
    assert load_network(ours, path, 'params', strict=True) == 'params'
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)
    assert detect_arch(ref.state_dict()) == {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3,
                                             'num_feat': 16, 'num_block': 3, 'upscale': upscale}


@pytest.mark.parametrize('upscale', [2, 4, 8])
def test_original_srresnet_shapes_and_detection(upscale):
    net = build_network({'type': 'SRResNet', 'num_feat': 8, 'num_block': 2, 'upscale': upscale})
    y = net(torch.rand(1, 3, 6, 5))
    assert y.shape == (1, 3, 6 * upscale, 5 * upscale)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 2 * 2 + 1
    assert sum(isinstance(m, torch.nn.PReLU) for m in net.modules()) == 1 + 2 + (upscale.bit_length() - 1)
    assert net.conv_first.kernel_size == (9, 9) and net.conv_last.kernel_size == (9, 9)
    assert detect_arch(net.state_dict())['upscale'] == upscale


def test_checkpoint_mismatch_and_fallbacks(tmp_path):
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    other = build_network({'type': 'MSRResNet', 'num_feat': 16, 'num_block': 1, 'upscale': 2})
    p = str(tmp_path / 'o.pth')
    save_checkpoint({'params': other.state_dict()}, p)
    with pytest.raises(UserError, match=r"shape mismatch at 'conv_first.weight': checkpoint \(16, 3, 3, 3\), network \(8, 3, 3, 3\)"):
        load_network(net, p)
    # raw state dicts (the ESRGAN/BSRGAN originals) and DDP's module. prefix load too
    raw = str(tmp_path / 'raw.pth')
    torch.save({f'module.{k}': v for k, v in net.state_dict().items()}, raw)
    assert load_network(net, raw, 'params') == 'raw'
    ema = str(tmp_path / 'ema.pth')
    torch.save({'params': net.state_dict(), 'params_ema': net.state_dict()}, ema)
    assert load_network(net, ema, 'params_ema') == 'params_ema'
    trunc = tmp_path / 'trunc.pth'
    trunc.write_bytes(open(ema, 'rb').read()[:500])
    with pytest.raises(UserError, match='not a readable checkpoint'):
        load_checkpoint(str(trunc))
    junk = tmp_path / 'junk.pth'
    junk.write_text('garbage, not a checkpoint')
    with pytest.raises(UserError, match=r'junk.pth: not a readable checkpoint \(Unsupported operand'):
        load_checkpoint(str(junk))
    # bytes the weights-only unpickler reads as other opcodes (a text file: IndexError; others: KeyError,
    # struct.error) are one line too
    for i, data in enumerate([b'root:x:0:0:root:/root:/bin/bash\n', b'}q\x00', b'\x80\x02h\x05',
                              b'\x80\x02J\x01']):
        bad = tmp_path / f'bad{i}.pth'
        bad.write_bytes(data)
        with pytest.raises(UserError, match=rf'^{re.escape(str(bad))}: not a readable checkpoint \(corrupt or '
                                            'truncated'):
            load_checkpoint(str(bad))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f'touch {self.marker}',))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    p = str(tmp_path / 'evil.pth')
    torch.save({'params': {'w': torch.zeros(1)}, 'payload': _Evil(marker)}, p)
    with pytest.raises(UserError, match='refused: the file contains Python objects that could run code'):
        load_checkpoint(p)
    assert not marker.exists()
    from conftest import call_cli
    r = call_cli('infer', '--model', p, '--input', tmp_path, '--output', tmp_path / 'o')
    assert r.returncode == 2 and 'refused' in r.stderr and 'Traceback' not in r.stderr
    assert not marker.exists()


def test_load_generator_uses_srkit_metadata(tmp_path):
    cfg = {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 2, 'upscale': 3}
    net = build_network(cfg)
    p = str(tmp_path / 'g.pth')
    save_checkpoint({'params': net.state_dict(), 'srkit': {'arch': cfg, 'scale': 3, 'iter': 1}}, p)
    g, got, scale = load_generator(p)
    assert got == cfg and scale == 3


def test_pixel_losses_match_basicsr():
    L = import_basicsr('basicsr.losses.basic_loss')
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    for name in ('L1Loss', 'MSELoss', 'CharbonnierLoss'):
        ours = build_loss({'type': name, 'loss_weight': 0.5})
        ref = getattr(L, name)(loss_weight=0.5)
        torch.testing.assert_close(ours(a, b), ref(a, b))
    assert build_loss({'type': 'L1Loss'})(a, b).item() == pytest.approx((a - b).abs().mean().item())


def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        sched.step()
        out.append(opt.param_groups[0]['lr'])
    return out


@pytest.mark.filterwarnings('ignore:Detected call of')
def test_schedulers_match_basicsr():
    R = import_basicsr('basicsr.models.lr_scheduler')
    cases = [
        ({'type': 'MultiStepLR', 'milestones': [3, 6, 6], 'gamma': 0.5},
         lambda o: R.MultiStepRestartLR(o, milestones=[3, 6, 6], gamma=0.5)),
        ({'type': 'CosineAnnealingRestartLR', 'periods': [5, 7], 'restart_weights': [1, 0.5], 'eta_min': 1e-7},
         lambda o: R.CosineAnnealingRestartLR(o, periods=[5, 7], restart_weights=[1, 0.5], eta_min=1e-7)),
    ]
    for cfg, ref in cases:
        o1 = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
        o2 = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
        np.testing.assert_allclose(_lrs(build_scheduler(o1, cfg), o1, 12), _lrs(ref(o2), o2, 12), rtol=1e-9)
    o = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    lin = _lrs(build_scheduler(o, {'type': 'LinearDecayLR', 'decay_start': 4, 'total_iter': 8}), o, 9)
    np.testing.assert_allclose(lin, [1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0])


def test_ema_averages_parameters_and_buffers():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = EMA(net, 0.9)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net(torch.randn(4, 1, 3, 3) + 5)  # moves BN running stats, bumps num_batches_tracked
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    ema.update()
    sd, e = net.state_dict(), ema.state_dict()
    for k in ('0.weight', '1.running_mean', '1.running_var'):
        torch.testing.assert_close(e[k], 0.9 * before[k] + 0.1 * sd[k])
    assert e['1.num_batches_tracked'] == sd['1.num_batches_tracked'] == 1
