"""Named degradation pipelines: HR ``(H,W,3) RGB float32 in [0,1]`` -> LR.

``PIPELINES[name]`` (and :func:`build_pipeline`) is a callable
``(hr, scale, rng) -> (lr, hr, params)``: ``rng`` is a
``numpy.random.Generator``, ``hr`` comes back mod-cropped (or cropped with the
LR when a pipeline takes ``lq_patchsize``, or changed by an ISP hook), and
``params`` is a JSON-serialisable dict of everything drawn.  The module-level
functions keep their own return shapes, e.g. ``bicubic(hr, s) -> (lr, params)``.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from typing import Callable

import numpy as np

from .resize import imresize

PIPELINES: dict[str, Callable] = {}
_OPTIONS: dict[str, Callable[[], dict]] = {}  # name -> {option: (annotation, default)}
PRESET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'presets')


def _keywords(fn) -> dict:
    """``{option: (annotation, default)}`` of ``fn``'s keyword options."""
    hints = typing.get_type_hints(fn)
    return {n: (hints.get(n, typing.Any), p.default) for n, p in inspect.signature(fn).parameters.items()
            if n not in ('hr', 'scale', 'rng', 'sf', 'img') and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _fields(*classes) -> dict:
    """``{option: (annotation, default)}`` of dataclasses' fields."""
    out = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        out.update({f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls)})
    return out


def option_types(name: str) -> dict:
    """``{option: (annotation, default)}`` that pipeline ``name`` takes: its schema."""
    return _OPTIONS[name]()


def register(name: str, returns_hr: bool = False, options: Callable[[], dict] | None = None):
    """Register ``fn(hr, scale, rng, **kw)``; one returning ``(lr, params)`` leaves the HR
    as given.  ``options()`` gives the keywords it takes with their annotations and
    defaults (default: from its signature)."""
    def add(fn):
        _OPTIONS[name] = options or (lambda: _keywords(fn))
        if returns_hr:
            PIPELINES[name] = fn
        else:
            def keeps_hr(hr, scale, rng=None, **kw):
                lr, params = fn(hr, scale, rng, **kw)
                return lr, hr, params
            keeps_hr.__doc__ = fn.__doc__
            PIPELINES[name] = keeps_hr
        return fn
    return add


@register('bicubic')
def bicubic(hr: np.ndarray, scale: int, rng: np.random.Generator | None = None, *,
            round_to_uint8: bool = True):
    """MATLAB bicubic downsampling by ``1/scale``; ``hr`` must be a multiple of ``scale``.

    With ``round_to_uint8`` the LR is quantised to 8 bit, as an LR saved as PNG
    (and BasicSR's bicubic LR sets) would be.

    Args:
        round_to_uint8: round the LR to 8-bit levels (default true).
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'HR size {h}x{w} is not a multiple of the scale {scale}')
    lr = imresize(hr, 1.0 / scale)
    lr = np.clip(lr, 0, 1)
    if round_to_uint8:
        lr = np.rint(lr * 255.0).astype(np.float32) / 255.0
    return lr, {'method': 'bicubic', 'scale': scale}


def _bsrgan_options():
    from .bsrgan import degrade
    return _keywords(degrade)


def _bsrgan_plus_options():
    from .bsrgan import degrade_plus
    return _keywords(degrade_plus)


def _realesrgan_options():
    from .realesrgan import KernelConfig, SecondOrderConfig
    return {'usm': (bool, True), **_fields(KernelConfig, SecondOrderConfig)}


@register('bsrgan', returns_hr=True, options=_bsrgan_options)
def bsrgan(hr: np.ndarray, scale: int, rng: np.random.Generator, **kwargs):
    """BSRGAN's degradation (``degradations.bsrgan.degrade``); LR is exactly HR/scale."""
    from .bsrgan import degrade
    return degrade(hr, scale, rng, **kwargs)


@register('bsrgan_plus', returns_hr=True, options=_bsrgan_plus_options)
def bsrgan_plus(hr: np.ndarray, scale: int, rng: np.random.Generator, **kwargs):
    """BSRGAN+ (``degradations.bsrgan.degrade_plus``); the HR comes back USM-sharpened."""
    from .bsrgan import degrade_plus
    return degrade_plus(hr, scale, rng, **kwargs)


@register('realesrgan', returns_hr=True, options=_realesrgan_options)
def realesrgan(hr: np.ndarray, scale: int, rng: np.random.Generator, usm: bool = True, **kwargs):
    """Real-ESRGAN's second-order degradation of one whole image (on CPU).

    Keyword arguments are ``KernelConfig`` and ``SecondOrderConfig`` fields
    (Real-ESRGAN's recipe names).  The HR comes back unchanged; the LR is made
    from its USM-sharpened copy when ``usm``, as in Real-ESRGAN's training.

    Args:
        usm: degrade the USM-sharpened HR rather than the HR itself (default true).
    """
    import torch

    from .ops import new_seed
    from .realesrgan import KernelConfig, SecondOrderConfig, sample_kernels, second_order, to_jsonable
    check_options('realesrgan', kwargs)
    kcfg, scfg = KernelConfig.from_dict(kwargs), SecondOrderConfig.from_dict(kwargs)
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'HR size {h}x{w} is not a multiple of the scale {scale}')
    kernels, kparams = sample_kernels(rng, kcfg)
    seed = new_seed(rng)
    k = torch.from_numpy(kernels)
    x = torch.from_numpy(np.ascontiguousarray(hr, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    lq, _, p = second_order(x, k[0:1], k[1:2], k[2:3], scale, torch.Generator().manual_seed(seed), cfg=scfg, usm=usm)
    lr = lq[0].permute(1, 2, 0).numpy()
    return lr, hr, {'method': 'realesrgan', 'scale': scale, 'seed': seed, 'kernels': kparams, **to_jsonable(p)}


def _dsgan_options():
    from .learned import dsgan as run
    return _keywords(run)


@register('dsgan', returns_hr=True, options=_dsgan_options)
def dsgan(hr: np.ndarray, scale: int, rng: np.random.Generator | None = None, **kwargs):
    """A trained DSGAN generator (``generator=`` an ``nn.Module``); see ``degradations.learned``."""
    from .learned import dsgan as run
    return run(hr, scale, rng, **kwargs)


def check_options(name: str, kwargs: dict) -> None:
    """Raise ``KeyError`` naming the pipeline, an unknown name or option, and the known ones."""
    if name not in PIPELINES:
        raise KeyError(f'unknown degradation {name!r} (known: {", ".join(sorted(PIPELINES))})')
    known = set(_OPTIONS[name]())
    bad = sorted(set(kwargs) - known)
    if bad:
        raise KeyError(f'{name}: unknown option {bad[0]!r} (known: {", ".join(sorted(known)) or "none"})')


def build_pipeline(name: str, **kwargs) -> Callable:
    """``(hr, scale, rng) -> (lr, hr, params)`` for a registered pipeline with its options."""
    check_options(name, kwargs)
    fn = PIPELINES[name]
    if kwargs:
        return lambda hr, scale, rng: fn(hr, scale, rng, **kwargs)
    return fn


def preset_names() -> list[str]:
    return sorted(os.path.splitext(f)[0] for f in os.listdir(PRESET_DIR) if f.endswith('.yml'))


MAX_PRESET_BYTES = 1 << 16  # the shipped presets are a few hundred bytes


def load_preset(name_or_path: str) -> dict:
    """A preset as ``{'type': pipeline, **options}``: a shipped name (see
    :func:`preset_names`) or a YAML file of that shape.  Raises ``ValueError``."""
    import yaml
    path = name_or_path
    if not os.path.exists(path):
        if name_or_path not in preset_names():
            raise ValueError(f'{name_or_path}: neither a file nor a preset (presets: {", ".join(preset_names())})')
        path = os.path.join(PRESET_DIR, f'{name_or_path}.yml')
    import stat
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise ValueError(f'{path}: not a regular file; a preset is a YAML file')
        if st.st_size > MAX_PRESET_BYTES:
            raise ValueError(f'{path}: {st.st_size} bytes; a preset is at most {MAX_PRESET_BYTES}')
        with open(path, 'rb') as f:
            data = yaml.safe_load(f.read(MAX_PRESET_BYTES + 1)) or {}
    except RecursionError:
        raise ValueError(f'{path}: nested too deeply to be a preset') from None
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f'{path}: unreadable preset ({str(e).splitlines()[0]})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: a preset is a mapping with a type key')
    try:
        check_options(data.get('type'), {k: v for k, v in data.items() if k != 'type'})
    except KeyError as e:
        raise ValueError(f'{path}: {e.args[0]}') from None
    return data


@register('sensor_noise')
def sensor_noise(hr: np.ndarray, scale: int, rng: np.random.Generator, sigma: float = 8.0):
    """The DSGAN paper's 'sensor noise' set: bicubic LR plus Gaussian noise sigma/255.

    Args:
        sigma: the noise's standard deviation in 8-bit levels, >= 0 (default 8).
    """
    from .ops import gaussian_noise, new_seed
    lr, _ = bicubic(hr, scale, round_to_uint8=False)
    seed = new_seed(rng)
    lr = gaussian_noise(np.clip(lr, 0, 1), sigma / 255.0, 'color', seed)
    return np.rint(lr * 255.0).astype(np.float32) / 255.0, {'method': 'sensor_noise', 'scale': scale,
                                                            'sigma': sigma, 'seed': seed}


@register('jpeg')
def jpeg_artifacts(hr: np.ndarray, scale: int, rng: np.random.Generator, quality: int = 30):
    """The DSGAN paper's 'compression artifacts' set: bicubic LR, then JPEG at ``quality``.

    Args:
        quality: the JPEG quality, 1 to 100 (default 30).
    """
    from .ops import jpeg
    lr, _ = bicubic(hr, scale, round_to_uint8=False)
    return jpeg(np.clip(lr, 0, 1), quality), {'method': 'jpeg', 'scale': scale, 'quality': quality}
