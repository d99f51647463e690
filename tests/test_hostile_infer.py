"""Hostile generator files and inputs for srkit-infer (issue 20): metadata that contradicts the
network, metadata nested past Python's recursion limit, weights stored as bool or integers,
TorchScript archives, 1- and 4-channel networks, and an image name at the file system's limit.
A bad file is one line naming it and a non-zero exit; a bad image is skipped, the others written."""
from __future__ import annotations

import os
import zipfile

import cv2
import numpy as np
import pytest
import torch

from conftest import call_cli, photo


def _net(**cfg):
    from srkit.archs import build_network
    torch.manual_seed(0)
    return build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2, **cfg}).eval()


def _save(net, path, scale=2) -> str:
    """``net`` as srkit's training saves it: weights and the metadata that rebuilds it."""
    from srkit.utils.checkpoint import network_meta, save_checkpoint
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, scale, 1)}, str(path))
    return str(path)


def _rgb8(h=12, w=16) -> np.ndarray:
    """``(h,w,3)`` RGB uint8 crop of a bundled photo."""
    return (photo('astronaut')[100:100 + h, 200:200 + w] * 255).round().astype(np.uint8)


@pytest.fixture
def images(tmp_path):
    """A folder with an RGB, an RGBA (alpha varying) and a gray PNG; returns (folder, {name: RGB(A) uint8})."""
    src = tmp_path / 'in'
    src.mkdir()
    rgb = _rgb8()
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).round().astype(np.uint8), (rgb.shape[0], 1))
    imgs = {'rgb': rgb, 'rgba': np.dstack([rgb, alpha]), 'gray': rgb[..., 1]}
    for name, img in imgs.items():
        bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        cv2.imwrite(str(src / f'{name}.png'), bgr)
    return src, imgs


def _one_line_error(r, *names):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
    for n in names:
        assert str(n) in r.stderr, (n, r.stderr)
    return r.stderr


def test_metadata_scale_that_contradicts_the_network_is_refused(tmp_path, images):
    """Metadata ``scale: 3`` on a x2 MSRResNet: was run, then a ValueError on an RGBA input (the
    alpha resized x3, the RGB x2).  Now one line at load time.  A x1 network keeps the
    experiment's scale srkit records with it (DSGAN's generator of a x4 experiment) and runs at x1."""
    from srkit.archs import build_network
    from srkit.inference import load_generator
    path = _save(_net(), tmp_path / 'lying.pth', scale=3)
    r = call_cli('infer', '--model', path, '--input', images[0], '--output', tmp_path / 'out')
    msg = _one_line_error(r, path)
    assert 'scale 3' in msg and 'x2' in msg and not (tmp_path / 'out').exists()
    ds = _save(build_network({'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 1}), tmp_path / 'ds.pth', scale=4)
    assert load_generator(ds)[2] == 1
    r = call_cli('infer', '--model', ds, '--input', images[0], '--output', tmp_path / 'ds_out')
    assert r.returncode == 0, r.stderr
    out = cv2.imread(str(tmp_path / 'ds_out' / 'rgba.png'), cv2.IMREAD_UNCHANGED)
    assert out.shape == images[1]['rgba'].shape and np.array_equal(out[..., 3], images[1]['rgba'][..., 3])


def _deep_pickle(path, net, depth: int) -> None:
    """A torch checkpoint whose metadata ``scale`` is a list nested ``depth`` deep (pickle's
    EMPTY_LIST and APPEND opcodes: torch.save itself would recurse past the limit)."""
    torch.save({'params': net.state_dict(), 'srkit': {'scale': 'PLACEHOLDER'}}, str(path) + '.tmpl')
    with zipfile.ZipFile(str(path) + '.tmpl') as zin, zipfile.ZipFile(path, 'w') as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n.endswith('data.pkl'):
                placeholder = b'X\x0b\x00\x00\x00PLACEHOLDER'
                assert placeholder in data
                data = data.replace(placeholder, b']' * depth + b'a' * (depth - 1))
            zout.writestr(n, data)


def test_deeply_nested_metadata_is_one_line(tmp_path, images):
    """``'[' * 100000`` in a safetensors header was a RecursionError in json; a pickled list as
    deep, a RecursionError in the error message's repr."""
    from safetensors.torch import save_file
    net = _net()
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    for i, meta in enumerate(('[' * 100000 + ']' * 100000, '{"arch": ' * 100000 + '1' + '}' * 100000)):
        path = tmp_path / f'deep{i}.safetensors'
        save_file(sd, str(path), metadata={'format': 'pt', 'srkit': meta})
        r = call_cli('infer', '--model', path, '--input', images[0], '--output', tmp_path / 'out')
        assert 'nested too deeply' in _one_line_error(r, path)
    _deep_pickle(tmp_path / 'deep.pth', net, 100000)
    r = call_cli('infer', '--model', tmp_path / 'deep.pth', '--input', images[0], '--output', tmp_path / 'out')
    assert '"scale" must be an integer from 1 to 16, got a list' in _one_line_error(r, tmp_path / 'deep.pth')
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('dtype', [torch.bool, torch.int32, torch.uint8])
def test_weights_stored_as_bool_or_integers_are_refused(tmp_path, images, dtype):
    """Cast to float by load_state_dict, they ran and gave garbage; now one line naming the file,
    the first offending key and its dtype."""
    from safetensors.torch import save_file
    from srkit.utils.checkpoint import network_meta
    net = _net()
    path = tmp_path / 'w.safetensors'
    sd = {k: (v.to(dtype) if k == 'conv_first.weight' else v).contiguous() for k, v in net.state_dict().items()}
    save_file(sd, str(path), metadata={'format': 'pt'})
    name = str(dtype).replace('torch.', '')
    r = call_cli('infer', '--model', path, '--input', images[0], '--output', tmp_path / 'out')
    assert f"'conv_first.weight' is stored as {name}" in _one_line_error(r, path)
    import json
    save_file(sd, str(path), metadata={'format': 'pt', 'srkit': json.dumps(network_meta(net, 2, 1))})  # by metadata
    r = call_cli('infer', '--model', path, '--input', images[0], '--output', tmp_path / 'out')
    assert f"'conv_first.weight' is stored as {name}" in _one_line_error(r, path)
    assert not (tmp_path / 'out').exists()


def test_integer_buffers_and_half_weights_still_load(tmp_path):
    """BatchNorm's ``num_batches_tracked`` is int64 in the network too, and float16 weights are
    floating point: both load as before."""
    from srkit.archs import build_network
    from srkit.inference import load_generator
    from safetensors.torch import save_file
    net = build_network({'type': 'ResnetGenerator', 'ngf': 8, 'n_blocks': 1, 'norm': 'batch'})
    sd = net.state_dict()
    assert any(not v.is_floating_point() for v in sd.values())
    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()},
              str(tmp_path / 'g.safetensors'))
    loaded = load_generator(str(tmp_path / 'g.safetensors'))[0]
    for k, v in loaded.state_dict().items():
        assert v.dtype == sd[k].dtype and torch.equal(v, sd[k].half().to(v.dtype) if v.is_floating_point() else sd[k])


@pytest.mark.filterwarnings('ignore:`torch.jit:FutureWarning')  # writing the files: torch's own deprecations
def test_torchscript_archives_are_named_as_such(tmp_path, images, monkeypatch):
    """torch.jit.save files were 'corrupt or truncated' (after a torch warning on stderr); now one
    line saying what they are and what srkit reads, and nothing of them is loaded."""
    torch.jit.save(torch.jit.trace(_net(), torch.rand(1, 3, 8, 8)), str(tmp_path / 'traced.pth'))
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1))),
                   str(tmp_path / 'scripted.pt'))

    def refuse(*a, **k):
        raise AssertionError('a TorchScript archive was loaded')
    monkeypatch.setattr(torch.jit, 'load', refuse)
    for name in ('traced.pth', 'scripted.pt'):
        r = call_cli('infer', '--model', tmp_path / name, '--input', images[0], '--output', tmp_path / 'out')
        msg = _one_line_error(r, tmp_path / name)
        assert 'a TorchScript archive' in msg and 'state dict' in msg and 'corrupt' not in msg


def _expected(net, x: np.ndarray) -> np.ndarray:
    """``net`` on ``(H,W,C)`` float in [0,1] (its direct forward): ``(H*s,W*s,C')`` 8-bit levels."""
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float())
    return np.rint(y.clamp(0, 1)[0].numpy().transpose(1, 2, 0) * 255)


@pytest.mark.parametrize('arch', ['SRVGGNetCompact', 'MSRResNet'])
@pytest.mark.parametrize('channels', [1, 4])
def test_gray_and_rgba_networks_run_as_their_direct_forward(tmp_path, images, arch, channels):
    """A 1-channel network reads the BT.601 luma and writes gray RGB (the alpha bicubic, as with
    an RGB network); a 4-channel one reads RGBA (opaque when the image has no alpha) and its
    alpha output is the image's.  Each equals the network's own forward on the same tensor.
    It was a traceback at the first image."""
    from srkit.archs import build_network
    torch.manual_seed(0)
    extra = {'num_conv': 2} if arch == 'SRVGGNetCompact' else {'num_block': 1}
    net = build_network({'type': arch, 'num_in_ch': channels, 'num_out_ch': channels, 'num_feat': 8,
                         'upscale': 2, **extra}).eval()
    src, imgs = images
    r = call_cli('infer', '--model', _save(net, tmp_path / 'g.pth'), '--input', src, '--output', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    for name, img in imgs.items():
        got = cv2.imread(str(tmp_path / 'out' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        got = cv2.cvtColor(got, cv2.COLOR_BGRA2RGBA if got.shape[2] == 4 else cv2.COLOR_BGR2RGB).astype(np.float64)
        rgb = (img if img.ndim == 3 else np.dstack([img] * 3))[..., :3] / 255.0
        alpha = img[..., 3] / 255.0 if name == 'rgba' else None
        assert got.shape == (2 * img.shape[0], 2 * img.shape[1], 3 if alpha is None else 4)
        if channels == 1:
            y = _expected(net, (rgb @ np.array([0.299, 0.587, 0.114]))[..., None])
            assert np.abs(got[..., :3] - y).max() <= 1, name  # the same gray in R, G and B
        else:
            y = _expected(net, np.dstack([rgb, np.ones(rgb.shape[:2]) if alpha is None else alpha]))
            assert np.abs(got - (y if alpha is not None else y[..., :3])).max() <= 1, name


def test_srkit_eval_runs_a_gray_network(tmp_path, photos_dir):
    """srkit-eval --model shares srkit-infer's path from image to network."""
    path = _save(_net(num_in_ch=1, num_out_ch=1), tmp_path / 'g1.pth')
    r = call_cli('eval', '--model', f'gray={path}', '--gt', photos_dir / 'hr', '--lq', photos_dir / 'lr_x2',
                 '--metrics', 'psnr', '--no-bicubic', '--out', tmp_path / 'rep')
    assert r.returncode == 0, r.stderr
    out = cv2.imread(str(tmp_path / 'rep' / 'sr' / 'gray' / 'coffee_2.png'), cv2.IMREAD_UNCHANGED)
    assert out.shape == (96, 96, 3) and np.array_equal(out[..., 0], out[..., 2])


def test_a_network_of_other_channel_counts_is_refused_before_the_run(tmp_path, images):
    path = _save(_net(num_in_ch=2, num_out_ch=2), tmp_path / 'g2.pth')
    r = call_cli('infer', '--model', path, '--input', images[0], '--output', tmp_path / 'out')
    assert '2 input and 2 output channels' in _one_line_error(r, path)
    assert not (tmp_path / 'out').exists()


def test_an_image_name_at_the_file_system_limit_is_written(tmp_path):
    """A 255-byte name stopped the whole batch: the write went through a temporary whose name,
    the output's plus a suffix, is longer than the file system allows.  Temporaries of long names
    now start with a shortened name and a hash, so the image is written like the others."""
    from srkit.utils.imgio import encode
    src = tmp_path / 'in'
    src.mkdir()
    long = 'a' * 251 + '.png'
    data = encode(_rgb8() / 255.0)
    (src / long).write_bytes(data)
    (src / 'b.png').write_bytes(data)
    r = call_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', src, '--output', tmp_path / 'out')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path / 'out')) == sorted([long, 'b.png'])
