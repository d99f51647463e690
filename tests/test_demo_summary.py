"""scripts/demo_summary.py: the demo's last table, from the files the stages write."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


def _eval_json(path, means: dict) -> None:
    """An srkit-eval JSON with only what the summary reads: each label's mean metrics."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({'models': {k: {'mean': v} for k, v in means.items()}}, f)


def test_summary_puts_each_stage_against_its_baseline_and_says_which_lost(tmp_path):
    from sklearn.datasets import load_digits
    from srkit.utils.imgio import write_image
    sys.path.insert(0, os.path.join(ROOT, 'scripts', 'bench'))
    from dsgan import local_noise_level
    from translation import digit_classifier
    out = tmp_path / 'demo_out'
    _eval_json(out / 'eval_srresnet_x2.json', {'bicubic': {'psnr': 32.0}, 'SRResNet': {'psnr': 33.5}})
    _eval_json(out / 'eval_archs_x2.json', {'bicubic': {'psnr': 32.2}, 'SPAN': {'psnr': 32.8},
                                            'RealPLKSR': {'psnr': 32.1}, 'SwinIR': {'psnr': 33.0}})
    _eval_json(out / 'report' / 'metrics.json', {'bicubic': {'psnr': 28.0, 'niqe': 7.8},
                                                 'RRDB-PSNR': {'psnr': 28.5, 'niqe': 7.0},
                                                 'ESRGAN': {'psnr': 28.1, 'niqe': 6.9}})
    _eval_json(out / 'eval_realesrgan_lr' / 'metrics.json', {
        'bicubic-trained': {'ssim': 0.62}, 'Real-ESRNet': {'ssim': 0.63}, 'Real-ESRGAN': {'ssim': 0.61}})
    _eval_json(out / 'eval_bsrgan_lr' / 'metrics.json', {'bicubic-trained': {'ssim': 0.58}, 'BSRNet': {'ssim': 0.59}})
    _eval_json(out / 'eval_pix2pix.json', {'pix2pix': {'psnr': 13.0}})
    _eval_json(out / 'eval_curation_x2.json', {'bicubic': {'psnr': 32.2}, 'curated': {'psnr': 33.9},
                                               'raw': {'psnr': 33.6}})
    _eval_json(out / 'eval_cyclegan.json', {'bicubic': {'psnr': 15.0, 'ssim': 0.73},
                                            'CycleGAN': {'psnr': 25.0, 'ssim': 0.70}})
    # pix2pix's baseline: the held-out photos' mean colour; black and 102/255 grey: 51/255 off everywhere
    for i, v in enumerate((0, 102)):
        write_image(str(out / 'translation' / 'edges2photo' / 'val_photos' / f'{i}.png'),
                    np.full((8, 8, 3), v / 255, np.float32))
    # DSGAN: flat bicubic LR, noisy camera LR, DSGAN LR with noise in between
    rng = np.random.default_rng(0)
    levels = {}
    for name, sigma in (('lr_val_x4', 0.0), ('lr_val_camera_x4', 8.0), ('lr_val_dsgan_x4', 6.0)):
        img = np.clip(0.5 + rng.normal(0, sigma / 255, (64, 64, 3)), 0, 1).astype(np.float32)
        write_image(str(out / 'data' / name / 'a.png'), img)
        levels[name] = local_noise_level(np.rint(img * 255) / 255)
    # the CGAN's samples: 19 real digits the classifier knows, under their labels, and one under a wrong label
    d = load_digits()
    clf, _ = digit_classifier()
    x = np.rint(d.images[:60].reshape(60, -1) / 16 * 255) / 255  # as the summary reads them back
    known = [i for i in range(60) if clf.predict(x[i:i + 1])[0] == d.target[i]]
    for n, i in enumerate(known[:20]):
        label = d.target[i] if n else (d.target[i] + 1) % 10
        write_image(str(out / 'cgan_samples' / f'{label}_{n}.png'), np.repeat(d.images[i][:, :, None] / 16, 3, 2))
    write_image(str(out / 'cgan_samples' / 'grid.png'), np.zeros((4, 4, 3), np.float32))  # not a sample

    script = os.path.join(ROOT, 'scripts', 'demo_summary.py')
    r = subprocess.run([sys.executable, script, str(out), '--seconds', '1234'], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    rows = {(x['model'], x['measure']): x for x in json.loads((out / 'summary.json').read_text())['rows']}
    assert len(rows) == 15
    cur = rows[('SRResNet, curated set', 'PSNR Y (dB)')]
    assert cur['won'] and cur['baseline'] == 'SRResNet, raw set' and cur['baseline_value'] == 33.6
    assert rows[('SPAN', 'PSNR Y (dB)')]['won'] and rows[('SwinIR', 'PSNR Y (dB)')]['won']
    assert not rows[('RealPLKSR', 'PSNR Y (dB)')]['won'] and rows[('RealPLKSR', 'PSNR Y (dB)')]['baseline_value'] == 32.2
    assert rows[('SRResNet', 'PSNR Y (dB)')]['won'] and rows[('SRResNet', 'PSNR Y (dB)')]['baseline_value'] == 32.0
    assert rows[('ESRGAN', 'NIQE')]['won'] and not rows[('ESRGAN', 'NIQE')]['higher_is_better']
    assert not rows[('Real-ESRGAN', 'SSIM Y')]['won'] and rows[('BSRNet', 'SSIM Y')]['won']
    assert rows[('pix2pix', 'PSNR RGB (dB)')]['baseline_value'] == pytest.approx(20 * np.log10(255 / 51), abs=1e-4)
    cyc_psnr, cyc_ssim = rows[('CycleGAN', 'PSNR RGB (dB)')], rows[('CycleGAN', 'SSIM RGB')]
    assert cyc_psnr['won'] and not cyc_ssim['won'] and cyc_ssim['baseline'] == 'A unchanged'
    ds = rows[('DSGAN', 'noise gap closed')]
    gap_bic = levels['lr_val_camera_x4'] - levels['lr_val_x4']
    # the summary reads the PNGs back (BGR): the channel mean rounds in another order
    want = 1 - abs(levels['lr_val_dsgan_x4'] - levels['lr_val_camera_x4']) / gap_bic
    assert ds['value'] == pytest.approx(want, rel=1e-5)
    assert ds['won'] == (ds['value'] > 0.5)
    assert rows[('CGAN', 'label accuracy')]['value'] == 19 / 20
    lines = r.stdout.splitlines()
    assert lines[0].split() == ['stage', 'model', 'measure', 'model', 'baseline', 'baseline', 'result']
    assert any(line.startswith('7 CycleGAN cast') and 'SSIM RGB' in line and line.endswith('LOST') for line in lines)
    assert sum(line.endswith(' won') for line in lines) == sum(x['won'] for x in rows.values())
    assert f'{sum(x["won"] for x in rows.values())} of 15 beat their baseline; LOST: ' in r.stdout
    assert 'Real-ESRGAN (SSIM Y)' in r.stdout and 'RealPLKSR (PSNR Y (dB))' in r.stdout and 'this run of the demo: 20.6 min' in r.stdout


def test_summary_lists_only_the_stages_that_ran_and_a_missing_figure_loses(tmp_path):
    out = tmp_path / 'demo_out'
    _eval_json(out / 'eval_srresnet_x2.json', {'bicubic': {'psnr': 32.0}, 'SRResNet': {'psnr': 31.0}})
    # NIQE that could not be computed is null in srkit-eval's JSON
    _eval_json(out / 'report' / 'metrics.json', {'bicubic': {'psnr': 28.0, 'niqe': 7.8},
                                                 'RRDB-PSNR': {'psnr': 28.5, 'niqe': 7.0},
                                                 'ESRGAN': {'psnr': 28.1, 'niqe': None}})
    (out / 'eval_cyclegan.json').write_text('{"models": {"Cycle')  # cut short
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'demo_summary.py'), str(out)],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f'demo_summary: {out / "eval_cyclegan.json"}: unreadable (')
    assert r.stderr.strip().endswith('its stage is left out') and r.stderr.count('\n') == 1
    assert r.stdout.splitlines()[-1] == '1 of 3 beat their baseline; LOST: SRResNet (PSNR Y (dB)), ESRGAN (NIQE)'
    esrgan = [line for line in r.stdout.splitlines() if line.split()[3:4] == ['ESRGAN']]
    assert len(esrgan) == 1 and esrgan[0].split()[-4:] == ['n/a', 'bicubic', '7.80', 'LOST']


def test_demo_spread_puts_runs_side_by_side_with_spread_worst_margin_and_losses(tmp_path):
    """scripts/bench/demo_spread.py over summaries of three runs (issue 26)."""
    def summary(folder, psnr, niqe):
        os.makedirs(folder)
        rows = [{'stage': '3 SR x2', 'model': 'SRResNet', 'measure': 'PSNR Y (dB)', 'higher_is_better': True,
                 'value': psnr, 'baseline': 'bicubic', 'baseline_value': 32.0, 'won': psnr > 32.0},
                {'stage': '4 ESRGAN x4', 'model': 'ESRGAN', 'measure': 'NIQE', 'higher_is_better': False,
                 'value': niqe, 'baseline': 'bicubic', 'baseline_value': 7.8, 'won': niqe < 7.8}]
        with open(os.path.join(folder, 'summary.json'), 'w') as f:
            json.dump({'rows': rows, 'seconds': 1.0}, f)
    summary(tmp_path / 'a', 33.5, 7.1)
    summary(tmp_path / 'b', 33.0, 7.6)
    summary(tmp_path / 'c', 33.2, 7.9)  # ESRGAN lost in this run
    script = os.path.join(ROOT, 'scripts', 'bench', 'demo_spread.py')
    r = subprocess.run([sys.executable, script, f'a={tmp_path / "a"}', f'b={tmp_path / "b"}', f'c={tmp_path / "c"}',
                        '--json', str(tmp_path / 's.json')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # a row lost in one run
    rows = json.loads((tmp_path / 's.json').read_text())
    sr, gan = rows
    assert sr['values'] == {'a': 33.5, 'b': 33.0, 'c': 33.2} and sr['won'] == 3
    assert sr['spread'] == pytest.approx(0.5) and sr['worst_margin'] == pytest.approx(1.0)
    assert gan['spread'] == pytest.approx(0.8) and gan['worst_margin'] == pytest.approx(-0.1) and gan['won'] == 2
    assert '33.50' in r.stdout and '7.90' in r.stdout and '2/3' in r.stdout
