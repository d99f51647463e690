import json
import os

import cv2
import numpy as np
import pytest
import torch

from srkit.archs import build_network
from srkit.cli import eval as eval_cli
from srkit.cli import infer as infer_cli
from srkit.utils.checkpoint import save_checkpoint
from srkit.utils.imgio import read_image
from conftest import call_cli, photo, write_yaml


@pytest.fixture
def generator(tmp_path):
    cfg = {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}
    torch.manual_seed(0)
    net = build_network(cfg)
    p = str(tmp_path / 'g.pth')
    save_checkpoint({'params': net.state_dict(), 'params_ema': net.state_dict(),
                     'srkit': {'arch': cfg, 'scale': 2, 'iter': 0}}, p)
    return p, net


def test_infer_handles_rgb_gray_rgba_16bit_and_skips_bad(tmp_path, generator):
    path, net = generator
    src = tmp_path / 'in'
    src.mkdir()
    rgb8 = (photo('astronaut')[:20, :24, ::-1] * 255).astype(np.uint8)
    cv2.imwrite(str(src / 'rgb.png'), rgb8)
    cv2.imwrite(str(src / 'gray.png'), rgb8[:, :, 0])
    cv2.imwrite(str(src / 'rgba.png'), np.dstack([rgb8, np.full((20, 24), 200, np.uint8)]))
    cv2.imwrite(str(src / 'deep.png'), rgb8.astype(np.uint16) * 257)
    (src / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    out = tmp_path / 'out'
    code = infer_cli.main.run(['--model', path, '--input', str(src), '--output', str(out)])
    assert code == 1  # one failure reported, the others written
    assert sorted(os.listdir(out)) == ['deep.png', 'gray.png', 'rgb.png', 'rgba.png']
    rgb = cv2.imread(str(out / 'rgb.png'), cv2.IMREAD_UNCHANGED)
    assert rgb.shape == (40, 48, 3) and rgb.dtype == np.uint8
    with torch.no_grad():
        x = torch.from_numpy(rgb8[:, :, ::-1].transpose(2, 0, 1) / 255.0).float()[None]
        expect = net.eval()(x).clamp(0, 1)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(read_image(str(out / 'rgb.png')), expect, atol=0.5 / 255 + 1e-6)
    deep = cv2.imread(str(out / 'deep.png'), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (40, 48, 3)
    rgba = cv2.imread(str(out / 'rgba.png'), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (40, 48, 4) and np.all(rgba[:, :, 3] == 200)


def test_eval_json_and_mismatched_sets(tmp_path, photos_dir):
    sr = tmp_path / 'sr'
    assert infer_cli.main.run(['--model', 'bicubic', '--scale', '2', '--input', str(photos_dir / 'lr_x2'),
                               '--output', str(sr)]) == 0
    js = tmp_path / 'm.json'
    assert eval_cli.main.run(['--sr', str(sr), '--gt', str(photos_dir / 'hr'), '--scale', '2',
                              '--lq', str(photos_dir / 'lr_x2'), '--json', str(js)]) == 0
    res = json.loads(js.read_text())
    assert list(res['models']) == ['bicubic', 'sr'] and 'crop_border=2' in res['convention']
    assert len(res['models']['sr']['images']) == 6
    # the bicubic baseline computed from --lq equals the bicubic SR we wrote
    assert res['models']['sr']['mean']['psnr'] == pytest.approx(res['models']['bicubic']['mean']['psnr'], abs=1e-6)
    os.remove(sr / 'coffee_2.png')
    r = call_cli('eval', '--sr', sr, '--gt', photos_dir / 'hr', '--scale', 2)
    assert r.returncode == 1
    assert r.stderr.strip() == f'srkit-eval: error: mismatched file sets: no image in --sr {sr} for 1 GT image(s): coffee_2'
    r = call_cli('eval', '--sr', sr, '--gt', photos_dir / 'hr', '--scale', 3)
    assert r.returncode == 2 or r.returncode == 1
    assert 'mismatched' in r.stderr or 'does not match' in r.stderr


def test_eval_size_mismatch_names_the_file(tmp_path, photos_dir):
    sr = tmp_path / 'sr'
    sr.mkdir()
    gt = tmp_path / 'gt'
    gt.mkdir()
    cv2.imwrite(str(sr / 'a.png'), np.zeros((40, 40, 3), np.uint8))
    cv2.imwrite(str(gt / 'a.png'), np.zeros((48, 40, 3), np.uint8))
    r = call_cli('eval', '--sr', sr, '--gt', gt, '--scale', 2)
    assert r.returncode == 1 and r.stderr.strip() == (
        f'srkit-eval: error: {gt}/a.png: size 48x40 does not match {sr}/a.png (40x40) at scale 2')


@pytest.mark.slow
def test_srresnet_x2_learns_to_beat_bicubic_on_unseen_photos(tmp_path):
    """A small SRResNet x2, a few hundred CPU iterations on the built-in photos,
    must beat bicubic PSNR (Y, crop 2) on held-out photos it never saw."""
    import subprocess
    import sys
    from conftest import ROOT
    data = tmp_path / 'data'
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'make_demo_data.py'), str(data),
                    '--max-side', '320', '--scales', '2'], check=True, capture_output=True)
    opt = {
        'name': 'learn', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {'name': 'p', 'type': 'SingleHRDataset', 'dataroot_gt': str(data / 'hr_train'),
                               'gt_size': 48, 'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 1,
                               'batch_size_per_gpu': 8, 'dataset_enlarge_ratio': 50}},
        'network_g': {'type': 'MSRResNet', 'num_feat': 32, 'num_block': 4, 'upscale': 2},
        'path': {'experiments_root': str(tmp_path / 'exp')},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [400], 'eta_min': 1e-5},
                  'total_iter': 400, 'pixel_opt': {'type': 'L1Loss'}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': 400, 'use_tb_logger': False},
    }
    from srkit.cli import train as train_cli
    assert train_cli.main.run(['-opt', write_yaml(tmp_path / 'l.yml', opt), '--quiet']) == 0
    sr = tmp_path / 'sr'
    assert infer_cli.main.run(['--model', str(tmp_path / 'exp' / 'learn' / 'models' / 'net_g_400.pth'),
                               '--input', str(data / 'lr_val_x2'), '--output', str(sr)]) == 0
    js = tmp_path / 'm.json'
    assert eval_cli.main.run(['--sr', f'srresnet={sr}', '--gt', str(data / 'hr_val'), '--scale', '2',
                              '--lq', str(data / 'lr_val_x2'), '--json', str(js)]) == 0
    res = json.loads(js.read_text())['models']
    sr_mean, bic_mean = res['srresnet']['mean']['psnr'], res['bicubic']['mean']['psnr']
    print(f"SRResNet x2 {sr_mean:.3f} dB vs bicubic {bic_mean:.3f} dB")
    assert sr_mean - bic_mean > 0.3, res
    bic = {r['name']: r['psnr'] for r in res['bicubic']['images']}
    assert all(r['psnr'] > bic[r['name']] for r in res['srresnet']['images']), res


def test_extract_subimages_matches_basicsr_grid(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    sys.path.insert(0, os.path.join(ROOT, 'scripts', 'data'))
    from extract_subimages import starts
    # BasicSR: range(0, h - crop + 1, step), plus a flush last crop if > thresh is left
    assert starts(1356, 480, 240, 0) == [0, 240, 480, 720, 876]
    assert starts(960, 480, 240, 0) == [0, 240, 480]
    assert starts(2040, 120, 60, 0)[-1] == 1920
    src = tmp_path / 'hr'
    src.mkdir()
    img = (np.random.default_rng(0).random((700, 1000, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(src / '0001.png'), img)
    out = tmp_path / 'sub'
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'data', 'extract_subimages.py'),
                    '--input', str(src), '--output', str(out), '--workers', '1'], check=True, capture_output=True)
    names = sorted(os.listdir(out))
    assert len(names) == 2 * 4 and names[0] == '0001_s001.png'  # rows [0, 220]; cols [0, 240, 480, 520]
    last = cv2.imread(str(out / '0001_s008.png'))
    assert np.array_equal(last, img[220:700, 520:1000])
