"""Pretrained weights the losses and metrics load (VGG19, AlexNet + LPIPS, FID's Inception):
where each file lives, and the one message saying which file goes where when one is
missing offline.  ``SRKIT_OFFLINE=1`` forbids any download attempt (tests, the demo)."""
from __future__ import annotations

import contextlib
import os

import torch
from torch import nn

from .errors import UserError
from .utils.checkpoint import load_checkpoint


class WeightsMissing(UserError):
    """Pretrained weights are not on disk and could not be fetched."""


def offline() -> bool:
    """``SRKIT_OFFLINE=1``: never try a download (tests, the demo)."""
    return os.environ.get('SRKIT_OFFLINE') == '1'


def missing_weights(name: str, files: list[tuple[str, str]]) -> str:
    """``NAME weights are missing: put FILE (from URL) at PATH, ...`` for ``[(path, url)]``."""
    return f'{name} weights are missing: put ' + ', '.join(
        f'{os.path.basename(p)} (from {u}) at {p}' for p, u in files)


@contextlib.contextmanager
def weights_only_loads(what: str):
    """Every ``torch.load`` of a file inside this block reads it as srkit does
    (:func:`srkit.utils.checkpoint.load_checkpoint`: ``weights_only=True``, one-line errors).

    torchvision's hub loader and pyiqa's ``load_pretrained_network`` unpickle their cache files
    with ``weights_only=False``, so a poisoned file placed where srkit tells users to put the
    weights would run code; their constructors offer no way to pass a state dict in.  A file
    whose keys or shapes do not fit the network is one line naming it and ``what`` it should be.
    """
    real, files = torch.load, []

    def load(f, map_location=None, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            files.append(os.fspath(f))
            return load_checkpoint(os.fspath(f), map_location or 'cpu')
        kwargs['weights_only'] = True
        return real(f, map_location, *args, **kwargs)
    torch.load = load
    try:
        yield files
    except RuntimeError as e:
        if 'state_dict' not in str(e) or not files:
            raise
        raise UserError(f'{files[-1]}: does not fit {what} ({state_dict_problem(e)})') from None
    finally:
        torch.load = real


def state_dict_problem(e: BaseException) -> str:
    """The first missing/unexpected key or shape mismatch of a ``load_state_dict`` error."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    detail = lines[1] if len(lines) > 1 else lines[0]
    return detail if len(detail) <= 160 else detail[:157] + '...'


def read_weights(path: str, what: str) -> dict:
    """A plain state dict from a weight file in a cache, read by srkit (never unpickling code);
    one line naming the file and ``what`` it should be when it is anything else."""
    sd = load_checkpoint(path)
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f'{path}: not a state dict of {what}')
    return sd


def check_weights(sd: dict, want: dict, path: str, what: str) -> None:
    """One line naming ``path`` when ``sd`` lacks a tensor of ``want`` ({key: shape}) or has it in
    another shape."""
    for k, shape in want.items():
        if k not in sd:
            raise UserError(f'{path}: does not fit {what} (missing key {k!r})')
        if tuple(sd[k].shape) != tuple(shape):
            raise UserError(f'{path}: does not fit {what} ({k!r} has shape {tuple(sd[k].shape)}, '
                            f'expected {tuple(shape)})')


def lpips_weight_paths() -> list[tuple[str, str]]:
    """``[(cache path, URL)]`` of the files pyiqa's LPIPS (v0.1, AlexNet) loads: torchvision's
    AlexNet in the torch hub cache and pyiqa's linear layers in its own cache."""
    from pyiqa.archs.lpips_arch import default_model_urls
    from torchvision.models import AlexNet_Weights
    hub = torch.hub.get_dir()
    alex = AlexNet_Weights.IMAGENET1K_V1.url
    lin = default_model_urls['0.1_alex']
    return [(os.path.join(hub, 'checkpoints', os.path.basename(alex)), alex),
            (os.path.join(hub, 'pyiqa', os.path.basename(lin)), lin)]


def _pyiqa_net(name: str, paths: list[tuple[str, str]], build, backbone: str) -> tuple[nn.Module, str]:
    """``(net, file)``: a pyiqa network whose ``build()`` loads its torchvision ``backbone`` from
    the torch hub cache (``paths[0]``), and the path of its own weights (``paths[1]``), fetched by
    pyiqa's loader when missing and allowed.  :class:`WeightsMissing` names each missing file and
    where it goes; ``SRKIT_OFFLINE=1``: no download is attempted."""
    missing = [(p, u) for p, u in paths if not os.path.exists(p)]
    text = missing_weights(name, missing)
    if missing and offline():
        raise WeightsMissing(f'{text} (SRKIT_OFFLINE=1: no download attempted)')
    from .compat import quiet_stdout
    own, url = paths[1]
    try:
        from pyiqa.utils.download_util import load_file_from_url
        # pyiqa builds the backbone with its weights whatever ``pretrained`` says; its own weights
        # srkit reads itself.  pyiqa fixes its cache folder when first imported; the path
        # computed here follows TORCH_HOME as it is now.
        with quiet_stdout(), weights_only_loads(backbone):
            net = build()
            if not os.path.exists(own):
                own = load_file_from_url(url, model_dir=os.path.dirname(own))
    except UserError:
        raise
    except Exception as e:  # offline: URLError, socket errors, ...
        raise WeightsMissing(f'{text} (download failed: {type(e).__name__})') from None
    return net, own


def load_lpips_net() -> nn.Module:
    """pyiqa's LPIPS (v0.1, AlexNet), frozen and in eval mode: ``net(x, ref, normalize=True)``
    takes ``(B,3,H,W) RGB [0,1]`` and gives ``(B,1,1,1)``.  Raises :class:`WeightsMissing`
    naming each missing file and where it goes when the weights are neither cached nor
    downloadable (``SRKIT_OFFLINE=1``: no download is attempted)."""
    from pyiqa.archs.lpips_arch import LPIPS
    net, lin = _pyiqa_net('LPIPS', lpips_weight_paths(), lambda: LPIPS(net='alex', version='0.1', pretrained=False),
                          "torchvision's AlexNet (IMAGENET1K_V1)")
    what = "pyiqa's LPIPS v0.1 linear layers (LPIPS_v0.1_alex-df73285e.pth)"
    sd = {k.removeprefix('module.'): v for k, v in read_weights(lin, what).items()}
    check_weights(sd, {k: v.shape for k, v in net.state_dict().items() if k[3:4].isdigit() and k.startswith('lin')},
                  lin, what)  # lin0..lin4 (lins.N are the same tensors)
    net.load_state_dict(sd, strict=False)  # the file holds the linear layers only
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def dists_weight_paths() -> list[tuple[str, str]]:
    """``[(cache path, URL)]`` of the files pyiqa's DISTS loads: torchvision's VGG16 in the torch
    hub cache and DISTS's alpha and beta in pyiqa's cache."""
    from pyiqa.archs.dists_arch import default_model_urls
    from torchvision.models import VGG16_Weights
    hub = torch.hub.get_dir()
    vgg, ab = VGG16_Weights.IMAGENET1K_V1.url, default_model_urls['url']
    return [(os.path.join(hub, 'checkpoints', os.path.basename(vgg)), vgg),
            (os.path.join(hub, 'pyiqa', os.path.basename(ab)), ab)]


def load_dists_net() -> nn.Module:
    """pyiqa's DISTS, frozen and in eval mode: ``net(x, ref)`` takes ``(B,3,H,W) RGB [0,1]`` and
    gives ``(B,)`` distances (0: the same structure and texture).  Raises :class:`WeightsMissing`
    naming each missing file and where it goes when the weights are neither cached nor
    downloadable (``SRKIT_OFFLINE=1``: no download is attempted)."""
    from pyiqa.archs.dists_arch import DISTS
    net, ab = _pyiqa_net('DISTS', dists_weight_paths(), lambda: DISTS(pretrained=False),
                         "torchvision's VGG16 (IMAGENET1K_V1)")
    what = "pyiqa's DISTS alpha and beta (DISTS_weights-f5e65c96.pth)"
    sd = read_weights(ab, what)
    check_weights(sd, {k: net.state_dict()[k].shape for k in ('alpha', 'beta')}, ab, what)
    net.load_state_dict({k: sd[k] for k in ('alpha', 'beta')}, strict=False)
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
