"""Named degradation pipelines: HR ``(H,W,3) RGB float32 in [0,1]`` -> LR.

A pipeline is a callable ``(hr, scale, rng) -> (lr, params)`` where ``rng`` is
a ``numpy.random.Generator`` and ``params`` a JSON-serialisable dict of
everything drawn.  ``bicubic`` draws nothing; the BSRGAN, Real-ESRGAN and
DSGAN pipelines register here as they arrive.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .resize import imresize

PIPELINES: dict[str, Callable] = {}


def register(name: str):
    def add(fn):
        PIPELINES[name] = fn
        return fn
    return add


@register('bicubic')
def bicubic(hr: np.ndarray, scale: int, rng: np.random.Generator | None = None, *,
            round_to_uint8: bool = True):
    """MATLAB bicubic downsampling by ``1/scale``; ``hr`` must be a multiple of ``scale``.

    With ``round_to_uint8`` the LR is quantised to 8 bit, as an LR saved as PNG
    (and BasicSR's bicubic LR sets) would be.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'HR size {h}x{w} is not a multiple of the scale {scale}')
    lr = imresize(hr, 1.0 / scale)
    lr = np.clip(lr, 0, 1)
    if round_to_uint8:
        lr = np.rint(lr * 255.0).astype(np.float32) / 255.0
    return lr, {'method': 'bicubic', 'scale': scale}


@register('bsrgan')
def bsrgan(hr: np.ndarray, scale: int, rng: np.random.Generator, **kwargs):
    """BSRGAN's degradation of the whole (mod-cropped) image; LR is exactly HR/scale."""
    from .bsrgan import degrade
    lr, _hq, params = degrade(hr, scale, rng, **kwargs)
    return lr, params


def build_pipeline(name: str, **kwargs) -> Callable:
    if name not in PIPELINES:
        raise KeyError(f'unknown degradation {name!r} (known: {", ".join(sorted(PIPELINES))})')
    fn = PIPELINES[name]
    if kwargs:
        return lambda hr, scale, rng: fn(hr, scale, rng, **kwargs)
    return fn


@register('sensor_noise')
def sensor_noise(hr: np.ndarray, scale: int, rng: np.random.Generator, sigma: float = 8.0):
    """The DSGAN paper's 'sensor noise' set: bicubic LR plus Gaussian noise sigma/255."""
    from .ops import gaussian_noise, new_seed
    lr, _ = bicubic(hr, scale, round_to_uint8=False)
    seed = new_seed(rng)
    lr = gaussian_noise(np.clip(lr, 0, 1), sigma / 255.0, 'color', seed)
    return np.rint(lr * 255.0).astype(np.float32) / 255.0, {'method': 'sensor_noise', 'scale': scale,
                                                            'sigma': sigma, 'seed': seed}


@register('jpeg')
def jpeg_artifacts(hr: np.ndarray, scale: int, rng: np.random.Generator, quality: int = 30):
    """The DSGAN paper's 'compression artifacts' set: bicubic LR, then JPEG at ``quality``."""
    from .ops import jpeg
    lr, _ = bicubic(hr, scale, round_to_uint8=False)
    return jpeg(np.clip(lr, 0, 1), quality), {'method': 'jpeg', 'scale': scale, 'quality': quality}
