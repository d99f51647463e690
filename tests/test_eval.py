"""srkit-eval as users run it: reports comparing checkpoints, metrics against their oracles
(basicsr's PSNR/SSIM/NIQE, pyiqa's own LPIPS and FID objects on the same weight files),
the offline-weights partial report, --degrade, and the bad-input errors."""
import json
import os

import numpy as np
import pytest
import torch

from srkit.archs import build_network
from srkit.utils.imgio import read_image, write_image
from conftest import call_cli, photo

RRDB = {'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 2}


@pytest.fixture(scope='module')
def evdata(tmp_path_factory):
    """Three 160-pixel crops of real photos (NIQE needs 96 px after the crop), their x2
    bicubic LQ, and two tiny random x2 RRDBNets as BasicSR network files."""
    from degradations.pipelines import bicubic
    root = tmp_path_factory.mktemp('evdata')
    for n, t, l in (('astronaut', 0, 100), ('coffee', 100, 200), ('chelsea', 40, 120)):
        hr = photo(n)[t:t + 160, l:l + 160]
        write_image(str(root / 'hr' / f'{n}.png'), hr)
        lr, _ = bicubic(np.rint(hr * 255) / 255, 2)
        write_image(str(root / 'lq' / f'{n}.png'), lr)
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save({'params': build_network(dict(RRDB)).state_dict()}, root / f'g{seed}.pth')
    return root


def _env(home, offline=True):
    return {'TORCH_HOME': str(home), 'SRKIT_OFFLINE': '1' if offline else '0'}


def test_report_compares_checkpoints_and_reports_missing_weights(evdata, tmp_path):
    from srkit.compat import import_basicsr
    M = import_basicsr('basicsr.metrics')
    out = tmp_path / 'rep'
    r = call_cli('eval', '--model', f'first={evdata / "g0.pth"}', '--model', evdata / 'g1.pth', '--lq', evdata / 'lq',
                '--gt', evdata / 'hr', '--metrics', 'psnr,ssim,lpips,niqe', '--out', out, '--device', 'cpu',
                env=_env(tmp_path / 'empty_home'))
    assert r.returncode == 3, r.stderr  # partial: LPIPS has no weights offline
    home = tmp_path / 'empty_home'
    from torchvision.models import AlexNet_Weights  # the URL torchvision's loader would fetch
    url = AlexNet_Weights.IMAGENET1K_V1.url
    assert (f'lpips: unavailable: LPIPS weights are missing: put alexnet-owt-7be5be79.pth (from {url}) '
            f'at {home}/hub/checkpoints/alexnet-owt-7be5be79.pth') in r.stdout
    res = json.loads((out / 'metrics.json').read_text())
    assert list(res['models']) == ['bicubic', 'first', 'g1']
    assert res['metrics'] == ['psnr', 'ssim', 'niqe'] and list(res['unavailable']) == ['lpips']
    assert res['scale'] == 2 and 'crop_border=2' in res['convention']
    for label, m in res['models'].items():
        assert [i['name'] for i in m['images']] == ['astronaut', 'chelsea', 'coffee']
        for row in m['images']:  # basicsr's functions on the written files are the oracle
            sr8 = (read_image(os.path.join(m['folder'], row['name'] + '.png')) * 255).round()
            gt8 = (read_image(str(evdata / 'hr' / f'{row["name"]}.png')) * 255).round()
            ref_p = M.calculate_psnr(sr8[..., ::-1], gt8[..., ::-1], 2, input_order='HWC', test_y_channel=True)
            ref_s = M.calculate_ssim(sr8[..., ::-1], gt8[..., ::-1], 2, input_order='HWC', test_y_channel=True)
            assert abs(row['psnr'] - ref_p) < 0.01 and abs(row['ssim'] - ref_s) < 0.0025, (label, row)
            assert np.isfinite(row['niqe'])
        assert m['mean']['psnr'] == pytest.approx(np.mean([i['psnr'] for i in m['images']]))
    assert res['models']['bicubic']['mean']['psnr'] > res['models']['g1']['mean']['psnr'] + 5  # random nets
    # the report folder
    csv_rows = (out / 'metrics.csv').read_text().splitlines()
    assert csv_rows[0] == 'model,image,psnr,ssim,niqe' and len(csv_rows) == 1 + 3 * 4
    assert csv_rows[4].startswith('bicubic,MEAN,')
    md = (out / 'report.md').read_text()
    assert '| method | PSNR ↑ | SSIM ↑ | NIQE ↓ |' in md and '**LPIPS unavailable**' in md
    assert '![perception-distortion](pd_plot.svg)' in md and '(crops/coffee.png)' in md
    html = (out / 'report.html').read_text()
    assert html.count('data:image/png;base64,') == 3 and '<svg' in html and 'src="crops' not in html
    svg = (out / 'pd_plot.svg').read_text()
    assert all(f'>{k}</text>' in svg for k in ('bicubic', 'first', 'g1'))
    crop = read_image(str(out / 'crops' / 'coffee.png'))
    # LQ | bicubic | first | g1 | GT, 128-pixel crops with 4-pixel gaps, under an 18-pixel caption
    assert crop.shape == (128 + 18, 5 * 128 + 4 * 4, 3)
    gt = read_image(str(evdata / 'hr' / 'coffee.png'))
    tail = crop[18:, -128:]
    assert any(np.array_equal(np.round(tail * 255), np.round(gt[t:t + 128, l:l + 128] * 255))
               for t in range(33) for l in range(33))  # the GT panel is a GT crop


@pytest.mark.slow
def test_lpips_and_fid_with_cached_weights_match_pyiqa(evdata, tmp_path, lpips_cache, fid_cache):
    """With the files in the cache the real loaders run; pyiqa's own metric objects on the
    same files are the oracle.  FID of a folder against itself is 0.  (Slow: each FID takes
    the square root of a 2048x2048 matrix.)"""
    import pyiqa
    out = tmp_path / 'rep'
    r = call_cli('eval', '--sr', f'gtcopy={evdata / "hr"}', '--model', evdata / 'g0.pth', '--lq', evdata / 'lq',
                '--gt', evdata / 'hr', '--metrics', 'psnr,lpips,fid', '--out', out, '--device', 'cpu', '--no-bicubic',
                env=_env(tmp_path / 'torch_home'))
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((out / 'metrics.json').read_text())
    assert res['unavailable'] == {} and res['metrics'] == ['psnr', 'lpips', 'fid']
    lp = pyiqa.create_metric('lpips', device='cpu')
    g0 = res['models']['g0']
    for row in g0['images']:
        sr = torch.from_numpy(read_image(os.path.join(g0['folder'], row['name'] + '.png'))).permute(2, 0, 1)[None]
        gt = torch.from_numpy(read_image(str(evdata / 'hr' / f'{row["name"]}.png'))).permute(2, 0, 1)[None]
        assert row['lpips'] == pytest.approx(float(lp(sr, gt)), abs=1e-5)
    assert all(i['lpips'] == pytest.approx(0, abs=1e-6) for i in res['models']['gtcopy']['images'])
    fid = pyiqa.create_metric('fid', device='cpu')
    ref = float(fid(g0['folder'], str(evdata / 'hr'), mode='clean', num_workers=0, verbose=False))
    assert g0['mean']['fid'] == pytest.approx(ref, rel=1e-4) and ref > 0
    assert abs(res['models']['gtcopy']['mean']['fid']) < 1e-3
    assert 'PSNR ↑ | LPIPS ↓ | FID ↓' in (out / 'report.md').read_text()


def test_niqe_agrees_with_basicsr_offline(monkeypatch, tmp_path):
    """No pyiqa NIQE file: the MATLAB parameters basicsr installs are used; the values
    agree with basicsr's calculate_niqe (Y channel)."""
    from srkit.compat import import_basicsr
    from srkit.metrics import iqa
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty'))
    niqe = import_basicsr('basicsr.metrics.niqe')
    m = iqa.load('niqe', crop_border=4)
    assert 'bundled with basicsr' in m.source and not m.reference
    for name in ('coffee', 'chelsea', 'astronaut'):
        img = photo(name)[:200, :240]
        ours = float(m.fn(torch.from_numpy(img).permute(2, 0, 1)[None])[0])
        ref = niqe.calculate_niqe(np.round(img[..., ::-1] * 255), 4, input_order='HWC', convert_to='y')
        assert ours == pytest.approx(ref, abs=0.05), name
    assert np.isnan(float(m.fn(torch.rand(1, 3, 100, 100))[0]))  # 92 px after the crop: too small


def test_piqe_is_pyiqas_on_the_cropped_image_and_scores_noise_and_jpeg_blocks(monkeypatch, tmp_path):
    """PIQE needs no weight file (it works offline under any TORCH_HOME); srkit's values are
    pyiqa's PIQE of the image without its border, and noise or JPEG blocks raise it."""
    import cv2
    import pyiqa
    from srkit.metrics import iqa
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty'))
    monkeypatch.setenv('SRKIT_OFFLINE', '1')
    m = iqa.load('piqe', crop_border=4)
    assert not m.reference and 'no learned parameters' in m.source
    ref = pyiqa.create_metric('piqe', device='cpu')
    img = photo('chelsea')[:200, :240]
    rng = np.random.default_rng(0)
    noisy = np.clip(img + rng.normal(0, 12 / 255, img.shape), 0, 1).astype(np.float32)
    ok, buf = cv2.imencode('.jpg', np.rint(img[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 10])
    jpeg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).permute(2, 0, 1)[None] for k, v in
         (('clean', img), ('noisy', noisy), ('jpeg', jpeg))}
    got = {k: float(m.fn(v)[0]) for k, v in t.items()}
    for k, v in t.items():
        assert got[k] == pytest.approx(float(ref(v[..., 4:-4, 4:-4])), abs=1e-6), k
    assert 0 <= got['clean'] < got['noisy'] <= 100 and got['clean'] < got['jpeg'] <= 100, got
    assert np.isnan(float(m.fn(torch.rand(1, 3, 20, 20))[0]))  # 12 px after the crop: not one 16-px block


def test_pick_crop_finds_where_methods_differ():
    from srkit.report import pick_crop
    rng = np.random.default_rng(0)
    gt = rng.random((100, 120, 3)).astype(np.float32)
    a, b = gt.copy(), gt.copy()
    b[60:80, 90:110] = 1 - b[60:80, 90:110]
    assert pick_crop([a, b], gt, 20) == (60, 90, 20)
    assert pick_crop([b], gt, 20) == (60, 90, 20)  # one method: where it differs from the GT
    assert pick_crop([a, b], gt, 500)[2] == 100  # never larger than the image


def test_degrade_builds_the_lq_with_a_seed(evdata, tmp_path):
    from srkit.cli import degrade as degrade_cli
    from srkit.cli import eval as eval_cli
    out = tmp_path / 'rep'
    assert eval_cli.main.run(['--model', str(evdata / 'g0.pth'), '--model', f'bicubic={evdata / "g1.pth"}',
                              '--gt', str(evdata / 'hr'), '--degrade', 'bsrgan', '--seed', '5', '--out', str(out),
                              '--device', 'cpu']) == 0
    ref = tmp_path / 'ref_lq'
    assert degrade_cli.main.run(['--input', str(evdata / 'hr'), '--output', str(ref), '--method', 'bsrgan',
                                 '--scale', '2', '--seed', '5']) == 0
    lq = out / 'lq_bsrgan_x2_seed5'
    for n in ('astronaut', 'coffee', 'chelsea'):
        assert np.array_equal(read_image(str(lq / f'{n}.png')), read_image(str(ref / f'{n}.png')))
    res = json.loads((out / 'metrics.json').read_text())
    # labels name the output folders, so a repeated one is numbered, never overwritten
    assert list(res['models']) == ['bicubic', 'g0', 'bicubic_2'] and 'bsrgan' in res['models']['bicubic']['source']
    assert res['models']['bicubic_2']['folder'].endswith(os.path.join('sr', 'bicubic_2'))
    assert res['models']['bicubic_2']['mean']['psnr'] != res['models']['bicubic']['mean']['psnr']


def test_bad_input_one_line_errors(evdata, tmp_path):
    from degradations import PIPELINES, preset_names
    (tmp_path / 'lq').mkdir()
    for n in ('coffee', 'astronaut'):
        (tmp_path / 'lq' / f'{n}.png').write_bytes((evdata / 'lq' / f'{n}.png').read_bytes())
    cases = [  # 1: bad data, 2: bad usage
        (1, ['--model', evdata / 'g0.pth', '--lq', tmp_path / 'lq', '--gt', evdata / 'hr'],
         f'mismatched file sets: no image in --lq {tmp_path / "lq"} for 1 GT image(s): chelsea'),
        (2, ['--model', evdata / 'g0.pth', '--gt', evdata / 'hr'],
         '--model: needs an LQ to run on (--lq DIR or --degrade METHOD)'),
        (2, ['--sr', evdata / 'hr', '--gt', evdata / 'hr', '--metrics', 'psnr,sharpness'],
         '--metrics psnr,sharpness: unknown sharpness (known: psnr, ssim, lpips, niqe, piqe, fid)'),
        (2, ['--model', evdata / 'g0.pth', '--lq', evdata / 'lq', '--gt', evdata / 'hr', '--scale', '4'],
         f'--model {evdata / "g0.pth"}: a x2 network, but --scale is x4'),
        (2, ['--model', evdata / 'g0.pth', '--gt', evdata / 'hr', '--degrade', 'nosuch'],
         f'--degrade nosuch: neither a file nor a preset (presets: {", ".join(preset_names())}) '
         f'(methods: {", ".join(sorted(PIPELINES))})'),
        (1, ['--sr', evdata / 'lq', '--gt', evdata / 'hr', '--scale', '2'],
         f'{evdata / "hr"}/astronaut.png: size 160x160 does not match {evdata / "lq"}/astronaut.png (80x80) at scale 2'),
    ]
    bad = tmp_path / 'bad_sr'
    bad.mkdir()
    for n in ('astronaut', 'coffee', 'chelsea'):
        (bad / f'{n}.png').write_bytes((evdata / 'hr' / f'{n}.png').read_bytes())
    (bad / 'coffee.png').write_bytes((evdata / 'hr' / 'coffee.png').read_bytes()[:300])  # truncated
    r = call_cli('eval', '--sr', bad, '--gt', evdata / 'hr', '--scale', '2', '--out', tmp_path / 'rep_bad',
                env=_env(tmp_path / 'home'))
    assert r.returncode == 1 and r.stderr.count('\n') == 1 and f'{bad}/coffee.png' in r.stderr, r.stderr
    assert not (tmp_path / 'rep_bad' / 'metrics.json').exists()  # no half report
    assert not (tmp_path / 'rep_bad' / 'crops').exists()  # nor crops of the images before it
    for code, args, msg in cases:
        r = call_cli('eval', *args, '--device', 'cpu', env=_env(tmp_path / 'home'))
        assert r.returncode == code and r.stderr.strip() == f'srkit-eval: error: {msg}', (args, r.stderr)


def test_a_failing_fid_is_a_note_not_a_crash(evdata, monkeypatch):
    """pyiqa's Fréchet distance raises on a complex matrix square root (a few images make a
    singular covariance); the report gives FID as n/a with the reason and keeps the rest."""
    from srkit import evaluation as ev
    from srkit.metrics import iqa
    monkeypatch.setattr(iqa, 'fid_model', lambda device: object())

    def fails(*args, **kwargs):
        raise ValueError('Imaginary component 3.7e+16')
    monkeypatch.setattr(iqa, 'fid', fails)
    hr = str(evdata / 'hr')
    gt = ev.index_images(hr, 'gt')
    res = ev.score([ev.Entry('gtcopy', 'sr', hr, hr, dict(gt))], gt, 2, ['psnr', 'fid'], gt_dir=hr, progress=False)
    m = res['models']['gtcopy']['mean']
    assert np.isnan(m['fid']) and m['psnr'] == 80.0  # identical images: pyiqa's 80 dB cap
    assert res['notes'] == ['FID of gtcopy: not computed (Imaginary component 3.7e+16); '
                            'a few images make a singular covariance']


def test_checkpoints_are_checked_before_anything_is_degraded_or_written(evdata, tmp_path):
    (tmp_path / 'broken.pth').write_bytes(b'not a checkpoint')
    r = call_cli('eval', '--model', evdata / 'g0.pth', '--model', tmp_path / 'broken.pth', '--gt', evdata / 'hr',
                '--degrade', 'bicubic', '--out', tmp_path / 'report')
    assert r.returncode == 2 and 'broken.pth: not a readable checkpoint' in r.stderr
    assert not any((tmp_path / 'report').glob('lq_*')) and not (tmp_path / 'report' / 'sr').exists()
