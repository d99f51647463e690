import json
import math

import numpy as np
import pytest
from scipy import ndimage, stats
from scipy.interpolate import RegularGridInterpolator

from degradations import bsrgan, build_pipeline
from degradations.kernels import gaussian_kernel
from degradations.ops import filter_image
from conftest import photo


def _kair_anisotropic(ksize, theta, l1, l2):
    # KAIR's anisotropic_Gaussian + gm_blur_kernel, written from its definition
    v = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]) @ np.array([1.0, 0.0])
    V = np.array([[v[0], v[1]], [v[1], -v[0]]])
    sigma = V @ np.diag([l1, l2]) @ np.linalg.inv(V)
    c = ksize / 2.0 + 0.5
    k = np.array([[stats.multivariate_normal.pdf([x - c + 1, y - c + 1], mean=[0, 0], cov=sigma)
                   for x in range(ksize)] for y in range(ksize)])
    return k / k.sum()


@pytest.mark.parametrize('ksize,theta,l1,l2', [(7, 0.3, 2.0, 5.0), (15, 2.5, 7.9, 0.4), (25, 1.2, 3.3, 3.3)])
def test_anisotropic_blur_matches_kair_definition(ksize, theta, l1, l2):
    np.testing.assert_allclose(gaussian_kernel(ksize, math.sqrt(l1), math.sqrt(l2), theta),
                               _kair_anisotropic(ksize, theta, l1, l2), rtol=0, atol=1e-7)


@pytest.mark.parametrize('sf', [2, 3, 4])
def test_shift_kernel_is_interp2d_linear(sf):
    k = gaussian_kernel(25, 1.7)
    k[3, 5] += 0.2  # asymmetric
    ys, xs = np.arange(25.0), np.arange(25.0)
    s = (sf - 1) * 0.5
    f = RegularGridInterpolator((ys, xs), k, method='linear')
    yy, xx = np.meshgrid(np.clip(ys + s, 0, 24), np.clip(xs + s, 0, 24), indexing='ij')
    np.testing.assert_allclose(bsrgan.shift_kernel(k, sf), f(np.stack([yy, xx], -1)), rtol=0, atol=1e-12)


def test_filter_matches_ndimage_mirror_convolution():
    rng = np.random.default_rng(0)
    img = rng.random((30, 41, 3)).astype(np.float32)
    k = rng.random((7, 7))
    k /= k.sum()
    ref = ndimage.convolve(img, k[..., None], mode='mirror')
    np.testing.assert_allclose(filter_image(img, k), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize('sf', [2, 3, 4])
def test_lr_is_exactly_hr_over_scale_and_reproducible(sf):
    hr = photo('coffee')[:130, :150]
    for seed in range(12):
        lr, hq, p = bsrgan.degrade(hr, sf, np.random.default_rng(seed))
        assert hq.shape == (130 - 130 % sf, 150 - 150 % sf, 3)
        assert lr.shape == (hq.shape[0] // sf, hq.shape[1] // sf, 3) and lr.dtype == np.float32
        assert 0 <= lr.min() and lr.max() <= 1
        names = [o['op'] for o in p['ops']]
        assert names.index('down_a') < names.index('down_b') and names[-1] == 'jpeg'
        assert names.count('blur') == 2 and names.count('gaussian_noise') == 1
        if sf != 4:
            assert 'prehalve' not in names
        again, _, p2 = bsrgan.degrade(hr, sf, np.random.default_rng(seed))
        assert np.array_equal(lr, again) and p == p2


def test_prehalving_and_both_downsample_paths_occur():
    hr = photo('astronaut')[:96, :96]
    seen = set()
    for seed in range(60):
        _, _, p = bsrgan.degrade(hr, 4, np.random.default_rng(seed))
        for o in p['ops']:
            seen.add((o['op'], o.get('kind', o.get('mode'))))
    assert ('down_a', 'strided_gaussian') in seen and ('down_a', 'resize') in seen
    assert any(op == 'prehalve' for op, _ in seen)
    assert {('gaussian_noise', 'color'), ('gaussian_noise', 'gray'), ('gaussian_noise', 'correlated')} <= seen


def test_aligned_patch_crop_and_isp_hook():
    hr = photo('rocket')[:200, :200]
    calls = []

    def isp(img, hq):
        calls.append(img.shape)
        return img, hq * 0.5  # an ISP may change the HQ too

    for seed in range(20):
        lr, hq, p = bsrgan.degrade(hr, 4, np.random.default_rng(seed), lq_patchsize=16, isp_model=isp, isp_prob=1.0)
        assert lr.shape == (16, 16, 3) and hq.shape == (64, 64, 3)
        top, left = p['crop']
        if 'isp' not in [o['op'] for o in p['ops']]:
            np.testing.assert_array_equal(hq, hr[top * 4: top * 4 + 64, left * 4: left * 4 + 64])
    assert calls
    with pytest.raises(ValueError, match='smaller than lq_patchsize'):
        bsrgan.degrade(hr[:40, :40], 4, np.random.default_rng(0), lq_patchsize=16)


def test_registered_pipelines_return_lr_hr_and_params():
    hr = photo('chelsea')[:64, :64]
    for name in ('bicubic', 'bsrgan', 'bsrgan_plus', 'realesrgan', 'sensor_noise', 'jpeg'):
        lr, hq, p = build_pipeline(name)(hr, 2, np.random.default_rng(1))
        assert lr.shape == (32, 32, 3) and hq.shape == (64, 64, 3) and p['method'] == name, name
        json.dumps(p)  # manifests need plain JSON
    lr, hq, p = build_pipeline('bsrgan', lq_patchsize=8)(hr, 2, np.random.default_rng(1))
    t, l = p['crop']
    assert lr.shape == (8, 8, 3) and np.array_equal(hq, hr[2 * t: 2 * t + 16, 2 * l: 2 * l + 16])


@pytest.mark.parametrize('sf', [2, 3, 4])
def test_bsrgan_plus_lr_is_exactly_hr_over_sf_and_aligned(sf):
    hr = photo('astronaut')[:101, :97]
    for seed in range(6):
        lr, hq, p = bsrgan.degrade_plus(hr, sf, np.random.default_rng(seed))
        assert hq.shape == (101 - 101 % sf, 97 - 97 % sf, 3)
        assert lr.shape == (hq.shape[0] // sf, hq.shape[1] // sf, 3) and 0 <= lr.min() and lr.max() <= 1
    lr, hq, p = bsrgan.degrade_plus(hr, sf, np.random.default_rng(0), lq_patchsize=12, use_sharp=False)
    t, l = p['crop']
    assert lr.shape == (12, 12, 3) and np.array_equal(hq, hr[t * sf:(t + 12) * sf, l * sf:(l + 12) * sf])


def test_bsrgan_plus_sharpens_hq_and_keeps_the_op_structure():
    from degradations.ops import usm_sharpen
    hr = photo('coffee')[:64, :64]
    _, hq, p = bsrgan.degrade_plus(hr, 4, np.random.default_rng(3))
    np.testing.assert_allclose(hq, usm_sharpen(hr), atol=1e-6)  # the LR's target is the sharpened HR
    counts = {'poisson_noise': 0, 'speckle_noise': 0}
    n = 150
    for seed in range(n):
        _, _, p = bsrgan.degrade_plus(hr, 4, np.random.default_rng(seed), shuffle_prob=0.0, use_sharp=False)
        ops = [o['op'] for o in p['ops']]
        # unshuffled: blur and resize open each round, the JPEG sits between the rounds
        assert ops[:2] == ['blur', 'resize'] and ops[-2:] == ['resize_to_lr', 'jpeg'] and ops.count('jpeg') == 2
        mid = ops.index('jpeg')
        assert ops[mid + 1: mid + 3] == ['blur', 'resize']
        for k in counts:
            counts[k] += ops.count(k)
    for k, c in counts.items():  # two chances of p 0.1 per image
        assert 0.04 < c / (2 * n) < 0.18, (k, c)
    a = bsrgan.degrade_plus(hr, 4, np.random.default_rng(9))
    b = bsrgan.degrade_plus(hr, 4, np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]


def test_speckle_and_poisson_noise_follow_the_image():
    from degradations.ops import poisson_noise_at, speckle_noise
    img = np.concatenate([np.full((32, 32, 3), 0.1, np.float32), np.full((32, 32, 3), 0.8, np.float32)], 1)
    sp = speckle_noise(img, 20 / 255, 'color', seed=1) - img  # multiplicative: 8x the std where 8x brighter
    ratio = sp[:, 32:].std() / sp[:, :32].std()
    assert 6 < ratio < 10
    po = poisson_noise_at(img, 100.0, gray=False, seed=2) - img  # shot noise: variance ~ intensity / levels
    np.testing.assert_allclose(po[:, 32:].var(), 0.8 / 100, rtol=0.15)
    gray = poisson_noise_at(img, 100.0, gray=True, seed=2) - img
    assert np.array_equal(gray[..., 0], gray[..., 1])


def test_single_hr_dataset_runs_bsrgan_per_sample(photos_dir):
    from srkit.data.datasets import SingleHRDataset
    from srkit.options import parse_dataclass
    opt = parse_dataclass(SingleHRDataset.Options, {
        'name': 's', 'type': 'SingleHRDataset', 'scale': 4, 'dataroot_gt': str(photos_dir / 'hr'),
        'gt_size': 64, 'degradation': {'type': 'bsrgan'}}, 'datasets.train')
    ds = SingleHRDataset(opt)
    a, b = ds[(0, (1, 2))], ds[(0, (1, 2))]
    assert a['lq'].shape == (3, 16, 16) and a['gt'].shape == (3, 64, 64)
    assert (a['lq'] == b['lq']).all()  # the sample's seed fixes crop, flips and degradation


def test_resize_modes_and_usm_match_references():
    from degradations.ops import resize, usm_sharpen
    from degradations.resize import imresize
    from srkit.compat import import_basicsr
    img = photo('astronaut')[:64, :48]
    np.testing.assert_array_equal(resize(img, (32, 24), 'matlab'), imresize(img, 0.5))
    for mode in ('linear', 'cubic', 'area'):
        assert resize(img, (20, 30), mode).shape == (20, 30, 3)
    with pytest.raises(ValueError, match='one scale for both sides'):
        resize(img, (32, 40), 'matlab')
    ref = import_basicsr('basicsr.utils.img_process_util').usm_sharp
    np.testing.assert_allclose(usm_sharpen(img), ref(img), rtol=0, atol=1e-6)


def test_poisson_noise_is_seeded_and_shot_like():
    from degradations.ops import poisson_noise
    flat = np.concatenate([np.full((32, 32, 3), 0.1, np.float32), np.full((32, 32, 3), 0.9, np.float32)])
    flat[0, 0] = 0.5  # a third level so the noise has several count steps
    a = poisson_noise(flat, 1.0, False, seed=4)
    assert np.array_equal(a, poisson_noise(flat, 1.0, False, seed=4))
    assert (a - flat)[32:].var() > 3 * (a - flat)[:32].var()
    g = poisson_noise(flat, 1.0, True, seed=4)
    assert np.array_equal(g[..., 0], g[..., 1])  # gray noise: one field for all channels of a gray image
