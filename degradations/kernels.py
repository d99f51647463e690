"""Blur kernels: isotropic/anisotropic Gaussian, generalized Gaussian, plateau,
circular low-pass (sinc), and the mixed-kernel sampler of Real-ESRGAN.

Deterministic constructors take every parameter; ``random_*`` samplers take a
``numpy.random.Generator`` and return ``(kernel, params)`` where ``params`` is
a JSON-serialisable dict that rebuilds the same kernel through
:func:`kernel_from_params`.  Kernels are ``(k, k)`` float64 arrays summing to 1.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from scipy import special

KERNEL_KINDS = ('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso')


def _quad_form(k: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """``[x y] S^-1 [x y]^T`` on a centred k x k grid, ``S = R diag(sx^2, sy^2) R^T``."""
    ax = np.arange(-k // 2 + 1.0, k // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    c, s = math.cos(theta), math.sin(theta)
    # S^-1 = R diag(1/sx^2, 1/sy^2) R^T, written out
    a = c * c / sig_x ** 2 + s * s / sig_y ** 2
    b = c * s * (1 / sig_x ** 2 - 1 / sig_y ** 2)
    d = s * s / sig_x ** 2 + c * c / sig_y ** 2
    return a * xx * xx + 2 * b * xx * yy + d * yy * yy


def _normalise(k: np.ndarray) -> np.ndarray:
    return k / k.sum()


def gaussian_kernel(k: int, sig_x: float, sig_y: Optional[float] = None, theta: float = 0.0) -> np.ndarray:
    """Bivariate Gaussian; isotropic when ``sig_y`` is None."""
    sig_y = sig_x if sig_y is None else sig_y
    return _normalise(np.exp(-0.5 * _quad_form(k, sig_x, sig_y, theta)))


def generalized_gaussian_kernel(k: int, sig_x: float, sig_y: Optional[float], theta: float, beta: float) -> np.ndarray:
    """``exp(-0.5 * Q^beta)``: beta < 1 heavier tails, beta > 1 flatter top."""
    sig_y = sig_x if sig_y is None else sig_y
    return _normalise(np.exp(-0.5 * np.power(_quad_form(k, sig_x, sig_y, theta), beta)))


def plateau_kernel(k: int, sig_x: float, sig_y: Optional[float], theta: float, beta: float) -> np.ndarray:
    """``1 / (Q^beta + 1)``: a plateau-shaped kernel."""
    sig_y = sig_x if sig_y is None else sig_y
    return _normalise(np.reciprocal(np.power(_quad_form(k, sig_x, sig_y, theta), beta) + 1))


def sinc_kernel(cutoff: float, k: int, pad_to: int = 0) -> np.ndarray:
    """Circular low-pass (2-D sinc / Airy) kernel with angular cutoff ``cutoff`` in (0, pi]."""
    if k % 2 != 1:
        raise ValueError(f'kernel size must be odd, got {k}')
    c = (k - 1) / 2
    y, x = np.mgrid[0:k, 0:k].astype(np.float64)
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2)
    with np.errstate(divide='ignore', invalid='ignore'):
        ker = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    ker[int(c), int(c)] = cutoff ** 2 / (4 * np.pi)  # the limit at r = 0
    ker = _normalise(ker)
    if pad_to > k:
        p = (pad_to - k) // 2
        ker = np.pad(ker, ((p, p), (p, p)))
    return ker


def pad_kernel(ker: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a square odd kernel to ``size`` x ``size`` (centred)."""
    p = (size - ker.shape[0]) // 2
    return np.pad(ker, ((p, p), (p, p))) if p > 0 else ker


def kernel_from_params(p: dict) -> np.ndarray:
    """Rebuild a kernel from the ``params`` a sampler returned."""
    kind, k = p['kind'], p['size']
    if kind == 'sinc':
        ker = sinc_kernel(p['cutoff'], k)
    elif kind == 'pulse':
        ker = np.zeros((k, k))
        ker[k // 2, k // 2] = 1.0
    else:
        sy = p['sigma_x'] if kind.endswith('iso') and not kind.endswith('aniso') else p['sigma_y']
        if kind in ('iso', 'aniso'):
            ker = gaussian_kernel(k, p['sigma_x'], sy, p['theta'])
        elif kind.startswith('generalized'):
            ker = generalized_gaussian_kernel(k, p['sigma_x'], sy, p['theta'], p['beta'])
        else:
            ker = plateau_kernel(k, p['sigma_x'], sy, p['theta'], p['beta'])
    return pad_kernel(ker, p.get('pad_to', k))


def _beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    # below or above 1 with probability 1/2, as Real-ESRGAN draws it
    return float(rng.uniform(beta_range[0], 1) if rng.uniform() < 0.5 else rng.uniform(1, beta_range[1]))


def random_kernel(rng: np.random.Generator, kind: str, k: int,
                  sigma_x_range: Sequence[float] = (0.2, 3.0), sigma_y_range: Sequence[float] = (0.2, 3.0),
                  rotation_range: Sequence[float] = (-math.pi, math.pi),
                  betag_range: Sequence[float] = (0.5, 4.0), betap_range: Sequence[float] = (1.0, 2.0)):
    """Draw one kernel of ``kind`` (one of :data:`KERNEL_KINDS`); returns ``(kernel, params)``."""
    if k % 2 != 1:
        raise ValueError(f'kernel size must be odd, got {k}')
    if kind not in KERNEL_KINDS:
        raise ValueError(f'unknown kernel kind {kind!r} (known: {", ".join(KERNEL_KINDS)})')
    iso = not kind.endswith('aniso')
    sx = float(rng.uniform(*sigma_x_range))
    if iso:
        sy, theta = sx, 0.0
    else:
        sy = float(rng.uniform(*sigma_y_range))
        theta = float(rng.uniform(*rotation_range))
    p = {'kind': kind, 'size': k, 'sigma_x': sx, 'sigma_y': sy, 'theta': theta}
    if kind.startswith('generalized'):
        p['beta'] = _beta(rng, betag_range)
    elif kind.startswith('plateau'):
        p['beta'] = _beta(rng, betap_range)
    return kernel_from_params(p), p


def random_mixed_kernel(rng: np.random.Generator, kernel_list: Sequence[str] = KERNEL_KINDS,
                        kernel_prob: Sequence[float] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), k: int = 21, **ranges):
    """Pick a kind with ``kernel_prob``, then draw it (Real-ESRGAN's ``random_mixed_kernels``)."""
    prob = np.asarray(kernel_prob, dtype=np.float64)
    kind = kernel_list[int(rng.choice(len(kernel_list), p=prob / prob.sum()))]
    return random_kernel(rng, kind, k, **ranges)


def random_sinc_kernel(rng: np.random.Generator, k: int, cutoff_range: Optional[Sequence[float]] = None,
                       pad_to: int = 0):
    """Real-ESRGAN's sinc draw: cutoff ~ U(pi/3, pi) for k < 13, else U(pi/5, pi)."""
    if cutoff_range is None:
        cutoff_range = (math.pi / 3, math.pi) if k < 13 else (math.pi / 5, math.pi)
    cutoff = float(rng.uniform(*cutoff_range))
    p = {'kind': 'sinc', 'size': k, 'cutoff': cutoff}
    if pad_to > k:
        p['pad_to'] = pad_to
    return kernel_from_params(p), p
