"""Hostile input (issue 14): files that would run code, names that would write outside the output,
outputs that would destroy inputs, and broken weight files.  Each case is one line and a
non-zero exit, and nothing outside the output is touched."""
from __future__ import annotations

import os

import pytest
import torch

from conftest import call_cli, kill_when, png_bomb, run_cli


class _Payload:
    """Unpickled with weights_only=False, this runs code: it writes ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("pwned")',)


def _poison(path: str, marker) -> None:
    torch.save({'conv.weight': torch.zeros(1), 'x': _Payload(str(marker))}, path)


def test_the_payload_is_real(tmp_path):
    """The file the tests below plant does run code when a loader unpickles it."""
    _poison(str(tmp_path / 'p.pth'), tmp_path / 'ran')
    torch.load(tmp_path / 'p.pth', weights_only=False)
    assert (tmp_path / 'ran').read_text() == 'pwned'


def _one_line(fn):
    from srkit.errors import UserError
    with pytest.raises(UserError) as e:
        fn()
    msg = str(e.value)
    assert '\n' not in msg
    return msg


def test_poisoned_vgg19_in_the_cache_is_refused(vgg_cache, tmp_path):
    from srkit.losses.perceptual import VGGFeatureExtractor, vgg19_cache_path
    path, _ = vgg19_cache_path()
    _poison(path, tmp_path / 'ran')
    msg = _one_line(lambda: VGGFeatureExtractor(['conv5_4']))
    assert path in msg and 'could run code' in msg and not (tmp_path / 'ran').exists()
    # an explicit vgg_weights file too
    msg = _one_line(lambda: VGGFeatureExtractor(['conv5_4'], vgg_weights=path))
    assert path in msg and not (tmp_path / 'ran').exists()


@pytest.mark.parametrize('which', ['alexnet', 'lin'])
def test_poisoned_lpips_files_in_the_caches_are_refused(lpips_cache, tmp_path, which):
    from srkit.pretrained import load_lpips_net
    path = lpips_cache[0 if which == 'alexnet' else 1]
    _poison(path, tmp_path / 'ran')
    msg = _one_line(load_lpips_net)
    assert path in msg and 'could run code' in msg and not (tmp_path / 'ran').exists()


def test_poisoned_fid_inception_in_the_cache_is_refused(fid_cache, tmp_path):
    from srkit.metrics import iqa
    _poison(fid_cache, tmp_path / 'ran')
    msg = _one_line(iqa.fid_model)
    assert fid_cache in msg and 'could run code' in msg and not (tmp_path / 'ran').exists()


def test_srkit_eval_with_a_poisoned_lpips_file(lpips_cache, photos_dir, tmp_path):
    _poison(lpips_cache[0], tmp_path / 'ran')
    r = call_cli('eval', '--sr', f'a={photos_dir / "hr"}', '--gt', photos_dir / 'hr', '--metrics', 'psnr,lpips',
                '--out', tmp_path / 'rep', '--no-bicubic', env={'TORCH_HOME': os.environ['TORCH_HOME']})
    assert r.returncode != 0 and not (tmp_path / 'ran').exists()
    assert r.stderr.count('\n') == 1 and lpips_cache[0] in r.stderr and 'Traceback' not in r.stderr


def test_cache_weight_files_that_do_not_fit_name_the_file(vgg_cache, lpips_cache, tmp_path):
    """A VGG19 file with the wrong keys, and an LPIPS file whose shapes are wrong: one line each,
    naming the file and what it should be."""
    from srkit.losses.perceptual import VGGFeatureExtractor, vgg19_cache_path
    from srkit.pretrained import load_lpips_net
    path, _ = vgg19_cache_path()
    torch.save({'features.0.weight': torch.zeros(64, 3, 3, 3), 'other.weight': torch.zeros(1)}, path)
    msg = _one_line(lambda: VGGFeatureExtractor(['conv5_4']))
    assert path in msg and 'VGG19' in msg and 'vgg19-dcbb9e9d.pth' in msg
    torch.save({f'lin{i}.model.1.weight': torch.rand(1, 3, 1, 1) for i in range(5)}, lpips_cache[1])
    msg = _one_line(load_lpips_net)
    assert lpips_cache[1] in msg and 'LPIPS' in msg and 'shape' in msg
    torch.save({'features.0.weight': torch.zeros(2)}, lpips_cache[0])
    msg = _one_line(load_lpips_net)
    assert lpips_cache[0] in msg and 'AlexNet' in msg


def _hostile_lmdb(path, keys: list[str]) -> None:
    """A BasicSR-layout LMDB whose keys are ``keys`` (as another tool could write it)."""
    import cv2
    import lmdb
    import numpy as np
    png = cv2.imencode('.png', np.full((16, 16, 3), 128, np.uint8))[1].tobytes()
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for k in keys:
            txn.put(k.encode('utf-8'), png)
    env.close()
    (path / 'meta_info.txt').write_text(''.join(f'{k}.png (16,16,3) 1\n' for k in keys))


@pytest.mark.parametrize('key', ['../../escaped_by_key', '/tmp/srkit_escaped_by_key'])
def test_lmdb_keys_that_leave_the_output_are_refused(tmp_path, key):
    root = tmp_path / 'work'
    root.mkdir()
    if os.path.exists('/tmp/srkit_escaped_by_key.png'):  # left by a run of code without the check
        os.unlink('/tmp/srkit_escaped_by_key.png')
    _hostile_lmdb(root / 'hr.lmdb', ['fine', key])
    out = root / 'a' / 'b'
    r = call_cli('degrade', '--input', root / 'hr.lmdb', '--output', out, '--method', 'bicubic', '--scale', '2')
    assert r.returncode != 0 and r.stderr.count('\n') == 1 and key in r.stderr and 'Traceback' not in r.stderr
    assert not (root / 'escaped_by_key.png').exists() and not os.path.exists('/tmp/srkit_escaped_by_key.png')
    assert not out.exists() or not any(out.iterdir())  # refused before anything was written
    r = call_cli('lmdb', '--output', root / 'hr.lmdb', '--verify')
    assert r.returncode != 0 and key in r.stdout + r.stderr


def test_meta_info_paths_and_option_names_that_leave_their_root_are_refused(tmp_path, photos_dir):
    from srkit.data.storage import open_storage
    from srkit.errors import DataError, OptionError
    from srkit.utils.imgio import write_image
    import numpy as np
    write_image(str(tmp_path / 'hr' / 'sub' / 'a.png'), np.zeros((8, 8, 3)))
    (tmp_path / 'meta.txt').write_text('sub/a.png\n../hr/sub/a.png\n')
    with pytest.raises(DataError, match=r"meta_info path '\.\./hr/sub/a\.png': not a safe relative name"):
        open_storage(str(tmp_path / 'hr'), 'disk', str(tmp_path / 'meta.txt'))
    from conftest import tiny_options
    from srkit.options import parse_options
    for key, value in (('name', '../../outside'), ('name', '/abs'), ('datasets.val.name', '../up')):
        with pytest.raises(OptionError, match=rf'^{key}: .* is not a safe folder name'):
            parse_options(tiny_options(tmp_path, photos_dir, **{key: value}))


def test_outputs_that_are_or_lie_inside_the_input_are_refused(photos_dir, tmp_path):
    import shutil
    src = tmp_path / 'photos'
    shutil.copytree(photos_dir / 'hr', src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    for args in (['degrade', '--input', src, '--output', src, '--method', 'bicubic'],
                 ['degrade', '--input', src, '--output', src / 'lr', '--method', 'bicubic'],
                 ['infer', '--model', 'bicubic', '--scale', '2', '--input', src, '--output', src],
                 ['infer', '--model', 'bicubic', '--scale', '2', '--input', src / 'coffee_2.png', '--output', src]):
        r = call_cli(*args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'overwrite' in r.stderr, (args, r.stderr)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_two_images_sharing_a_name_are_refused_by_name(photos_dir, tmp_path):
    import shutil
    src = tmp_path / 'in'
    shutil.copytree(photos_dir / 'hr', src)
    import cv2
    cv2.imwrite(str(src / 'coffee_2.jpg'), cv2.imread(str(src / 'coffee_2.png')))
    r = call_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', src, '--output', tmp_path / 'out')
    assert r.returncode == 2 and 'coffee_2.jpg' in r.stderr and 'coffee_2.png' in r.stderr
    assert not (tmp_path / 'out').exists()
    r = call_cli('eval', '--sr', f'a={src}', '--gt', photos_dir / 'hr', '--no-bicubic', '--out', tmp_path / 'rep')
    assert r.returncode != 0 and 'coffee_2.jpg' in r.stderr and 'coffee_2.png' in r.stderr
    r = call_cli('eval', '--sr', f'../x={photos_dir / "hr"}', '--gt', photos_dir / 'hr', '--no-bicubic')
    assert r.returncode == 2 and "label '../x'" in r.stderr


def test_lmdb_keys_round_trip_any_utf8_name(tmp_path):
    """Names with spaces and non-ASCII letters are keys as they are; meta_info.txt stays BasicSR's
    format (its lines for ordinary names unchanged); a name with a line break is refused."""
    import numpy as np
    from srkit.data.storage import open_storage
    from srkit.utils.imgio import write_image
    names = ['café_日本', 'my photo', 'plain']
    for i, n in enumerate(names):
        write_image(str(tmp_path / 'in' / f'{n}.png'), np.full((8, 8, 3), i / 4, np.float32))
    r = run_cli('lmdb', '--input', tmp_path / 'in', '--output', tmp_path / 'x.lmdb', '--verify',
                env={'LC_ALL': 'C', 'LANG': 'C', 'PYTHONIOENCODING': 'ascii:backslashreplace'})
    assert r.returncode == 0, r.stderr
    assert 'plain.png (8,8,3) 1\n' in (tmp_path / 'x.lmdb' / 'meta_info.txt').read_text(encoding='utf-8')
    st = open_storage(str(tmp_path / 'x.lmdb'))
    assert sorted(st.keys) == sorted(names)
    for i, n in enumerate(names):
        assert abs(st.read(n).mean() - i / 4) < 1 / 255
    r = run_cli('degrade', '--input', tmp_path / 'x.lmdb', '--output', tmp_path / 'lr.lmdb', '--method', 'bicubic',
                '--scale', '2', env={'LC_ALL': 'C', 'LANG': 'C'})
    assert r.returncode == 0, r.stderr
    assert sorted(open_storage(str(tmp_path / 'lr.lmdb')).keys) == sorted(names)
    write_image(str(tmp_path / 'bad' / 'a\nb.png'), np.zeros((8, 8, 3), np.float32))
    r = call_cli('lmdb', '--input', tmp_path / 'bad', '--output', tmp_path / 'bad.lmdb')
    assert r.returncode != 0 and 'line break' in r.stderr and r.stderr.count('\n') == 1


@pytest.mark.parametrize('tool', ['infer', 'degrade'])
def test_an_output_that_is_a_file_or_read_only_is_one_line(photos_dir, tmp_path, tool, small_disk):
    (tmp_path / 'file').write_text('x')
    ro = small_disk(64, read_only=True)  # read-only for root too
    args = {'infer': ['--model', 'bicubic', '--scale', '2'], 'degrade': ['--method', 'bicubic']}[tool]
    for out in (tmp_path / 'file', ro / 'sub', ro):
        r = call_cli(tool, '--input', photos_dir / 'hr', '--output', out, *args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
        assert any(why in r.stderr for why in ('not a folder', 'cannot create', 'not writable')), r.stderr


def _all_finite(path) -> bool:
    from srkit.utils.checkpoint import load_checkpoint
    ck = load_checkpoint(str(path))
    sds = [ck[k] for k in ('params', 'params_ema') if k in ck] if 'params' in ck else \
        [n for n in ck['model']['nets'].values()] if 'nets' in ck.get('model', {}) else []
    return all(bool(torch.isfinite(v).all()) for sd in sds for v in sd.values() if v.is_floating_point())


def test_training_that_goes_non_finite_stops_and_keeps_the_last_finite_checkpoint(tmp_path, photos_dir):
    """lr 1e6: the loss is NaN by iteration 2.  The run stops with one line naming the iteration and
    the loss (exit 3), every file it saved is finite, and --auto_resume (with skip_step) continues
    from the last finite state to the end."""
    from conftest import tiny_options, write_yaml
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{
        'logger.print_freq': 1, 'logger.save_checkpoint_freq': 1}))
    r = call_cli('train', '-opt', yml, '--force', 'train.optim_g.lr=1e6', '--quiet')
    assert r.returncode == 3 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    assert 'non-finite loss (l_pix) at iteration 2' in r.stderr and 'iteration 1, is kept' in r.stderr
    exp = tmp_path / 'exp' / 'tiny'
    assert sorted(p.name for p in (exp / 'models').iterdir()) == ['net_g_1.pth', 'net_g_latest.pth']
    assert [p.name for p in (exp / 'training_states').iterdir()] == ['1.state']
    assert _all_finite(exp / 'models' / 'net_g_1.pth')
    r = call_cli('train', '-opt', yml, '--force', 'train.optim_g.lr=1e6', '--force', 'train.nonfinite=skip_step',
                '--auto_resume', '--quiet')
    assert r.returncode == 0, r.stderr
    log = ''.join(p.read_text() for p in exp.glob('train_*.log'))
    assert 'resumed from' in log and '1.state at iteration 1' in log
    assert 'train.nonfinite skip_step: 11 step(s) with non-finite gradients skipped' in log
    assert all(_all_finite(p) for p in (exp / 'models').iterdir())


def test_tools_refuse_a_checkpoint_with_non_finite_weights(tmp_path, photos_dir):
    from srkit.archs import build_network
    from srkit.utils.checkpoint import network_meta
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    sd = net.state_dict()
    sd['conv_first.weight'][0, 0, 0, 0] = float('nan')
    torch.save({'params': sd, 'srkit': network_meta(net, 2, 5)}, tmp_path / 'nan.pth')
    torch.save({'params': net.state_dict() | {'conv_first.weight': torch.zeros_like(sd['conv_first.weight'])}},
               tmp_path / 'ok.pth')
    for args in (['infer', '--model', tmp_path / 'nan.pth', '--input', photos_dir / 'lr_x2', '--output',
                  tmp_path / 'o'],
                 ['eval', '--model', tmp_path / 'nan.pth', '--gt', photos_dir / 'hr', '--lq', photos_dir / 'lr_x2',
                  '--out', tmp_path / 'rep'],
                 ['interp', tmp_path / 'ok.pth', tmp_path / 'nan.pth', '--alpha', '0.5', '--out', tmp_path / 'i.pth']):
        r = call_cli(*args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, (args, r.stderr)
        assert "'conv_first.weight' holds 1 non-finite value(s)" in r.stderr and 'nan.pth' in r.stderr
    assert not (tmp_path / 'o').exists() and not (tmp_path / 'rep').exists() and not (tmp_path / 'i.pth').exists()


def _tiny_generator(path, seed: int) -> None:
    from srkit.archs import build_network
    from srkit.utils.checkpoint import network_meta, save_checkpoint
    torch.manual_seed(seed)
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, 2, 1)}, str(path))


def test_killed_srkit_eval_leaves_the_previous_report_whole(tmp_path, photos_dir):
    """A second srkit-eval into the same --out, SIGKILLed at random points: the folder still holds the
    first report, its metrics.json matching its images; the next complete run swaps in the new one
    and removes what the killed runs staged."""
    import json
    import random
    import subprocess
    import sys
    from conftest import ROOT
    _tiny_generator(tmp_path / 'a.pth', 0)
    _tiny_generator(tmp_path / 'b.pth', 1)
    base = ['--gt', photos_dir / 'hr', '--lq', photos_dir / 'lr_x2', '--out', tmp_path / 'rep']
    r = call_cli('eval', '--model', f'm={tmp_path / "a.pth"}', *base)
    assert r.returncode == 0, r.stderr
    first = (tmp_path / 'rep' / 'metrics.json').read_bytes()

    def tree():
        return {str(f.relative_to(tmp_path / 'rep')): f.read_bytes() for f in (tmp_path / 'rep').rglob('*')
                if f.is_file()}
    before = tree()

    def consistent():
        res = json.loads((tmp_path / 'rep' / 'metrics.json').read_text())
        for m in res['models'].values():
            for row in m['images']:
                assert os.path.exists(os.path.join(m['folder'], row['name'] + '.png'))
        return res
    rng = random.Random(0)
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'srkit.cli.eval', '--model', f'm={tmp_path / "b.pth"}', '--metrics', 'psnr,ssim,niqe',
           *map(str, base)]
    for _ in range(3):
        p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        k = rng.randint(1, 10)  # killed once the new report has k files staged (it writes 20 and more)
        kill_when(p, lambda: sum(1 for _ in tmp_path.glob('.rep.partial-*/**/*')) >= k)
        assert tree() == before  # every file of the first report, byte for byte
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = consistent()
    assert res['metrics'] == ['psnr', 'ssim', 'niqe'] and (tmp_path / 'rep' / 'metrics.json').read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.rep')) == []
    assert str(tmp_path / 'rep') in res['models']['m']['folder']


def test_srkit_eval_reads_gt_and_sr_with_the_same_exif_orientation(tmp_path):
    """A camera JPEG stored sideways (EXIF orientation 6) as GT, and an SR output as viewers show
    it (as srkit-infer writes it): compared the same way up, not refused as a size mismatch."""
    import json
    import numpy as np
    from PIL import Image
    from conftest import photo
    upright = (photo('astronaut')[:64, :96] * 255).round().astype(np.uint8)  # 64 high, 96 wide, as shown
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # orientation 6: shown turned 90 degrees clockwise
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'sr').mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / 'gt' / 'a.jpg', quality=100, exif=exif)
    Image.fromarray(upright).save(tmp_path / 'sr' / 'a.png')
    r = call_cli('eval', '--sr', f's={tmp_path / "sr"}', '--gt', tmp_path / 'gt', '--scale', '1', '--crop-border', '0',
                '--json', tmp_path / 'm.json')
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'm.json').read_text())
    assert res['models']['s']['mean']['psnr'] > 35  # the same picture, up to JPEG's loss
    assert 'EXIF orientation applied to GT, LQ and SR' in res['orientation']


@pytest.mark.parametrize('side', [30000, 60000])
def test_decompression_bombs_are_refused_by_every_reader(tmp_path, photos_dir, side):
    import shutil
    src = tmp_path / 'in'
    shutil.copytree(photos_dir / 'hr', src)
    assert png_bomb(src / 'bomb.png', side) < 4096
    runs = {'degrade': ['degrade', '--input', src, '--output', tmp_path / 'lr', '--method', 'bicubic'],
            'infer': ['infer', '--model', 'bicubic', '--scale', '2', '--input', src, '--output', tmp_path / 'up'],
            'lmdb': ['lmdb', '--input', src, '--output', tmp_path / 'x.lmdb'],
            'eval': ['eval', '--sr', f'a={src}', '--gt', src, '--no-bicubic']}
    for tool, args in runs.items():
        r = run_cli(*args, timeout=120)
        assert r.returncode != 0 and 'Traceback' not in r.stderr, (tool, r.stderr[-800:])
        line = [ln for ln in r.stderr.splitlines() if 'bomb.png' in ln]
        assert line and f'{side}x{side} pixels is over the limit' in line[0], (tool, r.stderr[-800:])
    if side < 2 ** 15:
        return
    # the limit is an option: raised above a bomb over OpenCV's own guard (2**30 pixels), that guard
    # ends in one line too
    r = run_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', src / 'bomb.png', '--output',
                tmp_path / 'up2', env={'SRKIT_MAX_PIXELS': str(side * side)}, timeout=120)
    assert r.returncode != 0 and 'Traceback' not in r.stderr and 'bomb.png' in r.stderr


def test_a_bomb_in_the_training_set_stops_training_with_one_line(tmp_path, photos_dir):
    import shutil
    from conftest import tiny_options, write_yaml
    src = tmp_path / 'hr'
    shutil.copytree(photos_dir / 'hr', src)
    png_bomb(src / 'bomb.png', 30000)
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{
        'datasets.train.dataroot_gt': str(src), 'datasets.train.num_worker_per_gpu': 0, 'train.total_iter': 6}))
    r = run_cli('train', '-opt', yml, '--quiet', timeout=300)
    assert r.returncode != 0 and 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, r.stderr[-800:]
    assert 'bomb.png: 30000x30000 pixels is over the limit' in r.stderr


def _options_file_bombs(tmp_path) -> dict:
    """Hostile options files, each built here from at most a few KB."""
    files = {}
    files['binary'] = b'name: x\nmodel_type: SRModel\n\xff\xfe\x00\x01\x80garbage'
    files['latin1'] = 'name: caf\xe9\n'.encode('latin-1')
    files['deep'] = ('name: x\nmodel_type: SRModel\nval: ' + '[' * 50000 + ']' * 50000 + '\n').encode()
    lines = ['name: x', 'model_type: SRModel', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for i in range(1, 9):  # 10**9 leaves in about 1.3 KB
        lines.append(f'a{i}: &a{i} [' + ', '.join([f'*a{i - 1}'] * 10) + ']')
    lines.append('network_g: {type: MSRResNet, num_feat: *a8}')
    files['alias_bomb'] = ('\n'.join(lines) + '\n').encode()
    files['alias_bomb_6'] = files['alias_bomb'].replace(b'*a8', b'*a5')  # 10**6 leaves
    return files


@pytest.mark.parametrize('case', ['binary', 'latin1', 'deep', 'alias_bomb', 'alias_bomb_6'])
def test_hostile_options_files_are_one_short_line_fast(tmp_path, case):
    data = _options_file_bombs(tmp_path)[case]
    assert len(data) < 110_000
    (tmp_path / 'o.yml').write_bytes(data)
    from srkit.errors import OptionError
    from srkit.options import load_options
    with pytest.raises(OptionError) as e:
        load_options(str(tmp_path / 'o.yml'))
    # (without the bound, the 10**9 bomb takes all memory: the test finishing is the check on the work)
    msg = str(e.value)
    assert str(tmp_path / 'o.yml') in msg and '\n' not in msg and len(msg) < 300, msg[:400]
    r = call_cli('train', '-opt', tmp_path / 'o.yml')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and len(r.stderr) < 400 and 'Traceback' not in r.stderr


@pytest.mark.parametrize('override, key', [
    ('train.optim_g.betas=[1.5, 0.99]', 'train.optim_g'),
    ('val.val_freq=0', 'val.val_freq'),
    ('manual_seed=-1', 'manual_seed'),
    ('device=tpu', 'device'),
    ('train.scheduler={type: CosineAnnealingRestartLR, periods: [], restart_weights: []}', 'train.scheduler'),
    ('network_g.upscale=4', 'network_g'),
    ('train.optim_g.lr=fast', 'train.optim_g.lr'),
])
def test_values_the_libraries_refuse_are_one_line_naming_the_key(tmp_path, photos_dir, override, key):
    from conftest import tiny_options, write_yaml
    from srkit.errors import OptionError
    from srkit.options import load_options
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir))
    with pytest.raises(OptionError) as e:
        load_options(yml, [override])
    assert str(e.value).startswith(key) and '\n' not in str(e.value), str(e.value)


def test_a_degradation_option_of_the_wrong_type_is_one_line(tmp_path):
    from srkit.errors import UserError
    from srkit.config import check_degradation
    with pytest.raises(UserError) as e:
        check_degradation('realesrgan', {'noise_range': 'loud'}, 'degradation')
    assert 'noise_range' in str(e.value) and '\n' not in str(e.value)


@pytest.mark.parametrize('meta, says', [
    ({'arch': {'type': 'MSRResNet', 'num_feat': 512, 'num_block': 20, 'upscale': 2}, 'scale': 2},
     'its metadata describes a MSRResNet of'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': 100000, 'num_block': 400, 'upscale': 2}, 'scale': 2},
     'arch.num_feat: must be <= 1024'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': 1024, 'num_block': 1000, 'upscale': 2}, 'scale': 2},
     'is over the limit of 1,073,741,824'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': -4, 'num_block': 1, 'upscale': 2}, 'scale': 2},
     'arch.num_feat: must be >= 0'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 5}, 'scale': 2},
     'MSRResNet cannot be built (MSRResNet supports upscale 2, 3 or 4, got 5)'),
    ({'arch': 'MSRResNet', 'scale': 2}, 'must be a mapping'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': 'wide'}, 'scale': 2}, 'num_feat'),
    ({'arch': {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}, 'scale': 10 ** 9}, '"scale"'),
    ('MSRResNet', 'not a mapping'),
])
def test_checkpoint_metadata_is_validated_like_options(tmp_path, photos_dir, meta, says):
    """srkit's own metadata block rebuilds the network: a file asking for a huge network, negative
    widths or a string where a mapping belongs is one line, before any large allocation."""
    from srkit.archs import build_network
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    torch.save({'params': net.state_dict(), 'srkit': meta}, tmp_path / 'g.pth')
    r = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', photos_dir / 'lr_x2', '--output', tmp_path / 'o')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr[-600:]
    assert says in r.stderr and 'g.pth' in r.stderr


def test_two_writers_stale_locks_and_temporaries_of_a_killed_run(tmp_path, photos_dir):
    """A second srkit-train on a running experiment is refused (one line naming the holder), and the
    first run's folder is untouched.  Killed with SIGKILL, the run leaves a stale lock and temporary
    files: --auto_resume takes the lock over, removes the temporaries and finishes."""
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT, tiny_options, write_yaml
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{
        'train.total_iter': 100000, 'logger.save_checkpoint_freq': 5, 'logger.print_freq': 5, 'val': None}))
    env = dict(os.environ, PYTHONPATH=ROOT)
    first = subprocess.Popen([sys.executable, '-m', 'srkit.cli.train', '-opt', yml, '--quiet'], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    exp = tmp_path / 'exp' / 'tiny'
    t = time.time()
    while not (exp / 'training_states' / '5.state').exists():
        assert first.poll() is None and time.time() - t < 120, first.stderr.read() if first.poll() else 'slow'
        try:
            first.wait(timeout=0.2)  # returns at once should the run end
        except subprocess.TimeoutExpired:
            pass
    for args in ([], ['--auto_resume']):
        r = call_cli('train', '-opt', yml, '--quiet', *args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
        assert f'srkit-train (pid {first.pid} on ' in r.stderr and 'is writing it' in r.stderr
    assert not list((tmp_path / 'exp').glob('tiny_archived_*')) and first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (tmp_path / 'exp' / '.tiny.lock').exists()  # left by the kill
    (exp / 'models' / '.net_g_7.pth.x1y2z3.tmp').write_bytes(b'torn')
    (exp / 'training_states' / '.7.state.abcdef.tmp').write_bytes(b'torn')
    r = call_cli('train', '-opt', yml, '--quiet', '--auto_resume', '--force', 'train.total_iter=12')
    assert r.returncode == 0, r.stderr
    assert not list(exp.rglob('*.tmp')) and not (tmp_path / 'exp' / '.tiny.lock').exists()
    log = ''.join(p.read_text() for p in exp.glob('train_*.log'))
    assert 'removed 2 temporary file(s) left by an interrupted run' in log


@pytest.mark.parametrize('change, says', [
    ('network_g.num_feat=16', "network_g.num_feat: 8 in the run being resumed"),
    ('train.optim_g={type: SGD, lr: 0.01}', "train.optim_g.type: 'Adam' in the run being resumed"),
])
def test_resume_with_changed_options_names_the_key_and_touches_nothing(tmp_path, photos_dir, change, says):
    from conftest import tiny_options, write_yaml
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{'train.total_iter': 3, 'val': None}))
    assert call_cli('train', '-opt', yml, '--quiet').returncode == 0
    exp = tmp_path / 'exp' / 'tiny'
    before = sorted(str(p) for p in exp.rglob('*'))
    r = call_cli('train', '-opt', yml, '--quiet', '--auto_resume', '--force', change, '--force', 'train.total_iter=6')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and says in r.stderr, r.stderr
    assert sorted(str(p) for p in exp.rglob('*')) == before


def test_a_start_that_fails_after_parsing_archives_nothing(tmp_path, photos_dir):
    """A run whose perceptual loss cannot find its VGG weights fails after the options parse; the
    earlier run of that name stays where it is, so --auto_resume still finds it."""
    from conftest import tiny_options, write_yaml
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{'train.total_iter': 3, 'val': None}))
    assert call_cli('train', '-opt', yml, '--quiet').returncode == 0
    r = call_cli('train', '-opt', yml, '--quiet', '--force',
                'train.perceptual_opt={type: PerceptualLoss, layer_weights: {conv5_4: 1}}',
                env={'TORCH_HOME': str(tmp_path / 'empty_torch_home'), 'SRKIT_OFFLINE': '1'})
    assert r.returncode == 2 and 'VGG19 weights' in r.stderr, r.stderr
    assert not list((tmp_path / 'exp').glob('tiny_archived_*'))
    assert (tmp_path / 'exp' / 'tiny' / 'training_states' / '3.state').exists()


def test_a_second_srkit_degrade_on_one_output_is_refused_until_the_holder_is_gone(tmp_path, photos_dir):
    import subprocess
    import json as _json
    import socket
    holder = subprocess.Popen(['sleep', '60'])  # a live process holding the output's lock
    try:
        (tmp_path / '.lr.lock').write_text(_json.dumps({'pid': holder.pid, 'host': socket.gethostname(),
                                                        'started': 'then', 'what': 'srkit-degrade'}))
        args = ['degrade', '--input', photos_dir / 'hr', '--output', tmp_path / 'lr', '--method', 'bicubic']
        r = call_cli(*args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
        assert f'srkit-degrade (pid {holder.pid} on {socket.gethostname()}, since then) is writing it' in r.stderr
        assert not (tmp_path / 'lr').exists()
    finally:
        holder.kill()
        holder.wait()
    r = call_cli(*args)  # the holder is gone: its lock is stale and taken over
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / 'lr').glob('*.png'))) == 6 and not (tmp_path / '.lr.lock').exists()


@pytest.mark.slow  # several runs killed at random points
def test_srkit_degrade_to_lmdb_killed_anywhere_finishes_on_rerun(tmp_path, photos_dir):
    """SIGKILL at random points of ``srkit-degrade --output x.lmdb`` (the degrading and the final
    pack), several times: each re-run goes on, and the last one gives the LMDB a clean run gives."""
    import random
    import shutil
    import subprocess
    import sys
    from conftest import ROOT
    from srkit.data.storage import open_storage
    src = tmp_path / 'hr'
    src.mkdir()
    for k in range(4):  # 24 images, so the pack takes a share of the run
        for p in (photos_dir / 'hr').iterdir():
            shutil.copy(p, src / f'{k}_{p.name}')
    env = dict(os.environ, PYTHONPATH=ROOT)

    def cmd(out):
        return [sys.executable, '-m', 'srkit.cli.degrade', '--input', str(src), '--output', str(out),
                '--method', 'bicubic', '--scale', '2']
    assert subprocess.run(cmd(tmp_path / 'ref.lmdb'), env=env, cwd=ROOT, capture_output=True).returncode == 0
    rng = random.Random(1)
    parts, packed = tmp_path / 'x.lmdb.parts', tmp_path / 'x.lmdb' / 'data.mdb'
    for i in range(6):
        p = subprocess.Popen(cmd(tmp_path / 'x.lmdb'), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        k = rng.randint(1, 24)
        # alternately: once k LR images are staged, and once the final pack has begun
        kill_when(p, (lambda: len(list(parts.glob('*.png'))) >= k) if i % 2 == 0 else packed.exists)
    r = subprocess.run(cmd(tmp_path / 'x.lmdb'), env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref, got = open_storage(str(tmp_path / 'ref.lmdb')), open_storage(str(tmp_path / 'x.lmdb'))
    assert sorted(ref.keys) == sorted(got.keys) and len(got.keys) == 24
    assert all(ref.get_bytes(k) == got.get_bytes(k) for k in ref.keys)
    assert not (tmp_path / 'x.lmdb.parts').exists()
    # the state a kill between the pack and the manifest leaves: a whole LMDB without its manifest,
    # and the staged images beside it (the staging folder is what a folder output writes)
    shutil.copytree(tmp_path / 'ref.lmdb', tmp_path / 'y.lmdb')
    (tmp_path / 'y.lmdb' / 'manifest.jsonl').unlink()
    (tmp_path / 'y.lmdb' / 'run.json').unlink()
    assert subprocess.run(cmd(tmp_path / 'y.lmdb.parts'), env=env, cwd=ROOT).returncode == 0
    r = subprocess.run(cmd(tmp_path / 'y.lmdb'), env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and 'already exists' not in r.stderr, r.stderr
    assert (tmp_path / 'y.lmdb' / 'manifest.jsonl').read_bytes() == (tmp_path / 'ref.lmdb' / 'manifest.jsonl').read_bytes()
    assert not (tmp_path / 'y.lmdb.parts').exists()


def test_training_on_a_full_disk_stops_before_writing_and_keeps_earlier_checkpoints(tmp_path, photos_dir, small_disk):
    from conftest import tiny_options, write_yaml
    from srkit.utils.checkpoint import load_checkpoint
    disk = small_disk(1536)
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{
        'path.experiments_root': str(disk), 'train.total_iter': 400, 'logger.save_checkpoint_freq': 1,
        'logger.print_freq': 50, 'logger.keep_checkpoints': 0, 'val': None}))
    r = call_cli('train', '-opt', yml, '--quiet')
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr[-800:]
    assert f'no space left on {disk / "tiny"}: the checkpoint of iteration' in r.stderr and 'MB free' in r.stderr
    exp = disk / 'tiny'
    states = sorted(exp.glob('training_states/*.state'), key=lambda p: int(p.stem))
    assert len(states) > 3 and not list(exp.rglob('*.tmp'))
    for p in list(exp.glob('models/*.pth')) + states:  # every file written is whole
        assert isinstance(load_checkpoint(str(p)), dict)


def test_degrade_and_lmdb_on_a_full_disk_are_one_line_and_resume(tmp_path, photos_dir, small_disk):
    import shutil
    disk = small_disk(96)
    args = ['degrade', '--input', photos_dir / 'hr', '--output', disk / 'lr', '--method', 'bicubic', '--scale', '1']
    r = call_cli(*args)
    assert r.returncode != 0 and 'Traceback' not in r.stderr, r.stderr[-800:]
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [
        ln for ln in r.stderr.splitlines() if 'no space left on' in ln], r.stderr[-800:]
    written = sorted((disk / 'lr').glob('*.png'))
    assert written and len(written) < 6 and not list((disk / 'lr').glob('.*.tmp'))
    from srkit.utils.imgio import read_image
    for p in written:
        read_image(str(p))  # whole files only
    r = call_cli('lmdb', '--input', photos_dir / 'hr', '--output', small_disk(64) / 'x.lmdb')
    assert r.returncode != 0 and 'Traceback' not in r.stderr and 'no space left on' in r.stderr, r.stderr[-800:]
    assert r.stderr.strip().count('\n') == 0
    # space freed (here: the output moved to a roomier disk): the same command finishes the job
    bigger = small_disk(4096)
    shutil.copytree(disk / 'lr', bigger / 'lr')
    args[4] = bigger / 'lr'
    r = call_cli(*args)
    assert r.returncode == 0 and f'{len(written)} already done' in r.stdout, r.stdout + r.stderr


def test_every_tool_gives_one_line_when_a_file_is_where_its_output_goes(tmp_path, photos_dir):
    from conftest import tiny_options, write_yaml
    (tmp_path / 'f').write_text('x')
    _tiny_generator(tmp_path / 'g.pth', 0)
    yml = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir))
    f = tmp_path / 'f'
    runs = [['infer', '--model', 'bicubic', '--scale', '2', '--input', photos_dir / 'hr', '--output', f],
            ['degrade', '--input', photos_dir / 'hr', '--output', f, '--method', 'bicubic'],
            ['degrade', '--input', photos_dir / 'hr', '--output', f / 'x.lmdb', '--method', 'bicubic'],
            ['eval', '--sr', f'a={photos_dir / "hr"}', '--gt', photos_dir / 'hr', '--out', f],
            ['lmdb', '--input', photos_dir / 'hr', '--output', f / 'x.lmdb'],
            ['interp', tmp_path / 'g.pth', tmp_path / 'g.pth', '--alpha', '0.5', '--out', f / 'i.pth'],
            ['export', '--model', tmp_path / 'g.pth', '--out', f / 'g.onnx'],
            ['train', '-opt', yml, '--force', f'path.experiments_root={f}', '--quiet']]
    for args in runs:
        r = call_cli(*args)
        assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, (args, r.stderr)
        assert str(f) in r.stderr, (args, r.stderr)
