"""Every kernel equals basicsr's generator output to 1e-6 for identical parameters."""
import math

import numpy as np
import pytest

from degradations import kernels as K
from srkit.compat import import_basicsr

D = import_basicsr('basicsr.data.degradations')

CASES = [(21, 2.5, 1.1, 0.7), (7, 0.3, 1.9, -2.0), (13, 1.0, 1.0, 1.3), (25, 4.4, 0.6, 3.0)]


@pytest.mark.parametrize('k,sx,sy,theta', CASES)
def test_gaussian_kernels_match_basicsr(k, sx, sy, theta):
    np.testing.assert_allclose(K.gaussian_kernel(k, sx), D.bivariate_Gaussian(k, sx, sx, 0, isotropic=True),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(K.gaussian_kernel(k, sx, sy, theta),
                               D.bivariate_Gaussian(k, sx, sy, theta, isotropic=False), rtol=0, atol=1e-6)


@pytest.mark.parametrize('k,sx,sy,theta', CASES)
@pytest.mark.parametrize('beta', [0.5, 1.0, 1.7, 4.0])
def test_generalized_and_plateau_match_basicsr(k, sx, sy, theta, beta):
    np.testing.assert_allclose(K.generalized_gaussian_kernel(k, sx, sy, theta, beta),
                               D.bivariate_generalized_Gaussian(k, sx, sy, theta, beta, isotropic=False),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(K.generalized_gaussian_kernel(k, sx, None, 0, beta),
                               D.bivariate_generalized_Gaussian(k, sx, sx, 0, beta, isotropic=True), rtol=0, atol=1e-6)
    np.testing.assert_allclose(K.plateau_kernel(k, sx, sy, theta, beta),
                               D.bivariate_plateau(k, sx, sy, theta, beta, isotropic=False), rtol=0, atol=1e-6)
    np.testing.assert_allclose(K.plateau_kernel(k, sx, None, 0, beta),
                               D.bivariate_plateau(k, sx, sx, 0, beta, isotropic=True), rtol=0, atol=1e-6)


@pytest.mark.parametrize('k,cutoff,pad', [(7, math.pi / 3, 21), (21, 2.0, 0), (13, math.pi, 21)])
def test_sinc_matches_basicsr(k, cutoff, pad):
    np.testing.assert_allclose(K.sinc_kernel(cutoff, k, pad), D.circular_lowpass_kernel(cutoff, k, pad),
                               rtol=0, atol=1e-6)


def test_samplers_return_params_that_rebuild_the_kernel():
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(200):
        ker, p = K.random_mixed_kernel(rng, k=int(rng.choice([7, 9, 21])))
        seen.add(p['kind'])
        assert ker.shape == (p['size'], p['size']) and abs(ker.sum() - 1) < 1e-9
        np.testing.assert_array_equal(K.kernel_from_params(p), ker)
        if p['kind'].startswith('generalized'):
            assert 0.5 <= p['beta'] <= 4
        if p['kind'].startswith('plateau'):
            assert 1 <= p['beta'] <= 2
        if not p['kind'].endswith('aniso'):
            assert p['sigma_y'] == p['sigma_x'] and p['theta'] == 0
    assert seen == set(K.KERNEL_KINDS)
    ker, p = K.random_sinc_kernel(rng, 9, pad_to=21)
    assert ker.shape == (21, 21) and math.pi / 3 <= p['cutoff'] <= math.pi
    np.testing.assert_array_equal(K.kernel_from_params(p), ker)
    # same generator state, same draws: samplers are pure functions of the generator
    a = K.random_mixed_kernel(np.random.default_rng(9))[1]
    b = K.random_mixed_kernel(np.random.default_rng(9))[1]
    assert a == b
