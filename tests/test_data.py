import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from srkit.compat import import_basicsr
from srkit.data.datasets import PairedImageDataset, SingleHRDataset
from srkit.data.lmdb_writer import make_lmdb, verify_lmdb
from srkit.data.storage import LmdbStorage, open_storage
from srkit.errors import DataError, UserError
from srkit.options import parse_dataclass
from srkit.utils.imgio import decode, read_bytes, read_image, write_image
from conftest import ROOT, call_cli, kill_when, photo


# ------------------------------------------------------------------ image I/O

def test_decode_rgb_gray_rgba_and_16bit(tmp_path):
    rgb = photo('astronaut')[:40, :50]
    bgr8 = (rgb[:, :, ::-1] * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'rgb.png'), bgr8)
    d = decode(read_bytes(str(tmp_path / 'rgb.png')), 'rgb.png')
    assert d.rgb.dtype == np.float32 and d.rgb.shape == (40, 50, 3) and d.bit_depth == 8
    # channel order: cv2 stores BGR, srkit returns RGB
    np.testing.assert_allclose(d.rgb, bgr8[:, :, ::-1] / 255.0, atol=1e-7)

    cv2.imwrite(str(tmp_path / 'gray.png'), bgr8[:, :, 0])
    g = decode(read_bytes(str(tmp_path / 'gray.png')), 'gray.png')
    assert g.channels == 1 and np.array_equal(g.rgb[:, :, 0], g.rgb[:, :, 2])

    bgra = np.dstack([bgr8, np.full((40, 50), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / 'rgba.png'), bgra)
    a = decode(read_bytes(str(tmp_path / 'rgba.png')), 'rgba.png')
    assert a.channels == 4 and a.alpha.shape == (40, 50)
    np.testing.assert_allclose(a.alpha, 128 / 255.0, atol=1e-7)
    np.testing.assert_allclose(a.rgb, d.rgb, atol=1e-7)

    b16 = (rgb[:, :, ::-1] * 65535).round().astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'deep.png'), b16)
    h = decode(read_bytes(str(tmp_path / 'deep.png')), 'deep.png')
    assert h.bit_depth == 16
    np.testing.assert_allclose(h.rgb, b16[:, :, ::-1] / 65535.0, atol=1e-7)
    write_image(str(tmp_path / 'deep_out.png'), h.rgb, bit_depth=16)
    assert np.array_equal(cv2.imread(str(tmp_path / 'deep_out.png'), cv2.IMREAD_UNCHANGED), b16)


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_truncated_image_names_the_file(tmp_path, ext):
    img = (photo('coffee')[:64, :64] * 255).astype(np.uint8)
    ok, buf = cv2.imencode(ext, img)
    p = tmp_path / f'cut{ext}'
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(DataError, match=str(p)):
        read_image(str(p))
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(DataError, match='empty.png: empty file'):
        read_image(str(tmp_path / 'empty.png'))


# ---------------------------------------------------------------------- LMDB

def _decode_cv2(buf):
    return cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)


def test_srkit_lmdb_reads_in_basicsr_file_client(photos_dir, tmp_path):
    out = str(tmp_path / 'hr.lmdb')
    stats = make_lmdb(str(photos_dir / 'hr'), out, workers=2)
    assert stats == {'written': 6, 'skipped': 0, 'total': 6, 'not_files': []}
    meta = open(os.path.join(out, 'meta_info.txt')).read().splitlines()
    assert meta[0] == 'astronaut_0.png (96,96,3) 1'
    FileClient = import_basicsr('basicsr.utils.file_client').FileClient
    client = FileClient('lmdb', db_paths=[out], client_keys=['gt'])
    for name in sorted(os.listdir(photos_dir / 'hr')):
        buf = client.get(os.path.splitext(name)[0], 'gt')
        assert np.array_equal(_decode_cv2(buf), cv2.imread(str(photos_dir / 'hr' / name), cv2.IMREAD_UNCHANGED))


def test_basicsr_lmdb_reads_in_srkit(photos_dir, tmp_path):
    make_lmdb_from_imgs = import_basicsr('basicsr.utils.lmdb_util').make_lmdb_from_imgs
    names = sorted(os.listdir(photos_dir / 'hr'))
    out = str(tmp_path / 'bsr.lmdb')
    make_lmdb_from_imgs(str(photos_dir / 'hr'), out, names, [os.path.splitext(n)[0] for n in names])
    st = open_storage(out, 'lmdb')
    assert isinstance(st, LmdbStorage) and st.keys == [os.path.splitext(n)[0] for n in names]
    for n in names:
        np.testing.assert_array_equal(st.read(os.path.splitext(n)[0]), read_image(str(photos_dir / 'hr' / n)))


def test_lmdb_map_grows_instead_of_map_full(photos_dir, tmp_path, monkeypatch):
    import srkit.data.lmdb_writer as w
    import lmdb
    real_open = lmdb.open
    # start with a map far too small for the data; the writer must grow it
    monkeypatch.setattr(lmdb, 'open', lambda path, **kw: real_open(path, **{**kw, 'map_size': 64 << 10}))
    out = str(tmp_path / 'small.lmdb')
    w.make_lmdb(str(photos_dir / 'hr'), out, chunk=2)
    monkeypatch.undo()
    assert verify_lmdb(out) == []
    assert len(open_storage(out).keys) == 6


def test_lmdb_verify_reports_bad_record(photos_dir, tmp_path):
    import lmdb
    out = str(tmp_path / 'v.lmdb')
    make_lmdb(str(photos_dir / 'hr'), out)
    env = lmdb.open(out)
    with env.begin(write=True) as txn:
        txn.put(b'coffee_2', b'\x89PNG garbage')
    env.close()
    bad = verify_lmdb(out)
    assert bad == ['coffee_2: record does not decode']
    r = call_cli('lmdb', '--output', out, '--verify')
    assert r.returncode == 1 and 'coffee_2' in r.stderr


def test_lmdb_refuses_existing_and_bad_input(photos_dir, tmp_path):
    out = str(tmp_path / 'e.lmdb')
    make_lmdb(str(photos_dir / 'hr'), out)
    with pytest.raises(UserError, match='already exists'):
        make_lmdb(str(photos_dir / 'hr'), out)
    bad = tmp_path / 'badin'
    bad.mkdir()
    (bad / 'a.png').write_bytes(read_bytes(str(photos_dir / 'hr' / 'coffee_2.png'))[:100])
    r = call_cli('lmdb', '--input', bad, '--output', tmp_path / 'b.lmdb')
    assert r.returncode == 1
    assert r.stderr.strip() == f'srkit-lmdb: error: {bad}/a.png: cannot decode image (unreadable, truncated or not an image)'
    with pytest.raises(DataError, match='incomplete LMDB'):
        open_storage(str(tmp_path / 'b.lmdb'))


def test_lmdb_killed_build_is_refused_then_resumed(tmp_path):
    # enough images that the build is still running when we kill it
    src = tmp_path / 'many'
    base = (photo('astronaut')[:256, :256] * 255).astype(np.uint8)
    for i in range(80):
        cv2.imwrite(str(src / f'{i:03d}.png') if src.exists() else (src.mkdir() or str(src / f'{i:03d}.png')),
                    np.roll(base, i, axis=1))
    out = tmp_path / 'k.lmdb'
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, '-m', 'srkit.cli.lmdb', '--input', str(src), '--output', str(out),
                          '--compress-level', '9'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shapes = out / '.srkit-shapes.jsonl'
    # kill -9 once the first chunk is committed
    kill_when(p, lambda: shapes.exists() and shapes.stat().st_size > 0)
    assert p.returncode == -signal.SIGKILL, 'the build finished before it could be killed'
    with pytest.raises(DataError, match='incomplete LMDB'):
        open_storage(str(out))
    stats = make_lmdb(str(src), str(out), compress_level=9)
    assert stats['skipped'] > 0 and stats['written'] + stats["skipped"] == 80
    assert verify_lmdb(str(out)) == []
    st = open_storage(str(out))
    assert len(st.keys) == 80
    np.testing.assert_array_equal(st.read('017'), read_image(str(src / '017.png')))


# ------------------------------------------------------------------ datasets

def _paired_opt(gt, lq, **kw):
    d = {'name': 'p', 'type': 'PairedImageDataset', 'dataroot_gt': str(gt), 'dataroot_lq': str(lq),
         'gt_size': 16, 'scale': 2, 'use_hflip': True, 'use_rot': True, **kw}
    return parse_dataclass(PairedImageDataset.Options, d, 'datasets.train')


def test_paired_crop_is_aligned_and_seeded(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        gt = np.rint(rng.random((40, 48, 3)) * 255).astype(np.float32) / 255
        write_image(str(tmp_path / 'gt' / f'{i}.png'), gt)
        write_image(str(tmp_path / 'lq' / f'{i}.png'), gt[::2, ::2])
    ds = PairedImageDataset(_paired_opt(tmp_path / 'gt', tmp_path / 'lq', use_hflip=False, use_rot=False))
    for seed in range(20):
        s = ds[(seed % 2, (1, seed))]
        assert s['gt'].shape == (3, 16, 16) and s['lq'].shape == (3, 8, 8)
        # LQ is every 2nd GT pixel, so an aligned crop satisfies gt[::2, ::2] == lq
        torch.testing.assert_close(s['gt'][:, ::2, ::2], s['lq'], rtol=0, atol=1e-6)
    a, b = ds[(0, (1, 5))], ds[(0, (1, 5))]
    assert torch.equal(a['gt'], b['gt'])  # same seed, same sample


def test_augment_applies_one_transform_to_all():
    from srkit.data.transforms import augment
    img = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    seen = set()
    for seed in range(32):
        (a, b), flags = augment([img, img.copy()], True, True, np.random.default_rng(seed))
        assert np.array_equal(a, b)
        seen.add(flags)
        expect = img[:, ::-1] if flags[0] else img
        expect = expect[::-1] if flags[1] else expect
        expect = expect.transpose(1, 0, 2) if flags[2] else expect
        assert np.array_equal(a, expect)
    assert len(seen) == 8  # all dihedral combinations occur


def test_paired_bad_data_errors_name_the_file(tmp_path):
    write_image(str(tmp_path / 'gt' / 'a.png'), np.zeros((40, 40, 3), np.float32))
    write_image(str(tmp_path / 'lq' / 'a.png'), np.zeros((15, 20, 3), np.float32))
    ds = PairedImageDataset(_paired_opt(tmp_path / 'gt', tmp_path / 'lq'))
    with pytest.raises(DataError, match=r'lq/a.png: LQ size 15x20 times scale 2 does not match GT .*gt/a.png size 40x40'):
        ds[0]
    write_image(str(tmp_path / 'gt' / 'b.png'), np.zeros((10, 10, 3), np.float32))
    with pytest.raises(DataError, match=r"no LQ image for GT .*gt/b.png"):
        PairedImageDataset(_paired_opt(tmp_path / 'gt', tmp_path / 'lq'))


def test_single_hr_too_small_and_worker_errors_keep_the_cause(tmp_path):
    write_image(str(tmp_path / 'hr' / 'small.png'), np.zeros((12, 12, 3), np.float32))
    opt = parse_dataclass(SingleHRDataset.Options, {'name': 's', 'type': 'SingleHRDataset', 'scale': 2,
                                                    'dataroot_gt': str(tmp_path / 'hr'), 'gt_size': 16},
                          'datasets.train')
    ds = SingleHRDataset(opt)
    with pytest.raises(DataError, match=r'hr/small.png: image 12x12 is smaller than gt_size 16'):
        ds[0]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=1)
    with pytest.raises(Exception) as e:
        next(iter(loader))
    assert 'small.png: image 12x12 is smaller than gt_size 16' in str(e.value)


def test_single_hr_bicubic_lq_matches_basicsr_imresize(photos_dir):
    imresize = import_basicsr('basicsr.utils.matlab_functions').imresize
    opt = parse_dataclass(SingleHRDataset.Options, {'name': 's', 'type': 'SingleHRDataset', 'scale': 2,
                                                    'phase': 'val', 'dataroot_gt': str(photos_dir / 'hr')},
                          'datasets.val')
    s = SingleHRDataset(opt)[0]
    gt = s['gt'].numpy().transpose(1, 2, 0)
    ref = np.clip(imresize(gt, 0.5), 0, 1)
    np.testing.assert_allclose(s['lq'].numpy().transpose(1, 2, 0), np.rint(ref * 255) / 255, atol=1 / 255 + 1e-6)


def test_sampler_resume_position_and_ddp_split():
    from srkit.data.sampler import ResumableSampler
    s = ResumableSampler(10, seed=3, enlarge=2)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start=8)
    assert list(s) == full[8:]
    parts = []
    for r in range(2):
        d = ResumableSampler(10, seed=3, enlarge=2, num_replicas=2, rank=r)
        d.set_epoch(1)
        parts.append([i for i, _ in d])
    assert sorted(parts[0] + parts[1]) == sorted(i for i, _ in full)
