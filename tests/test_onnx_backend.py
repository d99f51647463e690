"""srkit-infer's onnxruntime backend (issue: inference as fast as the reference runtime): an
srkit-export file gives what the checkpoint gives in PyTorch, whole and tiled, in srkit-infer
and srkit-eval; a file that is not srkit-export's, or a request the graph cannot honour, is one
line naming the file or the flag."""
import json
import os

import cv2
import numpy as np
import pytest
import torch

from conftest import call_cli
from srkit.archs import build_network
from srkit.utils.checkpoint import network_meta, save_checkpoint

COMPACT = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2, 'upscale': 2,
           'act_type': 'prelu'}
RRDB_X2 = {'type': 'RRDBNet', 'scale': 2, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4}  # pixel-unshuffle: pads
MSRRESNET = {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}


def _save(path, cfg, seed=0):
    torch.manual_seed(seed)
    net = build_network(cfg).eval()
    with torch.no_grad():  # a live network: the training init leaves RRDBNet's trunk near silent
        for p in net.parameters():
            p.mul_(3.0)
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, net.scale, 1)}, str(path))
    return net


def _export(tmp_path, cfg, *extra):
    _save(tmp_path / 'g.pth', cfg)
    r = call_cli('export', '--model', tmp_path / 'g.pth', '--out', tmp_path / 'g.onnx', *extra)
    assert r.returncode == 0, r.stderr
    return tmp_path / 'g.pth', tmp_path / 'g.onnx'


def _odd_image(tmp_path, folder='in') -> str:
    """A 45x37 photo crop (odd sizes: the graph's own padding is exercised)."""
    from conftest import photo
    img = (photo('astronaut')[60:105, 150:187] * 255).round().astype(np.uint8)
    path = tmp_path / folder / 'face.png'
    path.parent.mkdir()
    cv2.imwrite(str(path), img[..., ::-1])
    return str(path.parent)


def _one_line(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.parametrize('cfg', [COMPACT, RRDB_X2], ids=['compact', 'rrdb-unshuffle'])
@pytest.mark.parametrize('tile', [0, 16])
def test_an_exported_file_upscales_as_its_checkpoint_does(tmp_path, cfg, tile):
    pth, onnx = _export(tmp_path, cfg, '--dynamic')
    src = _odd_image(tmp_path)
    tiles = ['--tile', str(tile), '--tile-overlap', '8'] if tile else []
    r = call_cli('infer', '--model', pth, '--input', src, '--output', tmp_path / 'pt', '--device', 'cpu', *tiles)
    assert r.returncode == 0, r.stderr
    r = call_cli('infer', '--model', onnx, '--input', src, '--output', tmp_path / 'ort', '--device', 'cpu', *tiles)
    assert r.returncode == 0, r.stderr
    assert 'in onnxruntime' in r.stdout, r.stdout
    a = cv2.imread(str(tmp_path / 'pt' / 'face.png')).astype(int)
    b = cv2.imread(str(tmp_path / 'ort' / 'face.png')).astype(int)
    assert a.shape == b.shape == (90, 74, 3)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01  # float rounding across runtimes, no more
    assert a.std() > 10  # the network does something: the comparison is not of two flat images


def test_the_explicit_backend_gives_the_same_files(tmp_path):
    _, onnx = _export(tmp_path, COMPACT, '--dynamic')
    src = _odd_image(tmp_path)
    for backend in ('auto', 'onnxruntime'):
        r = call_cli('infer', '--model', onnx, '--input', src, '--output', tmp_path / backend, '--backend', backend)
        assert r.returncode == 0, r.stderr
    with open(tmp_path / 'auto' / 'face.png', 'rb') as f, open(tmp_path / 'onnxruntime' / 'face.png', 'rb') as g:
        assert f.read() == g.read()


def test_srkit_eval_scores_an_exported_file_as_its_checkpoint(tmp_path, photos_dir):
    pth, onnx = _export(tmp_path, COMPACT, '--dynamic')
    r = call_cli('eval', '--model', f'pt={pth}', '--model', f'ort={onnx}', '--lq', os.path.join(photos_dir, 'lr_x2'),
                 '--gt', os.path.join(photos_dir, 'hr'), '--scale', '2', '--json', tmp_path / 'm.json')
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'm.json').read_text())['models']
    assert res['ort']['mean']['psnr'] == pytest.approx(res['pt']['mean']['psnr'], abs=0.01)
    assert res['ort']['mean']['psnr'] != res['bicubic']['mean']['psnr']


def test_an_onnx_file_of_another_exporter_is_refused_in_one_line(tmp_path):
    net = _save(tmp_path / 'g.pth', COMPACT)
    foreign = tmp_path / 'foreign.onnx'  # the same network, exported as its users would, without srkit's metadata
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(foreign), input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {2: 'h', 3: 'w'}}, dynamo=False)
    src = _odd_image(tmp_path)
    r = call_cli('infer', '--model', foreign, '--input', src, '--output', tmp_path / 'o')
    _one_line(r, str(foreign), 'not a file of srkit-export', 'srkit_arch')
    assert not (tmp_path / 'o').exists()


def test_a_corrupt_truncated_or_special_onnx_file_is_one_line(tmp_path):
    _, onnx = _export(tmp_path, COMPACT, '--dynamic')
    src = _odd_image(tmp_path)
    data = onnx.read_bytes()
    (tmp_path / 'cut.onnx').write_bytes(data[: len(data) // 2])
    (tmp_path / 'noise.onnx').write_bytes(os.urandom(4096))
    os.mkfifo(tmp_path / 'fifo.onnx')
    for bad, words in (('cut.onnx', ['onnxruntime cannot load it']), ('noise.onnx', ['onnxruntime cannot load it']),
                       ('fifo.onnx', ['not a regular file'])):
        r = call_cli('infer', '--model', tmp_path / bad, '--input', src, '--output', tmp_path / 'o')
        _one_line(r, str(tmp_path / bad), *words)
    assert not (tmp_path / 'o').exists()


def test_requests_an_onnx_graph_cannot_honour_are_refused_naming_the_flag(tmp_path):
    pth, onnx = _export(tmp_path, COMPACT, '--dynamic')
    src = _odd_image(tmp_path)
    o = ['--input', src, '--output', tmp_path / 'o']
    _one_line(call_cli('infer', '--model', onnx, '--backend', 'torch', *o), '--backend', 'onnxruntime')
    _one_line(call_cli('infer', '--model', pth, '--backend', 'onnxruntime', '--precision', 'bf16', *o), '--precision')
    _one_line(call_cli('infer', '--model', onnx, '--precision', 'bf16', *o), '--precision')
    _one_line(call_cli('infer', '--model', onnx, '--inference-mode', 'train', *o), '--inference-mode')
    _one_line(call_cli('infer', '--model', onnx, '--dni-model', pth, '--dni', '0.5', *o), 'interpolation')
    _one_line(call_cli('export', '--model', onnx, '--out', tmp_path / 'again.onnx'), 'already an ONNX file')
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'again.onnx').exists()


def test_a_fixed_size_graph_runs_its_size_and_refuses_another_in_one_line(tmp_path):
    pth, onnx = _export(tmp_path, COMPACT, '--size', '24')  # not --dynamic: 24x24 only
    img = np.random.default_rng(0).integers(0, 256, (24, 24, 3), np.uint8)
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), img)
    r = call_cli('infer', '--model', onnx, '--input', tmp_path / 'in', '--output', tmp_path / 'o')
    assert r.returncode == 0, r.stderr
    r = call_cli('infer', '--model', pth, '--input', tmp_path / 'in', '--output', tmp_path / 'p')
    a, b = (cv2.imread(str(tmp_path / d / 'a.png')).astype(int) for d in ('o', 'p'))
    assert np.abs(a - b).max() <= 1
    src = _odd_image(tmp_path, 'odd')
    _one_line(call_cli('infer', '--model', onnx, '--input', src, '--output', tmp_path / 'q'), 'fixed size 24x24',
              'dynamic sizes')


@pytest.mark.parametrize('key,value,words', [
    ('scale', 'four', ['does not parse']), ('scale', '0', ['out of range']), ('srkit_arch', '[1]', ['out of range']),
    ('value_range', '-1,1', ['out of range']), ('padding', None, ['no padding'])])
def test_srkit_metadata_that_is_wrong_or_missing_is_one_line(tmp_path, key, value, words):
    import onnx
    _, good = _export(tmp_path, COMPACT, '--dynamic')
    proto = onnx.load(str(good))
    props = {p.key: p.value for p in proto.metadata_props}
    if value is None:
        del props[key]
    else:
        props[key] = value
    del proto.metadata_props[:]
    for k, v in props.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(tmp_path / 'edited.onnx'))
    r = call_cli('infer', '--model', tmp_path / 'edited.onnx', '--input', _odd_image(tmp_path), '--output',
                 tmp_path / 'o')
    _one_line(r, str(tmp_path / 'edited.onnx'), *words)


@pytest.mark.parametrize("cfg", [RRDB_X2, COMPACT, MSRRESNET], ids=['rrdb', 'compact', 'msrresnet'])
def test_a_checkpoint_runs_in_pytorch_by_default_and_in_either_backend_on_request(tmp_path, cfg):
    """``--backend auto``: a checkpoint in PyTorch (as fast on the CPU as onnxruntime, without the
    export); ``--backend onnxruntime`` exports it in memory, ``torch`` insists; all within 1/255
    of PyTorch, whole and tiled."""
    _save(tmp_path / 'g.pth', cfg)
    src = _odd_image(tmp_path)
    outs = {}
    for backend in ('torch', 'onnxruntime', 'auto'):
        for tile in ('0', '16'):
            r = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', src, '--output',
                         tmp_path / f'{backend}{tile}', '--backend', backend, '--tile', tile, '--tile-overlap', '8')
            assert r.returncode == 0, r.stderr
            ran = 'onnxruntime' if 'in onnxruntime' in r.stdout else 'torch'
            assert ran == ('torch' if backend == 'auto' else backend), r.stdout
            outs[backend, tile] = cv2.imread(str(tmp_path / f'{backend}{tile}' / 'face.png')).astype(int)
    for (backend, tile), img in outs.items():
        d = np.abs(img - outs['torch', tile])
        assert d.max() <= 1 and (d > 0).mean() < 0.01, (backend, tile, d.max())
    assert outs['torch', '0'].std() > 10


def test_srkit_eval_runs_a_checkpoint_as_srkit_infer_does_by_default(tmp_path, photos_dir):
    _save(tmp_path / 'g.pth', RRDB_X2)
    r = call_cli('eval', '--model', f'g={tmp_path / "g.pth"}', '--lq', os.path.join(photos_dir, 'lr_x2'),
                 '--gt', os.path.join(photos_dir, 'hr'), '--scale', '2', '--out', tmp_path / 'rep')
    assert r.returncode == 0, r.stderr
    r2 = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', os.path.join(photos_dir, 'lr_x2'),
                  '--output', tmp_path / 'inf')
    assert r2.returncode == 0, r2.stderr
    res = json.loads((tmp_path / 'rep' / 'metrics.json').read_text())['models']['g']
    assert len(os.listdir(tmp_path / 'inf')) == 6
    for name in os.listdir(tmp_path / 'inf'):  # the files srkit-eval scored are srkit-infer's, byte for byte
        with open(tmp_path / 'inf' / name, 'rb') as f, open(os.path.join(res['folder'], name), 'rb') as g:
            assert f.read() == g.read(), name
