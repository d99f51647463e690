"""Perceptual loss on VGG19 features (ESRGAN's, Real-ESRGAN's multi-layer variant).

Weights load through torchvision's own weights API, so they are found in (or
downloaded to) the torch hub cache under ``$TORCH_HOME/hub/checkpoints``; or
from an explicit ``vgg_weights: PATH``.  When they are missing and cannot be
downloaded (or ``SRKIT_OFFLINE=1`` forbids trying), :class:`WeightsMissing`
says which file goes where.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Literal, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError
from ..pretrained import (WeightsMissing, load_dists_net, load_lpips_net, lpips_weight_paths,  # noqa: F401
                          missing_weights, offline, read_weights, state_dict_problem, weights_only_loads)
from ..registry import LOSS_REGISTRY

VGG19_NAMES = [
    'conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1',
    'conv2_1', 'relu2_1', 'conv2_2', 'relu2_2', 'pool2',
    'conv3_1', 'relu3_1', 'conv3_2', 'relu3_2', 'conv3_3', 'relu3_3', 'conv3_4', 'relu3_4', 'pool3',
    'conv4_1', 'relu4_1', 'conv4_2', 'relu4_2', 'conv4_3', 'relu4_3', 'conv4_4', 'relu4_4', 'pool4',
    'conv5_1', 'relu5_1', 'conv5_2', 'relu5_2', 'conv5_3', 'relu5_3', 'conv5_4', 'relu5_4', 'pool5',
]


def vgg19_cache_path() -> tuple[str, str]:
    """``(path in the torch hub cache, download URL)`` of torchvision's VGG19 weights."""
    from torchvision.models import VGG19_Weights
    url = VGG19_Weights.IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(url)), url


VGG19_WHAT = "torchvision's VGG19 (IMAGENET1K_V1, vgg19-dcbb9e9d.pth)"


def load_vgg19_state_dict(path: Optional[str] = None) -> tuple[dict, str]:
    """``(state dict, file)``: VGG19 ImageNet weights from ``path``, or from the torch hub cache
    (downloaded there by torchvision's loader when missing and allowed).  srkit reads the file
    itself, with ``weights_only=True``: torchvision's loader would unpickle it."""
    if path:
        return read_weights(path, VGG19_WHAT), path
    from torchvision.models import VGG19_Weights
    cache, url = vgg19_cache_path()
    if not os.path.exists(cache):
        missing = (f'VGG19 weights for the perceptual loss are missing: put {os.path.basename(cache)} '
                   f'(from {url}) at {cache}, or set perceptual_opt.vgg_weights: PATH')
        if offline():
            raise WeightsMissing(missing + ' (SRKIT_OFFLINE=1: no download attempted)')
        try:
            with weights_only_loads(VGG19_WHAT):
                VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as e:  # offline: URLError, socket errors, ...
            raise WeightsMissing(f'{missing} (download failed: {type(e).__name__})') from None
    return read_weights(cache, VGG19_WHAT), cache


class VGGFeatureExtractor(nn.Module):
    """Frozen VGG19 features at named layers (``conv5_4``, ``relu3_4`` ...).

    Input ``(B,3,H,W) RGB in [0,1]`` (or [-1,1] with ``range_norm``), normalised
    with ImageNet mean/std when ``use_input_norm``.  Returns ``{name: feature}``.
    """

    def __init__(self, layer_name_list: list, use_input_norm: bool = True, range_norm: bool = False,
                 vgg_weights: Optional[str] = None, padding: Literal['zeros', 'replicate'] = 'zeros'):
        super().__init__()
        from torchvision.models import vgg19
        unknown = [n for n in layer_name_list if n not in VGG19_NAMES]
        if unknown:
            raise UserError(f'perceptual_opt.layer_weights: unknown VGG19 layer {unknown[0]!r} '
                            f'(e.g. conv5_4, relu5_4, conv3_4)')
        self.layer_name_list = list(layer_name_list)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        net = vgg19(weights=None)
        sd, path = load_vgg19_state_dict(vgg_weights)
        try:
            net.load_state_dict(sd)
        except RuntimeError as e:
            raise UserError(f'{path}: does not fit {VGG19_WHAT} ({state_dict_problem(e)})') from None
        last = max(VGG19_NAMES.index(n) for n in layer_name_list)
        layers = OrderedDict()
        for name, layer in zip(VGG19_NAMES[: last + 1], net.features[: last + 1]):
            # not in place: a pre-activation feature must survive its ReLU
            layers[name] = nn.ReLU(inplace=False) if isinstance(layer, nn.ReLU) else layer
        layers['conv1_1'].padding_mode = padding  # traiNNer-redux's VGG replicates the border
        self.vgg_net = nn.Sequential(layers).eval()
        for p in self.parameters():
            p.requires_grad_(False)
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True):
        return super().train(False)  # always frozen, always eval

    def forward(self, x):
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out = {}
        for name, layer in self.vgg_net.named_children():
            x = layer(x)
            if name in self.layer_name_list:
                out[name] = x
        return out


@LOSS_REGISTRY.register()
class PerceptualLoss(nn.Module):
    """Weighted feature distance ``sum_k w_k * crit(VGG_k(x), VGG_k(gt))``, times
    ``perceptual_weight``; optional Gram-matrix style term.  The GT features
    are computed without autograd.  Returns ``(percep, style)``; a zero weight
    gives ``None`` for that term.

    ``optional: true`` turns missing VGG weights into a logged warning and a
    disabled loss (``enabled`` is False), instead of an error.

    Args:
        layer_weights: ``{VGG19 layer: weight}``, e.g. ``{conv5_4: 1.0}`` (ESRGAN) or Real-ESRGAN's
            ``conv1_2`` ... ``conv5_4``; required.
        vgg_type: the feature network; ``vgg19`` only (default).
        use_input_norm: normalise the input with ImageNet's mean and std (default true).
        range_norm: the input is in [-1, 1] and is mapped to [0, 1] first (default false).
        perceptual_weight: the factor of the feature term, >= 0 (default 1.0; 0: no such term).
        style_weight: the factor of the Gram-matrix style term, >= 0 (default 0: none).
        criterion: the feature distance: ``l1`` (default), ``l2`` (MSE), ``fro`` (Frobenius norm) or
            ``charbonnier`` (the mean of ``sqrt(d^2 + 1e-12)``, traiNNer-redux's).
        padding: the first convolution's padding: ``zeros`` (default, VGG's own) or ``replicate``
            (traiNNer-redux's, which keeps the image's border from reading as an edge).
        vgg_weights: a VGG19 weights file; default: torchvision's, from the torch hub cache.
        optional: missing VGG weights disable the loss with a warning instead of stopping the run
            (default false).
    """

    role = 'compare'
    # the two values' log names: the term's own name is the first's; the second's replaces
    # 'percep' in it (l_g_percep -> l_g_style), or adds '_style'
    outputs = ('percep', 'style')

    def __init__(self, layer_weights: dict, vgg_type: Literal['vgg19'] = 'vgg19', use_input_norm: bool = True,
                 range_norm: bool = False, perceptual_weight: float = 1.0, style_weight: float = 0.0,
                 criterion: Literal['l1', 'l2', 'fro', 'charbonnier'] = 'l1', vgg_weights: Optional[str] = None,
                 optional: bool = False, padding: Literal['zeros', 'replicate'] = 'zeros'):
        super().__init__()
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.layer_weights = dict(layer_weights)
        self.criterion = criterion
        self.missing_message = None
        try:
            self.vgg = VGGFeatureExtractor(list(layer_weights), use_input_norm, range_norm, vgg_weights, padding)
        except WeightsMissing as e:
            if not optional:
                raise
            self.vgg = None
            self.missing_message = str(e) + '; training continues without the perceptual loss'

    @property
    def enabled(self) -> bool:
        return self.vgg is not None

    def _dist(self, a, b):
        if self.criterion == 'l1':
            return F.l1_loss(a, b)
        if self.criterion == 'l2':
            return F.mse_loss(a, b)
        if self.criterion == 'charbonnier':
            return torch.sqrt((a - b) ** 2 + 1e-12).mean()
        return torch.linalg.norm((a - b).flatten(), ord=2)

    @staticmethod
    def _gram(x):
        n, c, h, w = x.shape
        f = x.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)

    def forward(self, x, gt):
        if self.vgg is None:
            return None, None
        fx = self.vgg(x)
        with torch.no_grad():
            fg = self.vgg(gt.detach())
        percep = style = None
        if self.perceptual_weight > 0:
            percep = sum(self._dist(fx[k], fg[k]) * w for k, w in self.layer_weights.items()) * self.perceptual_weight
        if self.style_weight > 0:
            style = sum(self._dist(self._gram(fx[k]), self._gram(fg[k])) * w
                        for k, w in self.layer_weights.items()) * self.style_weight
        return percep, style


@LOSS_REGISTRY.register()
class LPIPSLoss(nn.Module):
    """``loss_weight * mean LPIPS(x, ref)`` for ``(B,3,H,W) RGB [0,1]`` inputs, through
    pyiqa's LPIPS (v0.1, AlexNet).

    Without its weights (missing and ``SRKIT_OFFLINE=1``, or the download fails) it
    falls back to an L1 distance of VGG19 features at ``fallback_layers`` when those
    weights are there; failing both, it raises :class:`WeightsMissing` naming every
    file and where it goes, or with ``optional`` is disabled (``enabled`` False).
    ``describe()`` says which one is in use.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        fallback_layers: ``{VGG19 layer: weight}`` of the VGG19 fallback when LPIPS's weights are
            missing (default ``{conv5_4: 1.0}``).
        vgg_weights: the fallback's VGG19 weights file; default: torchvision's, from the torch hub
            cache.
        optional: missing weights disable the loss with a warning instead of stopping the run
            (default false).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, fallback_layers: Optional[dict] = None,
                 vgg_weights: Optional[str] = None, optional: bool = False):
        super().__init__()
        self.loss_weight = loss_weight
        self.lpips = self.vgg = None
        self.missing_message = None
        problems = []
        try:
            self.lpips = self._load_lpips()
            return
        except WeightsMissing as e:
            problems.append(str(e))
        layers = fallback_layers or {'conv5_4': 1.0}
        try:
            self.vgg = PerceptualLoss(layers, vgg_weights=vgg_weights, perceptual_weight=1.0)
            self.fallback_reason = problems[0]
            return
        except WeightsMissing as e:
            problems.append(str(e))
        msg = '; '.join(problems)
        if not optional:
            raise WeightsMissing(msg)
        self.missing_message = msg + '; training continues without the perceptual loss'

    @staticmethod
    def _load_lpips():
        return load_lpips_net()

    @property
    def enabled(self) -> bool:
        return self.lpips is not None or self.vgg is not None

    def describe(self) -> str:
        if self.lpips is not None:
            return 'LPIPS (pyiqa, v0.1 AlexNet)'
        if self.vgg is not None:
            return f'VGG19 features {sorted(self.vgg.layer_weights)} (LPIPS unavailable: {self.fallback_reason})'
        return f'disabled ({self.missing_message})'

    def train(self, mode: bool = True):
        super().train(mode)
        if self.lpips is not None:
            self.lpips.eval()  # its dropout stays off
        return self

    def forward(self, x, ref):
        if self.lpips is not None:
            return self.lpips(x, ref, normalize=True).mean() * self.loss_weight
        if self.vgg is not None:
            return self.vgg(x, ref)[0] * self.loss_weight
        return None


@LOSS_REGISTRY.register()
class DISTSLoss(nn.Module):
    """``loss_weight * mean DISTS(x, ref)`` for ``(B,3,H,W) RGB [0,1]`` images, through pyiqa's
    DISTS (VGG16 features compared in structure and texture): traiNNer-redux's ``distsloss``.  Its
    weights come from the torch hub cache (torchvision's VGG16) and pyiqa's cache (alpha and beta);
    missing offline, one line says which file goes where.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        as_loss: traiNNer-redux's key, accepted as true (the distance, a loss).
        load_weights: traiNNer-redux's key, accepted as true (the published weights).
        use_input_norm: traiNNer-redux's key, accepted as true (ImageNet normalisation).
        clip_min: traiNNer-redux's floor, accepted as 0 (DISTS is never negative).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, as_loss: Literal[True] = True, load_weights: Literal[True] = True,
                 use_input_norm: Literal[True] = True, clip_min: Literal[0] = 0):
        super().__init__()
        self.loss_weight = loss_weight
        self.net = load_dists_net()

    def train(self, mode: bool = True):
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, x, ref):
        return self.loss_weight * self.net(x.float(), ref.float()).mean()
