"""Perceptual and no-reference metrics through pyiqa: LPIPS, NIQE, PIQE and FID.

Each needs pretrained files, which load through pyiqa's and torchvision's own loaders from
the torch hub cache (``$TORCH_HOME/hub``).  When a file is missing and cannot be fetched
(``SRKIT_OFFLINE=1`` never tries), :func:`load` raises :class:`MetricUnavailable` whose
message names every missing file, its URL and where it goes, so a report can list the
metric as unavailable and still give the others.

- ``lpips``: v0.1 AlexNet, full-reference, lower is better; ``(B,3,H,W) RGB [0,1]`` pairs.
- ``niqe``: no-reference, lower is better, on Y of BT.601 YCbCr with ``crop_border``
  removed (BasicSR's ``calculate_niqe`` convention).  The MATLAB model parameters come
  from pyiqa's cache (``niqe_modelparameters.mat``) or, when that is absent, from the copy
  basicsr installs with itself (``basicsr/metrics/niqe_pris_params.npz``), so NIQE works
  offline.  Needs images of at least :data:`NIQE_MIN_SIDE` pixels a side after the crop.
- ``piqe``: no-reference, lower is better, 0-100 (MATLAB's ``piqe``: the share of 16-pixel
  blocks with blockiness or noise, weighted by how distorted they are), on pyiqa's
  luminance with ``crop_border`` removed.  It has no learned parameters, so it always works
  offline.  It scores noise and JPEG blocks, but on a few images it is unsteady: on the
  demo's three photos a 4-pixel shift of the crop moved it by up to 14 points.
- ``fid``: two folders of images, clean-fid's ``clean`` resize by default.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UserError
from ..pretrained import WeightsMissing, missing_weights, offline, weights_only_loads

NIQE_MIN_SIDE = 96  # one 96-pixel block (pyiqa fails on less)
LOWER_IS_BETTER = {'psnr': False, 'ssim': False, 'lpips': True, 'niqe': True, 'piqe': True, 'fid': True}
PIQE_MIN_SIDE = 16  # one block


# the loss's exception: a metric's files missing is the same user error
MetricUnavailable = WeightsMissing


@dataclass
class Metric:
    """``fn(sr, gt)`` for full-reference metrics, ``fn(sr)`` for no-reference ones;
    ``(B,3,H,W) RGB [0,1]`` in, ``(B,)`` float64 out.  ``source`` says which weights."""

    name: str
    fn: Callable
    source: str
    reference: bool = True


def _hub(*parts) -> str:
    return os.path.join(torch.hub.get_dir(), *parts)


def fid_weight_path() -> tuple[str, str]:
    """``(cache path, URL)`` of the FID Inception weights pyiqa loads."""
    from pyiqa.archs.inception import FID_WEIGHTS_URL
    return _hub('pyiqa', os.path.basename(FID_WEIGHTS_URL)), FID_WEIGHTS_URL


def niqe_weight_path() -> tuple[str, str]:
    from pyiqa.archs.niqe_arch import default_model_urls
    url = default_model_urls['url']
    return _hub('pyiqa', os.path.basename(url)), url


_NIQE_MAT: dict = {}


def _basicsr_niqe_mat() -> str:
    """basicsr's bundled NIQE parameters, rewritten once per process as the .mat pyiqa reads."""
    if 'path' not in _NIQE_MAT:
        import numpy as np
        import scipy.io
        from ..compat import import_basicsr
        niqe = import_basicsr('basicsr.metrics.niqe')
        params = np.load(os.path.join(os.path.dirname(niqe.__file__), 'niqe_pris_params.npz'))
        # removed when the process ends (TemporaryDirectory's finaliser)
        _NIQE_MAT['dir'] = folder = tempfile.TemporaryDirectory(prefix='srkit-niqe-')
        path = os.path.join(folder.name, 'niqe_pris_params.mat')
        scipy.io.savemat(path, {'mu_prisparam': params['mu_pris_param'], 'cov_prisparam': params['cov_pris_param']})
        _NIQE_MAT['path'] = path
    return _NIQE_MAT['path']


def load(name: str, crop_border: int = 0, device: str | torch.device = 'cpu') -> Metric:
    """``lpips``, ``niqe`` or ``piqe`` (``fid`` compares folders: :func:`fid`)."""
    import pyiqa
    from ..compat import quiet_stdout
    device = torch.device(device)
    if name == 'lpips':
        from ..pretrained import load_lpips_net
        net = load_lpips_net().to(device)

        @torch.no_grad()
        def lpips(sr, gt):
            return net(sr.float(), gt.float(), normalize=True).double().reshape(-1)
        return Metric('lpips', lpips, 'pyiqa LPIPS v0.1 (AlexNet)')
    if name == 'niqe':
        cached, _ = niqe_weight_path()
        if os.path.exists(cached):
            path, source = cached, f'pyiqa NIQE, MATLAB parameters from {os.path.basename(cached)}'
        else:
            path, source = _basicsr_niqe_mat(), 'pyiqa NIQE, MATLAB parameters bundled with basicsr'
        with quiet_stdout():
            m = pyiqa.create_metric('niqe', pretrained_model_path=path, color_space='ycbcr',
                                    crop_border=int(crop_border), device=device)

        @torch.no_grad()
        def niqe(sr):
            h, w = sr.shape[-2] - 2 * crop_border, sr.shape[-1] - 2 * crop_border
            if min(h, w) < NIQE_MIN_SIDE:
                return torch.full((sr.shape[0],), float('nan'), dtype=torch.float64)
            return m(sr.float()).double().reshape(-1)
        return Metric('niqe', niqe, source, reference=False)
    if name == 'piqe':
        with quiet_stdout():
            m = pyiqa.create_metric('piqe', device=device)
        c = int(crop_border)

        @torch.no_grad()
        def piqe(sr):
            sr = sr[..., c:sr.shape[-2] - c, c:sr.shape[-1] - c] if c else sr
            if min(sr.shape[-2:]) < PIQE_MIN_SIDE:
                return torch.full((sr.shape[0],), float('nan'), dtype=torch.float64)
            return m(sr.float()).double().reshape(-1)
        return Metric('piqe', piqe, 'pyiqa PIQE (no learned parameters)', reference=False)
    raise ValueError(f'unknown metric {name}')


def fid_model(device: str | torch.device = 'cpu'):
    """pyiqa's FID metric object (Inception weights checked first, as :func:`load` does)."""
    import pyiqa
    from ..compat import quiet_stdout
    path, url = fid_weight_path()
    if not os.path.exists(path) and offline():
        raise MetricUnavailable(missing_weights('FID Inception', [(path, url)]) +
                                ' (SRKIT_OFFLINE=1: no download attempted)')
    try:
        # pyiqa unpickles the Inception file with weights_only=False: srkit reads it instead
        with quiet_stdout(), weights_only_loads("pyiqa's FID Inception (pt_inception-2015-12-05)"):
            return pyiqa.create_metric('fid', device=torch.device(device))
    except UserError:
        raise
    except Exception as e:  # offline: URLError, socket errors, ...
        raise MetricUnavailable(missing_weights('FID Inception', [(path, url)]) +
                                f' (download failed: {type(e).__name__})') from None


def fid(model, dir_a: str, dir_b: str, mode: str = 'clean') -> float:
    """FID between the images of two folders (pyiqa, on the device ``model`` was made for;
    ``mode`` clean, legacy_pytorch or legacy_tensorflow).  Both need at least two images."""
    from ..compat import quiet_stdout
    with quiet_stdout():
        return float(model(dir_a, dir_b, mode=mode, num_workers=0, batch_size=8, verbose=False))


# pyiqa's no-reference metrics that compare folders or score something other than a picture's quality
_NOT_PER_IMAGE = {'fid', 'sfid', 'fid_dinov2', 'inception_score', 'clipscore'}


def pyiqa_no_reference() -> set[str]:
    """pyiqa's no-reference metrics by their pyiqa names (NIQE and PIQE: :func:`load`)."""
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    return {k for k, v in DEFAULT_CONFIGS.items() if v.get('metric_mode') == 'NR'} - _NOT_PER_IMAGE - {'niqe', 'piqe'}


def pyiqa_lower_better(name: str) -> bool:
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    return bool(DEFAULT_CONFIGS[name].get('lower_better', False))


def _hf_cache() -> str:
    """The Hugging Face hub cache as the environment names it now (``HF_HUB_CACHE``, ``HF_HOME``)."""
    if os.environ.get('HF_HUB_CACHE'):
        return os.environ['HF_HUB_CACHE']
    home = os.environ.get('HF_HOME') or os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')),
                                                     'huggingface')
    return os.path.join(home, 'hub')


@contextlib.contextmanager
def _no_downloads(name: str):
    """Offline (``SRKIT_OFFLINE=1``), a weight file that pyiqa, torchvision or timm (from the
    Hugging Face hub) would fetch becomes one line naming it and where it goes, instead of a
    download."""
    import pyiqa.utils.download_util as du
    if not offline():
        yield
        return
    note = ' (SRKIT_OFFLINE=1: no download attempted)'

    def refuse(url, dst, *args, **kwargs):
        raise MetricUnavailable(missing_weights(name, [(os.path.abspath(dst), url)]) + note)

    def from_hf_cache(repo_id, filename, *args, revision=None, cache_dir=None, **kwargs):
        from huggingface_hub import try_to_load_from_cache
        cache = str(cache_dir or _hf_cache())
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
        if isinstance(found, str):
            return found
        raise MetricUnavailable(f'{name} weights are missing: put timm\'s {repo_id} ({filename} from '
                                f'https://huggingface.co/{repo_id}) in the Hugging Face cache {cache} (as '
                                f'`huggingface-cli download {repo_id} {filename}` puts it there)' + note)
    patched = [(du, 'download_url_to_file', refuse), (torch.hub, 'download_url_to_file', refuse)]
    try:
        import timm.models._hub as timm_hub
        patched.append((timm_hub, 'hf_hub_download', from_hf_cache))
    except ImportError:
        pass
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in patched]
    for mod, attr, fn in patched:
        setattr(mod, attr, fn)
    try:
        yield
    finally:
        for mod, attr, fn in saved:
            setattr(mod, attr, fn)


@dataclass
class NoReference:
    """A pyiqa no-reference metric: ``fn((B,3,H,W) RGB [0,1]) -> (B,)`` float64."""

    name: str
    fn: Callable
    lower_better: bool
    min_side: int = 32


def load_no_reference(name: str, device: str | torch.device = 'cpu') -> NoReference:
    """pyiqa's no-reference metric ``name`` with its weights from the cache; offline, a missing
    file is one line (:class:`MetricUnavailable`) naming it and where it goes."""
    import pyiqa
    from ..compat import quiet_stdout
    device = torch.device(device)
    try:
        with _no_downloads(name), quiet_stdout(), weights_only_loads(f"pyiqa's {name}"):
            m = pyiqa.create_metric(name, as_loss=False, device=device)
    except UserError:
        raise
    except Exception as e:  # timm/huggingface offline errors, a network error, ...
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MetricUnavailable(f'{name} weights are missing or cannot be loaded: {detail[:300]}') from None
    m.eval()

    @torch.no_grad()
    def fn(x):
        return m(x.float()).double().reshape(-1)
    return NoReference(name, fn, bool(m.lower_better))
