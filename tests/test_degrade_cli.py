import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from srkit import degrading as D
from srkit.cli import degrade as degrade_cli
from srkit.utils.imgio import read_image, write_image
from conftest import ROOT, call_cli, kill_when, photo


@pytest.fixture(scope='module')
def hr_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('hr')
    for i, (n, t, l) in enumerate([('astronaut', 0, 0), ('coffee', 50, 90), ('rocket', 10, 200), ('chelsea', 30, 40),
                                   ('astronaut', 300, 300), ('coffee', 200, 10), ('rocket', 100, 100)]):
        write_image(str(root / f'img{i}.png'), photo(n)[t:t + 67, l:l + 81])  # not a multiple of 4
    return root


def _files(d):
    return {f: open(os.path.join(d, f), 'rb').read() for f in sorted(os.listdir(d)) if f.endswith('.png')}


def test_output_independent_of_workers_and_shards(tmp_path, hr_dir):
    args = ['--input', str(hr_dir), '--method', 'bsrgan', '--scale', '4', '--seed', '5']
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'w1')]) == 0
    assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'w2'), '--workers', '2']) == 0
    for i in range(3):
        assert degrade_cli.main.run(args + ['--output', str(tmp_path / 'sh'), '--shard', f'{i}/3']) == 0
    one = _files(tmp_path / 'w1')
    assert len(one) == 7 and one == _files(tmp_path / 'w2') == _files(tmp_path / 'sh')
    shard_lines = []
    for i in range(3):
        shard_lines += [json.loads(x)['key'] for x in open(tmp_path / 'sh' / f'manifest.{i}-of-3.jsonl')]
    assert sorted(shard_lines) == [f'img{i}' for i in range(7)]  # no overlap, no gap
    lr = read_image(str(tmp_path / 'w1' / 'img0.png'))
    assert lr.shape == (64 // 4, 80 // 4, 3)  # mod-cropped HR / scale


def test_manifest_line_replays_the_image(tmp_path, hr_dir):
    assert degrade_cli.main.run(['--input', str(hr_dir), '--output', str(tmp_path), '--method', 'bsrgan',
                       '--scale', '2', '--seed', '1']) == 0
    lines = [json.loads(x) for x in open(tmp_path / 'manifest.jsonl')]
    line = next(x for x in lines if x['key'] == 'img3')
    assert line['params']['method'] == 'bsrgan' and line['params']['ops'][-1]['op'] == 'jpeg'
    again = D.replay(line, read_image(str(hr_dir / 'img3.png')))
    saved = read_image(str(tmp_path / 'img3.png'))
    np.testing.assert_array_equal(np.rint(again * 255), np.rint(saved * 255))


def test_killed_run_resumes_without_truncated_files(tmp_path, hr_dir):
    big = tmp_path / 'big'
    base = photo('astronaut')
    for i in range(40):
        write_image(str(big / f'{i:02d}.png'), np.roll(base, 7 * i, axis=1)[:256, :256])
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'srkit.cli.degrade', '--input', str(big), '--output', str(out),
           '--method', 'bsrgan', '--scale', '4', '--seed', '3']
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    man = out / 'manifest.jsonl'
    kill_when(p, lambda: man.exists() and man.read_text().count('\n') >= 3)
    assert p.returncode == -signal.SIGKILL
    for f in os.listdir(out):
        if f.endswith('.png'):
            read_image(str(out / f))  # every visible image decodes
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and 'already done' in r.stdout
    assert not [f for f in os.listdir(out) if f.endswith('.tmp')]  # a killed write's temp file is cleaned up
    ref = tmp_path / 'ref'
    assert degrade_cli.main.run(cmd[3:5] + ['--output', str(ref)] + cmd[7:]) == 0
    assert _files(out) == _files(ref)
    assert sorted(json.loads(x)['key'] for x in open(man)) == [f'{i:02d}' for i in range(40)]


def test_bad_input_is_skipped_and_reported(tmp_path, hr_dir):
    src = tmp_path / 'src'
    src.mkdir()
    for f in ('img0.png', 'img1.png'):
        (src / f).write_bytes((hr_dir / f).read_bytes())
    (src / 'broken.png').write_bytes((hr_dir / 'img2.png').read_bytes()[:300])
    r = call_cli('degrade', '--input', src, '--output', tmp_path / 'o', '--method', 'bicubic', '--scale', '2')
    assert r.returncode == 1
    assert 'broken.png: cannot decode image' in r.stderr and '2 LR image(s) written' in r.stdout
    assert sorted(os.listdir(tmp_path / 'o')) == ['img0.png', 'img1.png', 'manifest.jsonl', 'run.json']
    r = call_cli('degrade', '--input', src, '--output', tmp_path / 'o2', '--method', 'nope')
    assert r.returncode == 2 and 'unknown' in r.stderr


def test_shard_from_torchrun_environment(monkeypatch):
    monkeypatch.setenv('RANK', '2')
    monkeypatch.setenv('WORLD_SIZE', '4')
    assert D.parse_shard(None) == (2, 4)
    keys = [f'k{i}' for i in range(10)]
    parts = [D.shard_keys(keys, i, 4) for i in range(4)]
    assert sorted(sum(parts, [])) == sorted(keys)


@pytest.mark.parametrize('method', ['bsrgan_plus', 'realesrgan'])
def test_every_method_replays_from_its_manifest_line(tmp_path, hr_dir, method):
    assert degrade_cli.main.run(['--input', str(hr_dir), '--output', str(tmp_path), '--method', method,
                       '--scale', '4', '--seed', '3']) == 0
    line = next(json.loads(x) for x in open(tmp_path / 'manifest.jsonl') if json.loads(x)['key'] == 'img1')
    assert line['params']['method'] == method
    saved = read_image(str(tmp_path / 'img1.png'))
    assert saved.shape == (16, 20, 3)
    again = D.replay(line, read_image(str(hr_dir / 'img1.png')))
    np.testing.assert_array_equal(np.rint(again * 255), np.rint(saved * 255))


def test_lmdb_output_packs_basicsr_layout_with_manifest(tmp_path, hr_dir):
    from srkit.data.storage import open_storage
    out = tmp_path / 'lr_x4.lmdb'
    args = ['--input', str(hr_dir), '--output', str(out), '--preset', 'bsrgan', '--scale', '4', '--seed', '5']
    # two shards stage their halves; the unsharded run finds them done and packs
    assert degrade_cli.main.run(args + ['--shard', '0/2']) == 0
    assert not (out / 'meta_info.txt').exists() and (tmp_path / 'lr_x4.lmdb.parts').is_dir()
    assert degrade_cli.main.run(args + ['--shard', '1/2']) == 0
    assert degrade_cli.main.run(args) == 0
    assert not (tmp_path / 'lr_x4.lmdb.parts').exists()
    st = open_storage(str(out), 'lmdb')
    assert sorted(st.keys) == [f'img{i}' for i in range(7)]
    assert (open(out / 'meta_info.txt').readline().split()[1] == '(16,20,3)')
    lines = [json.loads(x) for x in open(out / 'manifest.jsonl')]
    assert len(lines) == 7
    # the same pixels as a folder run with the same seed
    assert degrade_cli.main.run(['--input', str(hr_dir), '--output', str(tmp_path / 'folder'), '--method', 'bsrgan',
                       '--scale', '4', '--seed', '5']) == 0
    np.testing.assert_array_equal(st.read('img4'), read_image(str(tmp_path / 'folder' / 'img4.png')))
    assert degrade_cli.main.run(args) == 0  # a re-run finds it complete


def test_presets_and_bad_options(tmp_path, hr_dir, capsys):
    from degradations import load_preset, preset_names
    assert {'bicubic', 'bsrgan', 'bsrgan_plus', 'realesrgan', 'dsgan_sensor_noise', 'dsgan_jpeg'} <= set(preset_names())
    assert load_preset('dsgan_sensor_noise') == {'type': 'sensor_noise', 'sigma': 8.0}
    assert load_preset('dsgan_jpeg') == {'type': 'jpeg', 'quality': 30}
    bad = tmp_path / 'bad.yml'
    bad.write_text('type: bsrgan\njpeg_probability: 0.5\n')
    base = ['--input', str(hr_dir), '--output', str(tmp_path / 'o'), '--scale', '4']
    assert degrade_cli.main.run(base + ['--preset', str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown option 'jpeg_probability'" in err[0] and 'jpeg_prob' in err[0]
    assert degrade_cli.main.run(base + ['--preset', 'bsrgan', '--method', 'bicubic']) == 2
    assert degrade_cli.main.run(base + ['--preset', 'nope']) == 2
    assert 'presets: bicubic' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()  # nothing written for a usage error


def test_a_resumed_run_must_be_the_same_run(tmp_path, hr_dir):
    """Other settings into a folder (or LMDB) that already holds images are refused, not mixed in."""
    base = ['--input', str(hr_dir), '--method', 'bicubic', '--scale', '2']
    for out in (tmp_path / 'out', tmp_path / 'out.lmdb'):
        assert degrade_cli.main.run(base + ['--output', str(out), '--seed', '1']) == 0
        before = sorted(os.listdir(out))
        assert degrade_cli.main.run(base + ['--output', str(out), '--seed', '1']) == 0  # the same run: nothing to do
        r = call_cli('degrade', *base, '--output', out, '--seed', '2')
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().endswith(f"{out}: holds images made with another seed 1 (now 2); "
                                         "use another --output or delete that one")
        r = call_cli('degrade', *base[:3], 'bsrgan', '--scale', '2', '--output', out, '--seed', '1')
        assert r.returncode == 2 and "another method 'bicubic' (now 'bsrgan')" in r.stderr
        assert sorted(os.listdir(out)) == before
