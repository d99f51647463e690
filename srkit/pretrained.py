"""Pretrained weights the losses and metrics load (VGG19, AlexNet + LPIPS, FID's Inception):
where each file lives, and the one message saying which file goes where when one is
missing offline.  ``SRKIT_OFFLINE=1`` forbids any download attempt (tests, the demo)."""
from __future__ import annotations

import os

import torch
from torch import nn

from .errors import UserError


class WeightsMissing(UserError):
    """Pretrained weights are not on disk and could not be fetched."""


def offline() -> bool:
    """``SRKIT_OFFLINE=1``: never try a download (tests, the demo)."""
    return os.environ.get('SRKIT_OFFLINE') == '1'


def missing_weights(name: str, files: list[tuple[str, str]]) -> str:
    """``NAME weights are missing: put FILE (from URL) at PATH, ...`` for ``[(path, url)]``."""
    return f'{name} weights are missing: put ' + ', '.join(
        f'{os.path.basename(p)} (from {u}) at {p}' for p, u in files)


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


def load_lpips_net() -> nn.Module:
    """pyiqa's LPIPS (v0.1, AlexNet), frozen and in eval mode: ``net(x, ref, normalize=True)``
    takes ``(B,3,H,W) RGB [0,1]`` and gives ``(B,1,1,1)``.  Raises :class:`WeightsMissing`
    naming each missing file and where it goes when the weights are neither cached nor
    downloadable (``SRKIT_OFFLINE=1``: no download is attempted)."""
    paths = lpips_weight_paths()
    missing = [(p, u) for p, u in paths if not os.path.exists(p)]
    text = missing_weights('LPIPS', missing)
    if missing and offline():
        raise WeightsMissing(f'{text} (SRKIT_OFFLINE=1: no download attempted)')
    from .compat import quiet_stdout
    try:
        from pyiqa.archs.lpips_arch import LPIPS
        # pyiqa fixes its cache folder when first imported; the path computed here follows
        # TORCH_HOME as it is now
        lin = paths[1][0] if os.path.exists(paths[1][0]) else paths[1][1]
        with quiet_stdout():
            net = LPIPS(net='alex', version='0.1', pretrained=True, pretrained_model_path=lin)
    except Exception as e:  # offline: URLError, socket errors, ...
        raise WeightsMissing(f'{text} (download failed: {type(e).__name__})') from None
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
