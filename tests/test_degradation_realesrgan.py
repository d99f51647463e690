import math

import numpy as np
import torch

from degradations.kernels import kernel_from_params
from degradations.realesrgan import KernelConfig, filter2d, sample_kernels
from srkit.compat import import_basicsr


def test_filter2d_matches_basicsr_per_sample_and_shared():
    ref = import_basicsr('basicsr.utils.img_process_util').filter2D
    torch.manual_seed(0)
    x = torch.rand(3, 3, 20, 17)
    ks = torch.rand(3, 21, 21)
    ks = ks / ks.sum(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(filter2d(x, ks), ref(x, ks), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(filter2d(x, ks[0]), ref(x, ks[:1]), rtol=1e-5, atol=1e-6)


def test_sample_kernels_follow_the_recipe_and_replay():
    rng = np.random.default_rng(0)
    n, sinc1, pulse = 400, 0, 0
    for _ in range(n):
        ks, p = sample_kernels(rng)
        assert ks.shape == (3, 21, 21) and ks.dtype == np.float32
        np.testing.assert_allclose(ks.sum(axis=(1, 2)), 1.0, atol=1e-5)
        for i, name in enumerate(('kernel1', 'kernel2', 'sinc')):
            np.testing.assert_allclose(kernel_from_params(p[name]), ks[i], atol=1e-7)
        assert p['kernel1']['size'] in range(7, 22, 2)
        if p['kernel1']['kind'] == 'sinc':
            sinc1 += 1
        elif p['kernel2']['kind'] != 'sinc':
            assert 0.2 <= p['kernel2']['sigma_x'] <= 1.5  # the second stage's narrower sigma range
        if p['sinc']['kind'] == 'pulse':
            pulse += 1
        else:
            assert math.pi / 3 <= p['sinc']['cutoff'] <= math.pi
    assert 0.05 < sinc1 / n < 0.16  # sinc_prob 0.1
    assert 0.13 < pulse / n < 0.28  # final sinc p 0.8
    a = sample_kernels(np.random.default_rng(5), KernelConfig())[1]
    b = sample_kernels(np.random.default_rng(5), KernelConfig())[1]
    assert a == b


def test_gaussian_and_poisson_noise_per_sample():
    from degradations.realesrgan import gaussian_noise_pt, poisson_noise_pt
    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 3, 32, 32), 0.5)
    y, p = gaussian_noise_pt(x, g, (1, 30), gray_prob=0.5)
    std = (y - x).flatten(1).std(1) * 255
    torch.testing.assert_close(std, p['sigma'], rtol=0.08, atol=0.3)  # each sample its own sigma
    d = y - x
    gray = p['gray'].bool()
    assert gray.any() and (~gray).any()
    assert torch.equal(d[gray][:, 0], d[gray][:, 1]) and not torch.equal(d[~gray][:, 0], d[~gray][:, 1])
    y2, _ = gaussian_noise_pt(x, torch.Generator().manual_seed(0), (1, 30), gray_prob=0.5)
    assert torch.equal(y, y2)  # the generator alone fixes the draw
    img = torch.rand(4, 3, 24, 24)
    z, q = poisson_noise_pt(img, torch.Generator().manual_seed(1), (0.05, 3.0), gray_prob=0.0)
    assert z.shape == img.shape and torch.isfinite(z).all()
    # Poisson noise variance grows with intensity (shot noise), unlike Gaussian noise
    dark, bright = torch.full((1, 3, 64, 64), 0.1), torch.full((1, 3, 64, 64), 0.9)
    both = torch.cat([dark, bright])
    n, _ = poisson_noise_pt(both, torch.Generator().manual_seed(2), (1.0, 1.0001), gray_prob=0.0)
    v = (n - both).flatten(1).var(1)
    assert v[1] > 3 * v[0]


def test_pair_pool_any_batch_size_and_resume():
    from degradations.realesrgan import PairPool
    pool = PairPool(size=10)
    g = torch.Generator().manual_seed(0)
    seen = []
    for i in range(8):  # batch 3 does not divide 10: the reference would assert
        lq = torch.full((3, 1, 2, 2), float(i))
        out, gt = pool(lq, lq * 2, g)
        assert out.shape == (3, 1, 2, 2) and torch.equal(gt, out * 2)  # pairs stay paired
        seen.append(out[:, 0, 0, 0].tolist())
    assert seen[0] == [0, 0, 0] and seen[3] != [3, 3, 3]  # passes through while filling, then mixes
    state = pool.state_dict()
    other = PairPool(size=10)
    other.load_state_dict(state)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    nxt = torch.full((3, 1, 2, 2), 9.0)
    assert torch.equal(pool(nxt, nxt, g1)[0], other(nxt, nxt, g2)[0])
