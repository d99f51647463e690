"""srkit-dataset: BasicSR's own ``extract_subimages`` as the oracle of the tile grid, pyiqa and
basicsr as the oracles of NIQE and PIQE, duplicates found and distinct photos kept apart, and a
run that gives the same result however it is split or stopped."""
from __future__ import annotations

import importlib.util
import json
import os

import cv2
import numpy as np
import pytest
import torch

from conftest import call_cli, photo

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'basicsr')


def _manifest(folder) -> list[dict]:
    with open(os.path.join(folder, 'manifest.jsonl')) as f:
        return [json.loads(line) for line in f]


def _u8(name: str, size: int | None = None) -> np.ndarray:
    """A bundled photo as BGR uint8, its centre ``size`` px square when given."""
    img = np.rint(photo(name) * 255).astype(np.uint8)[..., ::-1]
    if size:
        h, w = img.shape[:2]
        img = img[(h - size) // 2:(h + size) // 2, (w - size) // 2:(w + size) // 2]
    return np.ascontiguousarray(img)


def _basicsr_worker():
    from srkit.compat import import_basicsr
    import_basicsr('basicsr.utils')  # the script imports basicsr, which needs srkit's torchvision shim
    spec = importlib.util.spec_from_file_location('basicsr_extract_subimages',
                                                  os.path.join(FIXTURES, 'extract_subimages.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.worker


@pytest.mark.parametrize('size,step,thresh', [(64, 32, 0), (48, 48, 0), (64, 40, 20), (50, 17, 5)])
def test_tile_grid_is_basicsrs_extract_subimages(tmp_path, size, step, thresh):
    """Every tile, its index in the name and its pixels, equal BasicSR's script's (run from its
    own file); the boxes in the manifest are where the tiles were cut."""
    worker = _basicsr_worker()
    rng = np.random.default_rng(0)
    (tmp_path / 'in').mkdir()
    (tmp_path / 'ref').mkdir()
    shapes = {'tall': (200, 173), 'exact': (64, 64), 'wide': (97, 300)}
    for stem, (h, w) in shapes.items():
        cv2.imwrite(str(tmp_path / 'in' / f'{stem}.png'), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    for stem, (h, w) in shapes.items():
        if min(h, w) >= size:  # BasicSR's script fails on a smaller image
            worker(str(tmp_path / 'in' / f'{stem}.png'), {'crop_size': size, 'step': step, 'thresh_size': thresh,
                                                           'save_folder': str(tmp_path / 'ref'),
                                                           'compression_level': 1})
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'out', '--tile', size, '--step', step,
                 '--thresh-size', thresh, '--no-report')
    assert r.returncode == 0, r.stderr
    ref = sorted(p.name for p in (tmp_path / 'ref').glob('*.png'))
    ours = sorted(p.name for p in (tmp_path / 'out').glob('*.png'))
    assert ours == ref and len(ref) > 6
    for n in ref:
        assert np.array_equal(cv2.imread(str(tmp_path / 'out' / n)), cv2.imread(str(tmp_path / 'ref' / n))), n
    for line in _manifest(tmp_path / 'out'):
        t, left, h, w = line['box']
        src = cv2.imread(str(tmp_path / 'in' / f'{line["name"].rsplit("_s", 1)[0]}.png'))
        assert (h, w) == (size, size)
        assert np.array_equal(src[t:t + h, left:left + w], cv2.imread(str(tmp_path / 'out' / line['name'])))
    assert (tmp_path / 'out' / 'meta_info.txt').read_text().split() == ref


def test_an_image_smaller_than_the_tile_is_left_out_with_a_line(tmp_path):
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'big.png'), _u8('astronaut', 128))
    cv2.imwrite(str(tmp_path / 'in' / 'small.png'), _u8('coffee', 40))
    with pytest.raises(IndexError):  # where BasicSR's script fails
        _basicsr_worker()(str(tmp_path / 'in' / 'small.png'), {'crop_size': 64, 'step': 64, 'thresh_size': 0,
                                                               'save_folder': str(tmp_path), 'compression_level': 1})
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'out', '--tile', 64, '--no-report')
    assert r.returncode == 0, r.stderr
    assert '1 images smaller than the tile, left out' in r.stdout
    assert sorted(p.name for p in (tmp_path / 'out').glob('*.png')) == [f'big_s00{i}.png' for i in range(1, 5)]


def test_best_tile_is_the_most_complex_tile_of_each_image(tmp_path):
    from srkit.curation.tiles import grid
    from srkit.metrics.noref import complexity
    (tmp_path / 'in').mkdir()
    img = _u8('astronaut', 256)
    img[:128] = 128  # a flat half: the best tile lies in the other
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), img)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'out', '--best-tile', 96,
                 '--no-report')
    assert r.returncode == 0, r.stderr
    (line,) = _manifest(tmp_path / 'out')
    rgb = img[..., ::-1].astype(np.float32) / 255
    want = max(grid(256, 256, 96, 48), key=lambda b: complexity(rgb[b[0]:b[0] + 96, b[1]:b[1] + 96]))
    assert line['name'] == 'a.png' and tuple(line['box']) == want and want[0] >= 128 - 48


def test_niqe_and_piqe_scores_are_pyiqas_and_basicsrs(tmp_path):
    """Whole images scored: PIQE equals pyiqa's; NIQE equals pyiqa's with basicsr's MATLAB
    parameters and agrees with basicsr's calculate_niqe."""
    import pyiqa
    from srkit.compat import import_basicsr
    from srkit.metrics.iqa import _basicsr_niqe_mat
    niqe = import_basicsr('basicsr.metrics.niqe')
    (tmp_path / 'in').mkdir()
    for n in ('coffee', 'chelsea'):
        cv2.imwrite(str(tmp_path / 'in' / f'{n}.png'), _u8(n)[:200, :240])
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'out', '--score', 'niqe,piqe',
                 '--no-report', env={'TORCH_HOME': str(tmp_path / 'empty_home')})
    assert r.returncode == 0, r.stderr
    p_piqe = pyiqa.create_metric('piqe', device='cpu')
    p_niqe = pyiqa.create_metric('niqe', pretrained_model_path=_basicsr_niqe_mat(), color_space='ycbcr',
                                 device='cpu')
    for line in _manifest(tmp_path / 'out'):
        bgr = cv2.imread(str(tmp_path / 'in' / line['name']))
        x = torch.from_numpy(bgr[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
        assert line['scores']['piqe'] == pytest.approx(float(p_piqe(x)), abs=2e-6)
        assert line['scores']['niqe'] == pytest.approx(float(p_niqe(x)), abs=2e-6)
        ref = niqe.calculate_niqe(bgr.astype(np.float64), 0, input_order='HWC', convert_to='y')
        assert line['scores']['niqe'] == pytest.approx(ref, abs=0.05)


def _distinct_photos() -> dict[str, np.ndarray]:
    """The bundled photos and drawings (no download), each its centre square of up to 256 px."""
    names = ['astronaut', 'brick', 'camera', 'cell', 'chelsea', 'clock', 'coffee', 'coins', 'colorwheel', 'grass',
             'gravel', 'hubble_deep_field', 'immunohistochemistry', 'logo', 'microaneurysms', 'moon', 'page',
             'retina', 'rocket', 'text', 'checkerboard']
    return {n: _u8(n, min(min(photo(n).shape[:2]), 256)) for n in names}


def test_dedup_finds_resized_recompressed_and_brightness_shifted_copies_and_merges_no_distinct_photos(tmp_path):
    """Each copy is dropped as a duplicate of its own original (or the original of the copy: the
    better-scored stays), and no distinct photo is dropped; an exact copy in another format is
    found by its pixels."""
    photos = _distinct_photos()
    d = tmp_path / 'in'
    (d / 'copies').mkdir(parents=True)
    for n, img in photos.items():
        cv2.imwrite(str(d / f'{n}.png'), img)
    a, c, k, r = photos['astronaut'], photos['coffee'], photos['chelsea'], photos['rocket']
    cv2.imwrite(str(d / 'copies' / 'astronaut_small.png'), cv2.resize(a, (160, 160), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(d / 'copies' / 'coffee_q40.jpg'), c, [cv2.IMWRITE_JPEG_QUALITY, 40])
    cv2.imwrite(str(d / 'copies' / 'chelsea_bright.png'), np.clip(k.astype(np.int16) + 30, 0, 255).astype(np.uint8))
    _, buf = cv2.imencode('.jpg', cv2.resize(r, (384, 384), interpolation=cv2.INTER_CUBIC),
                          [cv2.IMWRITE_JPEG_QUALITY, 70])
    (d / 'copies' / 'rocket_big_q70.jpg').write_bytes(buf.tobytes())
    cv2.imwrite(str(d / 'copies' / 'coins_same.bmp'), photos['coins'])
    res = call_cli('dataset', '--input', d, '--output', tmp_path / 'out', '--score', 'sharpness', '--dedup',
                   '--no-report')
    assert res.returncode == 0, res.stderr
    lines = {ln['name']: ln for ln in _manifest(tmp_path / 'out')}
    pairs = {'astronaut': 'copies__astronaut_small', 'coffee': 'copies__coffee_q40',
             'chelsea': 'copies__chelsea_bright',
             'rocket': 'copies__rocket_big_q70', 'coins': 'copies__coins_same'}
    dropped = {n for n, ln in lines.items() if not ln['kept']}
    assert len(dropped) == len(pairs), sorted(dropped)
    for orig, copy in pairs.items():
        o, cp = lines[f'{orig}.png'], lines[f'{copy}.png']
        assert o['kept'] != cp['kept'], (orig, copy)
        gone, stays = (cp, o) if o['kept'] else (o, cp)
        assert gone['duplicate_of'] == stays['name']
        assert gone['scores']['sharpness'] <= stays['scores']['sharpness']  # the better-scored stays
    assert 'same pixels' in lines['copies__coins_same.png']['reason'] or 'same pixels' in lines['coins.png']['reason']
    # the margin: the closest two distinct photos are far beyond the default distance
    from srkit.curation.dedup import DEFAULT_DISTANCE
    hashes = [int(lines[f'{n}.png']['phash'], 16) for n in photos]
    closest = min(bin(x ^ y).count('1') for i, x in enumerate(hashes) for y in hashes[i + 1:])
    assert closest > 2 * DEFAULT_DISTANCE, closest


def test_dedup_index_finds_every_pair_within_the_distance():
    """The banded index returns exactly the pairs a brute-force comparison finds."""
    from srkit.curation.dedup import near_pairs
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2 ** 63, 300, dtype=np.uint64)
    flips = [np.uint64(sum(1 << int(b) for b in rng.choice(64, k, replace=False))) for k in rng.integers(0, 10, 300)]
    hashes = np.unique(np.concatenate([base, base ^ np.array(flips, dtype=np.uint64)]))
    for distance in (0, 3, 6, 9):
        brute = {(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
                 if bin(int(hashes[i]) ^ int(hashes[j])).count('1') <= distance}
        assert near_pairs(hashes, distance) == brute and (distance == 0 or brute)


def _curation_input(root, n: int = 6) -> None:
    (root / 'sub').mkdir(parents=True)
    names = ['astronaut', 'coffee', 'chelsea', 'rocket', 'retina', 'immunohistochemistry'][:n]
    for i, nm in enumerate(names):
        cv2.imwrite(str(root / ('sub' if i % 2 else '') / f'{nm}.png'), _u8(nm, 192))
    cv2.imwrite(str(root / 'sub' / 'astronaut_q20.jpg'), _u8('astronaut', 192), [cv2.IMWRITE_JPEG_QUALITY, 20])


def test_keep_rules_record_each_tiles_decision_and_reason(tmp_path):
    _curation_input(tmp_path / 'in')
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'out', '--tile', 96, '--step', 64,
                 '--score', 'sharpness,noise,colourfulness,clipping,complexity', '--keep', 'sharpness>p25',
                 '--keep', 'noise<3.5', '--dedup')
    assert r.returncode == 0, r.stderr
    lines = _manifest(tmp_path / 'out')
    sharp = np.array([ln['scores']['sharpness'] for ln in lines])
    p25 = float(np.percentile(sharp, 25))
    assert f'sharpness>p25: threshold {p25:.4g}' in r.stdout
    for ln in lines:
        assert set(ln) >= {'name', 'source', 'box', 'scores', 'kept', 'reason'}
        s = ln['scores']
        if s['sharpness'] <= p25:
            assert not ln['kept'] and ln['reason'].startswith('sharpness ') and 'p25' in ln['reason']
        elif s['noise'] >= 3.5:
            assert not ln['kept'] and ln['reason'].startswith('noise ')
        elif ln['kept']:
            assert ln['reason'] == 'kept'
        else:
            assert ln['reason'].startswith('duplicate of ')
    kept = sorted(ln['name'] for ln in lines if ln['kept'])
    assert kept and sorted(p.name for p in (tmp_path / 'out').glob('*.png')) == kept
    assert (tmp_path / 'out' / 'meta_info.txt').read_text().split() == kept
    report = (tmp_path / 'out' / 'report.html').read_text()
    assert 'sharpness&gt;p25' in report and report.count('<svg') == 5 and 'data:image/png;base64' in report
    md = (tmp_path / 'out' / 'report.md').read_text()
    assert '| kept |' in md and (tmp_path / 'out' / 'report_files' / 'hist_noise.svg').is_file()
    assert not (tmp_path / 'out' / '.srkit-dataset').exists()


def _same_output(a, b) -> None:
    assert (a / 'manifest.jsonl').read_bytes() == (b / 'manifest.jsonl').read_bytes()
    names = sorted(p.name for p in a.glob('*.png'))
    assert names == sorted(p.name for p in b.glob('*.png')) and names
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


def test_workers_and_shards_give_the_result_of_one_process(tmp_path):
    _curation_input(tmp_path / 'in')
    args = ['--input', tmp_path / 'in', '--tile', 96, '--step', 48, '--score', 'sharpness,piqe', '--keep',
            'piqe<p80', '--dedup', 'phash:8', '--no-report']
    assert call_cli('dataset', *args, '--output', tmp_path / 'one').returncode == 0
    r = call_cli('dataset', *args, '--output', tmp_path / 'two', '--workers', 2)
    assert r.returncode == 0, r.stderr
    _same_output(tmp_path / 'one', tmp_path / 'two')
    for i in range(3):
        r = call_cli('dataset', *args, '--output', tmp_path / 'sh', '--shard', f'{i}/3')
        assert r.returncode == 0 and f'shard {i}/3' in r.stdout, r.stderr
    assert 'run the same command without --shard' in r.stdout
    assert not (tmp_path / 'sh' / 'manifest.jsonl').exists()
    r = call_cli('dataset', *args, '--output', tmp_path / 'sh')
    assert r.returncode == 0 and '7 done by an earlier run' in r.stdout, r.stdout
    _same_output(tmp_path / 'one', tmp_path / 'sh')


def test_killed_anywhere_the_same_command_resumes_to_a_clean_runs_result(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT, kill_when
    _curation_input(tmp_path / 'in')
    args = ['--input', str(tmp_path / 'in'), '--tile', '64', '--step', '32', '--score', 'sharpness,complexity',
            '--keep', 'complexity>p20', '--dedup']
    assert call_cli('dataset', *args, '--output', tmp_path / 'clean').returncode == 0
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'srkit.cli.dataset', *args, '--output', str(tmp_path / 'k')]
    log = tmp_path / 'k' / '.srkit-dataset' / 'scores.jsonl'
    for lines in (40, 150):  # mid-unit and later
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_when(p, lambda n=lines: log.exists() and log.read_bytes().count(b'\n') >= n)
    assert not (tmp_path / 'k' / 'manifest.jsonl').exists()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and 'done by an earlier run' in r.stdout, r.stderr
    _same_output(tmp_path / 'clean', tmp_path / 'k')
    assert (tmp_path / 'k' / 'report.html').read_text() == (tmp_path / 'clean' / 'report.html').read_text()


def test_lmdb_output_is_basicsrs_layout_and_trains(tmp_path):
    from srkit.data.storage import open_storage
    _curation_input(tmp_path / 'in', 3)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'c.lmdb', '--tile', 96,
                 '--score', 'sharpness', '--keep', 'sharpness>p30')
    assert r.returncode == 0 and '(LMDB)' in r.stdout, r.stderr
    lines = _manifest(tmp_path / 'c.lmdb')
    kept = sorted(ln['name'][:-4] for ln in lines if ln['kept'])
    st = open_storage(str(tmp_path / 'c.lmdb'), 'lmdb')
    assert sorted(st.keys) == kept and len(kept) < len(lines)
    for ln in lines:
        if ln['kept']:
            t, left, h, w = ln['box']
            src = cv2.imread(str(next((tmp_path / 'in').rglob(ln['name'].rsplit('_s', 1)[0].split('__')[-1] + '.*'))))
            assert np.array_equal(np.rint(st.read(ln['name'][:-4]) * 255).astype(np.uint8)[..., ::-1],
                                  src[t:t + h, left:left + w])
    assert not (tmp_path / 'c.lmdb.parts').exists() and (tmp_path / 'c.lmdb' / 'report.html').is_file()
    del st  # LMDB opens an environment once per process: closed when collected, for the training below
    import gc
    gc.collect()
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'c.lmdb', '--tile', 96,
                 '--score', 'sharpness', '--keep', 'sharpness>p30')
    assert r.returncode == 0 and 'already complete' in r.stdout
    # srkit-train reads the curated LMDB, and the curated folder, as they are
    from conftest import tiny_options, write_yaml
    assert call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'c', '--tile', 96,
                    '--no-report').returncode == 0
    for root, backend in ((tmp_path / 'c.lmdb', 'lmdb'), (tmp_path / 'c', 'disk')):
        opt = tiny_options(tmp_path, tmp_path, **{'datasets.train.dataroot_gt': str(root),
                                                  'datasets.train.io_backend.type': backend, 'val': None,
                                                  'datasets.val': None, 'train.total_iter': 2, 'name': backend})
        r = call_cli('train', '-opt', write_yaml(tmp_path / f'{backend}.yml', opt), '--quiet')
        assert r.returncode == 0, r.stderr[-600:]
        log = next((tmp_path / 'exp' / backend).glob('train_*.log')).read_text()
        n = len(kept) if backend == 'lmdb' else len(_manifest(tmp_path / 'c'))
        assert f'| {n} training images,' in log, log[:2000]


def test_video_frames_every_n_and_at_scene_changes(tmp_path):
    (tmp_path / 'in').mkdir()
    path = str(tmp_path / 'in' / 'clip.avi')
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (128, 96))
    a, c = _u8('astronaut', 256), _u8('coffee', 256)
    for i in range(40):
        src = a if i < 25 else c
        vw.write(np.ascontiguousarray(src[40 + i:136 + i, 40:168]))  # a slow pan, then a cut
    vw.release()
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'every', '--frame-every', 10,
                 '--no-report')
    assert r.returncode == 0, r.stderr
    assert sorted(ln['name'] for ln in _manifest(tmp_path / 'every')) == [
        f'clip_f{i:06d}.png' for i in (0, 10, 20, 30)]
    r = call_cli('dataset', '--input', path, '--output', tmp_path / 'scene', '--scene-change', 20, '--no-report')
    assert r.returncode == 0, r.stderr
    lines = _manifest(tmp_path / 'scene')
    assert [ln['name'] for ln in lines] == ['clip_f000000.png', 'clip_f000025.png']
    assert lines[1]['source'].endswith('clip.avi#frame=25')
    frame = cv2.imread(str(tmp_path / 'scene' / 'clip_f000025.png'))
    assert np.abs(frame.astype(int) - c[65:161, 40:168]).mean() < 6  # MJPG's loss only


def test_bad_requests_are_one_line_before_anything_is_written(tmp_path):
    _curation_input(tmp_path / 'in', 2)
    (tmp_path / 'user').mkdir()
    (tmp_path / 'user' / 'notes.txt').write_text('mine')
    cases = [
        (['--tile', 64, '--best-tile', 64], 'choose one'),
        (['--tile', 4], 'between 8 and'),
        (['--step', 10], 'only with --tile'),
        (['--tile', 64, '--step', 3], 'in over 256 tiles'),
        (['--score', 'sharpness', '--keep', 'noise<3'], 'not among the scores of --score'),
        (['--score', 'sharpness', '--keep', 'sharpness=3'], 'expected NAME<VALUE'),
        (['--score', 'sharpness', '--keep', 'sharpness>p101'], 'between p0 and p100'),
        (['--score', 'nosuchscore'], '--score nosuchscore: unknown'),
        (['--dedup', 'phash:40'], 'the distance is 0 to 10'),
        (['--score', 'sharpness', '--keep', 'sharpness<1e999'], 'must be a finite number'),
        (['--device', 'foo'], '--device'),
        (['--input', tmp_path / 'in' / 'sub'], 'lies inside the input'),
        (['--format', 'lmdb'], 'ends with .lmdb'),
        (['--dedup', 'md5'], 'expected exact, phash or phash:DIST'),
    ]
    for extra, msg in cases:
        r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', *extra)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count('\n') == 1, (extra, r.stderr)
        assert not (tmp_path / 'o').exists()
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'run.json').write_text('{"method": "bicubic", "scale": 4, "seed": 0, "options": {}}')
    for out, msg in [(tmp_path / 'in' / 'x', 'lies inside the input'), (tmp_path / 'user', 'did not write'),
                     (tmp_path / 'user' / 'notes.txt', 'not a folder'),
                     (tmp_path / 'other', 'not the run settings srkit-dataset writes')]:
        r = call_cli('dataset', '--input', tmp_path / 'in', '--output', out)
        assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path / 'user')) == ['notes.txt'] and os.listdir(tmp_path / 'other') == ['run.json']
    for env, msg in [({'RANK': 'x'}, 'expected integers'), ({'RANK': '0', 'WORLD_SIZE': '0'}, 'need 0 <= RANK'),
                     ({'RANK': '3', 'WORLD_SIZE': '2'}, 'need 0 <= RANK')]:
        r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', env=env)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count('\n') == 1, (env, r.stderr)
        assert not (tmp_path / 'o').exists()
    (tmp_path / '.olk.lock').write_text('precious')  # a user's file where the lock goes: kept, one line
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'olk')
    assert r.returncode == 2 and 'not a lock srkit wrote' in r.stderr
    assert (tmp_path / '.olk.lock').read_text() == 'precious'
    assert call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o2', '--no-report').returncode == 0
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o2', '--tile', 64)
    assert r.returncode == 2 and 'holds a curation made with another tile (None, now 64)' in r.stderr


def test_unreadable_bombs_and_odd_names_are_reported_and_the_rest_curated(tmp_path):
    from conftest import png_bomb
    d = tmp_path / 'in'
    _curation_input(d, 2)
    (d / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
    (d / 'cut.jpg').write_bytes(cv2.imencode('.jpg', _u8('coffee', 64))[1].tobytes()[:300])
    png_bomb(d / 'bomb.png', 60000)
    os.mkfifo(d / 'fifo.png')
    odd = 'odd name #1 – ü.png'
    cv2.imwrite(str(d / 'x.png'), _u8('rocket', 96))
    os.rename(d / 'x.png', d / odd)
    r = call_cli('dataset', '--input', d, '--output', tmp_path / 'out', '--score', 'sharpness', '--no-report')
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    for bad in ('broken.png', 'cut.jpg', 'bomb.png', 'fifo.png'):  # each one line, and the run goes on
        assert sum(str(d / bad) in ln for ln in r.stderr.splitlines()) == 1, (bad, r.stderr)
    assert 'decompression bomb' in r.stderr and 'fifo.png: not a regular file' in r.stderr
    names = {ln['name'] for ln in _manifest(tmp_path / 'out')}
    assert names == {'astronaut.png', 'sub__coffee.png', 'sub__astronaut_q20.png', odd}
    assert (tmp_path / 'out' / odd).is_file()


def test_a_second_writer_is_refused_and_a_full_disk_is_one_line_then_resumes(tmp_path, small_disk):
    import shutil
    import subprocess
    import sys
    from conftest import ROOT
    _curation_input(tmp_path / 'in', 3)
    disk = small_disk(200)
    args = ['--input', str(tmp_path / 'in'), '--tile', '64', '--score', 'sharpness', '--no-report']
    r = call_cli('dataset', *args, '--output', disk / 'out')
    assert r.returncode == 2 and 'no space left on' in r.stderr and r.stderr.strip().count('\n') == 0, r.stderr
    assert not list((disk / 'out').rglob('*.tmp')) and not (disk / 'out' / 'manifest.jsonl').exists()
    shutil.copytree(disk / 'out', tmp_path / 'moved')  # space freed: the same command finishes
    r = call_cli('dataset', *args, '--output', tmp_path / 'moved')
    assert r.returncode == 0 and 'done by an earlier run' in r.stdout, r.stderr
    assert call_cli('dataset', *args, '--output', tmp_path / 'clean').returncode == 0
    _same_output(tmp_path / 'clean', tmp_path / 'moved')
    # two writers: the second is refused while the first holds the folder
    # the holder keeps the lock until its stdin closes (or it is killed below)
    p = subprocess.Popen([sys.executable, '-c', 'import sys; from srkit.utils.fileio import folder_lock\n'
                          f'with folder_lock({str(tmp_path / "busy")!r}, "srkit-dataset"):\n'
                          '    print("held", flush=True); sys.stdin.read()'],
                         env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == 'held'
        r = call_cli('dataset', *args, '--output', tmp_path / 'busy')
        assert r.returncode == 2 and f'(pid {p.pid}' in r.stderr and 'is writing it' in r.stderr, r.stderr
    finally:
        p.kill()
        p.wait()


def test_missing_weights_of_a_learned_scorer_is_one_line_naming_the_file(tmp_path):
    _curation_input(tmp_path / 'in', 1)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', '--score', 'hyperiqa',
                 env={'TORCH_HOME': str(tmp_path / 'home'), 'HF_HOME': str(tmp_path / 'hf'), 'SRKIT_OFFLINE': '1'})
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
    assert 'hyperiqa weights are missing' in r.stderr
    assert not (tmp_path / 'o').exists()


def test_a_pyiqa_scorer_with_its_file_in_the_cache_scores_as_pyiqa_does(tmp_path, monkeypatch):
    """MUSIQ by its pyiqa name, a random weight file where pyiqa keeps it: srkit-dataset's scores
    (batched) are pyiqa's own metric's on each tile, and the file is read without unpickling."""
    import pyiqa
    import pyiqa.utils.download_util as dl
    from pyiqa.archs.musiq_arch import MUSIQ, default_model_urls
    cache = tmp_path / 'torch_home' / 'hub' / 'pyiqa'
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setattr(dl, 'DEFAULT_CACHE_DIR', str(cache))  # pyiqa fixed it at import; follow TORCH_HOME
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(MUSIQ(pretrained=False).state_dict(), cache / os.path.basename(default_model_urls['koniq10k']))
    _curation_input(tmp_path / 'in', 2)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', '--tile', 96, '--score', 'musiq',
                 '--batch', 3, '--keep', 'musiq>p50', '--no-report', env={'SRKIT_OFFLINE': '1'})
    assert r.returncode == 0, r.stderr
    m = pyiqa.create_metric('musiq', device='cpu')
    lines = _manifest(tmp_path / 'o')
    assert len(lines) == 12 and sum(ln['kept'] for ln in lines) == 6
    for ln in lines[::3]:
        t, left, h, w = ln['box']
        src = next((tmp_path / 'in').rglob(ln['name'].rsplit('_s', 1)[0].split('__')[-1] + '.*'))
        tile = cv2.imread(str(src))[t:t + h, left:left + w, ::-1].astype(np.float32) / 255
        with torch.no_grad():
            ref = float(m(torch.from_numpy(tile.copy()).permute(2, 0, 1)[None]))
        assert ln['scores']['musiq'] == pytest.approx(ref, abs=1e-4), ln['name']


def test_blockiness_is_the_published_estimators_and_rises_as_jpeg_quality_falls(tmp_path):
    """Bhardwaj and Pankajakshan's D equals the DiverSeg code (shipped in torch_jpeg_blockiness,
    the numbers behind published "blockiness < 30" filtering) on JPEGs of known quality, odd
    sizes included; it rises as the quality falls, and sits where DiverSeg's published DF2K values
    do: clean photos near 1, q95 under 30, q50 far above."""
    from torch_jpeg_blockiness.original_blockiness import DCT, process_image
    from srkit.metrics.noref import blockiness
    dct = DCT()
    for name in ('astronaut', 'coffee', 'chelsea'):
        img = _u8(name)
        ds = []
        for q in (None, 95, 90, 75, 50, 30, 10):
            x = img if q is None else cv2.imdecode(cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 1)
            for crop in (x, x[:100, :93]):
                ref = process_image(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), dct)
                ours = blockiness(crop[..., ::-1].astype(np.float32) / 255)
                assert ours == pytest.approx(ref, rel=1e-9), (name, q)
            ds.append(blockiness(x[..., ::-1].astype(np.float32) / 255))
        assert ds == sorted(ds), (name, ds)
        assert ds[0] < 5 and ds[1] < 30 < ds[4], (name, ds)
    assert np.isnan(blockiness(np.full((64, 64, 3), 0.5, np.float32)))  # flat: no variation to compare
    assert np.isnan(blockiness(np.random.default_rng(0).random((35, 64, 3), np.float32)))  # under 36 px
    # through the tool: tiles on the 8 px grid keep JPEG's blocks where the measure sees them
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'q20.jpg'), _u8('astronaut', 256), [cv2.IMWRITE_JPEG_QUALITY, 20])
    cv2.imwrite(str(tmp_path / 'in' / 'clean.png'), _u8('astronaut', 256))
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', '--tile', 128, '--score',
                 'blockiness', '--keep', 'blockiness<30', '--no-report')
    assert r.returncode == 0, r.stderr
    kept = sorted(ln['name'] for ln in _manifest(tmp_path / 'o') if ln['kept'])
    assert kept == [f'clean_s00{i}.png' for i in range(1, 5)]


def _seeded_icnet_weights(net) -> dict:
    """Deterministic weights for every key of IC9600's ICNet (fan-in scaled, BN near identity)."""
    rng = np.random.default_rng(9600)
    sd = {}
    for k, v in sorted(net.state_dict().items()):
        if v.dtype == torch.long:
            sd[k] = v.clone()
        elif k.endswith('running_var'):
            sd[k] = torch.from_numpy(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
        elif v.dim() >= 2:
            sd[k] = torch.from_numpy((rng.standard_normal(v.shape) / np.sqrt(np.prod(v.shape[1:]))).astype(np.float32))
        elif k.endswith('.weight'):
            sd[k] = torch.from_numpy((1 + 0.1 * rng.standard_normal(v.shape)).astype(np.float32))
        else:
            sd[k] = torch.from_numpy((0.1 * rng.standard_normal(v.shape)).astype(np.float32))
    return sd


def test_ic9600_is_the_authors_icnet_and_scores_tiles_from_the_cached_file(tmp_path, monkeypatch):
    """srkit's ICNet has the released file's 246 keys and, on seeded weights, gives the scores the
    authors' ICNet.py (tinglyfeng/IC9600 3891e25, run once beside this test: not redistributable)
    gave on the same inputs; srkit-dataset --score ic9600 reads the file from torch hub's cache, and
    without it says which file goes where."""
    from srkit.metrics import ic9600
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    _curation_input(tmp_path / 'in', 1)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'none', '--score', 'ic9600',
                 env={'SRKIT_OFFLINE': '1'})
    path, url = ic9600.weight_path()
    assert r.returncode == 2 and f'put ic9600.pth (from {url}) at {path}' in r.stderr, r.stderr
    net = ic9600.ICNet().eval()
    sd = _seeded_icnet_weights(net)
    assert len(sd) == 246
    net.load_state_dict(sd)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 512, 512, generator=g)
    x[1] = x[1] * 0.2 + 0.4
    x = torch.cat([x, torch.full((1, 3, 512, 512), 0.5)])
    with torch.no_grad():
        score, cmap = net(ic9600.prepare(x))
    # the authors' ICNet on the same weights and inputs: 0.0 difference in this session's probe
    assert score.tolist() == pytest.approx([0.47971779108047485, 0.5085839033126831, 0.5113010406494141], abs=1e-6)
    assert cmap.shape == (3, 1, 64, 64)
    assert cmap.mean((1, 2, 3)).tolist() == pytest.approx([0.3253668, 0.4294602, 0.4373441], abs=1e-6)
    os.makedirs(os.path.dirname(path))
    torch.save(sd, path)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'o', '--tile', 96, '--score',
                 'ic9600', '--keep', 'ic9600>p50', '--no-report', env={'SRKIT_OFFLINE': '1'})
    assert r.returncode == 0, r.stderr
    lines = _manifest(tmp_path / 'o')
    assert sum(ln['kept'] for ln in lines) == len(lines) // 2
    for ln in lines[::5]:
        t, left, h, w = ln['box']
        src = next((tmp_path / 'in').rglob(ln['name'].rsplit('_s', 1)[0].split('__')[-1] + '.*'))
        tile = torch.from_numpy(cv2.imread(str(src))[t:t + h, left:left + w, ::-1].astype(np.float32) / 255)
        with torch.no_grad():
            ref = float(net(ic9600.prepare(tile.permute(2, 0, 1)[None]))[0])
        assert ln['scores']['ic9600'] == pytest.approx(ref, abs=2e-6)


def test_an_lmdb_stopped_between_its_pack_and_its_settings_file_resumes(tmp_path, monkeypatch):
    """A stop after the LMDB is packed and before run.json is beside it (a kill's window): the same
    request finishes, to what a clean run writes; --format lmdb needs a .lmdb name, refused first."""
    import srkit.curation as cur
    from srkit.curation import CurateRequest, curate
    _curation_input(tmp_path / 'in', 2)
    r = call_cli('dataset', '--input', tmp_path / 'in', '--output', tmp_path / 'x', '--format', 'lmdb')
    assert r.returncode == 2 and 'ends with .lmdb' in r.stderr and not (tmp_path / 'x').exists()
    req = dict(input=[str(tmp_path / 'in')], tile=96, score=['sharpness'], keep=['sharpness>p20'], report=False)
    curate(CurateRequest(output=str(tmp_path / 'clean.lmdb'), **req))

    class Killed(BaseException):
        pass

    def stop(*a, **k):
        raise Killed
    with monkeypatch.context() as m:
        m.setattr(cur.shutil, 'copyfile', stop)
        with pytest.raises(Killed):
            curate(CurateRequest(output=str(tmp_path / 'k.lmdb'), **req))
    assert (tmp_path / 'k.lmdb' / 'meta_info.txt').is_file() and not (tmp_path / 'k.lmdb' / 'run.json').exists()
    res = curate(CurateRequest(output=str(tmp_path / 'k.lmdb'), **req))
    assert res.finished and not (tmp_path / 'k.lmdb.parts').exists()
    for f in ('manifest.jsonl', 'meta_info.txt'):
        assert (tmp_path / 'k.lmdb' / f).read_bytes() == (tmp_path / 'clean.lmdb' / f).read_bytes(), f


def test_names_that_would_collide_or_break_meta_info_are_refused_before_any_work(tmp_path):
    """``sub/x`` and ``sub__x`` (both tiles ``sub__x_s001``), an image named like a video's frame, a line
    break in a name: one line each, nothing written; a video's source names its file once."""
    def case(files: dict, msg: str):
        d = tmp_path / f'in{len(list(tmp_path.iterdir()))}'
        for rel, img in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith('.avi'):
                vw = cv2.VideoWriter(str(d / rel), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
                for i in range(40):
                    vw.write(np.ascontiguousarray(img[i:i + 48, :64]))
                vw.release()
            else:
                cv2.imwrite(str(d / rel), img)
        r = call_cli('dataset', '--input', d, '--output', tmp_path / 'out')
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count('\n') == 1, r.stderr
        assert not (tmp_path / 'out').exists()
        return d
    a, c = _u8('astronaut', 128), _u8('coffee', 128)
    case({'sub__x.png': a, 'sub/x.png': c}, 'would give their tiles the same names (sub__x_...)')
    case({'clip.avi': a, 'clip_f000030.png': c}, 'has the name of a frame of the video')
    case({'new\nline.png': a}, 'a line break in the name')
    d = tmp_path / 'mixed'
    d.mkdir()
    cv2.imwrite(str(d / 'a.png'), c)
    vw = cv2.VideoWriter(str(d / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
    for i in range(3):
        vw.write(np.ascontiguousarray(a[i:i + 48, :64]))
    vw.release()
    r = call_cli('dataset', '--input', d, '--output', tmp_path / 'mixed_out', '--no-report')
    assert r.returncode == 0, r.stderr
    sources = {ln['name']: ln['source'] for ln in _manifest(tmp_path / 'mixed_out')}
    assert sources == {'a.png': str(d / 'a.png'), 'clip_f000000.png': str(d / 'clip.avi') + '#frame=0'}


def test_a_rerun_of_a_finished_run_reports_what_it_left_out_again(tmp_path):
    d = tmp_path / 'in'
    _curation_input(d, 2)
    (d / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
    cv2.imwrite(str(d / 'tiny.png'), _u8('coffee', 40))
    args = ['--input', d, '--output', tmp_path / 'o', '--tile', 64, '--no-report']
    first, again = call_cli('dataset', *args), call_cli('dataset', *args)
    assert first.returncode == again.returncode == 1 and 'already complete' in again.stdout
    for r in (first, again):
        assert 'broken.png' in r.stderr and '1 images smaller than the tile' in r.stdout, r.stdout + r.stderr
    left = [json.loads(x) for x in (tmp_path / 'o' / 'left_out.jsonl').read_text().splitlines()]
    assert [sorted(e) for e in left] == [['end', 'failed', 'unit'], ['end', 'skipped', 'unit']]
