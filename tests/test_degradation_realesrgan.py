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
