import torch

from srkit.archs import build_network
from srkit.cli import interp as interp_cli
from srkit.utils.checkpoint import load_checkpoint, save_checkpoint
from conftest import call_cli


def _ckpt(tmp_path, name, seed, ema=True, meta=True):
    torch.manual_seed(seed)
    cfg = {'type': 'SRResNet', 'num_feat': 4, 'num_block': 1, 'upscale': 2}  # has BN (int buffers)
    net = build_network(cfg)
    sd = net.state_dict()
    sd['bn_body.num_batches_tracked'] = torch.tensor(seed)
    d = {'params': sd}
    if ema:
        d['params_ema'] = {k: v + 1 if v.is_floating_point() else v for k, v in sd.items()}
    if meta:
        d['srkit'] = {'arch': cfg, 'scale': 2, 'iter': seed}
    p = str(tmp_path / f'{name}.pth')
    save_checkpoint(d, p)
    return p, d


def test_interpolates_params_and_ema_and_keeps_int_buffers(tmp_path):
    pa, a = _ckpt(tmp_path, 'psnr', 1)
    pb, b = _ckpt(tmp_path, 'gan', 2)
    out = str(tmp_path / 'c.pth')
    assert interp_cli.main.run([pa, pb, '--alpha', '0.8', '--out', out]) == 0
    c = load_checkpoint(out)
    for key in ('params', 'params_ema'):
        for k, v in c[key].items():
            if v.is_floating_point():
                torch.testing.assert_close(v, 0.2 * a[key][k] + 0.8 * b[key][k])
            else:
                assert torch.equal(v, a[key][k])  # integer buffers come from A
    assert c['srkit']['arch'] == a['srkit']['arch'] and c['srkit']['interpolation']['alpha'] == 0.8


def test_alpha_sweep_writes_one_file_per_alpha(tmp_path):
    pa, a = _ckpt(tmp_path, 'psnr', 1)
    pb, b = _ckpt(tmp_path, 'gan', 2)
    assert interp_cli.main.run([pa, pb, '--alphas', '0,0.5,1', '--out-dir', str(tmp_path / 'sw')]) == 0
    for alpha in (0, 0.5, 1):
        c = load_checkpoint(str(tmp_path / 'sw' / f'gan_alpha{alpha:g}.pth'))
        w = c['params']['conv_first.weight']
        torch.testing.assert_close(w, (1 - alpha) * a['params']['conv_first.weight'] + alpha * b['params']['conv_first.weight'])


def test_raw_state_dicts_and_extrapolation_warning(tmp_path):
    torch.manual_seed(0)
    a = build_network({'type': 'RRDBNet', 'num_feat': 4, 'num_block': 1, 'num_grow_ch': 2}).state_dict()
    b = {k: v * 2 for k, v in a.items()}
    torch.save(a, tmp_path / 'a.pth')  # the ESRGAN originals are raw dicts
    torch.save({'params_ema': b}, tmp_path / 'b.pth')  # Real-ESRGAN's files hold params_ema only
    r = call_cli('interp', tmp_path / 'a.pth', tmp_path / 'b.pth', '--alpha', '1.5', '--out', tmp_path / 'c.pth')
    assert r.returncode == 0 and 'alpha 1.5 is outside [0, 1]: extrapolating' in r.stderr
    c = load_checkpoint(str(tmp_path / 'c.pth'))
    torch.testing.assert_close(c['params']['conv_first.weight'], 2.5 * a['conv_first.weight'])  # -0.5a + 1.5(2a)


def test_mismatched_files_name_the_first_offending_key(tmp_path):
    pa, _ = _ckpt(tmp_path, 'a', 1)
    other = build_network({'type': 'SRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    pb = str(tmp_path / 'b.pth')
    save_checkpoint({'params': other.state_dict()}, pb)
    r = call_cli('interp', pa, pb, '--alpha', '0.5', '--out', tmp_path / 'c.pth')
    assert r.returncode == 2
    assert r.stderr.strip().endswith("shape mismatch at 'conv_first.weight': "
                                     f"{pa} (4, 3, 9, 9), {pb} (8, 3, 9, 9)")
    sd = build_network({'type': 'SRResNet', 'num_feat': 4, 'num_block': 2, 'upscale': 2}).state_dict()
    save_checkpoint({'params': sd}, pb)
    r = call_cli('interp', pa, pb, '--alpha', '0.5', '--out', tmp_path / 'c.pth')
    assert r.returncode == 2 and "has no key 'body.1.conv1.weight'" in r.stderr
    assert not (tmp_path / 'c.pth').exists()
