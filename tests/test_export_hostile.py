"""srkit-export against hostile arguments (issue 20): an --out that is the model, the image or a
FIFO/folder; 1- and 4-channel networks; opsets outside what torch's exporter writes; NaN and
negative tolerances; and --dynamic graphs of size-multiple networks (pixel-unshuffle RRDBNet)
on odd sizes, which must pad inside the graph as srkit-infer does."""
import hashlib
import os
import stat

import numpy as np
import pytest
import torch

from conftest import call_cli
from srkit.archs import build_network
from srkit.inference import run_generator
from srkit.utils.checkpoint import network_meta, save_checkpoint

COMPACT = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2, 'upscale': 2,
           'act_type': 'prelu'}
RRDB_X2 = {'type': 'RRDBNet', 'scale': 2, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4}


def _save(path, cfg, seed=0):
    """A tiny generator saved as srkit saves one (weights and its ``srkit`` metadata); returns it."""
    torch.manual_seed(seed)
    net = build_network(cfg).eval()
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, net.scale, 1)}, str(path))
    return net


def _digest(path) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _one_line_error(r, code=2):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.startswith('srkit-export: error: '), r.stderr


def _onnx_run(path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {'input': x.numpy()})[0]


# --------------------------------------------------------------------- 1. --out over an input / a FIFO


@pytest.mark.parametrize('how', ['same path', 'relative path', 'hard link', 'symlink'])
def test_out_that_is_the_model_is_refused_and_the_checkpoint_kept(tmp_path, how):
    _save(tmp_path / 'net.pth', COMPACT)
    before = _digest(tmp_path / 'net.pth')
    out = tmp_path / 'net.pth'
    if how == 'relative path':
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # call_cli runs there
        out = os.path.relpath(tmp_path / 'net.pth', repo)
    elif how == 'hard link':
        out = tmp_path / 'link.pth'
        os.link(tmp_path / 'net.pth', out)
    elif how == 'symlink':
        out = tmp_path / 'sym.pth'
        os.symlink(tmp_path / 'net.pth', out)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', out)
    _one_line_error(r)
    assert '--out' in r.stderr and 'input' in r.stderr, r.stderr
    assert _digest(tmp_path / 'net.pth') == before
    assert sorted(os.listdir(tmp_path)) == sorted({'net.pth', os.path.basename(str(out))})  # no temporaries


def test_out_that_is_the_check_image_is_refused(tmp_path, photos_dir):
    import shutil
    _save(tmp_path / 'net.pth', COMPACT)
    img = tmp_path / 'photo.png'
    shutil.copy(sorted((photos_dir / 'hr').iterdir())[0], img)
    before = _digest(img)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', img, '--input', img)
    _one_line_error(r)
    assert '--out' in r.stderr and str(img) in r.stderr
    assert _digest(img) == before


def test_out_that_is_a_fifo_or_a_folder_is_refused_and_left_alone(tmp_path):
    # a FIFO made here stands for /dev/null and other devices (never touch the real one)
    _save(tmp_path / 'net.pth', COMPACT)
    fifo = tmp_path / 'pipe.onnx'
    os.mkfifo(fifo)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', fifo)
    _one_line_error(r)
    assert '--out' in r.stderr and 'FIFO' in r.stderr, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    folder = tmp_path / 'folder.onnx'
    folder.mkdir()
    (folder / 'keep').write_text('x')
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', folder)
    _one_line_error(r)
    assert 'folder' in r.stderr and (folder / 'keep').read_text() == 'x'
    assert not any(f.endswith('.tmp') for f in os.listdir(tmp_path))


# --------------------------------------------------------------------- 2. channels


@pytest.mark.parametrize('cfg', [
    {**COMPACT, 'num_in_ch': 4, 'num_out_ch': 4},
    {'type': 'MSRResNet', 'num_in_ch': 4, 'num_out_ch': 4, 'num_feat': 8, 'num_block': 1, 'upscale': 2},
    {**RRDB_X2, 'num_in_ch': 4, 'num_out_ch': 4},
    {**COMPACT, 'num_in_ch': 1, 'num_out_ch': 1},
    {'type': 'MSRResNet', 'num_in_ch': 1, 'num_out_ch': 1, 'num_feat': 8, 'num_block': 1, 'upscale': 2},
], ids=lambda c: f'{c["type"]}-{c["num_in_ch"]}ch')
def test_1_and_4_channel_networks_export_with_their_channels(tmp_path, photos_dir, cfg):
    from srkit.utils.imgio import read_image, write_image
    net = _save(tmp_path / 'net.pth', cfg)
    img = sorted((photos_dir / 'hr').iterdir())[0]
    rgba = tmp_path / 'rgba.png'  # a 4-channel net reads RGBA, as srkit-infer feeds it
    rgb = read_image(str(img))
    write_image(str(rgba), rgb, alpha=np.linspace(0, 1, rgb.shape[1], dtype=np.float32)[None].repeat(rgb.shape[0], 0))
    # the bundled photo, an RGB file and an RGBA file given with --input
    for extra in ([], ['--input', img], ['--input', rgba]):
        r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', '--size', '32', *extra)
        assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
        assert 'max difference' in r.stdout
    x = torch.rand(1, cfg['num_in_ch'], 32, 32)
    got = _onnx_run(tmp_path / 'net.onnx', x)
    with torch.no_grad():
        want = run_generator(net, x).numpy()
    assert got.shape == want.shape == (1, cfg['num_out_ch'], 64, 64)
    np.testing.assert_allclose(got, want, atol=1e-4)


# --------------------------------------------------------------------- 3. --opset


def _opset_refusal(tmp_path, opset):
    """The one-line refusal of ``--opset opset``: ``(its text, lowest, highest)`` of the range it names."""
    import re
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', f'--opset={opset}')
    _one_line_error(r)
    m = re.search(r'--opset (-?\d+): .*?(\d+) to (\d+)', r.stderr)
    assert m and m.group(1) == str(opset), r.stderr
    assert not (tmp_path / 'net.onnx').exists()
    return r.stderr, int(m.group(2)), int(m.group(3))


@pytest.mark.parametrize('opset', [6, 8, 10, 99, -1])
def test_an_opset_outside_the_exporters_range_is_one_line_naming_the_range(tmp_path, opset):
    _save(tmp_path / 'net.pth', COMPACT)
    _msg, lo, hi = _opset_refusal(tmp_path, opset)
    # 11: nearest upsampling with a traced size, PyTorch's bilinear and the in-graph padding need it
    assert lo == 11 and 17 <= hi < 99


def test_the_ends_of_the_named_opset_range_export_and_just_outside_is_refused(tmp_path):
    """Both ends of the range the refusal names export every layer kind srkit's SR nets use
    (nearest and bilinear upsampling, pixel shuffle and unshuffle, in-graph padding) and run in
    onnxruntime; one past the top (what torch's TorchScript exporter cannot write) is refused."""
    _save(tmp_path / 'net.pth', COMPACT)
    _msg, lo, hi = _opset_refusal(tmp_path, 99)
    _opset_refusal(tmp_path, hi + 1)
    _opset_refusal(tmp_path, lo - 1)
    for cfg in ({**RRDB_X2}, {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}):
        _save(tmp_path / 'net.pth', cfg)
        for opset in (lo, hi):
            r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx',
                         '--opset', opset, '--size', '16', '--dynamic')
            assert r.returncode == 0, (cfg['type'], opset, r.stderr)


# --------------------------------------------------------------------- 4. --tolerance


@pytest.mark.parametrize('tol', ['nan', 'inf', '-inf', '-1e-3'])
def test_a_non_finite_or_negative_tolerance_is_refused(tmp_path, tol):
    _save(tmp_path / 'net.pth', COMPACT)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', f'--tolerance={tol}')
    _one_line_error(r)
    assert '--tolerance' in r.stderr, r.stderr
    assert not (tmp_path / 'net.onnx').exists()


def test_a_zero_tolerance_is_a_real_check(tmp_path):
    _save(tmp_path / 'net.pth', COMPACT)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', '--fp16',
                 '--tolerance', '0')
    _one_line_error(r)
    assert 'onnxruntime differs from PyTorch' in r.stderr and not (tmp_path / 'net.onnx').exists()


# --------------------------------------------------------------------- 5. --dynamic on odd sizes


@pytest.mark.parametrize('scale, mult', [(2, 2), (1, 4)])
def test_dynamic_pixel_unshuffle_rrdbnet_pads_inside_the_graph_like_srkit_infer(tmp_path, scale, mult):
    import onnx
    net = _save(tmp_path / 'net.pth', {**RRDB_X2, 'scale': scale})
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', '--dynamic')
    assert r.returncode == 0, r.stderr
    torch.manual_seed(3)
    # 51x59: reflect padding; 3x2 (x1: pads 1 and 2 rows, 2 >= 2) and 1x1: srkit-infer's replicate fallback
    for shape in [(1, 3, 51, 59), (2, 3, 51, 59), (1, 3, 3, 2), (1, 3, 1, 1)]:
        x = torch.rand(*shape)
        got = _onnx_run(tmp_path / 'net.onnx', x)
        with torch.no_grad():
            want = run_generator(net, x).numpy()  # srkit-infer's path: pad, run, crop
        assert got.shape == want.shape == (shape[0], 3, shape[2] * scale, shape[3] * scale)
        assert np.abs(got - want).max() <= 1 / 255, shape
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / 'net.onnx')).metadata_props}
    assert meta['size_multiple'] == str(mult) and meta['padding'] == 'in-graph'


def test_dynamic_export_matches_srkit_infer_on_an_odd_sized_image_file(tmp_path, photos_dir):
    """The same image through srkit-infer and through the ONNX graph, to 8-bit PNGs."""
    from srkit.utils.imgio import img2tensor, read_image, write_image
    _save(tmp_path / 'net.pth', RRDB_X2)
    src = read_image(str(sorted((photos_dir / 'hr').iterdir())[0]))[:51, :59]
    (tmp_path / 'in').mkdir()
    write_image(str(tmp_path / 'in' / 'odd.png'), src)
    r = call_cli('infer', '--model', tmp_path / 'net.pth', '--input', tmp_path / 'in', '--output', tmp_path / 'sr',
                 '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', '--dynamic')
    assert r.returncode == 0, r.stderr
    sr = read_image(str(next((tmp_path / 'sr').iterdir())))
    x = img2tensor(read_image(str(tmp_path / 'in' / 'odd.png'))).unsqueeze(0)
    got = _onnx_run(tmp_path / 'net.onnx', x)[0].transpose(1, 2, 0).clip(0, 1)
    assert got.shape == sr.shape == (102, 118, 3)
    assert np.abs(np.rint(got * 255) - np.rint(sr * 255)).max() <= 1


def test_a_dynamic_export_checks_an_odd_size_in_onnxruntime(tmp_path):
    _save(tmp_path / 'net.pth', RRDB_X2)
    r = call_cli('export', '--model', tmp_path / 'net.pth', '--out', tmp_path / 'net.onnx', '--dynamic', '--size', '32')
    assert r.returncode == 0, r.stderr
    assert '32x32 and a 31x29 image' in r.stdout, r.stdout


def test_a_dynamic_graph_that_keeps_the_traced_size_is_one_line_and_writes_nothing(tmp_path):
    """spandrel's SwinIR pads to its window with Python integers, which the tracer bakes in: the
    graph runs only at the traced size.  --dynamic promises any size, so the odd-size check in
    onnxruntime refuses it (today's file would fail later, in the user's runtime)."""
    from spandrel.architectures.SwinIR import SwinIR
    torch.manual_seed(0)
    net = SwinIR(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                 upsampler='pixelshuffledirect', mlp_ratio=2.0)
    torch.save(net.state_dict(), tmp_path / 'swinir.pth')
    r = call_cli('export', '--model', tmp_path / 'swinir.pth', '--out', tmp_path / 'net.onnx', '--dynamic',
                 '--size', '32')
    _one_line_error(r)
    assert 'onnxruntime cannot run the exported graph on a 31x29 image' in r.stderr and '--dynamic' in r.stderr
    assert not (tmp_path / 'net.onnx').exists() and not any(f.endswith('.tmp') for f in os.listdir(tmp_path))
    r = call_cli('export', '--model', tmp_path / 'swinir.pth', '--out', tmp_path / 'net.onnx', '--size', '32')
    assert r.returncode == 0, r.stderr  # at a fixed size it exports
